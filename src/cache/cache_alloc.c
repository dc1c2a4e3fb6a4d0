/*
 * cache_alloc: allocation under memory pressure (cache_alloc in cache.h):
 * reclaiming this thread's retired items, the clock hand's victims, the
 * "nothing evictable" records that let later stores fail at once, and the
 * last-resort wait for every pending grace period. Split out of cache.c,
 * whose links, unlinks and limbo it uses through cache_internal.h.
 */
#include "cache/cache.h"
#include "cache/cache_internal.h"

#include <pthread.h>
#include <time.h>

#include "cache/evict.h"
#include "cache/slab.h"
#include "util/tsan.h"

#define RECLAIM_BATCH 32          /* most victims per eviction round */
#define RECLAIM_FRACTION 64       /* ...and at most 1/64 of the class */
#define ALLOC_MAX_ROUNDS 4096     /* reclaim rounds for one allocation */
#define ALLOC_IDLE_ROUNDS 3       /* -M: rounds freeing nothing: no memory */

/* What a store saw when it found class memory full and nothing it could
 * reclaim; while all of it still holds, the next store fails at once. */
struct starve {
    bool valid;
    uint64_t frees;               /* slab_frees(cls) before the attempt */
    uint64_t flushes;             /* flush_count then */
    rel_time_t second;            /* clock_now() then */
    uint64_t ms;                  /* monotonic milliseconds then */
};


static bool barrier_busy;         /* atomic: a store is in rcu_barrier */
static pthread_mutex_t starve_lock = PTHREAD_MUTEX_INITIALIZER;
static struct starve starved[SLAB_MAX_CLASSES]; /* under starve_lock */

/*
 * Makes room in class cls for an item needing `need` chunks; returns how
 * many items were released (0: nothing could be done this round).
 *
 * This thread's own retired items come first: they are already garbage and
 * only wait for a grace period, so a burst of overwrites must reuse them
 * rather than evict live items (cache_alloc waits for the batches already
 * handed to call_rcu before it calls this again). Then the class's clock
 * hand, in batches
 * sized to the class (32 victims of a 512 KiB class would empty a small
 * cache), each batch paying for one synchronize_rcu. A round that finds
 * nothing waits for nothing: see cache_alloc.
 */
static size_t reclaim(unsigned cls, size_t need)
{
    struct item *victims[RECLAIM_BATCH > CACHE_LIMBO_CAP ? RECLAIM_BATCH
                                                         : CACHE_LIMBO_CAP];
    size_t n = cache_limbo_take(victims), i;

    if (n > 0) {
        /* this thread's own retired items, taken above */
    } else if (cache_opts.evict) {
        struct slab_class_stats st;
        size_t batch;

        slab_stats(cls, &st);
        batch = st.total_chunks / RECLAIM_FRACTION;
        batch = batch < need ? need : batch;
        batch = batch > RECLAIM_BATCH ? RECLAIM_BATCH : batch;
        n = evict_collect(cls, victims, batch);
    } else {
        /* -M: expired items may still be reclaimed, as memcached does. */
        n = evict_crawl(4096, victims, RECLAIM_BATCH, NULL);
    }
    if (n == 0) {
        return 0;
    }
    synchronize_rcu();
    TSAN_ACQUIRE(&tsan_grace_token);
    for (i = 0; i < n; i++) {
        item_put(victims[i]);
    }
    return n;
}

