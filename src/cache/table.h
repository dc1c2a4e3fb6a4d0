/*
 * table: the key -> item index, a liburcu cds_lfht keyed by XXH3.
 *
 * Lookups and updates never take a lock: they run inside an RCU read-side
 * section (rcu_read_lock), and the table's nodes are embedded in items.
 * The table does not resize itself (cds_lfht's auto-resize sizes buckets to
 * about one per item, 16 bytes each); the maintenance thread grows it when
 * items exceed 1.5 per bucket, as memcached does. See doc/architecture.md.
 */
#ifndef RC_CACHE_TABLE_H
#define RC_CACHE_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cache/item.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Creates the table with 2^hashpower buckets, able to grow to what
 * mem_limit bytes of items can need. 0 or -1. */
int table_setup(unsigned hashpower, size_t mem_limit);
void table_teardown(void);

uint64_t table_hash(const char *key, size_t nkey);

/* The following must be called inside an RCU read-side section. */

/* Finds the item for key; iter (may be NULL) is set for table_replace. */
struct item *table_lookup(const char *key, size_t nkey, uint64_t hash,
                          struct cds_lfht_iter *iter);
/* Inserts it, replacing any item with the same key; returns the replaced
 * item (now unlinked, the caller retires it) or NULL. */
struct item *table_add_replace(struct item *it, uint64_t hash);
/* Replaces exactly the item iter points at; false if it was removed or
 * replaced meanwhile. */
bool table_replace(struct cds_lfht_iter *iter, struct item *it,
                   uint64_t hash);
/* Inserts it unless the key exists; returns NULL if inserted, else the
 * existing item. */
struct item *table_add_unique(struct item *it, uint64_t hash);
/* Removes it; false if someone else removed it first. */
bool table_del(struct item *it);

/*
 * Prefetch hints for lookups of hash that will come soon. A batch of
 * lookups overlaps its cache misses when table_prefetch_bucket() runs for
 * every hash first and table_prefetch_chain() (which reads the bucket,
 * hence the two steps) for every hash next. Neither changes anything nor
 * needs a read-side section: what they read may be stale, which only makes
 * the hint useless.
 */
void table_prefetch_bucket(uint64_t hash);
void table_prefetch_chain(uint64_t hash);

/* Outside a read section, from a registered thread: grows the table when
 * items > 1.5 * buckets. Returns the bucket count. */
size_t table_maybe_grow(size_t items);
size_t table_buckets(void);

#ifdef __cplusplus
}
#endif
#endif
