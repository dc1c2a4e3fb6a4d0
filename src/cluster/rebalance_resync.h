/*
 * rebalance_resync: the owners that replica copies failed to reach, as
 * asked for by any worker (rebalance_resync in rebalance.h) and taken by
 * the rebalancing worker into a pass of its own (rebalance.c). Internal
 * to the rebalance.
 *
 * Any thread: one mutex around the shared set, never held across a call
 * out. A struct resync_set belongs to its caller.
 */
#ifndef RC_CLUSTER_REBALANCE_RESYNC_H
#define RC_CLUSTER_REBALANCE_RESYNC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RESYNC_MAX 16             /* owners by address; more: all */
#define RESYNC_ADDR_MAX 64        /* cluster_member.client_addr */

struct resync_set {
    char addr[RESYNC_MAX][RESYNC_ADDR_MAX];
    size_t n;
    bool all;                     /* every owner */
    uint64_t seq;                 /* the requests counted when taken */
};

/* Merges what was asked since into set; whether anything was asked since
 * set->seq, and in *fresh whether an owner is new to set. */
bool resync_take(struct resync_set *set, bool *fresh);
/* Whether nothing was asked since set->seq. */
bool resync_quiet(const struct resync_set *set);
/* Whether addr is in set. */
bool resync_has(const struct resync_set *set, const char *addr);

#endif
