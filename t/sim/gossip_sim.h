/*
 * gossip_sim: a deterministic discrete-event simulator that runs N real
 * gossip cores (src/cluster/gossip.c, not a model of it) over a simulated
 * network, for the unit tests and the benchmark (contrib/bench/gossip-sim).
 *
 * Time is virtual (ns); events live in one priority queue ordered by
 * (time, insertion order), so the same seed and the same calls give the
 * same run, event for event; gossip_sim_trace_hash() fingerprints it.
 *
 * The network: every datagram is lost with probability loss, duplicated
 * with probability dup, and delayed by delay + uniform(0, jitter) (which
 * also reorders). Streams (TCP) are not lost but take the same delays; a
 * stream to a crashed node fails after one delay (connection refused), one
 * across a partition is never answered (the core times it out).
 * Partitions assign nodes to groups; traffic between groups is dropped.
 * A stalled node is a paused process: inbound packets wait in its "socket"
 * and its timers do not run until it resumes; then the packets are read
 * first and the overdue timers run after them, as libevent would.
 * A killed node loses all state; a restarted one has the same name and
 * address, a fresh core (new seed) and joins the seeds again.
 *
 * Node i is named "node-<i>" and listens at 10.<i/65536>.<i/256>.<i%256>
 * port 7946; nodes 0 .. nseeds-1 are the seeds everyone joins.
 */
#ifndef RC_T_SIM_GOSSIP_SIM_H
#define RC_T_SIM_GOSSIP_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cluster/gossip.h"

#ifdef __cplusplus
extern "C" {
#endif

#define GOSSIP_SIM_MS 1000000ull
#define GOSSIP_SIM_S 1000000000ull

struct gossip_sim_config {
    size_t nodes;
    uint64_t seed;
    struct gossip_config base;    /* timings; name/addresses are set per node */
    double loss;                  /* datagram loss probability */
    double dup;                   /* datagram duplication probability */
    uint64_t delay_ns;            /* one-way base delay */
    uint64_t jitter_ns;           /* plus uniform [0, jitter) */
    size_t nseeds;                /* nodes 0..nseeds-1 are seeds */
    uint64_t start_spread_ns;     /* node i starts at i * spread / nodes */
    /* Optional: adjusts node i's config (another key, cluster name...)
     * before every boot; name and addresses are already set. */
    void (*configure)(void *arg, size_t i, struct gossip_config *c);
    void *configure_arg;
};

void gossip_sim_config_defaults(struct gossip_sim_config *c, size_t nodes,
                                uint64_t seed);

/* Called for every member change seen by any node (at = observer). */
typedef void gossip_sim_observer(void *arg, size_t at,
                                 const struct gossip_member *m,
                                 enum gossip_state old, bool removed,
                                 uint64_t now);

struct gossip_sim;

struct gossip_sim *gossip_sim_create(const struct gossip_sim_config *c);
void gossip_sim_destroy(struct gossip_sim **s);
void gossip_sim_observe(struct gossip_sim *s, gossip_sim_observer *fn,
                        void *arg);

/* Processes every event up to and including time t; now becomes t. */
void gossip_sim_run_until(struct gossip_sim *s, uint64_t t);
uint64_t gossip_sim_now(const struct gossip_sim *s);

void gossip_sim_kill(struct gossip_sim *s, size_t i);
void gossip_sim_restart(struct gossip_sim *s, size_t i);
/* Graceful leave; the node shuts down once its leave has gone out (or
 * after 5 s). */
void gossip_sim_leave(struct gossip_sim *s, size_t i);
void gossip_sim_stall(struct gossip_sim *s, size_t i, uint64_t duration_ns);
/* group[i] for every node; traffic between different groups is dropped. */
void gossip_sim_partition(struct gossip_sim *s, const uint8_t *group);
void gossip_sim_heal(struct gossip_sim *s);
/* Drops every datagram to or from node i while blocked; streams pass. */
void gossip_sim_block_udp(struct gossip_sim *s, size_t i, bool blocked);
void gossip_sim_set_loss(struct gossip_sim *s, double loss);

size_t gossip_sim_size(const struct gossip_sim *s);
bool gossip_sim_up(const struct gossip_sim *s, size_t i);
/* True once every node's initial start (start_spread) has happened. */
bool gossip_sim_started(const struct gossip_sim *s);
bool gossip_sim_stalled(const struct gossip_sim *s, size_t i);
/* The core of node i, or NULL while it is down. */
struct gossip *gossip_sim_node(struct gossip_sim *s, size_t i);
const char *gossip_sim_name(const struct gossip_sim *s, size_t i);
uint64_t gossip_sim_trace_hash(const struct gossip_sim *s);

struct gossip_sim_totals {
    uint64_t events;
    uint64_t datagrams_sent;      /* handed to the network */
    uint64_t datagram_bytes;
    uint64_t datagram_max;        /* largest datagram sent, bytes */
    uint64_t datagrams_lost;      /* loss, partitions, down nodes */
    uint64_t streams;
    uint64_t stream_bytes;
};
void gossip_sim_totals(const struct gossip_sim *s,
                       struct gossip_sim_totals *out);

#ifdef __cplusplus
}
#endif

#endif
