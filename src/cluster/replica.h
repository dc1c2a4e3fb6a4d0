/*
 * replica: --replicas R, the write side. A key's owners are the first R
 * distinct members clockwise on the ring (cluster_owners); the node that
 * executes a client's write (the first owner, to which the router sends
 * it, or whichever node a self-routing client picked) sends the key's new
 * state to the other owners.
 *
 * What is sent is the state, not the command: after any write the cache
 * reports (cache.h's change hook), the item as it now is, with its version
 * (its CAS, from the version clock util/hlc.h), as
 *
 *   rc_set <key> <flags> <ttl> <bytes> <version> [S]\r\n<data>\r\n
 *
 * or, when the key is now absent, rc_del <key> <version>, where version is
 * a fresh one recorded as a tombstone (cache/tombstone.h). So append,
 * incr, cas and the rest run once, on one node, and the others get the
 * result: replicas never apply an operation to a different base. A
 * receiver keeps the newest version, whatever arrives last
 * (cache_put_version), and no copy older than a tombstone. ttl is the
 * seconds left (0: none), so the nodes' wall clocks do not shift expiry;
 * S marks a meta-invalidated (stale) item.
 *
 * A read-modify-write's result also carries b<base>, the version it was
 * computed from. While views differ, two nodes can each take themselves
 * for a key's first owner and apply an incr to their own copies; the
 * newer version would then silently undo the other's. So a receiver that
 * holds a state newer than base (not this very version) refuses it with
 * "CONFLICT <its version>", which is no acknowledgement, and the sender
 * takes the receiver's state as a new write of its own (replica_adopt.c):
 * the write that conflicted is lost, and with --write-acks >= 2 its client
 * was told so. With one acknowledgement it may have been told STORED.
 *
 * By default the reply to the client does not wait for the other owners
 * (one acknowledgement): a write the first owner acknowledged and that
 * the others missed, because the first owner died within about a round
 * trip, or an owner was unreachable, is not on them. Sends that fail are
 * counted (peer.h send_failed). With --write-acks N the reply is held
 * (net/conn.h conn_hold) until N-1 other owners have answered, and is
 * "SERVER_ERROR replicas unavailable" if they cannot (too few owners
 * alive, or their sends fail or time out): the write may then be on some
 * owners, as with any failed write. UDP replies and quiet binary
 * commands are not held.
 *
 * Worker threads: the hook runs on the thread that executed the write and
 * sends on that worker's own peer links (peer_send).
 */
#ifndef RC_CLUSTER_REPLICA_H
#define RC_CLUSTER_REPLICA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define REPLICA_MAX 8
#define REPLICA_LINE_MAX (250 + 96)      /* rc_set's line, key included */

struct item;

/* rc_set's line for it into line (cap bytes), with b<base> unless base is
 * 0: its length, 0 if it does not fit. */
size_t replica_set_line(const struct item *it, uint64_t base, char *line,
                        size_t cap);
/* it's value and its "\r\n" into *buf, grown (realloc) as needed: the
 * length, 0 when out of memory. */
size_t replica_value(const struct item *it, char **buf, size_t *cap);

/* Before the workers start; with replicas > 1 installs the change hook.
 * write_acks (1..replicas): owners that must hold a write before its
 * reply leaves. */
void replica_setup(unsigned replicas, unsigned write_acks);
unsigned replica_count(void);
/* Whether an owner's answer to rc_set/rc_del says it holds that version
 * or a newer state (STORED, EXISTS, NOT_STORED, DELETED, NOT_FOUND). */
bool replica_reply_definite(const char *s, size_t n);

struct replica_stats {
    uint64_t sets_sent;           /* rc_set to other owners */
    uint64_t deletes_sent;        /* rc_del to other owners */
    uint64_t applied;             /* received copies kept */
    uint64_t older;               /* received copies older than ours */
    uint64_t deleted;             /* received deletes that removed one */
    uint64_t acks_failed;         /* writes answered as failed: fewer
                                   * than --write-acks owners answered */
    uint64_t conflicts;           /* received results refused: a newer
                                   * state than their base is here */
    uint64_t adopted;             /* another owner's state taken after
                                   * a conflict */
};
void replica_stats_get(struct replica_stats *out);
/* For server/replica_apply.c, which counts what it receives. */
void replica_count_applied(bool kept);
void replica_count_deleted(void);
void replica_count_conflict(void);
void replica_count_adopted(void);

/* After addr answered "CONFLICT have" to this node's result at version
 * for key: takes addr's state (replica_adopt.c). A worker thread only. */
void replica_adopt(const char *addr, const char *key, size_t nkey,
                   uint64_t version, uint64_t have);

#ifdef __cplusplus
}
#endif
#endif
