/*
 * conn_hold: a request's reply held back until others agree (conn.h,
 * "a reply held"). cluster/replica.c uses it for --write-acks: the reply
 * to a write leaves only once enough owners hold the write.
 *
 * The hold is made while the request runs (from the cache's change hook,
 * before the executor queues the reply): it reserves the reply's place in
 * the queue (a hole, so later replies wait behind it, in order) and from
 * then on conn_out and conn_out_value put the request's output in the
 * hold's buffer instead. When the request returns (conn_hold_leave, from
 * conn_process) the buffer is complete; when its owner has also said
 * ok or not (conn_hold_release) the hole is filled with the buffer or
 * with a failure reply in the same protocol. Either may come first: a
 * send that fails at once releases the hold inside the request. A request
 * that queued nothing (noreply, quiet) is not held: its empty place is
 * filled when it returns.
 *
 * One worker thread: the connection's. The connection may close while
 * the hold waits; the hold keeps a conn_ref and then fills nothing.
 */
#include "net/conn.h"
#include "net/conn_internal.h"

#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "cache/item.h"

#define FAIL_TEXT "SERVER_ERROR replicas unavailable\r\n"
#define BIN_FAIL_BODY "Temporary failure"
#define BIN_HEADER 24
#define BIN_RES_MAGIC 0x81
#define BIN_STATUS_TMPFAIL 0x86

struct conn_hold {
    struct conn_ref *ref;
    uint64_t hole;
    char *buf;                    /* the request's output */
    size_t n, cap;
    bool oom;                     /* part of it could not be kept */
    bool running;                 /* the request has not returned */
    bool released, ok;
    bool filled;
};

/* The connection whose request this worker is running (TCP only). */
static __thread struct conn *running_conn;

void conn_hold_enter(struct conn *c)
{
    running_conn = c->kind == CONN_TCP || c->kind == CONN_UNIX ? c : NULL;
}

struct conn_hold *conn_hold_current(void)
{
    struct conn *c = running_conn;
    struct conn_hold *h;

    if (c == NULL || c->hold != NULL ||
        conn_state_get(c) == CONN_CLOSING) {
        return NULL;
    }
    h = calloc(1, sizeof(*h));
    if (h == NULL) {
        return NULL;
    }
    h->ref = conn_ref_get(c);
    h->hole = h->ref != NULL ? outq_hole(&c->out) : 0;
    if (h->hole == 0) {
        if (h->ref != NULL) {
            conn_ref_put(h->ref);
        }
        free(h);
        return NULL;              /* not held: the reply goes out now */
    }
    h->running = true;
    c->hold = h;
    return h;
}

void conn_hold_out(struct conn_hold *h, const char *s, size_t n)
{
    if (h->oom || n == 0) {
        return;
    }
    if (h->n + n > h->cap) {
        size_t cap = h->cap == 0 ? 64 : h->cap;
        char *grown;

        while (cap < h->n + n) {
            cap *= 2;
        }
        grown = realloc(h->buf, cap);
        if (grown == NULL) {
            h->oom = true;
            return;
        }
        h->buf = grown;
        h->cap = cap;
    }
    memcpy(h->buf + h->n, s, n);
    h->n += n;
}

void conn_hold_out_value(struct conn_hold *h, struct item *it)
{
    char chunk[4096];
    size_t off = 0;

    while (off < it->nbytes) {
        size_t take = it->nbytes - off < sizeof(chunk) ? it->nbytes - off
                                                       : sizeof(chunk);

        item_copy_out(it, off, chunk, take);
        conn_hold_out(h, chunk, take);
        off += take;
    }
    item_put(it);
}

/* The failure reply in the protocol of the held one: a binary response
 * keeps its opcode and opaque. */
static size_t fail_reply(const struct conn_hold *h, char *out)
{
    if (h->n >= BIN_HEADER && (unsigned char)h->buf[0] == BIN_RES_MAGIC) {
        size_t body = sizeof(BIN_FAIL_BODY) - 1;

        memset(out, 0, BIN_HEADER);
        out[0] = (char)BIN_RES_MAGIC;
        out[1] = h->buf[1];                       /* opcode */
        out[6] = 0;
        out[7] = (char)BIN_STATUS_TMPFAIL;        /* status */
        out[11] = (char)body;                     /* body length */
        memcpy(out + 12, h->buf + 12, 4);         /* opaque */
        memcpy(out + BIN_HEADER, BIN_FAIL_BODY, body);
        return BIN_HEADER + body;
    }
    memcpy(out, FAIL_TEXT, sizeof(FAIL_TEXT) - 1);
    return sizeof(FAIL_TEXT) - 1;
}

static void fill(struct conn_hold *h, bool ok)
{
    char fail[BIN_HEADER + sizeof(BIN_FAIL_BODY)];
    struct conn *c = h->ref->c;

    h->filled = true;
    if (c == NULL) {
        return;                   /* closed meanwhile */
    }
    if (h->oom) {
        conn_state_set(c, CONN_CLOSING);   /* the reply is incomplete */
        event_active(c->ev, EV_WRITE, 0);
    } else if (ok || h->n == 0) {
        conn_fill(c, h->hole, h->buf, h->n);
    } else {
        conn_fill(c, h->hole, fail, fail_reply(h, fail));
    }
}

static void hold_free(struct conn_hold *h)
{
    conn_ref_put(h->ref);
    free(h->buf);
    free(h);
}

void conn_hold_leave(struct conn *c)
{
    struct conn_hold *h = c->hold;

    running_conn = NULL;
    if (h == NULL) {
        return;
    }
    c->hold = NULL;
    h->running = false;
    if (h->n == 0 && !h->oom) {
        fill(h, true);            /* nothing to hold: noreply, quiet */
    } else if (h->released) {
        fill(h, h->ok);
    }
    if (h->released) {
        hold_free(h);
    }
}

void conn_hold_discard(struct conn_hold *h)
{
    h->n = 0;
}

void conn_hold_release(struct conn_hold *h, bool ok)
{
    if (h->released) {
        return;
    }
    h->released = true;
    h->ok = ok;
    if (h->running) {
        return;                   /* conn_hold_leave fills and frees it */
    }
    if (!h->filled) {
        fill(h, ok);
    }
    hold_free(h);
}
