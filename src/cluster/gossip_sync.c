/*
 * gossip_sync: anti-entropy and joining, everything that travels over the
 * reliable stream (TCP): push-pull of the full state, join with backoff,
 * re-join to seeds, the TCP-fallback ping's reply, and the bookkeeping of
 * streams this node opened.
 *
 * Push-pull: the initiator sends its whole member table, the peer answers
 * with its own (as it was before merging) and merges; the initiator merges
 * the answer. A peer's "dead" is merged as "suspect" (memberlist's rule),
 * so a stale or malicious full state cannot kill a live member outright.
 *
 * Joining is a push-pull with every seed; a round with no answer is
 * retried with exponential backoff and jitter. Re-join: every
 * rejoin_interval, push-pull with one seed that we cannot see alive. A
 * partition longer than dead_retention makes both sides forget each
 * other, after which no gossip crosses over again; but the side without a
 * seed in view keeps re-joining and, when the network heals, that one
 * push-pull merges the views (memberlist leaves this to the application).
 * In steady state every seed is in view and re-join sends nothing.
 *
 * Reconnect: each push-pull round also tries one member that is dead but
 * not yet forgotten (Serf's reconnect). Otherwise a partition that heals
 * within dead_retention is only noticed by gossip to the dead, which
 * carries something only while a broadcast is pending, or by the next
 * re-join, up to 1.5 rejoin intervals later; with nothing dead it sends
 * nothing, and a really dead member costs one failed connect per round.
 */
#include "cluster/gossip_internal.h"

#include <stdlib.h>
#include <string.h>

#include "cluster/gossip_crypto.h"

uint64_t gossip_stream_start(struct gossip *g, const struct gossip_addr *to,
                             enum gossip_stream_kind kind, uint64_t round,
                             const uint8_t *body, size_t len,
                             uint64_t timeout_at)
{
    struct gossip_stream *s = NULL;
    size_t i, n, cap = len + GOSSIP_ENVELOPE_SEALED;
    uint8_t *out;

    for (i = 0; i < GOSSIP_STREAMS; i++) {
        if (!g->streams[i].used) {
            s = &g->streams[i];
            break;
        }
    }
    if (s == NULL || g->t.stream_open == NULL) {
        return 0;
    }
    out = malloc(cap);
    if (out == NULL) {
        return 0;
    }
    n = gossip_seal(g->cfg.keyring, g->cluster, body, len, out, cap);
    if (n == 0) {
        free(out);
        return 0;
    }
    s->used = true;
    s->kind = (uint8_t)kind;
    s->id = ++g->next_stream_id;
    s->round = round;
    gossip_timer_add(g, timeout_at, GT_STREAM, (uint32_t)i, s->id);
    g->st.streams_out++;
    g->st.bytes_out += n;
    g->t.stream_open(g->ctx, s->id, to, out, n);
    free(out);
    return s->id;
}

static void push_pull_with(struct gossip *g, const struct gossip_addr *to,
                           enum gossip_stream_kind kind, uint64_t round,
                           uint64_t now)
{
    size_t len;
    uint8_t *body = gossip_state_encode(g, kind == GS_JOIN, &len);

    if (body == NULL) {
        return;
    }
    gossip_stream_start(g, to, kind, round, body, len,
                        now + g->cfg.stream_timeout_ns);
    free(body);
}

static void join_round(struct gossip *g, uint64_t now)
{
    size_t i;

    g->join_round++;
    g->join_outstanding = 0;
    g->join_ok = false;
    g->st.join_attempts++;
    for (i = 0; i < g->nseeds; i++) {
        size_t before = g->st.streams_out;

        push_pull_with(g, &g->seeds[i], GS_JOIN, g->join_round, now);
        if (g->st.streams_out != before) {
            g->join_outstanding++;
        }
    }
    if (g->join_outstanding == 0) {
        uint64_t wait = g->cfg.join_backoff_min_ns;

        gossip_timer_add(g, now + wait, GT_JOIN_RETRY, 0, g->join_round);
    }
}

size_t gossip_join(struct gossip *g, const struct gossip_addr *seeds,
                   size_t nseeds, uint64_t now)
{
    size_t i;

    g->nseeds = 0;
    for (i = 0; i < nseeds && g->nseeds < GOSSIP_MAX_SEEDS; i++) {
        if (!gossip_addr_equal(&seeds[i], &g->cfg.gossip_addr)) {
            g->seeds[g->nseeds++] = seeds[i];
        }
    }
    g->join_attempt = 0;
    if (g->nseeds > 0) {
        join_round(g, now);
    }
    return g->nseeds;
}

