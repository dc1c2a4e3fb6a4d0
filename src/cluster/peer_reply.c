/*
 * peer_reply: framing of replies from a peer (see peer_reply.h).
 */
#include "cluster/peer_reply.h"

#include <string.h>

static int starts(const char *line, size_t len, const char *word)
{
    size_t wl = strlen(word);

    return len >= wl && memcmp(line, word, wl) == 0;
}

/* Length of the line at buf (without CRLF) when complete; -1 incomplete,
 * -2 garbage (too long, or a bare LF). */
static long line_len(const char *buf, size_t n)
{
    const char *nl = memchr(buf, '\n', n < PEER_REPLY_LINE_MAX + 2 ?
                                       n : PEER_REPLY_LINE_MAX + 2);

    if (nl == NULL) {
        return n >= PEER_REPLY_LINE_MAX + 2 ? -2 : -1;
    }
    if (nl == buf || nl[-1] != '\r') {
        return -2;                /* memcached always ends lines in CRLF */
    }
    return (long)(nl - 1 - buf);
}

static int is_error(const char *line, size_t len)
{
    return (len == 5 && memcmp(line, "ERROR", 5) == 0) ||
           starts(line, len, "CLIENT_ERROR ") ||
           starts(line, len, "SERVER_ERROR ");
}

/* The <bytes> of "VALUE <key> <flags> <bytes> [<cas>]"; -1 if malformed. */
static long value_bytes(const char *line, size_t len)
{
    size_t i = 6, field = 0;
    unsigned long long v = 0;
    int digits = 0;

    /* key */
    while (i < len && line[i] != ' ') {
        i++;
    }
    if (i == 6 || i - 6 > 250) {
        return -1;
    }
    for (field = 0; field < 2; field++) {
        if (i >= len || line[i] != ' ') {
            return -1;
        }
        i++;
        v = 0;
        digits = 0;
        while (i < len && line[i] >= '0' && line[i] <= '9') {
            v = v * 10 + (unsigned)(line[i] - '0');
            if (v > 0xFFFFFFFFull) {
                return -1;
            }
            i++;
            digits++;
        }
        if (digits == 0) {
            return -1;
        }
    }
    if (i < len) {                /* optional cas */
        if (line[i] != ' ' || i + 1 == len) {
            return -1;
        }
        for (i++; i < len; i++) {
            if (line[i] < '0' || line[i] > '9') {
                return -1;
            }
        }
    }
    return v > PEER_REPLY_VALUE_MAX ? -1 : (long)v;
}

enum peer_reply_status peer_reply_frame(enum peer_reply_kind kind,
                                        const char *buf, size_t n,
                                        struct peer_reply *out)
{
    long ll = line_len(buf, n);
    size_t line, need;
    long bytes;

    memset(out, 0, sizeof(*out));
    if (ll == -1) {
        return PEER_REPLY_MORE;
    }
    if (ll < 0 || ll == 0) {
        return PEER_REPLY_GARBAGE;
    }
    line = (size_t)ll;
    out->error = is_error(buf, line);
    if (kind == PEER_REPLY_LINE || out->error) {
        /* A value or an END where one line was due would desynchronise
         * every reply after it. */
        if (!out->error && (starts(buf, line, "VALUE ") ||
                            (line == 3 && memcmp(buf, "END", 3) == 0))) {
            return PEER_REPLY_GARBAGE;
        }
        out->len = out->relay_len = line + 2;
        return PEER_REPLY_DONE;
    }
    if (line == 3 && memcmp(buf, "END", 3) == 0) {
        out->len = 5;             /* a miss: nothing to relay */
        return PEER_REPLY_DONE;
    }
    if (!starts(buf, line, "VALUE ") || (bytes = value_bytes(buf, line)) < 0) {
        return PEER_REPLY_GARBAGE;
    }
    need = line + 2 + (size_t)bytes + 2;
    if (n < need + 5) {
        /* Check what is there already, so garbage is caught early. */
        if (n >= need && (memcmp(buf + need - 2, "\r\n", 2) != 0 ||
                          memcmp(buf + need, "END\r\n", n - need) != 0)) {
            return PEER_REPLY_GARBAGE;
        }
        return PEER_REPLY_MORE;
    }
    if (memcmp(buf + need - 2, "\r\n", 2) != 0 ||
        memcmp(buf + need, "END\r\n", 5) != 0) {
        return PEER_REPLY_GARBAGE;
    }
    out->relay_len = need;
    out->len = need + 5;
    return PEER_REPLY_DONE;
}
