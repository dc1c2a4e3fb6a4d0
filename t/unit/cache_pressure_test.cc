/*
 * cache_pressure_test: the cache under memory pressure and at its edges
 * (issue 12): a full cache whose failing stores must not stall their
 * thread, set/delete races with the clock hand running, and the shutdown
 * order that frees the slabs.
 *
 * Like cache_test, every test runs in a forked child (isolate.h) because
 * cache_setup() owns process-global state. Nothing here asserts a time:
 * the synchronous waits a failing store pays are counted by interposing
 * liburcu's rcu_barrier (urcu_memb_barrier), which works the same on any
 * version of the cache, and the races are checked by invariants once the
 * threads are quiet. Every loop is bounded by a count and a deadline.
 */
#include <gtest/gtest.h>

#include <dlfcn.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "cache/cache.h"
#include "cache/crawler.h"
#include "cache/slab.h"
#include "cache/table.h"
#include "isolate.h"
#include "util/clock.h"

/* Counts rcu_barrier() calls (urcu.h maps it to urcu_memb_barrier): the
 * test binary's definition interposes liburcu's, which it then calls. */
static std::atomic<long> barrier_calls{0};

extern "C" void urcu_memb_barrier(void)
{
    using fn_t = void (*)(void);
    static fn_t real = (fn_t)dlsym(RTLD_NEXT, "urcu_memb_barrier");

    barrier_calls++;
    real();
}

namespace {

constexpr size_t kKiB = 1024;
constexpr size_t kMiB = 1024 * 1024;

using Clock = std::chrono::steady_clock;

/* A small cache: 64 KiB pages, -m 1 MiB is 16 pages. */
void SetupCache(bool evict, size_t mem_limit = kMiB)
{
    struct cache_options o;

    memset(&o, 0, sizeof(o));
    o.slab.mem_limit = mem_limit;
    o.slab.page_size = 64 * kKiB;
    o.slab.chunk_max = 32 * kKiB;
    o.slab.min_space = 48;
    o.slab.factor = 1.25;
    o.use_cas = true;
    o.evict = evict;
    o.hashpower = 12;
    o.item_size_max = 64 * kKiB;
    clock_setup();
    ASSERT_EQ(cache_setup(&o), 0);
    cache_thread_init();
}

enum cache_status Set(const std::string &key, const std::string &value,
                      struct item **keep = nullptr)
{
    struct item *it;
    enum cache_status st = cache_alloc(key.data(), key.size(), 0, 0,
                                       value.size(), &it);

    if (st != CACHE_OK) {
        return st;
    }
    item_copy_in(it, 0, value.data(), value.size());
    st = cache_store(it, CACHE_SET, 0, nullptr);
    if (keep != nullptr && st == CACHE_STORED) {
        *keep = it;               /* the caller puts it */
    } else {
        item_put(it);
    }
    return st;
}

bool Has(const std::string &key)
{
    struct item *it = cache_get(key.data(), key.size(), false, 0);

    if (it == nullptr) {
        return false;
    }
    item_put(it);
    return true;
}

struct cache_stats Stats()
{
    struct cache_stats st;

