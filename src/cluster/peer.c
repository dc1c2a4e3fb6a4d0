/*
 * peer: per-worker pools of connections to the other nodes (see peer.h).
 *
 * A link is one peer's connection: a non-blocking socket, an output
 * buffer written once per loop iteration (the write event is made active
 * when the first request of an iteration is queued, so every request
 * queued in the same iteration shares the writev), an input buffer framed
 * by peer_reply, and the FIFO of requests sent and not yet answered. A
 * timer at the oldest request's deadline fails the link when it passes.
 */
#include "config.h"
#include "cluster/peer.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <sys/socket.h>

#include <event2/event.h>

#include "cache/item.h"
#include "cluster/cluster.h"
#include "cluster/peer_auth.h"
#include "cluster/peer_internal.h"
#include "cluster/peer_stats.h"
#include "cluster/replica.h"
#include "net/worker.h"
#include "util/hostport.h"
#include "util/log.h"

#define LINK_READ_CHUNK 65536

struct link {
    char addr[PEER_ADDR_MAX];
    bool binary;                  /* a binary link (see peer.h) */
    int fd;                       /* -1: not connected */
    bool connecting;
    bool ready;                   /* handshake done: requests may go */
    bool challenged;              /* sent rc_auth, waiting for its OK */
    bool write_queued;            /* the write event is active */
    struct event *ev, *timer;
    short want;                   /* the events ev is registered for */
    struct pool *pool;
    struct peer_counters *pc;     /* this peer's shared counters */
    char *out;                    /* the handshake, then requests */
    size_t out_len, out_cap, out_sent;
    size_t hello_len;             /* out[0..hello_len) is the handshake */
    char *in;
    size_t in_len, in_cap;
    struct peer_req *fifo;        /* ring buffer */
    size_t head, count, cap;
};

struct pool {
    bool closing;                 /* peer_thread_fini: no failover */
    struct event_base *base;
    struct link **links;
    size_t n, cap;
};

static struct peer_options popts = { 1000 };
static __thread struct pool *my_pool;

static void count(uint64_t *c)
{
    __atomic_add_fetch(c, 1, __ATOMIC_RELAXED);
}

void peer_setup(const struct peer_options *o)
{
    popts = *o;
}

static uint64_t now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static uint64_t now_ms(void)
{
    return now_us() / 1000;
}

/* ---- buffers -------------------------------------------------------- */

static bool reserve(char **buf, size_t *cap, size_t need)
{
    size_t c = *cap ? *cap : 4096;
    char *grown;

    if (need <= *cap) {
        return true;
    }
    while (c < need) {
        c *= 2;
    }
    grown = realloc(*buf, c);
    if (grown == NULL) {
        return false;
    }
    *buf = grown;
    *cap = c;
    return true;
}

static bool fifo_push(struct link *l, const struct peer_req *r)
{
    if (l->count == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 64, i;
        struct peer_req *grown = malloc(cap * sizeof(*grown));

        if (grown == NULL) {
            return false;
        }
        for (i = 0; i < l->count; i++) {
            grown[i] = l->fifo[(l->head + i) % l->cap];
        }
        free(l->fifo);
        l->fifo = grown;
        l->head = 0;
        l->cap = cap;
    }
    l->fifo[(l->head + l->count) % l->cap] = *r;
    l->count++;
    return true;
}

static struct peer_req fifo_pop(struct link *l)
{
    struct peer_req r = l->fifo[l->head];

    l->head = (l->head + 1) % l->cap;
    l->count--;
    return r;
}

/* ---- answering the clients ------------------------------------------ */

/* Hands a reply (or, failed, what the client gets instead) to the
 * connection waiting for it, if it still is. */
static void deliver(struct peer_link_stats *ps, struct peer_req *r,
                    const char *s, size_t n, bool failed)
{
    if (r->hello) {
        return;                   /* the handshake's OK */
    }
    __atomic_sub_fetch(&ps->in_flight, 1, __ATOMIC_RELAXED);
    if (r->ref == NULL) {
        /* peer_send: no client waits; a failure is counted. */
        if (failed) {
            count(&peer_totals.send_failed);
        }
        if (r->done != NULL) {
            r->done(r->done_arg, !failed, failed ? NULL : s,
                    failed ? 0 : n);
        }
        return;
    }
    if (r->ref->c != NULL) {
        conn_fill(r->ref->c, r->hole, r->drop ? "" : s, r->drop ? 0 : n);
    }
    conn_ref_put(r->ref);
    if (r->fail_owned) {
        free((char *)r->fail);
    }
    free(r->retry);
}

