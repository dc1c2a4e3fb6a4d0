/*
 * crawler: maintenance thread (see crawler.h).
 *
 * Note that it sweeps a bounded number of chunks per wake-up and sleeps
 * between batches, so a large cache is covered over a few seconds without
 * taking a core; each batch ends with one synchronize_rcu, which makes the
 * reclaimed chunks reusable at once.
 */
#include "cache/crawler.h"

#include <pthread.h>
#include <time.h>

#include "cache/cache.h"
#include "cache/evict.h"
#include "cache/slab.h"
#include "cache/table.h"

#define CRAWL_CHUNKS 8192         /* chunks inspected per batch */
#define CRAWL_VICTIMS 256
#define CRAWL_TICK_MS 100         /* wake-up period when idle */
#define CRAWL_TTL_INTERVAL 5      /* seconds between passes for TTL items */

static struct crawler_options copts;
static pthread_t thread;
static bool running;
static bool stopping;             /* guarded by lock */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER;

/* Sleeps up to ms; returns true if asked to stop. */
static bool nap(unsigned ms)
{
    struct timespec ts;
    bool stop;

    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    ts.tv_sec += ms / 1000 + ts.tv_nsec / 1000000000L;
    ts.tv_nsec %= 1000000000L;
    pthread_mutex_lock(&lock);
    if (!stopping) {
        pthread_cond_timedwait(&wake, &lock, &ts);
    }
    stop = stopping;
    pthread_mutex_unlock(&lock);
    return stop;
}

/* Chunks in all pages: one full pass of the cursor. */
static size_t total_chunks(void)
{
    size_t pages = slab_pages_used(), p, n = 0;

    for (p = 0; p < pages; p++) {
        n += slab_chunks_per_page(slab_page_class(p));
    }
    return n;
}

static void *crawler_main(void *arg)
{
    struct item *victims[CRAWL_VICTIMS];
    unsigned ms = CRAWL_TICK_MS;
    size_t pass_left = 0;         /* chunks left in the current pass */
    bool saw_ttl = false;         /* this pass met items that will expire */
    rel_time_t last_ttl_pass = 0;

    (void)arg;
    cache_thread_init();
    while (!nap(ms)) {
        struct cache_stats st;
        size_t n = 0, i;

        cache_stats_sum(&st);
        table_maybe_grow(st.curr_items > 0 ? (size_t)st.curr_items : 0);
        /* Sweep only when something may have become reclaimable: after a
         * flush at once, after TTL items were stored at most every few
         * seconds. An idle or TTL-free cache costs no sweeping at all. */
        if (copts.reclaim && pass_left == 0) {
            enum cache_crawl_reason why = cache_crawl_wanted();
            rel_time_t now = clock_now();

            if (why == CACHE_CRAWL_FLUSH ||
                (why == CACHE_CRAWL_TTL &&
                 now - last_ttl_pass >= CRAWL_TTL_INTERVAL)) {
                pass_left = total_chunks();
                last_ttl_pass = now;
            } else if (why == CACHE_CRAWL_TTL) {
                cache_crawl_rearm();  /* not yet: ask again later */
            }
        }
        if (pass_left > 0) {
            size_t batch = pass_left < CRAWL_CHUNKS ? pass_left
                                                    : CRAWL_CHUNKS;

            struct evict_crawl_report rep;

            n = evict_crawl(batch, victims, CRAWL_VICTIMS, &rep);
            pass_left -= rep.visited < pass_left ? rep.visited : pass_left;
            saw_ttl = saw_ttl || rep.saw_ttl;
            if (pass_left == 0 && saw_ttl) {
                /* Come back for them once they may have expired. */
                cache_crawl_rearm();
                saw_ttl = false;
            }
        }
        if (n > 0) {
            synchronize_rcu();
            TSAN_ACQUIRE(&tsan_grace_token);
            for (i = 0; i < n; i++) {
                item_put(victims[i]);
            }
        }
        cache_quiesce();
        /* Keep going quickly during a pass, else idle. */
        ms = pass_left > 0 ? (copts.sleep_us / 1000 > 0
                              ? copts.sleep_us / 1000 : 1)
                           : CRAWL_TICK_MS;
    }
    cache_thread_fini();
    return NULL;
}

int crawler_start(const struct crawler_options *o)
{
    copts = *o;
    stopping = false;
    if (pthread_create(&thread, NULL, crawler_main, NULL) != 0) {
        return -1;
    }
    running = true;
    return 0;
}

void crawler_stop(void)
{
    if (!running) {
        return;
    }
    pthread_mutex_lock(&lock);
    stopping = true;
    pthread_cond_signal(&wake);
    pthread_mutex_unlock(&lock);
    pthread_join(thread, NULL);
    running = false;
}
