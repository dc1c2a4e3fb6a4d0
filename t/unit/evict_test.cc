/*
 * evict_test: the CLOCK hand and the expired-item sweep (cache/evict.h),
 * driven directly rather than through cache_alloc's memory pressure, so each
 * rule of the hand is checked on its own: expired items go first, an
 * active item gets a second chance, an item somebody holds is never taken,
 * and victims come back unlinked but still holding their table reference.
 *
 * The hand reads items through the cache layer (liveness, stats), so every
 * test sets the cache up, in its own forked child (isolate.h), with 64 KiB
 * pages so that a class has few chunks and a full turn of the hand is short.
 */
#include <gtest/gtest.h>

#include <cstring>
#include <set>
#include <string>
#include <vector>

#include "cache/cache.h"
#include "cache/evict.h"
#include "cache/slab.h"
#include "isolate.h"
#include "util/clock.h"

namespace {

constexpr size_t kKiB = 1024;

void SetupCache(size_t mem_limit = 1024 * kKiB)
{
    struct cache_options o;

    memset(&o, 0, sizeof(o));
    o.slab.mem_limit = mem_limit;
    o.slab.page_size = 64 * kKiB;
    o.slab.chunk_max = 32 * kKiB;
    o.slab.min_space = 48;
    o.slab.factor = 1.25;
    o.use_cas = true;
    o.evict = true;
    o.hashpower = 12;
    o.item_size_max = 64 * kKiB;
    clock_setup();
    clock_hold(); /* time moves only by Tick/clock_advance */
    ASSERT_EQ(cache_setup(&o), 0);
    cache_thread_init();
}

/* Stores key with a 100-byte value; returns the item's class. */
unsigned Put(const std::string &key, int64_t exptime = 0)
{
    struct item *it;
    std::string value(100, 'v');
    unsigned cls;

    EXPECT_EQ(cache_alloc(key.data(), key.size(), 0, clock_expiry(exptime),
                          value.size(), &it), CACHE_OK);
    if (it == nullptr) {
        return 0;
    }
    item_copy_in(it, 0, value.data(), value.size());
    EXPECT_EQ(cache_store(it, CACHE_SET, 0, nullptr), CACHE_STORED);
    cls = slab_class_of(it);
    item_put(it);
    return cls;
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

std::string KeyOf(const struct item *it)
{
    return std::string(item_key(it), it->nkey);
}

/* Finishes what the caller of evict_* must do: wait for readers, then drop
 * the table references. Returns the victims' keys. */
std::set<std::string> Release(struct item **victims, size_t n)
{
    std::set<std::string> keys;

    for (size_t i = 0; i < n; i++) {
        keys.insert(KeyOf(victims[i]));
    }
    synchronize_rcu();
    for (size_t i = 0; i < n; i++) {
        item_put(victims[i]);
    }
    return keys;
}

size_t FreeChunks(unsigned cls)
{
    struct slab_class_stats st;

    slab_stats(cls, &st);
    return st.free_chunks;
}

TEST(Evict, EmptyClassYieldsNothing)
{
    isolate::run([] {
        SetupCache();
        struct item *out[8];

        EXPECT_EQ(evict_collect(3, out, 8), 0u);
        EXPECT_EQ(evict_crawl(1000, out, 8, NULL), 0u);
        Put("a");
        EXPECT_EQ(evict_collect(slab_largest_class(), out, 8), 0u);
    });
}

TEST(Evict, VictimsAreUnlinkedAndFreedAfterPut)
{
    isolate::run([] {
        SetupCache();
        unsigned cls = 0;

        for (int i = 0; i < 10; i++) {
            cls = Put("k" + std::to_string(i));
        }
        ASSERT_NE(cls, 0u);
        size_t free_before = FreeChunks(cls);
        struct item *out[4];
        size_t n = evict_collect(cls, out, 4);

        ASSERT_EQ(n, 4u);
        for (size_t i = 0; i < n; i++) {
            /* Gone from the table, not yet freed. */
            EXPECT_FALSE(Has(KeyOf(out[i])));
            EXPECT_EQ(item_flags_load(out[i]) & ITEM_LINKED, 0);
        }
        EXPECT_EQ(FreeChunks(cls), free_before);
        std::set<std::string> gone = Release(out, n);
        EXPECT_EQ(gone.size(), 4u);
        EXPECT_EQ(FreeChunks(cls), free_before + 4);
        int left = 0;
        for (int i = 0; i < 10; i++) {
            left += Has("k" + std::to_string(i));
        }
        EXPECT_EQ(left, 6);

        struct cache_stats st;
        cache_stats_sum(&st);
        EXPECT_EQ(st.evictions, 4u);
        EXPECT_EQ(st.evicted_unfetched, 4u);
        EXPECT_EQ(st.curr_items, 6);
    });
}

TEST(Evict, ExpiredItemsAreTakenBeforeActiveOnes)
{
    isolate::run([] {
        SetupCache();
        std::set<std::string> expiring;
        unsigned cls = 0;

        for (int i = 0; i < 40; i++) {
            std::string key = "k" + std::to_string(i);
            bool expires = i % 4 == 1;

            cls = Put(key, expires ? 5 : 0);
            if (expires) {
                expiring.insert(key);
            }
            Has(key);             /* every item is active */
        }
        clock_advance(5);
        struct item *out[64];
        size_t n = evict_collect(cls, out, expiring.size());

        /* The first turn takes the expired items and only clears the
         * others' bits. */
        EXPECT_EQ(Release(out, n), expiring);
        struct cache_stats st;
        cache_stats_sum(&st);
        EXPECT_EQ(st.evictions, 0u);
        EXPECT_EQ(st.reclaimed, expiring.size());
    });
}

TEST(Evict, ActiveItemGetsASecondChance)
{
    isolate::run([] {
        SetupCache();
        unsigned cls = 0;

        for (int i = 0; i < 20; i++) {
            cls = Put("k" + std::to_string(i));
        }
        ASSERT_TRUE(Has("k0"));   /* first in the page, read once */
        ASSERT_TRUE(Has("k7"));
        struct item *out[32];
        size_t n = evict_collect(cls, out, 18);
        std::set<std::string> gone = Release(out, n);

        /* One turn: the 18 unread items go, the two read ones stay (a get
         * here would set their bits again, so count instead). */
        EXPECT_EQ(n, 18u);
        EXPECT_EQ(gone.count("k0"), 0u);
        EXPECT_EQ(gone.count("k7"), 0u);
        struct cache_stats st;
        cache_stats_sum(&st);
        EXPECT_EQ(st.curr_items, 2);

        /* The chance is used up when the hand passes without a new hit:
         * k0 read again survives, k7 unread goes. */
        ASSERT_TRUE(Has("k0"));
        n = evict_collect(cls, out, 1);
        gone = Release(out, n);
        EXPECT_EQ(gone, std::set<std::string>{"k7"});
        EXPECT_TRUE(Has("k0"));
    });
}

TEST(Evict, HeldItemIsNeverTaken)
{
    isolate::run([] {
        SetupCache();
        unsigned cls = 0;

        for (int i = 0; i < 10; i++) {
            cls = Put("k" + std::to_string(i));
        }
        /* A reader holds k3 (e.g. its value is being written to a socket),
         * and the CLOCK bit is cleared by a first pass. */
        struct item *held = cache_get("k3", 2, false, 0);
        ASSERT_NE(held, nullptr);
        struct item *out[16];
        size_t n = evict_collect(cls, out, 16);
        std::set<std::string> gone = Release(out, n);

        EXPECT_EQ(n, 9u);
        EXPECT_EQ(gone.count("k3"), 0u);
        EXPECT_TRUE(Has("k3"));
        item_put(held);
        n = evict_collect(cls, out, 16);
        EXPECT_EQ(Release(out, n), std::set<std::string>{"k3"});
    });
}

TEST(Evict, CrawlTakesOnlyExpiredAndFlushedItems)
{
    isolate::run([] {
        SetupCache();
        /* Items in two classes; half of them expire. */
        for (int i = 0; i < 50; i++) {
            Put("short" + std::to_string(i), i % 2 ? 10 : 0);
        }
        struct item *it;
        std::string big(5000, 'b');
        for (int i = 0; i < 10; i++) {
            std::string key = "big" + std::to_string(i);

            ASSERT_EQ(cache_alloc(key.data(), key.size(), 0,
                                  clock_expiry(i % 2 ? 10 : 0), big.size(),
                                  &it), CACHE_OK);
            item_copy_in(it, 0, big.data(), big.size());
            ASSERT_EQ(cache_store(it, CACHE_SET, 0, nullptr), CACHE_STORED);
            item_put(it);
        }
        struct item *out[128];
        EXPECT_EQ(evict_crawl(100000, out, 128, NULL), 0u);
        clock_advance(10);

        /* Bounded steps: a small chunk budget finds only part of them. */
        size_t total = 0, steps = 0;
        std::set<std::string> gone;
        while (steps++ < 10000) {
            size_t n = evict_crawl(64, out, 128, NULL);
            std::set<std::string> some = Release(out, n);

            gone.insert(some.begin(), some.end());
            total += n;
            if (total >= 30) {
                break;
            }
        }
        EXPECT_EQ(total, 30u);
        for (const std::string &k : gone) {
            unsigned i = (unsigned)std::stoul(k.substr(k[0] == 's' ? 5 : 3));

            EXPECT_EQ(i % 2, 1u) << k << " was live";
        }
        /* Nothing else is dead: another full sweep finds nothing. */
        EXPECT_EQ(evict_crawl(100000, out, 128, NULL), 0u);

        /* Flushed items are dead too. */
        cache_flush(0);
        size_t n = evict_crawl(100000, out, 128, NULL);
        Release(out, n);
        EXPECT_EQ(n, 30u);
        struct cache_stats st;
        cache_stats_sum(&st);
        EXPECT_EQ(st.curr_items, 0);
        EXPECT_EQ(st.evictions, 0u);
    });
}

}  // namespace
