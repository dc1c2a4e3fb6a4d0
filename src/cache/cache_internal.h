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

/* Looks key up and takes a reference; NULL if absent, dead or saturated.
 * A dead item found is unlinked (lazy expiry); with count_misses, the
 * get_expired/get_flushed stats count it. */
struct item *cache_get_ref(const char *key, size_t nkey, uint64_t hash,
                           bool count_misses);

/* Swaps fresh (filled, unlinked, referenced by the caller) in for exactly
 * old; false if old was replaced or removed meanwhile. The caller keeps
 * both references. */
bool cache_swap_exact(struct item *old, struct item *fresh, uint64_t hash);

/* Unlinks exactly old (not a newer item under its key) and drops the
 * caller's reference; false if old was replaced or removed meanwhile. */
bool cache_unlink_exact(struct item *old);

/* append/prepend of it's value to the item stored under its key
 * (cache_rmw.c). */
enum cache_status cache_store_concat(struct item *it, bool append,
                                     uint64_t cas, uint64_t hash,
                                     uint64_t *stored_cas);

#ifdef __cplusplus
}
#endif
#endif