/* What a client of an unreachable owner gets: the next owner's answer
 * for a read that can fail over, else what the router chose (a miss for
 * a read, as a memcached client has for a dead server, an error for
 * anything else). */
static void fail_one(struct peer_link_stats *ps, struct peer_req *r,
                     bool sent)
{
    if (r->retry != NULL && r->ref != NULL && r->ref->c != NULL &&
        my_pool != NULL && !my_pool->closing &&
        !(sent && r->retry->unsent_only)) {
        __atomic_sub_fetch(&ps->in_flight, 1, __ATOMIC_RELAXED);
        if (peer_failover(r)) {
            return;               /* r now waits on another link */
        }
        __atomic_add_fetch(&ps->in_flight, 1, __ATOMIC_RELAXED);
    }
    deliver(ps, r, r->fail, r->fail_len, true);
}

static void link_arm(struct link *l);

/* Fails every pending request and closes the connection. */
static void link_fail(struct link *l, bool timeout)
{
    if (l->count > 0) {
        LOG_AT(1, "peer %s: %s, failing %zu requests\n", l->addr,
               timeout ? "timed out" : "failed", l->count);
    }
    while (l->count > 0) {
        struct peer_req r = fifo_pop(l);

        if (!r.hello) {
            count(timeout ? &peer_totals.timeouts : &peer_totals.errors);
            count(timeout ? &l->pc->s.timeouts : &l->pc->s.errors);
        }
        /* Before the handshake's answer, nothing but the handshake has
         * been written on the connection (link_write). */
        fail_one(&l->pc->s, &r, l->ready);
    }
    if (l->fd >= 0) {
        /* Reset, not FIN: what the kernel still holds for the peer
         * (requests just failed to their clients) is discarded, not
         * delivered when a partition heals, where a write reported as
         * failed would land after the writes acknowledged since. */
        struct linger now = { 1, 0 };

        setsockopt(l->fd, SOL_SOCKET, SO_LINGER, &now, sizeof(now));
        event_del(l->ev);
        close(l->fd);
        l->fd = -1;
    }
    l->want = 0;
    evtimer_del(l->timer);
    l->connecting = false;
    l->ready = l->challenged = false;
    l->write_queued = false;
    l->out_len = l->out_sent = l->hello_len = 0;
    l->in_len = 0;
}

/* ---- I/O ------------------------------------------------------------ */

static void on_link(evutil_socket_t fd, short what, void *arg);

static void link_want(struct link *l, short flags)
{
    if (l->want == flags) {
        return;                   /* one epoll_ctl fewer per write */
    }
    l->want = flags;
    event_del(l->ev);
    event_assign(l->ev, l->pool->base, l->fd, flags | EV_PERSIST, on_link,
                 l);
    event_add(l->ev, NULL);
}

static bool link_write(struct link *l)
{
    /* Until the handshake is answered only the handshake goes: a node
     * that challenges must see rc_auth before any request. */
    size_t end = l->ready ? l->out_len : l->hello_len;

    while (l->out_sent < end) {
        ssize_t n = send(l->fd, l->out + l->out_sent, end - l->out_sent,
                         MSG_NOSIGNAL);

        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                link_want(l, EV_READ | EV_WRITE);
                return true;
            }
            return false;
        }
        l->out_sent += (size_t)n;
    }
    if (l->ready) {
        l->out_len = l->out_sent = 0;
    }
    link_want(l, EV_READ);
    return true;
}

/* The handshake is answered: what was held behind it goes, in this
 * loop iteration's write. */
static void link_release(struct link *l)
{
    if (l->out_sent < l->out_len && !l->write_queued) {
        l->write_queued = true;
        event_active(l->ev, EV_WRITE, 0);
    }
}

/* The node's answer to the handshake: OK, or a challenge (peer_auth.h)
 * to answer before the held requests. False: this link cannot work. */
