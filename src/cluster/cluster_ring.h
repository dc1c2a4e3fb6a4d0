/*
 * cluster_ring: which members are on the ring and in which order, and the
 * ring itself shared between views while that does not change.
 *
 * On the ring: alive and suspect members (suspicion is not death), each
 * with the weight it gossips, hashed by the host string it advertises
 * (cluster_meta) and its client port, sorted by host string then port so
 * that every node, and every client configured from `cluster ring`, lists
 * the servers in the same order (libmemcached breaks ties between equal
 * points by server index). Dead and left members are off it.
 *
 * Threads: cluster_ring_attach runs on the gossip thread; a ring's
 * reference count is dropped from free_view (the call_rcu thread), hence
 * atomic. Readers use cluster_owner/cluster_owners (cluster.h) inside
 * rcu_read_lock() and take no reference.
 */
#ifndef RC_CLUSTER_CLUSTER_RING_H
#define RC_CLUSTER_CLUSTER_RING_H

#include "cluster/cluster.h"
#include "cluster/ring.h"

#ifdef __cplusplus
extern "C" {
#endif

struct cluster_ring_input {
    char host[CLUSTER_HOST_MAX + 1];
    uint16_t port;
    uint32_t weight;
};

struct cluster_ring {
    unsigned refs;                /* atomic */
    /* One more for every ring built (every change of the ring's
     * members): a reader that sees it grow by more than one between two
     * looks missed a ring that writers may have used (rebalance.c). */
    uint64_t gen;
    size_t n;
    struct cluster_ring_input *inputs;  /* sorted; ring server i = inputs[i] */
    struct ring *ring;
};

/* Gives v a ring for its members: prev itself (one more reference) when
 * the same members with the same weights are on it, else a new one. Sets
 * v->ring, v->ring_n, v->ring_member and each member's ring_points.
 * Returns -1 when out of memory (v has no ring then). */
int cluster_ring_attach(struct cluster_view *v, struct cluster_ring *prev);
/* Frees what attach gave v; the ring itself once its last view is gone. */
void cluster_ring_detach(struct cluster_view *v);

#ifdef __cplusplus
}
#endif
#endif
