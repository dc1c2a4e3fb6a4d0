/*
 * outq_test: the reply queue against a model of what must reach the
 * client, with writes that stop at every byte offset.
 *
 * The model is two strings: what is committed (kept by a discard) and what
 * is discardable. Copy and value append to the second; a checkpoint or a
 * flush moves it to the first; a discard clears it. Whatever the socket
 * took, the bytes that finally arrive must be exactly committed +
 * discardable, with no byte lost, repeated or read from outside the queue
 * (ASan runs this suite too). This is the bug issue 12 describes: a
 * partly written iovec at or before the checkpoint, restored by a discard
 * to its queued length.
 */
#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "cache/item.h"
#include "cache/slab.h"
#include "isolate.h"
#include "net/outq.h"

namespace {

constexpr size_t kMiB = 1024 * 1024;

void SetupSlab()
{
    struct slab_options o;

    memset(&o, 0, sizeof(o));
    o.mem_limit = 64 * kMiB;
    o.page_size = kMiB;
    o.chunk_max = 16 * 1024;      /* values over ~16 KiB are chunked */
    o.min_space = 48;
    o.factor = 1.25;
    ASSERT_EQ(slab_setup(&o), 0);
}

struct item *MakeItem(const std::string &key, const std::string &value)
{
    struct item *it = item_alloc(key.data(), key.size(), 0, 0,
                                 value.size());

    if (it != NULL) {
        item_copy_in(it, 0, value.data(), value.size());
    }
    return it;
}

std::string Pattern(size_t n, unsigned seed)
{
    std::string s(n, '\0');

    for (size_t i = 0; i < n; i++) {
        s[i] = (char)('a' + (i * 7 + seed) % 26);
    }
    return s;
}

/* A socket that takes at most `budget` bytes, then says EAGAIN. */
struct FakeSocket {
    std::string got;
    size_t budget = 0;
    unsigned calls = 0;
};

ssize_t FakeWritev(void *ctx, const struct iovec *iov, int cnt)
{
    FakeSocket *s = static_cast<FakeSocket *>(ctx);
    size_t total = 0;

    s->calls++;
    if (s->budget == 0) {
        errno = EAGAIN;
        return -1;
    }
    for (int i = 0; i < cnt && s->budget > 0; i++) {
        size_t n = iov[i].iov_len < s->budget ? iov[i].iov_len : s->budget;

        s->got.append(static_cast<const char *>(iov[i].iov_base), n);
        s->budget -= n;
        total += n;
    }
    return (ssize_t)total;
}

/* The queue and its model side by side. */
struct Pair {
    struct outq q;
    FakeSocket sock;
    std::string committed, discardable;

    explicit Pair(bool marks) { EXPECT_TRUE(outq_init(&q, marks)); }
    ~Pair() { outq_deinit(&q); }

