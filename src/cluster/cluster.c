/*
 * cluster: the daemon's gossip thread (see cluster.h).
 *
 * Everything the core asks for happens on this thread's event loop: UDP
 * datagrams go out with sendto; a stream is one TCP connection carrying one
 * length-prefixed message each way; the core's single timer is re-armed
 * after every call into it. Connecting, reading and writing never block;
 * a stream that stalls is closed after the core's stream timeout.
 */
#include "config.h"
#include "cluster/cluster.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include <event2/event.h>

#include "cluster/gossip_crypto.h"
#include "util/hostport.h"
#include "util/log.h"
#include "util/tsan.h"

#define STREAM_MAX ((16u << 20) + 30) /* the core's largest message, sealed */
#define STREAM_CHUNK 65536        /* input buffers grow as bytes arrive */
#define INBOUND_MAX 32            /* concurrent inbound streams */
#define INBOUND_BYTES (64u << 20) /* input buffered by them, in all */
#define ACCEPT_PAUSE_MS 100       /* out of descriptors: retry after */
#define VIEW_REFRESH_MS 1000      /* counters in the view at least this fresh */
#define DATAGRAMS_PER_EVENT 64

struct stream {
    struct stream *next;
    int fd;
    struct event *ev;
    bool outbound;
    uint64_t id;                  /* outbound: the core's stream id */
    struct gossip_addr peer;
    uint64_t deadline_ns;         /* the whole exchange, not idle time */
    uint8_t *out;                 /* length prefix + message */
    size_t out_len, out_off;
    bool writing;
    uint8_t hdr[4];
    size_t hdr_got;
    uint8_t *in;
    size_t in_len, in_got, in_cap;
};

static struct {
    struct gossip *g;
    struct gossip_config cfg;
    struct gossip_keyring *keyring;
    char name[GOSSIP_NAME_MAX + 1];
    char cluster_name[GOSSIP_CLUSTER_NAME_MAX + 1];
    struct event_base *base;
    int udp_fd, tcp_fd, wake_fd;
    struct event *udp_ev, *tcp_ev, *timer_ev, *wake_ev, *refresh_ev;
    pthread_t thread;
    bool running;                 /* atomic: workers ask cluster_enabled() */
    bool leaving;
    uint64_t leave_deadline;
    unsigned leave_timeout_ms;    /* written before waking the thread */
    bool dirty;
    struct stream *streams;
    unsigned inbound;             /* open inbound streams */
    size_t inbound_bytes;         /* their input buffers */
} cl = { .udp_fd = -1, .tcp_fd = -1, .wake_fd = -1 };

static struct cluster_view *current;  /* RCU-published */

uint64_t cluster_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

bool cluster_enabled(void)
{
    return __atomic_load_n(&cl.running, __ATOMIC_RELAXED);
}

const struct cluster_view *cluster_view(void)
{
    const struct cluster_view *v = rcu_dereference(current);

    /* liburcu is not built with TSan: say what rcu_dereference orders. */
    TSAN_ACQUIRE(v);
    return v;
}

/* ---- addresses ------------------------------------------------------- */

static void to_gossip_addr(const struct sockaddr *sa, struct gossip_addr *a)
{
    memset(a, 0, sizeof(*a));
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;

        a->family = 6;
        a->port = ntohs(in6->sin6_port);
        memcpy(a->ip, &in6->sin6_addr, 16);
    } else {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;

        a->family = 4;
        a->port = ntohs(in->sin_port);
        memcpy(a->ip, &in->sin_addr, 4);
    }
}

static socklen_t to_sockaddr(const struct gossip_addr *a,
                             struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof(*ss));
    if (a->family == 6) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(a->port);
        memcpy(&in6->sin6_addr, a->ip, 16);
        return sizeof(*in6);
    } else {
        struct sockaddr_in *in = (struct sockaddr_in *)ss;

        in->sin_family = AF_INET;
        in->sin_port = htons(a->port);
        memcpy(&in->sin_addr, a->ip, 4);
        return sizeof(*in);
    }
}

