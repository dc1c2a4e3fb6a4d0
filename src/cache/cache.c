/*
 * cache: storage semantics over the lock-free table (see cache.h).
 * Allocation under memory pressure is cache_alloc.c's, the retired items'
 * wait for a grace period cache_limbo.c's, read-modify-write
 * commands cache_rmw.c's, copies from other nodes cache_version.c's.
 *
 * Invariants:
 *  - An item in the table has ITEM_LINKED and holds one table reference;
 *    both are set before insertion (prepare_link) and undone if the
 *    insertion fails (undo_link). ITEM_LINKED is never set on an item
 *    after it left the table (see prepare_link for why that matters), so
 *    a removed item loses it for good; an item about to be inserted may
 *    already have it, which is why the clock hand checks the table before
 *    it unlinks anything (evict.c).
 *  - Exactly one thread unlinks an item: the one whose table_del,
 *    table_replace or table_add_replace removed it. That thread clears
 *    ITEM_LINKED, does the stats, and retires the table reference.
 *  - Retired references are dropped after an RCU grace period: in batches
 *    through call_rcu (limbo), or synchronously when a thread that needs
 *    memory now evicts (reclaim()).
 *  - Items are immutable once linked, except exptime (touch/gat) and the
 *    flag bits; a change of value is a new item swapped in.
 *
 * Flush: every stored item gets a sequence number (it is also its CAS);
 * flush_all makes items with a smaller number invisible. A delayed flush
 * sets a deadline after which every item is invisible until the tick that
 * turns it into a sequence bound, which reproduces memcached's
 * second-granular oldest_live rule exactly.
 */
#include "cache/cache.h"
#include "cache/cache_internal.h"

#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <time.h>

#include "cache/evict.h"
#include "cache/table.h"
#include "util/hlc.h"
#include "util/tally.h"


int tsan_grace_token;             /* see util/tsan.h */
struct cache_options cache_opts;
static uint64_t next_seq = 1;     /* atomic: next sequence/CAS number
                                   * (without cache_opts.versions) */
static uint64_t flush_seq;        /* atomic: items below are flushed */
static rel_time_t flush_deadline; /* atomic: 0 or flush-everything time */
static int crawl_reason;          /* atomic: enum cache_crawl_reason */
static uint64_t flush_count;      /* atomic: flush_all calls so far */

static struct tally counters;     /* struct cache_stats per thread */
static __thread struct cache_stats *self_stats;
static void (*change_hook)(const char *key, size_t nkey,
                           const struct cache_change *how);

#define CACHE_COUNTERS (sizeof(struct cache_stats) / sizeof(uint64_t))
#define STAT_ADD(field, v) TALLY_ADD(self_stats, field, v)

int cache_setup(const struct cache_options *o)
{
    cache_opts = *o;
    tally_init(&counters, CACHE_COUNTERS);
    if (slab_setup(&o->slab) != 0) {
        return -1;
    }
    evict_setup();
    return table_setup(o->hashpower, o->slab.mem_limit);
}

void cache_teardown(void)
{
    /*
     * Every thread that retires items has stopped by now (cache.h), and
     * each handed its last batch to call_rcu in cache_thread_fini before
     * it was joined; so every limbo_release that will ever run was queued
     * before this barrier, and the barrier waits for them all to finish
     * freeing into the slabs. TSan cannot see that wait inside liburcu:
     * each callback releases tsan_barrier_token when done, and acquiring
     * it here orders its slab_free before slab_teardown's free (without
     * it TSan reported that pair under SIGTERM with load).
     */
    rcu_barrier();
    TSAN_ACQUIRE(&tsan_grace_token);
    TSAN_ACQUIRE(&tsan_barrier_token);
    table_teardown();
    slab_teardown();
}

bool cache_uses_cas(void)
{
    return cache_opts.use_cas;
}

uint64_t cache_flush_count(void)
{
    return __atomic_load_n(&flush_count, __ATOMIC_ACQUIRE);
}

void cache_count_alloc(bool fast_fail)
{
    if (fast_fail) {
        STAT_ADD(alloc_fast_fails, 1);
    } else {
        STAT_ADD(reclaim_waits, 1);
    }
}

void cache_thread_init(void)
{
    rcu_register_thread();
    self_stats = (struct cache_stats *)tally_register(&counters);
    cache_limbo_thread_init();
}

void cache_thread_fini(void)
{
    cache_quiesce();
    cache_limbo_thread_fini();
    tally_unregister(&counters, (uint64_t *)self_stats);
    self_stats = NULL;
    rcu_unregister_thread();
}

