/*
 * text: text protocol framing and parsing (see text.h).
 *
 * The order of checks follows memcached's process_command_ascii and its
 * process_*_command functions exactly, because clients see the first
 * failing check's error line: token counts first (bare ERROR), then
 * noreply, then key length, then numbers.
 */
#include "proto/text.h"

#include <string.h>

#include "util/numparse.h"

enum text_frame text_find_line(char *buf, size_t len, size_t max_line,
                               size_t *line_len, size_t *consumed)
{
    char *el = memchr(buf, '\n', len);

    if (el == NULL) {
        if (len > TEXT_LINE_PROBE) {
            /* Only a multi-get may be this long (memcached's rule). */
            size_t sp = 0;

            while (sp < len && buf[sp] == ' ') {
                sp++;
            }
            if (sp > 100 || len - sp < 5 ||
                (strncmp(buf + sp, "get ", 4) != 0 &&
                 strncmp(buf + sp, "gets ", 5) != 0) ||
                len >= max_line) {
                return TEXT_CLOSE;
            }
        }
        return TEXT_NEED_MORE;
    }
    *consumed = (size_t)(el - buf) + 1;
    if (el - buf > 1 && el[-1] == '\r') {
        el--;
    }
    *el = '\0';
    *line_len = (size_t)(el - buf);
    return TEXT_LINE;
}

size_t text_tokenize(char *line, struct text_token *tokens, size_t max)
{
    char *s = line, *e = line;
    size_t n = 0;

    for (; *e != '\0'; e++) {
        if (*e == ' ') {
            if (s != e) {
                tokens[n].value = s;
                tokens[n].length = (size_t)(e - s);
                n++;
                *e = '\0';
                if (n == max - 1) {
                    e++;
                    s = e;
                    break;
                }
            }
            s = e + 1;
        }
    }
    if (s != e) {
        tokens[n].value = s;
        tokens[n].length = (size_t)(e - s);
        n++;
    }
    tokens[n].value = *e == '\0' ? NULL : e;
    tokens[n].length = 0;
    return n + 1;
}

static void fail(struct text_request *r, const char *msg)
{
    r->cmd = TEXT_ERROR_REPLY;
    r->error = msg;
}

static bool want(struct text_request *r, size_t lo, size_t hi)
{
    if (r->ntokens < lo || r->ntokens > hi) {
        fail(r, "ERROR");
        return false;
    }
    return true;
}

static bool want_or(struct text_request *r, size_t a, size_t b)
{
    if (r->ntokens != a && r->ntokens != b) {
        fail(r, "ERROR");
        return false;
    }
    return true;
}

static bool noreply_maybe(struct text_request *r)
{
    struct text_token *t = &r->tokens[r->ntokens - 2];

    if (t->value != NULL && strcmp(t->value, "noreply") == 0) {
        r->noreply = true;
    }
    return r->noreply;
}

static bool key_ok(struct text_request *r)
{
    r->key = r->tokens[1].value;
    r->nkey = r->tokens[1].length;
    if (r->nkey > TEXT_KEY_MAX) {
        fail(r, "CLIENT_ERROR bad command line format");
        return false;
    }
    return true;
}

static void parse_get(struct text_request *r, bool cas, bool touch)
{
    if (!want(r, 3, (size_t)-1)) {
        return;
    }
    r->cmd = TEXT_GET;
    r->return_cas = cas;
    r->touch = touch;
    r->keys = &r->tokens[1];
    if (touch) {
        if (!num_parse_i32(r->tokens[1].value, &r->exptime)) {
            fail(r, "CLIENT_ERROR invalid exptime argument");
            return;
        }
        r->keys = &r->tokens[2];
    }
    if (!text_keys_valid(r)) {
        r->cmd = TEXT_GET_BAD_KEY;
    }
}

static void parse_store(struct text_request *r, enum text_store_mode mode)
{
    bool cas = mode == TEXT_CAS;

    if (!want_or(r, cas ? 7 : 6, cas ? 8 : 7)) {
        return;
    }
    noreply_maybe(r);
    if (!key_ok(r)) {
        return;
    }
    if (!num_parse_u32(r->tokens[2].value, &r->flags) ||
        !num_parse_i32(r->tokens[3].value, &r->exptime) ||
        !num_parse_i32(r->tokens[4].value, &r->vlen) ||
        (cas && !num_parse_u64(r->tokens[5].value, &r->cas)) ||
        r->vlen < 0 || r->vlen > INT32_MAX - 2) {
        fail(r, "CLIENT_ERROR bad command line format");
        return;
    }
    r->cmd = TEXT_STORE;
    r->mode = mode;
}

static void parse_delta(struct text_request *r, bool incr)
{
    if (!want_or(r, 4, 5)) {
        return;
    }
    noreply_maybe(r);
    if (!key_ok(r)) {
        return;
    }
    if (!num_parse_u64(r->tokens[2].value, &r->delta)) {
        fail(r, "CLIENT_ERROR invalid numeric delta argument");
        return;
    }
    r->cmd = TEXT_DELTA;
    r->incr = incr;
}

static void parse_delete(struct text_request *r)
{
    if (!want(r, 3, 5)) {
        return;
    }
    if (r->ntokens > 3) {
        bool hold0 = strcmp(r->tokens[2].value, "0") == 0;
        bool nr = noreply_maybe(r);
        bool valid = (r->ntokens == 4 && (hold0 || nr)) ||
                     (r->ntokens == 5 && hold0 && nr);

        if (!valid) {
            fail(r, "CLIENT_ERROR bad command line format.  "
                    "Usage: delete <key> [noreply]");
            return;
        }
    }
    if (!key_ok(r)) {
        return;
    }
    r->cmd = TEXT_DELETE;
}

