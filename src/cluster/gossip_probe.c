/*
 * gossip_probe: SWIM failure detection with Lifeguard's awareness.
 *
 * One probe at a time, targets taken in a shuffled round-robin (every
 * member is probed once per round; the order is reshuffled each round, as
 * memberlist does), so a failed member is found within one round at worst
 * and after about one interval on average.
 *
 *   t0                  ping (plus a suspect message if the target is
 *                       suspect, so it learns it must refute)
 *   t0 + probe_timeout  no ack: ping-req to k random alive members, who
 *                       ping the target for us and answer ack or nack;
 *                       and a ping over TCP (the stream callback)
 *   t0 + interval'      no ack from anyone: suspect the target
 *
 * interval' is the probe interval stretched by the awareness score; the
 * direct timeout is not stretched (waiting longer does not bring a lost
 * UDP packet back, memberlist's reasoning). Awareness afterwards: -1 on
 * any ack; on failure +1 per expected nack that did not come (a relay that
 * cannot even nack us points at our own network), or +1 when no relay
 * could be asked.
 *
 * Which acks count (replay): an ack or nack counts only if it carries the
 * seq of the probe in flight and names its target; a relay forwards an
 * ack only if it names the member the relay pinged. Sequence numbers are
 * 64-bit and start at a random point in every life of a node
 * (gossip_create), so neither a recorded ack from an earlier life of this
 * node, nor one that the target or anybody else sent to another prober,
 * matches: under a cluster key that leaves an attacker nothing to
 * replay. (The target's name inside the sealed ack says who answered
 * better than the datagram's source address, which NAT or a wildcard
 * bind can change and which UDP lets anyone forge; without a key
 * nothing is authenticated anyway.)
 */
#include "cluster/gossip_internal.h"

#include <stdio.h>
#include <string.h>

static bool probe_candidate(const struct gossip *g,
                            const struct gossip_node *n)
{
    return n != g->self && (n->m.state == GOSSIP_ALIVE ||
                            n->m.state == GOSSIP_SUSPECT);
}

/* The next member in the round, reshuffling at the end of a round. */
static struct gossip_node *next_target(struct gossip *g)
{
    size_t checked;

    for (checked = 0; checked <= g->members.n; checked++) {
        if (g->probe_index >= g->members.n) {
            gossip_members_shuffle(&g->members, &g->rng);
            g->probe_index = 0;
        }
        struct gossip_node *n = g->members.v[g->probe_index++];
        if (probe_candidate(g, n)) {
            return n;
        }
    }
    return NULL;
}

static void awareness_done(struct gossip *g, int delta)
{
    gossip_awareness_apply(&g->aw, delta);
    g->st.awareness = g->aw.score;
}

void gossip_probe_tick(struct gossip *g, uint64_t now)
{
    uint64_t interval = gossip_awareness_scale(&g->aw,
                                               g->cfg.probe_interval_ns);
    struct gossip_node *n;
    struct gossip_msg ping, sus;

    /* The next tick comes no earlier than this probe's end, so a probe
     * always runs its full (stretched) interval. */
    gossip_timer_add(g, now + interval, GT_PROBE, 0, 0);
    if (g->left || g->probe.active) {
        return;
    }
    n = next_target(g);
    if (n == NULL) {
        return;
    }
    memset(&g->probe, 0, sizeof(g->probe));
    g->probe.active = true;
    g->probe.seq = ++g->next_seq;
    g->probe.start_ns = now;
    memcpy(g->probe.target, n->m.name, sizeof(g->probe.target));
    g->st.probes++;

    memset(&ping, 0, sizeof(ping));
    ping.type = GOSSIP_MSG_PING;
    ping.seq = g->probe.seq;
    memcpy(ping.node, n->m.name, sizeof(ping.node));
    if (n->m.state == GOSSIP_SUSPECT) {
        memset(&sus, 0, sizeof(sus));
        sus.type = GOSSIP_MSG_SUSPECT;
        sus.incarnation = n->m.incarnation;
        memcpy(sus.node, n->m.name, sizeof(sus.node));
        snprintf(sus.from, sizeof(sus.from), "%s", g->name);
        gossip_send(g, &n->m.gossip_addr, &ping, &sus);
    } else {
        gossip_send(g, &n->m.gossip_addr, &ping, NULL);
    }
    gossip_timer_add(g, now + g->cfg.probe_timeout_ns, GT_PROBE_TIMEOUT, 0,
                     g->probe.seq);
    gossip_timer_add(g, now + interval, GT_PROBE_END, 0, g->probe.seq);
}

