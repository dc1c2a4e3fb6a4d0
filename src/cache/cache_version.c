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
 *
 * The executor learns of the refusal a round trip later, and meanwhile
 * may have built more results on the refused one (a node resumed after a
 * pause runs the requests that queued up for it, each on the last): their
 * base is above what is here, so the check alone would let them in, and
 * the write the first refusal protected would be lost after all. So the
 * refused versions are remembered, one per slot of a fixed table: a
 * result whose base is one of them is refused too, and remembered in
 * turn. Versions a node hands out never repeat, so a slot's match is
 * exact for that node's results; a slot taken by another key's refusal
 * forgets the first (rare: refusals happen only while views differ).
 */
#include "cache/cache.h"
#include "cache/cache_internal.h"

#include "cache/table.h"
#include "util/hlc.h"

#define REFUSED_SLOTS 4096         /* 32 KiB */

static uint64_t refused[REFUSED_SLOTS];

static uint64_t *refused_slot(uint64_t hash)
{
    return &refused[hash % REFUSED_SLOTS];
}

static void note_refused(uint64_t hash, uint64_t version)
{
    __atomic_store_n(refused_slot(hash), version, __ATOMIC_RELAXED);
}

static bool was_refused(uint64_t hash, uint64_t version)
{
    return __atomic_load_n(refused_slot(hash), __ATOMIC_RELAXED) == version;
}

void cache_note_refused(const char *key, size_t nkey, uint64_t version)
{
    note_refused(table_hash(key, nkey), version);
}

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

        if (base != 0 && was_refused(hash, base)) {
            *have_out = old == NULL ? 0 : item_seq(old);
            if (old != NULL) {
                item_put(old);
            }
            note_refused(hash, version);
            return CACHE_CONFLICT;
        }
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
            note_refused(hash, version);
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
