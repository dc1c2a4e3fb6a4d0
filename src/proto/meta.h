/*
 * meta: memcached 1.6.18's meta commands (mg ms md ma mn me), parsed
 * without I/O.
 *
 * meta_parse() turns one NUL-terminated request line (from text_find_line,
 * already recognised by meta_is_command) into a request: the command, the
 * key (base64-decoded in place with the `b` flag), every option flag
 * validated and converted, and the flag tokens in request order, because
 * memcached composes its reply by walking them again. Or it picks the exact
 * error line memcached sends, and for `ms` whether the value that follows
 * must be swallowed. Executing the request is server/meta.c's job.
 *
 * The order of checks is memcached's (proto_text.c, _meta_flag_preparse):
 * token count, key length, flag count, then flags left to right, where a
 * repeated or unknown flag stops at once and the other errors let later
 * flags overwrite the message. Pure functions; thread safe.
 */
#ifndef RC_PROTO_META_H
#define RC_PROTO_META_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/text.h"

#ifdef __cplusplus
extern "C" {
#endif

#define META_KEY_MAX 250          /* on the encoded (wire) key */
#define META_MAX_TOKENS TEXT_MAX_TOKENS
/* Lines with more tokens than this (counting the end marker) are refused:
 * memcached's MFLAG_MAX_OPT_LENGTH. */
#define META_MAX_OPT_TOKENS 20
#define META_OPAQUE_MAX 32        /* longest O token, including the O */
/* Room for the base64 text of the longest decoded key (186 bytes from
 * 248 characters) and a NUL. */
#define META_B64_KEY_MAX 256

enum meta_cmd {
    META_ERROR_REPLY,             /* send req.error; then swallow if set */
    META_GET,                     /* mg */
    META_SET,                     /* ms: a value of vlen bytes follows */
    META_DELETE,                  /* md */
    META_ARITHMETIC,              /* ma */
    META_NOOP,                    /* mn */
    META_DEBUG,                   /* me */
};

struct meta_request {
    enum meta_cmd cmd;
    const char *error;            /* META_ERROR_REPLY: line without \r\n */
    bool swallow;                 /* ms error: discard swallow_len bytes */
    size_t swallow_len;           /* value + \r\n */
    char *key;                    /* decoded in place with `b` */
    size_t nkey;
    bool key_binary;              /* b: key came base64-encoded */
    /* options (memcached's struct _meta_flags) */
    bool value;                   /* v */
    bool no_update;               /* u */
    bool quiet;                   /* q */
    bool vivify;                  /* N */
    bool set_stale;               /* I */
    bool has_cas;                 /* C */
    bool new_ttl;                 /* T */
    char mode;                    /* M<c>; 0 when absent */
    int32_t ttl;                  /* T, raw client value */
    int32_t vivify_ttl;           /* N */
    int32_t recache_ttl;          /* R (0 if absent: never wins) */
    uint32_t client_flags;        /* F */
    uint64_t cas;                 /* C */
    uint64_t delta;               /* D, default 1 */
    uint64_t initial;             /* J */
    int32_t vlen;                 /* ms: value length without \r\n */
    /* The flag tokens, in request order, for composing the reply. */
    struct text_token *flags;
    size_t nflags;
    size_t ntokens;
    struct text_token tokens[META_MAX_TOKENS];
};

/* Whether line (after any leading spaces) starts a meta command: "m" and
 * one more character, then a space or the end. Unknown "m?" commands count
 * (meta_parse answers ERROR for them, as memcached does). */
bool meta_is_command(const char *line);

/* Parses a NUL-terminated line into req (tokenized in place). */
void meta_parse(char *line, struct meta_request *req);

/* False if an O token is longer than META_OPAQUE_MAX (memcached then
 * answers "CLIENT_ERROR opaque token too long"). */
bool meta_opaque_ok(const struct meta_request *req);

/* Standard base64 with padding into out (NUL-terminated); returns the
 * length. out needs 4 * ((n + 2) / 3) + 1 bytes. */
size_t meta_base64_encode(const void *in, size_t n, char *out);

/* Decodes base64 text of length n (a multiple of 4, padding allowed only at
 * the end) into out, which may alias in. Returns the decoded length, or 0
 * if the text is not valid base64 (memcached's rule: 0 is failure). */
size_t meta_base64_decode(const char *in, size_t n, unsigned char *out);

#ifdef __cplusplus
}
#endif
#endif