static bool relay_candidate(struct gossip *g, const struct gossip_node *n,
                            const void *arg, uint64_t now)
{
    (void)now;
    return n != g->self && n->m.state == GOSSIP_ALIVE &&
           strcmp(n->m.name, (const char *)arg) != 0;
}

void gossip_probe_timeout(struct gossip *g, uint64_t seq, uint64_t now)
{
    struct gossip_node *relays[16], *target;
    size_t k = g->cfg.indirect_checks, i, got;
    struct gossip_msg req, ping;
    uint8_t body[9 + 1 + GOSSIP_NAME_MAX];
    struct gossip_wbuf w;

    if (!g->probe.active || g->probe.seq != seq || g->probe.acked) {
        return;
    }
    target = gossip_members_find(&g->members, g->probe.target);
    if (target == NULL) {
        g->probe.active = false;
        return;
    }
    if (k > 16) {
        k = 16;
    }
    got = gossip_random_members(g, k, relay_candidate, target->m.name, now,
                                relays);
    memset(&req, 0, sizeof(req));
    req.type = GOSSIP_MSG_PING_REQ;
    req.seq = seq;
    req.want_nack = true;
    memcpy(req.node, target->m.name, sizeof(req.node));
    req.addr = target->m.gossip_addr;
    for (i = 0; i < got; i++) {
        gossip_send(g, &relays[i]->m.gossip_addr, &req, NULL);
        g->st.indirect_probes++;
    }
    g->probe.expected_nacks = (unsigned)got;

    /* TCP fallback: a node cut off from UDP but reachable over TCP is
     * not dead; the stream times out at the end of the probe. */
    memset(&ping, 0, sizeof(ping));
    ping.type = GOSSIP_MSG_PING;
    ping.seq = seq;
    memcpy(ping.node, target->m.name, sizeof(ping.node));
    gossip_wbuf_init(&w, body, sizeof(body));
    if (gossip_wire_put_msg(&w, &ping)) {
        uint64_t end = g->probe.start_ns +
                       gossip_awareness_scale(&g->aw,
                                              g->cfg.probe_interval_ns);

        if (gossip_stream_start(g, &target->m.gossip_addr, GS_FALLBACK_PING,
                                seq, body, w.len, end) != 0) {
            g->st.fallback_probes++;
        }
    }
}

void gossip_probe_end(struct gossip *g, uint64_t seq, uint64_t now)
{
    struct gossip_node *n;
    int delta;

    if (!g->probe.active || g->probe.seq != seq) {
        return;
    }
    g->probe.active = false;
    if (g->probe.acked || g->probe.fallback_ok) {
        awareness_done(g, -1);
        return;
    }
    if (g->probe.expected_nacks > 0) {
        delta = (int)(g->probe.expected_nacks -
                      (g->probe.nacks < g->probe.expected_nacks
                           ? g->probe.nacks
                           : g->probe.expected_nacks));
    } else {
        delta = 1;
    }
    awareness_done(g, delta);
    n = gossip_members_find(&g->members, g->probe.target);
    if (n == NULL || n == g->self) {
        return;
    }
    g->st.probe_failures++;
    gossip_state_suspect(g, n->m.incarnation, n->m.name, g->name, now);
}