    void Copy(const std::string &s)
    {
        ASSERT_TRUE(outq_copy(&q, s.data(), s.size()));
        discardable += s;
    }
    void Value(struct item *it, const std::string &v)
    {
        ASSERT_TRUE(item_ref(it));
        ASSERT_TRUE(outq_value(&q, it));
        discardable += v;
    }
    void Checkpoint()
    {
        outq_checkpoint(&q);
        committed += discardable;
        discardable.clear();
    }
    void Discard()
    {
        outq_discard(&q);
        discardable.clear();
    }
    /* Lets the socket take n bytes; returns outq_flush's answer. */
    int Flush(size_t n)
    {
        size_t written;
        int r;

        sock.budget = n;
        r = outq_flush(&q, FakeWritev, &sock, &written);
        committed += discardable;
        discardable.clear();
        EXPECT_EQ(outq_pending(&q),
                  committed.size() + discardable.size() - sock.got.size());
        return r;
    }
    void Drain()
    {
        EXPECT_EQ(Flush(SIZE_MAX), 0);
        EXPECT_TRUE(outq_empty(&q));
        EXPECT_EQ(outq_pending(&q), 0u);
    }
    std::string Want() const { return committed + discardable; }
};

/*
 * The shape of issue 12's reproduction: a large reply cut off by a full
 * socket, then in the next batch a run of replies, a completed get, and a
 * get with a bad key that discards back to it. First write stops at every
 * offset k; the second at a stride over the rest.
 */
TEST(Outq, PartialWriteThenDiscardAtEveryOffset)
{
    isolate::run([] {
        SetupSlab();
        const std::string big = Pattern(1000, 1);
        const std::string chunked = Pattern(20000, 2);
        struct item *bi = MakeItem("big", big);
        struct item *ci = MakeItem("chunky", chunked);
        ASSERT_NE(bi, nullptr);
        ASSERT_NE(ci, nullptr);
        const size_t first = 18 + big.size() + 7;

        for (size_t k = 0; k <= first + 2 && !HasFailure(); k++) {
            for (size_t j = 0; j < 400 && !HasFailure(); j += 37) {
                Pair p(false);

                p.Copy("VALUE big 0 1000\r\n");
                p.Value(bi, big);
                p.Copy("\r\nEND\r\n");
                p.Checkpoint();
                const size_t queued = p.Want().size();
                EXPECT_EQ(p.Flush(k), k >= queued ? 0 : 1);
                /* Next batch: replies, a completed get, discards. */
                for (int v = 0; v < 3; v++) {
                    p.Copy("VERSION 1.6.18\r\n");
                }
                p.Discard();          /* nothing since the flush survives */
                p.Copy("VERSION 1.6.18\r\n");
                p.Copy("END\r\n");
                p.Checkpoint();
                p.Copy("VALUE chunky 0 20000\r\n");
                p.Value(ci, chunked);
                p.Discard();          /* back to the checkpoint */
                p.Copy("CLIENT_ERROR bad command line format\r\n");
                p.Flush(j);
                p.Copy("STORED\r\n");
                p.Value(ci, chunked);
                p.Discard();
                p.Value(bi, big);
                p.Copy("\r\n");
                p.Drain();
                ASSERT_EQ(p.sock.got, p.Want()) << "k=" << k << " j=" << j;
            }
        }
        /* Every reference the queues held was given back. */
        EXPECT_EQ(bi->refcount, 1);
        EXPECT_EQ(ci->refcount, 1);
        item_put(bi);
        item_put(ci);
    });
}

/* A flush that takes nothing, then discards: nothing queued before the
 * flush is lost (memcached had transmitted it). */
TEST(Outq, FlushCommitsEvenWhenNothingWasWritten)
{
    isolate::run([] {
        SetupSlab();
        Pair p(false);

        p.Copy("VERSION 1\r\n");
        EXPECT_EQ(p.Flush(0), 1);
        p.Copy("VERSION 2\r\n");
        p.Discard();
        p.Copy("CLIENT_ERROR bad command line format\r\n");
        p.Drain();
        EXPECT_EQ(p.sock.got,
                  "VERSION 1\r\nCLIENT_ERROR bad command line format\r\n");
    });
}

/* Text merged into the checkpoint's last iovec, written in part, then
 * discarded: the iovec goes back to exactly what was committed. */
TEST(Outq, MergedTextAfterPartialWriteIsTrimmedNotLost)
{
    isolate::run([] {
        SetupSlab();
        for (size_t k = 0; k <= 40; k++) {
            Pair p(false);

            p.Copy("0123456789");
            p.Copy("abcdefghij");     /* merges into one iovec */
            p.Checkpoint();
            p.Flush(k);
            p.Copy("KLMNOPQRST");     /* merges into the same iovec */
            p.Discard();
            p.Copy("uvwxyz");
            p.Flush(k / 2);
            p.Copy("!");
            p.Discard();
            p.Drain();
            ASSERT_EQ(p.sock.got, p.Want()) << "k=" << k;
            ASSERT_EQ(p.sock.got, "0123456789abcdefghijuvwxyz");
        }
    });
}

/* Many discards of large text do not keep their output blocks. */
TEST(Outq, DiscardGivesBackOutputBlocks)
{
    isolate::run([] {
        SetupSlab();
        Pair p(false);
        const std::string chunk(10000, 'x');

        p.Copy("kept\r\n");
        p.Checkpoint();
        for (int i = 0; i < 1000; i++) {
            p.Copy(chunk);
            p.Copy(chunk);
            p.Discard();
        }
        /* Had the 20 MB of dropped text been kept, this would show it. */
        EXPECT_LE(outq_block_bytes(&p.q), 3u * 16384);
        p.Drain();
        EXPECT_EQ(p.sock.got, "kept\r\n");
    });
}

/* With marks (UDP), each response still starts where it was marked after
 * discards: the byte offsets of the marks match the model's. */
TEST(Outq, MarksSurviveDiscardAndIndexTheQueue)
{
    isolate::run([] {
        SetupSlab();
        const std::string v = Pattern(500, 3);
        struct item *it = MakeItem("k", v);
        Pair p(true);
        std::vector<size_t> want;

        ASSERT_NE(it, nullptr);
        for (int r = 0; r < 6; r++) {
            size_t at = p.committed.size() + p.discardable.size();

            outq_mark(&p.q);
            p.Copy("VALUE k 0 500\r\n");
            p.Value(it, v);
            p.Copy("\r\n");
            if (r % 3 == 2) {
                p.Discard();
            } else {
                want.push_back(at);
                p.Checkpoint();
            }
        }
        /* The last response was dropped: its mark now starts what
         * follows (memcached sends the error as its own response). */
        want.push_back(p.committed.size());
        p.Copy("END\r\n");
        std::vector<size_t> got;
        for (size_t m = 0; m < p.q.nmarks; m++) {
            size_t off = 0;

            ASSERT_LE(p.q.marks[m], p.q.niov);
            for (size_t i = 0; i < p.q.marks[m]; i++) {
                off += p.q.iov[i].iov_len;
            }
            got.push_back(off);
        }
        EXPECT_EQ(got, want);
        p.Drain();
        EXPECT_EQ(p.sock.got, p.Want());
        EXPECT_EQ(it->refcount, 1);
        item_put(it);
    });
}

/* An item with ITEM_HOLD_LIMIT holders is copied, not held: the queue
 * takes no reference that could saturate the count. */
TEST(Outq, SaturatedItemIsCopiedNotHeld)
{
    isolate::run([] {
        SetupSlab();
        for (size_t n : {10u, 40000u}) {  /* plain and chunked */
            const std::string v = Pattern(n, 4);
            struct item *it = MakeItem("hot", v);
            ASSERT_NE(it, nullptr);
            /* Pretend ITEM_HOLD_LIMIT - 1 other holders. */
            __atomic_store_n(&it->refcount, ITEM_HOLD_LIMIT, __ATOMIC_RELAXED);
            Pair p(false);

            p.Value(it, v);
            EXPECT_EQ(p.q.nheld, 0u);
            EXPECT_EQ(it->refcount, ITEM_HOLD_LIMIT);
            p.Drain();
            EXPECT_EQ(p.sock.got, v);
            __atomic_store_n(&it->refcount, 1, __ATOMIC_RELAXED);
            /* Below the limit it is referenced in place again. */
            p.Value(it, v);
            EXPECT_EQ(p.q.nheld, 1u);
            EXPECT_EQ(it->refcount, 2);
            p.Drain();
            EXPECT_EQ(it->refcount, 1);
            item_put(it);
        }
    });
}

/* A reader that takes a little at a time while replies keep coming: the
 * queue never empties, yet what it holds (items, blocks, iovecs) stays
 * proportional to what is unwritten, and the bytes are right. */
TEST(Outq, NeverEmptyQueueHoldsOnlyWhatIsUnwritten)
{
    isolate::run([] {
        SetupSlab();
        const std::string v = Pattern(100, 5);
        struct item *it = MakeItem("k", v);
        Pair p(false);
        size_t most_held = 0, most_blocks = 0, most_iov = 0;

        ASSERT_NE(it, nullptr);
        for (int round = 0; round < 20000; round++) {
            p.Copy("VALUE k 0 100\r\n");
            p.Value(it, v);
            p.Copy("\r\n");
            /* Takes a bit less than was added: the backlog grows slowly. */
            p.Flush(round % 10 == 0 ? 1 : 120);
            most_held = std::max(most_held, p.q.nheld);
            most_blocks = std::max(most_blocks, outq_block_bytes(&p.q));
            most_iov = std::max(most_iov, p.q.niov);
            if (outq_pending(&p.q) > 64 * 1024) {
                p.Flush(64 * 1024);   /* the limit in conn.c would stop it */
            }
        }
        /* ~560 replies fit in 64 KiB unwritten; without compaction all
         * 20,000 would still be held. */
        EXPECT_LT(most_held, 2000u);
        EXPECT_LT(most_iov, 6000u);
        EXPECT_LT(most_blocks, 300u * 1024);
        p.Drain();
        EXPECT_EQ(p.sock.got, p.Want());
        EXPECT_EQ(it->refcount, 1);
        item_put(it);
    });
}

/* Empty values are consumed, never left to make writev return 0. */
TEST(Outq, EmptyValuesAtTheEndDoNotSpin)
{
    isolate::run([] {
        SetupSlab();
        struct item *e = MakeItem("e", "");
        Pair p(false);

        ASSERT_NE(e, nullptr);
        p.Copy("VALUE e 0 0\r\n");
        p.Value(e, "");
        p.Drain();
        EXPECT_EQ(p.sock.got, "VALUE e 0 0\r\n");
        EXPECT_LE(p.sock.calls, 2u);
        item_put(e);
    });
}

/*
 * Holes (replies a peer sends later) against a model: a list of segments,
 * each text or a hole, open or filled. Random text, values, holes, fills
 * in any order, fills of holes that are gone, checkpoints, discards and
 * flushes cut at random sizes; after every flush the client has exactly a
 * prefix of the model's bytes and never a byte past the first open hole;
 * at the end, with every hole filled, exactly all of them.
 */
struct HoleModel {
    struct Seg {
        std::string text;
        uint64_t id = 0;          /* a hole's id, 0 for text */
        bool open = false;
    };
    struct outq q;
    FakeSocket sock;
    std::vector<Seg> segs;
    size_t chk = 0;               /* segs[chk..] are discardable */
    std::vector<uint64_t> gone;   /* ids of discarded holes */