/* One join stream finished; when the whole round failed, back off. */
static void join_stream_done(struct gossip *g, uint64_t round, bool ok,
                             uint64_t now)
{
    uint64_t wait;
    unsigned shift;

    if (round != g->join_round || g->join_outstanding == 0) {
        return;
    }
    g->join_outstanding--;
    if (ok) {
        g->join_ok = true;
    }
    if (g->join_outstanding > 0 || g->join_ok) {
        return;
    }
    shift = g->join_attempt < 16 ? g->join_attempt : 16;
    g->join_attempt++;
    wait = g->cfg.join_backoff_min_ns << shift;
    if (wait > g->cfg.join_backoff_max_ns || wait == 0) {
        wait = g->cfg.join_backoff_max_ns;
    }
    gossip_timer_add(g, now + wait / 2 + gossip_jitter(g, wait / 2 + 1),
                     GT_JOIN_RETRY, 0, g->join_round);
}

static bool alive_other(struct gossip *g, const struct gossip_node *n,
                        const void *arg, uint64_t now)
{
    (void)arg;
    (void)now;
    return n != g->self && n->m.state == GOSSIP_ALIVE;
}

static bool dead_other(struct gossip *g, const struct gossip_node *n,
                       const void *arg, uint64_t now)
{
    (void)arg;
    (void)now;
    return n != g->self && n->m.state == GOSSIP_DEAD;
}

void gossip_sync_push_pull_tick(struct gossip *g, uint64_t now)
{
    struct gossip_node *peer;

    gossip_timer_add(g, now + gossip_push_pull_interval_ns(
                                  g->cfg.push_pull_interval_ns, g->members.n),
                     GT_PUSH_PULL, 0, 0);
    if (!g->left && gossip_random_members(g, 1, alive_other, NULL, now,
                                          &peer) == 1) {
        push_pull_with(g, &peer->m.gossip_addr, GS_PUSH_PULL, 0, now);
    }
    if (!g->left && gossip_random_members(g, 1, dead_other, NULL, now,
                                          &peer) == 1) {
        push_pull_with(g, &peer->m.gossip_addr, GS_PUSH_PULL, 0, now);
    }
}

/* True if an alive member other than self listens at addr. */
static bool seed_in_view(const struct gossip *g, const struct gossip_addr *a)
{
    size_t i;

    for (i = 0; i < g->members.n; i++) {
        const struct gossip_node *n = g->members.v[i];

        if (n != g->self && n->m.state == GOSSIP_ALIVE &&
            gossip_addr_equal(&n->m.gossip_addr, a)) {
            return true;
        }
    }
    return false;
}

void gossip_sync_rejoin_tick(struct gossip *g, uint64_t now)
{
    size_t missing[GOSSIP_MAX_SEEDS], nmissing = 0, i;

    gossip_timer_add(g, now + g->cfg.rejoin_interval_ns / 2 +
                            gossip_jitter(g, g->cfg.rejoin_interval_ns),
                     GT_REJOIN, 0, 0);
    if (g->left) {
        return;
    }
    for (i = 0; i < g->nseeds; i++) {
        if (!seed_in_view(g, &g->seeds[i])) {
            missing[nmissing++] = i;
        }
    }
    if (nmissing > 0) {
        i = missing[gossip_rand_below(&g->rng, nmissing)];
        push_pull_with(g, &g->seeds[i], GS_PUSH_PULL, 0, now);
    }
}

static struct gossip_stream *stream_find(struct gossip *g, uint64_t id)
{
    size_t i;

    for (i = 0; i < GOSSIP_STREAMS; i++) {
        if (g->streams[i].used && g->streams[i].id == id) {
            return &g->streams[i];
        }
    }
    return NULL;
}

/* node: the name a TCP ping's ack carried ("" otherwise). */
static void stream_finish(struct gossip *g, struct gossip_stream *s, bool ok,
                          const char *node, uint64_t now)
{
    s->used = false;
    if (s->kind == GS_JOIN) {
        join_stream_done(g, s->round, ok, now);
    } else if (s->kind == GS_FALLBACK_PING) {
        gossip_probe_fallback_done(g, s->round, node, ok);
    }
}

