/*
 * gossip_state: the member state machine, following memberlist's
 * aliveNode/suspectNode/deadNode/refute/mergeRemoteState rules, plus
 * Lifeguard's suspicion timers and the reaping of the long dead.
 *
 * Invariants:
 *   - incarnations only grow; news with an older incarnation is ignored,
 *     and alive news needs a strictly newer one (equal is old news); our
 *     own saturates at 2^32 - 1 instead of wrapping to 0, which every
 *     peer would ignore (it can only get there through forged news; it
 *     can then no longer refute, is declared dead, and comes back once
 *     its peers have reaped it);
 *   - the table holds at most cfg.max_members (self included): news about
 *     an unknown name is dropped and counted when it is full, while known
 *     members keep updating; reaping the dead makes room again. Without
 *     that cap any peer of a keyless cluster could grow it without bound;
 *   - only self raises self's incarnation (refutation), and self is never
 *     suspect or dead in its own table (it is left after gossip_leave);
 *   - a member has a running suspicion iff it is suspect; every change of
 *     state releases it, and its generation makes queued timers harmless;
 *   - every accepted change is re-broadcast, which is what makes gossip
 *     epidemic; old news is not, which is what makes it stop.
 */
#include "cluster/gossip_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

void gossip_state_notify(struct gossip *g, struct gossip_node *n,
                         enum gossip_state old)
{
    if (g->t.member_changed != NULL) {
        g->t.member_changed(g->ctx, &n->m, old, false);
    }
}

void gossip_state_set(struct gossip *g, struct gossip_node *n,
                      enum gossip_state s, uint64_t now)
{
    if (n->m.state != s) {
        g->counts[n->m.state]--;
        g->counts[s]++;
        n->m.state = (uint8_t)s;
        n->m.state_change_ns = now;
    }
}

void gossip_state_release_suspicion(struct gossip *g, struct gossip_node *n)
{
    if (n->susp != 0) {
        struct gossip_suspicion *s = &g->susp[n->susp - 1];

        s->used = false;
        s->gen++;
        s->next_free = g->susp_free;
        g->susp_free = n->susp;
        n->susp = 0;
    }
}

uint32_t gossip_state_next_incarnation(uint32_t inc)
{
    return inc == UINT32_MAX ? UINT32_MAX : inc + 1;
}

/* A free suspicion slot from the free list (O(1): a push-pull that makes
 * thousands of members suspect must not scan the slots for each). */
static struct gossip_suspicion *suspicion_get(struct gossip *g,
                                              uint32_t *slot)
{
    size_t i;

    if (g->susp_free == 0) {
        size_t n = g->nsusp ? g->nsusp * 2 : 8;
        struct gossip_suspicion *v;

        if (n > UINT32_MAX / 2) {
            return NULL;
        }
        v = realloc(g->susp, n * sizeof(*v));
        if (v == NULL) {
            return NULL;
        }
        memset(v + g->nsusp, 0, (n - g->nsusp) * sizeof(*v));
        for (i = n; i > g->nsusp; i--) {
            v[i - 1].next_free = g->susp_free;
            g->susp_free = (uint32_t)i;
        }
        g->susp = v;
        g->nsusp = n;
    }
    i = g->susp_free - 1;
    g->susp_free = g->susp[i].next_free;
    *slot = (uint32_t)i;
    g->susp[i].used = true;
    return &g->susp[i];
}

void gossip_state_alive_msg(const struct gossip *g,
                            const struct gossip_node *n,
                            struct gossip_msg *out)
{
    (void)g;
    memset(out, 0, sizeof(*out));
    out->type = GOSSIP_MSG_ALIVE;
    out->incarnation = n->m.incarnation;
    memcpy(out->node, n->m.name, sizeof(out->node));
    out->addr = n->m.gossip_addr;
    out->client_addr = n->m.client_addr;
    out->weight = n->m.weight;
    out->meta_len = n->m.meta_len;
    out->meta = n->m.meta;
}