size_t cache_item_bytes(const struct item *it)
{
    /* memcached's ITEM_ntotal, so `bytes` reads the same. */
    return SLAB_MEMCACHED_HEADER + it->nkey + 1 +
           ((item_flags_relaxed(it) & ITEM_CFLAGS) ? 4 : 0) + it->nbytes + 2 +
           (cache_opts.use_cas ? 8 : 0);
}

uint64_t cache_item_cas(const struct item *it)
{
    return cache_opts.use_cas ? item_seq(it) : 0;
}

bool cache_item_live(const struct item *it, rel_time_t now)
{
    rel_time_t e = item_exptime(it);
    rel_time_t d;

    if (e != 0 && e <= now) {
        return false;
    }
    if (item_seq(it) < __atomic_load_n(&flush_seq, __ATOMIC_ACQUIRE)) {
        return false;
    }
    d = __atomic_load_n(&flush_deadline, __ATOMIC_ACQUIRE);
    return d == 0 || d > now;
}

void cache_retire(struct item *it, bool evicted, bool expired)
{
    bool fetched = (item_flags_load(it) & ITEM_FETCHED) != 0;

    STAT_ADD(curr_items, -1);
    STAT_ADD(bytes, -(int64_t)cache_item_bytes(it));
    if (evicted) {
        STAT_ADD(evictions, 1);
        if (!fetched) {
            STAT_ADD(evicted_unfetched, 1);
        }
    }
    if (expired) {
        STAT_ADD(reclaimed, 1);
        if (!fetched) {
            STAT_ADD(expired_unfetched, 1);
        }
    }
}

/* it was removed from the table by this thread: account and retire it. */
static void unlinked(struct item *it)
{
    __atomic_and_fetch(&it->iflags, (uint8_t)~ITEM_LINKED, __ATOMIC_RELEASE);
    cache_retire(it, false, false);
    cache_limbo_push(it);
}

static void flush_promote(rel_time_t now);

/* The next sequence number: memcached's counter, or with versions the
 * cluster's clock (util/hlc.h), so that a CAS is also a version. */
static uint64_t seq_take(void)
{
    return cache_opts.versions ? hlc_next()
                         : __atomic_fetch_add(&next_seq, 1, __ATOMIC_RELAXED);
}

/* Every sequence number issued so far is below this, and every one
 * issued later is not. The clock's bound is a version of its own: its
 * wall-clock part may not have moved since the last store, and the next
 * store must still land above it. */
static uint64_t seq_bound(void)
{
    return cache_opts.versions ? hlc_next()
                         : __atomic_load_n(&next_seq, __ATOMIC_RELAXED);
}

void cache_set_change_hook(void (*fn)(const char *key, size_t nkey,
                                      const struct cache_change *how))
{
    change_hook = fn;
}

void cache_changed_from(const struct item *result, uint64_t base)
{
    struct cache_change how = { base, item_seq(result), result };

    if (change_hook != NULL) {
        change_hook(item_key(result), result->nkey, &how);
    }
}

void cache_changed(const char *key, size_t nkey)
{
    struct cache_change how = { 0, 0, NULL };

    if (change_hook != NULL) {
        change_hook(key, nkey, &how);
    }
}

/*
 * Gives it a sequence number, the table's reference and ITEM_LINKED,
 * before the insert.
 *
 * Note that the flag is set here, while the item is still private, and not
 * after the insert. It used to be set after table_add_replace returned, and
 * in between another thread could find the item, table_del it and clear
 * the flag (a no-op: not yet set) and retire it; the store then set the
 * flag on an item no longer in the table, and nobody would ever clear it
 * (issue 12). The clock hand trusts the flag: it would check such an item
 * without a read-side section protecting it (the grace period that frees
 * it may have started before the hand looked) and, if the storing client
 * let go of it between the hand's refcount check and its table_del, delete
 * a freed chunk's node from the table. Setting it before the item can be
 * reached means the only thread that clears it, the remover, always comes
 * after: a removed item never carries the flag again. The price is that an
 * item about to be inserted (or whose insert fails) is flagged but not in
 * the table; the hand skips it because its refcount is 2 (the caller's and
 * this table reference) and because take() (evict.c) looks the item up
 * before it unlinks it.
 */
