/*
 * gossip: the instance, its timers, and the plumbing between the wire and
 * the state machine (gossip_state.c) and the prober (gossip_probe.c).
 *
 * Timers are one binary min-heap of (deadline, insertion order): the order
 * makes runs with equal deadlines deterministic. Nothing is ever removed
 * from the heap; a timer that no longer matters (a probe that already got
 * its ack, a suspicion that was refuted) is recognised as stale when it
 * fires, by the sequence number or generation it carries. That keeps the
 * heap free of back-pointers and is cheap: each stale entry costs one pop.
 *
 * Every datagram is one message or a compound of several; outgoing
 * messages carry as many queued broadcasts as fit in max_datagram (SWIM's
 * piggybacking), and the gossip tick sends broadcasts alone to a few
 * random members, including the recently dead so that a member wrongly
 * declared dead hears of it and refutes.
 *
 * Streams (push-pull, join, re-join, the TCP-fallback ping) live in
 * gossip_sync.c.
 */
#include "cluster/gossip_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/gossip_crypto.h"

_Static_assert(GOSSIP_MAX_MEMBERS_LIMIT == GOSSIP_WIRE_MAX_STATES,
               "a full member table is one push-pull");
_Static_assert(GOSSIP_MAX_MEMBERS_DEFAULT <= GOSSIP_MAX_MEMBERS_LIMIT,
               "the default cap is within the limit");

static const char *const state_names[GOSSIP_NSTATES] = {
    "alive", "suspect", "dead", "left",
};

bool gossip_name_valid(const char *name, size_t len)
{
    size_t i;

    if (name == NULL || len == 0 || len > GOSSIP_NAME_MAX) {
        return false;
    }
    for (i = 0; i < len; i++) {
        if (name[i] <= ' ' || name[i] > '~') {
            return false;
        }
    }
    return true;
}

const char *gossip_state_name(enum gossip_state s)
{
    return (unsigned)s < GOSSIP_NSTATES ? state_names[s] : "?";
}

bool gossip_addr_equal(const struct gossip_addr *a,
                       const struct gossip_addr *b)
{
    size_t n = a->family == 6 ? 16 : 4;

    return a->family == b->family && a->port == b->port &&
           memcmp(a->ip, b->ip, n) == 0;
}

void gossip_config_defaults(struct gossip_config *c)
{
    memset(c, 0, sizeof(*c));
    c->cluster_name = "";
    c->weight = 1;
    c->probe_interval_ns = 1000000000ull;
    c->probe_timeout_ns = 500000000ull;
    c->indirect_checks = 3;
    c->gossip_interval_ns = 200000000ull;
    c->gossip_nodes = 3;
    c->gossip_to_dead_ns = 30000000000ull;
    c->push_pull_interval_ns = 30000000000ull;
    c->suspicion_mult = 4;
    c->suspicion_max_timeout_mult = 6;
    c->retransmit_mult = 4;
    c->awareness_max_multiplier = 8;
    c->stream_timeout_ns = 10000000000ull;
    c->dead_retention_ns = 60000000000ull;
    c->reap_interval_ns = 1000000000ull;
    c->rejoin_interval_ns = 30000000000ull;
    c->join_backoff_min_ns = 1000000000ull;
    c->join_backoff_max_ns = 60000000000ull;
    c->max_datagram = GOSSIP_DATAGRAM_MAX;
    c->max_members = GOSSIP_MAX_MEMBERS_DEFAULT;
}

/* ---- timers ---- */

static bool timer_before(const struct gossip_timer *a,
                         const struct gossip_timer *b)
{
    return a->at != b->at ? a->at < b->at : a->order < b->order;
}