static void format_addr(const struct gossip_addr *a, char *out, size_t cap)
{
    char host[INET6_ADDRSTRLEN] = "?";

    inet_ntop(a->family == 6 ? AF_INET6 : AF_INET, a->ip, host,
              sizeof(host));
    snprintf(out, cap, a->family == 6 ? "[%s]:%u" : "%s:%u", host,
             (unsigned)a->port);
}

/* "host", "host:port", "[v6]" or "[v6]:port" to an address. */
static int resolve(const char *spec, int default_port, struct gossip_addr *out)
{
    char host[256], portstr[16];
    struct addrinfo hints, *res;
    int port = default_port;

    if (hostport_split(spec, strlen(spec), host, sizeof(host), &port) != 0) {
        return -1;
    }
    if (port <= 0 || port > 65535 || host[0] == '\0') {
        return -1;
    }
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_DGRAM;
    snprintf(portstr, sizeof(portstr), "%d", port);
    if (getaddrinfo(host, portstr, &hints, &res) != 0) {
        return -1;
    }
    to_gossip_addr(res->ai_addr, out);
    freeaddrinfo(res);
    return 0;
}

/* ---- the published view ---------------------------------------------- */

static void free_view(struct rcu_head *h)
{
    struct cluster_view *v = caa_container_of(h, struct cluster_view, rcu);

    TSAN_ACQUIRE(v);                 /* handed over by call_rcu's queue */
    TSAN_ACQUIRE(&tsan_grace_token); /* a grace period has passed */
    free(v);
}

static void publish(void)
{
    size_t n = gossip_member_count(cl.g), i;
    struct cluster_view *v = calloc(1, sizeof(*v) + n * sizeof(v->members[0]));
    struct cluster_view *old;

    if (v == NULL) {
        return;                   /* keep the old view; retried later */
    }
    v->taken_ns = cluster_now_ns();
    gossip_get_stats(cl.g, &v->stats);
    v->n = n;
    for (i = 0; i < n; i++) {
        const struct gossip_member *m = gossip_member_at(cl.g, i);
        struct cluster_member *out = &v->members[i];

        memcpy(out->name, m->name, sizeof(out->name));
        format_addr(&m->client_addr, out->client_addr,
                    sizeof(out->client_addr));
        out->state = (enum gossip_state)m->state;
        out->incarnation = m->incarnation;
        out->weight = m->weight;
        out->changed_ns = m->state_change_ns;
    }
    TSAN_RELEASE(v);
    old = rcu_xchg_pointer(&current, v);
    if (old != NULL) {
        TSAN_RELEASE(old);
        call_rcu(&old->rcu, free_view);
    }
    cl.dirty = false;
}

/* After every call into the core: publish changes, re-arm its timer. */
static void after_core(void)
{
    uint64_t deadline = gossip_next_deadline(cl.g), now = cluster_now_ns();
    struct timeval tv = { 0, 0 };

    if (cl.dirty) {
        publish();
    }
    if (deadline != UINT64_MAX) {
        uint64_t wait = deadline > now ? deadline - now : 0;

        tv.tv_sec = (time_t)(wait / 1000000000u);
        tv.tv_usec = (suseconds_t)(wait % 1000000000u / 1000);
        evtimer_add(cl.timer_ev, &tv);
    }
}

/* ---- streams ---------------------------------------------------------- */

static void stream_close(struct stream *s)
{
    struct stream **pp;

    for (pp = &cl.streams; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == s) {
            *pp = s->next;
            break;
        }
    }
    if (!s->outbound) {
        cl.inbound--;
        cl.inbound_bytes -= s->in_cap;
    }
    event_free(s->ev);
    close(s->fd);
    free(s->out);
    free(s->in);
    free(s);
}

static void stream_failed(struct stream *s)
{
    if (s->outbound) {
        gossip_on_stream_failed(cl.g, s->id, cluster_now_ns());
    }
    stream_close(s);
    after_core();
}

static int set_output(struct stream *s, const uint8_t *buf, size_t len)
{
    s->out = malloc(4 + len);
    if (s->out == NULL) {
        return -1;
    }
    s->out[0] = (uint8_t)(len >> 24);
    s->out[1] = (uint8_t)(len >> 16);
    s->out[2] = (uint8_t)(len >> 8);
    s->out[3] = (uint8_t)len;
    memcpy(s->out + 4, buf, len);
    s->out_len = 4 + len;
    s->out_off = 0;
    s->writing = true;
    return 0;
}

