/*
 * conn: one client connection's state machine, buffers and output queue.
 *
 * A connection belongs to one worker thread for its whole life; nothing in
 * it is shared, so nothing in it is locked. The protocol handler (set once
 * by main, see struct conn_handler) sees complete lines and complete values;
 * this file does all reading, writing and flow control:
 *
 *   CONN_CMD --line--> handler --(store)--> CONN_VALUE --value--> CONN_CMD
 *                              \--(error)--> CONN_SWALLOW --n bytes--> CONN_CMD
 *
 * Replies are queued, not sent: text is copied into fixed 16 KiB output
 * blocks (stable addresses), values are referenced in place in item memory
 * with the item's reference held until written. Everything one read made
 * ready goes out in a single writev, so a pipelined batch costs one system
 * call (memcached issues one sendmsg per get). At most -R requests run per
 * event before the connection yields to its neighbours.
 */
#ifndef RC_NET_CONN_H
#define RC_NET_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/uio.h>

#include "cache/item.h"
#include "proto/binary.h"

#ifdef __cplusplus
extern "C" {
#endif

struct conn;
struct worker;

enum conn_state {
    CONN_CMD,                     /* expecting a request line */
    CONN_VALUE,                   /* reading a value into c->value_item */
    CONN_SWALLOW,                 /* discarding a rejected value */
    CONN_CLOSING,
};

/* What a protocol plugs in. Both run on the connection's worker. */
struct conn_handler {
    /* Frames the request at the start of buf[0..len) and runs it. Returns
     * the bytes it took, or 0 if the request is not complete yet (or it
     * closed the connection). The buffer is writable scratch space. */
    size_t (*on_input)(struct conn *c, char *buf, size_t len);
    /* A value announced by conn_read_value() arrived; valid is false if
     * the bytes after it were not the expected \r\n ("bad data chunk"). */
    void (*on_value)(struct conn *c, struct item *it, bool valid);
    /* Optional (NULL): after each read, all unparsed input, starting at a
     * request boundary, before on_input runs the requests one by one; for
     * a look-ahead such as prefetching. Must change nothing visible. */
    void (*on_read)(struct conn *c, const char *buf, size_t len);
};

/* The protocol new connections start with (main, before workers run). */
void conn_set_handler(const struct conn_handler *h);
/* Switches c to another protocol (-B auto, after the first byte). */
void conn_set_protocol(struct conn *c, const struct conn_handler *h);

/* Per-request state a handler keeps between a request and its value. */
struct conn_pending {
    int mode;                     /* store mode */
    uint64_t cas;
    bool noreply;
    int64_t exptime;              /* as the client sent it (forwarding) */
    /* server/replica_apply.c: non-zero while an rc_set's value is read
     * (p->cas then holds its version, replica_base its base or 0). */
    uint8_t replica;
    uint64_t replica_base;
    /* A request line for a key's owner, kept (heap) while its value is
     * read; the handler takes it back, else it is freed with c. */
    char *forward;
    /* Per protocol: one connection speaks one at a time. */
    union {
        struct bin_header bin;    /* binary: the request being served */
        /* Opaque to net/: server/exec_meta.c's state for an `ms`
         * value (struct meta_pending; it checks the size at compile
         * time). */
        uint64_t meta[8];
    };
    /* text: a multi-get suspended by flow control (conn_suspend); not in
     * the union, since `ms` state lives there on the same connection. */
    struct {
        size_t resume;            /* offset of its next key; 0 = none */
        size_t used;              /* bytes the whole request takes */
        rel_time_t exptime;       /* gat/gats: the new expiry */
        bool touch, cas;
    } get;
};

/* Authentication state of a connection (SASL on binary, -Y on text). */
struct conn_auth {
    bool authenticated;
    bool started;                 /* a SASL exchange or -Y token under way */
    size_t token_len;             /* -Y: bytes of token + \r\n expected */
    void *sasl;                   /* sasl_conn_t; released with the conn */
    /* rc_peer with a cluster key (server/peer_accept.c): the nonce this
     * connection was challenged with, and the link's protocol. */
    bool peer_challenged;
    bool peer_binary;
    char peer_nonce[33];
};
struct conn_auth *conn_auth(struct conn *c);
/* How to release conn_auth.sasl when a connection closes (main). */
void conn_set_auth_release(void (*fn)(void *sasl));

enum conn_kind {
    CONN_TCP,
    CONN_UNIX,
    CONN_UDP,                     /* a worker's reader of the -U socket */
    CONN_UDP_REPLY,               /* one datagram's replies waiting on
                                   * peers: no socket of its own */
};

/* Creates a connection for fd on worker w (worker thread): an accepted
 * stream socket, or (CONN_UDP) this worker's own copy of the UDP socket. */
struct conn *conn_create(int fd, struct worker *w, enum conn_kind kind);
/* Closes and frees (worker thread). */
void conn_destroy(struct conn *c);

/* --- for protocol handlers --- */

/* A new response starts here. Only UDP cares: memcached sends each
 * response as its own run of datagrams. */
void conn_mark(struct conn *c);
/* The current response is sent even if it stays empty (UDP only). */
void conn_mark_keep_empty(struct conn *c);
/* Queues bytes to send (copied). */
void conn_out(struct conn *c, const char *s, size_t n);
/* Queues a line: s followed by \r\n. */
void conn_out_line(struct conn *c, const char *s);
/* Queues its value in place; takes over the caller's reference. */
void conn_out_value(struct conn *c, struct item *it);
/* Reads it->nbytes bytes into its value, then expects `tail` more bytes
 * (2 for the text protocol's \r\n, 0 for binary); then on_value. Takes
 * over the caller's reference until on_value returns. */
void conn_read_value(struct conn *c, struct item *it, size_t tail);
/* Discards the next n bytes of input. */
void conn_swallow(struct conn *c, size_t n);
/* Drops every reply queued since the last write or checkpoint, whichever
 * is later (memcached's conn_release_items: a get that fails part way drops
 * the responses it has not transmitted yet). Nothing partly sent is
 * dropped. */
void conn_out_discard(struct conn *c);
/* Marks the replies queued so far as kept by conn_out_discard (memcached
 * transmits after a get completes). */
void conn_out_checkpoint(struct conn *c);
/* Whether the replies queued and not yet written are at the connection's
 * limit (conn_options.out_limit; never for UDP). A request that can add
 * much output (a multi-get) checks it as it goes and, when it is, saves
 * its place and calls conn_suspend(). */
bool conn_out_full(const struct conn *c);
/* Called by on_input instead of finishing the request at the start of its
 * buffer: on_input returns 0, and is called again with the same buffer
 * (same bytes, same offset from the request's start; the address may
 * differ) once the output has drained. The handler keeps its own place,
 * in conn_pending. */
void conn_suspend(struct conn *c);
/* Closes once queued output is written. */
void conn_close_after_write(struct conn *c);
/* Closes now, dropping queued output. */
void conn_close_now(struct conn *c);
struct conn_pending *conn_pending(struct conn *c);
int conn_fd(const struct conn *c);
/* The longest request line a text handler may accept (multi-gets). */
size_t conn_max_line(void);

/* --- replies that come from a peer (the router, cluster/router.h) ---
 *
 * A request whose key another node owns takes a place in the reply queue
 * (a hole, net/outq.h) and is answered when the owner's reply arrives;
 * replies after it wait, so they leave in request order. All of this runs
 * on the connection's worker thread. */

/* At most this many requests of one connection wait on peers; past it the
 * connection runs no more requests until replies come. */
#define CONN_HOLES_MAX 4096

/* What a peer keeps to find the connection again: c is NULL once the
 * connection has closed. Counted references, worker thread only. */
struct conn_ref {
    struct conn *c;
    unsigned refs;
};
/* A reference to c's conn_ref (made on first use); NULL if out of memory. */
struct conn_ref *conn_ref_get(struct conn *c);
void conn_ref_put(struct conn_ref *r);
/* Reserves the place of a reply that comes later; 0 if out of memory,
 * and the connection closes. On UDP the datagram's replies then leave
 * once every hole of it is filled (net/conn_udp.c). */
uint64_t conn_hole(struct conn *c);
/* Puts the reply in its place and wakes the connection to write it. A
 * hole that is gone (discarded) takes nothing. */
void conn_fill(struct conn *c, uint64_t hole, const char *s, size_t n);
/* --- a reply held until others agree (cluster/replica.c: --write-acks) ---
 *
 * While a worker runs a request of a TCP or unix connection (inside the
 * handler's on_input/on_value), conn_hold_current() holds that request's
 * reply: its place in the queue is kept and what the request queues from
 * then on is kept aside. conn_hold_release(h, ok) then sends it (ok) or,
 * in its place, "SERVER_ERROR replicas unavailable" (a binary reply:
 * status 0x86, "Temporary failure"). Call release exactly once, on the
 * same worker, before or after the request returns; a request that
 * queued no reply (noreply, quiet) goes on at once either way. NULL when
 * nothing can be held (no request running, UDP, already held, out of
 * memory): the reply is not held. */
struct conn_hold;
struct conn_hold *conn_hold_current(void);
void conn_hold_release(struct conn_hold *h, bool ok);

/* The connection is another node's (rc_peer): it is served locally. */
void conn_set_from_peer(struct conn *c);
bool conn_from_peer(const struct conn *c);
struct worker *conn_worker(const struct conn *c);

/* `stats conns`: calls fn for each live connection (any thread). */
typedef void (*conn_visit_fn)(void *arg, int fd, const char *addr,
                              const char *state, unsigned idle_secs);
void conn_visit_all(conn_visit_fn fn, void *arg);

/* Closes w's connections idle (waiting for a command, nothing to send)
 * longer than -o idle_timeout. Worker thread of w. */
void conn_close_idle(struct worker *w);

/* Copies the next input bytes of a value being read into it: value bytes
 * at *off, then the tail_len terminator bytes into tail. Returns how many
 * of avail bytes it took; the value is complete when *off reaches
 * it->nbytes + tail_len. (Shared with the fuzz driver's stand-in conn.) */
static inline size_t conn_value_feed(struct item *it, size_t *off,
                                     size_t tail_len, char *tail,
                                     const char *p, size_t avail)
{
    size_t total = (size_t)it->nbytes + tail_len;
    size_t take = total - *off < avail ? total - *off : avail;
    size_t to_value = 0;

    if (*off < it->nbytes) {
        to_value = it->nbytes - *off < take ? it->nbytes - *off : take;
        item_copy_in(it, *off, p, to_value);
    }
    if (take > to_value) {
        memcpy(tail + (*off + to_value - it->nbytes), p + to_value,
               take - to_value);
    }
    *off += take;
    return take;
}

/* Limits, set once by main before workers start. */
struct conn_options {
    unsigned reqs_per_event;      /* -R */
    size_t max_line;              /* longest multi-get line accepted */
    unsigned idle_timeout;        /* -o idle_timeout, seconds; 0 = off */
    size_t out_limit;             /* unwritten reply bytes that stop a
                                   * connection running requests */
};
/* 1 MiB: a few socket buffers' worth, so pipelined large values still go
 * out in big writes, and 100 stalled readers cost ~100 MiB at most. */
#define CONN_OUT_LIMIT_DEFAULT (1024 * 1024)
void conn_setup(const struct conn_options *opts);

#ifdef __cplusplus
}
#endif
#endif