static bool link_hello(struct link *l, const char *line, size_t len)
{
    static const char challenge[] = "CHALLENGE ";
    size_t cl = sizeof(challenge) - 1;
    char mac[PEER_AUTH_MAC_HEX + 1];
    char auth[PEER_AUTH_MAC_HEX + 16];
    int n;

    if (len == 4 && memcmp(line, "OK\r\n", 4) == 0) {
        fifo_pop(l);
        l->ready = true;
        link_release(l);
        return true;
    }
    if (l->challenged || len < cl + 2 || memcmp(line, challenge, cl) != 0 ||
        !peer_auth_sign(line + cl, len - cl - 2, l->binary, mac)) {
        /* rc_peer refused (an old version, -S/-Y wanting a cluster key,
         * a key we do not have): nothing on this link can work. */
        LOG_AT(1, "peer %s: refused rc_peer: %.*s\n", l->addr,
               (int)(len > 2 ? len - 2 : 0), line);
        return false;
    }
    n = snprintf(auth, sizeof(auth), "rc_auth %s\r\n", mac);
    if (n < 0 || (size_t)n >= sizeof(auth) ||
        !reserve(&l->out, &l->out_cap, l->out_len + (size_t)n)) {
        return false;
    }
    /* Nothing after the handshake has been sent: rc_auth goes first. */
    memmove(l->out + l->hello_len + n, l->out + l->hello_len,
            l->out_len - l->hello_len);
    memcpy(l->out + l->hello_len, auth, (size_t)n);
    l->out_len += (size_t)n;
    l->challenged = true;         /* the handshake now waits for OK */
    l->ready = true;
    link_release(l);
    return true;
}

/* Frames and delivers every complete reply in the input buffer. */
static bool link_replies(struct link *l)
{
    size_t off = 0;

    while (l->count > 0) {
        struct peer_reply rep;
        struct peer_req *r = &l->fifo[l->head];
        enum peer_reply_status st;
        struct peer_req done;
        size_t relay;

        if (r->hello) {
            /* The handshake's answer: one line, whatever it says. */
            const char *nl = memchr(l->in + off, '\n', l->in_len - off);

            if (nl == NULL) {
                if (l->in_len - off > PEER_REPLY_LINE_MAX) {
                    return false;
                }
                break;
            }
            if (!link_hello(l, l->in + off, (size_t)(nl + 1 - l->in - off))) {
                return false;
            }
            off = (size_t)(nl + 1 - l->in);
            continue;
        }
        st = peer_reply_frame((enum peer_reply_kind)r->kind, l->in + off,
                              l->in_len - off, &rep);
        relay = rep.relay_len;
        if (st == PEER_REPLY_MORE) {
            break;
        }
        if (st == PEER_REPLY_GARBAGE ||
            (r->kind == PEER_REPLY_BINARY &&
             !peer_reply_binary_relay(l->in + off, rep.len, r->opcode,
                                      &relay))) {
            LOG_AT(1, "peer %s: garbage in a reply\n", l->addr);
            return false;
        }
        done = fifo_pop(l);
        count(&l->pc->s.answered);
        __atomic_add_fetch(&l->pc->s.latency_us, now_us() - done.sent_us,
                           __ATOMIC_RELAXED);
        deliver(&l->pc->s, &done, l->in + off, relay, false);
        off += rep.len;
    }
    if (l->count == 0 && off < l->in_len) {
        LOG_AT(1, "peer %s: a reply nobody asked for\n", l->addr);
        return false;
    }
    memmove(l->in, l->in + off, l->in_len - off);
    l->in_len -= off;
    link_arm(l);
    return true;
}

static bool link_read(struct link *l)
{
    for (;;) {
        ssize_t n;

        if (!reserve(&l->in, &l->in_cap, l->in_len + LINK_READ_CHUNK)) {
            return false;
        }
        n = recv(l->fd, l->in + l->in_len, l->in_cap - l->in_len, 0);
        if (n > 0) {
            size_t room = l->in_cap - l->in_len;

            l->in_len += (size_t)n;
            if (!link_replies(l)) {
                return false;
            }
            if ((size_t)n < room) {
                return true;      /* drained: no recv just to hear EAGAIN */
            }
            continue;
        }
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return true;
        }
        return false;             /* closed (mid-reply or idle) or error */
    }
}