static void rearm(struct stream *s);

static void reply_inbound(void *arg, const uint8_t *buf, size_t len)
{
    struct stream *s = arg;

    if (set_output(s, buf, len) != 0) {
        s->writing = false;
    }
}

/* A whole message arrived on s. */
static void stream_message(struct stream *s)
{
    uint64_t now = cluster_now_ns();

    if (s->outbound) {
        gossip_on_stream_reply(cl.g, s->id, s->in, s->in_len, now);
        stream_close(s);
        after_core();
        return;
    }
    gossip_on_stream(cl.g, &s->peer, s->in, s->in_len, now, reply_inbound, s);
    after_core();
    if (!s->writing) {
        stream_close(s);          /* the core had nothing to say */
        return;
    }
    rearm(s);
}

static void on_stream(evutil_socket_t fd, short what, void *arg)
{
    struct stream *s = arg;
    ssize_t n;

    /* A peer trickling a byte at a time would restart an idle timeout
     * forever: the exchange as a whole has a deadline. */
    if ((what & EV_TIMEOUT) || cluster_now_ns() > s->deadline_ns) {
        stream_failed(s);
        return;
    }
    if (s->writing) {
        n = write(fd, s->out + s->out_off, s->out_len - s->out_off);
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            return;
        }
        if (n <= 0) {
            stream_failed(s);
            return;
        }
        s->out_off += (size_t)n;
        if (s->out_off < s->out_len) {
            return;
        }
        s->writing = false;
        if (!s->outbound) {
            stream_close(s);      /* reply sent: done */
            return;
        }
        rearm(s);                 /* now wait for the reply */
        return;
    }
    if (s->hdr_got < 4) {
        n = read(fd, s->hdr + s->hdr_got, 4 - s->hdr_got);
    } else {
        /* Memory follows the bytes actually received, so announcing a
         * large message costs a peer as much as sending it. */
        if (s->in_got == s->in_cap) {
            size_t cap = s->in_cap * 2 < s->in_len ? s->in_cap * 2 : s->in_len;
            uint8_t *grown;

            if (!s->outbound &&
                cl.inbound_bytes + (cap - s->in_cap) > INBOUND_BYTES) {
                stream_failed(s); /* inbound input is bounded in all */
                return;
            }
            grown = realloc(s->in, cap);
            if (grown == NULL) {
                stream_failed(s);
                return;
            }
            if (!s->outbound) {
                cl.inbound_bytes += cap - s->in_cap;
            }
            s->in = grown;
            s->in_cap = cap;
        }
        n = read(fd, s->in + s->in_got, s->in_cap - s->in_got);
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        return;
    }
    if (n <= 0) {
        stream_failed(s);
        return;
    }
    if (s->hdr_got < 4) {
        s->hdr_got += (size_t)n;
        if (s->hdr_got < 4) {
            return;
        }
        s->in_len = (size_t)s->hdr[0] << 24 | (size_t)s->hdr[1] << 16 |
                    (size_t)s->hdr[2] << 8 | s->hdr[3];
        if (s->in_len == 0 || s->in_len > STREAM_MAX ||
            (s->in = malloc(s->in_len < STREAM_CHUNK ? s->in_len
                                                     : STREAM_CHUNK)) == NULL) {
            stream_failed(s);
            return;
        }
        s->in_cap = s->in_len < STREAM_CHUNK ? s->in_len : STREAM_CHUNK;
        if (!s->outbound) {
            cl.inbound_bytes += s->in_cap;
        }
        return;
    }
    s->in_got += (size_t)n;
    if (s->in_got == s->in_len) {
        stream_message(s);
    }
}

static void rearm(struct stream *s)
{
    struct timeval tv;

    tv.tv_sec = (time_t)(cl.cfg.stream_timeout_ns / 1000000000u);
    tv.tv_usec = (suseconds_t)(cl.cfg.stream_timeout_ns % 1000000000u / 1000);
    event_del(s->ev);
    event_assign(s->ev, cl.base, s->fd,
                 (short)((s->writing ? EV_WRITE : EV_READ) | EV_PERSIST),
                 on_stream, s);
    event_add(s->ev, &tv);
}

