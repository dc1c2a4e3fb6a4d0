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
#include <sys/uio.h>

#include "cache/item.h"

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

/* What the protocol layer plugs in. Both run on the connection's worker. */
struct conn_handler {
    /* One NUL-terminated request line (without \r\n). */
    void (*on_line)(struct conn *c, char *line, size_t len);
    /* A value announced by conn_read_value() arrived; valid is false if it
     * did not end in \r\n ("bad data chunk"). */
    void (*on_value)(struct conn *c, struct item *it, bool valid);
};

void conn_set_handler(const struct conn_handler *h);

/* Per-request state the text handler keeps between line and value. */
struct conn_pending {
    int mode;                     /* store mode */
    uint64_t cas;
    bool noreply;
    /* Opaque to net/: server/dispatch_meta.c's state for an `ms` value
     * (struct meta_pending; it checks the size at compile time). */
    uint64_t meta[8];
};

/* Creates a connection for an accepted fd on worker w (worker thread). */
struct conn *conn_create(int fd, struct worker *w, bool is_unix);
/* Closes and frees (worker thread). */
void conn_destroy(struct conn *c);

/* --- for protocol handlers --- */

/* Queues bytes to send (copied). */
void conn_out(struct conn *c, const char *s, size_t n);
/* Queues a line: s followed by \r\n. */
void conn_out_line(struct conn *c, const char *s);
/* Queues it's value in place; takes over the caller's reference. */
void conn_out_value(struct conn *c, struct item *it);
/* Reads the next nbytes + 2 bytes into it's value; then on_value. Takes
 * over the caller's reference until on_value returns. */
void conn_read_value(struct conn *c, struct item *it);
/* Discards the next n bytes of input. */
void conn_swallow(struct conn *c, size_t n);
/* Drops every reply queued since the last write (memcached does this when a
 * multi-get fails part way). */
void conn_out_discard(struct conn *c);
/* Closes once queued output is written. */
void conn_close_after_write(struct conn *c);
/* Closes now, dropping queued output. */
void conn_close_now(struct conn *c);
struct conn_pending *conn_pending(struct conn *c);
int conn_fd(const struct conn *c);

/* `stats conns`: calls fn for each live connection (any thread). */
typedef void (*conn_visit_fn)(void *arg, int fd, const char *addr,
                              const char *state, unsigned idle_secs);
void conn_visit_all(conn_visit_fn fn, void *arg);

/* Closes w's connections idle (waiting for a command, nothing to send)
 * longer than -o idle_timeout. Worker thread of w. */
void conn_close_idle(struct worker *w);

/* Limits, set once by main before workers start. */
struct conn_options {
    unsigned reqs_per_event;      /* -R */
    size_t max_line;              /* longest multi-get line accepted */
    unsigned idle_timeout;        /* -o idle_timeout, seconds; 0 = off */
};
void conn_setup(const struct conn_options *opts);

#ifdef __cplusplus
}
#endif
#endif
