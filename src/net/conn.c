/*
 * conn: connection state machine (see conn.h).
 *
 * Framing belongs to the protocol (its on_input says how many bytes a
 * request took); this file only owns the buffers: where input is, when a
 * value is being read into an item, and when output leaves.
 *
 * Note on system calls: after a read that did not fill the buffer the socket
 * is almost surely drained, so the connection goes back to the event loop
 * instead of calling read() again just to see EAGAIN. Replies made ready by
 * one read leave in one writev (the queue itself is net/outq.c).
 *
 * Flow control, which bounds what a slow reader costs: while a connection
 * has CONN_OUT_LIMIT bytes or more of replies unwritten, it runs no more
 * requests (memcached likewise transmits before it parses on), and while
 * output is blocked nothing more is read. One request can still add more
 * than the limit (a value is referenced, not copied; `stats conns` grows
 * with the connections), but a multi-get checks the limit after every hit
 * and suspends (conn_suspend) until the queue drains. So a connection
 * holds at most its read buffer (<= the longest line) plus the limit plus
 * one request's reply.
 *
 * c->state is also read by other threads (`stats conns`), so every access
 * to it is atomic (relaxed: it is only a report).
 */
#include "net/conn.h"
#include "net/conn_internal.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <event2/event.h>

#include "net/outq.h"
#include "net/udp.h"
#include "net/worker.h"
#include "util/clock.h"

#define RBUF_INITIAL 16384        /* as memcached's read buffer */

static const struct conn_handler *handler;
static void (*auth_release)(void *sasl);
static struct conn_options copts = { 20, 2 * 1024 * 1024, 0,
                                     CONN_OUT_LIMIT_DEFAULT };

/* Registry for `stats conns` and idle sweeps, indexed by fd. */
static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct conn **registry;
static size_t registry_size;

void conn_set_handler(const struct conn_handler *h)
{
    handler = h;
}

void conn_setup(const struct conn_options *o)
{
    copts = *o;
}

const struct conn_handler *conn_default_handler(void)
{
    return handler;
}

unsigned conn_reqs_per_event(void)
{
    return copts.reqs_per_event;
}

void conn_set_auth_release(void (*fn)(void *sasl))
{
    auth_release = fn;
}

struct conn_auth *conn_auth(struct conn *c)
{
    return &c->auth;
}

void conn_set_protocol(struct conn *c, const struct conn_handler *h)
{
    c->h = h;
}

size_t conn_max_line(void)
{
    return copts.max_line;
}

static void registry_put(int fd, struct conn *c)
{
    pthread_mutex_lock(&registry_lock);
    if ((size_t)fd >= registry_size) {
        size_t n = registry_size ? registry_size : 1024;
        struct conn **grown;

        while (n <= (size_t)fd) {
            n *= 2;
        }
        grown = realloc(registry, n * sizeof(*grown));
        if (grown != NULL) {
            memset(grown + registry_size, 0,
                   (n - registry_size) * sizeof(*grown));
            registry = grown;
            registry_size = n;
        }
    }
    if ((size_t)fd < registry_size) {
        registry[fd] = c;
    }
    pthread_mutex_unlock(&registry_lock);
}

static const char *state_name(enum conn_state s)
{
    switch (s) {
    case CONN_CMD: return "conn_parse_cmd";
    case CONN_VALUE: return "conn_nread";
    case CONN_SWALLOW: return "conn_swallow";
    default: return "conn_closing";
    }
}

void conn_visit_all(conn_visit_fn fn, void *arg)
{
    rel_time_t now = clock_now();
    size_t i;

    pthread_mutex_lock(&registry_lock);
    for (i = 0; i < registry_size; i++) {
        struct conn *c = registry[i];

        if (c != NULL) {
            enum conn_state st = conn_state_get(c);
            rel_time_t last = __atomic_load_n(&c->last_cmd, __ATOMIC_RELAXED);

            fn(arg, c->fd, c->addr, state_name(st),
               now > last ? now - last : 0);
        }
    }
    pthread_mutex_unlock(&registry_lock);
}

static void on_event(evutil_socket_t fd, short what, void *arg);

void conn_close_idle(struct worker *w)
{
    rel_time_t now = clock_now();
    struct conn *idle[64];
    size_t n = 0, i;

    if (copts.idle_timeout == 0) {
        return;
    }
    /* Collect under the lock, close after: conn_destroy takes it too. */
    pthread_mutex_lock(&registry_lock);
    for (i = 0; i < registry_size && n < 64; i++) {
        struct conn *c = registry[i];

        if (c != NULL && c->w == w && c->kind != CONN_UDP &&
            conn_state_get(c) == CONN_CMD && outq_empty(&c->out) &&
            now - c->last_cmd > copts.idle_timeout) {
            idle[n++] = c;
        }
    }
    pthread_mutex_unlock(&registry_lock);
    for (i = 0; i < n; i++) {
        conn_destroy(idle[i]);
    }
}

