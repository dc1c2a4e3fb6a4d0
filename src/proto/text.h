/*
 * text: memcached's classic text protocol, parsed without I/O.
 *
 * text_find_line() frames a request line in a buffer (or says it needs
 * more bytes, or that the connection must be closed, as memcached does for
 * over-long lines that are not multi-gets). text_parse() turns one line into
 * a request: the command and its validated arguments, or the exact error
 * line memcached answers with. Executing it is the server layer's job.
 * Lines are tokenized in place (tokens are NUL-terminated in the buffer).
 * Pure functions; thread safe.
 */
#ifndef RC_PROTO_TEXT_H
#define RC_PROTO_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TEXT_MAX_TOKENS 24        /* as memcached: the rest is re-tokenized */
#define TEXT_LINE_PROBE 2048      /* no newline by then: must be a get */
#define TEXT_KEY_MAX 250

enum text_frame {
    TEXT_NEED_MORE,               /* no complete line yet */
    TEXT_LINE,                    /* *line_len bytes form a line */
    TEXT_CLOSE,                   /* junk: close the connection */
};

/* Finds the first line in buf[0..len). On TEXT_LINE the line is
 * NUL-terminated in place (without its \r\n) and *consumed is how many bytes
 * it took. max_line bounds how long a multi-get line may grow. */
enum text_frame text_find_line(char *buf, size_t len, size_t max_line,
                               size_t *line_len, size_t *consumed);

struct text_token {
    char *value;
    size_t length;
};

/* memcached's tokenizer: splits on spaces, at most max-1 tokens; the last
 * entry has length 0 and value NULL if the line is done, else the rest. */
size_t text_tokenize(char *line, struct text_token *tokens, size_t max);

enum text_cmd {
    TEXT_ERROR_REPLY,             /* reply with req.error (unless noreply) */
    TEXT_CLOSE_CONN,              /* close without a reply (HTTP probe) */
    TEXT_GET,                     /* get/bget; also gets/gat/gats by flags */
    TEXT_GET_BAD_KEY,             /* a get with a key over 250 bytes: drop
                                   * the batch's replies, then the error */
    TEXT_STORE,                   /* set/add/replace/append/prepend/cas */
    TEXT_DELTA,                   /* incr/decr */
    TEXT_DELETE,
    TEXT_TOUCH,
    TEXT_STATS,
    TEXT_FLUSH_ALL,
    TEXT_VERSION,
    TEXT_VERBOSITY,
    TEXT_QUIT,
    TEXT_SHUTDOWN,
    TEXT_CLUSTER,                 /* cluster <subcommand>: stats_group */
};

enum text_store_mode {            /* same order as cache_store_mode */
    TEXT_SET, TEXT_ADD, TEXT_REPLACE, TEXT_APPEND, TEXT_PREPEND, TEXT_CAS,
};

struct text_request {
    enum text_cmd cmd;
    const char *error;            /* TEXT_ERROR_REPLY: line without \r\n */
    bool noreply;
    /* get family */
    bool return_cas;              /* gets/gats */
    bool touch;                   /* gat/gats */
    struct text_token *keys;      /* first key token; ends at length 0 */
    /* store */
    enum text_store_mode mode;
    char *key;
    size_t nkey;
    uint32_t flags;
    int32_t exptime;              /* raw client value */
    int32_t vlen;                 /* value length without \r\n */
    uint64_t cas;
    /* incr/decr */
    bool incr;
    uint64_t delta;
    /* verbosity */
    uint32_t level;
    /* stats */
    const char *stats_group;      /* NULL for plain `stats` */
    const char *stats_arg;        /* second word, or NULL */
    size_t ntokens;
    struct text_token tokens[TEXT_MAX_TOKENS];
};

/* Options the parser needs to choose memcached's answer. */
struct text_options {
    bool flush_enabled;           /* !-F */
};

/* Parses a NUL-terminated line (from text_find_line) into req. */
void text_parse(char *line, const struct text_options *opts,
                struct text_request *req);

/* For a get family request: false if any key in the rest of the line is
 * longer than TEXT_KEY_MAX (memcached then answers only the error). */
bool text_keys_valid(const struct text_request *req);

#ifdef __cplusplus
}
#endif
#endif