/* Beats an accusation at incarnation accused: ours becomes accused + 1
 * (or just one more), announced as alive. Lifeguard: being accused is a
 * hint that we are the slow one, so the health score goes up. Every
 * raise of our incarnation (refuting a suspicion or death, beating an
 * earlier life's state after a restart or join) comes through here or
 * gossip_update(), and both saturate.
 *
 * accuser (NULL or our own name: unknown) also gets the refutation
 * straight away. Gossip alone reaches it only by chance: its retransmit
 * budget is a few sends to random members, and in a big or crowded table
 * the one member that matters most may draw none before its suspicion
 * times out, or, once it has declared us dead, until a push-pull happens
 * to pair us (seconds to minutes). */
static void refute(struct gossip *g, uint32_t accused, const char *accuser)
{
    struct gossip_node *me = g->self, *to;
    struct gossip_msg a;

    me->m.incarnation = gossip_state_next_incarnation(
        accused >= me->m.incarnation ? accused : me->m.incarnation);
    gossip_awareness_apply(&g->aw, 1);
    g->st.refutations++;
    gossip_state_alive_msg(g, me, &a);
    gossip_broadcast(g, &a, false);
    gossip_state_notify(g, me, (enum gossip_state)me->m.state);
    to = accuser != NULL ? gossip_members_find(&g->members, accuser) : NULL;
    if (to != NULL && to != me && (to->m.state == GOSSIP_ALIVE ||
                                   to->m.state == GOSSIP_SUSPECT)) {
        gossip_send(g, &to->m.gossip_addr, &a, NULL);
    }
}

/* Tells the accused itself, when we are the accuser (our own probe failed
 * or our own suspicion ran out), so that a member that was only slow (a
 * stall of a few hundred ms, its datagrams waiting in its socket buffer)
 * refutes before the timeout instead of hoping our gossip draws it: the
 * buddy system's ping to a suspect comes only when the probe round gets
 * back to it, which with many members is after the timeout. */
static void tell_accused(struct gossip *g, const struct gossip_node *n,
                         uint8_t type, uint32_t inc, const char *from)
{
    struct gossip_msg m;

    if (strcmp(from, g->name) != 0 || n == g->self) {
        return;
    }
    memset(&m, 0, sizeof(m));
    m.type = type;
    m.incarnation = inc;
    snprintf(m.node, sizeof(m.node), "%s", n->m.name);
    snprintf(m.from, sizeof(m.from), "%s", from);
    gossip_send(g, &n->m.gossip_addr, &m, NULL);
}

