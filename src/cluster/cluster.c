/*
 * cluster: the daemon's gossip thread (see cluster.h).
 *
 * Everything the core asks for happens on this thread's event loop: UDP
 * datagrams go out with sendto; streams (TCP) are cluster_stream.c's; the
 * core's single timer is re-armed after every call into it.
 *
 * Where the gossip port listens: on -l's first address, or, without -l,
 * on every interface, as memcached's own port does; never wider than the
 * client port (an IPv6 wildcard is IPV6_V6ONLY, as the listener's is).
 * Without a cluster key anyone who reaches the port is a member, so a
 * keyless wildcard bind is warned about at start-up.
 */
#include "config.h"
#include "cluster/cluster.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include <event2/event.h>

#include <openssl/rand.h>

#include "cluster/cluster_addr.h"
#include "cluster/cluster_meta.h"
#include "cluster/cluster_ring.h"
#include "cluster/peer_auth.h"
#include "cluster/cluster_stream.h"
#include "cluster/gossip_crypto.h"
#include "util/hostport.h"
#include "util/log.h"
#include "util/tsan.h"

#define VIEW_REFRESH_MS 1000      /* counters in the view at least this fresh */
#define DATAGRAMS_PER_EVENT 64

static struct {
    struct gossip *g;
    struct gossip_config cfg;
    struct gossip_keyring *keyring;
    char name[GOSSIP_NAME_MAX + 1];
    char cluster_name[GOSSIP_CLUSTER_NAME_MAX + 1];
    uint8_t meta[GOSSIP_META_MAX];    /* ours: cluster_meta */
    struct event_base *base;
    int udp_fd, tcp_fd, wake_fd;
    struct event *udp_ev, *timer_ev, *wake_ev, *refresh_ev;
    pthread_t thread;
    bool running;                 /* atomic: workers ask cluster_enabled() */
    bool leaving;
    uint64_t leave_deadline;
    unsigned leave_timeout_ms;    /* written before waking the thread */
    bool dirty;
} cl = { .udp_fd = -1, .tcp_fd = -1, .wake_fd = -1 };

static struct cluster_view *current;  /* RCU-published */
static void (*restart_hook)(const char *client_addr);   /* atomic */

uint64_t cluster_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