static void on_link(evutil_socket_t fd, short what, void *arg)
{
    struct link *l = arg;

    (void)fd;
    if (l->connecting && (what & EV_WRITE)) {
        int err = 0;
        socklen_t len = sizeof(err);

        if (getsockopt(l->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 ||
            err != 0) {
            count(&peer_totals.errors);
            link_fail(l, false);
            return;
        }
        l->connecting = false;
    }
    l->write_queued = false;
    if (!l->connecting && l->out_len > l->out_sent && !link_write(l)) {
        link_fail(l, false);
        return;
    }
    if (!l->connecting && (what & EV_READ) && !link_read(l)) {
        link_fail(l, false);
    }
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct link *l = arg;

    (void)fd;
    (void)what;
    if (l->count > 0 && l->fifo[l->head].deadline_ms <= now_ms()) {
        link_fail(l, true);
    } else {
        link_arm(l);
    }
}

/* The timer follows the oldest pending request's deadline. */
static void link_arm(struct link *l)
{
    uint64_t now, at;
    struct timeval tv;

    if (l->count == 0) {
        evtimer_del(l->timer);
        return;
    }
    now = now_ms();
    at = l->fifo[l->head].deadline_ms;
    at = at > now ? at - now : 0;
    tv.tv_sec = (time_t)(at / 1000);
    tv.tv_usec = (suseconds_t)(at % 1000 * 1000);
    evtimer_add(l->timer, &tv);
}

static bool link_connect(struct link *l)
{
    char host[PEER_ADDR_MAX];
    int port = 0, one = 1, fd;
    struct sockaddr_storage ss;
    socklen_t sl;
    struct peer_req hello;
    char line[128];
    int n;

    memset(&ss, 0, sizeof(ss));
    memset(&hello, 0, sizeof(hello));
    hello.kind = PEER_REPLY_LINE;
    hello.hello = true;
    if (hostport_split(l->addr, strlen(l->addr), host, sizeof(host),
                       &port) != 0 || port <= 0) {
        return false;
    }
    if (inet_pton(AF_INET, host, &((struct sockaddr_in *)&ss)->sin_addr) ==
        1) {
        ((struct sockaddr_in *)&ss)->sin_family = AF_INET;
        ((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)port);
        sl = sizeof(struct sockaddr_in);
    } else if (inet_pton(AF_INET6, host,
                         &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1) {
        ((struct sockaddr_in6 *)&ss)->sin6_family = AF_INET6;
        ((struct sockaddr_in6 *)&ss)->sin6_port = htons((uint16_t)port);
        sl = sizeof(struct sockaddr_in6);
    } else {
        return false;             /* members advertise resolved addresses */
    }
    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return false;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, (struct sockaddr *)&ss, sl) != 0 &&
        errno != EINPROGRESS) {
        close(fd);
        return false;
    }
    count(&peer_totals.connects);
    l->fd = fd;
    l->connecting = true;
    link_want(l, EV_READ | EV_WRITE);
    /* First line: serve what I send here, whatever your ring says. */
    n = snprintf(line, sizeof(line), "rc_peer %s %s\r\n", cluster_self_name(),
                 l->binary ? "binary" : "text");
    hello.deadline_ms = now_ms() + popts.timeout_ms;
    if (n < 0 || (size_t)n >= sizeof(line) ||
        !reserve(&l->out, &l->out_cap, (size_t)n) || !fifo_push(l, &hello)) {
        link_fail(l, false);
        return false;
    }
    memcpy(l->out, line, (size_t)n);
    l->out_len = l->hello_len = (size_t)n;
    l->write_queued = true;       /* the connect's EV_WRITE sends it */
    return true;
}

/* ---- the pool ------------------------------------------------------- */

static struct link *link_of(struct pool *p, const char *addr, bool binary)
{
    struct link *l;
    size_t i;

    for (i = 0; i < p->n; i++) {
        if (p->links[i]->binary == binary &&
            strcmp(p->links[i]->addr, addr) == 0) {
            return p->links[i];
        }
    }
    if (strlen(addr) >= PEER_ADDR_MAX) {
        return NULL;
    }
    if (p->n == p->cap) {
        size_t cap = p->cap ? 2 * p->cap : 8;
        struct link **grown = realloc(p->links, cap * sizeof(*grown));

        if (grown == NULL) {
            return NULL;
        }
        p->links = grown;
        p->cap = cap;
    }
    l = calloc(1, sizeof(*l));
    if (l == NULL) {
        return NULL;
    }
    snprintf(l->addr, sizeof(l->addr), "%s", addr);
    l->binary = binary;
    l->pc = peer_counters_of(addr);
    l->fd = -1;
    l->pool = p;
    l->ev = event_new(p->base, -1, 0, on_link, l);
    l->timer = evtimer_new(p->base, on_timer, l);
    if (l->ev == NULL || l->timer == NULL) {
        if (l->ev != NULL) {
            event_free(l->ev);
        }
        if (l->timer != NULL) {
            event_free(l->timer);
        }
        free(l);
        return NULL;
    }
    p->links[p->n++] = l;
    return l;
}

