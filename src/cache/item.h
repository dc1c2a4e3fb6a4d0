/*
 * item: the layout of a cached key/value and its reference count.
 *
 * An item lives in one slab chunk:
 *
 *   0        16        18     19     20       24        28     34   36
 *   | lfht    | refcnt | flags| nkey | nbytes | exptime | seq/  | la | [cflags]
 *   | node    | u16    | u8   | u8   | u32    | u32     | cas48 | u16| [u32]
 *   ... key (nkey bytes) | value (nbytes bytes, no trailing \r\n)
 *
 * The 8 bytes after the header hold two things: a 48-bit sequence number
 * (the item's CAS, also what flush_all compares) and a 16-bit last-access
 * time for the meta protocol's `l` flag and `me` (memcached keeps a 32-bit
 * it->time in its larger header; growing ours by 4 bytes would push a
 * 16-byte-key/100-byte-value item out of the 152-byte chunk). Limits, by
 * design:
 *  - 2^48 CAS values: 8.9 years of one million stores per second. The
 *    counter is not checked for wrap; after it, CAS and flush ordering
 *    would be wrong.
 *  - The last-access time is the server clock (seconds) modulo 65536 and is
 *    rewritten at most once per ITEM_UPDATE_INTERVAL (60 s, memcached's
 *    bump interval), so a reader sees (now - la) mod 65536: exact to within
 *    60 s for items touched in the last ~18.2 hours, wrapped for items
 *    idle longer than that. It is a 2-byte-aligned u16 accessed with
 *    relaxed atomics, because readers update it concurrently; the seq bytes
 *    beside it are written only before the item is linked.
 *
 * The 28-byte header is smaller than memcached's 48 (+8 cas): no LRU list
 * links (eviction sweeps slab pages instead), no slab class id (the page
 * knows it), client flags stored only when non-zero, and the "\r\n" that
 * ends every value on the wire is not stored. A 16-byte key with a 100-byte
 * value fits a 152-byte chunk where memcached needs 192.
 *
 * Values larger than the largest slab chunk are CHUNKED: the item itself is
 * a chunk of the largest class holding, after the key, a table of
 * continuation chunks (also of the largest class, each starting with a
 * zeroed ITEM_CHUNK_HDR so page sweepers skip them) and then the first part
 * of the value; see item.c.
 *
 * Reference counting: a linked item holds one reference for the table
 * (kept until a grace period after it is unlinked, so a reader that found it
 * in an RCU read section may still take a reference), plus one per holder.
 * The last item_put() frees the chunk(s). See cache.c for the RCU rules.
 */
#ifndef RC_CACHE_ITEM_H
#define RC_CACHE_ITEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/uio.h>

#include <urcu.h>
#include <urcu/rculfhash.h>

#include "util/clock.h"
#include "util/tsan.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Ends a read-side section; tells TSan what the grace period orders. */
static inline void rcu_read_unlock_annotated(void)
{
    TSAN_RELEASE(&tsan_grace_token);
    rcu_read_unlock();
}

#define KEY_MAX_LENGTH 250        /* memcached's key length limit */

enum item_flag {
    ITEM_LINKED  = 1 << 0,        /* reachable from the table */
    ITEM_CFLAGS  = 1 << 1,        /* has a 4-byte client flags field */
    ITEM_CHUNKED = 1 << 2,        /* value is in separate data chunks */
    ITEM_ACTIVE  = 1 << 3,        /* CLOCK reference bit: hit since sweep */
    ITEM_FETCHED = 1 << 4,        /* read at least once (stats) */
    /* Meta protocol (see server/meta.c): */
    ITEM_STALE   = 1 << 5,        /* invalidated by md/ms I: serve, but
                                   * tell clients to recache (X) */
    ITEM_TOKEN_SENT = 1 << 6,     /* a client got the recache token (W);
                                   * others are told Z */
    ITEM_KEY_BINARY = 1 << 7,     /* key was given base64 (b): return it
                                   * base64-encoded */
};

