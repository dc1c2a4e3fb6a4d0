/*
 * cache_version: items that come from another node keep its version, and
 * the newest version of a key wins (see cache.h).
 *
 * The comparison and the swap are not one atomic step, so each is a
 * compare-and-swap on the exact item read (cache_swap_exact_seq): if
 * another store got in between, look again. A store from a client here
 * always takes a version above every one observed, so it beats any copy
 * already received; a copy that arrives later with an older version loses
 * to it.
 *
 * A read-modify-write's result (cache_put_version_based) is also checked
 * against its base: the owner that computed it had not seen a version
 * above base, so one stored here is a write it would silently undo (two
 * nodes that each took themselves for the key's first owner, while their
 * views differed, each applied an incr to its own copy).
 */
#include "cache/cache.h"
#include "cache/cache_internal.h"

#include "cache/table.h"
#include "util/hlc.h"

uint64_t cache_item_version(const struct item *it)
{
    return item_seq(it);
}

enum cache_status cache_put_version(struct item *it, uint64_t version)
{
    uint64_t have;

    return cache_put_version_based(it, version, 0, &have);
}

enum cache_status cache_put_version_based(struct item *it, uint64_t version,
                                          uint64_t base, uint64_t *have_out)
{
    uint64_t hash = table_hash(item_key(it), it->nkey);

    hlc_observe(version);
    for (;;) {
        struct item *old = cache_get_ref(item_key(it), it->nkey, hash, false);
        uint64_t have;
        bool won;

        if (old == NULL) {
            if (cache_add_unique_seq(it, hash, version)) {
                return CACHE_STORED;
            }
            continue;             /* a dead item is in the way, or a race */
        }
        have = item_seq(old);
        if (base != 0 && have != version && have > base) {
            item_put(old);
            *have_out = have;
            return CACHE_CONFLICT;
        }
        if (have > version) {
            item_put(old);
            return CACHE_NOT_STORED;
        }
        if (have == version) {
            __atomic_store_n(&old->exptime, item_exptime(it),
                             __ATOMIC_RELAXED);
            item_put(old);
            return CACHE_EXISTS;
        }
        won = cache_swap_exact_seq(old, it, hash, version);
        item_put(old);
        if (won) {
            return CACHE_STORED;
        }
    }
}

enum cache_status cache_delete_below(const char *key, size_t nkey,
                                     uint64_t version)
{
    uint64_t hash = table_hash(key, nkey);

    hlc_observe(version);
    for (;;) {
        struct item *old = cache_get_ref(key, nkey, hash, false);

        if (old == NULL) {
            return CACHE_NOT_FOUND;
        }
        if (item_seq(old) >= version) {
            item_put(old);
            return CACHE_EXISTS;
        }
        if (cache_unlink_exact(old)) {
            return CACHE_OK;
        }
    }
}