void gossip_state_alive(struct gossip *g, const struct gossip_msg *a,
                        uint64_t now)
{
    struct gossip_node *n = gossip_members_find(&g->members, a->node);
    enum gossip_state old;
    bool is_self = n != NULL && n == g->self;

    if (n == NULL) {
        if (g->members.n >= g->cfg.max_members) {
            g->st.members_refused++;
            return;
        }
        n = gossip_members_add(&g->members, a->node);
        if (n == NULL || gossip_members_set_meta(n, a->meta,
                                                 a->meta_len) != 0) {
            if (n != NULL) {
                gossip_members_remove(&g->members, n);
            }
            return;
        }
        n->m.state = GOSSIP_ALIVE;
        n->m.incarnation = a->incarnation;
        n->m.gossip_addr = a->addr;
        n->m.client_addr = a->client_addr;
        n->m.weight = a->weight;
        n->m.state_change_ns = now;
        g->counts[GOSSIP_ALIVE]++;
        /* A random place in the probe order, as memberlist does: members
         * learn of newcomers in the same order, and appending would make
         * the whole cluster probe the same member at the same moment. */
        gossip_members_swap(&g->members, n->idx,
                            (size_t)gossip_rand_below(&g->rng,
                                                      g->members.n));
        gossip_broadcast(g, a, false);
        gossip_state_notify(g, n, GOSSIP_DEAD);
        return;
    }
    if (is_self) {
        /* After a leave, an old alive about us must not revive us. Our
         * own news at our incarnation is an echo; anything else about us
         * at or above it is a previous life of this name (a restart): beat
         * it. */
        if (g->left || a->incarnation < n->m.incarnation) {
            return;
        }
        if (a->incarnation == n->m.incarnation &&
            a->meta_len == n->m.meta_len && a->weight == n->m.weight &&
            (a->meta_len == 0 || memcmp(a->meta, n->m.meta,
                                        a->meta_len) == 0) &&
            gossip_addr_equal(&a->addr, &n->m.gossip_addr) &&
            gossip_addr_equal(&a->client_addr, &n->m.client_addr)) {
            return;
        }
        /* (A restart on another client port is such a life too: its
         * members would otherwise route our keys to the old port.) */
        refute(g, a->incarnation, NULL);
        return;
    }
    /* A live member cannot move: another process claims its name. Once it
     * is dead or left, a new address is a restart elsewhere. */
    if (!gossip_addr_equal(&a->addr, &n->m.gossip_addr) &&
        (n->m.state == GOSSIP_ALIVE || n->m.state == GOSSIP_SUSPECT)) {
        return;
    }
    if (a->incarnation <= n->m.incarnation) {
        return;
    }
    if (gossip_members_set_meta(n, a->meta, a->meta_len) != 0) {
        return;
    }
    gossip_state_release_suspicion(g, n);
    gossip_broadcast(g, a, false);
    old = (enum gossip_state)n->m.state;
    n->m.incarnation = a->incarnation;
    n->m.gossip_addr = a->addr;
    n->m.client_addr = a->client_addr;
    n->m.weight = a->weight;
    gossip_state_set(g, n, GOSSIP_ALIVE, now);
    gossip_state_notify(g, n, old);
}

static void broadcast_accusation(struct gossip *g, uint8_t type, uint32_t inc,
                                 const char *node, const char *from,
                                 bool tracked)
{
    struct gossip_msg m;

    memset(&m, 0, sizeof(m));
    m.type = type;
    m.incarnation = inc;
    snprintf(m.node, sizeof(m.node), "%s", node);
    snprintf(m.from, sizeof(m.from), "%s", from);
    gossip_broadcast(g, &m, tracked);
}

/* Counts an independent confirmation; true if it was new. The timer is
 * re-armed earlier (queued timers past the new deadline then do nothing). */
static bool suspicion_confirm(struct gossip *g, uint32_t slot,
                              const char *from)
{
    struct gossip_suspicion *s = &g->susp[slot];
    uint64_t h = XXH3_64bits(from, strlen(from));
    unsigned i;

    if (s->c >= s->k) {
        return false;
    }
    for (i = 0; i <= s->c; i++) {
        if (s->from[i] == h) {
            return false;
        }
    }
    s->from[++s->c] = h;
    s->deadline_ns = s->start_ns + gossip_suspicion_timeout_ns(s->c, s->k,
                                                               s->min_ns,
                                                               s->max_ns);
    gossip_timer_add(g, s->deadline_ns, GT_SUSPICION, slot, s->gen);
    return true;
}