struct item {
    struct cds_lfht_node node;    /* table linkage; first, see slab.h */
    uint16_t refcount;            /* atomic; see above */
    uint8_t iflags;               /* atomic; enum item_flag */
    uint8_t nkey;                 /* key length, <= KEY_MAX_LENGTH */
    uint32_t nbytes;              /* value length in bytes */
    rel_time_t exptime;           /* 0 = never; atomic (touch) */
    /* seq (u64, unaligned), optional client flags, key, value follow */
};

#define ITEM_HDR_SIZE 28          /* bytes before the seq field */
#define ITEM_SEQ_SIZE 8           /* seq (6 bytes) + last access (2) */
#define ITEM_LA_OFFSET (ITEM_HDR_SIZE + 6)
#define ITEM_SEQ_MAX ((UINT64_C(1) << 48) - 1)
#define ITEM_UPDATE_INTERVAL 60   /* memcached's: seconds between bumps */
#define ITEM_CHUNK_HDR 32         /* zeroed prefix of a data chunk */
/*
 * The 16-bit count has two regions. References that wait on a client
 * (queued replies) are taken only below ITEM_HOLD_LIMIT: a reply queue
 * copies the value instead (net/outq.c), so however many slow clients
 * hold one item, it never becomes unreadable. Above it, the remaining
 * ~5,500 values are for short-lived references (an operation in progress
 * on a worker, the table's own, the crawler's), of which each thread holds
 * a few at a time; ITEM_REFCOUNT_LIMIT only guards the counter against
 * wrapping and is not reachable with fewer than ~1,000 threads.
 */
#define ITEM_HOLD_LIMIT 60000
#define ITEM_REFCOUNT_LIMIT 65500

/* Bytes an item's first chunk needs for a key and value (not chunked). */
static inline size_t item_total_size(size_t nkey, uint32_t cflags,
                                     size_t nbytes)
{
    return ITEM_HDR_SIZE + ITEM_SEQ_SIZE + (cflags ? 4 : 0) + nkey + nbytes;
}

/* Flag bits for layout questions (CFLAGS, CHUNKED never change once the
 * item is built; the load is atomic because other bits do). */
static inline uint8_t item_flags_relaxed(const struct item *it)
{
    return __atomic_load_n(&it->iflags, __ATOMIC_RELAXED);
}

/* The seq is split into a u32 and a u16 so that the last-access u16 next
 * to it is never part of a wider (non-atomic) access. */
static inline uint64_t item_seq(const struct item *it)
{
    uint32_t lo;
    uint16_t hi;

    memcpy(&lo, (const char *)it + ITEM_HDR_SIZE, sizeof(lo));
    memcpy(&hi, (const char *)it + ITEM_HDR_SIZE + 4, sizeof(hi));
    return (uint64_t)lo | ((uint64_t)hi << 32);
}

/* Only before the item is linked; seq is truncated to 48 bits. */
static inline void item_set_seq(struct item *it, uint64_t seq)
{
    uint32_t lo = (uint32_t)seq;
    uint16_t hi = (uint16_t)(seq >> 32);

    memcpy((char *)it + ITEM_HDR_SIZE, &lo, sizeof(lo));
    memcpy((char *)it + ITEM_HDR_SIZE + 4, &hi, sizeof(hi));
}

static inline uint16_t *item_la_ptr(const struct item *it)
{
    return (uint16_t *)(void *)((char *)it + ITEM_LA_OFFSET);
}

/* Server time of the last access, modulo 65536 (see the layout notes). */
static inline uint16_t item_last_access(const struct item *it)
{
    return __atomic_load_n(item_la_ptr(it), __ATOMIC_RELAXED);
}

static inline void item_set_last_access(struct item *it, rel_time_t now)
{
    __atomic_store_n(item_la_ptr(it), (uint16_t)now, __ATOMIC_RELAXED);
}

