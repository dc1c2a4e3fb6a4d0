/*
 * crawler_test: the maintenance thread (cache/crawler.h): it frees expired
 * items nobody reads (so curr_items and memory recover without traffic),
 * leaves them alone with -o no_lru_crawler, grows the hash table as items
 * accumulate, and stops promptly.
 *
 * Each test sets the cache up in its own forked child (isolate.h). The
 * crawler wakes every 100 ms, so results are awaited by polling with a
 * deadline rather than by fixed sleeps.
 */
#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <string>
#include <thread>

#include "cache/cache.h"
#include "cache/crawler.h"
#include "isolate.h"
#include "util/clock.h"

namespace {

using Clock = std::chrono::steady_clock;

void SetupCache(unsigned hashpower = 16)
{
    struct cache_options o;

    memset(&o, 0, sizeof(o));
    o.slab.mem_limit = 64 * 1024 * 1024;
    o.slab.page_size = 1024 * 1024;
    o.slab.chunk_max = 512 * 1024;
    o.slab.min_space = 48;
    o.slab.factor = 1.25;
    o.use_cas = true;
    o.evict = true;
    o.hashpower = hashpower;
    o.item_size_max = 1024 * 1024;
    clock_setup();
    clock_hold(); /* time moves only by Tick/clock_advance */
    ASSERT_EQ(cache_setup(&o), 0);
    cache_thread_init();
}

void Put(const std::string &key, int64_t exptime)
{
    struct item *it;

    ASSERT_EQ(cache_alloc(key.data(), key.size(), 0, clock_expiry(exptime),
                          3, &it), CACHE_OK);
    item_copy_in(it, 0, "abc", 3);
    ASSERT_EQ(cache_store(it, CACHE_SET, 0, nullptr), CACHE_STORED);
    item_put(it);
}

struct cache_stats Stats()
{
    struct cache_stats st;

    cache_stats_sum(&st);
    return st;
}

/* Polls pred every 10 ms for up to ms milliseconds. */
template <typename Pred>
bool WaitFor(Pred pred, int ms)
{
    auto deadline = Clock::now() + std::chrono::milliseconds(ms);

    while (Clock::now() < deadline) {
        if (pred()) {
            return true;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return pred();
}

TEST(Crawler, ReclaimsExpiredItemsNobodyReads)
{
    isolate::run([] {
        SetupCache();
        for (int i = 0; i < 2000; i++) {
            Put("tmp" + std::to_string(i), 5);
        }
        for (int i = 0; i < 100; i++) {
            Put("live" + std::to_string(i), 0);
        }
        clock_advance(5);
        EXPECT_EQ(Stats().curr_items, 2100);

        struct crawler_options co = {true, 100};
        ASSERT_EQ(crawler_start(&co), 0);
        bool done = WaitFor([] { return Stats().curr_items == 100; }, 5000);
        crawler_stop();

        EXPECT_TRUE(done) << "curr_items " << Stats().curr_items;
        struct cache_stats st = Stats();
        /* memcached counts crawler reclaims in reclaimed and
         * expired_unfetched (checked: 20 expired items crawled by
         * "lru_crawler crawl all" give reclaimed 20), not as evictions. */
        EXPECT_EQ(st.reclaimed, 2000u);
        EXPECT_EQ(st.expired_unfetched, 2000u);
        EXPECT_EQ(st.evictions, 0u);
        /* The live ones are untouched. */
        for (int i = 0; i < 100; i++) {
            std::string key = "live" + std::to_string(i);
            struct item *it = cache_get(key.data(), key.size(), false, 0);

            ASSERT_NE(it, nullptr) << key;
            item_put(it);
        }
    });
}

TEST(Crawler, ReclaimsFlushedItems)
{
    isolate::run([] {
        SetupCache();
        for (int i = 0; i < 500; i++) {
            Put("k" + std::to_string(i), 0);
        }
        cache_flush(0);
        struct crawler_options co = {true, 100};
        ASSERT_EQ(crawler_start(&co), 0);
        bool done = WaitFor([] { return Stats().curr_items == 0; }, 5000);
        crawler_stop();
        EXPECT_TRUE(done) << "curr_items " << Stats().curr_items;
    });
}

TEST(Crawler, NoLruCrawlerLeavesExpiredItems)
{
    isolate::run([] {
        SetupCache();
        for (int i = 0; i < 500; i++) {
            Put("tmp" + std::to_string(i), 5);
        }
        clock_advance(5);
        struct crawler_options co = {false, 100};
        ASSERT_EQ(crawler_start(&co), 0);
        /* Several wake-ups (100 ms each) with nothing to do. */
        std::this_thread::sleep_for(std::chrono::milliseconds(350));
        crawler_stop();
        EXPECT_EQ(Stats().curr_items, 500);
        EXPECT_EQ(Stats().reclaimed, 0u);
    });
}

TEST(Crawler, GrowsTheHashTableLikeMemcached)
{
    isolate::run([] {
        SetupCache(10);            /* 1024 buckets */
        struct crawler_options co = {true, 100};

        ASSERT_EQ(Stats().hash_power, 10u);
        for (int i = 0; i < 1500; i++) {
            Put("k" + std::to_string(i), 0);
        }
        ASSERT_EQ(crawler_start(&co), 0);
        /* 1500 items are not more than 1.5 per bucket: no growth. */
        std::this_thread::sleep_for(std::chrono::milliseconds(250));
        EXPECT_EQ(Stats().hash_power, 10u);

        /* 5000 items: 2048 buckets are not enough (3072), 4096 are. */
        for (int i = 1500; i < 5000; i++) {
            Put("k" + std::to_string(i), 0);
        }
        bool grown = WaitFor([] { return Stats().hash_power >= 12; }, 5000);
        std::this_thread::sleep_for(std::chrono::milliseconds(250));
        crawler_stop();

        EXPECT_TRUE(grown);
        EXPECT_EQ(Stats().hash_power, 12u);
        /* Every item is still found after the resize. */
        for (int i = 0; i < 5000; i++) {
            std::string key = "k" + std::to_string(i);
            struct item *it = cache_get(key.data(), key.size(), false, 0);

            ASSERT_NE(it, nullptr) << key;
            item_put(it);
        }
    });
}

TEST(Crawler, StopsPromptly)
{
    isolate::run([] {
        SetupCache();
        struct crawler_options co = {true, 100};

        ASSERT_EQ(crawler_start(&co), 0);
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        auto t0 = Clock::now();
        crawler_stop();
        auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      Clock::now() - t0).count();
        /* It is woken, not left to finish its 100 ms nap (of which at
         * least 80 ms were left). */
        EXPECT_LT(ms, 80);
        crawler_stop();            /* a second stop is harmless */
    });
}

}  // namespace