void gossip_state_suspect(struct gossip *g, uint32_t inc, const char *node,
                          const char *from, uint64_t now)
{
    struct gossip_node *n = gossip_members_find(&g->members, node);
    struct gossip_suspicion *s;
    size_t total;
    uint32_t slot;

    if (n == NULL || inc < n->m.incarnation) {
        return;
    }
    if (n->susp != 0) {
        /* Re-gossip only news: that lets independent confirmations reach
         * everyone even when the member was already suspect. */
        if (suspicion_confirm(g, n->susp - 1, from)) {
            broadcast_accusation(g, GOSSIP_MSG_SUSPECT, inc, node, from,
                                 false);
        }
        return;
    }
    if (n->m.state != GOSSIP_ALIVE) {
        return;
    }
    if (n == g->self) {
        if (!g->left) {
            refute(g, inc, from);
        }
        return;
    }
    s = suspicion_get(g, &slot);
    if (s == NULL) {
        return;
    }
    broadcast_accusation(g, GOSSIP_MSG_SUSPECT, inc, node, from, false);
    tell_accused(g, n, GOSSIP_MSG_SUSPECT, inc, from);
    n->m.incarnation = inc;
    gossip_state_set(g, n, GOSSIP_SUSPECT, now);
    n->susp = slot + 1;
    if (strcmp(from, g->name) == 0) {
        g->st.suspicions++;
    }

    /* Lifeguard: start near max, reach min after k confirmations; k
     * leaves out self and the suspect. */
    total = g->members.n;
    snprintf(s->name, sizeof(s->name), "%s", node);
    s->start_ns = now;
    s->k = gossip_suspicion_k(g->cfg.suspicion_mult, total);
    if (s->k > GOSSIP_SUSPICION_CONFIRM_MAX) {
        s->k = GOSSIP_SUSPICION_CONFIRM_MAX;
    }
    s->min_ns = gossip_suspicion_min_ns(g->cfg.suspicion_mult, total,
                                        g->cfg.probe_interval_ns);
    s->max_ns = g->cfg.suspicion_max_timeout_mult * s->min_ns;
    s->c = 0;
    s->from[0] = XXH3_64bits(from, strlen(from));
    s->deadline_ns = now + (s->k > 0 ? s->max_ns : s->min_ns);
    gossip_timer_add(g, s->deadline_ns, GT_SUSPICION, slot, s->gen);
    gossip_state_notify(g, n, GOSSIP_ALIVE);
}

void gossip_state_suspicion_fired(struct gossip *g, uint32_t slot,
                                  uint64_t gen, uint64_t now)
{
    struct gossip_suspicion *s;
    struct gossip_node *n;

    if (slot >= g->nsusp) {
        return;
    }
    s = &g->susp[slot];
    if (!s->used || s->gen != gen || now < s->deadline_ns) {
        return;                 /* released, or re-armed earlier/later */
    }
    n = gossip_members_find(&g->members, s->name);
    if (n == NULL || n->susp != slot + 1 || n->m.state != GOSSIP_SUSPECT) {
        return;
    }
    g->st.deaths++;
    gossip_state_dead(g, n->m.incarnation, n->m.name, g->name, now);
}

void gossip_state_dead(struct gossip *g, uint32_t inc, const char *node,
                       const char *from, uint64_t now)
{
    struct gossip_node *n = gossip_members_find(&g->members, node);
    enum gossip_state old;
    bool left = strcmp(node, from) == 0;

    if (n == NULL || inc < n->m.incarnation) {
        return;
    }
    gossip_state_release_suspicion(g, n);
    if (n->m.state == GOSSIP_DEAD || n->m.state == GOSSIP_LEFT) {
        return;
    }
    if (n == g->self) {
        if (!g->left) {
            refute(g, inc, from);
            return;
        }
        /* Our own leave: tracked so gossip_leave_flushed() can tell when
         * it has gone out. */
        broadcast_accusation(g, GOSSIP_MSG_DEAD, inc, node, from, true);
    } else {
        broadcast_accusation(g, GOSSIP_MSG_DEAD, inc, node, from, false);
        tell_accused(g, n, GOSSIP_MSG_DEAD, inc, from);
    }
    old = (enum gossip_state)n->m.state;
    n->m.incarnation = inc;
    gossip_state_set(g, n, left ? GOSSIP_LEFT : GOSSIP_DEAD, now);
    gossip_state_notify(g, n, old);
}

