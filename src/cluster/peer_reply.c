/*
 * peer_reply: framing of replies from a peer (see peer_reply.h).
 */
#include "cluster/peer_reply.h"

#include <string.h>

#include "proto/binary.h"

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

/* The one-line answers to a text store, delete, touch, incr/decr or
 * flush_all, and rc_set's "CONFLICT <version>" (cluster/replica.h). */
static int is_status(const char *line, size_t len)
{
    static const char *const words[] = { "STORED", "NOT_STORED", "EXISTS",
                                         "NOT_FOUND", "DELETED", "TOUCHED",
                                         "OK" };
    size_t i;

    for (i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
        if (len == strlen(words[i]) && memcmp(line, words[i], len) == 0) {
            return 1;
        }
    }
    if (starts(line, len, "CONFLICT ")) {
        line += 9;                /* rc_set's refusal of a stale result */
        len -= 9;
    }
    for (i = 0; i < len && i < 20; i++) {
        if (line[i] < '0' || line[i] > '9') {
            return 0;
        }
    }
    return len > 0 && len <= 20;  /* an incr/decr result */
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

/* The reply's first line: its length without CRLF in *line; MORE, or
 * GARBAGE for an empty line, a bare LF or one over the limit. */
static enum peer_reply_status first_line(const char *buf, size_t n,
                                         size_t *line)
{
    long ll = line_len(buf, n);

    if (ll == -1) {
        return PEER_REPLY_MORE;
    }
    if (ll <= 0) {
        return PEER_REPLY_GARBAGE;
    }
    *line = (size_t)ll;
    return PEER_REPLY_DONE;
}

/* The end of a reply: buf[0..end) is relayed (with data: it ends in a
 * value's CRLF), then the fixed trailer t ("END\r\n", "MN\r\n") must come.
 * What is there of them already is checked, so garbage is caught before
 * the rest arrives. */
static enum peer_reply_status trailer(const char *buf, size_t n, size_t end,
                                      bool data, const char *t,
                                      struct peer_reply *out)
{
    size_t tl = strlen(t);

    if (data && n >= end && memcmp(buf + end - 2, "\r\n", 2) != 0) {
        return PEER_REPLY_GARBAGE;
    }
    if (n < end + tl) {
        return n > end && memcmp(buf + end, t, n - end) != 0
                   ? PEER_REPLY_GARBAGE : PEER_REPLY_MORE;
    }
    if (memcmp(buf + end, t, tl) != 0) {
        return PEER_REPLY_GARBAGE;
    }
    out->relay_len = end;
    out->len = end + tl;
    return PEER_REPLY_DONE;
}

static enum peer_reply_status frame_text(enum peer_reply_kind kind,
                                         const char *buf, size_t n,
                                         struct peer_reply *out)
{
    enum peer_reply_status st;
    size_t line = 0;
    long bytes;

    if ((st = first_line(buf, n, &line)) != PEER_REPLY_DONE) {
        return st;
    }
    out->error = is_error(buf, line);
    if (kind == PEER_REPLY_LINE || out->error) {
        /* Anything else where one line was due (a value, an END) would
         * desynchronise every reply after it. */
        if (!out->error && !is_status(buf, line)) {
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
    return trailer(buf, n, line + 2 + (size_t)bytes + 2, true, "END\r\n",
                   out);
}

/* The <n> of a meta "VA <n> <flags>*" line; -1 if malformed. */
static long va_bytes(const char *line, size_t len)
{
    unsigned long long v = 0;
    size_t i = 3;

    if (i >= len || line[i] < '0' || line[i] > '9') {
        return -1;
    }
    for (; i < len && line[i] >= '0' && line[i] <= '9'; i++) {
        v = v * 10 + (unsigned)(line[i] - '0');
        if (v > PEER_REPLY_VALUE_MAX) {
            return -1;
        }
    }
    if (i < len && line[i] != ' ') {
        return -1;
    }
    return (long)v;
}

/* What a meta request can be answered with, before its MN. */
static int is_meta_status(const char *line, size_t len)
{
    static const char *const codes[] = { "HD", "NF", "NS", "EX", "EN", "ME" };
    size_t i;

    for (i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
        if (starts(line, len, codes[i]) && (len == 2 || line[2] == ' ')) {
            return 1;
        }
    }
    return 0;
}

static enum peer_reply_status frame_meta(const char *buf, size_t n,
                                         struct peer_reply *out)
{
    enum peer_reply_status st;
    size_t line = 0;
    long bytes;

    if ((st = first_line(buf, n, &line)) != PEER_REPLY_DONE) {
        return st;
    }
    if (line == 2 && memcmp(buf, "MN", 2) == 0) {
        out->len = 4;             /* q hid the reply */
        return PEER_REPLY_DONE;
    }
    out->error = is_error(buf, line);
    if (starts(buf, line, "VA ")) {
        if ((bytes = va_bytes(buf, line)) < 0) {
            return PEER_REPLY_GARBAGE;
        }
        return trailer(buf, n, line + 2 + (size_t)bytes + 2, true, "MN\r\n",
                       out);
    }
    if (out->error || is_meta_status(buf, line)) {
        return trailer(buf, n, line + 2, false, "MN\r\n", out);
    }
    return PEER_REPLY_GARBAGE;
}

static enum peer_reply_status frame_binary(const char *buf, size_t n,
                                           struct peer_reply *out)
{
    const uint8_t *p = (const uint8_t *)buf;
    uint32_t body;

    if (n < BIN_HEADER_SIZE) {
        return n > 0 && p[0] != BIN_RES_MAGIC ? PEER_REPLY_GARBAGE
                                              : PEER_REPLY_MORE;
    }
    body = bin_get32(p + 8);
    if (p[0] != BIN_RES_MAGIC || body > PEER_REPLY_VALUE_MAX ||
        (size_t)p[4] + ((size_t)p[2] << 8 | p[3]) > body) {
        return PEER_REPLY_GARBAGE;
    }
    if (n - BIN_HEADER_SIZE < body) {
        return PEER_REPLY_MORE;
    }
    out->len = out->relay_len = BIN_HEADER_SIZE + (size_t)body;
    out->error = (p[6] << 8 | p[7]) != BIN_SUCCESS;
    return PEER_REPLY_DONE;
}

enum peer_reply_status peer_reply_frame(enum peer_reply_kind kind,
                                        const char *buf, size_t n,
                                        struct peer_reply *out)
{
    memset(out, 0, sizeof(*out));
    switch (kind) {
    case PEER_REPLY_META:
        return frame_meta(buf, n, out);
    case PEER_REPLY_BINARY:
        return frame_binary(buf, n, out);
    default:
        return frame_text(kind, buf, n, out);
    }
}

bool peer_reply_binary_relay(char *buf, size_t len, uint8_t opcode,
                             size_t *relay)
{
    uint8_t *p = (uint8_t *)buf;
    uint8_t loud = bin_loud_opcode(opcode);
    uint16_t status;
    bool hidden;

    if (len < BIN_HEADER_SIZE || p[1] != loud) {
        return false;
    }
    status = (uint16_t)(p[6] << 8 | p[7]);
    switch (loud) {
    case BIN_GET:
    case BIN_GETK:
    case BIN_GAT:
    case BIN_GATK:
        hidden = status == BIN_KEY_ENOENT;  /* GETQ & co: hits answer */
        break;
    default:
        hidden = status == BIN_SUCCESS;
        break;
    }
    p[1] = opcode;
    *relay = bin_is_quiet(opcode) && hidden ? 0 : len;
    return true;
}
