/*
 * rebalance: when the ring changes, every key goes to the members that
 * have just become its owners.
 *
 * One pass per change of the ring's members (a death, a join, a leave,
 * a partition or its heal): the node walks every live item of its cache
 * (cache_walk) and every tombstone it holds, and for each key compares
 * its owners on the ring it last settled on ("old") with those on the
 * ring of now ("new"). Every node that holds the key sends the item
 * (rc_set, with its version) or the delete (rc_del) to every new owner
 * that was not an old one, and the receiver keeps the newer version
 * (cache_put_version, tombstones): after a partition the nodes have not
 * seen the same rings, so no one node can be trusted to be the sender.
 * So after a death the survivors re-replicate, after a join the previous
 * owners warm the new node, after a heal both sides hand each other what
 * the other's owners missed, and versions decide every conflict. A node
 * that is no longer an owner keeps its copy (eviction takes it in time):
 * dropping it before every member has settled could drop the last copy
 * when the ring flaps back.
 *
 * Bounded: at most REBALANCE_WINDOW bytes in flight; --rebalance-rate
 * KiB/s (0: no limit). A pass that is cut short by another change starts
 * again from the first chunk with the old ring kept, so nothing between
 * the two is skipped (what was sent twice is answered EXISTS). One whose
 * sends failed is repeated after a pause; the old ring only moves on when
 * a pass completes.
 *
 * Resync (rebalance_resync): an owner that a replica's copy could not
 * reach, but that is still on the ring (unreachable, not yet declared
 * dead, or back before it was), gets a pass of its own: every key it
 * owns, from every holder, repeated until it has answered them all.
 *
 * Graceful leave (rebalance_leave, from SIGTERM or `cluster leave`): one
 * pass against the ring without this node, at full speed, sending every
 * key this node owns to its owners without it, before the node says
 * goodbye.
 *
 * Threads: the passes run on one worker thread (the first to call
 * rebalance_thread_init), on its event loop and its peer links; a timer
 * drives them. Stats are relaxed atomics; rebalance_leave blocks the
 * calling (main) thread on a condition variable.
 */
#ifndef RC_CLUSTER_REBALANCE_H
#define RC_CLUSTER_REBALANCE_H

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define REBALANCE_WINDOW (4u << 20)      /* bytes in flight at most */
#define REBALANCE_DEFAULT_RATE 32768     /* KiB/s */

/* Before the workers start. */
void rebalance_setup(unsigned rate_kib);
/* In each worker thread at its start / end; the first one runs passes. */
void rebalance_thread_init(void);
void rebalance_thread_fini(void);

/* Hands this node's keys to their owners without it; returns when done
 * or after timeout_ms. Any thread but the rebalancing worker. */
void rebalance_leave(unsigned timeout_ms);

/* A replica's copy to the owner at addr (a client address) failed: the
 * next pass, ring change or not, sends that owner every key it owns, and
 * is repeated until the owner has answered it all (an owner that was
 * unreachable without being declared dead gets what it missed). Any
 * thread; a mutex, and no wait. */
void rebalance_resync(const char *addr);

struct rebalance_stats {
    uint64_t passes;              /* completed */
    uint64_t running;             /* 1 while a pass runs */
    uint64_t keys_moved;          /* copies a new owner stored */
    uint64_t bytes_moved;         /* bytes sent, all requests */
    uint64_t deletes_moved;       /* tombstones handed on */
    uint64_t failed;              /* sends that got no definite answer */
    uint64_t progress_pct;        /* of the current pass's walk */
    uint64_t keys_to_move;        /* estimated, rest of the current pass */
    uint64_t bytes_to_move;
    uint64_t rate;                /* bytes/s in the current pass */
    uint64_t eta_s;               /* seconds left, estimated */
    uint64_t resyncs;             /* passes for owners that missed a copy */
};
void rebalance_stats_get(struct rebalance_stats *out);

#ifdef __cplusplus
}
#endif
#endif
