/*
 * peer_stats: the peer channel's counters (peer.h's peer_stats_get and
 * peer_stats_each), kept apart from the links that update them.
 *
 * Totals are relaxed atomics. Per-peer counters are shared by every
 * worker's link to that peer: a table that only grows (under a mutex,
 * once per address), an entry's address written before the count that
 * publishes it; past PEER_STATS_MAX addresses the rest share an "other"
 * entry. Internal to cluster/peer.c.
 */
#ifndef RC_CLUSTER_PEER_STATS_H
#define RC_CLUSTER_PEER_STATS_H

#include "cluster/peer.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PEER_ADDR_MAX 64

struct peer_counters {
    char addr[PEER_ADDR_MAX];
    struct peer_link_stats s;     /* relaxed atomics */
};

extern struct peer_stats peer_totals;   /* relaxed atomics */

/* addr's entry (created on first use); any thread. */
struct peer_counters *peer_counters_of(const char *addr);

#ifdef __cplusplus
}
#endif
#endif