static uint64_t monotonic_ms(void)
{
    struct timespec ts;

    /* The coarse clock is a vDSO read of a few ns; a tick (1-4 ms) is
     * fine enough for a 20 ms interval. */
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* What would show that memory may have come back to cls. */
static void starve_snapshot(unsigned cls, struct starve *s)
{
    s->valid = true;
    s->frees = slab_frees(cls);
    s->flushes = cache_flush_count();
    s->second = clock_now();
    s->ms = monotonic_ms();
}

/* Whether a store into cls may fail at once: the last full attempt found
 * nothing, and nothing has happened since that could have changed that. */
static bool starve_known(unsigned cls)
{
    struct starve now, *was = &starved[cls];
    bool known;

    starve_snapshot(cls, &now);
    pthread_mutex_lock(&starve_lock);
    known = was->valid && was->frees == now.frees &&
            was->flushes == now.flushes && was->second == now.second &&
            (!cache_opts.evict || now.ms - was->ms < CACHE_STARVE_RETRY_MS);
    pthread_mutex_unlock(&starve_lock);
    return known;
}

static void starve_mark(unsigned cls, const struct starve *s)
{
    pthread_mutex_lock(&starve_lock);
    starved[cls] = *s;
    pthread_mutex_unlock(&starve_lock);
}

/*
 * Waits until every retirement handed to call_rcu so far has been freed,
 * as a last resort for a store: memory may be waiting in other threads'
 * batches. It costs at least one grace period, so only one thread at a
 * time pays it; false (and no wait) if another thread is already in it.
 */
static bool wait_for_retired(void)
{
    if (__atomic_exchange_n(&barrier_busy, true, __ATOMIC_ACQUIRE)) {
        return false;
    }
    rcu_barrier();
    TSAN_ACQUIRE(&tsan_grace_token);
    TSAN_ACQUIRE(&tsan_barrier_token);
    cache_count_alloc(false);
    __atomic_store_n(&barrier_busy, false, __ATOMIC_RELEASE);
    return true;
}

enum cache_status cache_alloc(const char *key, size_t nkey, uint32_t cflags,
                              rel_time_t exptime, size_t nbytes,
                              struct item **out)
{
    /* memcached's size test, so the same sizes are "too large". */
    size_t mc_total = SLAB_MEMCACHED_HEADER + nkey + 1 + (cflags ? 4 : 0) +
                      nbytes + 2 + (cache_opts.use_cas ? 8 : 0);
    unsigned cls = item_alloc_class(nkey, cflags, nbytes);
    size_t need = item_chunks_needed(nkey, cflags, nbytes);
    struct starve snap;
    int rounds = 0, idle = 0;
    bool waited = false;

    *out = NULL;
    if (mc_total > cache_opts.item_size_max || cls == 0) {
        return CACHE_TOO_LARGE;
    }
    *out = item_alloc(key, nkey, cflags, exptime, nbytes);
    if (*out != NULL) {
        return CACHE_OK;          /* the common case: a free chunk */
    }
    /* Our own retired items are always worth a grace period. */
    if (cache_limbo_empty() && starve_known(cls)) {
        cache_count_alloc(true);
        return CACHE_NO_MEMORY;
    }
    /* Before trying: a chunk freed while we scan must not be missed. */
    starve_snapshot(cls, &snap);
    /* Keep reclaiming while it makes progress; give up after a round that
     * frees nothing (the hand has made two full turns: everything left is
     * in use), or with -M after a few (each crawls only part of memory). */
    while (rounds++ < ALLOC_MAX_ROUNDS &&
           idle < (cache_opts.evict ? 1 : ALLOC_IDLE_ROUNDS)) {
        /* Garbage on its way back beats a live victim: once this
         * thread's own retired items are used up, wait for the batches
         * already handed to call_rcu if they hold enough of this class
         * (a burst of overwrites on a loaded machine, where the call_rcu
         * thread lags, would otherwise evict live keys). */
        if (!waited && cache_limbo_empty() &&
            cache_retired_chunks(cls) >= need) {
            waited = true;
            if (wait_for_retired()) {
                *out = item_alloc(key, nkey, cflags, exptime, nbytes);
                if (*out != NULL) {
                    return CACHE_OK;
                }
            }
        }
        idle = reclaim(cls, need) == 0 ? idle + 1 : 0;
        *out = item_alloc(key, nkey, cflags, exptime, nbytes);
        if (*out != NULL) {
            return CACHE_OK;
        }
    }
    if (wait_for_retired()) {
        *out = item_alloc(key, nkey, cflags, exptime, nbytes);
        if (*out != NULL) {
            return CACHE_OK;
        }
    }
    /* The retry interval starts now, not when the attempt began: an
     * attempt may take longer than the interval (a large class, a slow
     * machine), and every store would then pay for one. */
    snap.ms = monotonic_ms();
    starve_mark(cls, &snap);
    return CACHE_NO_MEMORY;
}
