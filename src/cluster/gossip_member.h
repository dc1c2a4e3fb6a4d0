/*
 * gossip_member: one instance's member table: the nodes it knows, by name,
 * in an array whose order is the probe order.
 *
 * Nodes are heap objects whose address is stable until they are removed;
 * the array holds pointers, and an open-addressing index of node pointers
 * (XXH3 of the name, linear probing, backward-shift deletion) finds them by
 * name in O(1), independent of their position in the array. The
 * array order is shuffled by the prober at the end of every round (SWIM's
 * round-robin probing); removal swaps the last node into the hole.
 */
#ifndef RC_CLUSTER_GOSSIP_MEMBER_H
#define RC_CLUSTER_GOSSIP_MEMBER_H

#include <stddef.h>
#include <stdint.h>

#include "cluster/gossip.h"
#include "cluster/gossip_rand.h"

#ifdef __cplusplus
extern "C" {
#endif

struct gossip_node {
    struct gossip_member m;       /* the public view; m.meta is owned */
    uint64_t hash;                /* XXH3-64 of m.name */
    uint32_t idx;                 /* position in the table's array */
    uint32_t susp;                /* suspicion slot + 1; 0: none */
};

struct gossip_slot {
    uint32_t tag;                 /* top half of the node's name hash */
    struct gossip_node *node;     /* NULL: empty */
};

struct gossip_members {
    struct gossip_node **v;       /* n nodes, probe order */
    size_t n;
    size_t cap;
    struct gossip_slot *slots;    /* the name index */
    size_t mask;                  /* slots - 1, a power of two minus one */
};

int gossip_members_init(struct gossip_members *t);
void gossip_members_deinit(struct gossip_members *t);

struct gossip_node *gossip_members_find(const struct gossip_members *t,
                                        const char *name);
/* Adds a zeroed node named name (which must not be present); NULL on
 * out of memory. */
struct gossip_node *gossip_members_add(struct gossip_members *t,
                                       const char *name);
/* Removes and frees node. */
void gossip_members_remove(struct gossip_members *t, struct gossip_node *node);
/* Replaces node's metadata; -1 on out of memory or len > GOSSIP_META_MAX. */
int gossip_members_set_meta(struct gossip_node *node, const uint8_t *meta,
                            size_t len);
/* Exchanges the positions of members i and j (probe order). */
void gossip_members_swap(struct gossip_members *t, size_t i, size_t j);
/* Fisher-Yates over the array. */
void gossip_members_shuffle(struct gossip_members *t, struct gossip_rand *r);

#ifdef __cplusplus
}
#endif

#endif
