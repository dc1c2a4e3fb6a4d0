/*
 * cache_test: storage semantics, expiry, flush, CAS, eviction and
 * concurrency of the cache layer (cache/cache.h).
 *
 * Every status asserted here is the reply memcached 1.6.18 gives for the
 * same sequence of commands (STORED, NOT_STORED, EXISTS, NOT_FOUND, the
 * incr/decr results and padding), checked against a running memcached where
 * the behaviour is visible on the wire.
 *
 * cache_setup() owns process-global state (slab arena, table, CAS counter,
 * RCU threads) and can run once per process, so each test runs in a forked
 * child (isolate.h) with the configuration it needs: -C, -M, a tiny -m.
 * Time is moved with clock_advance() (and cache_tick() where the daemon
 * would run it), never by sleeping. Every loop is bounded by a count and,
 * for the threaded tests, by a deadline.
 */
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "cache/cache.h"
#include "cache/table.h"
#include "isolate.h"
#include "util/clock.h"
#include "util/numparse.h"

namespace {

constexpr size_t kKiB = 1024;
constexpr size_t kMiB = 1024 * 1024;

struct Config {
    size_t mem_limit = 64 * kMiB;
    size_t page_size = kMiB;
    size_t item_size_max = kMiB;
    bool use_cas = true;
    bool evict = true;
};

/* A small cache for eviction tests: 64 KiB pages, so -m 1 MiB is 16 pages
 * and a class of 152-byte chunks holds a few thousand items. */
Config Small(size_t mem_limit = kMiB)
{
    Config c;

    c.mem_limit = mem_limit;
    c.page_size = 64 * kKiB;
    c.item_size_max = 64 * kKiB;
    return c;
}

/* Sets up clock and cache in the (child) process, and registers the
 * calling thread. */
void SetupCache(const Config &c = Config())
{
    struct cache_options o;

    memset(&o, 0, sizeof(o));
    o.slab.mem_limit = c.mem_limit;
    o.slab.page_size = c.page_size;
    o.slab.chunk_max = c.page_size / 2;
    o.slab.min_space = 48;
    o.slab.factor = 1.25;
    o.use_cas = c.use_cas;
    o.evict = c.evict;
    o.hashpower = 16;
    o.item_size_max = c.item_size_max;
    clock_setup();
    clock_hold(); /* time moves only by Tick/clock_advance */
    ASSERT_EQ(cache_setup(&o), 0);
    cache_thread_init();
}

/* Moves time as the daemon's once-a-second timer does. */
void Tick(int32_t seconds = 1)
{
    clock_advance(seconds);
    cache_tick();
}

enum cache_status Store(enum cache_store_mode mode, const std::string &key,
                        const std::string &value, uint32_t flags = 0,
                        int64_t exptime = 0, uint64_t cas = 0)
{
    struct item *it;
    enum cache_status st = cache_alloc(key.data(), key.size(), flags,
                                       clock_expiry(exptime), value.size(),
                                       &it);

    if (st != CACHE_OK) {
        return st;
    }
    item_copy_in(it, 0, value.data(), value.size());
    st = cache_store(it, mode, cas, nullptr);
    item_put(it);
    return st;
}

enum cache_status Set(const std::string &key, const std::string &value,
                      uint32_t flags = 0, int64_t exptime = 0)
{
    return Store(CACHE_SET, key, value, flags, exptime);
}

/* What a get (or gets) shows a client. */
struct Got {
    bool hit = false;
    std::string value;
    uint32_t flags = 0;
    uint64_t cas = 0;
    rel_time_t exptime = 0;
};

Got Get(const std::string &key, bool touch = false, int64_t exptime = 0)
{
    Got g;
    struct item *it = cache_get(key.data(), key.size(), touch,
                                touch ? clock_expiry(exptime) : 0);

    if (it == nullptr) {
        return g;
    }
    g.hit = true;
    g.value.resize(it->nbytes);
    item_copy_out(it, 0, &g.value[0], it->nbytes);
    g.flags = item_cflags(it);
    g.cas = cache_item_cas(it);
    g.exptime = item_exptime(it);
    item_put(it);
    return g;
}

bool Has(const std::string &key)
{
    return Get(key).hit;
}

std::string Value(const std::string &key)
{
    Got g = Get(key);

    return g.hit ? g.value : std::string("<miss>");
}

/* incr/decr; on CACHE_OK *result is the number the client is sent. */
enum cache_status Delta(const std::string &key, bool incr, uint64_t delta,
                        std::string *result = nullptr)
{
    struct cache_delta_req req = {};
    struct cache_delta_res res;

    req.incr = incr;
    req.delta = delta;
    enum cache_status st = cache_delta(key.data(), key.size(), &req, &res);

    if (st == CACHE_OK && result != nullptr) {
        *result = std::string(res.text, res.len);
    }
    return st;
}

struct cache_stats Stats()
{
    struct cache_stats st;