static void prepare_link_seq(struct item *it, uint64_t seq)
{
    flush_promote(clock_now());
    item_set_seq(it, seq != 0 ? seq : seq_take());
    item_set_last_access(it, clock_now());
    __atomic_add_fetch(&it->refcount, 1, __ATOMIC_RELAXED);
    /* Release: a sweeper that sees the flag sees the header and count. */
    __atomic_or_fetch(&it->iflags, ITEM_LINKED, __ATOMIC_RELEASE);
}

static void prepare_link(struct item *it)
{
    prepare_link_seq(it, 0);
}

/* The insert failed and the caller will try again with it: it was never
 * reachable, so this thread may clear the flag and drop the table
 * reference prepare_link took. The caller's own reference keeps the chunk
 * from being reused meanwhile. */
static void undo_link(struct item *it)
{
    __atomic_and_fetch(&it->iflags, (uint8_t)~ITEM_LINKED, __ATOMIC_RELEASE);
    __atomic_sub_fetch(&it->refcount, 1, __ATOMIC_RELAXED);
}

/* The insert failed for good. A clock hand or crawler inside a read-side
 * section may have seen the flag and still be reading the header, so the
 * chunk must not be freed and reused before that section ends: the table
 * reference goes through the limbo like a removed item's, rather than
 * leaving the caller's item_put to free the chunk at once. */
static void abandon_link(struct item *it)
{
    __atomic_and_fetch(&it->iflags, (uint8_t)~ITEM_LINKED, __ATOMIC_RELEASE);
    cache_limbo_push(it);
}

static void want_crawl(enum cache_crawl_reason why)
{
    /* Read first: TTL stores are frequent, the flag rarely changes. */
    if (__atomic_load_n(&crawl_reason, __ATOMIC_RELAXED) < (int)why) {
        __atomic_store_n(&crawl_reason, (int)why, __ATOMIC_RELAXED);
    }
}

enum cache_crawl_reason cache_crawl_wanted(void)
{
    return (enum cache_crawl_reason)__atomic_exchange_n(
        &crawl_reason, CACHE_CRAWL_NONE, __ATOMIC_RELAXED);
}

void cache_crawl_rearm(void)
{
    want_crawl(CACHE_CRAWL_TTL);
}

/* it is now in the table (ITEM_LINKED came with prepare_link). Another
 * thread may already have removed it again; its -1 and this +1 cancel. */
static void linked(struct item *it)
{
    if (item_exptime(it) != 0) {
        want_crawl(CACHE_CRAWL_TTL);
    }
    STAT_ADD(curr_items, 1);
    STAT_ADD(total_items, 1);
    STAT_ADD(bytes, (int64_t)cache_item_bytes(it));
}

/* Unlinks a dead item found by a reader (lazy expiry). */
static void unlink_dead(struct item *it)
{
    bool won;

    rcu_read_lock();
    won = table_del(it);
    rcu_read_unlock_annotated();
    if (won) {
        __atomic_and_fetch(&it->iflags, (uint8_t)~ITEM_LINKED,
                           __ATOMIC_RELEASE);
        cache_retire(it, false, true);
        cache_limbo_push(it);
    }
}

/* See cache_internal.h. */
struct item *cache_get_ref(const char *key, size_t nkey, uint64_t hash,
                           bool count_misses)
{
    rel_time_t now = clock_now();
    struct item *it;

    rcu_read_lock();
    it = table_lookup(key, nkey, hash, NULL);
    if (it != NULL && !item_ref(it)) {
        it = NULL;
    }
    rcu_read_unlock_annotated();
    if (it != NULL && !cache_item_live(it, now)) {
        if (count_misses) {
            rel_time_t e = item_exptime(it);

            if (e != 0 && e <= now) {
                STAT_ADD(get_expired, 1);
            } else {
                STAT_ADD(get_flushed, 1);
            }
        }
        unlink_dead(it);
        item_put(it);
        it = NULL;
    }
    return it;
}

struct item *cache_get(const char *key, size_t nkey, bool touch,
                       rel_time_t exptime)
{
    struct item *it = cache_get_ref(key, nkey, table_hash(key, nkey), true);

    if (it != NULL) {
        if (touch) {
            __atomic_store_n(&it->exptime, exptime, __ATOMIC_RELAXED);
            cache_changed(key, nkey);
        }
        cache_item_accessed(it);
    }
    return it;
}

