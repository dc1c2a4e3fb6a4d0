/*
 * conn_udp: serving the -U socket, one datagram at a time.
 *
 * Every request in a datagram runs, then the replies go back to its
 * sender, each response as its own run of datagrams (net/udp.c). Nothing
 * carries over to the next datagram (it may come from anyone): a value cut
 * off by the datagram's end is dropped, the protocol is chosen afresh, and
 * "quit" ends nothing but the datagram.
 *
 * In a cluster some of a datagram's keys belong to other nodes, and their
 * replies come later, into holes of the reply queue (net/outq.h). The
 * socket cannot wait for them as a stream does, since the next datagram
 * may come from anyone; so the datagram's whole reply queue moves into a
 * reply of its own (a CONN_UDP_REPLY conn: no socket, no registry entry,
 * only the queue, the sender's address and the request id), and with it
 * the conn_ref that the peers hold, so their late fills land there. When
 * its last hole is filled (every forwarded request ends in a reply or a
 * failure by the peer timeout), it sends and frees itself. A worker keeps
 * at most UDP_DEFERRED_MAX of them; past that, datagrams are dropped
 * unread as a full socket buffer would drop them, which bounds what a
 * flood of routed datagrams can hold while peers are slow.
 */
#include "net/conn_internal.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "net/udp.h"
#include "net/worker.h"
#include "util/clock.h"

/* Each waiting datagram holds about 18 KiB (its reply queue's first
 * 16 KiB output block, iovecs, the conn): 256 are 4.6 MiB per worker.
 * With owners answering in well under a millisecond that is room for
 * hundreds of thousands of routed datagrams a second per worker; only a
 * stalled owner fills it, and then waiting longer helps nobody. */
#define UDP_DEFERRED_MAX 256

/* Sends q's responses to the datagram's sender (and the close marker
 * after "quit"); returns the bytes sent. */
static size_t send_queue(int fd, const struct sockaddr *peer,
                         socklen_t peerlen, uint16_t id,
                         const struct outq *q, bool closing)
{
    size_t sent = 0, first = 0;

    /* Responses start at the marks; output before the first mark (there
     * should be none) is a response too. */
    if (q->nmarks == 0 || q->marks[0] != 0) {
        sent = udp_send_responses(fd, peer, peerlen, id, q->iov,
                                  q->nmarks > 0 ? q->marks[0] : q->niov,
                                  &first, NULL, 1);
    }
    if (q->nmarks > 0) {
        sent += udp_send_responses(fd, peer, peerlen, id, q->iov, q->niov,
                                   q->marks, q->mark_keep, q->nmarks);
    }
    if (closing) {                /* quit; junk that closes a stream gets
                                   * no answer at all */
        udp_send_close(fd, peer, peerlen, id);
        sent += UDP_HEADER_SIZE;
    }
    return sent;
}

void conn_udp_reply_free(struct conn *d)
{
    struct conn *c = d->parent;

    if (d->prev != NULL) {
        d->prev->next = d->next;
    } else {
        c->deferred = d->next;
    }
    if (d->next != NULL) {
        d->next->prev = d->prev;
    }
    c->ndeferred--;
    if (d->ref != NULL) {
        d->ref->c = NULL;         /* late replies find nobody */
        conn_ref_put(d->ref);
    }
    event_free(d->ev);
    outq_deinit(&d->out);
    free(d);
}

void conn_udp_free_deferred(struct conn *c)
{
    while (c->deferred != NULL) {
        conn_udp_reply_free(c->deferred);
    }
}

/* conn_fill woke a deferred reply: send it once nothing is missing. */
static void on_reply_event(evutil_socket_t fd, short what, void *arg)
{
    struct conn *d = arg;

    (void)fd;
    (void)what;
    if (outq_holes_open(&d->out) > 0) {
        return;
    }
    worker_stat_add(&worker_net_stats(d->w)->bytes_written,
                    send_queue(d->fd, (struct sockaddr *)&d->peer,
                               d->peerlen, d->udp_id, &d->out,
                               d->close_after_write));
    conn_udp_reply_free(d);
}

/* Moves the datagram's reply queue, and the reference the peers fill it
 * through, into a reply of its own; false if out of memory. */
static bool defer(struct conn *c, uint16_t id)
{
    struct conn *d = calloc(1, sizeof(*d));
    struct outq fresh;

    if (d == NULL || c->ref == NULL) {
        free(d);
        return false;
    }
    d->ev = event_new(worker_base(c->w), -1, 0, on_reply_event, d);
    if (d->ev == NULL || !outq_init(&fresh, true)) {
        if (d->ev != NULL) {
            event_free(d->ev);
        }
        free(d);
        return false;
    }
    d->kind = CONN_UDP_REPLY;
    d->fd = c->fd;                /* shared, never closed through d */
    d->w = c->w;
    d->out = c->out;
    c->out = fresh;
    d->ref = c->ref;              /* holes exist, so peers hold a ref */
    d->ref->c = d;
    c->ref = NULL;
    d->peer = c->peer;
    d->peerlen = c->peerlen;
    d->udp_id = id;
    d->close_after_write = c->close_after_write;
    d->parent = c;
    d->next = c->deferred;
    if (d->next != NULL) {
        d->next->prev = d;
    }
    c->deferred = d;
    c->ndeferred++;
    return true;
}

static void serve(struct conn *c, uint16_t id)
{
    unsigned budget = UINT_MAX;

    conn_state_set(c, CONN_CMD);
    c->h = conn_default_handler();
    free(c->pend.forward);
    memset(&c->pend, 0, sizeof(c->pend));   /* nothing from the last sender */
    conn_process(c, &budget);
    if (c->value_item != NULL) {
        item_put(c->value_item);
        c->value_item = NULL;
    }
    if (outq_holes_open(&c->out) == 0) {
        worker_stat_add(&worker_net_stats(c->w)->bytes_written,
                        send_queue(c->fd, (struct sockaddr *)&c->peer,
                                   c->peerlen, id, &c->out,
                                   c->close_after_write));
    } else if (!defer(c, id)) {
        /* No memory to wait: the datagram goes unanswered, and the
         * peers' late replies must find nobody. */
        if (c->ref != NULL) {
            c->ref->c = NULL;
            conn_ref_put(c->ref);
            c->ref = NULL;
        }
    }
    outq_reset(&c->out);
    conn_state_set(c, CONN_CMD);
    c->close_after_write = false;
    c->suspended = false;
    c->swallow_left = 0;
}

void conn_udp_drive(struct conn *c)
{
    unsigned n;

    for (n = 0; n < conn_reqs_per_event(); n++) {
        ssize_t got;
        uint16_t id;

        c->peerlen = sizeof(c->peer);
        got = recvfrom(c->fd, c->rbuf, c->rsize, 0,
                       (struct sockaddr *)&c->peer, &c->peerlen);
        if (got < 0) {
            if (errno == EINTR) {
                continue;
            }
            return;               /* EAGAIN: drained */
        }
        worker_stat_add(&worker_net_stats(c->w)->bytes_read, (size_t)got);
        if (!udp_request_ok(c->rbuf, (size_t)got, &id) ||
            c->ndeferred >= UDP_DEFERRED_MAX) {
            continue;             /* memcached drops bad ones silently */
        }
        c->rstart = UDP_HEADER_SIZE;
        c->rend = (size_t)got;
        __atomic_store_n(&c->last_cmd, clock_now(), __ATOMIC_RELAXED);
        serve(c, id);
    }
    /* More may be waiting: yield to the loop, come back. */
    event_active(c->ev, EV_READ, 0);
}
