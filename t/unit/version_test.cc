/*
 * version_test: the cluster's versions (util/hlc.h), the newest-wins
 * store of copies from other nodes (cache_put_version,
 * cache_delete_below), tombstones (cache/tombstone.h) and the change hook
 * replication hangs on (cache.h).
 *
 * The cache runs in a forked child per test (isolate.h), in versions
 * mode, as a cluster node runs it. Time moves with clock_advance only;
 * the version clock's wall clock is moved with hlc_set_offset_ms.
 */
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "cache/cache.h"
#include "cache/tombstone.h"
#include "isolate.h"
#include "util/clock.h"
#include "util/hlc.h"

namespace {

std::vector<std::string> changes;
std::vector<struct cache_change> hows;   /* what each change was based on */

void OnChange(const char *key, size_t nkey, const struct cache_change *how)
{
    changes.emplace_back(key, nkey);
    hows.push_back(*how);
}

void SetupCache(bool versions = true)
{
    struct cache_options o;

    memset(&o, 0, sizeof(o));
    o.slab.mem_limit = 16u << 20;
    o.slab.page_size = 1u << 20;
    o.slab.chunk_max = 512u << 10;
    o.slab.min_space = 48;
    o.slab.factor = 1.25;
    o.use_cas = true;
    o.evict = true;
    o.hashpower = 12;
    o.item_size_max = 1u << 20;
    o.versions = versions;
    clock_setup();
    clock_hold();
    ASSERT_EQ(cache_setup(&o), 0);
    cache_thread_init();
    ASSERT_EQ(tombstone_setup(1024, 60), 0);
    cache_set_change_hook(OnChange);
}

struct item *Make(const std::string &key, const std::string &value,
                  uint32_t flags = 0)
{
    struct item *it = nullptr;

    EXPECT_EQ(cache_alloc(key.data(), key.size(), flags, 0, value.size(),
                          &it), CACHE_OK);
    if (it != nullptr) {
        item_copy_in(it, 0, value.data(), value.size());
    }
    return it;
}

enum cache_status Set(const std::string &key, const std::string &value)
{
    struct item *it = Make(key, value);
    enum cache_status st = cache_store(it, CACHE_SET, 0, nullptr);