void cache_prefetch(const struct cache_key *keys, size_t n)
{
    uint64_t hash[CACHE_PREFETCH_MAX];
    size_t i;

    if (n > CACHE_PREFETCH_MAX) {
        n = CACHE_PREFETCH_MAX;
    }
    /* Two passes: the second reads the buckets the first asked for, by
     * then (mostly) arrived together rather than one miss at a time. */
    for (i = 0; i < n; i++) {
        hash[i] = table_hash(keys[i].key, keys[i].nkey);
        table_prefetch_bucket(hash[i]);
    }
    for (i = 0; i < n; i++) {
        table_prefetch_chain(hash[i]);
    }
}

struct item *cache_peek(const char *key, size_t nkey)
{
    return cache_get_ref(key, nkey, table_hash(key, nkey), true);
}

struct item *cache_peek_quiet(const char *key, size_t nkey)
{
    return cache_get_ref(key, nkey, table_hash(key, nkey), false);
}

void cache_item_accessed(struct item *it)
{
    item_mark_active(it);
    item_touch_access(it, clock_now());
}

void cache_item_set_exptime(struct item *it, rel_time_t exptime)
{
    __atomic_store_n(&it->exptime, exptime, __ATOMIC_RELAXED);
    if (exptime != 0) {
        want_crawl(CACHE_CRAWL_TTL);
    }
    cache_changed(item_key(it), it->nkey);
}

uint8_t cache_item_flags_or(struct item *it, uint8_t bits)
{
    return __atomic_fetch_or(&it->iflags, bits, __ATOMIC_ACQ_REL);
}

unsigned cache_item_mc_class(const struct item *it)
{
    /* memcached's slabs_clsid: beyond the largest chunk (a chunked item)
     * it answers the largest class. */
    unsigned cls = slab_class_for(cache_item_bytes(it));

    return cls != 0 ? cls : slab_largest_class();
}

/* Swaps fresh in for exactly old; false if old was changed meanwhile. */
bool cache_swap_exact(struct item *old, struct item *fresh, uint64_t hash)
{
    return cache_swap_exact_seq(old, fresh, hash, 0);
}

bool cache_swap_exact_seq(struct item *old, struct item *fresh,
                          uint64_t hash, uint64_t seq)
{
    struct cds_lfht_iter iter;
    bool ok = false;

    prepare_link_seq(fresh, seq);
    rcu_read_lock();
    if (table_lookup(item_key(old), old->nkey, hash, &iter) == old) {
        ok = table_replace(&iter, fresh, hash);
    }
    rcu_read_unlock_annotated();
    if (!ok) {
        abandon_link(fresh);
        return false;
    }
    linked(fresh);
    unlinked(old);
    return true;
}

static enum cache_status store_whole(struct item *it,
                                     enum cache_store_mode mode,
                                     uint64_t cas, uint64_t hash);

/* See cache_internal.h. */
bool cache_add_unique_seq(struct item *it, uint64_t hash, uint64_t seq)
{
    struct item *got;

    prepare_link_seq(it, seq);
    rcu_read_lock();
    got = table_add_unique(it, hash);
    rcu_read_unlock_annotated();
    if (got != NULL) {
        undo_link(it);
        return false;
    }
    linked(it);
    return true;
}

enum cache_status cache_store_rebased(struct item *it, uint64_t cas,
                                      uint64_t base)
{
    enum cache_status st = store_whole(it, CACHE_CAS, cas,
                                       table_hash(item_key(it), it->nkey));

    if (st == CACHE_STORED) {
        cache_changed_from(it, base);
    }
    return st;
}

enum cache_status cache_store(struct item *it, enum cache_store_mode mode,
                              uint64_t cas, uint64_t *stored_cas)
{
    uint64_t hash = table_hash(item_key(it), it->nkey);
    enum cache_status st;

    struct cache_change how = { 0, 0, NULL };
    const struct item *result = it;

    if (mode == CACHE_APPEND || mode == CACHE_PREPEND) {
        st = cache_store_concat(it, mode == CACHE_APPEND, cas, hash, &how);
        if (st == CACHE_STORED) {
            result = how.item;
        }
    } else {
        st = store_whole(it, mode, cas, hash);
        if (st == CACHE_STORED && mode == CACHE_CAS) {
            how.base = cas;       /* it matched: the old item's version */
        }
    }
    if (st == CACHE_STORED) {
        if (stored_cas != NULL) {
            *stored_cas = cache_item_cas(result);
        }
        if (how.base != 0) {
            cache_changed_from(result, how.base);
        } else {
            cache_changed(item_key(result), result->nkey);
        }
    }
    if (how.item != NULL) {
        item_put((struct item *)how.item);
    }
    return st;
}

