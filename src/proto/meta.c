/*
 * meta: meta command parsing (see meta.h).
 *
 * Error lines differ per command because memcached's do: mg reports the
 * flag parser's own message, md and ma collapse every flag error into
 * "invalid or duplicate flag", and ms reports the parser's message but, as
 * its data length was already read, swallows the value after it. All of
 * them were checked byte for byte against memcached 1.6.18 (t/diff/meta_*,
 * t/unit/meta_test.cc).
 *
 * Base64: encoding uses OpenSSL's EVP_EncodeBlock (the same standard
 * alphabet and padding memcached emits). Decoding cannot: memcached's
 * decoder skips bytes outside the alphabet ("Zm9v!" decodes to "foo"),
 * accepts '=' anywhere and stops after the first padded block, and clients
 * see the resulting key; EVP_DecodeBlock rejects such input and does not
 * strip padding, so the decoder below reproduces memcached's rules.
 */
#include "proto/meta.h"

#include <string.h>

#include <openssl/evp.h>

#include "util/numparse.h"

#define DEFAULT_ERROR "CLIENT_ERROR bad command line format"

bool meta_is_command(const char *line)
{
    while (*line == ' ') {
        line++;
    }
    return line[0] == 'm' && line[1] != '\0' && line[1] != ' ' &&
           (line[2] == ' ' || line[2] == '\0');
}

size_t meta_base64_encode(const void *in, size_t n, char *out)
{
    if (n == 0) {
        out[0] = '\0';
        return 0;
    }
    return (size_t)EVP_EncodeBlock((unsigned char *)out,
                                   (const unsigned char *)in, (int)n);
}

/* memcached's decoder (base64.c): see the file comment. */
size_t meta_base64_decode(const char *in, size_t n, unsigned char *out)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    unsigned char dtable[256], block[4];
    size_t i, count = 0, pos = 0;
    int pad = 0;

    memset(dtable, 0x80, sizeof(dtable));
    for (i = 0; i < sizeof(alphabet) - 1; i++) {
        dtable[(unsigned char)alphabet[i]] = (unsigned char)i;
    }
    dtable['='] = 0;
    for (i = 0; i < n; i++) {
        if (dtable[(unsigned char)in[i]] != 0x80) {
            count++;
        }
    }
    if (count == 0 || count % 4 != 0) {
        return 0;
    }
    /* Output never overtakes input: 3 bytes out per 4 consumed. */
    count = 0;
    for (i = 0; i < n; i++) {
        unsigned char v = dtable[(unsigned char)in[i]];

        if (v == 0x80) {
            continue;
        }
        if (in[i] == '=') {
            pad++;
        }
        block[count++] = v;
        if (count == 4) {
            out[pos++] = (unsigned char)((block[0] << 2) | (block[1] >> 4));
            out[pos++] = (unsigned char)((block[1] << 4) | (block[2] >> 2));
            out[pos++] = (unsigned char)((block[2] << 6) | block[3]);
            count = 0;
            if (pad != 0) {
                if (pad > 2) {
                    return 0;
                }
                pos -= (size_t)pad;
                break;
            }
        }
    }
    return pos;
}

static void fail(struct meta_request *r, const char *msg)
{
    r->cmd = META_ERROR_REPLY;
    r->error = msg;
}

/* memcached's _meta_flag_preparse over tokens[start..]. Returns false with
 * *err set on the first fatal error or after the last flag if any flag was
 * bad. */
static bool preparse(struct meta_request *r, size_t start, const char **err)
{
    bool seen[127] = { false };
    bool bad = false;
    size_t i;

    r->flags = &r->tokens[start];
    r->nflags = 0;
    for (i = start; r->tokens[i].length != 0; i++) {
        const char *t = r->tokens[i].value;
        unsigned char o = (unsigned char)t[0];

        r->nflags++;
        if (o >= 127 || seen[o]) {
            *err = "CLIENT_ERROR duplicate flag";
            return false;
        }
        seen[o] = true;
        switch (o) {
        case 'b': {
            size_t n = meta_base64_decode(r->key, r->nkey,
                                          (unsigned char *)r->key);

            if (n == 0) {
                *err = "CLIENT_ERROR error decoding key";
                bad = true;
            }
            r->nkey = n;
            r->key_binary = true;
            break;
        }
        case 'N':
            r->vivify = true;
            if (!num_parse_i32(t + 1, &r->vivify_ttl)) {
                *err = "CLIENT_ERROR bad token in command line format";
                bad = true;
            }
            break;
        case 'T':
            if (!num_parse_i32(t + 1, &r->ttl)) {
                *err = "CLIENT_ERROR bad token in command line format";
                bad = true;
            } else {
                r->new_ttl = true;
            }
            break;
        case 'R':
            if (!num_parse_i32(t + 1, &r->recache_ttl)) {
                *err = "CLIENT_ERROR bad token in command line format";
                bad = true;
            }
            break;
        case 'l': case 'O': case 'P': case 'L': case 'k': case 's':
        case 't': case 'c': case 'f': case 'h':
            break;
        case 'v':
            r->value = true;
            break;
        case 'u':
            r->no_update = true;
            break;
        case 'q':
            r->quiet = true;
            break;
        case 'F':
            /* memcached leaves the message alone here. */
            if (!num_parse_u32(t + 1, &r->client_flags)) {
                bad = true;
            }
            break;
        case 'C':
            if (!num_parse_u64(t + 1, &r->cas)) {
                *err = "CLIENT_ERROR bad token in command line format";
                bad = true;
            } else {
                r->has_cas = true;
            }
            break;
        case 'M':
            if (r->tokens[i].length != 2) {
                *err = "CLIENT_ERROR incorrect length for M token";
                bad = true;
            } else {
                r->mode = t[1];
            }
            break;
        case 'J':
            if (!num_parse_u64(t + 1, &r->initial)) {
                *err = "CLIENT_ERROR invalid numeric initial value";
                bad = true;
            }
            break;
        case 'D':
            if (!num_parse_u64(t + 1, &r->delta)) {
                *err = "CLIENT_ERROR invalid numeric delta value";
                bad = true;
            }
            break;
        case 'I':
            r->set_stale = true;
            break;
        default:
            *err = "CLIENT_ERROR invalid flag";
            return false;
        }
    }
    return !bad;
}

