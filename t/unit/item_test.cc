/*
 * item_test: item layout, chunked values and reference counts
 * (cache/item.h).
 *
 * Items live in slab chunks, and slab_setup() is process-global, so each
 * test runs in its own forked child (isolate.h) with memcached's default
 * classes (-n 48 -f 1.25, 1 MiB pages, 512 KiB largest chunk) unless it
 * needs a tight -m.
 */
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "cache/item.h"
#include "cache/slab.h"
#include "isolate.h"

namespace {

constexpr size_t kMiB = 1024 * 1024;
constexpr size_t kChunkMax = kMiB / 2;
/* Value bytes one data chunk of a chunked item holds. */
constexpr size_t kPayload = kChunkMax - ITEM_CHUNK_HDR;

void SetupSlab(size_t mem_limit = 256 * kMiB)
{
    struct slab_options o;

    memset(&o, 0, sizeof(o));
    o.mem_limit = mem_limit;
    o.page_size = kMiB;
    o.chunk_max = kChunkMax;
    o.min_space = 48;
    o.factor = 1.25;
    ASSERT_EQ(slab_setup(&o), 0);
}

std::string Key(const struct item *it)
{
    return std::string(item_key(it), it->nkey);
}

std::string Value(const struct item *it)
{
    std::string v(it->nbytes, '\0');

    item_copy_out(it, 0, &v[0], v.size());
    return v;
}

std::vector<char> RandomBytes(size_t n, unsigned seed)
{
    std::mt19937 rng(seed);
    std::vector<char> v(n);

    for (char &c : v) {
        c = (char)(rng() & 0xff);
    }
    return v;
}

/* Chunks of class cls that are handed out (not free). */
size_t InUse(unsigned cls)
{
    struct slab_class_stats st;

    slab_stats(cls, &st);
    return st.total_chunks - st.free_chunks;
}

TEST(Item, AllocRoundTripsKeyFlagsExptimeAndValue)
{
    isolate::run([] {
        SetupSlab();
        struct item *it = item_alloc("hello", 5, 0xdeadbeefu, 1234, 11);

        ASSERT_NE(it, nullptr);
        EXPECT_EQ(it->refcount, 1u);
        EXPECT_EQ(it->nkey, 5u);
        EXPECT_EQ(it->nbytes, 11u);
        EXPECT_EQ(item_exptime(it), 1234u);
        EXPECT_EQ(item_cflags(it), 0xdeadbeefu);
        EXPECT_EQ(Key(it), "hello");
        /* Fresh: not in the table, not chunked, never fetched. */
        uint8_t f = item_flags_load(it);
        EXPECT_EQ(f & (ITEM_LINKED | ITEM_CHUNKED | ITEM_ACTIVE |
                       ITEM_FETCHED), 0);
        EXPECT_NE(f & ITEM_CFLAGS, 0);
        EXPECT_EQ(item_seq(it), 0u);

        item_copy_in(it, 0, "hello world", 11);
        EXPECT_EQ(std::string(item_data(it), 11), "hello world");
        EXPECT_EQ(Value(it), "hello world");
        /* Partial reads and writes at an offset. */
        item_copy_in(it, 6, "WORLD", 5);
        char part[6] = {0};
        item_copy_out(it, 4, part, 5);
        EXPECT_STREQ(part, "o WOR");

        /* The unaligned 48-bit sequence field round-trips, keeps only 48
         * bits, and neither it nor the 16-bit last-access time beside it
         * disturbs the other or the neighbours. */
        item_set_last_access(it, 0x1234);
        item_set_seq(it, 0xab0123456789cdefULL);
        EXPECT_EQ(item_seq(it), 0x23456789cdefULL);
        EXPECT_EQ(item_last_access(it), 0x1234u);
        item_set_seq(it, ITEM_SEQ_MAX);
        EXPECT_EQ(item_seq(it), ITEM_SEQ_MAX);
        item_set_last_access(it, 0x1ffff); /* modulo 65536 */
        EXPECT_EQ(item_last_access(it), 0xffffu);
        EXPECT_EQ(item_seq(it), ITEM_SEQ_MAX);
        /* Idle time wraps at 16 bits; updates come at most once a minute. */
        item_set_last_access(it, 65530);
        EXPECT_EQ(item_idle_secs(it, 65536 + 5), 11u);
        item_touch_access(it, 65536 + 5 + ITEM_UPDATE_INTERVAL - 12);
        EXPECT_EQ(item_last_access(it), 65530u);
        item_touch_access(it, 65536 + 5 + ITEM_UPDATE_INTERVAL - 11);
        EXPECT_EQ(item_idle_secs(it, 65536 + 5 + ITEM_UPDATE_INTERVAL - 11),
                  0u);
        EXPECT_EQ(item_cflags(it), 0xdeadbeefu);
        EXPECT_EQ(Key(it), "hello");
        EXPECT_EQ(Value(it), "hello WORLD");

        /* A single segment covers the whole value. */
        struct iovec iov[2];
        ASSERT_EQ(item_segment_count(it), 1);
        ASSERT_EQ(item_segments(it, iov, 2), 1);
        EXPECT_EQ(iov[0].iov_len, 11u);
        EXPECT_EQ(std::string((char *)iov[0].iov_base, 11), "hello WORLD");
        item_put(it);
    });
}

TEST(Item, MaximalKeyAndEmptyValue)
{
    isolate::run([] {
        SetupSlab();
        std::string key(KEY_MAX_LENGTH, 'k');

        key[0] = 'A';
        key[KEY_MAX_LENGTH - 1] = 'Z';
        struct item *it = item_alloc(key.data(), key.size(), 7, 0, 0);

        ASSERT_NE(it, nullptr);
        EXPECT_EQ(Key(it), key);
        EXPECT_EQ(it->nbytes, 0u);
        EXPECT_EQ(item_cflags(it), 7u);
        EXPECT_EQ(item_exptime(it), 0u);
        item_put(it);
    });
}

TEST(Item, ZeroClientFlagsStoreNoFlagsField)
{
    isolate::run([] {
        SetupSlab();
        EXPECT_EQ(item_total_size(10, 0, 100) + 4,
                  item_total_size(10, 1, 100));

        struct item *it = item_alloc("key", 3, 0, 0, 4);
        ASSERT_NE(it, nullptr);
        EXPECT_EQ(item_flags_load(it) & ITEM_CFLAGS, 0);
        EXPECT_EQ(item_cflags(it), 0u);
        /* The key follows the sequence field directly. */
        EXPECT_EQ(item_key(it),
                  (char *)it + ITEM_HDR_SIZE + ITEM_SEQ_SIZE);
        item_put(it);

        /* The 4 bytes matter: a value sized to fill class 5 exactly with
         * flags 0 needs class 6 once it has flags. */
        size_t chunk = slab_chunk_size(5);
        size_t nkey = 8;
        size_t nbytes = chunk - item_total_size(nkey, 0, 0);

        ASSERT_EQ(item_total_size(nkey, 0, nbytes), chunk);
        struct item *plain = item_alloc("12345678", nkey, 0, 0, nbytes);
        struct item *flagged = item_alloc("12345678", nkey, 1, 0, nbytes);
        ASSERT_NE(plain, nullptr);
        ASSERT_NE(flagged, nullptr);
        EXPECT_EQ(slab_class_of(plain), 5u);
        EXPECT_EQ(slab_class_of(flagged), 6u);
        EXPECT_EQ(item_alloc_class(nkey, 0, nbytes), 5u);
        EXPECT_EQ(item_alloc_class(nkey, 1, nbytes), 6u);
        item_put(plain);
        item_put(flagged);
    });
}

TEST(Item, SixteenByteKeyAndHundredByteValueFitA152ByteChunk)
{
    /* The claim item.h makes against memcached's 192. */
    isolate::run([] {
        SetupSlab();
        struct item *it = item_alloc("0123456789abcdef", 16, 0, 0, 100);

        ASSERT_NE(it, nullptr);
        EXPECT_EQ(slab_chunk_size(slab_class_of(it)), 152u);
        item_put(it);
    });
}

TEST(Item, LargestPlainItemIsNotChunkedOneMoreByteIs)
{
    isolate::run([] {
        SetupSlab();
        unsigned big = slab_largest_class();
        size_t nbytes = kChunkMax - item_total_size(3, 0, 0);
        struct item *plain = item_alloc("big", 3, 0, 0, nbytes);

        ASSERT_NE(plain, nullptr);
        EXPECT_EQ(item_flags_load(plain) & ITEM_CHUNKED, 0);
        EXPECT_EQ(slab_class_of(plain), big);
        EXPECT_EQ(item_segment_count(plain), 1);
        EXPECT_EQ(item_chunks_needed(3, 0, nbytes), 1u);
        EXPECT_EQ(InUse(big), 1u);

        struct item *chunked = item_alloc("big", 3, 0, 0, nbytes + 1);
        ASSERT_NE(chunked, nullptr);
        EXPECT_NE(item_flags_load(chunked) & ITEM_CHUNKED, 0);
        /* The head is a largest-class chunk too (item.h), plus one
         * continuation for the byte that no longer fits. */
        EXPECT_EQ(slab_class_of(chunked), big);
        EXPECT_EQ(item_alloc_class(3, 0, nbytes + 1), big);
        EXPECT_EQ(item_chunks_needed(3, 0, nbytes + 1), 2u);
        EXPECT_EQ(InUse(big), 3u);
        item_put(plain);
        item_put(chunked);
        EXPECT_EQ(InUse(big), 0u);
    });
}

TEST(Item, ChunkedSegmentsCoverExactlyTheValue)
{
    isolate::run([] {
        SetupSlab();
        unsigned big = slab_largest_class();
        const size_t sizes[] = {kChunkMax, kPayload * 2, kPayload * 2 + 1,
                                2 * kMiB + 12345, 5 * kMiB};

        for (size_t nbytes : sizes) {
            SCOPED_TRACE(nbytes);
            size_t used = InUse(big);
            struct item *it = item_alloc("chunky", 6, 42, 0, nbytes);

            ASSERT_NE(it, nullptr);
            ASSERT_NE(item_flags_load(it) & ITEM_CHUNKED, 0);
            EXPECT_EQ(item_cflags(it), 42u);
            EXPECT_EQ(Key(it), "chunky");
            EXPECT_EQ(slab_class_of(it), big);

            /* The chunks it took are the ones it says it needs. */
            size_t need = item_chunks_needed(6, 42, nbytes);
            EXPECT_EQ(InUse(big), used + need);
            /* No more than a value's worth of chunks, plus the head. */
            EXPECT_LE(need, nbytes / kPayload + 2);

            int count = item_segment_count(it);
            ASSERT_GE(count, 2);
            std::vector<struct iovec> iov((size_t)count + 1);
            ASSERT_EQ(item_segments(it, iov.data(), (int)iov.size()), count);
            EXPECT_EQ((size_t)count, need);

            /* Segment 0 is the part kept in the head chunk, after the
             * key; the rest are continuation payloads, each behind a
             * zeroed header (page sweepers skip them), each its own
             * largest-class chunk. */
            const char *head = (const char *)it;
            const char *first = (const char *)iov[0].iov_base;
            EXPECT_GE(first, item_key(it) + it->nkey);
            EXPECT_LE(first + iov[0].iov_len, head + kChunkMax);

            size_t total = iov[0].iov_len;
            std::set<const void *> chunks = {head};
            for (int i = 1; i < count; i++) {
                const char *base = (const char *)iov[i].iov_base -
                                   ITEM_CHUNK_HDR;

                total += iov[i].iov_len;
                EXPECT_GT(iov[i].iov_len, 0u);
                if (i < count - 1) {
                    EXPECT_EQ(iov[i].iov_len, kPayload);
                }
                EXPECT_EQ(slab_class_of(base), big);
                EXPECT_TRUE(chunks.insert(base).second);
                for (size_t b = 0; b < ITEM_CHUNK_HDR; b++) {
                    ASSERT_EQ(base[b], 0) << "segment " << i;
                }
            }
            EXPECT_EQ(total, nbytes);
            item_put(it);
            EXPECT_EQ(InUse(big), used);
        }
    });
}

TEST(Item, ChunkedCopyRoundTripsAcrossChunkBoundaries)
{
    isolate::run([] {
        SetupSlab();
        const size_t nbytes = 3 * kPayload + 777;
        std::vector<char> ref = RandomBytes(nbytes, 1);
        struct item *it = item_alloc("k", 1, 0, 0, nbytes);

        ASSERT_NE(it, nullptr);
        /* Fill it in odd-sized pieces, so writes straddle chunks. */
        for (size_t off = 0; off < nbytes;) {
            size_t n = std::min<size_t>(nbytes - off, 100003);

            item_copy_in(it, off, ref.data() + off, n);
            off += n;
        }
        std::vector<char> out(nbytes);
        item_copy_out(it, 0, out.data(), nbytes);
        ASSERT_TRUE(out == ref);

        /* Reading through the segments gives the same bytes. */
        std::vector<struct iovec> iov((size_t)item_segment_count(it));
        int n = item_segments(it, iov.data(), (int)iov.size());
        std::vector<char> joined;
        for (int i = 0; i < n; i++) {
            const char *p = (const char *)iov[i].iov_base;

            joined.insert(joined.end(), p, p + iov[i].iov_len);
        }
        ASSERT_TRUE(joined == ref);

        /* Random windows around the real segment boundaries (wherever
         * the layout puts them), both directions. */
        std::vector<size_t> boundaries;
        size_t edge = 0;
        for (int i = 0; i + 1 < n; i++) {
            edge += iov[i].iov_len;
            boundaries.push_back(edge);
        }
        ASSERT_GE(boundaries.size(), 3u);
        std::mt19937 rng(7);
        for (int round = 0; round < 300; round++) {
            size_t boundary = boundaries[rng() % boundaries.size()];
            size_t off = boundary - rng() % 5000;
            size_t len = 1 + rng() % 10000;

            if (off + len > nbytes) {
                len = nbytes - off;
            }
            std::vector<char> patch = RandomBytes(len, (unsigned)round + 2);
            item_copy_in(it, off, patch.data(), len);
            memcpy(ref.data() + off, patch.data(), len);

            size_t roff = rng() % nbytes;
            size_t rlen = std::min<size_t>(nbytes - roff, 1 + rng() % 20000);
            std::vector<char> got(rlen);
            item_copy_out(it, roff, got.data(), rlen);
            ASSERT_EQ(memcmp(got.data(), ref.data() + roff, rlen), 0)
                << "round " << round << " off " << roff << " len " << rlen;
        }
        item_copy_out(it, 0, out.data(), nbytes);
        EXPECT_TRUE(out == ref);
        item_put(it);
    });
}

TEST(Item, DataChunkHeaderIsZeroedEvenOnReusedMemory)
{
    isolate::run([] {
        SetupSlab();
        unsigned big = slab_largest_class();
        /* Dirty every chunk of one largest-class page, then free them. */
        std::vector<void *> dirty;

        for (size_t i = 0; i < slab_chunks_per_page(big); i++) {
            dirty.push_back(slab_alloc(big));
            ASSERT_NE(dirty.back(), nullptr);
            memset(dirty.back(), 0xff, kChunkMax);
        }
        for (void *p : dirty) {
            slab_free(p);
        }
        struct item *it = item_alloc("k", 1, 0, 0, kPayload + 1);
        ASSERT_NE(it, nullptr);
        std::vector<struct iovec> iov((size_t)item_segment_count(it));
        int n = item_segments(it, iov.data(), (int)iov.size());
        ASSERT_GE(n, 2);
        /* Every continuation's header reads as a free chunk to the
         * eviction hand, whatever the memory held before. */
        for (int i = 1; i < n; i++) {
            const unsigned char *hdr =
                (const unsigned char *)iov[i].iov_base - ITEM_CHUNK_HDR;

            for (size_t b = 0; b < ITEM_CHUNK_HDR; b++) {
                ASSERT_EQ(hdr[b], 0) << "segment " << i << " byte " << b;
            }
        }
        item_put(it);
    });
}

TEST(Item, SizeFitsUpToThePointerTableLimit)
{
    isolate::run([] {
        SetupSlab();
        EXPECT_TRUE(item_size_fits(1, 0, 0));
        EXPECT_TRUE(item_size_fits(KEY_MAX_LENGTH, 1, 100));
        EXPECT_TRUE(item_size_fits(10, 0, kChunkMax));      /* chunked */
        EXPECT_TRUE(item_size_fits(10, 0, 1024 * kMiB));    /* 1 GiB, -I max */
        /* The pointer table of 64 GiB of chunks does not fit one chunk. */
        EXPECT_FALSE(item_size_fits(10, 0, (size_t)64 * 1024 * kMiB));
        EXPECT_EQ(item_alloc("k", 1, 0, 0, (size_t)64 * 1024 * kMiB),
                  nullptr);
    });
}

TEST(Item, LastPutFreesTheChunkForReuse)
{
    isolate::run([] {
        SetupSlab();
        struct item *it = item_alloc("a", 1, 0, 0, 10);

        ASSERT_NE(it, nullptr);
        unsigned cls = slab_class_of(it);
        size_t used = InUse(cls);

        ASSERT_TRUE(item_ref(it));
        EXPECT_EQ(it->refcount, 2u);
        item_put(it);               /* not the last: still allocated */
        EXPECT_EQ(it->refcount, 1u);
        EXPECT_EQ(InUse(cls), used);
        struct item *other = item_alloc("b", 1, 0, 0, 10);
        ASSERT_NE(other, nullptr);
        EXPECT_NE(other, it);
        item_put(other);

        item_put(it);               /* last: the chunk is free again */
        EXPECT_EQ(InUse(cls), used - 1);
        /* Sweepers read a free chunk's flags as "not linked". */
        EXPECT_EQ(((struct item *)it)->iflags, 0);
        struct item *again = item_alloc("c", 1, 0, 0, 10);
        EXPECT_EQ(again, it);
        EXPECT_EQ(Key(again), "c");
        EXPECT_EQ(again->refcount, 1u);
        item_put(again);
    });
}

TEST(Item, LastPutOfAChunkedItemFreesEveryChunk)
{
    isolate::run([] {
        SetupSlab();
        unsigned big = slab_largest_class();
        size_t need = item_chunks_needed(1, 0, 4 * kPayload);

        ASSERT_GE(need, 4u);
        struct item *it = item_alloc("k", 1, 0, 0, 4 * kPayload);
        ASSERT_NE(it, nullptr);
        EXPECT_EQ(InUse(big), need);
        ASSERT_TRUE(item_ref(it));
        item_put(it);
        EXPECT_EQ(InUse(big), need);
        item_put(it);
        EXPECT_EQ(InUse(big), 0u);
        /* Nothing of another class was used for it. */
        for (unsigned c = 1; c < big; c++) {
            EXPECT_EQ(InUse(c), 0u) << "class " << c;
        }
    });
}

TEST(Item, RefRefusesASaturatedCount)
{
    isolate::run([] {
        SetupSlab();
        struct item *it = item_alloc("a", 1, 0, 0, 1);

        ASSERT_NE(it, nullptr);
        int taken = 0;
        while (taken < 70000 && item_ref(it)) {
            taken++;
        }
        /* Refused at the limit, and the refusal left the count as it was
         * (no wrap of the 16-bit counter to a "free" value). */
        EXPECT_EQ(taken, ITEM_REFCOUNT_LIMIT - 2);
        EXPECT_EQ(it->refcount, ITEM_REFCOUNT_LIMIT - 1);
        EXPECT_FALSE(item_ref(it));
        EXPECT_EQ(it->refcount, ITEM_REFCOUNT_LIMIT - 1);
        size_t used = InUse(slab_class_of(it));
        for (int i = 0; i < taken; i++) {
            item_put(it);
        }
        EXPECT_EQ(it->refcount, 1u);
        EXPECT_EQ(InUse(slab_class_of(it)), used);
        item_put(it);
        EXPECT_EQ(InUse(slab_class_of(it)), used - 1);
    });
}

TEST(Item, FailedChunkedAllocLeaksNothing)
{
    isolate::run([] {
        /* -m 3 pages: the small item's class takes one, so the largest
         * class can get two (4 chunks): a value needing 9 cannot be had. */
        SetupSlab(3 * kMiB);
        unsigned big = slab_largest_class();
        struct item *small = item_alloc("s", 1, 0, 0, 10);

        ASSERT_NE(small, nullptr);
        ASSERT_GT(item_chunks_needed(1, 0, 8 * kPayload), 4u);
        EXPECT_EQ(item_alloc("k", 1, 0, 0, 8 * kPayload), nullptr);
        /* Whatever it took on the way was given back. */
        EXPECT_EQ(InUse(big), 0u);
        EXPECT_EQ(slab_pages_used(), 3u);

        /* And is usable: a value needing 3 chunks fits in the 4. */
        ASSERT_EQ(item_chunks_needed(1, 0, 2 * kPayload), 3u);
        struct item *it = item_alloc("k", 1, 0, 0, 2 * kPayload);
        ASSERT_NE(it, nullptr);
        EXPECT_EQ(InUse(big), 3u);
        item_put(it);
        item_put(small);
    });
}

}  // namespace
