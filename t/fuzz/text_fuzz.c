/*
 * text_fuzz: libFuzzer target for the text protocol decoder.
 *
 * Feeds arbitrary bytes through framing (text_find_line) and parsing
 * (text_parse, text_keys_valid, re-tokenizing multi-get rests) the way the
 * connection does, and checks the decoder's own promises: it never reads
 * or consumes past the buffer, every parsed request is self-consistent, and
 * every error it chooses is one of memcached's reply lines.
 */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/text.h"

#define FUZZ_MAX_LINE (64 * 1024)

static void check_request(const struct text_request *r)
{
    switch (r->cmd) {
    case TEXT_ERROR_REPLY:
        assert(r->error != NULL);
        assert(strncmp(r->error, "ERROR", 5) == 0 ||
               strncmp(r->error, "CLIENT_ERROR ", 13) == 0);
        break;
    case TEXT_STORE:
        assert(r->nkey <= TEXT_KEY_MAX);
        assert(r->vlen >= 0);
        assert(r->mode <= TEXT_CAS);
        break;
    case TEXT_DELTA:
    case TEXT_DELETE:
    case TEXT_TOUCH:
        assert(r->nkey <= TEXT_KEY_MAX);
        assert(strlen(r->key) == r->nkey);
        break;
    case TEXT_GET: {
        struct text_token tokens[TEXT_MAX_TOKENS];
        const struct text_token *t = r->keys;
        size_t guard = 0;

        /* Walk every key, re-tokenizing rests as dispatch does. */
        for (;;) {
            for (; t->length != 0; t++) {
                assert(t->length <= TEXT_KEY_MAX);
                assert(strlen(t->value) == t->length);
            }
            if (t->value == NULL) {
                break;
            }
            text_tokenize(t->value, tokens, TEXT_MAX_TOKENS);
            t = tokens;
            assert(++guard < FUZZ_MAX_LINE);
        }
        break;
    }
    default:
        break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct text_options opts[2] = { { true }, { false } };
    char *buf = malloc(size + 1);
    size_t off = 0;

    if (buf == NULL) {
        return 0;
    }
    memcpy(buf, data, size);
    while (off < size) {
        size_t len = 0, used = 0;
        enum text_frame f = text_find_line(buf + off, size - off,
                                           FUZZ_MAX_LINE, &len, &used);
        struct text_request r;

        if (f != TEXT_LINE) {
            break;
        }
        assert(used > 0 && used <= size - off);
        assert(len < used);
        text_parse(buf + off, &opts[size & 1], &r);
        check_request(&r);
        off += used;
    }
    free(buf);
    return 0;
}
