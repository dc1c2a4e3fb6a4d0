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

#include <algorithm>
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
    clock_hold(); /* time moves only by Tick/clock_advance */
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

/* ---- a full evicting cache: garbage before live victims -------------- */

/* A thread that overwrites a key in a full cache and has already handed
 * the old copies to call_rcu (its periodic cache_quiesce) must get that
 * memory back, not evict a live key: on a loaded machine the call_rcu
 * thread can lag the store by milliseconds. Here every overwrite comes
 * right after the hand-over, before that thread could have run. */
TEST(CachePressure, OverwritesReuseRetiredMemoryBeforeEvictingLiveKeys)
{
    isolate::run([] {
        SetupCache(true);
        std::string value(100, 'v');
        int n = 0;

        /* Fill until the first eviction: memory is all in use. */
        while (Stats().evictions == 0 && n < 100000) {
            ASSERT_EQ(Set("key" + std::to_string(n++), value), CACHE_STORED);
        }
        ASSERT_GT(n, 1000);
        std::string hot = "key" + std::to_string(n - 1);
        uint64_t evicted = Stats().evictions;
        std::vector<std::string> live;
        for (int i = 0; i < n; i++) {
            if (Has("key" + std::to_string(i))) {
                live.push_back("key" + std::to_string(i));
            }
        }
        for (int j = 0; j < 200; j++) {
            value[j % value.size()] = (char)('a' + j % 26);
            ASSERT_EQ(Set(hot, value), CACHE_STORED) << j;
            cache_quiesce();      /* the old copy goes to call_rcu */
        }
        EXPECT_EQ(Stats().evictions, evicted) << "an overwrite evicted a live key";
        int lost = 0;
        for (const std::string &k : live) {
            lost += !Has(k);
        }
        EXPECT_EQ(lost, 0);
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

/* ---- set/delete races with the clock hand running ------------------- */

/* Deadline-bounded loop condition: at least min_ms and min_ops, at most
 * max_ms. */
class Budget {
public:
    Budget(int min_ms, int max_ms)
        : min_end_(Clock::now() + std::chrono::milliseconds(min_ms)),
          max_end_(Clock::now() + std::chrono::milliseconds(max_ms))
    {
    }

    bool more(long ops, long min_ops) const
    {
        auto now = Clock::now();

        return now < max_end_ && (now < min_end_ || ops < min_ops);
    }

private:
    Clock::time_point min_end_, max_end_;
};

/* Value "<key>:<n>:" padded with a byte derived from n, so a reader can
 * tell a whole value from a torn or foreign one. */
std::string MakeValue(const std::string &key, unsigned n, size_t len)
{
    std::string v = key + ":" + std::to_string(n) + ":";

    v.resize(std::max(len, v.size()), (char)('a' + n % 26));
    return v;
}

bool CheckValue(const std::string &key, const std::string &v)
{
    size_t a = v.find(':'), b = v.find(':', a + 1);

    if (a == std::string::npos || b == std::string::npos ||
        v.compare(0, a, key) != 0) {
        return false;
    }
    unsigned n = (unsigned)std::stoul(v.substr(a + 1, b - a - 1));

    for (size_t i = b + 1; i < v.size(); i++) {
        if (v[i] != (char)('a' + n % 26)) {
            return false;
        }
    }
    return true;
}

/*
 * An item this thread stored and still holds: once the table no longer has
 * it, its ITEM_LINKED must go (the remover clears it right after removing
 * it). A flag that stays set on a removed item is the race of issue 12:
 * SET used to mark the item linked after inserting it, so a delete in
 * between left the flag on for good. Waits up to 1 s for a remover that is
 * between its table_del and its flag clear.
 */
enum FlagCheck { FLAG_OK, FLAG_STALE, FLAG_MISSING };

FlagCheck LinkedFlagTruthful(struct item *it)
{
    auto end = Clock::now() + std::chrono::seconds(5);

    for (;;) {
        /* The flag first: a remover clears it (release) after its
         * table_del, so a clear flag seen here means the removal is
         * visible below; the other order would race with a remover. */
        bool flag = (item_flags_load(it) & ITEM_LINKED) != 0;
        bool removed = cds_lfht_is_node_deleted(&it->node) != 0;

        if (!removed) {
            /* In the table: must say so. */
            return flag ? FLAG_OK : FLAG_MISSING;
        }
        if (!flag) {
            return FLAG_OK;       /* removed and cleared */
        }
        if (Clock::now() >= end) {
            return FLAG_STALE;    /* removed, flag never cleared */
        }
        /* Sleep, not yield: the remover may need this core. */
        std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
}

/* Checks and drops the items a thread holds. */
void CheckHeld(std::vector<struct item *> *held, std::atomic<long> *stale,
               std::atomic<long> *missing)
{
    for (struct item *h : *held) {
        FlagCheck c = LinkedFlagTruthful(h);

        *stale += c == FLAG_STALE;
        *missing += c == FLAG_MISSING;
        item_put(h);
    }
    held->clear();
}

/* Every chunk of every page, and what the sweepers would see in it. */
template <typename Fn>
void ForEachChunk(Fn fn)
{
    size_t pages = slab_pages_used();

    for (size_t p = 0; p < pages; p++) {
        unsigned cls = slab_page_class(p);
        char *base = slab_page_base(p);

        for (size_t c = 0; c < slab_chunks_per_page(cls); c++) {
            fn((struct item *)(base + c * slab_chunk_size(cls)));
        }
    }
}

/* Chunks handed out and not returned, over all classes. */
size_t ChunksInUse()
{
    size_t used = 0;

    for (unsigned cls = 1; cls <= slab_largest_class(); cls++) {
        struct slab_class_stats st;

        slab_stats(cls, &st);
        used += st.total_chunks - st.free_chunks;
    }
    return used;
}

/* Waits until every retired item of every thread has been freed: the
 * caller's own batch goes to call_rcu, the barrier waits for all. */
void Quiesce()
{
    cache_quiesce();
    rcu_barrier();
}

TEST(CacheRace, SetDeleteGetOnFewKeysWithEvictionKeepsFlagsAndMemoryExact)
{
    isolate::run([] {
        SetupCache(true, 512 * kKiB);  /* 8 pages: the hand runs */
        const int nhot = 3, nfill = 20000, nthreads = 4;
        const long min_ops = 100000;
        const Budget budget(400, 6000);
        std::atomic<long> ops{0}, stale{0}, missing{0}, torn{0}, bad{0};
        std::atomic<long> races{0};

        std::vector<std::thread> threads;
        for (int t = 0; t < nthreads; t++) {
            threads.emplace_back([&, t] {
                std::mt19937 rng((unsigned)t * 31 + 7);
                std::vector<struct item *> held;
                unsigned n = 0;

                cache_thread_init();
                while (budget.more(ops.load(), min_ops)) {
                    /* Thread 0 hammers one key; the others spread over a
                     * few, and all of them push filler through the class
                     * so that the clock hand keeps evicting. */
                    std::string key = "hot" + std::to_string(
                        t == 0 ? 0 : rng() % nhot);
                    unsigned op = rng() % 10;
                    struct item *it = nullptr;

                    if (op < 4) {
                        enum cache_status st =
                            Set(key, MakeValue(key, n++, 60 + rng() % 40),
                                &it);
                        bad += st != CACHE_STORED;
                        if (it != nullptr) {
                            held.push_back(it);
                        }
                    } else if (op < 7) {
                        races += cache_delete(key.data(), key.size()) ==
                                 CACHE_OK;
                    } else if (op < 8) {
                        struct item *g = cache_get(key.data(), key.size(),
                                                   false, 0);
                        if (g != nullptr) {
                            std::string v(g->nbytes, '\0');
                            item_copy_out(g, 0, &v[0], g->nbytes);
                            torn += !CheckValue(key, v);
                            item_put(g);
                        }
                    } else {
                        std::string f = "f" + std::to_string(rng() % nfill);
                        bad += Set(f, MakeValue(f, n++, 100)) !=
                               CACHE_STORED;
                    }
                    /* Check what we hold a few operations later, while
                     * the others go on. */
                    if (held.size() >= 8) {
                        CheckHeld(&held, &stale, &missing);
                    }
                    ops++;
                }
                CheckHeld(&held, &stale, &missing);
                cache_thread_fini();
            });
        }
        for (auto &th : threads) {
            th.join();
        }
        EXPECT_EQ(stale.load(), 0) << "removed items still ITEM_LINKED";
        EXPECT_EQ(missing.load(), 0) << "items in the table not ITEM_LINKED";
        EXPECT_EQ(torn.load(), 0);
        EXPECT_EQ(bad.load(), 0);
        EXPECT_GE(ops.load(), min_ops);
        EXPECT_GT(races.load(), 0);
        EXPECT_GT(Stats().evictions, 0u);

        /* Quiet: every chunk that is not free is a linked item the table
         * finds, and the counters agree with the table. */
        Quiesce();
        long linked = 0, flagged = 0, not_found = 0;
        int64_t bytes = 0;
        std::vector<std::string> keys;
        ForEachChunk([&](struct item *it) {
            uint8_t f = item_flags_load(it);

            if (f == 0) {
                return;
            }
            flagged++;
            if (!(f & ITEM_LINKED)) {
                return;
            }
            linked++;
            std::string key(item_key(it), it->nkey);
            rcu_read_lock();
            not_found += table_lookup(key.data(), key.size(),
                                      table_hash(key.data(), key.size()),
                                      nullptr) != it;
            rcu_read_unlock();
            bytes += (int64_t)cache_item_bytes(it);
            keys.push_back(key);
        });
        EXPECT_EQ(not_found, 0) << "ITEM_LINKED items the table lacks";
        EXPECT_EQ(flagged, linked) << "unlinked items not freed";
        EXPECT_EQ(Stats().curr_items, linked);
        EXPECT_EQ(Stats().bytes, bytes);
        EXPECT_EQ((long)ChunksInUse(), linked);

        /* Memory comes back: delete everything, and the cache is empty
         * and stores fresh keys without evicting. */
        for (const std::string &k : keys) {
            EXPECT_EQ(cache_delete(k.data(), k.size()), CACHE_OK) << k;
        }
        Quiesce();
        EXPECT_EQ(Stats().curr_items, 0);
        EXPECT_EQ(Stats().bytes, 0);
        EXPECT_EQ(ChunksInUse(), 0u);
        uint64_t evictions = Stats().evictions;
        struct slab_class_stats cs;
        slab_stats(item_alloc_class(6, 0, 100), &cs);
        ASSERT_GT(cs.total_chunks, 100u);
        for (size_t i = 0; i < cs.total_chunks / 2; i++) {
            std::string k = "n" + std::to_string(10000 + i);
            ASSERT_EQ(Set(k, std::string(100, 'n')), CACHE_STORED) << i;
        }
        EXPECT_EQ(Stats().evictions, evictions);
    }, 60);
}

/* ---- shutdown ---------------------------------------------------------- */

/*
 * main's order after SIGTERM, under load: threads that store and delete
 * (with TTLs, so the crawler reclaims too) stop and are joined, each
 * handing its last retired batch to call_rcu as it finishes; the crawler
 * is stopped; then cache_teardown frees the slabs' page map while
 * liburcu's call_rcu thread may still be freeing those batches into the
 * slabs. Under TSan the child dies (halt_on_error) on any unordered pair;
 * under ASan on a use after free. Four rounds: TSan saw it in 3 of 4
 * loaded runs.
 */
TEST(CacheShutdown, TeardownUnderLoadWaitsForEveryRetiredItem)
{
    for (int round = 0; round < 4; round++) {
        isolate::run([round] {
            SetupCache(true, 512 * kKiB);
            struct crawler_options co = { true, 1000 };
            ASSERT_EQ(crawler_start(&co), 0);
            const Budget budget(150, 3000);
            std::atomic<long> ops{0};
            std::vector<std::thread> threads;

            for (int t = 0; t < 4; t++) {
                threads.emplace_back([&, t] {
                    std::mt19937 rng((unsigned)(round * 8 + t));

                    cache_thread_init();
                    while (budget.more(ops.load(), 20000)) {
                        std::string k = "k" + std::to_string(rng() % 5000);

                        if (rng() % 3 == 0) {
                            cache_delete(k.data(), k.size());
                        } else {
                            struct item *it;

                            if (cache_alloc(k.data(), k.size(), 0,
                                            rng() % 2 ? clock_expiry(1) : 0,
                                            100, &it) == CACHE_OK) {
                                memset(item_data(it), 'x', 100);
                                cache_store(it, CACHE_SET, 0, nullptr);
                                item_put(it);
                            }
                        }
                        ops++;
                    }
                    /* Leave a full batch in flight at the end. */
                    for (int i = 0; i < 300; i++) {
                        std::string k = "k" + std::to_string(i);
                        cache_delete(k.data(), k.size());
                    }
                    cache_thread_fini();
                });
            }
            /* Expire the TTL items, so the crawler has work. */
            clock_advance(2);
            cache_tick();
            for (auto &th : threads) {
                th.join();
            }
            cache_thread_fini();
            crawler_stop();
            cache_teardown();
            EXPECT_GE(ops.load(), 20000);
        }, 60);
    }
}

}  // namespace
