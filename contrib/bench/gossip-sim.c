/*
 * gossip-sim: the membership benchmark. Runs the real gossip core for N
 * nodes in the deterministic simulator (t/sim/gossip_sim.h) with LAN
 * defaults and reports what doc/cluster.md quotes:
 *
 *   formation      time until every node sees all N alive
 *   traffic        UDP packets and bytes (UDP + TCP) per node per second
 *                  in steady state (no failures, no loss)
 *   dissemination  time for a metadata update to reach 50/99/100% of the
 *                  other members (p50/p99 over -u updates)
 *   failure        time from kill -9 to the first suspicion anywhere and
 *                  to "dead" in every member's view (p50/p99 over -k
 *                  kills; each victim is restarted before the next)
 *   false dead     members declared dead while up, per node-hour, over -t
 *                  seconds with -l loss and -S of the nodes stalled for
 *                  2 s out of every 10 s
 *
 * Same -s seed, same numbers. Usage:
 *   gossip-sim [-n nodes] [-s seed] [-k kills] [-u updates] [-t seconds]
 *              [-l loss] [-S stalled-fraction] [-w traffic-window-s]
 * The traffic window defaults to one (scaled) push-pull interval, so that
 * every node's full-state exchange is in it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cluster/gossip.h"
#include "cluster/gossip_lifeguard.h"
#include "cluster/gossip_rand.h"
#include "gossip_sim.h"

#define S GOSSIP_SIM_S
#define MS GOSSIP_SIM_MS

struct bench {
    struct gossip_sim *sim;
    size_t n;

    /* failure detection of one victim */
    long victim;
    uint64_t killed_at, first_suspect, dead_all;
    uint8_t *dead_seen;
    size_t dead_count;

    /* dissemination of one update */
    long updater;
    uint32_t update_inc;
    uint64_t update_at, t50, t99, t100;
    uint8_t *update_seen;
    size_t update_count;

    /* false positives */
    uint64_t false_dead, false_suspect;
};

static size_t index_of(const char *name)
{
    return (size_t)strtoul(name + 5, NULL, 10);
}

static size_t up_count(struct gossip_sim *s)
{
    size_t i, up = 0;

    for (i = 0; i < gossip_sim_size(s); i++) {
        up += gossip_sim_up(s, i);
    }
    return up;
}

static void observe(void *arg, size_t at, const struct gossip_member *m,
                    enum gossip_state old, bool removed, uint64_t now)
{
    struct bench *b = arg;
    size_t who = index_of(m->name);

    (void)old;
    if (removed) {
        return;
    }
    if (m->state == GOSSIP_DEAD && gossip_sim_up(b->sim, who)) {
        b->false_dead++;
    }
    if (m->state == GOSSIP_SUSPECT && gossip_sim_up(b->sim, who)) {
        b->false_suspect++;
    }
    if (b->victim >= 0 && who == (size_t)b->victim) {
        if (m->state != GOSSIP_ALIVE && b->first_suspect == 0) {
            b->first_suspect = now;
        }
        if (m->state == GOSSIP_DEAD && !b->dead_seen[at]) {
            b->dead_seen[at] = 1;
            if (++b->dead_count == up_count(b->sim) && b->dead_all == 0) {
                b->dead_all = now;
            }
        }
    }
    if (b->updater >= 0 && who == (size_t)b->updater &&
        m->incarnation >= b->update_inc && !b->update_seen[at] &&
        at != who) {
        size_t others = up_count(b->sim) - 1;

        b->update_seen[at] = 1;
        b->update_count++;
        if (b->t50 == 0 && b->update_count * 2 >= others) {
            b->t50 = now;
        }
        if (b->t99 == 0 && b->update_count * 100 >= others * 99) {
            b->t99 = now;
        }
        if (b->t100 == 0 && b->update_count == others) {
            b->t100 = now;
        }
    }
}

static bool views_agree(struct gossip_sim *s)
{
    size_t i, up = up_count(s);

    if (!gossip_sim_started(s)) {
        return false;
    }
    for (i = 0; i < gossip_sim_size(s); i++) {
        struct gossip *g = gossip_sim_node(s, i);
        struct gossip_stats st;

        if (g == NULL) {
            continue;
        }
        gossip_get_stats(g, &st);
        if (st.members[GOSSIP_ALIVE] != up || gossip_member_count(g) != up) {
            return false;
        }
    }
    return true;
}