const char *cluster_self_name(void)
{
    return cl.name;
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

/* ---- the published view ---------------------------------------------- */

static void free_view(struct rcu_head *h)
{
    struct cluster_view *v = caa_container_of(h, struct cluster_view, rcu);

    TSAN_ACQUIRE(v);                 /* handed over by call_rcu's queue */
    TSAN_ACQUIRE(&tsan_grace_token); /* a grace period has passed */
    cluster_ring_detach(v);
    free(v);
}

/* The host string clients use for m: what it advertises, or else its
 * address as text (a member of an older version sends no metadata). */
static void member_host(const struct gossip_member *m,
                        struct cluster_member *out)
{
    struct cluster_meta meta;
    char addr[64];
    int port = 0;

    out->port = m->client_addr.port;
    if (m->meta_len > 0 &&
        cluster_meta_decode(m->meta, m->meta_len, &meta) == 0 &&
        meta.host[0] != '\0') {
        memcpy(out->host, meta.host, sizeof(out->host));
        out->boot = meta.boot;
        return;
    }
    cluster_addr_format(&m->client_addr, addr, sizeof(addr));
    if (hostport_split(addr, strlen(addr), out->host, sizeof(out->host),
                       &port) != 0) {
        out->host[0] = '\0';
    }
}

void cluster_set_restart_hook(void (*fn)(const char *client_addr))
{
    __atomic_store_n(&restart_hook, fn, __ATOMIC_RELEASE);
}

/* Members of v whose boot differs from the one the previous view had for
 * them (the same name): restarted. The gossip core keeps its members in
 * place, so the previous view's entry at the same index is almost always
 * the one; else a search. Gossip thread. */
static void notice_restarts(const struct cluster_view *v,
                            const struct cluster_view *prev)
{
    void (*fn)(const char *) = __atomic_load_n(&restart_hook,
                                               __ATOMIC_ACQUIRE);
    size_t i, j;

    if (fn == NULL || prev == NULL) {
        return;
    }
    for (i = 0; i < v->n; i++) {
        const struct cluster_member *m = &v->members[i], *was = NULL;

        if (m->self || m->boot == 0 || m->state != GOSSIP_ALIVE) {
            continue;
        }
        if (i < prev->n && strcmp(prev->members[i].name, m->name) == 0) {
            was = &prev->members[i];
        }
        for (j = 0; was == NULL && j < prev->n; j++) {
            if (strcmp(prev->members[j].name, m->name) == 0) {
                was = &prev->members[j];
            }
        }
        if (was != NULL && was->boot != 0 && was->boot != m->boot) {
            LOG_AT(1, "cluster: %s restarted; sending it what it owns\n",
                   m->name);
            fn(m->client_addr);
        }
    }
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
        cluster_addr_format(&m->client_addr, out->client_addr,
                    sizeof(out->client_addr));
        out->state = (enum gossip_state)m->state;
        out->incarnation = m->incarnation;
        out->weight = m->weight;
        out->changed_ns = m->state_change_ns;
        out->self = strcmp(m->name, cl.name) == 0;
        member_host(m, out);
    }
    if (cluster_ring_attach(v, current != NULL ? current->ring : NULL) != 0) {
        free(v);
        return;                   /* keep the old view; retried later */
    }
    notice_restarts(v, current);
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


/* ---- datagrams, timers, wake-ups -------------------------------------- */

static void t_send_datagram(void *ctx, const struct gossip_addr *to,
                            const uint8_t *buf, size_t len)
{
    struct sockaddr_storage ss;
    socklen_t sl = cluster_addr_to_sockaddr(to, &ss);

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
    t_send_datagram, cluster_stream_open, t_member_changed,
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
        cluster_addr_from_sockaddr((struct sockaddr *)&ss, &from);
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
    socklen_t sl = cluster_addr_to_sockaddr(a, &ss);
    int one = 1;
    int fd = socket(ss.ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

    if (fd < 0) {
        return -1;
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (a->family == 6) {
        /* [::] must not take IPv4 too: the client listener's does not. */
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    }
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

/* Our metadata: the host string of --advertise (or -l) verbatim, which
 * the ring hashes as libmemcached hashes a configured host. */
static int advertise_meta(const char *adv, int client_port)
{
    struct cluster_meta meta;
    int port = client_port;

    memset(&meta, 0, sizeof(meta));
    while (meta.boot == 0 &&
           RAND_bytes((unsigned char *)&meta.boot, sizeof(meta.boot)) == 1) {
        continue;                 /* 0 means "none": draw again */
    }
    if (hostport_split(adv, strlen(adv), meta.host, sizeof(meta.host),
                       &port) != 0 ||
        !cluster_meta_host_valid(meta.host, strlen(meta.host))) {
        fprintf(stderr, "--advertise: the host must be 1 to %d printable "
                "characters\n", CLUSTER_HOST_MAX);
        return -1;
    }
    cl.cfg.meta = cl.meta;
    cl.cfg.meta_len = cluster_meta_encode(&meta, cl.meta);
    return 0;
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
    if (cluster_addr_resolve(adv, o->client_port, &cl.cfg.client_addr) != 0) {
        fprintf(stderr, "cannot resolve --advertise %s\n", adv);
        return -1;
    }
    cl.cfg.gossip_addr = cl.cfg.client_addr;
    cl.cfg.gossip_addr.port = (uint16_t)gport;
    if (o->node_name != NULL) {
        snprintf(cl.name, sizeof(cl.name), "%s", o->node_name);
    } else {
        cluster_addr_format(&cl.cfg.client_addr, cl.name, sizeof(cl.name));
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
    if (o->weight > UINT16_MAX) {
        fprintf(stderr, "--weight must be 1 to %u\n", (unsigned)UINT16_MAX);
        return -1;
    }
    cl.cfg.weight = (uint16_t)(o->weight ? o->weight : 1);
    if (advertise_meta(adv, o->client_port) != 0) {
        return -1;
    }
    if (o->key_file != NULL && load_keys(o->key_file) != 0) {
        return -1;
    }
    cl.cfg.keyring = cl.keyring;
    peer_auth_setup(cl.keyring);  /* it owns the keyring from now on */
    if (o->max_members != 0) {
        cl.cfg.max_members = o->max_members;
    }
    return 0;
}

static bool addr_is_wildcard(const struct gossip_addr *a)
{
    static const uint8_t zero[16];

    return memcmp(a->ip, zero, a->family == 6 ? 16 : 4) == 0;
}

static int open_sockets(const struct cluster_options *o)
{
    struct gossip_addr bind_addr = cl.cfg.gossip_addr;

    if (o->bind_host == NULL) {
        /* No -l: the client port listens everywhere, so may we. */
        memset(bind_addr.ip, 0, sizeof(bind_addr.ip));
    } else if (cluster_addr_resolve(o->bind_host, bind_addr.port,
                                    &bind_addr) != 0) {
        fprintf(stderr, "cannot resolve -l %s for gossip\n", o->bind_host);
        return -1;
    }
    if (cl.keyring == NULL && addr_is_wildcard(&bind_addr)) {
        fprintf(stderr, "WARNING: the gossip port %u listens on every "
                "interface without --cluster-key-file: whoever reaches it "
                "can join this cluster, change its view or flood it; set "
                "-l or a cluster key\n", (unsigned)bind_addr.port);
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
        if (cluster_addr_resolve(tok, CLUSTER_DEFAULT_GOSSIP_PORT, &seeds[n]) == 0) {
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
    uint64_t now, seed;

    if (configure(o) != 0 || open_sockets(o) != 0) {
        return -1;
    }
    /* The core draws this life's probe-sequence epoch from its seed: it
     * must differ from every earlier life's (replay, gossip_probe.c). */
    if (RAND_bytes((unsigned char *)&seed, sizeof(seed)) != 1) {
        fprintf(stderr, "cannot get random bytes for the gossip layer\n");
        return -1;
    }
    cl.g = gossip_create(&cl.cfg, &transport, NULL, seed);
    cl.base = event_base_new();
    cl.wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (cl.g == NULL || cl.base == NULL || cl.wake_fd < 0 ||
        cluster_stream_setup(cl.base, cl.g, cl.tcp_fd,
                             cl.cfg.stream_timeout_ns, after_core) != 0) {
        fprintf(stderr, "cannot start the gossip layer\n");
        return -1;
    }
    cl.udp_ev = event_new(cl.base, cl.udp_fd, EV_READ | EV_PERSIST, on_udp,
                          NULL);
    cl.wake_ev = event_new(cl.base, cl.wake_fd, EV_READ | EV_PERSIST, on_wake,
                           NULL);
    cl.timer_ev = evtimer_new(cl.base, on_timer, NULL);
    cl.refresh_ev = event_new(cl.base, -1, EV_PERSIST, on_refresh, NULL);
    event_add(cl.udp_ev, NULL);
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
    cluster_stream_teardown();
    event_free(cl.udp_ev);
    event_free(cl.wake_ev);
    event_free(cl.timer_ev);
    event_free(cl.refresh_ev);
    event_base_free(cl.base);
    close(cl.udp_fd);
    close(cl.tcp_fd);
    close(cl.wake_fd);
    gossip_destroy(&cl.g);
    /* peer_auth owns the keyring: workers still check peers until they
     * stop (peer_auth_teardown). */
    cl.keyring = NULL;
    last = rcu_xchg_pointer(&current, NULL);
    synchronize_rcu();
    TSAN_ACQUIRE(&tsan_grace_token);
    if (last != NULL) {
        cluster_ring_detach(last);  /* the ring goes with the last view */
    }
    free(last);
}