/* An older-CAS meta set takes the newer value's TTL and token bit and is
 * marked stale (memcached's CAS_STALE). it is not linked yet; a retry
 * recomputes everything from the then-current old. */
static void stale_from(struct item *it, const struct item *old)
{
    uint8_t keep = (uint8_t)~(ITEM_STALE | ITEM_TOKEN_SENT);

    __atomic_store_n(&it->exptime, item_exptime(old), __ATOMIC_RELAXED);
    __atomic_and_fetch(&it->iflags, keep, __ATOMIC_RELAXED);
    cache_item_flags_or(it, (uint8_t)(ITEM_STALE |
                            (item_flags_load(old) & ITEM_TOKEN_SENT)));
}

/* set/add/replace/cas of a complete item. */
static enum cache_status store_whole(struct item *it,
                                     enum cache_store_mode mode,
                                     uint64_t cas, uint64_t hash)
{
    rel_time_t exptime0 = item_exptime(it);

    for (;;) {
        struct cds_lfht_iter iter;
        rel_time_t now = clock_now();
        struct item *old, *got;
        enum cache_status st;

        if (mode == CACHE_CAS_STALE) {
            /* Undo what a lost stale attempt changed. */
            __atomic_store_n(&it->exptime, exptime0, __ATOMIC_RELAXED);
            __atomic_and_fetch(&it->iflags,
                               (uint8_t)~(ITEM_STALE | ITEM_TOKEN_SENT),
                               __ATOMIC_RELAXED);
        }
        prepare_link(it);
        rcu_read_lock();
        if (mode == CACHE_SET) {
            old = table_add_replace(it, hash);
            rcu_read_unlock_annotated();
            linked(it);
            if (old != NULL) {
                unlinked(old);
            }
            return CACHE_STORED;
        }
        old = table_lookup(item_key(it), it->nkey, hash, &iter);
        if (old != NULL && !cache_item_live(old, now)) {
            if (mode == CACHE_ADD && table_replace(&iter, it, hash)) {
                rcu_read_unlock_annotated();
                linked(it);
                unlinked(old);
                return CACHE_STORED;
            }
            if (mode == CACHE_ADD) {
                rcu_read_unlock_annotated();
                undo_link(it);
                continue;         /* it changed under us: look again */
            }
            old = NULL;           /* dead counts as absent */
        }
        if (mode == CACHE_ADD) {
            if (old != NULL) {
                item_mark_active(old); /* memcached bumps it */
                st = CACHE_NOT_STORED;
            } else if ((got = table_add_unique(it, hash)) == NULL) {
                rcu_read_unlock_annotated();
                linked(it);
                return CACHE_STORED;
            } else {
                rcu_read_unlock_annotated();
                undo_link(it);
                continue;         /* raced with another insert */
            }
        } else if (old == NULL) {
            st = mode == CACHE_CAS || mode == CACHE_CAS_STALE
                     ? CACHE_NOT_FOUND : CACHE_NOT_STORED;
        } else if (mode == CACHE_CAS_STALE && cas != 0 && cache_opts.use_cas &&
                   cas < item_seq(old)) {
            /* memcached's CAS_STALE: store anyway, marked stale. */
            stale_from(it, old);
            if (table_replace(&iter, it, hash)) {
                rcu_read_unlock_annotated();
                linked(it);
                unlinked(old);
                return CACHE_STORED;
            }
            rcu_read_unlock_annotated();
            undo_link(it);
            continue;
        } else if ((mode == CACHE_CAS || mode == CACHE_CAS_STALE) &&
                   (cas == 0 || !cache_opts.use_cas || item_seq(old) != cas)) {
            /* memcached treats a zero CAS (always the case with -C) as no
             * match. */
            st = CACHE_EXISTS;
        } else if (table_replace(&iter, it, hash)) {
            rcu_read_unlock_annotated();
            linked(it);
            unlinked(old);
            return CACHE_STORED;
        } else {
            rcu_read_unlock_annotated();
            undo_link(it);
            continue;
        }
        rcu_read_unlock_annotated();
        abandon_link(it);
        return st;
    }
}

/* See cache_internal.h. */
bool cache_unlink_exact(struct item *old)
{
    bool won;

    rcu_read_lock();
    won = table_del(old);
    rcu_read_unlock_annotated();
    if (won) {
        unlinked(old);
    }
    item_put(old);
    return won;
}

enum cache_status cache_delete(const char *key, size_t nkey)
{
    return cache_delete_cas(key, nkey, 0);
}

