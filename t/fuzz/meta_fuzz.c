/*
 * meta_fuzz: libFuzzer target for the meta command parser.
 *
 * Frames arbitrary bytes into lines as the connection does (text_find_line)
 * and parses every line meta_is_command() accepts, then checks the parser's
 * promises: it never reads past the line, the key it returns lies inside
 * the line and within the limits, every flag token is in the line in
 * order, an error is one of memcached's reply lines, an ms swallow length
 * is the announced value plus \r\n, and a decoded binary key re-encodes
 * within META_B64_KEY_MAX.
 */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/meta.h"

#define FUZZ_MAX_LINE (64 * 1024)

static void check(const struct meta_request *r, const char *line, size_t len)
{
    const char *end = line + len;
    size_t i;

    switch (r->cmd) {
    case META_ERROR_REPLY:
        assert(r->error != NULL);
        assert(strcmp(r->error, "ERROR") == 0 ||
               strncmp(r->error, "CLIENT_ERROR ", 13) == 0);
        if (r->swallow) {
            assert(r->swallow_len == (size_t)r->vlen + 2);
        }
        return;
    case META_NOOP:
        return;
    case META_SET:
        assert(r->vlen >= 0);
        assert(strchr("EAPRS", r->mode) != NULL || r->mode == 0);
        assert(meta_opaque_ok(r));
        /* fall through */
    default:
        break;
    }
    assert(r->key >= line && r->key + r->nkey <= end);
    assert(r->nkey <= META_KEY_MAX);
    if (r->key_binary) {
        char enc[META_B64_KEY_MAX];

        assert(r->nkey > 0 && r->nkey <= 186);
        assert(meta_base64_encode(r->key, r->nkey, enc) < sizeof(enc));
    }
    for (i = 0; i < r->nflags; i++) {
        assert(r->flags[i].value > r->key);
        assert(r->flags[i].value + r->flags[i].length <= end);
        assert(strlen(r->flags[i].value) == r->flags[i].length);
        if (i > 0) {
            assert(r->flags[i].value > r->flags[i - 1].value);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf;
    size_t off = 0;

    if (size > FUZZ_MAX_LINE) {
        return 0;
    }
    buf = malloc(size + 1);
    if (buf == NULL) {
        return 0;
    }
    memcpy(buf, data, size);
    buf[size] = '\0';
    while (off < size) {
        size_t line_len = 0, consumed = 0;
        enum text_frame f = text_find_line(buf + off, size - off,
                                           FUZZ_MAX_LINE, &line_len,
                                           &consumed);
        struct meta_request r;
        char *line = buf + off;

        if (f != TEXT_LINE) {
            break;
        }
        assert(consumed > 0 && consumed <= size - off);
        if (meta_is_command(line)) {
            meta_parse(line, &r);
            check(&r, line, line_len);
        }
        off += consumed;
    }
    free(buf);
    return 0;
}