static struct pool *pool_of(struct worker *w)
{
    if (my_pool == NULL && w != NULL) {
        my_pool = calloc(1, sizeof(*my_pool));
        if (my_pool != NULL) {
            my_pool->base = worker_base(w);
        }
    }
    return my_pool;
}

bool peer_enqueue(struct worker *w, const struct peer_request *q,
                  struct peer_req *r)
{
    struct pool *p = pool_of(w);
    struct link *l = p != NULL ? link_of(p, q->addr, q->binary) : NULL;

    if (l == NULL || (l->fd < 0 && !link_connect(l))) {
        count(&peer_totals.errors);
        if (l != NULL) {
            count(&l->pc->s.errors);
        }
        return false;
    }
    if (!reserve(&l->out, &l->out_cap, l->out_len + q->n + q->vlen)) {
        return false;
    }
    r->kind = (uint8_t)q->kind;
    r->opcode = q->opcode;
    r->drop = q->drop;
    r->sent_us = now_us();
    r->deadline_ms = r->sent_us / 1000 + popts.timeout_ms;
    if (!fifo_push(l, r)) {
        return false;
    }
    memcpy(l->out + l->out_len, q->req, q->n);
    if (q->vlen > 0) {
        memcpy(l->out + l->out_len + q->n, q->value, q->vlen);
    }
    l->out_len += q->n + q->vlen;
    count(&peer_totals.forwarded);
    count(&l->pc->s.forwarded);
    count(&l->pc->s.in_flight);
    if (!evtimer_pending(l->timer, NULL)) {
        link_arm(l);              /* the oldest request's deadline */
    }
    if (!l->write_queued && !l->connecting) {
        /* One write for everything queued in this loop iteration. */
        l->write_queued = true;
        event_active(l->ev, EV_WRITE, 0);
    }
    return true;
}

bool peer_forward(struct conn *c, uint64_t hole, const struct peer_request *q)
{
    struct peer_req r;

    memset(&r, 0, sizeof(r));
    r.fail = q->fail;
    r.fail_len = (uint32_t)q->fail_len;
    if (!q->fail_static && q->fail_len > 0) {
        char *copy = malloc(q->fail_len);

        if (copy == NULL) {
            return false;
        }
        memcpy(copy, q->fail, q->fail_len);
        r.fail = copy;
        r.fail_owned = true;
    }
    r.ref = conn_ref_get(c);
    r.hole = hole;
    r.retry = peer_retry_of(q);
    if (r.ref != NULL &&
        (peer_enqueue(conn_worker(c), q, &r) ||
         (r.retry != NULL && peer_failover(&r)))) {
        return true;
    }
    if (r.ref != NULL) {
        conn_ref_put(r.ref);
    }
    if (r.fail_owned) {
        free((char *)r.fail);
    }
    free(r.retry);
    return false;
}

bool peer_send(const struct peer_request *q)
{
    struct peer_req r;

    memset(&r, 0, sizeof(r));
    r.fail = "";
    r.done = q->done;
    r.done_arg = q->arg;
    if (!peer_enqueue(worker_self(), q, &r)) {
        count(&peer_totals.send_failed);
        return false;
    }
    return true;
}

void peer_thread_fini(void)
{
    struct pool *p = my_pool;
    size_t i;

    if (p == NULL) {
        return;
    }
    /* A failing link's reads must not fail over onto links freed
     * before it. */
    p->closing = true;
    for (i = 0; i < p->n; i++) {
        struct link *l = p->links[i];

        link_fail(l, false);
        event_free(l->ev);
        event_free(l->timer);
        free(l->out);
        free(l->in);
        free(l->fifo);
        free(l);
    }
    free(p->links);
    free(p);
    my_pool = NULL;
}