    item_put(it);
    return st;
}

enum cache_status Put(const std::string &key, const std::string &value,
                      uint64_t version)
{
    struct item *it = Make(key, value);
    enum cache_status st = cache_put_version(it, version);

    item_put(it);
    return st;
}

/* Value and version stored under key; "" and 0 when absent. */
std::pair<std::string, uint64_t> Get(const std::string &key)
{
    struct item *it = cache_peek(key.data(), key.size());
    std::pair<std::string, uint64_t> r("", 0);

    if (it != nullptr) {
        r.first.resize(it->nbytes);
        item_copy_out(it, 0, &r.first[0], it->nbytes);
        r.second = cache_item_version(it);
        item_put(it);
    }
    return r;
}

TEST(Hlc, VersionsOnOneNodeOnlyGrow)
{
    isolate::run([] {
        uint64_t last = hlc_next();
        for (int i = 0; i < 100000; i++) {
            uint64_t v = hlc_next();
            ASSERT_GT(v, last);
            last = v;
        }
        /* Near the wall clock: milliseconds since the epoch, unless 100,000
         * versions in a few ms ran it ahead (at most ~100 ms). */
        int64_t ms = hlc_unix_ms(last);
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        int64_t wall = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
        EXPECT_LT(std::llabs(ms - wall), 1000) << ms << " vs " << wall;
    });
}

TEST(Hlc, AVersionSeenFromAPeerIsBeatenByTheNextWrite)
{
    isolate::run([] {
        /* A peer whose clock is an hour ahead wrote v; this node's next
         * write, causally after it, must still be newer. */
        hlc_set_offset_ms(3600 * 1000);
        uint64_t ahead = hlc_next();
        hlc_set_offset_ms(0);
        EXPECT_GT(ahead, hlc_now() - 1) << "hlc_now reports what was issued";
        uint64_t mine = hlc_next();
        EXPECT_GT(mine, ahead);
        /* And one an hour behind is below what this node issues anyway. */
        hlc_set_offset_ms(-3600 * 1000);
        uint64_t behind = hlc_next();
        EXPECT_GT(behind, mine) << "the clock never goes back";
        hlc_set_offset_ms(0);
        /* observe: a remote version moves the clock past it. */
        uint64_t remote = hlc_next() + (UINT64_C(5000) << HLC_LOGICAL_BITS);
        hlc_observe(remote);
        EXPECT_GT(hlc_next(), remote);
        /* A value past 48 bits (a corrupt peer) does not stop the clock. */
        uint64_t before = hlc_next();
        hlc_observe(UINT64_MAX);
        EXPECT_EQ(hlc_next(), before + 1);
    });
}

TEST(Hlc, ThreadsNeverGetTheSameVersion)
{
    isolate::run([] {
        constexpr int kThreads = 4, kEach = 50000;
        std::vector<std::vector<uint64_t>> got(kThreads);
        std::vector<std::thread> t;
        for (int i = 0; i < kThreads; i++)
            t.emplace_back([&got, i] {
                for (int j = 0; j < kEach; j++) got[i].push_back(hlc_next());
            });
        for (auto &th : t) th.join();
        std::vector<uint64_t> all;
        for (auto &g : got) all.insert(all.end(), g.begin(), g.end());
        std::sort(all.begin(), all.end());
        EXPECT_EQ(std::adjacent_find(all.begin(), all.end()), all.end());
    });
}

TEST(CacheVersion, ACasIsAVersionFromTheClock)
{
    isolate::run([] {
        SetupCache();
        uint64_t before = hlc_next();
        ASSERT_EQ(Set("k", "v"), CACHE_STORED);
        uint64_t v = Get("k").second;
        EXPECT_GT(v, before);
        EXPECT_LT(v, hlc_next());
    });
}

TEST(CacheVersion, TheNewestCopyWinsWhateverArrivesLast)
{
    isolate::run([] {
        SetupCache();
        uint64_t base = hlc_next();
        EXPECT_EQ(Put("k", "new", base + 100), CACHE_STORED);
        EXPECT_EQ(Put("k", "old", base + 50), CACHE_NOT_STORED);
        EXPECT_EQ(Get("k"), std::make_pair(std::string("new"), base + 100));
        /* The same version again: the same write (a replicated touch). */
        EXPECT_EQ(Put("k", "new", base + 100), CACHE_EXISTS);
        EXPECT_EQ(Put("k", "newer", base + 101), CACHE_STORED);
        EXPECT_EQ(Get("k").first, "newer");
        /* A client write here after seeing base+101 is newer still. */
        ASSERT_EQ(Set("k", "local"), CACHE_STORED);
        uint64_t local = Get("k").second;
        EXPECT_GT(local, base + 101);
        EXPECT_EQ(Put("k", "late", local - 1), CACHE_NOT_STORED);
        EXPECT_EQ(Get("k").first, "local");
    });
}

TEST(CacheVersion, DeleteBelowSparesNewerCopies)
{
    isolate::run([] {
        SetupCache();
        uint64_t base = hlc_next();
        ASSERT_EQ(Put("k", "v", base + 10), CACHE_STORED);
        EXPECT_EQ(cache_delete_below("k", 1, base + 5), CACHE_EXISTS);
        EXPECT_EQ(Get("k").first, "v");
        EXPECT_EQ(cache_delete_below("k", 1, base + 11), CACHE_OK);
        EXPECT_EQ(Get("k").second, 0u);
        EXPECT_EQ(cache_delete_below("k", 1, base + 12), CACHE_NOT_FOUND);
    });
}

TEST(CacheVersion, FlushHidesEverythingBeforeItAndNothingAfter)
{
    isolate::run([] {
        SetupCache();
        ASSERT_EQ(Set("a", "1"), CACHE_STORED);
        cache_flush(0);
        /* Same coarse millisecond: the next version is still above the
         * flush's bound (a route_test pipeline caught that once). */
        ASSERT_EQ(Set("b", "2"), CACHE_STORED);
        EXPECT_EQ(Get("a").second, 0u);
        EXPECT_EQ(Get("b").first, "2");
    });
}

TEST(CacheVersion, EveryClientChangeRunsTheHookAndCopiesDoNot)
{
    isolate::run([] {
        SetupCache();
        changes.clear();
        ASSERT_EQ(Set("a", "1"), CACHE_STORED);
        struct cache_delta_req d = {};
        struct cache_delta_res r;
        d.incr = true;
        d.delta = 2;
        ASSERT_EQ(cache_delta("a", 1, &d, &r), CACHE_OK);
        ASSERT_EQ(cache_touch("a", 1, 100), CACHE_OK);
        struct item *it = cache_get("a", 1, true, 200);
        ASSERT_NE(it, nullptr);
        item_put(it);
        struct item *app = Make("a", "x");
        ASSERT_EQ(cache_store(app, CACHE_APPEND, 0, nullptr), CACHE_STORED);
        item_put(app);
        struct cache_mdelete_req md = {};
        md.stale = true;
        ASSERT_EQ(cache_mdelete("a", 1, &md), CACHE_OK);
        ASSERT_EQ(cache_delete("a", 1), CACHE_OK);
        EXPECT_EQ(changes.size(), 7u);
        for (auto &k : changes) EXPECT_EQ(k, "a");
        /* Failures change nothing and say nothing... */
        changes.clear();
        EXPECT_EQ(cache_touch("a", 1, 5), CACHE_NOT_FOUND);
        EXPECT_EQ(changes.size(), 0u);
        /* ...except a delete that finds nothing: with versions (a
         * cluster) the key's absence is a state its other owners must
         * hear of, as a tombstone (across a partition they may hold it). */
        EXPECT_EQ(cache_delete("a", 1), CACHE_NOT_FOUND);
        ASSERT_EQ(changes.size(), 1u);
        EXPECT_EQ(changes[0], "a");
        changes.clear();
        /* Copies from other nodes do not echo. */
        EXPECT_EQ(Put("b", "v", hlc_next() + 1), CACHE_STORED);
        EXPECT_EQ(cache_delete_below("b", 1, hlc_next() + 1), CACHE_OK);
        EXPECT_EQ(changes.size(), 0u);
    });
}

/* Replication sends a read-modify-write's result with the version it was
 * computed from, so another owner can tell a result that would undo a
 * write it holds. */
TEST(CacheVersion, ReadModifyWritesReportTheirBase)
{
    isolate::run([] {
        SetupCache();
        ASSERT_EQ(Set("a", "1"), CACHE_STORED);
        uint64_t v0 = Get("a").second;
        hows.clear();
        struct cache_delta_req d = {};
        struct cache_delta_res r;
        d.incr = true;
        d.delta = 1;
        ASSERT_EQ(cache_delta("a", 1, &d, &r), CACHE_OK);
        uint64_t v1 = Get("a").second;
        struct item *app = Make("a", "0");
        ASSERT_EQ(cache_store(app, CACHE_APPEND, 0, nullptr), CACHE_STORED);
        item_put(app);
        uint64_t v2 = Get("a").second;
        struct item *cas = Make("a", "x");
        ASSERT_EQ(cache_store(cas, CACHE_CAS, v2, nullptr), CACHE_STORED);
        item_put(cas);
        uint64_t v3 = Get("a").second;
        ASSERT_EQ(Set("a", "y"), CACHE_STORED);
        ASSERT_EQ(hows.size(), 4u);
        EXPECT_EQ(hows[0].base, v0);
        EXPECT_EQ(hows[0].version, v1);
        EXPECT_EQ(hows[1].base, v1);
        EXPECT_EQ(hows[1].version, v2);
        EXPECT_EQ(hows[2].base, v2);
        EXPECT_EQ(hows[2].version, v3);
        EXPECT_EQ(hows[3].base, 0u);   /* a set depends on nothing */
        EXPECT_EQ(Get("a").first, "y");
    });
}

TEST(CacheVersion, AResultOverAWriteItsBaseDidNotHaveIsAConflict)
{
    isolate::run([] {
        SetupCache();
        uint64_t base = hlc_next();
        ASSERT_EQ(Put("k", "5", base), CACHE_STORED);
        /* Computed from what is here: stored. */
        struct item *it = Make("k", "6");
        uint64_t have = 0;
        EXPECT_EQ(cache_put_version_based(it, base + 10, base, &have),
                  CACHE_STORED);
        item_put(it);
        /* The same result again (a second holder sent it): the same write. */
        it = Make("k", "6");
        EXPECT_EQ(cache_put_version_based(it, base + 10, base, &have),
                  CACHE_EXISTS);
        item_put(it);
        /* Another node's incr from the old base, newer or older by its
         * clock: refused either way, and told what is here. */
        it = Make("k", "6");
        EXPECT_EQ(cache_put_version_based(it, base + 20, base, &have),
                  CACHE_CONFLICT);
        EXPECT_EQ(have, base + 10);
        item_put(it);
        it = Make("k", "6");
        EXPECT_EQ(cache_put_version_based(it, base + 5, base, &have),
                  CACHE_CONFLICT);
        item_put(it);
        EXPECT_EQ(Get("k").first, "6");
        EXPECT_EQ(Get("k").second, base + 10);
        /* Nothing here (this owner missed the earlier writes): stored. */
        it = Make("n", "1");
        EXPECT_EQ(cache_put_version_based(it, base + 30, base + 29, &have),
                  CACHE_STORED);
        item_put(it);
    });
}

TEST(CacheVersion, AResultBuiltOnARefusedResultIsRefusedToo)
{
    isolate::run([] {
        SetupCache();
        /* This owner's copy moved on (base + 10) while a paused executor
         * still held the one at base; resumed, it ran two incrs in a
         * row, the second on its own first result (base + 100). */
        uint64_t base = hlc_next();
        ASSERT_EQ(Put("k", "5", base + 10), CACHE_STORED);
        struct item *it = Make("k", "1");
        uint64_t have = 0;
        EXPECT_EQ(cache_put_version_based(it, base + 100, base, &have),
                  CACHE_CONFLICT);
        item_put(it);
        /* Its base is above what is here, so the base alone would let it
         * in and lose the write at base + 10 after all. */
        it = Make("k", "2");
        have = 0;
        EXPECT_EQ(cache_put_version_based(it, base + 101, base + 100, &have),
                  CACHE_CONFLICT);
        EXPECT_EQ(have, base + 10);
        item_put(it);
        /* And the chain goes on: the next one is refused in turn. */
        it = Make("k", "3");
        EXPECT_EQ(cache_put_version_based(it, base + 102, base + 101, &have),
                  CACHE_CONFLICT);
        item_put(it);
        EXPECT_EQ(Get("k").first, "5");
        /* A result on a base this owner never refused is still stored
         * (it missed that write: the executor's state is the newer). */
        it = Make("k", "6");
        EXPECT_EQ(cache_put_version_based(it, base + 201, base + 200, &have),
                  CACHE_STORED);
        item_put(it);
        /* A refusal the caller made itself (a tombstone) chains too. */
        cache_note_refused("d", 1, base + 300);
        it = Make("d", "1");
        EXPECT_EQ(cache_put_version_based(it, base + 301, base + 300, &have),
                  CACHE_CONFLICT);
        EXPECT_EQ(have, 0u);
        item_put(it);
    });
}

TEST(Tombstone, RemembersTheNewestDeleteUntilItExpires)
{
    isolate::run([] {
        clock_setup();
        clock_hold();
        ASSERT_EQ(tombstone_setup(64, 60), 0);
        EXPECT_EQ(tombstone_get("k", 1), 0u);
        tombstone_put("k", 1, 500);
        tombstone_put("k", 1, 300);   /* an older delete arriving late */
        EXPECT_EQ(tombstone_get("k", 1), 500u);
        tombstone_put("k", 1, 700);
        EXPECT_EQ(tombstone_get("k", 1), 700u);
        EXPECT_EQ(tombstone_get("other", 5), 0u);
        clock_advance(59);
        EXPECT_EQ(tombstone_get("k", 1), 700u);
        clock_advance(1);
        EXPECT_EQ(tombstone_get("k", 1), 0u);
    });
}

TEST(Tombstone, BoundedAndCountsWhatItDrops)
{
    isolate::run([] {
        clock_setup();
        clock_hold();
        ASSERT_EQ(tombstone_setup(256, 60), 0);
        for (int i = 0; i < 10000; i++) {
            std::string k = "key" + std::to_string(i);
            tombstone_put(k.data(), k.size(), (uint64_t)i + 1);
        }
        struct tombstone_stats st;
        tombstone_stats(&st);
        EXPECT_EQ(st.slots, 256u);
        EXPECT_EQ(st.live, 256u);
        EXPECT_EQ(st.recorded, 10000u);
        EXPECT_EQ(st.dropped, 10000u - 256u);
        /* The newest are kept. */
        int kept = 0;
        for (int i = 9900; i < 10000; i++) {
            std::string k = "key" + std::to_string(i);
            kept += tombstone_get(k.data(), k.size()) == (uint64_t)i + 1;
        }
        EXPECT_GT(kept, 0);
        /* Expired slots are reused without counting a drop. */
        clock_advance(61);
        tombstone_put("fresh", 5, 1);
        tombstone_stats(&st);
        EXPECT_EQ(st.dropped, 10000u - 256u);
        EXPECT_EQ(st.live, 1u);
    });
}

}  // namespace
