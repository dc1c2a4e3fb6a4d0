/*
 * gossip_broadcast: the queue of membership updates waiting to be
 * piggybacked on outgoing datagrams (memberlist's TransmitLimitedQueue).
 *
 * Each entry is one encoded message about one member. A new entry about a
 * member replaces any older one (only the newest news about a node is worth
 * bandwidth). Entries are handed out least-transmitted first and, among
 * equals, newest first; an entry is dropped after `limit` transmissions
 * (retransmit mult * ceil(log10(N + 1)), computed by the caller because N
 * changes).
 *
 * Cost: push and replacing older news are O(log n); taking k entries is
 * O(k log n). n is at most one entry per member.
 */
#ifndef RC_CLUSTER_GOSSIP_BROADCAST_H
#define RC_CLUSTER_GOSSIP_BROADCAST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cluster/gossip_wire.h"

#ifdef __cplusplus
extern "C" {
#endif

struct gossip_bcast {
    uint64_t id;                  /* insertion order, newer is larger */
    size_t pos;                   /* index in gossip_bqueue.v (the heap) */
    uint64_t hash;                /* XXH3 of name, to find older news */
    uint32_t transmits;
    uint16_t len;
    bool tracked;                 /* counted in gossip_bqueue.tracked */
    char name[GOSSIP_NAME_MAX + 1];
    uint8_t msg[];
};

struct gossip_bentry {
    uint64_t key;                 /* transmits, then newest first */
    struct gossip_bcast *b;
};

struct gossip_bqueue {
    struct gossip_bentry *v;      /* binary min-heap by key */
    size_t n;
    size_t cap;
    uint64_t next_id;
    size_t tracked;               /* tracked entries still queued */
    struct gossip_bcast **index;  /* by name hash, open addressing */
    size_t index_mask;            /* slots - 1; 0: no index yet */
};

void gossip_bqueue_init(struct gossip_bqueue *q);
void gossip_bqueue_deinit(struct gossip_bqueue *q);

/* Queues msg (len bytes, one encoded message) about member name, dropping
 * older news about it. tracked marks an entry whose delivery the caller
 * waits for (the leave announcement). Returns -1 on out of memory. */
int gossip_bqueue_push(struct gossip_bqueue *q, const char *name,
                       const uint8_t *msg, size_t len, bool tracked);

/* Appends entries as compound parts (u16 length + message) to w, using at
 * most avail bytes and max_parts parts; each taken entry counts one
 * transmission and is dropped at limit. Returns the number appended. */
size_t gossip_bqueue_take(struct gossip_bqueue *q, struct gossip_wbuf *w,
                          size_t avail, size_t max_parts, unsigned limit);

#ifdef __cplusplus
}
#endif

#endif