static uint64_t run_until_agree(struct gossip_sim *s, uint64_t limit)
{
    uint64_t end = gossip_sim_now(s) + limit;

    while (gossip_sim_now(s) < end) {
        gossip_sim_run_until(s, gossip_sim_now(s) + 500 * MS);
        if (views_agree(s)) {
            return gossip_sim_now(s);
        }
    }
    return UINT64_MAX;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of v[0..n) in seconds; sorts v. */
static double pct(uint64_t *v, size_t n, double p)
{
    size_t r;

    if (n == 0) {
        return -1;
    }
    qsort(v, n, sizeof(*v), cmp_u64);
    r = (size_t)(p / 100.0 * (double)n + 0.999999);
    r = r == 0 ? 1 : (r > n ? n : r);
    return (double)v[r - 1] / 1e9;
}

static void totals(struct gossip_sim *s, uint64_t *pkts, uint64_t *bytes)
{
    struct gossip_sim_totals t;

    gossip_sim_totals(s, &t);
    *pkts = t.datagrams_sent;
    *bytes = t.datagram_bytes + t.stream_bytes;
}

int main(int argc, char **argv)
{
    size_t n = 1000, kills = 5, updates = 5, i;
    uint64_t seed = 1, fp_secs = 600, window = 0;
    double loss = 0.05, stalled = 0.01;
    struct gossip_sim_config c;
    struct bench b;
    struct gossip_rand r;
    uint64_t *ts, *td, *d50, *d99, *d100, p0, b0, p1, b1, t0, formed;
    size_t nk = 0, nu = 0;
    int opt;

    while ((opt = getopt(argc, argv, "n:s:k:u:t:l:S:w:")) != -1) {
        switch (opt) {
        case 'n': n = strtoul(optarg, NULL, 10); break;
        case 's': seed = strtoull(optarg, NULL, 10); break;
        case 'k': kills = strtoul(optarg, NULL, 10); break;
        case 'u': updates = strtoul(optarg, NULL, 10); break;
        case 't': fp_secs = strtoull(optarg, NULL, 10); break;
        case 'l': loss = strtod(optarg, NULL); break;
        case 'S': stalled = strtod(optarg, NULL); break;
        case 'w': window = strtoull(optarg, NULL, 10); break;
        default:
            fprintf(stderr, "usage: %s [-n nodes] [-s seed] [-k kills] "
                    "[-u updates] [-t fp-seconds] [-l loss] "
                    "[-S stalled-fraction] [-w window-s]\n", argv[0]);
            return 64;
        }
    }
    if (n < 4) {
        fprintf(stderr, "need at least 4 nodes\n");
        return 64;
    }
    memset(&b, 0, sizeof(b));
    b.n = n;
    b.victim = b.updater = -1;
    b.dead_seen = calloc(n, 1);
    b.update_seen = calloc(n, 1);
    ts = calloc(kills + 1, sizeof(*ts));
    td = calloc(kills + 1, sizeof(*td));
    d50 = calloc(updates + 1, sizeof(*d50));
    d99 = calloc(updates + 1, sizeof(*d99));
    d100 = calloc(updates + 1, sizeof(*d100));
    gossip_rand_seed(&r, seed ^ 0x5eed);

    gossip_sim_config_defaults(&c, n, seed);
    c.start_spread_ns = n >= 1000 ? 5 * S : 2 * S;
    b.sim = gossip_sim_create(&c);
    gossip_sim_observe(b.sim, observe, &b);
    printf("gossip-sim: n=%zu seed=%llu (LAN defaults: probe 1 s/500 ms, "
           "3 indirect, gossip 200 ms x3, push-pull 30 s, suspicion 4/6, "
           "retransmit 4)\n", n, (unsigned long long)seed);

    formed = run_until_agree(b.sim, 300 * S);
    if (formed == UINT64_MAX) {
        printf("cluster did not form in 300 s\n");
        return 1;
    }
    printf("formation: all %zu see all alive at %.1f s (starts spread over "
           "%.0f s)\n", n, (double)formed / 1e9,
           (double)c.start_spread_ns / 1e9);
    /* Let the formation's broadcasts drain before measuring traffic. */
    gossip_sim_run_until(b.sim, gossip_sim_now(b.sim) + 60 * S);

    if (window == 0) {
        window = gossip_push_pull_interval_ns(c.base.push_pull_interval_ns,
                                              n) / S;
    }
    totals(b.sim, &p0, &b0);
    t0 = gossip_sim_now(b.sim);
    gossip_sim_run_until(b.sim, t0 + window * S);
    totals(b.sim, &p1, &b1);
    printf("traffic (steady, %llu s): %.2f packets/s/node, %.0f bytes/s/node "
           "(UDP + TCP push-pull)\n", (unsigned long long)window,
           (double)(p1 - p0) / (double)window / (double)n,
           (double)(b1 - b0) / (double)window / (double)n);

    for (i = 0; i < updates; i++) {
        struct gossip *g;
        uint8_t meta[24];

        b.updater = (long)gossip_rand_below(&r, n);
        g = gossip_sim_node(b.sim, (size_t)b.updater);
        memset(b.update_seen, 0, n);
        b.update_count = 0;
        b.t50 = b.t99 = b.t100 = 0;
        b.update_at = gossip_sim_now(b.sim);
        snprintf((char *)meta, sizeof(meta), "v%zu", i);
        gossip_update(g, meta, sizeof(meta), 1, b.update_at);
        b.update_inc = gossip_self(g)->incarnation;
        gossip_sim_run_until(b.sim, b.update_at + 20 * S);
        if (b.t100 != 0) {
            d50[nu] = b.t50 - b.update_at;
            d99[nu] = b.t99 - b.update_at;
            d100[nu] = b.t100 - b.update_at;
            nu++;
        } else {
            printf("update %zu did not reach everyone in 20 s (%zu/%zu)\n",
                   i, b.update_count, up_count(b.sim) - 1);
        }
    }
    b.updater = -1;
    printf("dissemination (%zu updates): 50%% p50 %.3f s p99 %.3f s | "
           "99%% p50 %.3f s p99 %.3f s | 100%% p50 %.3f s p99 %.3f s\n", nu,
           pct(d50, nu, 50), pct(d50, nu, 99), pct(d99, nu, 50),
           pct(d99, nu, 99), pct(d100, nu, 50), pct(d100, nu, 99));

    for (i = 0; i < kills; i++) {
        size_t v = 3 + (size_t)gossip_rand_below(&r, n - 3);  /* no seed */

        memset(b.dead_seen, 0, n);
        b.dead_count = 0;
        b.first_suspect = b.dead_all = 0;
        b.victim = (long)v;
        gossip_sim_kill(b.sim, v);
        b.killed_at = gossip_sim_now(b.sim);
        gossip_sim_run_until(b.sim, b.killed_at + 120 * S);
        if (b.dead_all != 0) {
            ts[nk] = b.first_suspect - b.killed_at;
            td[nk] = b.dead_all - b.killed_at;
            nk++;
        } else {
            printf("kill %zu: node-%zu not dead everywhere in 120 s "
                   "(%zu of %zu)\n", i, v, b.dead_count, up_count(b.sim));
        }
        b.victim = -1;
        gossip_sim_restart(b.sim, v);
        if (run_until_agree(b.sim, 120 * S) == UINT64_MAX) {
            printf("views did not agree again after restarting node-%zu\n",
                   v);
        }
    }
    printf("failure detection (%zu kills): first suspicion p50 %.2f s "
           "p99 %.2f s | dead everywhere p50 %.2f s p99 %.2f s\n", nk,
           pct(ts, nk, 50), pct(ts, nk, 99), pct(td, nk, 50),
           pct(td, nk, 99));

    if (fp_secs > 0) {
        uint64_t w, end, fp0 = b.false_dead, fs0 = b.false_suspect;
        size_t per = (size_t)(stalled * (double)n + 0.5);

        gossip_sim_set_loss(b.sim, loss);
        t0 = gossip_sim_now(b.sim);
        end = t0 + fp_secs * S;
        for (w = t0; w < end; w += 10 * S) {
            for (i = 0; i < per; i++) {
                uint64_t at = w + gossip_rand_below(&r, 8 * S);
                size_t v = (size_t)gossip_rand_below(&r, n);

                /* Not sorted by time: stall order within the window does
                 * not matter to the run, only determinism does. */
                gossip_sim_run_until(b.sim, at > gossip_sim_now(b.sim)
                                                ? at : gossip_sim_now(b.sim));
                gossip_sim_stall(b.sim, v, 2 * S);
            }
            gossip_sim_run_until(b.sim, w + 10 * S);
        }
        gossip_sim_set_loss(b.sim, 0);
        printf("false positives (%llu s, loss %.0f%%, %zu nodes stalled 2 s "
               "per 10 s): %llu dead = %.3f per node-hour; %llu views saw a "
               "live node as suspect (refuted)\n",
               (unsigned long long)fp_secs, loss * 100,
               per, (unsigned long long)(b.false_dead - fp0),
               (double)(b.false_dead - fp0) /
                   ((double)n * (double)fp_secs / 3600.0),
               (unsigned long long)(b.false_suspect - fs0));
    }
    printf("trace hash: %016llx\n",
           (unsigned long long)gossip_sim_trace_hash(b.sim));
    gossip_sim_destroy(&b.sim);
    free(b.dead_seen);
    free(b.update_seen);
    free(ts);
    free(td);
    free(d50);
    free(d99);
    free(d100);
    return 0;
}