    cache_stats_sum(&st);
    return st;
}

using Clock = std::chrono::steady_clock;

/* ---- storage commands ------------------------------------------------ */

TEST(Cache, SetThenGetRoundTrips)
{
    isolate::run([] {
        SetupCache();
        EXPECT_FALSE(Has("k"));
        EXPECT_EQ(Set("k", "hello", 42), CACHE_STORED);
        Got g = Get("k");
        ASSERT_TRUE(g.hit);
        EXPECT_EQ(g.value, "hello");
        EXPECT_EQ(g.flags, 42u);
        EXPECT_NE(g.cas, 0u);

        /* set overwrites value and flags. */
        EXPECT_EQ(Set("k", "", 0), CACHE_STORED);
        g = Get("k");
        ASSERT_TRUE(g.hit);
        EXPECT_EQ(g.value, "");
        EXPECT_EQ(g.flags, 0u);

        /* Keys are exact byte strings. */
        std::string k250(250, 'x');
        EXPECT_EQ(Set(k250, "long"), CACHE_STORED);
        EXPECT_EQ(Value(k250), "long");
        EXPECT_FALSE(Has(std::string(249, 'x')));
        EXPECT_EQ(Set(std::string("a\0b", 3), "nul"), CACHE_STORED);
        EXPECT_EQ(Value(std::string("a\0b", 3)), "nul");
        EXPECT_FALSE(Has("a"));
    });
}

/* cache_prefetch is a hint: present, absent and too many keys, before and
 * after the table grows, change no value and no counter. */
TEST(Cache, PrefetchChangesNothing)
{
    isolate::run([] {
        SetupCache();
        std::vector<std::string> names;
        std::vector<struct cache_key> keys;

        for (int i = 0; i < 3 * CACHE_PREFETCH_MAX; i++) {
            names.push_back("key" + std::to_string(i));
        }
        for (size_t i = 0; i < names.size(); i += 2) {
            ASSERT_EQ(Set(names[i], "v" + names[i]), CACHE_STORED);
        }
        for (const std::string &n : names) {
            keys.push_back({n.data(), n.size()});
        }
        for (int round = 0; round < 2; round++) {
            struct cache_stats before = Stats();

            cache_prefetch(keys.data(), 0);
            cache_prefetch(keys.data(), keys.size());
            struct cache_stats after = Stats();

            EXPECT_EQ(memcmp(&before, &after, sizeof(before)), 0);
            table_maybe_grow(size_t(1) << 20); /* more buckets: new indexes */
        }
        for (size_t i = 0; i < names.size(); i++) {
            EXPECT_EQ(Value(names[i]), i % 2 == 0 ? "v" + names[i]
                                                  : std::string("<miss>"));
        }
    });
}

TEST(Cache, AddStoresOnlyWhenAbsent)
{
    isolate::run([] {
        SetupCache();
        EXPECT_EQ(Store(CACHE_ADD, "k", "one"), CACHE_STORED);
        EXPECT_EQ(Store(CACHE_ADD, "k", "two"), CACHE_NOT_STORED);
        EXPECT_EQ(Value("k"), "one");
        EXPECT_EQ(cache_delete("k", 1), CACHE_OK);
        EXPECT_EQ(Store(CACHE_ADD, "k", "three"), CACHE_STORED);
        EXPECT_EQ(Value("k"), "three");
        /* An expired item counts as absent. */
        EXPECT_EQ(Set("e", "old", 0, 5), CACHE_STORED);
        Tick(5);
        EXPECT_EQ(Store(CACHE_ADD, "e", "new"), CACHE_STORED);
        EXPECT_EQ(Value("e"), "new");
    });
}

TEST(Cache, ReplaceStoresOnlyWhenPresent)
{
    isolate::run([] {
        SetupCache();
        EXPECT_EQ(Store(CACHE_REPLACE, "k", "x"), CACHE_NOT_STORED);
        EXPECT_FALSE(Has("k"));
        EXPECT_EQ(Set("k", "one", 1), CACHE_STORED);
        EXPECT_EQ(Store(CACHE_REPLACE, "k", "two", 2), CACHE_STORED);
        Got g = Get("k");
        EXPECT_EQ(g.value, "two");
        EXPECT_EQ(g.flags, 2u);
        EXPECT_EQ(Set("e", "old", 0, 5), CACHE_STORED);
        Tick(5);
        EXPECT_EQ(Store(CACHE_REPLACE, "e", "new"), CACHE_NOT_STORED);
        EXPECT_FALSE(Has("e"));
    });
}

TEST(Cache, AppendAndPrependKeepFlagsAndExptime)
{
    isolate::run([] {
        SetupCache();
        EXPECT_EQ(Store(CACHE_APPEND, "k", "x"), CACHE_NOT_STORED);
        EXPECT_EQ(Store(CACHE_PREPEND, "k", "x"), CACHE_NOT_STORED);
        EXPECT_FALSE(Has("k"));

        EXPECT_EQ(Set("k", "a", 5, 100), CACHE_STORED);
        Got before = Get("k");
        /* The new data's flags and exptime are ignored, as memcached. */
        EXPECT_EQ(Store(CACHE_APPEND, "k", "b", 9, 1), CACHE_STORED);
        EXPECT_EQ(Store(CACHE_PREPEND, "k", "c", 7, 1), CACHE_STORED);
        Got g = Get("k");
        EXPECT_EQ(g.value, "cab");
        EXPECT_EQ(g.flags, 5u);
        EXPECT_EQ(g.exptime, before.exptime);
        EXPECT_GT(g.cas, before.cas);
        Tick(50);
        EXPECT_EQ(Value("k"), "cab");
        Tick(50);
        EXPECT_FALSE(Has("k"));
    });
}

TEST(Cache, AppendAndPrependAcrossChunkedValues)
{
    isolate::run([] {
        SetupCache();
        std::mt19937 rng(3);
        std::string big(700 * kKiB, '\0'), head(1000, '\0'),
            tail(400 * kKiB, '\0');

        for (char &c : big) {
            c = (char)('a' + rng() % 26);
        }
        for (char &c : head) {
            c = (char)('A' + rng() % 26);
        }
        for (char &c : tail) {
            c = (char)('0' + rng() % 10);
        }
        /* chunked + small */
        ASSERT_EQ(Set("k", big), CACHE_STORED);
        ASSERT_EQ(Store(CACHE_PREPEND, "k", head), CACHE_STORED);
        EXPECT_TRUE(Value("k") == head + big);
        /* plain + large: becomes chunked */
        ASSERT_EQ(Set("p", head), CACHE_STORED);
        ASSERT_EQ(Store(CACHE_APPEND, "p", tail), CACHE_STORED);
        ASSERT_EQ(Store(CACHE_APPEND, "p", tail), CACHE_STORED);
        EXPECT_TRUE(Value("p") == head + tail + tail);
    });
}

TEST(Cache, AppendBeyondItemSizeMaxIsNotStored)
{
    isolate::run([] {
        SetupCache();
        std::string most(900 * kKiB, 'm'), more(200 * kKiB, 'x');

        ASSERT_EQ(Set("k", most), CACHE_STORED);
        EXPECT_EQ(Store(CACHE_APPEND, "k", more), CACHE_NOT_STORED);
        EXPECT_TRUE(Value("k") == most);
    });
}

TEST(Cache, ItemSizeLimitIsMemcachedsMeasure)
{
    isolate::run([] {
        SetupCache();
        /* memcached: 48-byte header + key + 1 + value + 2 + 8 (CAS) +
         * 4 if flags are non-zero must be <= -I (1 MiB). */
        size_t max = kMiB - 48 - 1 - 1 - 2 - 8;
        struct item *it = nullptr;

        EXPECT_EQ(cache_alloc("k", 1, 0, 0, max, &it), CACHE_OK);
        ASSERT_NE(it, nullptr);
        item_put(it);
        EXPECT_EQ(cache_alloc("k", 1, 0, 0, max + 1, &it), CACHE_TOO_LARGE);
        EXPECT_EQ(it, nullptr);
        EXPECT_EQ(cache_alloc("k", 1, 1, 0, max - 4, &it), CACHE_OK);
        item_put(it);
        EXPECT_EQ(cache_alloc("k", 1, 1, 0, max - 3, &it), CACHE_TOO_LARGE);
        /* A too-large set leaves the cache unchanged. */
        EXPECT_EQ(Set("k", "v"), CACHE_STORED);
        EXPECT_EQ(Set("k", std::string(max + 1, 'x')), CACHE_TOO_LARGE);
        EXPECT_EQ(Value("k"), "v");
        /* The largest value round-trips. */
        std::string v(max, 'q');
        v[0] = 'A';
        v[max - 1] = 'Z';
        EXPECT_EQ(Set("k", v), CACHE_STORED);
        EXPECT_TRUE(Value("k") == v);
    });
}

TEST(Cache, ItemSizeLimitWithoutCasIsEightBytesLarger)
{
    isolate::run([] {
        Config c;
        c.use_cas = false;
        SetupCache(c);
        size_t max = kMiB - 48 - 1 - 1 - 2;
        struct item *it = nullptr;

        EXPECT_EQ(cache_alloc("k", 1, 0, 0, max, &it), CACHE_OK);
        item_put(it);
        EXPECT_EQ(cache_alloc("k", 1, 0, 0, max + 1, &it), CACHE_TOO_LARGE);
    });
}

/* ---- CAS ------------------------------------------------------------ */

TEST(Cache, CasSemantics)
{
    isolate::run([] {
        SetupCache();
        EXPECT_EQ(Store(CACHE_CAS, "k", "x", 0, 0, 1), CACHE_NOT_FOUND);
        EXPECT_FALSE(Has("k"));
        ASSERT_EQ(Set("k", "one"), CACHE_STORED);
        uint64_t c1 = Get("k").cas;

        EXPECT_EQ(Store(CACHE_CAS, "k", "bad", 0, 0, c1 + 1000),
                  CACHE_EXISTS);
        EXPECT_EQ(Value("k"), "one");
        /* A zero CAS never matches (memcached answers EXISTS). */
        EXPECT_EQ(Store(CACHE_CAS, "k", "zero", 0, 0, 0), CACHE_EXISTS);
        EXPECT_EQ(Store(CACHE_CAS, "k", "two", 3, 0, c1), CACHE_STORED);
        Got g = Get("k");
        EXPECT_EQ(g.value, "two");
        EXPECT_EQ(g.flags, 3u);
        EXPECT_NE(g.cas, c1);
        /* The old CAS is stale now. */
        EXPECT_EQ(Store(CACHE_CAS, "k", "three", 0, 0, c1), CACHE_EXISTS);
        EXPECT_EQ(Value("k"), "two");
        /* Expired or deleted: NOT_FOUND. */
        uint64_t c2 = g.cas;
        EXPECT_EQ(cache_delete("k", 1), CACHE_OK);
        EXPECT_EQ(Store(CACHE_CAS, "k", "four", 0, 0, c2), CACHE_NOT_FOUND);
        ASSERT_EQ(Set("e", "x", 0, 3), CACHE_STORED);
        uint64_t ce = Get("e").cas;
        Tick(3);
        EXPECT_EQ(Store(CACHE_CAS, "e", "y", 0, 0, ce), CACHE_NOT_FOUND);
    });
}

TEST(Cache, CasValuesAreUniqueAndIncreasing)
{
    isolate::run([] {
        SetupCache();
        uint64_t last = 0;
        auto check = [&last](const char *what) {
            uint64_t c = Get("k").cas;

            EXPECT_GT(c, last) << what;
            last = c;
        };

        ASSERT_EQ(Set("k", "1"), CACHE_STORED);
        check("set");
        ASSERT_EQ(Set("k", "2"), CACHE_STORED);
        check("set again");
        ASSERT_EQ(Store(CACHE_REPLACE, "k", "3"), CACHE_STORED);
        check("replace");
        ASSERT_EQ(Store(CACHE_APPEND, "k", "0"), CACHE_STORED);
        check("append");
        ASSERT_EQ(Store(CACHE_PREPEND, "k", "1"), CACHE_STORED);
        check("prepend");
        ASSERT_EQ(Delta("k", true, 1), CACHE_OK);
        check("incr");
        ASSERT_EQ(Delta("k", false, 1), CACHE_OK);
        check("decr");
        ASSERT_EQ(Store(CACHE_CAS, "k", "5", 0, 0, last), CACHE_STORED);
        check("cas");
        /* touch and gat change the expiry, not the CAS. */
        ASSERT_EQ(cache_touch("k", 1, clock_expiry(100)), CACHE_OK);
        EXPECT_EQ(Get("k").cas, last);
        EXPECT_EQ(Get("k", true, 200).cas, last);

        /* Distinct keys get distinct values too. */
        std::vector<uint64_t> seen;
        for (int i = 0; i < 200; i++) {
            std::string key = "u" + std::to_string(i);

            ASSERT_EQ(Set(key, "v"), CACHE_STORED);
            seen.push_back(Get(key).cas);
        }
        for (size_t i = 1; i < seen.size(); i++) {
            EXPECT_GT(seen[i], seen[i - 1]);
        }
    });
}

TEST(Cache, DisabledCasReportsZeroAndNeverMatches)
{
    isolate::run([] {
        Config c;
        c.use_cas = false;
        SetupCache(c);
        EXPECT_FALSE(cache_uses_cas());
        ASSERT_EQ(Set("k", "x"), CACHE_STORED);
        EXPECT_EQ(Get("k").cas, 0u);
        /* memcached -C: "cas k 0 0 1 0" is EXISTS, like any other value;
         * a missing key is NOT_FOUND. */
        EXPECT_EQ(Store(CACHE_CAS, "k", "y", 0, 0, 0), CACHE_EXISTS);
        EXPECT_EQ(Store(CACHE_CAS, "k", "y", 0, 0, 1), CACHE_EXISTS);
        EXPECT_EQ(Store(CACHE_CAS, "nokey", "y", 0, 0, 0), CACHE_NOT_FOUND);
        EXPECT_EQ(Value("k"), "x");
        ASSERT_EQ(Delta("k", true, 1), CACHE_NON_NUMERIC);
        ASSERT_EQ(Set("n", "1"), CACHE_STORED);
        ASSERT_EQ(Delta("n", true, 1), CACHE_OK);
        EXPECT_EQ(Get("n").cas, 0u);
    });
}

/* ---- incr / decr ----------------------------------------------------- */

TEST(Cache, IncrDecrBasics)
{
    isolate::run([] {
        SetupCache();
        std::string r;

        EXPECT_EQ(Delta("n", true, 1), CACHE_NOT_FOUND);
        EXPECT_EQ(Delta("n", false, 1), CACHE_NOT_FOUND);
        EXPECT_FALSE(Has("n"));

        ASSERT_EQ(Set("n", "5", 77, 100), CACHE_STORED);
        Got before = Get("n");
        EXPECT_EQ(Delta("n", true, 10, &r), CACHE_OK);
        EXPECT_EQ(r, "15");
        EXPECT_EQ(Value("n"), "15");
        EXPECT_EQ(Delta("n", false, 3, &r), CACHE_OK);
        EXPECT_EQ(r, "12");
        EXPECT_EQ(Value("n"), "12");
        /* Flags and exptime survive. */
        Got g = Get("n");
        EXPECT_EQ(g.flags, 77u);
        EXPECT_EQ(g.exptime, before.exptime);
        EXPECT_EQ(Delta("n", true, 0, &r), CACHE_OK);
        EXPECT_EQ(r, "12");
    });
}

TEST(Cache, IncrWrapsAt2To64AndDecrStopsAtZero)
{
    isolate::run([] {
        SetupCache();
        std::string r;

        ASSERT_EQ(Set("n", "18446744073709551615"), CACHE_STORED);
        EXPECT_EQ(Delta("n", true, 1, &r), CACHE_OK);
        EXPECT_EQ(r, "0");
        /* Rewritten in place: padded with spaces to the old length. */
        EXPECT_EQ(Value("n"), "0" + std::string(19, ' '));

        ASSERT_EQ(Set("m", "10"), CACHE_STORED);
        EXPECT_EQ(Delta("m", true, 18446744073709551615ULL, &r), CACHE_OK);
        EXPECT_EQ(r, "9");

        ASSERT_EQ(Set("d", "5"), CACHE_STORED);
        EXPECT_EQ(Delta("d", false, 10, &r), CACHE_OK);
        EXPECT_EQ(r, "0");
        EXPECT_EQ(Value("d"), "0");
        EXPECT_EQ(Delta("d", false, 1, &r), CACHE_OK);
        EXPECT_EQ(r, "0");
    });
}

TEST(Cache, IncrDecrKeepMemcachedsPadding)
{
    /* memcached rewrites the number in place when it fits, padding with
     * spaces to the old length; a longer number makes a longer value.
     * Clients see the padding in get. Each row was checked against
     * memcached 1.6.18. */
    struct {
        const char *stored;
        bool incr;
        uint64_t delta;
        const char *reply;
        const char *value;
    } const cases[] = {
        {"10", false, 1, "9", "9 "},
        {"100", false, 91, "9", "9  "},
        {"99", true, 1, "100", "100"},
        {"12 abc", true, 1, "13", "13    "},
        {" 5 ", true, 1, "6", "6  "},
        {"5\t", true, 1, "6", "6 "},
        {"00000000000000000000000001", true, 1, "2",
         "2                         "},
    };

    isolate::run([&cases] {
        SetupCache();
        for (const auto &c : cases) {
            std::string r;

            ASSERT_EQ(Set("k", c.stored), CACHE_STORED);
            EXPECT_EQ(Delta("k", c.incr, c.delta, &r), CACHE_OK) << c.stored;
            EXPECT_EQ(r, c.reply) << c.stored;
            EXPECT_EQ(Value("k"), c.value) << c.stored;
        }
    });
}

TEST(Cache, IncrDecrOnNonNumbers)
{
    isolate::run([] {
        SetupCache();
        const char *const bad[] = {"abc", "12abc", "", "-1", "1.5", "x1",
                                   "18446744073709551616"};

        for (const char *v : bad) {
            ASSERT_EQ(Set("k", v), CACHE_STORED);
            EXPECT_EQ(Delta("k", true, 1), CACHE_NON_NUMERIC) << v;
            EXPECT_EQ(Delta("k", false, 1), CACHE_NON_NUMERIC) << v;
            EXPECT_EQ(Value("k"), v);
        }
        /* A chunked value is never a number. */
        std::string big(600 * kKiB, '1');
        ASSERT_EQ(Set("k", big), CACHE_STORED);
        EXPECT_EQ(Delta("k", true, 1), CACHE_NON_NUMERIC);
    });
}

/* The binary and meta protocols' incr: create on miss, CAS, TTL. */
TEST(Cache, DeltaCreatesMissingKeyWithInitialValue)
{
    isolate::run([] {
        SetupCache();
        struct cache_delta_req req = {};
        struct cache_delta_res res;

        req.incr = true;
        req.delta = 5;
        req.create = true;
        req.initial = 40;
        req.create_exptime = clock_expiry(100);
        ASSERT_EQ(cache_delta("n", 1, &req, &res), CACHE_OK);
        EXPECT_TRUE(res.created);
        EXPECT_EQ(res.value, 40u);   /* the initial value, no delta */
        EXPECT_EQ(std::string(res.text, res.len), "40");
        Got g = Get("n");
        EXPECT_EQ(g.value, "40");
        EXPECT_EQ(g.cas, res.cas);
        EXPECT_EQ(g.exptime, clock_expiry(100));
        /* Now it exists: the delta applies, the TTL stays. */
        ASSERT_EQ(cache_delta("n", 1, &req, &res), CACHE_OK);
        EXPECT_FALSE(res.created);
        EXPECT_EQ(res.value, 45u);
        EXPECT_EQ(Get("n").exptime, clock_expiry(100));
        EXPECT_EQ(Get("n").cas, res.cas);
    });
}

TEST(Cache, DeltaChecksCasAndCanSetTtl)
{
    isolate::run([] {
        SetupCache();
        struct cache_delta_req req = {};
        struct cache_delta_res res;

        ASSERT_EQ(Set("n", "10"), CACHE_STORED);
        uint64_t cas = Get("n").cas;

        req.incr = false;
        req.delta = 3;
        req.cas = cas + 1;
        EXPECT_EQ(cache_delta("n", 1, &req, &res), CACHE_EXISTS);
        EXPECT_EQ(Value("n"), "10");
        req.cas = cas;
        req.set_exptime = true;
        req.exptime = clock_expiry(50);
        ASSERT_EQ(cache_delta("n", 1, &req, &res), CACHE_OK);
        EXPECT_EQ(Value("n"), "7 ");
        EXPECT_EQ(Get("n").exptime, clock_expiry(50));
        EXPECT_NE(res.cas, cas);
        /* Without create a miss stays a miss. */
        req = {};
        req.incr = true;
        EXPECT_EQ(cache_delta("absent", 6, &req, &res), CACHE_NOT_FOUND);
        EXPECT_FALSE(Has("absent"));
    });
}

TEST(Cache, AppendWithCasMustMatch)
{
    isolate::run([] {
        SetupCache();
        ASSERT_EQ(Set("k", "a"), CACHE_STORED);
        uint64_t cas = Get("k").cas;

        EXPECT_EQ(Store(CACHE_APPEND, "k", "b", 0, 0, cas + 7), CACHE_EXISTS);
        EXPECT_EQ(Value("k"), "a");
        EXPECT_EQ(Store(CACHE_PREPEND, "k", "c", 0, 0, cas), CACHE_STORED);
        EXPECT_EQ(Value("k"), "ca");
        EXPECT_EQ(Store(CACHE_APPEND, "k", "d"), CACHE_STORED);
        EXPECT_EQ(Value("k"), "cad");
    });
}

/* ---- delete / touch / expiry ----------------------------------------- */

TEST(Cache, DeleteRemovesOnce)
{
    isolate::run([] {
        SetupCache();
        EXPECT_EQ(cache_delete("k", 1), CACHE_NOT_FOUND);
        ASSERT_EQ(Set("k", "v"), CACHE_STORED);
        ASSERT_EQ(Set("other", "w"), CACHE_STORED);
        EXPECT_EQ(cache_delete("k", 1), CACHE_OK);
        EXPECT_FALSE(Has("k"));
        EXPECT_EQ(cache_delete("k", 1), CACHE_NOT_FOUND);
        EXPECT_EQ(Value("other"), "w");
        ASSERT_EQ(Set("e", "v", 0, 2), CACHE_STORED);
        Tick(2);
        EXPECT_EQ(cache_delete("e", 1), CACHE_NOT_FOUND);

        cache_unlink_key("other", 5);
        EXPECT_FALSE(Has("other"));
        cache_unlink_key("other", 5); /* absent: no effect */
    });
}

TEST(Cache, ExpiryBoundaries)
{
    isolate::run([] {
        SetupCache();
        ASSERT_EQ(Set("ten", "v", 0, 10), CACHE_STORED);
        ASSERT_EQ(Set("never", "v", 0, 0), CACHE_STORED);
        ASSERT_EQ(Set("past", "v", 0, -1), CACHE_STORED);
        ASSERT_EQ(Set("unix-past", "v", 0, 1000000000), CACHE_STORED);
        ASSERT_EQ(Set("unix-future", "v", 0, time(nullptr) + 20),
                  CACHE_STORED);

        /* Negative and past unix times are dead at once. */
        EXPECT_FALSE(Has("past"));
        EXPECT_FALSE(Has("unix-past"));
        Tick(9);
        EXPECT_TRUE(Has("ten"));
        /* memcached: expired when exptime <= now, so gone at exactly
         * +10. */
        Tick(1);
        EXPECT_FALSE(Has("ten"));
        EXPECT_TRUE(Has("unix-future"));
        Tick(15);
        EXPECT_FALSE(Has("unix-future"));
        /* 0 never expires, even a year later. */
        Tick(365 * 24 * 3600);
        EXPECT_TRUE(Has("never"));
        /* More than 30 days is a unix time: 31 days is in 1970. */
        ASSERT_EQ(Set("month", "v", 0, 31 * 24 * 3600), CACHE_STORED);
        EXPECT_FALSE(Has("month"));
    });
}

TEST(Cache, TouchAndGatChangeOnlyTheExpiry)
{
    isolate::run([] {
        SetupCache();
        EXPECT_EQ(cache_touch("k", 1, clock_expiry(10)), CACHE_NOT_FOUND);
        EXPECT_EQ(Get("k", true, 10).hit, false);

        ASSERT_EQ(Set("k", "v", 3, 10), CACHE_STORED);
        Got before = Get("k");
        /* Extend. */
        EXPECT_EQ(cache_touch("k", 1, clock_expiry(100)), CACHE_OK);
        Tick(50);
        Got g = Get("k");
        ASSERT_TRUE(g.hit);
        EXPECT_EQ(g.value, "v");
        EXPECT_EQ(g.flags, 3u);
        EXPECT_EQ(g.cas, before.cas);
        /* Shorten with gat: the value comes back, then it expires. */
        g = Get("k", true, 5);
        ASSERT_TRUE(g.hit);
        EXPECT_EQ(g.value, "v");
        Tick(4);
        EXPECT_TRUE(Has("k"));
        Tick(1);
        EXPECT_FALSE(Has("k"));
        /* touch to 0: never expires. */
        ASSERT_EQ(Set("n", "v", 0, 5), CACHE_STORED);
        EXPECT_EQ(cache_touch("n", 1, clock_expiry(0)), CACHE_OK);
        Tick(1000);
        EXPECT_TRUE(Has("n"));
        /* A negative touch expires it at once. */
        EXPECT_EQ(cache_touch("n", 1, clock_expiry(-1)), CACHE_OK);
        EXPECT_FALSE(Has("n"));
        /* Touching an expired item is NOT_FOUND. */
        EXPECT_EQ(cache_touch("n", 1, clock_expiry(100)), CACHE_NOT_FOUND);
    });
}

/* ---- flush_all -------------------------------------------------------- */

TEST(Cache, FlushImmediate)
{
    isolate::run([] {
        SetupCache();
        for (int i = 0; i < 100; i++) {
            ASSERT_EQ(Set("k" + std::to_string(i), "v"), CACHE_STORED);
        }
        cache_flush(0);
        for (int i = 0; i < 100; i++) {
            EXPECT_FALSE(Has("k" + std::to_string(i)));
        }
        /* Items stored after the flush, in the same second, are visible
         * (memcached flushes by CAS when the flush is due now). */
        ASSERT_EQ(Set("k1", "new"), CACHE_STORED);
        EXPECT_EQ(Value("k1"), "new");
        EXPECT_EQ(Store(CACHE_ADD, "k2", "added"), CACHE_STORED);
        Tick(1);
        EXPECT_EQ(Value("k1"), "new");
        EXPECT_EQ(Value("k2"), "added");
        /* A negative delay is immediate too. */
        cache_flush(-5);
        EXPECT_FALSE(Has("k1"));
        EXPECT_FALSE(Has("k2"));
        /* Flushed items count as absent for every command. */
        ASSERT_EQ(Set("r", "1"), CACHE_STORED);
        cache_flush(0);
        EXPECT_EQ(Store(CACHE_REPLACE, "r", "x"), CACHE_NOT_STORED);
        EXPECT_EQ(Delta("r", true, 1), CACHE_NOT_FOUND);
        EXPECT_EQ(cache_touch("r", 1, 0), CACHE_NOT_FOUND);
        EXPECT_EQ(cache_delete("r", 1), CACHE_NOT_FOUND);
        EXPECT_EQ(Store(CACHE_ADD, "r", "2"), CACHE_STORED);
    });
}

TEST(Cache, FlushDelayedWithCas)
{
    isolate::run([] {
        SetupCache();
        ASSERT_EQ(Set("old", "v"), CACHE_STORED);
        cache_flush(10);
        ASSERT_EQ(Set("soon", "v"), CACHE_STORED);
        /* memcached: oldest_live = now + 10 - 1, so items are gone once
         * 9 seconds have passed. */
        Tick(8);
        EXPECT_TRUE(Has("old"));
        EXPECT_TRUE(Has("soon"));
        Tick(1);
        EXPECT_FALSE(Has("old"));
        EXPECT_FALSE(Has("soon"));
        /* Stored during the flush second: flushed as well. */
        ASSERT_EQ(Set("during", "v"), CACHE_STORED);
        EXPECT_FALSE(Has("during"));
        Tick(1);
        EXPECT_FALSE(Has("during"));
        /* After it: untouched. */
        ASSERT_EQ(Set("after", "v"), CACHE_STORED);
        EXPECT_TRUE(Has("after"));
        Tick(100);
        EXPECT_TRUE(Has("after"));
        EXPECT_FALSE(Has("old"));
    });
}

TEST(Cache, FlushDelayedWithoutCas)
{
    isolate::run([] {
        Config c;
        c.use_cas = false;
        SetupCache(c);
        ASSERT_EQ(Set("old", "v"), CACHE_STORED);
        cache_flush(10);
        /* -C: oldest_live = now + 10, a second later than with CAS. */
        Tick(9);
        EXPECT_TRUE(Has("old"));
        Tick(1);
        EXPECT_FALSE(Has("old"));
        Tick(1);
        ASSERT_EQ(Set("after", "v"), CACHE_STORED);
        EXPECT_TRUE(Has("after"));
        EXPECT_FALSE(Has("old"));
    });
}

TEST(Cache, FlushImmediateWithoutCasAlsoFlushesThisSecond)
{
    isolate::run([] {
        Config c;
        c.use_cas = false;
        SetupCache(c);
        ASSERT_EQ(Set("old", "v"), CACHE_STORED);
        cache_flush(0);
        EXPECT_FALSE(Has("old"));
        /* -C has no CAS to tell old from new: memcached flushes every item
         * whose (1 s) time is <= the flush time, so an item stored in the
         * same second is flushed too... */
        ASSERT_EQ(Set("same", "v"), CACHE_STORED);
        EXPECT_FALSE(Has("same"));
        Tick(1);
        EXPECT_FALSE(Has("same"));
        /* ...and one stored a second later is not. */
        ASSERT_EQ(Set("next", "v"), CACHE_STORED);
        EXPECT_TRUE(Has("next"));
    });
}

/*
 * memcached 1.6.18 with CAS: "flush_all 1" sets oldest_live = now + 1 - 1 =
 * now, so besides the items whose CAS predates the flush, every item stored
 * in the current second is flushed too, and stays flushed. Checked on the
 * wire: "set a; flush_all 1; set b; get a b" in one packet answers END, and
 * so does "get a b" 1.2 s later.
 */
TEST(Cache, FlushWithOneSecondDelayAlsoFlushesItemsStoredThisSecond)
{
    isolate::run([] {
        SetupCache();
        ASSERT_EQ(Set("a", "v"), CACHE_STORED);
        cache_flush(1);
        EXPECT_FALSE(Has("a"));
        ASSERT_EQ(Set("b", "v"), CACHE_STORED);
        EXPECT_FALSE(Has("b"));
        Tick(1);
        EXPECT_FALSE(Has("b"));
        ASSERT_EQ(Set("c", "v"), CACHE_STORED);
        EXPECT_TRUE(Has("c"));
    });
}

/*
 * memcached 1.6.18: a flush_all delay that is a unix time at or before the
 * start (anything from 2592001, i.e. just over 30 days, up to the start
 * time) makes realtime() return 1, oldest_live becomes 0 (1 without CAS),
 * and nothing is flushed. Checked on the wire with and without -C:
 * "set a; flush_all 1000000000; get a" returns a, and so does a get 1.1 s
 * later.
 */
TEST(Cache, FlushAtAUnixTimeBeforeStartFlushesNothing)
{
    for (bool use_cas : {true, false}) {
        SCOPED_TRACE(use_cas ? "with CAS" : "-C");
        isolate::run([use_cas] {
            Config c;
            c.use_cas = use_cas;
            SetupCache(c);
            ASSERT_EQ(Set("a", "v"), CACHE_STORED);
            cache_flush(1000000000);
            EXPECT_TRUE(Has("a"));
            Tick(1);
            EXPECT_TRUE(Has("a"));
            cache_flush(CLOCK_MAX_RELATIVE + 1);
            Tick(1);
            EXPECT_TRUE(Has("a"));
        });
    }
}

/*
 * The daemon's timer runs clock_update() and then cache_tick(); worker
 * threads store concurrently. An item stored after the clock has passed a
 * delayed flush's deadline but before cache_tick() has run was stored after
 * the flush time: memcached keeps it (its time is > oldest_live). It must
 * not be caught by the sequence bound cache_tick() then sets.
 */
TEST(Cache, StoreBetweenClockUpdateAndTickSurvivesDelayedFlush)
{
    isolate::run([] {
        SetupCache();
        ASSERT_EQ(Set("old", "v"), CACHE_STORED);
        cache_flush(5);           /* with CAS: everything goes at +4 */
        Tick(4);
        EXPECT_FALSE(Has("old"));
        clock_advance(1);         /* +5: the flush second is over */
        ASSERT_EQ(Set("new", "v"), CACHE_STORED);
        cache_tick();             /* the timer's tick, a moment later */
        EXPECT_TRUE(Has("new"));
        EXPECT_FALSE(Has("old"));
    });
}

/* ---- stats ----------------------------------------------------------- */

TEST(Cache, ItemCountsAndBytes)
{
    isolate::run([] {
        SetupCache();
        struct cache_stats st = Stats();
        EXPECT_EQ(st.curr_items, 0);
        EXPECT_EQ(st.bytes, 0);

        ASSERT_EQ(Set("a", "12345"), CACHE_STORED);
        ASSERT_EQ(Set("bb", "x", 7), CACHE_STORED);
        st = Stats();
        EXPECT_EQ(st.curr_items, 2);
        EXPECT_EQ(st.total_items, 2u);
        /* memcached's ITEM_ntotal: 48 + nkey + 1 + nbytes + 2 + 8 (CAS)
         * + 4 with flags. */
        EXPECT_EQ(st.bytes, (48 + 1 + 1 + 5 + 2 + 8) +
                                (48 + 2 + 1 + 1 + 2 + 8 + 4));

        ASSERT_EQ(Set("a", "1"), CACHE_STORED);      /* replaces */
        st = Stats();
        EXPECT_EQ(st.curr_items, 2);
        EXPECT_EQ(st.total_items, 3u);
        EXPECT_EQ(st.bytes, (48 + 1 + 1 + 1 + 2 + 8) +
                                (48 + 2 + 1 + 1 + 2 + 8 + 4));
        EXPECT_EQ(cache_delete("bb", 2), CACHE_OK);
        ASSERT_EQ(Set("e", "1", 0, 1), CACHE_STORED);
        Tick(1);
        EXPECT_FALSE(Has("e"));   /* lazily unlinked */
        st = Stats();
        EXPECT_EQ(st.curr_items, 1);
        EXPECT_EQ(st.bytes, 48 + 1 + 1 + 1 + 2 + 8);
        EXPECT_EQ(st.get_expired, 1u);
        ASSERT_EQ(Set("f", "1"), CACHE_STORED);
        cache_flush(0);
        EXPECT_FALSE(Has("f"));
        EXPECT_EQ(Stats().get_flushed, 1u);
    });
}

/* ---- eviction --------------------------------------------------------- */

TEST(Cache, StoringFarMoreThanFitsEvicts)
{
    isolate::run([] {
        SetupCache(Small());
        const int n = 30000;      /* about 5x what 1 MiB holds */
        std::string value(100, 'v');

        for (int i = 0; i < n; i++) {
            ASSERT_EQ(Set("key" + std::to_string(i), value), CACHE_STORED)
                << i;
        }
        struct cache_stats st = Stats();
        EXPECT_GT(st.evictions, (uint64_t)n / 2);
        EXPECT_EQ(st.evicted_unfetched, st.evictions);
        EXPECT_LT(st.curr_items, n / 3);
        EXPECT_GT(st.curr_items, 1000);
        /* The memory limit holds (plus at most one page per class). */
        EXPECT_LE(slab_mem_malloced(),
                  kMiB + 64 * kKiB * slab_largest_class());
        /* The newest items are there; the oldest were evicted. */
        int newest = 0, oldest = 0;
        for (int i = 0; i < 500; i++) {
            newest += Has("key" + std::to_string(n - 1 - i));
            oldest += Has("key" + std::to_string(i));
        }
        EXPECT_EQ(newest, 500);
        EXPECT_EQ(oldest, 0);
        /* What is counted is what is there. */
        int present = 0;
        for (int i = 0; i < n; i++) {
            present += Has("key" + std::to_string(i));
        }
        EXPECT_EQ(present, Stats().curr_items);
    });
}

TEST(Cache, RecentlyReadItemsSurviveEviction)
{
    isolate::run([] {
        SetupCache(Small());
        const int hot = 1000, cold = 1000, fill = 30000;
        std::string value(100, 'v');

        for (int i = 0; i < hot; i++) {
            ASSERT_EQ(Set("hot" + std::to_string(i), value), CACHE_STORED);
            ASSERT_EQ(Set("cold" + std::to_string(i), value), CACHE_STORED);
        }
        /* Keep reading the hot set while flooding the cache, well within
         * one turn of the CLOCK hand (a few thousand chunks). */
        for (int i = 0; i < fill; i++) {
            ASSERT_EQ(Set("fill" + std::to_string(i), value), CACHE_STORED);
            if (i % 500 == 0) {
                for (int h = 0; h < hot; h++) {
                    Has("hot" + std::to_string(h));
                }
            }
        }
        int hot_left = 0, cold_left = 0;
        for (int i = 0; i < hot; i++) {
            hot_left += Has("hot" + std::to_string(i));
        }
        for (int i = 0; i < cold; i++) {
            cold_left += Has("cold" + std::to_string(i));
        }
        /* CLOCK second chance: read items survive, unread ones do not. */
        EXPECT_GE(hot_left, hot * 9 / 10);
        EXPECT_LE(cold_left, cold / 10);
        EXPECT_GT(Stats().evictions, 10000u);
    });
}

TEST(Cache, NoEvictReturnsNoMemoryWhenFull)
{
    isolate::run([] {
        Config c = Small();
        c.evict = false;
        SetupCache(c);
        std::string value(100, 'v');
        int stored = 0;
        enum cache_status st = CACHE_STORED;

        while (stored < 100000) {
            st = Set("key" + std::to_string(stored), value);
            if (st != CACHE_STORED) {
                break;
            }
            stored++;
        }
        EXPECT_EQ(st, CACHE_NO_MEMORY);
        EXPECT_GT(stored, 1000);
        EXPECT_LT(stored, 100000);
        /* Nothing was evicted to make room. */
        for (int i = 0; i < stored; i++) {
            ASSERT_TRUE(Has("key" + std::to_string(i))) << i;
        }
        EXPECT_EQ(Stats().evictions, 0u);
        EXPECT_EQ(Stats().curr_items, stored);
        /* Still full; a delete makes room for one. */
        EXPECT_EQ(Set("more", value), CACHE_NO_MEMORY);
        EXPECT_EQ(cache_delete("key0", 4), CACHE_OK);
        EXPECT_EQ(Set("more", value), CACHE_STORED);
        EXPECT_EQ(Set("more2", value), CACHE_NO_MEMORY);
    });
}

TEST(Cache, NoEvictStillReclaimsExpiredItems)
{
    isolate::run([] {
        Config c = Small();
        c.evict = false;
        SetupCache(c);
        std::string value(100, 'v');
        int stored = 0;

        while (stored < 100000 &&
               Set("tmp" + std::to_string(stored), value, 0, 10) ==
                   CACHE_STORED) {
            stored++;
        }
        ASSERT_GT(stored, 1000);
        EXPECT_EQ(Set("x", value), CACHE_NO_MEMORY);
        Tick(10);
        /* Expired items are not evictions: -M may reuse their memory. */
        for (int i = 0; i < stored / 2; i++) {
            ASSERT_EQ(Set("new" + std::to_string(i), value), CACHE_STORED)
                << i;
        }
        EXPECT_EQ(Stats().evictions, 0u);
    });
}

/* ---- concurrency ------------------------------------------------------ */

/* Runs fn(thread index) on n registered threads, released together so
 * they contend; each fn bounds itself with a deadline. */
template <typename Fn>
void RunThreads(int n, Fn fn)
{
    std::vector<std::thread> threads;
    std::atomic<int> ready{0};

    for (int t = 0; t < n; t++) {
        threads.emplace_back([t, n, &fn, &ready] {
            cache_thread_init();
            ready++;
            while (ready.load() < n) {
                std::this_thread::yield();
            }
            fn(t);
            cache_thread_fini();
        });
    }
    for (auto &th : threads) {
        th.join();
    }
}

TEST(Cache, ConcurrentIncrLosesNoUpdate)
{
    isolate::run([] {
        SetupCache();
        const int nthreads = 4, per = 2500;
        const auto deadline = Clock::now() + std::chrono::seconds(10);
        std::atomic<int> failures{0};

        ASSERT_EQ(Set("ctr", "0"), CACHE_STORED);
        RunThreads(nthreads, [&](int) {
            for (int i = 0; i < per && Clock::now() < deadline; i++) {
                if (Delta("ctr", true, 1) != CACHE_OK) {
                    failures++;
                }
            }
        });
        EXPECT_EQ(failures.load(), 0);
        EXPECT_EQ(Value("ctr"), std::to_string(nthreads * per));
        /* decr from many threads floors at exactly 0. */
        RunThreads(nthreads, [&](int) {
            for (int i = 0; i < per + 100 && Clock::now() < deadline; i++) {
                Delta("ctr", false, 1);
            }
        });
        std::string v = Value("ctr");
        uint64_t n = 99;
        EXPECT_TRUE(num_parse_u64(v.c_str(), &n)) << v;
        EXPECT_EQ(n, 0u);
    });
}

TEST(Cache, ConcurrentCasLoopsLoseNoUpdate)
{
    isolate::run([] {
        SetupCache();
        const int nthreads = 4, per = 3000;
        const auto deadline = Clock::now() + std::chrono::seconds(10);
        std::atomic<long> unexpected{0};
        std::atomic<int> done{0};

        ASSERT_EQ(Set("ctr", "0"), CACHE_STORED);
        RunThreads(nthreads, [&](int) {
            for (int i = 0; i < per && Clock::now() < deadline;) {
                Got g = Get("ctr");
                uint64_t v = 0;

                if (!g.hit || !num_parse_u64(g.value.c_str(), &v)) {
                    break;        /* fails the count check below */
                }
                enum cache_status st = Store(CACHE_CAS, "ctr",
                                             std::to_string(v + 1), 0, 0,
                                             g.cas);
                if (st == CACHE_STORED) {
                    i++;
                    done++;
                } else if (st != CACHE_EXISTS) {
                    unexpected++; /* a lost race must read EXISTS */
                }
            }
        });
        EXPECT_EQ(unexpected.load(), 0);
        EXPECT_EQ(done.load(), nthreads * per);
        EXPECT_EQ(Value("ctr"), std::to_string(nthreads * per));
    });
}

/*
 * Decides when a stress loop may stop: after at least min_ms and once each
 * counter has reached its minimum, so a slow build (TSan, ASan) still does
 * enough work, a fast one stops early, and no build runs past max_ms.
 */
class Budget {
public:
    Budget(int min_ms, int max_ms)
        : min_end_(Clock::now() + std::chrono::milliseconds(min_ms)),
          max_end_(Clock::now() + std::chrono::milliseconds(max_ms))
    {
    }