/* Seconds since the last access as far as 16 bits can tell. */
static inline rel_time_t item_idle_secs(const struct item *it, rel_time_t now)
{
    return (uint16_t)((uint16_t)now - item_last_access(it));
}

/* Records an access at most once per ITEM_UPDATE_INTERVAL, as memcached
 * bumps it->time, so a hot item's line is not written on every hit. */
static inline void item_touch_access(struct item *it, rel_time_t now)
{
    if (item_idle_secs(it, now) >= ITEM_UPDATE_INTERVAL) {
        item_set_last_access(it, now);
    }
}

static inline uint32_t item_cflags(const struct item *it)
{
    uint32_t v = 0;

    if (item_flags_relaxed(it) & ITEM_CFLAGS) {
        memcpy(&v, (const char *)it + ITEM_HDR_SIZE + ITEM_SEQ_SIZE,
               sizeof(v));
    }
    return v;
}

static inline char *item_key(const struct item *it)
{
    return (char *)it + ITEM_HDR_SIZE + ITEM_SEQ_SIZE +
           ((item_flags_relaxed(it) & ITEM_CFLAGS) ? 4 : 0);
}

/* Value of a non-chunked item. */
static inline char *item_data(const struct item *it)
{
    return item_key(it) + it->nkey;
}

static inline uint8_t item_flags_load(const struct item *it)
{
    return __atomic_load_n(&it->iflags, __ATOMIC_ACQUIRE);
}

static inline rel_time_t item_exptime(const struct item *it)
{
    return __atomic_load_n(&it->exptime, __ATOMIC_RELAXED);
}

/* Sets the CLOCK bit on a hit; reads first so a hot item's cache line is
 * not written on every hit. */
static inline void item_mark_active(struct item *it)
{
    uint8_t want = ITEM_ACTIVE | ITEM_FETCHED;

    if ((__atomic_load_n(&it->iflags, __ATOMIC_RELAXED) & want) != want) {
        __atomic_or_fetch(&it->iflags, want, __ATOMIC_RELAXED);
    }
}

/* Takes a reference. Must be called on an item that is known to hold one
 * (found in an RCU read section, or already held). False if the count is
 * saturated; the caller then treats the item as absent. */
bool item_ref(struct item *it);

/* Drops a reference; frees the item when it was the last. */
void item_put(struct item *it);

/*
 * Allocates an unlinked item with refcount 1 (the caller's) and the given
 * fields; the value is left for the caller to fill (item_segments). Chunked
 * if the value does not fit the largest class. Returns NULL if no memory:
 * the cache layer evicts and retries.
 */
struct item *item_alloc(const char *key, size_t nkey, uint32_t cflags,
                        rel_time_t exptime, size_t nbytes);

/* Whether item_alloc can ever hold this (slab classes, chunking). */
bool item_size_fits(size_t nkey, uint32_t cflags, size_t nbytes);

/* The class an item's (head) chunk comes from; 0 if it cannot be stored. */
unsigned item_alloc_class(size_t nkey, uint32_t cflags, size_t nbytes);
/* Chunks of that class the item needs in all (1 unless chunked). */
size_t item_chunks_needed(size_t nkey, uint32_t cflags, size_t nbytes);

/*
 * Fills iov with the value's segments (one for a plain item, one per data
 * chunk for a chunked one); returns the count. max must be >= the count
 * item_segment_count() gives.
 */
int item_segments(const struct item *it, struct iovec *iov, int max);
int item_segment_count(const struct item *it);

/* Copies len bytes of the value starting at off into dst. */
void item_copy_out(const struct item *it, size_t off, void *dst, size_t len);
/* Copies len bytes from src into the value at off. */
void item_copy_in(struct item *it, size_t off, const void *src, size_t len);

#ifdef __cplusplus
}
#endif
#endif