static struct stream *stream_create(int fd, bool outbound)
{
    struct stream *s = calloc(1, sizeof(*s));

    if (s == NULL) {
        return NULL;
    }
    s->fd = fd;
    s->outbound = outbound;
    s->deadline_ns = cluster_now_ns() + cl.cfg.stream_timeout_ns;
    s->ev = event_new(cl.base, fd, EV_READ, on_stream, s);
    if (s->ev == NULL) {
        free(s);
        return NULL;
    }
    s->next = cl.streams;
    cl.streams = s;
    return s;
}

/* A stream the core opened could not even start: tell it from the loop,
 * not from inside the callback (the core must not be re-entered). */
struct failed_open {
    uint64_t id;
};

static void report_failed_open(evutil_socket_t fd, short what, void *arg)
{
    struct failed_open *f = arg;

    (void)fd;
    (void)what;
    gossip_on_stream_failed(cl.g, f->id, cluster_now_ns());
    free(f);
    after_core();
}

static void t_stream_open(void *ctx, uint64_t id, const struct gossip_addr *to,
                          const uint8_t *buf, size_t len)
{
    struct sockaddr_storage ss;
    socklen_t sl = to_sockaddr(to, &ss);
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
                    0);
    struct stream *s = NULL;

    (void)ctx;
    if (fd >= 0 && (connect(fd, (struct sockaddr *)&ss, sl) == 0 ||
                    errno == EINPROGRESS)) {
        s = stream_create(fd, true);
    }
    if (s != NULL && set_output(s, buf, len) == 0) {
        s->id = id;
        s->peer = *to;
        rearm(s);
        return;
    }
    if (s != NULL) {
        stream_close(s);
    } else if (fd >= 0) {
        close(fd);
    }
    {
        struct failed_open *f = malloc(sizeof(*f));
        struct timeval now = { 0, 0 };

        if (f != NULL) {
            f->id = id;
            event_base_once(cl.base, -1, EV_TIMEOUT, report_failed_open, f,
                            &now);
        }
    }
}

static void resume_accept(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    event_add(cl.tcp_ev, NULL);
}

/* The inbound stream that has been open longest. */
static struct stream *oldest_inbound(void)
{
    struct stream *s, *old = NULL;

    for (s = cl.streams; s != NULL; s = s->next) {
        if (!s->outbound && (old == NULL || s->deadline_ns < old->deadline_ns)) {
            old = s;
        }
    }
    return old;
}

static void on_accept(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    (void)arg;
    for (;;) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        int c = accept4(fd, (struct sockaddr *)&ss, &sl,
                        SOCK_NONBLOCK | SOCK_CLOEXEC);
        struct stream *s;

        if (c < 0) {
            if (errno == EMFILE || errno == ENFILE) {
                /* The listener stays readable: pause instead of spinning. */
                struct timeval tv = { 0, ACCEPT_PAUSE_MS * 1000 };

                event_del(cl.tcp_ev);
                event_base_once(cl.base, -1, EV_TIMEOUT, resume_accept, NULL,
                                &tv);
            }
            return;
        }
        if (cl.inbound >= INBOUND_MAX) {
            /* Full: the oldest goes. A real exchange takes milliseconds,
             * so connections held open to fill the slots are the ones
             * that lose them, not the next join. */
            stream_close(oldest_inbound());
        }
        s = stream_create(c, false);
        if (s == NULL) {
            close(c);
            continue;
        }
        cl.inbound++;
        to_gossip_addr((struct sockaddr *)&ss, &s->peer);
        rearm(s);
    }
}

/* ---- datagrams, timers, wake-ups -------------------------------------- */

static void t_send_datagram(void *ctx, const struct gossip_addr *to,
                            const uint8_t *buf, size_t len)
{
    struct sockaddr_storage ss;
    socklen_t sl = to_sockaddr(to, &ss);

    (void)ctx;
    /* Losing a datagram is part of the protocol; no retry. */
    if (sendto(cl.udp_fd, buf, len, 0, (struct sockaddr *)&ss, sl) < 0) {
        LOG_AT(2, "gossip sendto: %s\n", strerror(errno));
    }
}

