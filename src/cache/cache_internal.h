/*
 * cache_internal: what cache.c (links, unlinks, the RCU and refcount
 * policy) lends to cache_rmw.c (read-modify-write commands) and to nothing
 * else. Not part of the cache's contract: other modules use cache.h.
 *
 * The rules of cache.h hold: no function here may be called inside an RCU
 * read-side section, and the calling thread must be registered
 * (cache_thread_init).
 */
#ifndef RC_CACHE_CACHE_INTERNAL_H
#define RC_CACHE_CACHE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cache/cache.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CACHE_LIMBO_CAP 256       /* retired items per call_rcu batch */

/* The options cache_setup was given (read-only after it). */
extern struct cache_options cache_opts;
/* "Every call_rcu callback so far has run", for TSan (cache.c). */
extern int tsan_barrier_token;

/* cache_limbo.c: this thread's limbo, made and freed with the thread's
 * cache state. */
void cache_limbo_thread_init(void);
void cache_limbo_thread_fini(void);
/* Hands this thread's reference to it (an item that left the table) to
 * the limbo: dropped after a grace period. Never inside a read-side
 * section (a full limbo goes to call_rcu at once). */
void cache_limbo_push(struct item *it);
/* For cache_alloc.c: moves this thread's retired items (at most
 * CACHE_LIMBO_CAP) into out, to be freed after a grace period the caller
 * waits for; how many. */
size_t cache_limbo_take(struct item **out);
bool cache_limbo_empty(void);
/* Chunks of class cls that retired items handed to call_rcu (by any
 * thread) will give back once their grace period ends; a hint, read
 * without ordering. */
size_t cache_retired_chunks(unsigned cls);
/* flush_all calls so far (memory may have come back). */
uint64_t cache_flush_count(void);
/* Counts a store refused at once (fast_fail) or a wait for every pending
 * grace period (the stats alloc_fast_fails, reclaim_waits). */
void cache_count_alloc(bool fast_fail);

/* Looks key up and takes a reference; NULL if absent, dead or saturated.
 * A dead item found is unlinked (lazy expiry); with count_misses, the
 * get_expired/get_flushed stats count it. */
struct item *cache_get_ref(const char *key, size_t nkey, uint64_t hash,
                           bool count_misses);

/* Swaps fresh (filled, unlinked, referenced by the caller) in for exactly
 * old; false if old was replaced or removed meanwhile. The caller keeps
 * both references. */
bool cache_swap_exact(struct item *old, struct item *fresh, uint64_t hash);

/* cache_swap_exact giving fresh the sequence number seq (0: the next
 * one), for a copy that keeps another node's version. */
bool cache_swap_exact_seq(struct item *old, struct item *fresh,
                          uint64_t hash, uint64_t seq);

/* Inserts it (filled, unlinked, referenced by the caller, who keeps the
 * reference) with sequence number seq (0: the next one) if nothing, live
 * or dead, is stored under its key; false otherwise. */
bool cache_add_unique_seq(struct item *it, uint64_t hash, uint64_t seq);

/* Runs the change hook (cache.h) for key; every successful change of a
 * key's state by a client command ends with it. */
void cache_changed(const char *key, size_t nkey);
/* The same for a read-modify-write: its result (linked, referenced by
 * the caller) came from the item at version base. */
void cache_changed_from(const struct item *result, uint64_t base);

/* Unlinks exactly old (not a newer item under its key) and drops the
 * caller's reference; false if old was replaced or removed meanwhile. */
bool cache_unlink_exact(struct item *old);

/* append/prepend of it's value to the item stored under its key
 * (cache_rmw.c); *how gets the versions of the old item and the result,
 * and the result with a reference the caller drops. */
enum cache_status cache_store_concat(struct item *it, bool append,
                                     uint64_t cas, uint64_t hash,
                                     struct cache_change *how);

#ifdef __cplusplus
}
#endif
#endif