/* Seals body and hands it to reply. */
static void reply_sealed(struct gossip *g, gossip_reply_fn *reply,
                         void *arg, const uint8_t *body, size_t len)
{
    size_t cap = len + GOSSIP_ENVELOPE_SEALED, n;
    uint8_t *out = malloc(cap);

    if (out == NULL) {
        return;
    }
    n = gossip_seal(g->cfg.keyring, g->cluster, body, len, out, cap);
    if (n > 0) {
        g->st.bytes_out += n;
        reply(arg, out, n);
    }
    free(out);
}

void gossip_on_stream(struct gossip *g, const struct gossip_addr *from,
                      const uint8_t *buf, size_t len, uint64_t now,
                      gossip_reply_fn *reply, void *reply_arg)
{
    const uint8_t *body;
    uint8_t *scratch, *state;
    size_t blen, slen;
    struct gossip_msg m;

    (void)from;
    g->st.streams_in++;
    g->st.bytes_in += len;
    if (!g->started || len > GOSSIP_WIRE_STREAM_MAX + GOSSIP_ENVELOPE_SEALED ||
        !gossip_open_envelope(g, buf, len, &scratch, &body, &blen)) {
        return;
    }
    if (blen > 0 && body[0] == GOSSIP_MSG_PUSH_PULL) {
        if (!gossip_wire_pp_check(body, blen)) {
            g->st.decode_errors++;
        } else if (!g->left) {
            /* memberlist's order: answer with our state as it was, then
             * merge theirs. */
            state = gossip_state_encode(g, false, &slen);
            if (state != NULL) {
                reply_sealed(g, reply, reply_arg, state, slen);
                free(state);
            }
            g->st.push_pulls++;
            gossip_state_merge(g, body, blen, now);
        }
    } else if (gossip_wire_decode(body, blen, &m) &&
               m.type == GOSSIP_MSG_PING) {
        if (strcmp(m.node, g->name) == 0) {
            uint8_t ack[9 + 1 + GOSSIP_NAME_MAX];
            struct gossip_wbuf w;

            m.type = GOSSIP_MSG_ACK;  /* same seq, names us */
            gossip_wbuf_init(&w, ack, sizeof(ack));
            if (gossip_wire_put_msg(&w, &m)) {
                reply_sealed(g, reply, reply_arg, ack, w.len);
            }
        }
    } else {
        g->st.decode_errors++;
    }
    free(scratch);
}

void gossip_on_stream_reply(struct gossip *g, uint64_t stream_id,
                            const uint8_t *buf, size_t len, uint64_t now)
{
    struct gossip_stream *s = stream_find(g, stream_id);
    const uint8_t *body;
    uint8_t *scratch;
    size_t blen;
    bool ok = false;
    struct gossip_msg m;

    memset(&m, 0, sizeof(m));
    g->st.bytes_in += len;
    if (s == NULL) {
        return;                 /* timed out already */
    }
    if (len <= GOSSIP_WIRE_STREAM_MAX + GOSSIP_ENVELOPE_SEALED &&
        gossip_open_envelope(g, buf, len, &scratch, &body, &blen)) {
        if (s->kind == GS_FALLBACK_PING) {
            ok = gossip_wire_decode(body, blen, &m) &&
                 m.type == GOSSIP_MSG_ACK && m.seq == s->round;
        } else if (gossip_wire_pp_check(body, blen)) {
            ok = true;
            g->st.push_pulls++;
            gossip_state_merge(g, body, blen, now);
        } else {
            g->st.decode_errors++;
        }
        free(scratch);
    }
    stream_finish(g, s, ok, m.node, now);
}

void gossip_on_stream_failed(struct gossip *g, uint64_t stream_id,
                             uint64_t now)
{
    struct gossip_stream *s = stream_find(g, stream_id);

    if (s != NULL) {
        stream_finish(g, s, false, "", now);
    }
}

void gossip_sync_join_retry(struct gossip *g, uint64_t round, uint64_t now)
{
    if (round == g->join_round && !g->join_ok && !g->left) {
        join_round(g, now);
    }
}

void gossip_sync_stream_timeout(struct gossip *g, uint32_t slot, uint64_t id,
                                uint64_t now)
{
    if (slot < GOSSIP_STREAMS && g->streams[slot].used &&
        g->streams[slot].id == id) {
        stream_finish(g, &g->streams[slot], false, "", now);
    }
}