static void describe_peer(struct conn *c)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    char host[INET6_ADDRSTRLEN] = "";

    if (c->kind == CONN_UNIX) {
        snprintf(c->addr, sizeof(c->addr), "unix");
        return;
    }
    if (c->kind == CONN_UDP) {
        snprintf(c->addr, sizeof(c->addr), "udp");
        return;
    }
    if (getpeername(c->fd, (struct sockaddr *)&ss, &len) != 0) {
        snprintf(c->addr, sizeof(c->addr), "tcp:?");
    } else if (ss.ss_family == AF_INET) {
        struct sockaddr_in *in = (struct sockaddr_in *)&ss;

        inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
        snprintf(c->addr, sizeof(c->addr), "tcp:%s:%u", host,
                 ntohs(in->sin_port));
    } else {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;

        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
        snprintf(c->addr, sizeof(c->addr), "tcp6:[%s]:%u", host,
                 ntohs(in6->sin6_port));
    }
}

struct conn *conn_create(int fd, struct worker *w, enum conn_kind kind)
{
    struct conn *c = calloc(1, sizeof(*c));

    if (c == NULL) {
        return NULL;
    }
    c->fd = fd;
    c->w = w;
    c->h = handler;
    c->kind = kind;
    c->rsize = kind == CONN_UDP ? UDP_READ_SIZE : RBUF_INITIAL;
    c->rbuf = malloc(c->rsize);
    if (c->rbuf == NULL || !outq_init(&c->out, kind == CONN_UDP)) {
        free(c->rbuf);
        free(c);
        return NULL;
    }
    c->ev = event_new(worker_base(w), fd, EV_READ | EV_PERSIST, on_event, c);
    if (c->ev == NULL) {
        outq_deinit(&c->out);
        free(c->rbuf);
        free(c);
        return NULL;
    }
    c->ev_flags = EV_READ;
    c->last_cmd = clock_now();
    describe_peer(c);
    event_add(c->ev, NULL);
    registry_put(fd, c);
    return c;
}

void conn_destroy(struct conn *c)
{
    if (c->kind == CONN_UDP_REPLY) {
        conn_udp_reply_free(c);   /* no socket, no registry entry */
        return;
    }
    if (c->kind == CONN_UDP) {
        conn_udp_free_deferred(c);
    }
    if (c->ref != NULL) {
        c->ref->c = NULL;         /* late replies find nobody */
        conn_ref_put(c->ref);
    }
    registry_put(c->fd, NULL);
    event_free(c->ev);
    outq_deinit(&c->out);
    if (c->value_item != NULL) {
        item_put(c->value_item);
    }
    free(c->pend.forward);
    if (c->auth.sasl != NULL && auth_release != NULL) {
        auth_release(c->auth.sasl);
    }
    close(c->fd);
    free(c->rbuf);
    free(c);
    __atomic_sub_fetch(&worker_curr_conns, 1, __ATOMIC_RELAXED);
}

void conn_mark(struct conn *c)
{
    outq_mark(&c->out);
}

void conn_mark_keep_empty(struct conn *c)
{
    outq_mark_keep_empty(&c->out);
}

void conn_out(struct conn *c, const char *s, size_t n)
{
    if (c->hold != NULL) {
        conn_hold_out(c->hold, s, n);
    } else if (!outq_copy(&c->out, s, n)) {
        conn_state_set(c, CONN_CLOSING);
    }
}

void conn_out_line(struct conn *c, const char *s)
{
    size_t n = strlen(s);
    char buf[256];

    if (n + 2 <= sizeof(buf)) {
        memcpy(buf, s, n);
        memcpy(buf + n, "\r\n", 2);
        conn_out(c, buf, n + 2);
    } else {
        conn_out(c, s, n);
        conn_out(c, "\r\n", 2);
    }
}

void conn_out_value(struct conn *c, struct item *it)
{
    if (c->hold != NULL) {
        conn_hold_out_value(c->hold, it);
    } else if (!outq_value(&c->out, it)) {
        conn_state_set(c, CONN_CLOSING);
    }
}

bool conn_out_full(const struct conn *c)
{
    /* A datagram's replies are bounded by the datagram; UDP has no
     * back-pressure to wait for. Requests waiting on peers count too:
     * each holds a place in the queue and an entry at a peer. */
    return c->kind != CONN_UDP &&
           (outq_pending(&c->out) >= copts.out_limit ||
            outq_holes_open(&c->out) >= CONN_HOLES_MAX);
}

/* ---- replies that come from a peer --------------------------------- */

struct conn_ref *conn_ref_get(struct conn *c)
{
    if (c->ref == NULL) {
        c->ref = calloc(1, sizeof(*c->ref));
        if (c->ref == NULL) {
            return NULL;
        }
        c->ref->c = c;
        c->ref->refs = 1;         /* the connection's own */
    }
    c->ref->refs++;
    return c->ref;
}

