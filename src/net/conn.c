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
 * one read leave in one writev. While output is blocked, nothing more is
 * read: only requests already in the read buffer (bounded by its size) run,
 * so a client that never reads cannot make the server buffer without bound.
 */
#include "net/conn.h"

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

#include "net/udp.h"
#include "net/worker.h"
#include "util/clock.h"

#define RBUF_INITIAL 16384        /* as memcached's read buffer */
#define OUTBLOCK_SIZE 16384
#define IOV_INITIAL 64
#define HELD_INITIAL 16
#define CONN_IOV_BATCH 1024       /* iovecs per writev (IOV_MAX) */

struct outblock {
    struct outblock *next;
    size_t used;
    size_t cap;
    char data[];
};

struct conn {
    int fd;
    struct worker *w;
    struct event *ev;
    short ev_flags;               /* what ev is registered for */
    enum conn_state state;
    bool close_after_write;
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

    struct iovec *iov;            /* queued output */
    size_t niov, iovcap, iov_sent;
    struct item **held;           /* items whose values iov points into */
    size_t nheld, heldcap;
    /* conn_out_checkpoint(): output up to here survives conn_out_discard */
    size_t chk_niov, chk_nheld, chk_lastlen;
    struct outblock *blocks, *last_block;

    struct conn_pending pend;
    struct conn_auth auth;

    /* UDP only */
    struct sockaddr_storage peer; /* sender of the datagram being served */
    socklen_t peerlen;
    size_t *marks;                /* iov index where each response starts */
    size_t nmarks, markcap;
};