bool meta_opaque_ok(const struct meta_request *r)
{
    size_t i;

    for (i = 0; i < r->nflags; i++) {
        if (r->flags[i].value[0] == 'O' &&
            r->flags[i].length > META_OPAQUE_MAX) {
            return false;
        }
    }
    return true;
}

static void parse_set(struct meta_request *r)
{
    const char *err = DEFAULT_ERROR;

    if (r->ntokens == 3) {
        fail(r, DEFAULT_ERROR);
        return;
    }
    if (r->ntokens > META_MAX_OPT_TOKENS) {
        fail(r, "CLIENT_ERROR options flags too long");
        return;
    }
    if (!num_parse_i32(r->tokens[2].value, &r->vlen) || r->vlen < 0 ||
        r->vlen > INT32_MAX - 2) {
        fail(r, DEFAULT_ERROR);
        return;
    }
    /* From here on memcached knows the length and swallows the value. */
    if (!preparse(r, 3, &err)) {
        fail(r, err);
        r->swallow = true;
        r->swallow_len = (size_t)r->vlen + 2;
        return;
    }
    if (r->mode != 0 && strchr("EAPRS", r->mode) == NULL) {
        fail(r, "CLIENT_ERROR invalid mode for ms M token");
        r->swallow = true;
        r->swallow_len = (size_t)r->vlen + 2;
        return;
    }
    /* ms has no side effects before this, so unlike mg and ma (whose
     * executor checks O while composing) it can be decided here. */
    if (!meta_opaque_ok(r)) {
        fail(r, "CLIENT_ERROR opaque token too long");
        r->swallow = true;
        r->swallow_len = (size_t)r->vlen + 2;
        return;
    }
    r->cmd = META_SET;
}

static void parse_flagged(struct meta_request *r, enum meta_cmd cmd)
{
    const char *err = DEFAULT_ERROR;

    if (r->ntokens > META_MAX_OPT_TOKENS) {
        fail(r, cmd == META_GET ? "CLIENT_ERROR options flags are too long"
                                : "CLIENT_ERROR options flags too long");
        return;
    }
    if (!preparse(r, 2, &err)) {
        fail(r, cmd == META_GET ? err
                                : "CLIENT_ERROR invalid or duplicate flag");
        return;
    }
    if (cmd == META_ARITHMETIC && r->mode != 0 &&
        strchr("I+D-", r->mode) == NULL) {
        fail(r, "CLIENT_ERROR invalid mode for ma M token");
        return;
    }
    r->cmd = cmd;
}

static void parse_debug(struct meta_request *r)
{
    if (r->ntokens < 3 || r->nkey > META_KEY_MAX) {
        fail(r, DEFAULT_ERROR);
        return;
    }
    /* `me` knows only `b`, and only right after the key. */
    if (r->ntokens >= 4 && r->tokens[2].length == 1 &&
        r->tokens[2].value[0] == 'b') {
        size_t n = meta_base64_decode(r->key, r->nkey,
                                      (unsigned char *)r->key);

        if (n == 0) {
            fail(r, DEFAULT_ERROR);
            return;
        }
        r->nkey = n;
        r->key_binary = true;
    }
    r->cmd = META_DEBUG;
}

void meta_parse(char *line, struct meta_request *r)
{
    char sub;

    memset(r, 0, offsetof(struct meta_request, tokens));
    r->delta = 1;
    r->ntokens = text_tokenize(line, r->tokens, META_MAX_TOKENS);
    r->flags = &r->tokens[r->ntokens - 1];
    if (r->ntokens < 2 || r->tokens[0].length != 2 ||
        r->tokens[0].value[0] != 'm') {
        fail(r, "ERROR");
        return;
    }
    sub = r->tokens[0].value[1];
    if (sub == 'n') {
        r->cmd = META_NOOP;
        return;
    }
    if (strchr("gsdae", sub) == NULL) {
        fail(r, "ERROR");
        return;
    }
    r->key = r->tokens[1].value;
    r->nkey = r->tokens[1].length;
    if (sub == 'e') {
        parse_debug(r);
        return;
    }
    if (r->ntokens < 3) {
        fail(r, "ERROR");
        return;
    }
    if (r->nkey > META_KEY_MAX) {
        fail(r, DEFAULT_ERROR);
        return;
    }
    switch (sub) {
    case 'g':
        parse_flagged(r, META_GET);
        break;
    case 's':
        parse_set(r);
        break;
    case 'd':
        parse_flagged(r, META_DELETE);
        break;
    default:
        parse_flagged(r, META_ARITHMETIC);
        break;
    }
}
