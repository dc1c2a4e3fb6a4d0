/*
 * forward_text: requests rebuilt for the owner (see forward_text.h).
 */
#include "server/forward_text.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/router.h"
#include "proto/text.h"

#define LINE_MAX_FWD (KEY_MAX_LENGTH + 96)

/* A write of key (or a gat): with --replicas, to the next owner if this
 * one never got it (peer.h unsent_only). */
static void send(struct conn *c, const char *addr, const char *line,
                 size_t n, const char *value, size_t vlen,
                 enum peer_reply_kind kind, bool drop, const char *key,
                 size_t nkey)
{
    struct peer_request r = { 0 };

    r.addr = addr;
    r.key = key;
    r.nkey = nkey;
    r.unsent_only = true;
    r.req = line;
    r.n = n;
    r.value = value;
    r.vlen = vlen;
    r.kind = kind;
    r.drop = drop;
    /* A dead server's reads miss; its writes fail. */
    if (kind == PEER_REPLY_GET) {
        r.fail = "";
    } else {
        r.fail = PEER_UNAVAILABLE;
        r.fail_len = sizeof(PEER_UNAVAILABLE) - 1;
    }
    r.fail_static = true;
    router_forward(c, &r);
}

/* A plain get: another owner can answer it if this one fails. */
static void send_read(struct conn *c, const char *addr, const char *line,
                      size_t n, const char *key, size_t nkey)
{
    struct peer_request r = { 0 };

    r.addr = addr;
    r.req = line;
    r.n = n;
    r.kind = PEER_REPLY_GET;
    r.fail = "";
    r.fail_static = true;
    r.key = key;
    r.nkey = nkey;
    router_forward(c, &r);
}

static void send_line(struct conn *c, const char *addr, const char *line,
                      int n, enum peer_reply_kind kind, bool drop,
                      const char *key, size_t nkey)
{
    if (n <= 0 || n >= LINE_MAX_FWD) {
        return;                   /* cannot happen: keys are <= 250 bytes */
    }
    send(c, addr, line, (size_t)n, NULL, 0, kind, drop, key, nkey);
}

void forward_text_get(struct conn *c, const char *addr, const char *key,
                      size_t nkey, bool touch, bool cas, int64_t exptime)
{
    char line[LINE_MAX_FWD];
    int n;

    if (touch) {
        n = snprintf(line, sizeof(line), "%s %" PRId64 " %.*s\r\n",
                     cas ? "gats" : "gat", exptime, (int)nkey, key);
    } else {
        /* The hot path of a proxied multi-get: no printf. */
        size_t v = cas ? 4 : 3;

        memcpy(line, cas ? "gets " : "get ", v + 1);
        memcpy(line + v + 1, key, nkey);
        memcpy(line + v + 1 + nkey, "\r\n", 2);
        send_read(c, addr, line, v + 1 + nkey + 2, key, nkey);
        return;
    }
    send_line(c, addr, line, n, PEER_REPLY_GET, false, key, nkey);
}

void forward_text_store(struct conn *c, const char *addr, int mode,
                        const struct item *it, int64_t exptime, uint64_t cas,
                        bool noreply)
{
    static const char *const verbs[] = { "set", "add", "replace", "append",
                                         "prepend", "cas" };
    char line[LINE_MAX_FWD];
    char *value;
    int n;

    if (mode == TEXT_CAS) {
        n = snprintf(line, sizeof(line), "cas %.*s %u %" PRId64 " %u %" PRIu64
                     "\r\n", (int)it->nkey, item_key(it), item_cflags(it),
                     exptime, (unsigned)it->nbytes, cas);
    } else {
        n = snprintf(line, sizeof(line), "%s %.*s %u %" PRId64 " %u\r\n",
                     verbs[mode], (int)it->nkey, item_key(it),
                     item_cflags(it), exptime, (unsigned)it->nbytes);
    }
    /* The value may be chunked in item memory: one contiguous copy with
     * its \r\n for the peer's buffer. */
    value = malloc((size_t)it->nbytes + 2);
    if (value == NULL || n <= 0 || n >= LINE_MAX_FWD) {
        free(value);
        if (!noreply) {           /* in order: nothing is waiting before */
            conn_out_line(c, "SERVER_ERROR out of memory storing object");
        }
        return;
    }
    item_copy_out(it, 0, value, it->nbytes);
    memcpy(value + it->nbytes, "\r\n", 2);
    send(c, addr, line, (size_t)n, value, (size_t)it->nbytes + 2,
         PEER_REPLY_LINE, noreply, item_key(it), it->nkey);
    free(value);
}

void forward_text_delete(struct conn *c, const char *addr, const char *key,
                         size_t nkey, bool noreply)
{
    char line[LINE_MAX_FWD];
    int n = snprintf(line, sizeof(line), "delete %.*s\r\n", (int)nkey, key);

    send_line(c, addr, line, n, PEER_REPLY_LINE, noreply, key, nkey);
}

void forward_text_delta(struct conn *c, const char *addr, const char *key,
                        size_t nkey, bool incr, uint64_t delta, bool noreply)
{
    char line[LINE_MAX_FWD];
    int n = snprintf(line, sizeof(line), "%s %.*s %" PRIu64 "\r\n",
                     incr ? "incr" : "decr", (int)nkey, key, delta);

    send_line(c, addr, line, n, PEER_REPLY_LINE, noreply, key, nkey);
}

void forward_text_touch(struct conn *c, const char *addr, const char *key,
                        size_t nkey, int64_t exptime, bool noreply)
{
    char line[LINE_MAX_FWD];
    int n = snprintf(line, sizeof(line), "touch %.*s %" PRId64 "\r\n",
                     (int)nkey, key, exptime);

    send_line(c, addr, line, n, PEER_REPLY_LINE, noreply, key, nkey);
}

void forward_text_flush(struct conn *c, int64_t delay)
{
    char line[64];
    int n = snprintf(line, sizeof(line), "flush_all %" PRId64 "\r\n", delay);

    if (n > 0 && (size_t)n < sizeof(line)) {
        router_broadcast(c, line, (size_t)n);
    }
}