uint8_t *gossip_state_encode(struct gossip *g, bool join, size_t *len)
{
    /* Worst case per member: name, state, inc, two IPv6 addrs, weight,
     * full meta. */
    size_t per = 1 + GOSSIP_NAME_MAX + 1 + 4 + 19 + 19 + 2 + 1 +
                 GOSSIP_META_MAX;
    size_t count = g->members.n, cap, i;
    uint8_t *buf;
    struct gossip_wbuf w;

    /* gossip_create() clamps max_members to this, and the worst case of
     * so many fits in a stream message. */
    _Static_assert(6 + (size_t)GOSSIP_WIRE_MAX_STATES *
                           (1 + GOSSIP_NAME_MAX + 1 + 4 + 19 + 19 + 2 + 1 +
                            GOSSIP_META_MAX) <= GOSSIP_WIRE_STREAM_MAX,
                   "a full member table must fit in one push-pull");
    if (count > GOSSIP_WIRE_MAX_STATES) {
        count = GOSSIP_WIRE_MAX_STATES;  /* unreachable: defence only */
    }
    cap = 6 + count * per;
    buf = malloc(cap);
    if (buf == NULL) {
        return NULL;
    }
    gossip_wbuf_init(&w, buf, cap);
    gossip_wire_put_pp_header(&w, join, (uint32_t)count);
    for (i = 0; i < count; i++) {
        const struct gossip_node *n = g->members.v[i];
        struct gossip_wire_state s;

        memcpy(s.node, n->m.name, sizeof(s.node));
        s.state = n->m.state;
        s.incarnation = n->m.incarnation;
        s.gossip_addr = n->m.gossip_addr;
        s.client_addr = n->m.client_addr;
        s.weight = n->m.weight;
        s.meta_len = n->m.meta_len;
        s.meta = n->m.meta;
        gossip_wire_put_state(&w, &s);
    }
    if (w.overflow) {
        free(buf);
        return NULL;
    }
    *len = w.len;
    return buf;
}

void gossip_state_merge(struct gossip *g, const uint8_t *buf, size_t len,
                        uint64_t now)
{
    struct gossip_wire_cursor c;
    struct gossip_wire_state s;
    bool join;

    if (!gossip_wire_pp_begin(buf, len, &join, &c)) {
        return;
    }
    while (gossip_wire_pp_next(&c, &s)) {
        struct gossip_msg a;

        switch (s.state) {
        case GOSSIP_ALIVE:
            memset(&a, 0, sizeof(a));
            a.type = GOSSIP_MSG_ALIVE;
            a.incarnation = s.incarnation;
            memcpy(a.node, s.node, sizeof(a.node));
            a.addr = s.gossip_addr;
            a.client_addr = s.client_addr;
            a.weight = s.weight;
            a.meta_len = s.meta_len;
            a.meta = s.meta;
            gossip_state_alive(g, &a, now);
            break;
        case GOSSIP_LEFT:
            gossip_state_dead(g, s.incarnation, s.node, s.node, now);
            break;
        default:
            /* memberlist: somebody else's "dead" only makes us suspect,
             * so our own probes get a say before we agree. */
            gossip_state_suspect(g, s.incarnation, s.node, g->name, now);
            break;
        }
    }
}

void gossip_state_reap(struct gossip *g, uint64_t now)
{
    size_t i = 0;

    while (i < g->members.n) {
        struct gossip_node *n = g->members.v[i];

        if (n != g->self &&
            (n->m.state == GOSSIP_DEAD || n->m.state == GOSSIP_LEFT) &&
            now - n->m.state_change_ns >= g->cfg.dead_retention_ns) {
            if (g->t.member_changed != NULL) {
                g->t.member_changed(g->ctx, &n->m,
                                    (enum gossip_state)n->m.state, true);
            }
            g->counts[n->m.state]--;
            gossip_state_release_suspicion(g, n);
            gossip_members_remove(&g->members, n);
            continue;           /* the last member moved into slot i */
        }
        i++;
    }
}