    cache_stats_sum(&st);
    return st;
}

/* Stores fresh keys until the cache refuses one; returns how many fit. */
int Fill(const std::string &prefix, const std::string &value,
         std::vector<struct item *> *pins = nullptr)
{
    int n = 0;

    while (n < 100000) {
        struct item *it = nullptr;
        enum cache_status st = Set(prefix + std::to_string(n), value,
                                   pins != nullptr ? &it : nullptr);

        if (st != CACHE_STORED) {
            EXPECT_EQ(st, CACHE_NO_MEMORY);
            break;
        }
        if (pins != nullptr) {
            pins->push_back(it);
        }
        n++;
    }
    return n;
}

/* Retries a store for up to 2 s (another thread's memory comes back one
 * grace period after it handed it to call_rcu). */
enum cache_status SetEventually(const std::string &key,
                                const std::string &value)
{
    auto end = Clock::now() + std::chrono::seconds(2);
    enum cache_status st;

    while ((st = Set(key, value)) == CACHE_NO_MEMORY && Clock::now() < end) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return st;
}

/* ---- a full cache with nothing evictable ----------------------------- */

TEST(CachePressure, FullNoEvictCacheWaitsForGracePeriodsOncePerChange)
{
    isolate::run([] {
        SetupCache(false);
        std::string value(100, 'v');
        int stored = Fill("key", value);

        ASSERT_GT(stored, 1000);
        /* Nothing changes: failing stores do not wait for RCU again. */
        long before = barrier_calls.load();
        for (int i = 0; i < 1000; i++) {
            ASSERT_EQ(Set("miss" + std::to_string(i), value),
                      CACHE_NO_MEMORY);
        }
        EXPECT_LE(barrier_calls.load() - before, 1);
        /* The clock moved on (items may have expired): one more try. */
        clock_advance(1);
        before = barrier_calls.load();
        for (int i = 0; i < 1000; i++) {
            ASSERT_EQ(Set("miss" + std::to_string(i), value),
                      CACHE_NO_MEMORY);
        }
        EXPECT_LE(barrier_calls.load() - before, 1);
        EXPECT_EQ(Stats().evictions, 0u);

        /* Memory freed by this thread is usable at once. */
        ASSERT_EQ(cache_delete("key0", 4), CACHE_OK);
        EXPECT_EQ(Set("after-delete", value), CACHE_STORED);
        EXPECT_EQ(Set("after-delete2", value), CACHE_NO_MEMORY);

        /* ...and memory another thread freed, once its grace period is
         * over. */
        std::thread other([] {
            cache_thread_init();
            EXPECT_EQ(cache_delete("key1", 4), CACHE_OK);
            cache_thread_fini();  /* hands key1 to call_rcu */
        });
        other.join();
        EXPECT_EQ(SetEventually("after-other", value), CACHE_STORED);

        /* A flush makes every item reclaimable at once. */
        EXPECT_EQ(Set("before-flush", value), CACHE_NO_MEMORY);
        cache_flush(0);
        EXPECT_EQ(Set("after-flush", value), CACHE_STORED);
        for (int i = 0; i < stored / 2; i++) {
            ASSERT_EQ(Set("fresh" + std::to_string(i), value), CACHE_STORED)
                << i;
        }
        EXPECT_EQ(Stats().evictions, 0u);
    });
}

TEST(CachePressure, EveryItemPinnedFailsFastAndRecoversWhenUnpinned)
{
    isolate::run([] {
        SetupCache(true);
        std::string value(100, 'p');
        std::vector<struct item *> pins;
        int stored = Fill("pin", value, &pins);

        ASSERT_GT(stored, 1000);
        ASSERT_EQ((int)pins.size(), stored);
        /* Every item of the class has a holder: nothing is evictable. */
        long before = barrier_calls.load();
        auto start = Clock::now();
        for (int i = 0; i < 1000; i++) {
            ASSERT_EQ(Set("miss" + std::to_string(i), value),
                      CACHE_NO_MEMORY);
        }
        long ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      Clock::now() - start).count();
        /* At most one synchronous wait per retry interval (the bound
         * follows the elapsed time, so a slow machine cannot fail it). */
        EXPECT_LE(barrier_calls.load() - before,
                  2 + ms / CACHE_STARVE_RETRY_MS);
        EXPECT_LT(barrier_calls.load() - before, 1000);
        EXPECT_EQ(Stats().evictions, 0u);

        for (struct item *it : pins) {
            item_put(it);
        }
        /* Unpinned items are evictable again within the retry interval. */
        EXPECT_EQ(SetEventually("after-unpin", value), CACHE_STORED);
        EXPECT_GT(Stats().evictions, 0u);
        EXPECT_TRUE(Has("after-unpin"));
    });
}

TEST(CachePressure, ManyThreadsFailingTogetherWaitOneAtATime)
{
    isolate::run([] {
        SetupCache(false);
        std::string value(100, 'm');

        ASSERT_GT(Fill("key", value), 1000);
        long before = barrier_calls.load();
        std::atomic<long> failed{0};
        std::vector<std::thread> threads;
        for (int t = 0; t < 4; t++) {
            threads.emplace_back([t, &value, &failed] {
                cache_thread_init();
                for (int i = 0; i < 500; i++) {
                    failed += Set("t" + std::to_string(t) + "-" +
                                      std::to_string(i), value) ==
                              CACHE_NO_MEMORY;
                }
                cache_thread_fini();
            });
        }
        for (auto &th : threads) {
            th.join();
        }
        EXPECT_EQ(failed.load(), 2000);
        /* The clock never moved and nothing was freed. */
        EXPECT_LE(barrier_calls.load() - before, 4);
    });
}

}  // namespace