    bool more(long a, long a_min, long b = 0, long b_min = 0) const
    {
        auto now = Clock::now();

        return now < max_end_ && (now < min_end_ || a < a_min || b < b_min);
    }

private:
    Clock::time_point min_end_, max_end_;
};

/* A self-checking value: "<len>:<seed>:" then bytes derived from seed. */
std::string MakeValue(size_t len, uint32_t seed)
{
    std::string head = std::to_string(len) + ":" + std::to_string(seed) +
                       ":";
    std::string v = head;

    v.resize(std::max(len, head.size()));
    for (size_t i = head.size(); i < v.size(); i++) {
        v[i] = (char)('a' + (seed + i * 7) % 26);
    }
    return v;
}

bool CheckValue(const std::string &v)
{
    size_t len = 0;
    uint32_t seed = 0;

    if (sscanf(v.c_str(), "%zu:%u:", &len, &seed) != 2) {
        return false;
    }
    return v == MakeValue(len, seed);
}

TEST(Cache, ReadersNeverSeeATornValue)
{
    isolate::run([] {
        SetupCache();
        const int nkeys = 8;
        const long min_reads = 5000, min_writes = 500;
        const Budget budget(300, 10000);
        std::atomic<long> reads{0}, writes{0}, torn{0};

        for (int k = 0; k < nkeys; k++) {
            ASSERT_EQ(Set("k" + std::to_string(k), MakeValue(10, 0)),
                      CACHE_STORED);
        }
        RunThreads(4, [&](int t) {
            std::mt19937 rng((unsigned)t + 1);

            while (budget.more(reads.load(), min_reads, writes.load(),
                               min_writes)) {
                std::string key = "k" + std::to_string(rng() % nkeys);

                if (t < 2) {
                    /* Writers: mostly small values, some chunked. */
                    size_t len = rng() % 50 == 0 ? 520 * kKiB + rng() % 9999
                                                 : 1 + rng() % 3000;
                    enum cache_status st;

                    st = rng() % 4 == 0
                             ? Store(CACHE_REPLACE, key,
                                     MakeValue(len, (uint32_t)rng()))
                             : Set(key, MakeValue(len, (uint32_t)rng()));
                    if (st != CACHE_STORED) {
                        torn++;   /* nothing should fail here */
                    }
                    writes++;
                } else {
                    Got g = Get(key);

                    if (!g.hit || !CheckValue(g.value)) {
                        torn++;
                    }
                    reads++;
                }
            }
        });
        EXPECT_EQ(torn.load(), 0);
        EXPECT_GE(reads.load(), min_reads);
        EXPECT_GE(writes.load(), min_writes);
    });
}

TEST(Cache, MixedOperationsUnderEvictionKeepCountsExact)
{
    isolate::run([] {
        SetupCache(Small());
        const int nkeys = 20000;
        const long min_ops = 200000;
        const Budget budget(300, 10000);
        std::atomic<long> bad{0}, ops{0};

        RunThreads(4, [&](int t) {
            std::mt19937 rng((unsigned)t * 7 + 3);

            while (budget.more(ops.load(), min_ops)) {
                std::string key = "m" + std::to_string(rng() % nkeys);
                enum cache_status st;

                switch (rng() % 6) {
                case 0:
                case 1:
                    st = Set(key, MakeValue(20 + rng() % 200, rng()));
                    bad += st != CACHE_STORED;
                    break;
                case 2:
                    st = Store(CACHE_ADD, key, MakeValue(30, rng()));
                    bad += st != CACHE_STORED && st != CACHE_NOT_STORED;
                    break;
                case 3:
                    cache_delete(key.data(), key.size());
                    break;
                case 4:
                    st = Store(CACHE_APPEND, key, "");
                    bad += st != CACHE_STORED && st != CACHE_NOT_STORED;
                    break;
                default: {
                    Got g = Get(key);

                    bad += g.hit && !CheckValue(g.value);
                    break;
                }
                }
                ops++;
            }
        });
        EXPECT_EQ(bad.load(), 0);
        EXPECT_GE(ops.load(), min_ops);
        /* Once quiet, curr_items is exactly what can be found. */
        int present = 0;
        for (int i = 0; i < nkeys; i++) {
            present += Has("m" + std::to_string(i));
        }
        EXPECT_EQ(Stats().curr_items, present);
        EXPECT_GT(Stats().evictions, 0u);
    });
}

}  // namespace