static void t_member_changed(void *ctx, const struct gossip_member *m,
                             enum gossip_state old_state, bool removed)
{
    (void)ctx;
    if (m->state != old_state || removed) {
        LOG_AT(1, "cluster: %s %s -> %s\n", m->name,
               gossip_state_name(old_state),
               removed ? "removed" : gossip_state_name(
                   (enum gossip_state)m->state));
    }
    cl.dirty = true;
}

static const struct gossip_transport transport = {
    t_send_datagram, t_stream_open, t_member_changed,
};

static void on_udp(evutil_socket_t fd, short what, void *arg)
{
    uint8_t buf[65536];
    int i;

    (void)what;
    (void)arg;
    for (i = 0; i < DATAGRAMS_PER_EVENT; i++) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        ssize_t n = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&ss,
                             &sl);
        struct gossip_addr from;

        if (n < 0) {
            break;
        }
        to_gossip_addr((struct sockaddr *)&ss, &from);
        gossip_on_datagram(cl.g, &from, buf, (size_t)n, cluster_now_ns());
    }
    after_core();
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    uint64_t now = cluster_now_ns();

    (void)fd;
    (void)what;
    (void)arg;
    gossip_advance(cl.g, now);
    if (cl.leaving && (gossip_leave_flushed(cl.g) || now >= cl.leave_deadline)) {
        event_base_loopbreak(cl.base);
        return;
    }
    after_core();
}

static void on_refresh(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    publish();                    /* fresh counters for `stats cluster` */
}

/* The main thread asked us to leave. */
static void on_wake(evutil_socket_t fd, short what, void *arg)
{
    uint64_t v, now = cluster_now_ns();
    struct timeval tv = { 0, 10000 };

    (void)what;
    (void)arg;
    if (read(fd, &v, sizeof(v)) < 0) {
        return;
    }
    gossip_leave(cl.g, now);
    cl.leaving = true;
    cl.leave_deadline = now + (uint64_t)cl.leave_timeout_ms * 1000000u;
    after_core();
    /* Check for the end often even if the core's timers are far away. */
    event_del(cl.refresh_ev);
    event_assign(cl.refresh_ev, cl.base, -1, EV_PERSIST, on_timer, NULL);
    event_add(cl.refresh_ev, &tv);
}

static void *gossip_main(void *arg)
{
    (void)arg;
    rcu_register_thread();
    event_base_dispatch(cl.base);
    rcu_unregister_thread();
    return NULL;
}

/* ---- setup ------------------------------------------------------------ */

static int bind_socket(int type, const struct gossip_addr *a)
{
    struct sockaddr_storage ss;
    socklen_t sl = to_sockaddr(a, &ss);
    int one = 1;
    int fd = socket(ss.ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

    if (fd < 0) {
        return -1;
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&ss, sl) != 0 ||
        (type == SOCK_STREAM && listen(fd, 128) != 0)) {
        close(fd);
        return -1;
    }
    return fd;
}

static int load_keys(const char *path)
{
    char text[8192];
    FILE *f = fopen(path, "r");
    size_t n;

    if (f == NULL) {
        fprintf(stderr, "cannot read --cluster-key-file %s: %s\n", path,
                strerror(errno));
        return -1;
    }
    n = fread(text, 1, sizeof(text), f);
    fclose(f);
    cl.keyring = gossip_keyring_create();
    if (cl.keyring == NULL ||
        gossip_keyring_parse(cl.keyring, text, n) <= 0) {
        fprintf(stderr, "--cluster-key-file %s: expected lines of 64 hex "
                "digits (AES-256 keys), the first one primary\n", path);
        return -1;
    }
    return 0;
}

