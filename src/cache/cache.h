/*
 * cache: the one place that owns the RCU and reference-count policy for
 * items, and the semantics of every storage command.
 *
 * Reads take no lock: an RCU read section, a table lookup, one atomic
 * increment of the item's refcount, and a CLOCK bit set on the item.
 * Writes build a complete new item and swap it into the table (add_replace,
 * add_unique, or replace of the exact node that was read), so a
 * read-modify-write either wins atomically or sees that it lost and retries;
 * there is no lost update and no lock.
 *
 * An unlinked item is "retired": its table reference is dropped one RCU
 * grace period later (batched through call_rcu), because a reader may have
 * found it just before it was unlinked.
 *
 * Every thread that calls into the cache must call cache_thread_init() first
 * and cache_quiesce() from time to time (it hands retired items to RCU).
 * No function here may be called inside an RCU read-side section.
 */
#ifndef RC_CACHE_CACHE_H
#define RC_CACHE_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cache/item.h"
#include "cache/slab.h"

#ifdef __cplusplus
extern "C" {
#endif

struct cache_options {
    struct slab_options slab;
    bool use_cas;                 /* !-C: report CAS values */
    bool evict;                   /* !-M: evict when full */
    unsigned hashpower;           /* -o hashpower: initial table size */
    size_t item_size_max;         /* -I: largest item, memcached's measure */
    /* In a cluster: sequence numbers (CAS values) come from the version
     * clock (util/hlc.h), so a CAS is also a version other nodes can
     * order; without it, memcached's counter from 1. */
    bool versions;
};

enum cache_status {
    CACHE_OK,
    CACHE_STORED,
    CACHE_NOT_STORED,
    CACHE_EXISTS,
    CACHE_NOT_FOUND,
    CACHE_NON_NUMERIC,            /* incr/decr on a non-number */
    CACHE_NO_MEMORY,              /* full and cannot (or may not) evict */
    CACHE_TOO_LARGE,              /* larger than -I */
    CACHE_CONFLICT,               /* cache_put_version_based only */
};

enum cache_store_mode {
    CACHE_SET,
    CACHE_ADD,
    CACHE_REPLACE,
    CACHE_APPEND,
    CACHE_PREPEND,
    CACHE_CAS,
    /* Meta `ms I` with a CAS: like CACHE_CAS, but a CAS lower than the
     * item's stores the value anyway, marked ITEM_STALE, keeping the old
     * TTL and ITEM_TOKEN_SENT (memcached's CAS_STALE). */
    CACHE_CAS_STALE,
};

/* Counters summed over threads; names follow memcached's stats. */
struct cache_stats {
    int64_t curr_items;
    int64_t bytes;                /* memcached's measure of item bytes */
    uint64_t total_items;
    uint64_t evictions;
    uint64_t reclaimed;           /* expired items whose memory was reused */
    uint64_t expired_unfetched;
    uint64_t evicted_unfetched;
    uint64_t get_expired;
    uint64_t get_flushed;
    uint64_t crawler_reclaimed;
    /* Not memcached's: stores that found memory full and nothing to evict
     * (see cache_alloc). */
    uint64_t alloc_fast_fails;    /* refused at once: still nothing */
    uint64_t reclaim_waits;       /* waited for every pending grace
                                   * period (rcu_barrier) */
    uint64_t hash_bytes;          /* filled by cache_stats_sum */
    uint64_t hash_power;
};

int cache_setup(const struct cache_options *opts);
/* Frees the slabs' page map and the table's state. Call it last, from a
 * thread that is not registered (cache_thread_init), once every thread
 * that called into the cache (workers, crawler) has been joined, so that
 * each has run cache_thread_fini: nothing may retire or put an item after
 * this begins. It waits for every retired item handed to call_rcu
 * (rcu_barrier) before anything is freed. */
void cache_teardown(void);

void cache_thread_init(void);
void cache_thread_fini(void);
/* Hands this thread's retired items to RCU for freeing. */
void cache_quiesce(void);

/* Returns a referenced live item or NULL. With touch, also sets exptime
 * (gat). The caller item_put()s it. */
struct item *cache_get(const char *key, size_t nkey, bool touch,
                       rel_time_t exptime);

/* A key a caller is about to look up or store (cache_prefetch). */
struct cache_key {
    const char *key;
    size_t nkey;
};

#define CACHE_PREFETCH_MAX 32     /* keys per cache_prefetch call */

/*
 * A hint that keys[0..n) (at most CACHE_PREFETCH_MAX are used) will be
 * looked up soon, in that order: starts loading their table buckets and
 * items so that the misses of a pipelined batch overlap instead of coming
 * one request at a time. Changes nothing; any thread, any time.
 */
void cache_prefetch(const struct cache_key *keys, size_t n);

/*
 * Allocates an item for a store, evicting if needed. CACHE_TOO_LARGE if it
 * exceeds -I, CACHE_NO_MEMORY if full.
 *
 * A store that finds its class full and nothing it may evict (-M, or every
 * item held by a reader) remembers that for the class, and later stores
 * fail at once without scanning or waiting, until a chunk of the class is
 * freed, flush_all runs, the server clock moves on (items may have
 * expired) or, with eviction on, CACHE_STARVE_RETRY_MS have passed (holders
 * may have let go). Only one thread at a time waits for pending grace
 * periods (rcu_barrier) on this path; the others fail.
 */
#define CACHE_STARVE_RETRY_MS 20
enum cache_status cache_alloc(const char *key, size_t nkey, uint32_t cflags,
                              rel_time_t exptime, size_t nbytes,
                              struct item **out);

/* Stores a filled item. The caller keeps (and later puts) its reference.
 * cas is the client's value for CACHE_CAS; with APPEND/PREPEND a non-zero
 * cas must match too (binary and meta protocols). On CACHE_STORED,
 * *stored_cas (if not NULL) is the CAS of what was stored. */
enum cache_status cache_store(struct item *it, enum cache_store_mode mode,
                              uint64_t cas, uint64_t *stored_cas);
/* A CAS store (on cas) whose result the change hook reports as computed
 * from base, not from the item it replaced: another owner's state at
 * base, written here anew (replica_adopt), reaches that owner as a
 * result built on what it holds, refused if it has moved on since. */
enum cache_status cache_store_rebased(struct item *it, uint64_t cas,
                                      uint64_t base);

/* incr/decr. The text protocol only fills incr and delta; the binary and
 * meta protocols can also check a CAS, create a missing key with an
 * initial value, and change the TTL. */
struct cache_delta_req {
    bool incr;
    uint64_t delta;
    uint64_t cas;                 /* 0: no check; else CACHE_EXISTS if the
                                   * item's CAS differs */
    bool create;                  /* a miss stores `initial` (no delta) */
    uint64_t initial;
    rel_time_t create_exptime;
    bool set_exptime;             /* an existing item gets `exptime` */
    rel_time_t exptime;
};

struct cache_delta_res {
    uint64_t value;
    char text[24];                /* value in decimal, as stored */
    size_t len;
    uint64_t cas;                 /* CAS of the stored result */
    rel_time_t exptime;           /* of the stored result */
    bool created;                 /* the miss path stored `initial` */
};

/* CACHE_OK and res filled; or CACHE_NOT_FOUND, CACHE_EXISTS,
 * CACHE_NON_NUMERIC, CACHE_NO_MEMORY, CACHE_NOT_STORED (creation lost a
 * race with another store). */
enum cache_status cache_delta(const char *key, size_t nkey,
                              const struct cache_delta_req *req,
                              struct cache_delta_res *res);

enum cache_status cache_delete(const char *key, size_t nkey);
/* Deletes only if cas is 0 or the item's CAS; else CACHE_EXISTS. */
enum cache_status cache_delete_cas(const char *key, size_t nkey,
                                   uint64_t cas);

/* Meta delete (md). With check_cas, CACHE_EXISTS unless the item's CAS is
 * cas. With stale, the item is not removed but replaced by a copy marked
 * ITEM_STALE, without ITEM_TOKEN_SENT (the next reader wins the token), with
 * a new CAS and, with set_exptime, a new TTL. CACHE_OK, CACHE_NOT_FOUND,
 * CACHE_EXISTS or CACHE_NO_MEMORY (stale copy could not be allocated). */
struct cache_mdelete_req {
    bool check_cas;
    uint64_t cas;
    bool stale;
    bool set_exptime;
    rel_time_t exptime;
};
enum cache_status cache_mdelete(const char *key, size_t nkey,
                                const struct cache_mdelete_req *req);

/* Like cache_get but changes nothing: no CLOCK/fetched bit, no last-access
 * update, so the caller can report the state before this access (meta
 * `h`, `l`, `me`). Pair with cache_item_accessed() for a real read. */
struct item *cache_peek(const char *key, size_t nkey);
/* The same, not counted as a client's read either (get_expired,
 * get_flushed): for the cluster's own looks at a key. */
struct item *cache_peek_quiet(const char *key, size_t nkey);
/* Records a client read of it: CLOCK and fetched bits, last access. */
void cache_item_accessed(struct item *it);
/* Sets a linked item's TTL in place (touch semantics). */
void cache_item_set_exptime(struct item *it, rel_time_t exptime);
/* Atomically ORs bits into it's flags; returns the flags before. */
uint8_t cache_item_flags_or(struct item *it, uint8_t bits);
/* memcached's slab class id for it (what `me` prints as cls). */
unsigned cache_item_mc_class(const struct item *it);
enum cache_status cache_touch(const char *key, size_t nkey,
                              rel_time_t exptime);
/* Removes key if present (a failed set must not leave the old value). */
void cache_unlink_key(const char *key, size_t nkey);

/* flush_all [delay]: items stored before the flush time become invisible. */
void cache_flush(int64_t delay);
/* Once a second after clock_update(): starts a due delayed flush. */
void cache_tick(void);

/* The CAS value a client sees for it (0 with -C). */
uint64_t cache_item_cas(const struct item *it);
/* Whether it is neither expired nor flushed at now. */
bool cache_item_live(const struct item *it, rel_time_t now);
/* memcached's size accounting for an item, for the `bytes` stat. */
size_t cache_item_bytes(const struct item *it);

/* Accounts for an item evict.c unlinked (stats only; the caller still
 * owns the table reference and puts it after a grace period). */
void cache_retire(struct item *it, bool evicted, bool expired);

/* Why the crawler should sweep: set by flushes and by storing items that
 * expire. Reading it clears it. */
enum cache_crawl_reason {
    CACHE_CRAWL_NONE,
    CACHE_CRAWL_TTL,              /* items with an expiry were stored */
    CACHE_CRAWL_FLUSH,            /* flush_all ran */
};
enum cache_crawl_reason cache_crawl_wanted(void);
/* Puts back a TTL request the crawler is not acting on yet. */
void cache_crawl_rearm(void);

void cache_stats_sum(struct cache_stats *out);
void cache_stats_reset(void);
bool cache_uses_cas(void);

/*
 * The change hook: called on the calling thread, outside any RCU read
 * section, after every client command that changed key's state succeeds
 * (store, append/prepend, incr/decr, touch and gat, delete, meta
 * invalidation), with the item already in (or out of) the table. Not for
 * expiry, eviction, flush or the versioned functions below, which is what
 * lets replication (cluster/replica.h) send a key's new state to its other
 * owners without echoing what they send. Set once, before the workers.
 */
struct cache_change {
    /* A read-modify-write (incr/decr, append/prepend, cas, md I) computed
     * its result, stored at version, from the item at version base; both
     * 0 for a change that does not depend on the old state. */
    uint64_t base;
    uint64_t version;
    /* The result itself (the caller holds a reference for the hook's
     * duration), NULL unless base is set: the key may hold a later
     * state already. */
    const struct item *item;
};
void cache_set_change_hook(void (*fn)(const char *key, size_t nkey,
                                      const struct cache_change *how));

/*
 * Versioned copies (cache_version.c), for items that come from another
 * node: the newest version of a key wins, whatever arrives last.
 *
 * cache_put_version stores it (allocated with cache_alloc and filled) with
 * its sequence number set to version, if nothing live is stored under its
 * key or what is has an older one: CACHE_STORED. An equal version is the
 * same write: its TTL is taken (a replicated touch) and CACHE_EXISTS
 * returned. A newer one stays: CACHE_NOT_STORED. The clock observes
 * version either way. The caller keeps its reference.
 */
enum cache_status cache_put_version(struct item *it, uint64_t version);
/* The same for a read-modify-write's result computed from the item at
 * version base (cache_change): stored only if what is here is not newer
 * than base; else CACHE_EXISTS if it is this very version, and otherwise
 * CACHE_CONFLICT with its version in *have (a write the executor did not
 * see: storing this would lose it; 0 if nothing is here). A result built
 * on one refused here (cache_note_refused) is refused too, whatever is
 * here: its base holds the same lost write. base 0 is cache_put_version. */
enum cache_status cache_put_version_based(struct item *it, uint64_t version,
                                          uint64_t base, uint64_t *have);
/* Remembers that the result at version of key was refused as a conflict
 * (cache_put_version_based does so itself; the caller, for a refusal of
 * its own). A fixed table, a version per slot of the key's hash: a later
 * refusal in the same slot replaces it. Any thread. */
void cache_note_refused(const char *key, size_t nkey, uint64_t version);
/* Removes key if what is stored is older than version: CACHE_OK, else
 * CACHE_NOT_FOUND (absent) or CACHE_EXISTS (newer kept). */
enum cache_status cache_delete_below(const char *key, size_t nkey,
                                     uint64_t version);
/* The version (sequence number) of a stored item, whatever -C says. */
uint64_t cache_item_version(const struct item *it);

/*
 * A walk over every live item (cache_walk.c), for a rebalance: a cursor
 * over the slab pages, chunk by chunk, that any number of calls advance.
 * Items stored after the walk began may or may not be seen, and one that
 * moved (replaced in a chunk behind the cursor) is seen in its new chunk
 * if that is ahead; each item present for the whole walk is seen once.
 */
struct cache_walk {
    size_t page, chunk;
    size_t visited;               /* chunks inspected so far */
    bool done;                    /* the cursor has passed the last page */
};
/* From w on (zeroed: the start), inspects up to max_chunks chunks and
 * takes a reference on up to max live items into out (the caller
 * item_put()s them); returns how many. A registered thread, outside a
 * read section. */
size_t cache_walk_next(struct cache_walk *w, size_t max_chunks,
                       struct item **out, size_t max);
/* Chunks in all pages in use now: a walk's length, for progress. */
size_t cache_walk_chunks(void);

#ifdef __cplusplus
}
#endif
#endif