static const struct conn_handler *handler;
static void (*auth_release)(void *sasl);
static struct conn_options copts = { 20, 2 * 1024 * 1024, 0 };

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
            enum conn_state st = __atomic_load_n(&c->state, __ATOMIC_RELAXED);
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
            c->state == CONN_CMD &&
            c->niov == c->iov_sent &&
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
    c->iovcap = IOV_INITIAL;
    c->iov = malloc(c->iovcap * sizeof(*c->iov));
    c->heldcap = HELD_INITIAL;
    c->held = malloc(c->heldcap * sizeof(*c->held));
    c->ev = event_new(worker_base(w), fd, EV_READ | EV_PERSIST, on_event, c);
    if (c->rbuf == NULL || c->iov == NULL || c->held == NULL ||
        c->ev == NULL) {
        free(c->rbuf);
        free(c->iov);
        free(c->held);
        if (c->ev != NULL) {
            event_free(c->ev);
        }
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

static void release_output(struct conn *c)
{
    struct outblock *b = c->blocks, *next;
    size_t i;

    for (i = 0; i < c->nheld; i++) {
        item_put(c->held[i]);
    }
    c->nheld = 0;
    c->nmarks = 0;                /* they indexed the iovecs just dropped */
    c->chk_niov = c->chk_nheld = c->chk_lastlen = 0;
    c->niov = c->iov_sent = 0;
    /* Keep one standard block for the next replies. */
    if (b != NULL && b->cap == OUTBLOCK_SIZE) {
        next = b->next;
        b->next = NULL;
        b->used = 0;
        c->blocks = c->last_block = b;
        b = next;
    } else {
        c->blocks = c->last_block = NULL;
    }
    while (b != NULL) {
        next = b->next;
        free(b);
        b = next;
    }
}

void conn_destroy(struct conn *c)
{
    registry_put(c->fd, NULL);
    event_free(c->ev);
    release_output(c);
    free(c->blocks);
    if (c->value_item != NULL) {
        item_put(c->value_item);
    }
    if (c->auth.sasl != NULL && auth_release != NULL) {
        auth_release(c->auth.sasl);
    }
    close(c->fd);
    free(c->rbuf);
    free(c->iov);
    free(c->held);
    free(c->marks);
    free(c);
    __atomic_sub_fetch(&worker_curr_conns, 1, __ATOMIC_RELAXED);
}

static bool iov_room(struct conn *c, size_t n)
{
    if (c->niov + n > c->iovcap) {
        size_t cap = c->iovcap * 2;
        struct iovec *grown;

        while (cap < c->niov + n) {
            cap *= 2;
        }
        grown = realloc(c->iov, cap * sizeof(*grown));
        if (grown == NULL) {
            return false;
        }
        c->iov = grown;
        c->iovcap = cap;
    }
    return true;
}

void conn_mark(struct conn *c)
{
    if (c->kind != CONN_UDP ||
        (c->nmarks > 0 && c->marks[c->nmarks - 1] == c->niov)) {
        return;
    }
    if (c->nmarks == c->markcap) {
        size_t cap = c->markcap ? 2 * c->markcap : 64;
        size_t *grown = realloc(c->marks, cap * sizeof(*grown));

        if (grown == NULL) {
            return;               /* responses merge; nothing is lost */
        }
        c->marks = grown;
        c->markcap = cap;
    }
    c->marks[c->nmarks++] = c->niov;
}

void conn_out(struct conn *c, const char *s, size_t n)
{
    struct outblock *b = c->last_block;
    char *dst;

    if (n == 0) {
        return;
    }
    if (b == NULL || b->cap - b->used < n) {
        size_t cap = n > OUTBLOCK_SIZE ? n : OUTBLOCK_SIZE;
        struct outblock *nb = malloc(sizeof(*nb) + cap);

        if (nb == NULL) {
            c->state = CONN_CLOSING;
            return;
        }
        nb->next = NULL;
        nb->used = 0;
        nb->cap = cap;
        if (b != NULL) {
            b->next = nb;
        } else {
            c->blocks = nb;
        }
        c->last_block = b = nb;
    }
    dst = b->data + b->used;
    memcpy(dst, s, n);
    b->used += n;
    /* Extend the previous iovec when this text directly follows it (and
     * belongs to the same response). */
    if (c->niov > c->iov_sent &&
        (c->nmarks == 0 || c->marks[c->nmarks - 1] != c->niov) &&
        (char *)c->iov[c->niov - 1].iov_base + c->iov[c->niov - 1].iov_len ==
        dst) {
        c->iov[c->niov - 1].iov_len += n;
        return;
    }
    if (!iov_room(c, 1)) {
        c->state = CONN_CLOSING;
        return;
    }
    c->iov[c->niov].iov_base = dst;
    c->iov[c->niov].iov_len = n;
    c->niov++;
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
    int segs;

    if (it->nbytes == 0) {
        item_put(it);             /* nothing to send */
        return;
    }
    segs = item_segment_count(it);

    if (!iov_room(c, (size_t)segs)) {
        item_put(it);
        c->state = CONN_CLOSING;
        return;
    }
    if (c->nheld == c->heldcap) {
        struct item **grown = realloc(c->held, 2 * c->heldcap *
                                      sizeof(*grown));

        if (grown == NULL) {
            item_put(it);
            c->state = CONN_CLOSING;
            return;
        }
        c->held = grown;
        c->heldcap *= 2;
    }
    c->held[c->nheld++] = it;
    c->niov += (size_t)item_segments(it, c->iov + c->niov, segs);
}

void conn_read_value(struct conn *c, struct item *it, size_t tail)
{
    c->value_item = it;
    c->value_off = 0;
    c->value_tail = tail;
    c->state = CONN_VALUE;
}

void conn_swallow(struct conn *c, size_t n)
{
    c->swallow_left = n;
    c->state = n > 0 ? CONN_SWALLOW : CONN_CMD;
}

void conn_out_checkpoint(struct conn *c)
{
    c->chk_niov = c->niov;
    c->chk_nheld = c->nheld;
    c->chk_lastlen = c->niov > 0 ? c->iov[c->niov - 1].iov_len : 0;
}

void conn_out_discard(struct conn *c)
{
    size_t i;

    /* What was (even partly) sent must finish; then it is a no-op. */
    if (c->iov_sent > c->chk_niov ||
        (c->iov_sent == c->chk_niov && c->iov_sent > 0 &&
         c->iov[c->iov_sent - 1].iov_len != c->chk_lastlen)) {
        return;
    }
    if (c->chk_niov == 0) {
        release_output(c);
        return;
    }
    for (i = c->chk_nheld; i < c->nheld; i++) {
        item_put(c->held[i]);
    }
    c->nheld = c->chk_nheld;
    c->niov = c->chk_niov;
    /* Text after the checkpoint may have been merged into its last iovec. */
    c->iov[c->niov - 1].iov_len = c->chk_lastlen;
    while (c->nmarks > 0 && c->marks[c->nmarks - 1] > c->niov) {
        c->nmarks--;
    }
}

void conn_close_after_write(struct conn *c)
{
    c->close_after_write = true;
}

void conn_close_now(struct conn *c)
{
    c->state = CONN_CLOSING;
}

struct conn_pending *conn_pending(struct conn *c)
{
    return &c->pend;
}

int conn_fd(const struct conn *c)
{
    return c->fd;
}

/* Writes queued output: 0 all sent, 1 would block, -1 error. */
static int flush(struct conn *c)
{
    struct net_stats *ns = worker_net_stats(c->w);

    while (c->iov_sent < c->niov) {
        size_t cnt = c->niov - c->iov_sent;
        ssize_t n;

        if (cnt > CONN_IOV_BATCH) {
            cnt = CONN_IOV_BATCH;
        }
        n = writev(c->fd, c->iov + c->iov_sent, (int)cnt);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return errno == EAGAIN || errno == EWOULDBLOCK ? 1 : -1;
        }
        __atomic_store_n(&ns->bytes_written, ns->bytes_written + (size_t)n,
                         __ATOMIC_RELAXED);
        /* Zero-length entries (empty values) are consumed as they come;
         * one left at the end would make writev return 0 forever. */
        while (c->iov_sent < c->niov &&
               (n > 0 || c->iov[c->iov_sent].iov_len == 0)) {
            struct iovec *v = &c->iov[c->iov_sent];

            if ((size_t)n >= v->iov_len) {
                n -= (ssize_t)v->iov_len;
                c->iov_sent++;
            } else {
                v->iov_base = (char *)v->iov_base + n;
                v->iov_len -= (size_t)n;
                n = 0;
            }
        }
    }
    release_output(c);
    return 0;
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

/* Makes room for more input; false if the line limit is exceeded. */
static bool make_room(struct conn *c)
{
    if (c->rstart == c->rend) {
        c->rstart = c->rend = 0;
        if (c->rsize > RBUF_INITIAL) {
            char *small = realloc(c->rbuf, RBUF_INITIAL);

            if (small != NULL) {
                c->rbuf = small;
                c->rsize = RBUF_INITIAL;
            }
        }
    }
    if (c->rend < c->rsize) {
        return true;
    }
    if (c->rstart > 0) {
        memmove(c->rbuf, c->rbuf + c->rstart, c->rend - c->rstart);
        c->rend -= c->rstart;
        c->rstart = 0;
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
static void process(struct conn *c, unsigned *budget)
{
    while (*budget > 0 && c->state != CONN_CLOSING && !c->close_after_write) {
        size_t avail = c->rend - c->rstart;
        char *p = c->rbuf + c->rstart;

        if (c->state == CONN_CMD) {
            size_t used;

            if (avail == 0) {
                return;
            }
            used = c->h->on_input(c, p, avail);
            if (used == 0) {
                return;
            }
            c->rstart += used;
            (*budget)--;
            __atomic_store_n(&c->last_cmd, clock_now(), __ATOMIC_RELAXED);
        } else if (c->state == CONN_VALUE) {
            struct item *it = c->value_item;
            size_t total = (size_t)it->nbytes + c->value_tail;

            c->rstart += conn_value_feed(it, &c->value_off, c->value_tail,
                                         c->tail, p, avail);
            if (c->value_off < total) {
                return;
            }
            c->value_item = NULL;
            c->state = CONN_CMD;
            c->h->on_value(c, it, c->value_tail == 0 ||
                                  (c->tail[0] == '\r' && c->tail[1] == '\n'));
            item_put(it);
        } else if (c->state == CONN_SWALLOW) {
            size_t take = c->swallow_left < avail ? c->swallow_left : avail;

            c->rstart += take;
            c->swallow_left -= take;
            if (c->swallow_left > 0) {
                return;
            }
            c->state = CONN_CMD;
        } else {
            return;
        }
    }
}

static void conn_drive(struct conn *c)
{
    unsigned budget = copts.reqs_per_event;
    struct net_stats *ns = worker_net_stats(c->w);

    for (;;) {
        ssize_t n;
        int r;

        process(c, &budget);
        if (c->state == CONN_CLOSING) {
            conn_destroy(c);
            return;
        }
        /* Like memcached, replies wait while a value is being read or
         * swallowed, and go out with the reply to that value. */
        r = c->state == CONN_CMD ? flush(c) : 0;
        if (r < 0) {
            conn_destroy(c);
            return;
        }
        if (r > 0) {
            want(c, EV_WRITE);
            return;
        }
        if (c->close_after_write) {
            conn_destroy(c);
            return;
        }
        if (budget == 0) {
            /* Yield to other connections; come back on the next loop. */
            __atomic_store_n(&ns->conn_yields, ns->conn_yields + 1,
                             __ATOMIC_RELAXED);
            want(c, EV_READ);
            event_active(c->ev, EV_READ, 0);
            return;
        }
        if (c->read_short) {
            c->read_short = false;
            want(c, EV_READ);
            return;
        }
        if (!make_room(c)) {
            conn_destroy(c);      /* line longer than any valid request */
            return;
        }
        n = read(c->fd, c->rbuf + c->rend, c->rsize - c->rend);
        if (n > 0) {
            __atomic_store_n(&ns->bytes_read, ns->bytes_read + (size_t)n,
                             __ATOMIC_RELAXED);
            c->read_short = (size_t)n < c->rsize - c->rend;
            c->rend += (size_t)n;
            if (c->h->on_read != NULL && c->state == CONN_CMD) {
                c->h->on_read(c, c->rbuf + c->rstart, c->rend - c->rstart);
            }
            continue;
        }
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            want(c, EV_READ);
            return;
        }
        conn_destroy(c);          /* EOF or error */
        return;
    }
}

/*
 * A UDP conn serves one datagram at a time: every request in it runs, then
 * the replies go back to its sender. Nothing carries over to the next
 * datagram (it may come from anyone): a value cut off by the datagram's
 * end is dropped, the protocol is chosen afresh, and "quit" ends nothing
 * but the datagram.
 */
static void udp_serve(struct conn *c, uint16_t id)
{
    struct net_stats *ns = worker_net_stats(c->w);
    unsigned budget = UINT_MAX;
    size_t sent, first = 0;

    c->state = CONN_CMD;
    c->h = handler;
    memset(&c->pend, 0, sizeof(c->pend));   /* nothing from the last sender */
    process(c, &budget);
    if (c->value_item != NULL) {
        item_put(c->value_item);
        c->value_item = NULL;
    }
    /* Responses start at the marks; output before the first mark (there
     * should be none) is a response too. */
    if (c->nmarks == 0 || c->marks[0] != 0) {
        sent = udp_send_responses(c->fd, (struct sockaddr *)&c->peer,
                                  c->peerlen, id, c->iov,
                                  c->nmarks > 0 ? c->marks[0] : c->niov,
                                  &first, 1);
    } else {
        sent = 0;
    }
    if (c->nmarks > 0) {
        sent += udp_send_responses(c->fd, (struct sockaddr *)&c->peer,
                                   c->peerlen, id, c->iov, c->niov, c->marks,
                                   c->nmarks);
    }
    if (c->close_after_write) {   /* quit; junk that closes a stream
                                   * gets no answer at all */
        udp_send_close(c->fd, (struct sockaddr *)&c->peer, c->peerlen, id);
        sent += UDP_HEADER_SIZE;
    }
    __atomic_store_n(&ns->bytes_written, ns->bytes_written + sent,
                     __ATOMIC_RELAXED);
    release_output(c);
    c->nmarks = 0;
    c->state = CONN_CMD;
    c->close_after_write = false;
    c->swallow_left = 0;
}

static void udp_drive(struct conn *c)
{
    struct net_stats *ns = worker_net_stats(c->w);
    unsigned n;

    for (n = 0; n < copts.reqs_per_event; n++) {
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
        __atomic_store_n(&ns->bytes_read, ns->bytes_read + (size_t)got,
                         __ATOMIC_RELAXED);
        if (!udp_request_ok(c->rbuf, (size_t)got, &id)) {
            continue;             /* memcached drops these silently */
        }
        c->rstart = UDP_HEADER_SIZE;
        c->rend = (size_t)got;
        __atomic_store_n(&c->last_cmd, clock_now(), __ATOMIC_RELAXED);
        udp_serve(c, id);
    }
    /* More may be waiting: yield to the loop, come back. */
    event_active(c->ev, EV_READ, 0);
}

static void on_event(evutil_socket_t fd, short what, void *arg)
{
    struct conn *c = arg;

    (void)fd;
    (void)what;
    if (c->kind == CONN_UDP) {
        udp_drive(c);
        return;
    }
    c->read_short = false;
    conn_drive(c);
}