/* ---- meta protocol support ------------------------------------------- */

namespace {

uint8_t Flags(const std::string &key)
{
    struct item *it = cache_peek(key.data(), key.size());
    uint8_t f;

    if (it == nullptr) {
        return 0xff;
    }
    f = item_flags_load(it);
    item_put(it);
    return f;
}

void OrFlags(const std::string &key, uint8_t bits)
{
    struct item *it = cache_peek(key.data(), key.size());

    ASSERT_NE(it, nullptr);
    cache_item_flags_or(it, bits);
    item_put(it);
}

}  // namespace

TEST(CacheMeta, MetaDeleteChecksCasOrMarksStale)
{
    isolate::run([] {
        SetupCache();
        struct cache_mdelete_req req = {};

        ASSERT_EQ(Set("k", "value", 3, 100), CACHE_STORED);
        Got before = Get("k");        /* also sets ITEM_FETCHED */
        OrFlags("k", ITEM_TOKEN_SENT);

        req.check_cas = true;
        req.cas = before.cas + 1;
        EXPECT_EQ(cache_mdelete("k", 1, &req), CACHE_EXISTS);
        req.cas = 0;                  /* C0 is a real comparison in md */
        EXPECT_EQ(cache_mdelete("k", 1, &req), CACHE_EXISTS);
        EXPECT_EQ(Value("k"), "value");

        /* md I T30: same value and flags, stale, token cleared, new CAS. */
        req.cas = before.cas;
        req.stale = true;
        req.set_exptime = true;
        req.exptime = clock_expiry(30);
        ASSERT_EQ(cache_mdelete("k", 1, &req), CACHE_OK);
        Got after = Get("k");
        ASSERT_TRUE(after.hit);
        EXPECT_EQ(after.value, "value");
        EXPECT_EQ(after.flags, 3u);
        EXPECT_EQ(after.exptime, clock_expiry(30));
        EXPECT_GT(after.cas, before.cas);
        uint8_t f = Flags("k");
        EXPECT_TRUE(f & ITEM_STALE);
        EXPECT_FALSE(f & ITEM_TOKEN_SENT);
        EXPECT_TRUE(f & ITEM_FETCHED);

        /* Without I it deletes; then it is gone. */
        req = {};
        EXPECT_EQ(cache_mdelete("k", 1, &req), CACHE_OK);
        EXPECT_EQ(cache_mdelete("k", 1, &req), CACHE_NOT_FOUND);
        EXPECT_FALSE(Has("k"));
        EXPECT_EQ(Stats().curr_items, 0);
    });
}

