/*
 * tombstone: what a node remembers of the keys deleted in a cluster, so
 * that an older copy arriving later (a replica that missed the delete, a
 * migration, a heal) does not bring a deleted key back.
 *
 * A tombstone is a key's hash (64 bits, XXH3: a collision would only make
 * an older copy of the other key lose too) with the delete's version, an
 * expiry and a copy of the key, so that a rebalance can hand the delete
 * on to a new owner (tombstone_next). They live outside the item table, so reads never see them
 * and the hit path is unchanged: only versioned copies (cache_version.c
 * callers) consult them.
 *
 * Bounded: a fixed number of slots, set at start-up (--tombstones),
 * TOMBSTONE_WAYS per bucket, each 40 bytes plus its key on the heap (at
 * most slots x (40 + 250 + malloc's overhead)); when a bucket is full the tombstone that
 * expires first gives way, counted as dropped (if it had not expired).
 * A tombstone lives --tombstone-ttl seconds; a copy older than a delete
 * that arrives after both are gone can bring the key back, which is the
 * bound a partition's length has to respect (doc/cluster.md).
 *
 * Any thread; a mutex per bucket shard, never held across a call out.
 */
#ifndef RC_CACHE_TOMBSTONE_H
#define RC_CACHE_TOMBSTONE_H

#include <stddef.h>
#include <stdint.h>

#include "util/clock.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TOMBSTONE_WAYS 8
#define TOMBSTONE_DEFAULT_SLOTS (1u << 18)
#define TOMBSTONE_DEFAULT_TTL 3600

/* slots is rounded up to a power of two (at least TOMBSTONE_WAYS). */
int tombstone_setup(size_t slots, unsigned ttl_secs);
void tombstone_teardown(void);

/* Records that key was deleted at version (keeps the larger if one is
 * there). */
void tombstone_put(const char *key, size_t nkey, uint64_t version);
/* The version key was deleted at, 0 if none is remembered. */
uint64_t tombstone_get(const char *key, size_t nkey);

/* One tombstone as tombstone_next copies it out. */
struct tombstone_entry {
    uint64_t version;
    uint8_t nkey;
    char key[250];                /* KEY_MAX_LENGTH */
};
/* Copies the live tombstones of the buckets from *cursor on into out
 * (whole buckets, at most max entries, max >= TOMBSTONE_WAYS, and at
 * most 1,024 buckets a call, so a call is short) and
 * advances *cursor past them; *cursor == tombstone_buckets() when all
 * have been seen. Takes each bucket's lock for the copy only. */
size_t tombstone_next(size_t *cursor, struct tombstone_entry *out,
                      size_t max);
size_t tombstone_buckets(void);

struct tombstone_stats {
    uint64_t slots;               /* capacity */
    uint64_t live;                /* held now, not expired */
    uint64_t recorded;            /* tombstone_put calls */
    uint64_t dropped;             /* unexpired ones that gave way */
};
void tombstone_stats(struct tombstone_stats *out);

#ifdef __cplusplus
}
#endif
#endif
