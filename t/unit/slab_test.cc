/*
 * slab_test: class sizes, the -m limit, and chunk bookkeeping
 * (cache/slab.h).
 *
 * slab_setup() configures process-global state once, so every test runs in
 * its own forked child (isolate.h explains why) with the options it needs.
 *
 * The expected class sizes are memcached 1.6.18's own output
 * (`memcached -vv` prints "slab class N: chunk size S perslab P"), not
 * values derived from our formula: `stats slabs` must report the same chunk
 * sizes as memcached for the same -n, -f and slab_chunk_max.
 */
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <set>
#include <thread>
#include <vector>

#include "cache/slab.h"
#include "isolate.h"

namespace {

constexpr size_t kMiB = 1024 * 1024;

struct slab_options Options(size_t mem_limit, size_t min_space = 48,
                            double factor = 1.25,
                            size_t chunk_max = kMiB / 2,
                            size_t page_size = kMiB)
{
    struct slab_options o;

    memset(&o, 0, sizeof(o));
    o.mem_limit = mem_limit;
    o.page_size = page_size;
    o.chunk_max = chunk_max;
    o.min_space = min_space;
    o.factor = factor;
    return o;
}

/* One memcached configuration and the classes it printed. memcached's page
 * is always 1 MiB (-I only moves the item size limit), and its
 * slab_chunk_max defaults to half of it. */
struct Reference {
    const char *args;             /* memcached options that produced it */
    size_t min_space;
    double factor;
    size_t chunk_max;
    std::vector<size_t> sizes;    /* chunk size of class 1, 2, ... */
};

const Reference kReferences[] = {
    {"(defaults) -n 48 -f 1.25", 48, 1.25, 524288,
     {96, 120, 152, 192, 240, 304, 384, 480, 600, 752, 944, 1184, 1480,
      1856, 2320, 2904, 3632, 4544, 5680, 7104, 8880, 11104, 13880, 17352,
      21696, 27120, 33904, 42384, 52984, 66232, 82792, 103496, 129376,
      161720, 202152, 252696, 315872, 394840, 524288}},
    {"-n 100 -f 2", 100, 2.0, 524288,
     {152, 304, 608, 1216, 2432, 4864, 9728, 19456, 38912, 77824, 155648,
      524288}},
    {"-n 5 -f 3", 5, 3.0, 524288,
     {56, 168, 504, 1512, 4536, 13608, 40824, 122472, 524288}},
    {"-o slab_chunk_max=16384", 48, 1.25, 16384,
     {96, 120, 152, 192, 240, 304, 384, 480, 600, 752, 944, 1184, 1480,
      1856, 2320, 2904, 3632, 4544, 5680, 7104, 8880, 11104, 16384}},
    /* A small factor runs into the 63-class cap before chunk_max. */
    {"-n 16 -f 1.08", 16, 1.08, 524288,
     {64, 72, 80, 88, 96, 104, 112, 120, 136, 152, 168, 184, 200, 216, 240,
      264, 288, 312, 336, 368, 400, 432, 472, 512, 552, 600, 648, 704, 760,
      824, 896, 968, 1048, 1136, 1232, 1336, 1448, 1568, 1696, 1832, 1984,
      2144, 2320, 2512, 2712, 2928, 3168, 3424, 3704, 4000, 4320, 4672,
      5048, 5456, 5896, 6368, 6880, 7432, 8032, 8680, 9376, 10128,
      524288}},
};

TEST(Slab, ClassSizesMatchMemcached)
{
    for (const Reference &ref : kReferences) {
        SCOPED_TRACE(ref.args);
        isolate::run([&ref] {
            struct slab_options o = Options(64 * kMiB, ref.min_space,
                                            ref.factor, ref.chunk_max);

            ASSERT_EQ(slab_setup(&o), 0);
            ASSERT_EQ(slab_largest_class(), ref.sizes.size());
            for (unsigned c = 1; c <= ref.sizes.size(); c++) {
                EXPECT_EQ(slab_chunk_size(c), ref.sizes[c - 1]) << "class "
                                                                << c;
                /* memcached's perslab: whole chunks per 1 MiB page. */
                EXPECT_EQ(slab_chunks_per_page(c), kMiB / ref.sizes[c - 1])
                    << "class " << c;
            }
        });
    }
}

TEST(Slab, DefaultChunksPerPageMatchMemcached)
{
    /* The perslab column of memcached -vv for the defaults. */
    const size_t perslab[] = {
        10922, 8738, 6898, 5461, 4369, 3449, 2730, 2184, 1747, 1394, 1110,
        885, 708, 564, 451, 361, 288, 230, 184, 147, 118, 94, 75, 60, 48, 38,
        30, 24, 19, 15, 12, 10, 8, 6, 5, 4, 3, 2, 2};

    isolate::run([&perslab] {
        struct slab_options o = Options(64 * kMiB);

        ASSERT_EQ(slab_setup(&o), 0);
        ASSERT_EQ(slab_largest_class(), sizeof(perslab) / sizeof(*perslab));
        for (unsigned c = 1; c <= slab_largest_class(); c++) {
            EXPECT_EQ(slab_chunks_per_page(c), perslab[c - 1]) << c;
        }
    });
}

TEST(Slab, ClassForPicksTheSmallestFittingClass)
{
    isolate::run([] {
        struct slab_options o = Options(64 * kMiB);

        ASSERT_EQ(slab_setup(&o), 0);
        unsigned largest = slab_largest_class();

        EXPECT_EQ(slab_class_for(1), 1u);
        for (unsigned c = 1; c <= largest; c++) {
            size_t size = slab_chunk_size(c);

            EXPECT_EQ(slab_class_for(size), c) << size;
            EXPECT_EQ(slab_class_for(size - 1), c) << size - 1;
            if (c < largest) {
                EXPECT_EQ(slab_class_for(size + 1), c + 1) << size + 1;
            }
        }
        EXPECT_EQ(slab_class_for(kMiB / 2), largest);
        /* Larger than chunk_max: no class (item.c then chunks it). */
        EXPECT_EQ(slab_class_for(kMiB / 2 + 1), 0u);
        EXPECT_EQ(slab_class_for(kMiB), 0u);
        EXPECT_EQ(slab_class_for(SIZE_MAX), 0u);
    });
}

/* Allocates from cls until it returns NULL (bounded); returns the chunks. */
std::vector<void *> Drain(unsigned cls, size_t bound)
{
    std::vector<void *> got;

    while (got.size() < bound) {
        void *p = slab_alloc(cls);

        if (p == nullptr) {
            break;
        }
        got.push_back(p);
    }
    return got;
}

TEST(Slab, AllocatesUpToTheLimitThenNull)
{
    isolate::run([] {
        /* -m 4.5 MiB: memcached takes a page only while the total stays
         * within -m, so 4 pages, not 5. */
        struct slab_options o = Options(4 * kMiB + kMiB / 2);

        ASSERT_EQ(slab_setup(&o), 0);
        EXPECT_EQ(slab_mem_limit(), 4 * kMiB + kMiB / 2);
        EXPECT_EQ(slab_pages_used(), 0u);
        EXPECT_TRUE(slab_can_grow());

        size_t per = slab_chunks_per_page(1);
        std::vector<void *> got = Drain(1, 100 * per);

        EXPECT_EQ(got.size(), 4 * per);
        EXPECT_EQ(slab_pages_used(), 4u);
        EXPECT_EQ(slab_mem_malloced(), 4 * kMiB);
        EXPECT_FALSE(slab_can_grow());
        /* Still full on a retry. */
        EXPECT_EQ(slab_alloc(1), nullptr);

        /* Every chunk is distinct and lies whole inside its page. */
        std::set<void *> distinct(got.begin(), got.end());
        EXPECT_EQ(distinct.size(), got.size());
        for (void *p : got) {
            uintptr_t off = (uintptr_t)p % kMiB;

            ASSERT_EQ((uintptr_t)p % SLAB_CHUNK_ALIGN, 0u);
            ASSERT_LE(off + slab_chunk_size(1), kMiB);
            ASSERT_EQ(off % slab_chunk_size(1), 0u);
        }
    });
}

TEST(Slab, ClassWithoutAPageMayTakeOneOverTheLimit)
{
    isolate::run([] {
        struct slab_options o = Options(2 * kMiB);

        ASSERT_EQ(slab_setup(&o), 0);
        EXPECT_EQ(Drain(1, 1000000).size(), 2 * slab_chunks_per_page(1));
        ASSERT_EQ(slab_pages_used(), 2u);

        /* memcached: a class with no slab may still get one past -m, so
         * every size stays storable. Exactly one, and only once. */
        for (unsigned cls : {5u, 20u, slab_largest_class()}) {
            size_t per = slab_chunks_per_page(cls);

            EXPECT_EQ(Drain(cls, 1000000).size(), per) << "class " << cls;
        }
        EXPECT_EQ(slab_pages_used(), 5u);
        EXPECT_EQ(slab_alloc(5), nullptr);
        EXPECT_EQ(slab_alloc(1), nullptr);
    });
}

TEST(Slab, FreedChunkIsReusedEvenWhenFull)
{
    isolate::run([] {
        struct slab_options o = Options(1 * kMiB);

        ASSERT_EQ(slab_setup(&o), 0);
        void *a = slab_alloc(3);
        ASSERT_NE(a, nullptr);
        slab_free(a);
        EXPECT_EQ(slab_alloc(3), a);

        std::vector<void *> rest = Drain(3, 1000000);
        EXPECT_EQ(rest.size() + 1, slab_chunks_per_page(3));
        ASSERT_EQ(slab_alloc(3), nullptr);

        /* Free a few: exactly those come back, then full again. */
        std::set<void *> freed = {rest[0], rest[rest.size() / 2],
                                  rest.back()};
        for (void *p : freed) {
            slab_free(p);
        }
        std::set<void *> again;
        for (size_t i = 0; i < freed.size(); i++) {
            void *p = slab_alloc(3);

            ASSERT_NE(p, nullptr);
            again.insert(p);
        }
        EXPECT_EQ(again, freed);
        EXPECT_EQ(slab_alloc(3), nullptr);
    });
}

TEST(Slab, StatsCountPagesChunksAndAllocs)
{
    isolate::run([] {
        struct slab_options o = Options(8 * kMiB);
        struct slab_class_stats st;

        ASSERT_EQ(slab_setup(&o), 0);
        slab_stats(2, &st);
        EXPECT_EQ(st.chunk_size, 120u);
        EXPECT_EQ(st.total_pages, 0u);
        EXPECT_EQ(st.total_chunks, 0u);
        EXPECT_EQ(st.allocs, 0u);

        size_t per = slab_chunks_per_page(2);
        std::vector<void *> got;
        for (size_t i = 0; i < per + 10; i++) {
            got.push_back(slab_alloc(2));
            ASSERT_NE(got.back(), nullptr);
        }
        for (size_t i = 0; i < 4; i++) {
            slab_free(got[i]);
        }
        slab_stats(2, &st);
        EXPECT_EQ(st.chunks_per_page, per);
        EXPECT_EQ(st.total_pages, 2u);
        EXPECT_EQ(st.total_chunks, 2 * per);
        EXPECT_EQ(st.free_chunks, 2 * per - (per + 10) + 4);
        EXPECT_EQ(st.allocs, per + 10);
        EXPECT_EQ(slab_mem_malloced(), 2 * kMiB);
    });
}

TEST(Slab, ChunksMapBackToTheirClassAndPage)
{
    isolate::run([] {
        struct slab_options o = Options(16 * kMiB);
        std::vector<std::pair<unsigned, void *>> all;

        ASSERT_EQ(slab_setup(&o), 0);
        /* Interleave classes so their pages interleave in the arena. */
        for (int round = 0; round < 3; round++) {
            for (unsigned cls : {1u, 7u, 2u, slab_largest_class(), 30u}) {
                size_t n = slab_chunks_per_page(cls) / 2 + 1;

                for (size_t i = 0; i < n; i++) {
                    void *p = slab_alloc(cls);

                    ASSERT_NE(p, nullptr);
                    all.emplace_back(cls, p);
                }
            }
        }
        for (const auto &cp : all) {
            ASSERT_EQ(slab_class_of(cp.second), cp.first);
        }

        /* Every page handed out is recorded with its class, every chunk is
         * at page base + k * chunk size (the eviction hand walks pages that
         * way), and the per-class page counts add up. */
        size_t pages = slab_pages_used();
        std::vector<size_t> per_class(SLAB_MAX_CLASSES, 0);

        ASSERT_GT(pages, 5u);
        for (size_t pg = 0; pg < pages; pg++) {
            unsigned cls = slab_page_class(pg);

            ASSERT_GE(cls, 1u);
            ASSERT_LE(cls, slab_largest_class());
            per_class[cls]++;
            if (pg > 0) {
                EXPECT_EQ(slab_page_base(pg), slab_page_base(pg - 1) + kMiB);
            }
        }
        for (const auto &cp : all) {
            char *p = (char *)cp.second;
            size_t pg = (size_t)(p - slab_page_base(0)) / kMiB;
            size_t off = (size_t)(p - slab_page_base(pg));

            ASSERT_LT(pg, pages);
            ASSERT_EQ(slab_page_class(pg), cp.first);
            ASSERT_EQ(off % slab_chunk_size(cp.first), 0u);
            ASSERT_LT(off / slab_chunk_size(cp.first),
                      slab_chunks_per_page(cp.first));
        }
        size_t total = 0;
        for (unsigned cls = 1; cls <= slab_largest_class(); cls++) {
            struct slab_class_stats st;

            slab_stats(cls, &st);
            EXPECT_EQ(st.total_pages, per_class[cls]) << "class " << cls;
            total += st.total_pages;
        }
        EXPECT_EQ(total, pages);
        EXPECT_EQ(slab_mem_malloced(), pages * kMiB);
    });
}

TEST(Slab, ConcurrentAllocFreeNeverSharesAChunk)
{
    isolate::run([] {
        struct slab_options o = Options(4 * kMiB);

        ASSERT_EQ(slab_setup(&o), 0);
        const unsigned cls = slab_class_for(64);
        const size_t size = slab_chunk_size(cls);
        const int nthreads = 4;
        std::atomic<bool> bad{false};
        std::atomic<uint64_t> ops{0};
        auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::milliseconds(400);
        std::vector<std::thread> threads;

        for (int t = 0; t < nthreads; t++) {
            threads.emplace_back([&, t] {
                std::vector<unsigned char *> held;
                unsigned char tag = (unsigned char)(t + 1);

                while (std::chrono::steady_clock::now() < deadline &&
                       !bad.load()) {
                    for (int i = 0; i < 64; i++) {
                        unsigned char *p = (unsigned char *)slab_alloc(cls);

                        if (p == nullptr) {
                            break;
                        }
                        memset(p, tag, size);
                        held.push_back(p);
                    }
                    /* Every chunk still holds only this thread's tag. */
                    for (unsigned char *p : held) {
                        for (size_t i = 0; i < size; i++) {
                            if (p[i] != tag) {
                                bad = true;
                            }
                        }
                    }
                    while (held.size() > 16) {
                        slab_free(held.back());
                        held.pop_back();
                    }
                    ops++;
                }
                for (unsigned char *p : held) {
                    slab_free(p);
                }
            });
        }
        for (auto &th : threads) {
            th.join();
        }
        EXPECT_FALSE(bad.load()) << "a chunk was handed to two threads";
        EXPECT_GT(ops.load(), 100u);

        /* Everything was returned: the class's chunks are all free. */
        struct slab_class_stats st;
        slab_stats(cls, &st);
        EXPECT_EQ(st.free_chunks, st.total_chunks);
    });
}

}  // namespace
