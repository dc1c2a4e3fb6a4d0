/*
 * gossip_sim: the simulator (see gossip_sim.h).
 *
 * Each node's core asks for one wake-up at gossip_next_deadline(); the
 * node remembers the time it asked for (wake_at) and a queued wake-up for
 * any other time is stale and skipped, so re-arming never needs to find
 * and delete an event. Events for a node carry its life (bumped by every
 * kill), so nothing from a previous life reaches a restarted node's core
 * except datagrams, which are addressed to the address, not the process.
 */
#include "gossip_sim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "cluster/gossip_rand.h"

enum ev_type {
    EV_TIMER,                     /* node's core wants to run timers */
    EV_RESUME,                    /* node's stall is over */
    EV_DGRAM,                     /* datagram from -> node */
    EV_STREAM_REQ,                /* stream message from -> node */
    EV_STREAM_REPLY,              /* reply to node's stream `id` */
    EV_STREAM_FAIL,               /* node's stream `id` failed */
    EV_SHUTDOWN,                  /* a leaving node stops */
};

struct ev {
    uint64_t at;
    uint64_t order;
    uint8_t type;
    uint32_t node;
    uint32_t from;
    uint32_t life;                /* of node (timers, replies) */
    uint32_t from_life;           /* of from (stream requests) */
    uint64_t id;                  /* stream id */
    uint8_t *buf;
    size_t len;
};

struct sim_node {
    struct gossip *g;
    bool up;
    bool leaving;
    uint32_t life;
    uint64_t wake_at;             /* queued wake-up; UINT64_MAX: none */
    uint64_t stalled_until;
    uint8_t group;
    bool udp_blocked;             /* a firewall eating its datagrams */
    struct gossip_addr addr;
    char name[32];
    struct gossip_sim *sim;
    size_t index;
};

struct gossip_sim {
    struct gossip_sim_config cfg;
    struct sim_node *nodes;
    struct gossip_addr *seeds;
    struct ev *heap;
    size_t nheap, capheap;
    uint64_t order;
    uint64_t now;
    struct gossip_rand rng;
    bool partitioned;
    uint64_t trace;
    size_t booted;                /* initial boot events processed */
    bool all_booted;
    struct gossip_sim_totals tot;
    gossip_sim_observer *observer;
    void *observer_arg;
};

void gossip_sim_config_defaults(struct gossip_sim_config *c, size_t nodes,
                                uint64_t seed)
{
    memset(c, 0, sizeof(*c));
    c->nodes = nodes;
    c->seed = seed;
    gossip_config_defaults(&c->base);
    c->base.cluster_name = "sim";
    c->delay_ns = 500000;         /* a LAN: 0.5 ms + up to 1 ms */
    c->jitter_ns = 1000000;
    c->nseeds = 3;
    c->start_spread_ns = 2 * GOSSIP_SIM_S;
}

/* ---- event queue ---- */

static bool ev_before(const struct ev *a, const struct ev *b)
{
    return a->at != b->at ? a->at < b->at : a->order < b->order;
}