    HoleModel() { EXPECT_TRUE(outq_init(&q, false)); }
    ~HoleModel() { outq_deinit(&q); }

    std::string Until(bool stop_at_open) const
    {
        std::string out;
        for (const Seg &s : segs) {
            if (s.open && stop_at_open) {
                break;
            }
            out += s.text;
        }
        return out;
    }
    uint64_t Queued() const
    {
        uint64_t n = 0;
        for (const Seg &s : segs) {
            n += s.text.size();
        }
        return n;
    }
    void Copy(const std::string &t)
    {
        ASSERT_TRUE(outq_copy(&q, t.data(), t.size()));
        segs.push_back(Seg{t, 0, false});
    }
    void Value(struct item *it, const std::string &v)
    {
        ASSERT_TRUE(item_ref(it));
        ASSERT_TRUE(outq_value(&q, it));
        segs.push_back(Seg{v, 0, false});
    }
    void Hole()
    {
        uint64_t id = outq_hole(&q);
        ASSERT_NE(id, 0u);
        segs.push_back(Seg{"", id, true});
    }
    bool Fill(size_t nth_open, const std::string &t)
    {
        for (Seg &s : segs) {
            if (s.open && nth_open-- == 0) {
                EXPECT_TRUE(outq_fill(&q, s.id, t.data(), t.size()));
                s.text = t;
                s.open = false;
                return true;
            }
        }
        return false;
    }
    size_t Open() const
    {
        size_t n = 0;
        for (const Seg &s : segs) {
            n += s.open;
        }
        EXPECT_EQ(n, outq_holes_open(&q));
        return n;
    }
    void Checkpoint()
    {
        outq_checkpoint(&q);
        chk = segs.size();
    }
    void Discard()
    {
        outq_discard(&q);
        for (size_t i = chk; i < segs.size(); i++) {
            if (segs[i].id != 0) {
                gone.push_back(segs[i].id);
            }
        }
        segs.resize(chk);
    }
    int Flush(size_t budget)
    {
        size_t written;

        sock.budget = budget;
        int r = outq_flush(&q, FakeWritev, &sock, &written);
        chk = segs.size();
        std::string ready = Until(true);
        EXPECT_LE(sock.got.size(), ready.size());
        EXPECT_EQ(sock.got, ready.substr(0, sock.got.size()));
        EXPECT_EQ(outq_pending(&q), Queued() - sock.got.size());
        if (r == 2) {
            EXPECT_GT(Open(), 0u);
            EXPECT_EQ(sock.got, ready);  /* everything before the hole */
        } else if (r == 0) {
            EXPECT_EQ(Open(), 0u);
            EXPECT_EQ(sock.got, Until(false));
            segs.clear();         /* the queue was reset: start afresh */
            chk = 0;
            sent_before += sock.got;
            sock.got.clear();
        }
        return r;
    }
    std::string sent_before;      /* bytes of queues already drained */
};

TEST(Outq, HolesKeepRequestOrderWhateverTheFillOrder)
{
    isolate::run([] {
        SetupSlab();
        std::string big = Pattern(40000, 3), small = Pattern(300, 4);
        struct item *vb = MakeItem("vb", big), *vs = MakeItem("vs", small);
        ASSERT_NE(vb, nullptr);
        ASSERT_NE(vs, nullptr);

        for (unsigned seed = 1; seed <= 300; seed++) {
            HoleModel m;
            unsigned r = seed * 2654435761u;
            auto next = [&r](unsigned n) {
                r = r * 1103515245u + 12345u;
                return (r >> 8) % n;
            };
            for (int step = 0; step < 120; step++) {
                switch (next(10)) {
                case 0:
                case 1:
                    m.Copy("line " + std::to_string(step) + "\r\n");
                    break;
                case 2:
                    if (next(4) == 0) {
                        m.Value(vb, big);
                    } else {
                        m.Value(vs, small);
                    }
                    break;
                case 3:
                case 4:
                    m.Hole();
                    break;
                case 5:
                case 6:
                    if (m.Open() > 0) {
                        /* Any open hole: peers answer in any order. */
                        std::string t = next(5) == 0 ? ""
                                      : next(3) == 0 ? Pattern(20000, step)
                                      : "VALUE k" + std::to_string(step) +
                                            " 0 1\r\nx\r\n";
                        m.Fill(next((unsigned)m.Open()), t);
                    }
                    break;
                case 7:
                    if (!m.gone.empty()) {
                        uint64_t id = m.gone[next((unsigned)m.gone.size())];
                        EXPECT_FALSE(outq_fill(&m.q, id, "late", 4));
                    }
                    if (next(2) == 0) {
                        m.Checkpoint();
                    } else {
                        m.Discard();
                    }
                    break;
                default:
                    m.Flush(next(3) == 0 ? 0 : next(50000));
                    break;
                }
                if (HasFailure()) {
                    return;
                }
            }
            while (m.Open() > 0) {
                m.Fill(0, "tail");
            }
            EXPECT_EQ(m.Flush(SIZE_MAX), 0) << "seed " << seed;
            EXPECT_TRUE(outq_empty(&m.q));
            if (HasFailure()) {
                ADD_FAILURE() << "seed " << seed;
                return;
            }
        }
        EXPECT_EQ(vb->refcount, 1);
        EXPECT_EQ(vs->refcount, 1);
        item_put(vb);
        item_put(vs);
    });
}

/* The ids of a reset queue never come back: a reply for a connection's
 * earlier life cannot land in a later hole. */
TEST(Outq, HoleIdsAreNotReusedAfterReset)
{
    struct outq q;
    ASSERT_TRUE(outq_init(&q, false));
    uint64_t a = outq_hole(&q);
    ASSERT_NE(a, 0u);
    outq_reset(&q);
    EXPECT_EQ(outq_holes_open(&q), 0u);
    EXPECT_FALSE(outq_fill(&q, a, "x", 1));
    uint64_t b = outq_hole(&q);
    EXPECT_NE(b, a);
    EXPECT_TRUE(outq_fill(&q, b, "x", 1));
    EXPECT_FALSE(outq_fill(&q, b, "y", 1));  /* filled once only */
    outq_deinit(&q);
}

}  // namespace