static void apply_timing(const struct cluster_options *o)
{
    if (o->probe_interval_ms) {
        cl.cfg.probe_interval_ns = o->probe_interval_ms * 1000000ull;
    }
    if (o->probe_timeout_ms) {
        cl.cfg.probe_timeout_ns = o->probe_timeout_ms * 1000000ull;
    }
    if (o->gossip_interval_ms) {
        cl.cfg.gossip_interval_ns = o->gossip_interval_ms * 1000000ull;
    }
    if (o->push_pull_interval_ms) {
        cl.cfg.push_pull_interval_ns = o->push_pull_interval_ms * 1000000ull;
    }
    if (o->dead_retention_ms) {
        cl.cfg.dead_retention_ns = o->dead_retention_ms * 1000000ull;
    }
    if (o->suspicion_mult) {
        cl.cfg.suspicion_mult = o->suspicion_mult;
    }
    if (o->indirect_checks) {
        cl.cfg.indirect_checks = o->indirect_checks;
    }
    if (o->gossip_nodes) {
        cl.cfg.gossip_nodes = o->gossip_nodes;
    }
}

/* Fills addresses and names; prints what is wrong. */
static int configure(const struct cluster_options *o)
{
    int gport = o->gossip_port ? o->gossip_port : CLUSTER_DEFAULT_GOSSIP_PORT;
    char adv[300];
    const char *host = o->bind_host;

    gossip_config_defaults(&cl.cfg);
    apply_timing(o);
    if (o->advertise != NULL) {
        snprintf(adv, sizeof(adv), "%s", o->advertise);
    } else if (host != NULL && strcmp(host, "0.0.0.0") != 0 &&
               strcmp(host, "::") != 0) {
        snprintf(adv, sizeof(adv), strchr(host, ':') ? "[%s]:%d" : "%s:%d",
                 host, o->client_port);
    } else {
        fprintf(stderr, "--advertise host:port is needed when listening on "
                "every interface (-l not given)\n");
        return -1;
    }
    if (resolve(adv, o->client_port, &cl.cfg.client_addr) != 0) {
        fprintf(stderr, "cannot resolve --advertise %s\n", adv);
        return -1;
    }
    cl.cfg.gossip_addr = cl.cfg.client_addr;
    cl.cfg.gossip_addr.port = (uint16_t)gport;
    if (o->node_name != NULL) {
        snprintf(cl.name, sizeof(cl.name), "%s", o->node_name);
    } else {
        format_addr(&cl.cfg.client_addr, cl.name, sizeof(cl.name));
    }
    if ((o->node_name != NULL && strlen(o->node_name) > GOSSIP_NAME_MAX) ||
        !gossip_name_valid(cl.name, strlen(cl.name))) {
        fprintf(stderr, "--node-name must be 1 to %d printable characters "
                "without spaces\n", GOSSIP_NAME_MAX);
        return -1;
    }
    snprintf(cl.cluster_name, sizeof(cl.cluster_name), "%s",
             o->cluster_name ? o->cluster_name : "");
    if (o->cluster_name != NULL &&
        strlen(o->cluster_name) > GOSSIP_CLUSTER_NAME_MAX) {
        fprintf(stderr, "--cluster-name is longer than %d bytes\n",
                GOSSIP_CLUSTER_NAME_MAX);
        return -1;
    }
    cl.cfg.name = cl.name;
    cl.cfg.cluster_name = cl.cluster_name;
    cl.cfg.weight = 1;
    if (o->key_file != NULL && load_keys(o->key_file) != 0) {
        return -1;
    }
    cl.cfg.keyring = cl.keyring;
    return 0;
}

static int open_sockets(const struct cluster_options *o)
{
    struct gossip_addr bind_addr = cl.cfg.gossip_addr;

    if (o->bind_host == NULL) {
        /* No -l: memcached listens everywhere, so may we. */
        memset(bind_addr.ip, 0, sizeof(bind_addr.ip));
    } else if (resolve(o->bind_host, bind_addr.port, &bind_addr) != 0) {
        fprintf(stderr, "cannot resolve -l %s for gossip\n", o->bind_host);
        return -1;
    }
    cl.udp_fd = bind_socket(SOCK_DGRAM, &bind_addr);
    cl.tcp_fd = bind_socket(SOCK_STREAM, &bind_addr);
    if (cl.udp_fd < 0 || cl.tcp_fd < 0) {
        fprintf(stderr, "failed to listen on gossip port %u: %s\n",
                (unsigned)bind_addr.port, strerror(errno));
        return -1;
    }
    return 0;
}

