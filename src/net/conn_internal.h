/*
 * conn_internal: struct conn and what conn.c shares with conn_udp.c. Only
 * those two files include this; everyone else sees struct conn as opaque
 * (net/conn.h).
 *
 * Threads: a conn belongs to one worker; so does everything here, except
 * c->state and c->last_cmd, which `stats conns` reads from any thread
 * (atomic, relaxed).
 */
#ifndef RC_NET_CONN_INTERNAL_H
#define RC_NET_CONN_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "net/conn.h"
#include "net/outq.h"

struct event;

/* Why process() stopped. */
enum conn_stop {
    STOP_INPUT,                   /* needs more input */
    STOP_BUDGET,                  /* ran -R requests: yield */
    STOP_OUTPUT,                  /* output at its limit, or suspended */
    STOP_CLOSE,                   /* closing, or closing after the write */
};

struct conn {
    int fd;
    struct worker *w;
    struct event *ev;
    short ev_flags;               /* what ev is registered for */
    enum conn_state state;        /* atomic: see set_state() */
    bool close_after_write;
    bool suspended;               /* the request at rstart is unfinished */
    bool read_short;              /* last read left the socket drained */
    enum conn_kind kind;
    char addr[64];
    rel_time_t last_cmd;

    char *rbuf;                   /* input: [rstart, rend) unparsed */
    size_t rsize, rstart, rend;

    const struct conn_handler *h; /* this connection's protocol */
    struct item *value_item;      /* CONN_VALUE target */
    size_t value_off;             /* bytes of value+tail received */
    size_t value_tail;            /* bytes expected after the value */
    char tail[2];                 /* the bytes after the value */
    size_t swallow_left;

    struct outq out;              /* replies not yet written */

    struct conn_pending pend;
    struct conn_auth auth;
    bool from_peer;               /* said rc_peer: serve everything here */
    struct conn_ref *ref;         /* handed to peers waiting to fill holes */
    struct conn_hold *hold;       /* the running request's reply is held */

    /* UDP only */
    struct sockaddr_storage peer; /* sender of the datagram being served */
    socklen_t peerlen;
    /* CONN_UDP: its datagrams whose replies wait on peers (conn_udp.c);
     * CONN_UDP_REPLY: its place in that list, and the request id. */
    struct conn *deferred, *next, *prev, *parent;
    unsigned ndeferred;
    uint16_t udp_id;
};

static inline enum conn_state conn_state_get(const struct conn *c)
{
    return __atomic_load_n(&c->state, __ATOMIC_RELAXED);
}

static inline void conn_state_set(struct conn *c, enum conn_state s)
{
    __atomic_store_n(&c->state, s, __ATOMIC_RELAXED);
}

/* conn.c: runs buffered input through the handler, at most *budget
 * requests. */
enum conn_stop conn_process(struct conn *c, unsigned *budget);
/* conn.c: the protocol a connection starts with. */
const struct conn_handler *conn_default_handler(void);
/* conn.c: -R, requests per event. */
unsigned conn_reqs_per_event(void);

/* conn_hold.c: conn_process runs each request between enter and leave;
 * while c->hold is set, conn_out and conn_out_value go to the hold, and
 * conn_out_discard empties it. */
void conn_hold_enter(struct conn *c);
void conn_hold_leave(struct conn *c);
void conn_hold_out(struct conn_hold *h, const char *s, size_t n);
void conn_hold_out_value(struct conn_hold *h, struct item *it);
void conn_hold_discard(struct conn_hold *h);

/* conn_udp.c: reads and serves the datagrams waiting on a CONN_UDP. */
void conn_udp_drive(struct conn *c);
/* conn_udp.c: frees a CONN_UDP_REPLY unsent (replies late for it find
 * nobody), or every deferred reply of a CONN_UDP that is going away. */
void conn_udp_reply_free(struct conn *d);
void conn_udp_free_deferred(struct conn *c);

#endif