void gossip_probe_on_ping(struct gossip *g, const struct gossip_addr *from,
                          const struct gossip_msg *m)
{
    struct gossip_msg ack;

    /* A ping for a name that is not ours went to a reused address:
     * acking it would keep a dead member alive. */
    if (strcmp(m->node, g->name) != 0) {
        return;
    }
    memset(&ack, 0, sizeof(ack));
    ack.type = GOSSIP_MSG_ACK;
    ack.seq = m->seq;
    memcpy(ack.node, g->name, sizeof(ack.node));
    gossip_send(g, from, &ack, NULL);
}

void gossip_probe_on_ping_req(struct gossip *g,
                              const struct gossip_addr *from,
                              const struct gossip_msg *m, uint64_t now)
{
    struct gossip_relay *r = NULL;
    struct gossip_msg ping;
    size_t i;

    for (i = 0; i < GOSSIP_RELAYS; i++) {
        if (!g->relays[i].used) {
            r = &g->relays[i];
            break;
        }
    }
    if (r == NULL) {
        return;                 /* too many at once: the prober will cope */
    }
    r->used = true;
    r->want_nack = m->want_nack;
    r->seq = ++g->next_seq;
    r->orig_seq = m->seq;
    r->orig = *from;
    memcpy(r->target, m->node, sizeof(r->target));
    memset(&ping, 0, sizeof(ping));
    ping.type = GOSSIP_MSG_PING;
    ping.seq = r->seq;
    memcpy(ping.node, m->node, sizeof(ping.node));
    gossip_send(g, &m->addr, &ping, NULL);
    /* Nack at 80% of the probe timeout, as the Lifeguard paper does (not
     * memberlist, which waits the full timeout): the requester sent the
     * ping-req one probe timeout into its interval, so a nack after a full
     * second timeout arrives after it has already given up and is never
     * counted, and every failed probe would then look like our fault. */
    gossip_timer_add(g, now + g->cfg.probe_timeout_ns * 4 / 5, GT_RELAY,
                     (uint32_t)(r - g->relays), r->seq);
}

void gossip_probe_relay_expired(struct gossip *g, uint32_t slot,
                                uint64_t seq)
{
    struct gossip_relay *r;
    struct gossip_msg nack;

    if (slot >= GOSSIP_RELAYS) {
        return;
    }
    r = &g->relays[slot];
    if (!r->used || r->seq != seq) {
        return;
    }
    r->used = false;
    if (r->want_nack) {
        memset(&nack, 0, sizeof(nack));
        nack.type = GOSSIP_MSG_NACK;
        nack.seq = r->orig_seq;
        memcpy(nack.node, r->target, sizeof(nack.node));
        gossip_send(g, &r->orig, &nack, NULL);
    }
}

void gossip_probe_on_ack(struct gossip *g, const struct gossip_msg *m,
                         uint64_t now)
{
    size_t i;

    (void)now;
    if (g->probe.active && g->probe.seq == m->seq &&
        strcmp(g->probe.target, m->node) == 0) {
        /* Direct or relayed, the target lives: the probe is done. */
        g->probe.acked = true;
        g->probe.active = false;
        awareness_done(g, -1);
        return;
    }
    for (i = 0; i < GOSSIP_RELAYS; i++) {
        struct gossip_relay *r = &g->relays[i];

        if (r->used && r->seq == m->seq && strcmp(r->target, m->node) == 0) {
            struct gossip_msg ack;

            r->used = false;
            memset(&ack, 0, sizeof(ack));
            ack.type = GOSSIP_MSG_ACK;
            ack.seq = r->orig_seq;
            memcpy(ack.node, r->target, sizeof(ack.node));
            gossip_send(g, &r->orig, &ack, NULL);
            return;
        }
    }
}

void gossip_probe_on_nack(struct gossip *g, const struct gossip_msg *m)
{
    if (g->probe.active && g->probe.seq == m->seq &&
        strcmp(g->probe.target, m->node) == 0) {
        g->probe.nacks++;
    }
}

void gossip_probe_fallback_done(struct gossip *g, uint64_t seq,
                                const char *node, bool ok)
{
    if (ok && g->probe.active && g->probe.seq == seq &&
        strcmp(g->probe.target, node) == 0) {
        g->probe.fallback_ok = true;
    }
}