TEST(CacheMeta, StaleCasStoresAnOlderCasAsStale)
{
    isolate::run([] {
        SetupCache();
        ASSERT_EQ(Set("a", "1"), CACHE_STORED); /* so cas - 1 is not 0 */
        ASSERT_EQ(Set("k", "new", 0, 100), CACHE_STORED);
        uint64_t cas = Get("k").cas;
        ASSERT_GT(cas, 1u);
        OrFlags("k", ITEM_TOKEN_SENT);

        /* Newer than the item or zero: no match, nothing stored. */
        EXPECT_EQ(Store(CACHE_CAS_STALE, "k", "x", 0, 0, cas + 5),
                  CACHE_EXISTS);
        EXPECT_EQ(Store(CACHE_CAS_STALE, "k", "x", 0, 0, 0), CACHE_EXISTS);
        EXPECT_EQ(Store(CACHE_CAS_STALE, "nokey", "x", 0, 0, 1),
                  CACHE_NOT_FOUND);
        /* Plain CAS with an older value fails... */
        EXPECT_EQ(Store(CACHE_CAS, "k", "old", 0, 0, cas - 1), CACHE_EXISTS);
        /* ...the stale variant stores it, keeping TTL and token bit. */
        EXPECT_EQ(Store(CACHE_CAS_STALE, "k", "old", 0, 500, cas - 1),
                  CACHE_STORED);
        Got g = Get("k");
        EXPECT_EQ(g.value, "old");
        EXPECT_EQ(g.exptime, clock_expiry(100));
        uint8_t f = Flags("k");
        EXPECT_TRUE(f & ITEM_STALE);
        EXPECT_TRUE(f & ITEM_TOKEN_SENT);

        /* The exact CAS is an ordinary CAS store: fresh, not stale. */
        EXPECT_EQ(Store(CACHE_CAS_STALE, "k", "v2", 0, 0, g.cas),
                  CACHE_STORED);
        EXPECT_EQ(Value("k"), "v2");
        EXPECT_EQ(Get("k").exptime, 0u);
        EXPECT_FALSE(Flags("k") & (ITEM_STALE | ITEM_TOKEN_SENT));
    });
}