void conn_ref_put(struct conn_ref *r)
{
    if (--r->refs == 0) {
        free(r);
    }
}

uint64_t conn_hole(struct conn *c)
{
    uint64_t id = outq_hole(&c->out);   /* callers check capability */

    if (id == 0) {
        conn_state_set(c, CONN_CLOSING);
    }
    return id;
}

void conn_fill(struct conn *c, uint64_t hole, const char *s, size_t n)
{
    if (!outq_fill(&c->out, hole, s, n)) {
        return;                   /* discarded meanwhile: drop it */
    }
    /* Let the loop write it (and run what waited behind it), after the
     * peer's other replies of this read are in. */
    event_active(c->ev, EV_WRITE, 0);
}

void conn_set_from_peer(struct conn *c)
{
    c->from_peer = true;
}

bool conn_from_peer(const struct conn *c)
{
    return c->from_peer;
}

struct worker *conn_worker(const struct conn *c)
{
    return c->w;
}

void conn_suspend(struct conn *c)
{
    c->suspended = true;
}

void conn_read_value(struct conn *c, struct item *it, size_t tail)
{
    c->value_item = it;
    c->value_off = 0;
    c->value_tail = tail;
    conn_state_set(c, CONN_VALUE);
}

void conn_swallow(struct conn *c, size_t n)
{
    c->swallow_left = n;
    conn_state_set(c, n > 0 ? CONN_SWALLOW : CONN_CMD);
}

void conn_out_checkpoint(struct conn *c)
{
    outq_checkpoint(&c->out);
}

void conn_out_discard(struct conn *c)
{
    if (c->hold != NULL) {
        /* Since the hold, this request's output is all in it; the queue
         * past the checkpoint holds the hold's place. */
        conn_hold_discard(c->hold);
        return;
    }
    outq_discard(&c->out);
}

void conn_close_after_write(struct conn *c)
{
    c->close_after_write = true;
}

void conn_close_now(struct conn *c)
{
    conn_state_set(c, CONN_CLOSING);
}

struct conn_pending *conn_pending(struct conn *c)
{
    return &c->pend;
}

int conn_fd(const struct conn *c)
{
    return c->fd;
}

static ssize_t sock_writev(void *ctx, const struct iovec *iov, int cnt)
{
    return writev(*(int *)ctx, iov, cnt);
}

/* Writes queued output: 0 all sent, 1 would block, 2 sent up to a reply
 * a peer has not sent yet, -1 error. */
static int flush(struct conn *c)
{
    struct net_stats *ns = worker_net_stats(c->w);
    size_t written;
    int r = outq_flush(&c->out, sock_writev, &c->fd, &written);

    worker_stat_add(&ns->bytes_written, written);
    return r;
}

static void want(struct conn *c, short flags)
{
    if (c->ev_flags == flags) {
        return;
    }
    event_del(c->ev);
    event_assign(c->ev, worker_base(c->w), c->fd, flags | EV_PERSIST,
                 on_event, c);
    event_add(c->ev, NULL);
    c->ev_flags = flags;
}

/* A buffer grown for one long line goes back to its first size as soon
 * as what is left in it fits, so a connection that waits costs
 * RBUF_INITIAL however long its last line was (also with a partial
 * request left in it). */
static void rbuf_shrink(struct conn *c)
{
    size_t left = c->rend - c->rstart;
    char *small;

    if (c->rsize <= RBUF_INITIAL || left > RBUF_INITIAL / 2 ||
        c->suspended) {
        return;                   /* a suspended request is still at rstart */
    }
    memmove(c->rbuf, c->rbuf + c->rstart, left);
    c->rstart = 0;
    c->rend = left;
    small = realloc(c->rbuf, RBUF_INITIAL);
    if (small != NULL) {
        c->rbuf = small;
        c->rsize = RBUF_INITIAL;
    }
}

/* Makes room for more input; false if the line limit is exceeded. */
static bool make_room(struct conn *c)
{
    size_t left = c->rend - c->rstart;

    rbuf_shrink(c);
    if (c->rstart > 0 && (left == 0 || c->rend == c->rsize)) {
        memmove(c->rbuf, c->rbuf + c->rstart, left);
        c->rstart = 0;
        c->rend = left;
    }
    if (c->rend < c->rsize) {
        return true;
    }
    if (c->rsize >= copts.max_line) {
        return false;
    }
    {
        char *grown = realloc(c->rbuf, c->rsize * 2);

        if (grown == NULL) {
            return false;
        }
        c->rbuf = grown;
        c->rsize *= 2;
    }
    return true;
}