static size_t parse_seeds(const char *list, struct gossip_addr *seeds)
{
    char *copy = strdup(list), *save = NULL, *tok;
    size_t n = 0;

    for (tok = strtok_r(copy, ",", &save); tok != NULL && n < GOSSIP_MAX_SEEDS;
         tok = strtok_r(NULL, ",", &save)) {
        if (resolve(tok, CLUSTER_DEFAULT_GOSSIP_PORT, &seeds[n]) == 0) {
            n++;
        } else {
            fprintf(stderr, "cannot resolve --join %s; skipped\n", tok);
        }
    }
    free(copy);
    return n;
}

int cluster_start(const struct cluster_options *o)
{
    struct gossip_addr seeds[GOSSIP_MAX_SEEDS];
    struct timeval refresh = { VIEW_REFRESH_MS / 1000,
                               VIEW_REFRESH_MS % 1000 * 1000 };
    uint64_t now;

    if (configure(o) != 0 || open_sockets(o) != 0) {
        return -1;
    }
    cl.g = gossip_create(&cl.cfg, &transport, NULL,
                         cluster_now_ns() ^ (uint64_t)getpid() << 32);
    cl.base = event_base_new();
    cl.wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (cl.g == NULL || cl.base == NULL || cl.wake_fd < 0) {
        fprintf(stderr, "cannot start the gossip layer\n");
        return -1;
    }
    cl.udp_ev = event_new(cl.base, cl.udp_fd, EV_READ | EV_PERSIST, on_udp,
                          NULL);
    cl.tcp_ev = event_new(cl.base, cl.tcp_fd, EV_READ | EV_PERSIST, on_accept,
                          NULL);
    cl.wake_ev = event_new(cl.base, cl.wake_fd, EV_READ | EV_PERSIST, on_wake,
                           NULL);
    cl.timer_ev = evtimer_new(cl.base, on_timer, NULL);
    cl.refresh_ev = event_new(cl.base, -1, EV_PERSIST, on_refresh, NULL);
    event_add(cl.udp_ev, NULL);
    event_add(cl.tcp_ev, NULL);
    event_add(cl.wake_ev, NULL);
    event_add(cl.refresh_ev, &refresh);
    now = cluster_now_ns();
    gossip_start(cl.g, now);
    if (o->join != NULL) {
        size_t n = parse_seeds(o->join, seeds);

        gossip_join(cl.g, seeds, n, now);
    }
    publish();
    after_core();
    if (pthread_create(&cl.thread, NULL, gossip_main, NULL) != 0) {
        fprintf(stderr, "cannot start the gossip thread\n");
        return -1;
    }
    __atomic_store_n(&cl.running, true, __ATOMIC_RELAXED);
    return 0;
}

void cluster_stop(unsigned timeout_ms)
{
    uint64_t one = 1;
    struct cluster_view *last;

    if (!cl.running) {
        return;
    }
    cl.leave_timeout_ms = timeout_ms;
    if (write(cl.wake_fd, &one, sizeof(one)) < 0) {
        /* An eventfd write fails only if the counter would overflow. */
        LOG_AT(0, "cannot wake the gossip thread: %s\n", strerror(errno));
    }
    pthread_join(cl.thread, NULL);
    __atomic_store_n(&cl.running, false, __ATOMIC_RELAXED);
    while (cl.streams != NULL) {
        stream_close(cl.streams);
    }
    event_free(cl.udp_ev);
    event_free(cl.tcp_ev);
    event_free(cl.wake_ev);
    event_free(cl.timer_ev);
    event_free(cl.refresh_ev);
    event_base_free(cl.base);
    close(cl.udp_fd);
    close(cl.tcp_fd);
    close(cl.wake_fd);
    gossip_destroy(&cl.g);
    gossip_keyring_destroy(&cl.keyring);
    last = rcu_xchg_pointer(&current, NULL);
    synchronize_rcu();
    TSAN_ACQUIRE(&tsan_grace_token);
    free(last);
}