static void ev_push(struct gossip_sim *s, struct ev e)
{
    size_t i;

    if (s->nheap == s->capheap) {
        s->capheap = s->capheap ? s->capheap * 2 : 1024;
        s->heap = realloc(s->heap, s->capheap * sizeof(*s->heap));
        if (s->heap == NULL) {
            abort();
        }
    }
    e.order = ++s->order;
    i = s->nheap++;
    while (i > 0 && ev_before(&e, &s->heap[(i - 1) / 2])) {
        s->heap[i] = s->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    s->heap[i] = e;
}

static struct ev ev_pop(struct gossip_sim *s)
{
    struct ev top = s->heap[0], last = s->heap[--s->nheap];
    size_t i = 0;

    for (;;) {
        size_t c = 2 * i + 1;

        if (c >= s->nheap) {
            break;
        }
        if (c + 1 < s->nheap && ev_before(&s->heap[c + 1], &s->heap[c])) {
            c++;
        }
        if (!ev_before(&s->heap[c], &last)) {
            break;
        }
        s->heap[i] = s->heap[c];
        i = c;
    }
    if (s->nheap > 0) {
        s->heap[i] = last;
    }
    return top;
}

static uint8_t *copy_buf(const uint8_t *buf, size_t len)
{
    uint8_t *p = malloc(len ? len : 1);

    if (p == NULL) {
        abort();
    }
    memcpy(p, buf, len);
    return p;
}

/* ---- network ---- */

static size_t addr_index(const struct gossip_addr *a)
{
    return (size_t)a->ip[1] << 16 | (size_t)a->ip[2] << 8 | a->ip[3];
}

static uint64_t net_delay(struct gossip_sim *s)
{
    return s->cfg.delay_ns + (s->cfg.jitter_ns
                                  ? gossip_rand_below(&s->rng,
                                                      s->cfg.jitter_ns)
                                  : 0);
}

static bool reachable(const struct gossip_sim *s, size_t a, size_t b)
{
    return !s->partitioned || s->nodes[a].group == s->nodes[b].group;
}

static void schedule_wake(struct sim_node *n)
{
    struct gossip_sim *s = n->sim;
    uint64_t d;

    if (!n->up || n->stalled_until > s->now) {
        return;
    }
    d = gossip_next_deadline(n->g);
    if (d == UINT64_MAX || d >= n->wake_at) {
        return;
    }
    n->wake_at = d < s->now ? s->now : d;
    ev_push(s, (struct ev){ .at = n->wake_at, .type = EV_TIMER,
                            .node = (uint32_t)n->index, .life = n->life });
}

static void sim_send(void *ctx, const struct gossip_addr *to,
                     const uint8_t *buf, size_t len)
{
    struct sim_node *n = ctx;
    struct gossip_sim *s = n->sim;
    size_t dst = addr_index(to);
    int copies = 1, i;

    s->tot.datagrams_sent++;
    s->tot.datagram_bytes += len;
    if (len > s->tot.datagram_max) {
        s->tot.datagram_max = len;
    }
    if (dst >= s->cfg.nodes || !reachable(s, n->index, dst) ||
        n->udp_blocked || s->nodes[dst].udp_blocked ||
        gossip_rand_unit(&s->rng) < s->cfg.loss) {
        s->tot.datagrams_lost++;
        return;
    }
    if (s->cfg.dup > 0 && gossip_rand_unit(&s->rng) < s->cfg.dup) {
        copies = 2;
    }
    for (i = 0; i < copies; i++) {
        ev_push(s, (struct ev){ .at = s->now + net_delay(s), .type = EV_DGRAM,
                                .node = (uint32_t)dst,
                                .from = (uint32_t)n->index,
                                .buf = copy_buf(buf, len), .len = len });
    }
}

static void sim_stream_open(void *ctx, uint64_t id,
                            const struct gossip_addr *to,
                            const uint8_t *buf, size_t len)
{
    struct sim_node *n = ctx;
    struct gossip_sim *s = n->sim;
    size_t dst = addr_index(to);

    s->tot.streams++;
    s->tot.stream_bytes += len;
    if (dst >= s->cfg.nodes || !reachable(s, n->index, dst)) {
        return;                 /* SYNs vanish; the core times out */
    }
    ev_push(s, (struct ev){ .at = s->now + net_delay(s),
                            .type = EV_STREAM_REQ, .node = (uint32_t)dst,
                            .from = (uint32_t)n->index,
                            .from_life = n->life, .id = id,
                            .buf = copy_buf(buf, len), .len = len });
}

static void sim_changed(void *ctx, const struct gossip_member *m,
                        enum gossip_state old, bool removed)
{
    struct sim_node *n = ctx;
    struct gossip_sim *s = n->sim;

    if (s->observer != NULL) {
        s->observer(s->observer_arg, n->index, m, old, removed, s->now);
    }
}

static const struct gossip_transport sim_transport = {
    .send_datagram = sim_send,
    .stream_open = sim_stream_open,
    .member_changed = sim_changed,
};

/* The reply to an inbound stream, captured while the core runs. */
struct reply_ctx {
    struct gossip_sim *s;
    const struct ev *req;
};

static void sim_reply(void *arg, const uint8_t *buf, size_t len)
{
    struct reply_ctx *r = arg;
    struct gossip_sim *s = r->s;

    s->tot.stream_bytes += len;
    if (!reachable(s, r->req->node, r->req->from)) {
        return;
    }
    ev_push(s, (struct ev){ .at = s->now + net_delay(s),
                            .type = EV_STREAM_REPLY, .node = r->req->from,
                            .life = r->req->from_life, .id = r->req->id,
                            .buf = copy_buf(buf, len), .len = len });
}

/* ---- nodes ---- */

static void node_boot(struct gossip_sim *s, size_t i)
{
    struct sim_node *n = &s->nodes[i];
    struct gossip_config c = s->cfg.base;
    uint64_t seed = s->cfg.seed ^ ((uint64_t)i << 20) ^
                    ((uint64_t)n->life << 48);

    c.name = n->name;
    c.gossip_addr = n->addr;
    c.client_addr = n->addr;
    c.client_addr.port = 11211;
    if (s->cfg.configure != NULL) {
        s->cfg.configure(s->cfg.configure_arg, i, &c);
    }
    n->g = gossip_create(&c, &sim_transport, n, gossip_rand_splitmix(&seed));
    if (n->g == NULL) {
        abort();
    }
    n->up = true;
    n->leaving = false;
    n->wake_at = UINT64_MAX;
    n->stalled_until = 0;
    gossip_start(n->g, s->now);
    gossip_join(n->g, s->seeds, s->cfg.nseeds, s->now);
    schedule_wake(n);
}

struct gossip_sim *gossip_sim_create(const struct gossip_sim_config *c)
{
    struct gossip_sim *s = calloc(1, sizeof(*s));
    size_t i;

    if (s == NULL || c->nodes == 0 || c->nodes > (1u << 24)) {
        free(s);
        return NULL;
    }
    s->cfg = *c;
    if (s->cfg.nseeds > c->nodes) {
        s->cfg.nseeds = c->nodes;
    }
    if (s->cfg.nseeds > GOSSIP_MAX_SEEDS) {
        s->cfg.nseeds = GOSSIP_MAX_SEEDS;
    }
    s->nodes = calloc(c->nodes, sizeof(*s->nodes));
    s->seeds = calloc(c->nodes, sizeof(*s->seeds));
    if (s->nodes == NULL || s->seeds == NULL) {
        abort();
    }
    gossip_rand_seed(&s->rng, c->seed);
    s->trace = c->seed;
    for (i = 0; i < c->nodes; i++) {
        struct sim_node *n = &s->nodes[i];

        n->sim = s;
        n->index = i;
        n->addr.family = 4;
        n->addr.ip[0] = 10;
        n->addr.ip[1] = (uint8_t)(i >> 16);
        n->addr.ip[2] = (uint8_t)(i >> 8);
        n->addr.ip[3] = (uint8_t)i;
        n->addr.port = 7946;
        n->wake_at = UINT64_MAX;
        snprintf(n->name, sizeof(n->name), "node-%zu", i);
        s->seeds[i] = n->addr;
    }
    /* Boots are events too, so they interleave with traffic. */
    for (i = 0; i < c->nodes; i++) {
        ev_push(s, (struct ev){ .at = c->start_spread_ns * i / c->nodes,
                                .type = EV_RESUME, .node = (uint32_t)i,
                                .life = UINT32_MAX });
    }
    return s;
}

void gossip_sim_destroy(struct gossip_sim **sp)
{
    struct gossip_sim *s = *sp;
    size_t i;

    if (s == NULL) {
        return;
    }
    for (i = 0; i < s->nheap; i++) {
        free(s->heap[i].buf);
    }
    for (i = 0; i < s->cfg.nodes; i++) {
        gossip_destroy(&s->nodes[i].g);
    }
    free(s->heap);
    free(s->nodes);
    free(s->seeds);
    free(s);
    *sp = NULL;
}

void gossip_sim_observe(struct gossip_sim *s, gossip_sim_observer *fn,
                        void *arg)
{
    s->observer = fn;
    s->observer_arg = arg;
}

static void node_down(struct gossip_sim *s, size_t i)
{
    struct sim_node *n = &s->nodes[i];

    gossip_destroy(&n->g);
    n->up = false;
    n->leaving = false;
    n->life++;
    n->wake_at = UINT64_MAX;
    n->stalled_until = 0;
}

/* Delivers one event to its node's core. */
static void deliver(struct gossip_sim *s, struct ev *e)
{
    struct sim_node *n = &s->nodes[e->node];
    struct reply_ctx rc = { s, e };

    switch (e->type) {
    case EV_TIMER:
        if (!n->up || e->life != n->life || e->at != n->wake_at) {
            return;
        }
        n->wake_at = UINT64_MAX;
        gossip_advance(n->g, s->now);
        break;
    case EV_RESUME:
        if (e->life == UINT32_MAX) {
            /* The initial start, unless killed or restarted before it. */
            if (!n->up && n->life == 0) {
                node_boot(s, e->node);
            }
            if (++s->booted == s->cfg.nodes) {
                s->all_booted = true;
            }
            return;
        }
        if (!n->up || e->life != n->life) {
            return;
        }
        gossip_advance(n->g, s->now);
        break;
    case EV_DGRAM:
        if (!n->up) {
            s->tot.datagrams_lost++;
            return;
        }
        gossip_on_datagram(n->g, &s->nodes[e->from].addr, e->buf, e->len,
                           s->now);
        break;
    case EV_STREAM_REQ:
        if (!n->up) {
            ev_push(s, (struct ev){ .at = s->now + net_delay(s),
                                    .type = EV_STREAM_FAIL, .node = e->from,
                                    .life = e->from_life, .id = e->id });
            return;
        }
        gossip_on_stream(n->g, &s->nodes[e->from].addr, e->buf, e->len,
                         s->now, sim_reply, &rc);
        break;
    case EV_STREAM_REPLY:
    case EV_STREAM_FAIL:
        if (!n->up || e->life != n->life) {
            return;
        }
        if (e->type == EV_STREAM_REPLY) {
            gossip_on_stream_reply(n->g, e->id, e->buf, e->len, s->now);
        } else {
            gossip_on_stream_failed(n->g, e->id, s->now);
        }
        break;
    case EV_SHUTDOWN:
        if (n->up && n->leaving && e->life == n->life) {
            if (gossip_leave_flushed(n->g) ||
                s->now >= e->id /* deadline */) {
                node_down(s, e->node);
                return;
            }
            ev_push(s, (struct ev){ .at = s->now + 100 * GOSSIP_SIM_MS,
                                    .type = EV_SHUTDOWN, .node = e->node,
                                    .life = n->life, .id = e->id });
        }
        return;
    }
    schedule_wake(n);
}

void gossip_sim_run_until(struct gossip_sim *s, uint64_t t)
{
    while (s->nheap > 0 && s->heap[0].at <= t) {
        struct ev e = ev_pop(s);
        struct sim_node *n = &s->nodes[e.node];
        uint64_t rec[4];

        s->now = e.at;
        /* A paused process: its mail waits, its timers do not run. */
        if (n->up && n->stalled_until > s->now &&
            e.type != EV_SHUTDOWN && e.life != UINT32_MAX) {
            if (e.type != EV_TIMER && e.type != EV_RESUME) {
                e.at = n->stalled_until;
                ev_push(s, e);
            }
            continue;
        }
        s->tot.events++;
        rec[0] = e.at;
        rec[1] = (uint64_t)e.type << 56 | (uint64_t)e.node << 28 | e.from;
        rec[2] = e.len;
        rec[3] = e.id;
        s->trace = XXH3_64bits_withSeed(rec, sizeof(rec), s->trace);
        deliver(s, &e);
        free(e.buf);
    }
    if (t > s->now) {
        s->now = t;
    }
}

uint64_t gossip_sim_now(const struct gossip_sim *s)
{
    return s->now;
}

void gossip_sim_kill(struct gossip_sim *s, size_t i)
{
    if (s->nodes[i].up) {
        node_down(s, i);
    } else {
        s->nodes[i].life++;     /* cancels a pending initial start */
    }
}

void gossip_sim_restart(struct gossip_sim *s, size_t i)
{
    gossip_sim_kill(s, i);
    node_boot(s, i);
}

void gossip_sim_leave(struct gossip_sim *s, size_t i)
{
    struct sim_node *n = &s->nodes[i];

    if (!n->up || n->leaving) {
        return;
    }
    n->leaving = true;
    gossip_leave(n->g, s->now);
    schedule_wake(n);
    ev_push(s, (struct ev){ .at = s->now + 100 * GOSSIP_SIM_MS,
                            .type = EV_SHUTDOWN, .node = (uint32_t)i,
                            .life = n->life,
                            .id = s->now + 5 * GOSSIP_SIM_S });
}

void gossip_sim_stall(struct gossip_sim *s, size_t i, uint64_t duration_ns)
{
    struct sim_node *n = &s->nodes[i];

    if (!n->up) {
        return;
    }
    n->stalled_until = s->now + duration_ns;
    n->wake_at = UINT64_MAX;
    /* One nanosecond after the stall: the packets that waited (queued at
     * stalled_until) are read before the overdue timers run. */
    ev_push(s, (struct ev){ .at = n->stalled_until + 1, .type = EV_RESUME,
                            .node = (uint32_t)i, .life = n->life });
}

void gossip_sim_partition(struct gossip_sim *s, const uint8_t *group)
{
    size_t i;

    for (i = 0; i < s->cfg.nodes; i++) {
        s->nodes[i].group = group[i];
    }
    s->partitioned = true;
}

void gossip_sim_block_udp(struct gossip_sim *s, size_t i, bool blocked)
{
    s->nodes[i].udp_blocked = blocked;
}

void gossip_sim_heal(struct gossip_sim *s)
{
    s->partitioned = false;
}

void gossip_sim_set_loss(struct gossip_sim *s, double loss)
{
    s->cfg.loss = loss;
}

size_t gossip_sim_size(const struct gossip_sim *s)
{
    return s->cfg.nodes;
}

bool gossip_sim_up(const struct gossip_sim *s, size_t i)
{
    return s->nodes[i].up;
}

bool gossip_sim_started(const struct gossip_sim *s)
{
    return s->all_booted;
}

bool gossip_sim_stalled(const struct gossip_sim *s, size_t i)
{
    return s->nodes[i].up && s->nodes[i].stalled_until > s->now;
}

struct gossip *gossip_sim_node(struct gossip_sim *s, size_t i)
{
    return s->nodes[i].up ? s->nodes[i].g : NULL;
}

const char *gossip_sim_name(const struct gossip_sim *s, size_t i)
{
    return s->nodes[i].name;
}

uint64_t gossip_sim_trace_hash(const struct gossip_sim *s)
{
    return s->trace;
}

void gossip_sim_totals(const struct gossip_sim *s,
                       struct gossip_sim_totals *out)
{
    *out = s->tot;
}