TEST(CacheMeta, PeekChangesNothingAndAccessIsRecordedOncePerMinute)
{
    isolate::run([] {
        SetupCache();
        ASSERT_EQ(Set("k", "v"), CACHE_STORED);
        Tick(5);
        struct item *it = cache_peek("k", 1);

        ASSERT_NE(it, nullptr);
        EXPECT_FALSE(item_flags_load(it) & (ITEM_FETCHED | ITEM_ACTIVE));
        EXPECT_EQ(item_idle_secs(it, clock_now()), 5u);
        /* The first read within a minute of the store changes nothing. */
        cache_item_accessed(it);
        EXPECT_TRUE(item_flags_load(it) & ITEM_FETCHED);
        EXPECT_EQ(item_idle_secs(it, clock_now()), 5u);
        Tick(ITEM_UPDATE_INTERVAL);
        EXPECT_EQ(item_idle_secs(it, clock_now()), 65u);
        item_put(it);
        /* A get a minute on records it. */
        EXPECT_TRUE(Has("k"));
        it = cache_peek("k", 1);
        ASSERT_NE(it, nullptr);
        EXPECT_EQ(item_idle_secs(it, clock_now()), 0u);
        item_put(it);
    });
}

TEST(CacheMeta, InPlaceDeltaKeepsMetaBitsLongerResultDoesNot)
{
    isolate::run([] {
        SetupCache();
        std::string r;

        ASSERT_EQ(Set("n", "100"), CACHE_STORED);
        OrFlags("n", ITEM_STALE | ITEM_KEY_BINARY);
        ASSERT_EQ(Delta("n", false, 1, &r), CACHE_OK);
        EXPECT_EQ(Value("n"), "99 ");
        EXPECT_EQ(Flags("n") & (ITEM_STALE | ITEM_KEY_BINARY),
                  ITEM_STALE | ITEM_KEY_BINARY);
        ASSERT_EQ(Delta("n", true, 1000, &r), CACHE_OK);
        EXPECT_EQ(Value("n"), "1099");
        EXPECT_EQ(Flags("n") & (ITEM_STALE | ITEM_KEY_BINARY), 0);
    });
}

TEST(CacheMeta, OneWinnerForTheRecacheToken)
{
    isolate::run([] {
        SetupCache();
        ASSERT_EQ(Set("k", "v"), CACHE_STORED);
        std::atomic<int> winners{0};

        RunThreads(4, [&](int) {
            struct item *it = cache_peek("k", 1);

            if (it != nullptr) {
                if (!(cache_item_flags_or(it, ITEM_TOKEN_SENT) &
                      ITEM_TOKEN_SENT)) {
                    winners++;
                }
                item_put(it);
            }
        });
        EXPECT_EQ(winners.load(), 1);
    });
}