/* Runs buffered input through the handler, at most *budget requests. */
enum conn_stop conn_process(struct conn *c, unsigned *budget)
{
    for (;;) {
        enum conn_state st = conn_state_get(c);
        size_t avail = c->rend - c->rstart;
        char *p = c->rbuf + c->rstart;

        if (st == CONN_CLOSING || c->close_after_write) {
            return STOP_CLOSE;
        }
        if (*budget == 0) {
            return STOP_BUDGET;
        }
        if (st == CONN_CMD) {
            size_t used;

            /* Flow control: no new request (nor the rest of a suspended
             * one) while the replies already queued are at the limit. */
            if (conn_out_full(c)) {
                return STOP_OUTPUT;
            }
            if (avail == 0) {
                return STOP_INPUT;
            }
            c->suspended = false;
            conn_hold_enter(c);
            used = c->h->on_input(c, p, avail);
            conn_hold_leave(c);
            if (c->suspended) {
                /* It served part of the request; it continues, from its
                 * own saved place, when the output has drained. */
                (*budget)--;
                return STOP_OUTPUT;
            }
            if (used == 0) {
                return conn_state_get(c) == CONN_CLOSING ? STOP_CLOSE
                                                     : STOP_INPUT;
            }
            c->rstart += used;
            (*budget)--;
            __atomic_store_n(&c->last_cmd, clock_now(), __ATOMIC_RELAXED);
        } else if (st == CONN_VALUE) {
            struct item *it = c->value_item;
            size_t total = (size_t)it->nbytes + c->value_tail;

            c->rstart += conn_value_feed(it, &c->value_off, c->value_tail,
                                         c->tail, p, avail);
            if (c->value_off < total) {
                return STOP_INPUT;
            }
            c->value_item = NULL;
            conn_state_set(c, CONN_CMD);
            conn_hold_enter(c);
            c->h->on_value(c, it, c->value_tail == 0 ||
                                  (c->tail[0] == '\r' && c->tail[1] == '\n'));
            conn_hold_leave(c);
            item_put(it);
        } else {
            size_t take = c->swallow_left < avail ? c->swallow_left : avail;

            c->rstart += take;
            c->swallow_left -= take;
            if (c->swallow_left > 0) {
                return STOP_INPUT;
            }
            conn_state_set(c, CONN_CMD);
        }
    }
}

static void conn_drive(struct conn *c)
{
    unsigned budget = copts.reqs_per_event;
    struct net_stats *ns = worker_net_stats(c->w);

    for (;;) {
        enum conn_stop why = conn_process(c, &budget);
        ssize_t n;
        int r;

        if (conn_state_get(c) == CONN_CLOSING) {
            conn_destroy(c);
            return;
        }
        /* Like memcached, replies wait while a value is being read or
         * swallowed, and go out with the reply to that value. */
        r = conn_state_get(c) == CONN_CMD ? flush(c) : 0;
        if (r < 0) {
            conn_destroy(c);
            return;
        }
        if (r == 1) {
            want(c, EV_WRITE);
            return;
        }
        if (r == 2 && (why == STOP_OUTPUT || c->close_after_write)) {
            /* Waiting for a peer's reply: conn_fill wakes us. Nothing
             * is read meanwhile (the socket may be readable). */
            want(c, 0);
            return;
        }
        if (c->close_after_write) {
            conn_destroy(c);
            return;
        }
        if (why == STOP_BUDGET) {
            /* Yield to other connections; come back on the next loop. */
            worker_stat_add(&ns->conn_yields, 1);
            want(c, EV_READ);
            event_active(c->ev, EV_READ, 0);
            return;
        }
        if (why == STOP_OUTPUT) {
            continue;             /* drained: run the rest */
        }
        if (c->read_short) {
            c->read_short = false;
            rbuf_shrink(c);
            want(c, EV_READ);
            return;
        }
        if (!make_room(c)) {
            conn_destroy(c);      /* line longer than any valid request */
            return;
        }
        n = read(c->fd, c->rbuf + c->rend, c->rsize - c->rend);
        if (n > 0) {
            worker_stat_add(&ns->bytes_read, (size_t)n);
            c->read_short = (size_t)n < c->rsize - c->rend;
            c->rend += (size_t)n;
            if (c->h->on_read != NULL && conn_state_get(c) == CONN_CMD &&
                !c->suspended) {
                c->h->on_read(c, c->rbuf + c->rstart, c->rend - c->rstart);
            }
            continue;
        }
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            rbuf_shrink(c);
            want(c, EV_READ);
            return;
        }
        conn_destroy(c);          /* EOF or error */
        return;
    }
}

static void on_event(evutil_socket_t fd, short what, void *arg)
{
    struct conn *c = arg;

    (void)fd;
    (void)what;
    if (c->kind == CONN_UDP) {
        conn_udp_drive(c);
        return;
    }
    c->read_short = false;
    conn_drive(c);
}