void gossip_timer_add(struct gossip *g, uint64_t at, enum gossip_timer_kind k,
                      uint32_t a, uint64_t b)
{
    struct gossip_timer t = { at, ++g->timer_order, (uint32_t)k, a, b };
    size_t i;

    if (g->nheap == g->capheap) {
        size_t cap = g->capheap ? g->capheap * 2 : 32;
        struct gossip_timer *h = realloc(g->heap, cap * sizeof(*h));

        if (h == NULL) {
            return;             /* the periodic timers re-arm themselves */
        }
        g->heap = h;
        g->capheap = cap;
    }
    i = g->nheap++;
    while (i > 0 && timer_before(&t, &g->heap[(i - 1) / 2])) {
        g->heap[i] = g->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    g->heap[i] = t;
}

static struct gossip_timer timer_pop(struct gossip *g)
{
    struct gossip_timer top = g->heap[0], last = g->heap[--g->nheap];
    size_t i = 0;

    for (;;) {
        size_t c = 2 * i + 1;

        if (c >= g->nheap) {
            break;
        }
        if (c + 1 < g->nheap && timer_before(&g->heap[c + 1], &g->heap[c])) {
            c++;
        }
        if (!timer_before(&g->heap[c], &last)) {
            break;
        }
        g->heap[i] = g->heap[c];
        i = c;
    }
    if (g->nheap > 0) {
        g->heap[i] = last;
    }
    return top;
}

uint64_t gossip_next_deadline(const struct gossip *g)
{
    return g->nheap > 0 ? g->heap[0].at : UINT64_MAX;
}

/* A uniformly random delay in [0, span): staggers periodic work so a
 * cluster started at once does not tick in lockstep. */
uint64_t gossip_jitter(struct gossip *g, uint64_t span)
{
    return span > 0 ? gossip_rand_below(&g->rng, span) : 0;
}

/* ---- output ---- */

static void send_body(struct gossip *g, const struct gossip_addr *to,
                      const uint8_t *body, size_t len, size_t nmsgs)
{
    uint8_t out[GOSSIP_DATAGRAM_MAX + GOSSIP_ENVELOPE_SEALED];
    size_t n = gossip_seal(g->cfg.keyring, g->cluster, body, len, out,
                           sizeof(out));

    if (n == 0) {
        return;
    }
    g->st.packets_out++;
    g->st.msgs_out += nmsgs;
    g->st.bytes_out += n;
    g->t.send_datagram(g->ctx, to, out, n);
}

size_t gossip_body_cap(const struct gossip *g)
{
    size_t max = g->cfg.max_datagram;

    if (max > GOSSIP_DATAGRAM_MAX) {
        max = GOSSIP_DATAGRAM_MAX;
    }
    return max - gossip_envelope_overhead(g->cfg.keyring);
}

static unsigned retransmit_limit(const struct gossip *g)
{
    return gossip_retransmit_limit(g->cfg.retransmit_mult, g->members.n);
}

void gossip_send(struct gossip *g, const struct gossip_addr *to,
                 const struct gossip_msg *m, const struct gossip_msg *extra)
{
    uint8_t body[GOSSIP_DATAGRAM_MAX];
    size_t cap = gossip_body_cap(g), nparts = 0, off;
    struct gossip_wbuf w;
    const struct gossip_msg *msgs[2] = { m, extra };
    int i;

    gossip_wbuf_init(&w, body, cap);
    body[0] = GOSSIP_MSG_COMPOUND;
    w.len = GOSSIP_WIRE_COMPOUND_HDR;
    for (i = 0; i < 2 && msgs[i] != NULL; i++) {
        off = w.len;
        w.len += GOSSIP_WIRE_PART_HDR;
        if (!gossip_wire_put_msg(&w, msgs[i])) {
            return;
        }
        body[off] = (uint8_t)((w.len - off - 2) >> 8);
        body[off + 1] = (uint8_t)(w.len - off - 2);
        nparts++;
    }
    nparts += gossip_bqueue_take(&g->bq, &w, cap - w.len,
                                 GOSSIP_WIRE_MAX_PARTS - nparts,
                                 retransmit_limit(g));
    if (nparts == 1) {
        /* Nothing to piggyback: send the bare message. */
        send_body(g, to, body + 4, w.len - 4, 1);
        return;
    }
    body[1] = (uint8_t)nparts;
    send_body(g, to, body, w.len, nparts);
}

void gossip_broadcast(struct gossip *g, const struct gossip_msg *m,
                      bool tracked)
{
    uint8_t buf[GOSSIP_DATAGRAM_MAX];
    struct gossip_wbuf w;

    gossip_wbuf_init(&w, buf, sizeof(buf));
    if (gossip_wire_put_msg(&w, m)) {
        gossip_bqueue_push(&g->bq, m->node, buf, w.len, tracked);
    }
}

size_t gossip_random_members(struct gossip *g, size_t k,
                             bool (*keep)(struct gossip *g,
                                          const struct gossip_node *n,
                                          const void *arg, uint64_t now),
                             const void *arg, uint64_t now,
                             struct gossip_node **out)
{
    size_t got = 0, tries, j, n = g->members.n;

    /* memberlist's kRandomNodes: 3n random picks, no repeats. */
    for (tries = 0; tries < 3 * n && got < k; tries++) {
        struct gossip_node *c = g->members.v[gossip_rand_below(&g->rng, n)];

        if (!keep(g, c, arg, now)) {
            continue;
        }
        for (j = 0; j < got && out[j] != c; j++) {
        }
        if (j == got) {
            out[got++] = c;
        }
    }
    return got;
}

/* ---- lifecycle ---- */

struct gossip *gossip_create(const struct gossip_config *cfg,
                             const struct gossip_transport *t, void *ctx,
                             uint64_t seed)
{
    struct gossip *g;
    size_t nlen = cfg->name ? strlen(cfg->name) : 0;

    if (!gossip_name_valid(cfg->name, nlen) || cfg->cluster_name == NULL ||
        strlen(cfg->cluster_name) > GOSSIP_CLUSTER_NAME_MAX ||
        cfg->meta_len > GOSSIP_META_MAX || t->send_datagram == NULL ||
        cfg->max_datagram < 256 ||
        (cfg->gossip_addr.family != 4 && cfg->gossip_addr.family != 6) ||
        (cfg->client_addr.family != 4 && cfg->client_addr.family != 6)) {
        return NULL;
    }
    g = calloc(1, sizeof(*g));
    if (g == NULL) {
        return NULL;
    }
    g->cfg = *cfg;
    memcpy(g->name, cfg->name, nlen + 1);
    snprintf(g->cluster, sizeof(g->cluster), "%s", cfg->cluster_name);
    g->cfg.name = g->name;
    g->cfg.cluster_name = g->cluster;
    g->cfg.meta = NULL;         /* lives in self's node */
    if (g->cfg.max_members == 0) {
        g->cfg.max_members = GOSSIP_MAX_MEMBERS_DEFAULT;
    } else if (g->cfg.max_members > GOSSIP_MAX_MEMBERS_LIMIT) {
        g->cfg.max_members = GOSSIP_MAX_MEMBERS_LIMIT;
    }
    g->t = *t;
    g->ctx = ctx;
    gossip_rand_seed(&g->rng, seed);
    /* The epoch of this life: the caller seeds from a real random source
     * (the daemon: RAND_bytes), so every life has its own seq space. */
    g->next_seq = gossip_rand_next(&g->rng);
    gossip_bqueue_init(&g->bq);
    gossip_awareness_init(&g->aw, cfg->awareness_max_multiplier);
    if (gossip_members_init(&g->members) != 0) {
        free(g);
        return NULL;
    }
    g->self = gossip_members_add(&g->members, g->name);
    if (g->self == NULL ||
        gossip_members_set_meta(g->self, cfg->meta, cfg->meta_len) != 0) {
        gossip_destroy(&g);
        return NULL;
    }
    /* memberlist starts at 1: 0 means "never heard of" nowhere, but a
     * restart must beat whatever others remember, which refutation does. */
    g->self->m.incarnation = 1;
    g->self->m.gossip_addr = cfg->gossip_addr;
    g->self->m.client_addr = cfg->client_addr;
    g->self->m.weight = cfg->weight;
    g->counts[GOSSIP_ALIVE] = 1;
    return g;
}

void gossip_destroy(struct gossip **gp)
{
    struct gossip *g = *gp;

    if (g == NULL) {
        return;
    }
    gossip_members_deinit(&g->members);
    gossip_bqueue_deinit(&g->bq);
    free(g->heap);
    free(g->susp);
    free(g);
    *gp = NULL;
}

void gossip_start(struct gossip *g, uint64_t now)
{
    struct gossip_msg a;

    if (g->started) {
        return;
    }
    g->started = true;
    g->self->m.state_change_ns = now;
    gossip_state_alive_msg(g, g->self, &a);
    gossip_broadcast(g, &a, false);
    gossip_state_notify(g, g->self, GOSSIP_DEAD);
    gossip_timer_add(g, now + gossip_jitter(g, g->cfg.probe_interval_ns),
                     GT_PROBE, 0, 0);
    gossip_timer_add(g, now + gossip_jitter(g, g->cfg.gossip_interval_ns),
                     GT_GOSSIP, 0, 0);
    gossip_timer_add(g, now + gossip_jitter(g, g->cfg.push_pull_interval_ns),
                     GT_PUSH_PULL, 0, 0);
    gossip_timer_add(g, now + g->cfg.reap_interval_ns, GT_REAP, 0, 0);
    if (g->cfg.rejoin_interval_ns > 0) {
        gossip_timer_add(g, now + g->cfg.rejoin_interval_ns +
                                gossip_jitter(g, g->cfg.rejoin_interval_ns),
                         GT_REJOIN, 0, 0);
    }
}

void gossip_leave(struct gossip *g, uint64_t now)
{
    if (g->left) {
        return;
    }
    g->left = true;
    g->probe.active = false;
    gossip_state_dead(g, g->self->m.incarnation, g->name, g->name, now);
}

bool gossip_leave_flushed(const struct gossip *g)
{
    size_t others = g->members.n - g->counts[GOSSIP_DEAD] -
                    g->counts[GOSSIP_LEFT];

    /* Nobody else alive to tell: nothing to wait for. */
    return g->left && (g->bq.tracked == 0 || others == 0);
}

int gossip_update(struct gossip *g, const uint8_t *meta, size_t meta_len,
                  uint16_t weight, uint64_t now)
{
    struct gossip_msg a;

    (void)now;
    if (g->left || g->self->m.incarnation == UINT32_MAX ||
        gossip_members_set_meta(g->self, meta, meta_len) != 0) {
        return -1;
    }
    g->self->m.weight = weight;
    g->self->m.incarnation =
        gossip_state_next_incarnation(g->self->m.incarnation);
    gossip_state_alive_msg(g, g->self, &a);
    gossip_broadcast(g, &a, false);
    gossip_state_notify(g, g->self, GOSSIP_ALIVE);
    return 0;
}

/* ---- periodic work ---- */

static bool gossip_target(struct gossip *g, const struct gossip_node *n,
                          const void *arg, uint64_t now)
{
    (void)arg;
    if (n == g->self) {
        return false;
    }
    if (n->m.state == GOSSIP_DEAD || n->m.state == GOSSIP_LEFT) {
        return now - n->m.state_change_ns <= g->cfg.gossip_to_dead_ns;
    }
    return true;
}

static void gossip_tick(struct gossip *g, uint64_t now)
{
    struct gossip_node *to[16];
    size_t k = g->cfg.gossip_nodes < 16 ? g->cfg.gossip_nodes : 16, i, got;
    size_t cap = gossip_body_cap(g);
    uint8_t body[GOSSIP_DATAGRAM_MAX];

    gossip_timer_add(g, now + g->cfg.gossip_interval_ns, GT_GOSSIP, 0, 0);
    if (g->bq.n == 0) {
        return;
    }
    got = gossip_random_members(g, k, gossip_target, NULL, now, to);
    for (i = 0; i < got && g->bq.n > 0; i++) {
        struct gossip_wbuf w;
        size_t n;

        gossip_wbuf_init(&w, body, cap);
        body[0] = GOSSIP_MSG_COMPOUND;
        w.len = GOSSIP_WIRE_COMPOUND_HDR;
        n = gossip_bqueue_take(&g->bq, &w, cap - w.len,
                               GOSSIP_WIRE_MAX_PARTS, retransmit_limit(g));
        if (n == 0) {
            break;
        }
        body[1] = (uint8_t)n;
        send_body(g, &to[i]->m.gossip_addr, body, w.len, n);
    }
}

void gossip_advance(struct gossip *g, uint64_t now)
{
    while (g->nheap > 0 && g->heap[0].at <= now) {
        struct gossip_timer t = timer_pop(g);

        switch ((enum gossip_timer_kind)t.kind) {
        case GT_PROBE:
            gossip_probe_tick(g, now);
            break;
        case GT_PROBE_TIMEOUT:
            gossip_probe_timeout(g, t.b, now);
            break;
        case GT_PROBE_END:
            gossip_probe_end(g, t.b, now);
            break;
        case GT_GOSSIP:
            gossip_tick(g, now);
            break;
        case GT_PUSH_PULL:
            gossip_sync_push_pull_tick(g, now);
            break;
        case GT_REAP:
            gossip_timer_add(g, now + g->cfg.reap_interval_ns, GT_REAP, 0, 0);
            gossip_state_reap(g, now);
            break;
        case GT_REJOIN:
            gossip_sync_rejoin_tick(g, now);
            break;
        case GT_JOIN_RETRY:
            gossip_sync_join_retry(g, t.b, now);
            break;
        case GT_SUSPICION:
            gossip_state_suspicion_fired(g, t.a, t.b, now);
            break;
        case GT_RELAY:
            gossip_probe_relay_expired(g, t.a, t.b);
            break;
        case GT_STREAM:
            gossip_sync_stream_timeout(g, t.a, t.b, now);
            break;
        }
    }
}

/* ---- input ---- */

/* Opens an envelope, counting why one was refused. *scratch is malloc'd
 * for sealed messages; the caller frees it. */
bool gossip_open_envelope(struct gossip *g, const uint8_t *buf, size_t len,
                          uint8_t **scratch, const uint8_t **body,
                          size_t *blen)
{
    enum gossip_open_status st;

    *scratch = NULL;
    if (g->cfg.keyring != NULL && len >= GOSSIP_ENVELOPE_SEALED) {
        *scratch = malloc(len);
        if (*scratch == NULL) {
            return false;
        }
    }
    st = gossip_open(g->cfg.keyring, g->cluster, buf, len, *scratch,
                     *scratch ? len : 0, body, blen);
    switch (st) {
    case GOSSIP_OPEN_OK:
        return true;
    case GOSSIP_OPEN_WRONG_CLUSTER:
        g->st.wrong_cluster++;
        break;
    case GOSSIP_OPEN_AUTH:
    case GOSSIP_OPEN_UNSEALED:
    case GOSSIP_OPEN_NO_KEY:
        g->st.auth_failures++;
        break;
    default:
        g->st.decode_errors++;
        break;
    }
    free(*scratch);
    *scratch = NULL;
    return false;
}

static void handle_msg(struct gossip *g, const struct gossip_addr *from,
                       const struct gossip_msg *m, uint64_t now)
{
    switch (m->type) {
    case GOSSIP_MSG_PING:
        gossip_probe_on_ping(g, from, m);
        break;
    case GOSSIP_MSG_PING_REQ:
        gossip_probe_on_ping_req(g, from, m, now);
        break;
    case GOSSIP_MSG_ACK:
        gossip_probe_on_ack(g, m, now);
        break;
    case GOSSIP_MSG_NACK:
        gossip_probe_on_nack(g, m);
        break;
    case GOSSIP_MSG_ALIVE:
        gossip_state_alive(g, m, now);
        break;
    case GOSSIP_MSG_SUSPECT:
        gossip_state_suspect(g, m->incarnation, m->node, m->from, now);
        break;
    case GOSSIP_MSG_DEAD:
        gossip_state_dead(g, m->incarnation, m->node, m->from, now);
        break;
    default:
        break;
    }
}

void gossip_on_datagram(struct gossip *g, const struct gossip_addr *from,
                        const uint8_t *buf, size_t len, uint64_t now)
{
    const uint8_t *parts[GOSSIP_WIRE_MAX_PARTS], *body;
    size_t lens[GOSSIP_WIRE_MAX_PARTS], blen;
    uint8_t *scratch;
    int n, i;

    g->st.packets_in++;
    g->st.bytes_in += len;
    if (!g->started ||
        !gossip_open_envelope(g, buf, len, &scratch, &body, &blen)) {
        return;
    }
    n = gossip_wire_split(body, blen, parts, lens);
    if (n < 0) {
        g->st.decode_errors++;
    }
    for (i = 0; i < n; i++) {
        struct gossip_msg m;

        if (!gossip_wire_decode(parts[i], lens[i], &m)) {
            g->st.decode_errors++;
            continue;
        }
        g->st.msgs_in++;
        handle_msg(g, from, &m, now);
    }
    free(scratch);
}

/* ---- the view ---- */

size_t gossip_member_count(const struct gossip *g)
{
    return g->members.n;
}

const struct gossip_member *gossip_member_at(const struct gossip *g, size_t i)
{
    return i < g->members.n ? &g->members.v[i]->m : NULL;
}

const struct gossip_member *gossip_member_find(const struct gossip *g,
                                               const char *name)
{
    const struct gossip_node *n = gossip_members_find(&g->members, name);

    return n ? &n->m : NULL;
}

const struct gossip_member *gossip_self(const struct gossip *g)
{
    return &g->self->m;
}

void gossip_get_stats(const struct gossip *g, struct gossip_stats *out)
{
    int i;

    *out = g->st;
    for (i = 0; i < GOSSIP_NSTATES; i++) {
        out->members[i] = g->counts[i];
    }
    out->awareness = g->aw.score;
}