enum cache_status cache_delete_cas(const char *key, size_t nkey,
                                   uint64_t cas)
{
    uint64_t hash = table_hash(key, nkey);

    for (;;) {
        struct item *old = cache_get_ref(key, nkey, hash, false);

        if (old == NULL) {
            /* In a cluster, absence is a state too: a delete here may be
             * the only one a partition's other side will hear of, where
             * the key still is (the hook records a tombstone and tells
             * the other owners). */
            if (cas == 0 && cache_opts.versions) {
                cache_changed(key, nkey);
            }
            return CACHE_NOT_FOUND;
        }
        if (cas != 0 && cache_item_cas(old) != cas) {
            item_put(old);
            return CACHE_EXISTS;
        }
        if (cache_unlink_exact(old)) {
            cache_changed(key, nkey);
            return CACHE_OK;
        }
    }
}

enum cache_status cache_touch(const char *key, size_t nkey,
                              rel_time_t exptime)
{
    struct item *it = cache_get_ref(key, nkey, table_hash(key, nkey), false);

    if (it == NULL) {
        return CACHE_NOT_FOUND;
    }
    __atomic_store_n(&it->exptime, exptime, __ATOMIC_RELAXED);
    cache_item_accessed(it);
    item_put(it);
    cache_changed(key, nkey);
    return CACHE_OK;
}

void cache_unlink_key(const char *key, size_t nkey)
{
    (void)cache_delete(key, nkey);
}

void cache_flush(int64_t delay)
{
    rel_time_t now = clock_now();

    /* Flushed items are reclaimable: stores that found memory full try
     * again (starve_known). */
    __atomic_add_fetch(&flush_count, 1, __ATOMIC_RELEASE);

    rel_time_t oldest = delay > 0 ? clock_expiry(delay) : now;

    /* memcached: oldest_live = realtime(delay) - 1 with CAS, realtime(delay)
     * without; items stored at or before oldest_live are flushed once it is
     * reached. A unix time before start (realtime() == 1) gives an
     * oldest_live before anything was stored: nothing is flushed. */
    if (oldest == 1) {
        __atomic_store_n(&flush_deadline, 0, __ATOMIC_RELEASE);
        return;
    }
    if (cache_opts.use_cas) {
        oldest -= 1;
    }
    if (oldest <= now) {
        /* Due now: everything stored so far goes. */
        __atomic_store_n(&flush_seq, seq_bound(), __ATOMIC_RELEASE);
        want_crawl(CACHE_CRAWL_FLUSH);
    }
    /* Items stored during the second oldest_live itself are flushed too:
     * until that second is over, everything is invisible (cache_tick). */
    __atomic_store_n(&flush_deadline, oldest < now ? 0 : oldest,
                     __ATOMIC_RELEASE);
}

/* Once the deadline's second is over, a sequence bound replaces it: items
 * stored until now are flushed, later ones are not. Called by the tick and
 * by every store (before it takes its sequence number), so a store that
 * lands between the clock moving on and the tick is not caught. Two
 * threads promoting at once may both raise the bound; the higher wins. */
static void flush_promote(rel_time_t now)
{
    rel_time_t d = __atomic_load_n(&flush_deadline, __ATOMIC_ACQUIRE);
    uint64_t bound, cur;

    if (d == 0 || now <= d) {
        return;
    }
    bound = seq_bound();
    cur = __atomic_load_n(&flush_seq, __ATOMIC_RELAXED);
    while (cur < bound &&
           !__atomic_compare_exchange_n(&flush_seq, &cur, bound, true,
                                        __ATOMIC_RELEASE, __ATOMIC_RELAXED)) {
    }
    if (__atomic_compare_exchange_n(&flush_deadline, &d, 0, false,
                                    __ATOMIC_RELEASE, __ATOMIC_RELAXED)) {
        want_crawl(CACHE_CRAWL_FLUSH);
    }
}

void cache_tick(void)
{
    flush_promote(clock_now());
}

void cache_stats_sum(struct cache_stats *out)
{
    tally_sum(&counters, (uint64_t *)out);
    out->hash_bytes = table_buckets() * sizeof(struct cds_lfht_node);
    out->hash_power = (uint64_t)__builtin_ctzll(table_buckets());
}

void cache_stats_reset(void)
{
    /* memcached's `stats reset` keeps curr_items and bytes. */
    size_t first = offsetof(struct cache_stats, total_items) /
                   sizeof(uint64_t);
    size_t end = offsetof(struct cache_stats, hash_bytes) / sizeof(uint64_t);

    tally_reset(&counters, first, end - first);
}