static void parse_touch(struct text_request *r)
{
    if (!want_or(r, 4, 5)) {
        return;
    }
    noreply_maybe(r);
    if (!key_ok(r)) {
        return;
    }
    if (!num_parse_i32(r->tokens[2].value, &r->exptime)) {
        fail(r, "CLIENT_ERROR invalid exptime argument");
        return;
    }
    r->cmd = TEXT_TOUCH;
}

static void parse_flush(struct text_request *r, const struct text_options *o)
{
    if (!want(r, 2, 4)) {
        return;
    }
    noreply_maybe(r);
    if (!o->flush_enabled) {
        fail(r, "CLIENT_ERROR flush_all not allowed");
        return;
    }
    r->exptime = 0;
    if (r->ntokens != (r->noreply ? 3u : 2u) &&
        !num_parse_i32(r->tokens[1].value, &r->exptime)) {
        fail(r, "CLIENT_ERROR invalid exptime argument");
        return;
    }
    r->cmd = TEXT_FLUSH_ALL;
}

static void parse_verbosity(struct text_request *r)
{
    if (!want_or(r, 3, 4)) {
        return;
    }
    noreply_maybe(r);
    if (!num_parse_u32(r->tokens[1].value, &r->level)) {
        fail(r, "CLIENT_ERROR bad command line format");
        return;
    }
    r->cmd = TEXT_VERBOSITY;
}

static void parse_stats(struct text_request *r)
{
    r->cmd = TEXT_STATS;
    r->stats_group = r->ntokens > 2 ? r->tokens[1].value : NULL;
    r->stats_arg = r->ntokens > 3 ? r->tokens[2].value : NULL;
}

static bool is(const struct text_request *r, const char *word)
{
    return strcmp(r->tokens[0].value, word) == 0;
}

void text_parse(char *line, const struct text_options *o,
                struct text_request *r)
{
    memset(r, 0, offsetof(struct text_request, tokens));
    r->ntokens = text_tokenize(line, r->tokens, TEXT_MAX_TOKENS);
    if (r->ntokens < 2 || r->tokens[0].length < 2) {
        fail(r, "ERROR");
        return;
    }
    switch (r->tokens[0].value[0]) {
    case 'g':
        if (r->ntokens < 3) {
            fail(r, "ERROR");
        } else if (is(r, "get")) {
            parse_get(r, false, false);
        } else if (is(r, "gets")) {
            parse_get(r, true, false);
        } else if (is(r, "gat")) {
            parse_get(r, false, true);
        } else if (is(r, "gats")) {
            parse_get(r, true, true);
        } else {
            fail(r, "ERROR");
        }
        return;
    case 's':
        if (is(r, "set")) {
            parse_store(r, TEXT_SET);
        } else if (is(r, "stats")) {
            parse_stats(r);
        } else if (is(r, "shutdown")) {
            r->cmd = TEXT_SHUTDOWN;
        } else {
            fail(r, "ERROR");
        }
        return;
    case 'a':
        if (is(r, "add")) {
            parse_store(r, TEXT_ADD);
        } else if (is(r, "append")) {
            parse_store(r, TEXT_APPEND);
        } else {
            fail(r, "ERROR");
        }
        return;
    case 'c':
        if (is(r, "cas")) {
            parse_store(r, TEXT_CAS);
        } else if (is(r, "cluster")) {
            /* Admin commands of the cluster; the subcommand is the word
             * after it (exec_text.c answers an unknown one). */
            r->cmd = TEXT_CLUSTER;
            r->stats_group = r->ntokens > 2 ? r->tokens[1].value : NULL;
            r->stats_arg = r->ntokens > 3 ? r->tokens[2].value : NULL;
            if (r->stats_arg != NULL) {
                r->key = r->tokens[2].value;
                r->nkey = r->tokens[2].length;
            }
        } else {
            fail(r, "ERROR");
        }
        return;
    case 'i':
        if (is(r, "incr")) {
            parse_delta(r, true);
        } else {
            fail(r, "ERROR");
        }
        return;
    case 'd':
        if (is(r, "delete")) {
            parse_delete(r);
        } else if (is(r, "decr")) {
            parse_delta(r, false);
        } else {
            fail(r, "ERROR");
        }
        return;
    case 't':
        if (is(r, "touch")) {
            parse_touch(r);
        } else {
            fail(r, "ERROR");
        }
        return;
    default:
        break;
    }
    if (is(r, "replace")) {
        parse_store(r, TEXT_REPLACE);
    } else if (is(r, "prepend")) {
        parse_store(r, TEXT_PREPEND);
    } else if (is(r, "bget")) {
        parse_get(r, false, false);
    } else if (is(r, "flush_all")) {
        parse_flush(r, o);
    } else if (is(r, "version")) {
        r->cmd = TEXT_VERSION;
    } else if (is(r, "quit")) {
        r->cmd = TEXT_QUIT;
    } else if (is(r, "verbosity")) {
        parse_verbosity(r);
    } else if (r->tokens[r->ntokens - 2].value != NULL &&
               strncmp(r->tokens[r->ntokens - 2].value, "HTTP/", 5) == 0) {
        r->cmd = TEXT_CLOSE_CONN;
    } else {
        fail(r, "ERROR");
    }
}

bool text_keys_valid(const struct text_request *r)
{
    const struct text_token *t;
    const char *p;
    size_t run = 0;

    for (t = r->keys; t->length != 0; t++) {
        if (t->length > TEXT_KEY_MAX) {
            return false;
        }
    }
    /* Keys past the first TEXT_MAX_TOKENS are still untokenized text. */
    for (p = t->value; p != NULL && *p != '\0'; p++) {
        run = *p == ' ' ? 0 : run + 1;
        if (run > TEXT_KEY_MAX) {
            return false;
        }
    }
    return true;
}
