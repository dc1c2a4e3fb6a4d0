/*
 * gossip_broadcast_test: the transmit-limited queue
 * (cluster/gossip_broadcast.h) and the member table
 * (cluster/gossip_member.h), the two containers under the gossip core.
 */
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "cluster/gossip_broadcast.h"
#include "cluster/gossip_member.h"

namespace {

struct Queue {
    struct gossip_bqueue q;
    Queue() { gossip_bqueue_init(&q); }
    ~Queue() { gossip_bqueue_deinit(&q); }

    void Push(const std::string &name, const std::string &msg,
              bool tracked = false)
    {
        ASSERT_EQ(gossip_bqueue_push(&q, name.c_str(),
                                     (const uint8_t *)msg.data(), msg.size(),
                                     tracked), 0);
    }

    /* The messages one take hands out, in order. */
    std::vector<std::string> Take(size_t avail, unsigned limit,
                                  size_t max_parts = 64)
    {
        uint8_t buf[4096];
        struct gossip_wbuf w;
        std::vector<std::string> out;
        size_t n, off = 0;

        gossip_wbuf_init(&w, buf, sizeof(buf));
        n = gossip_bqueue_take(&q, &w, avail, max_parts, limit);
        while (off < w.len) {
            size_t len = (size_t)buf[off] << 8 | buf[off + 1];
            out.emplace_back((const char *)buf + off + 2, len);
            off += 2 + len;
        }
        EXPECT_EQ(off, w.len);
        EXPECT_EQ(n, out.size());
        return out;
    }
};

using Strs = std::vector<std::string>;

TEST(GossipBroadcast, NewestAndLeastTransmittedFirst)
{
    Queue q;

    q.Push("a", "a1");
    q.Push("b", "b1");
    q.Push("c", "c1");
    EXPECT_EQ(q.Take(1000, 10), (Strs{ "c1", "b1", "a1" }));
    q.Push("d", "d1");          /* 0 transmits beats 1 */
    EXPECT_EQ(q.Take(1000, 10), (Strs{ "d1", "c1", "b1", "a1" }));
    EXPECT_EQ(q.Take(8, 10), (Strs{ "d1", "c1" }));  /* 4 bytes each */
    /* d, b, a have 2 transmits, c has 3: newest of the least sent */
    EXPECT_EQ(q.Take(8, 10), (Strs{ "d1", "b1" }));
    EXPECT_EQ(q.Take(1000, 10, 1), (Strs{ "a1" }));  /* the only one at 2 */
}

TEST(GossipBroadcast, NewerNewsReplacesOlder)
{
    Queue q;

    q.Push("a", "alive-1");
    q.Push("b", "b");
    q.Push("a", "dead-1");
    EXPECT_EQ(q.q.n, 2u);
    EXPECT_EQ(q.Take(1000, 10), (Strs{ "dead-1", "b" }));
    q.Push("b", "b2");
    EXPECT_EQ(q.Take(1000, 10), (Strs{ "b2", "dead-1" }));
}

TEST(GossipBroadcast, DroppedAfterLimitAndTracked)
{
    Queue q;

    q.Push("self", "leave", true);
    q.Push("x", "x");
    EXPECT_EQ(q.q.tracked, 1u);
    for (int i = 0; i < 3; i++) {
        EXPECT_EQ(q.Take(1000, 3).size(), 2u);
    }
    EXPECT_EQ(q.q.n, 0u);
    EXPECT_EQ(q.q.tracked, 0u);
    EXPECT_TRUE(q.Take(1000, 3).empty());

    /* Replacing tracked news untracks it. */
    q.Push("self", "leave", true);
    q.Push("self", "alive");
    EXPECT_EQ(q.q.tracked, 0u);
}

TEST(GossipBroadcast, SkipsWhatDoesNotFit)
{
    Queue q;

    q.Push("big", std::string(100, 'B'));
    q.Push("small", "s");
    EXPECT_EQ(q.Take(50, 10), (Strs{ "s" }));
    EXPECT_EQ(q.Take(102, 10), (Strs{ std::string(100, 'B') }));
}

TEST(GossipBroadcast, ManyMembersKeepOneEntryEach)
{
    Queue q;

    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 500; i++) {
            q.Push("node-" + std::to_string(i),
                   std::to_string(round) + ":" + std::to_string(i));
        }
    }
    EXPECT_EQ(q.q.n, 500u);
    Strs got = q.Take(4000, 10, 64);
    ASSERT_FALSE(got.empty());
    for (const auto &m : got) {
        EXPECT_EQ(m[0], '2') << m;
    }
}

TEST(GossipMember, TableMatchesAMapUnderRandomOps)
{
    struct gossip_members t;
    struct gossip_rand r;
    std::map<std::string, struct gossip_node *> ref;
    std::mt19937 rng(7);

    ASSERT_EQ(gossip_members_init(&t), 0);
    gossip_rand_seed(&r, 1);
    for (int op = 0; op < 20000; op++) {
        std::string name = "m" + std::to_string(rng() % 700);
        struct gossip_node *n = gossip_members_find(&t, name.c_str());
        auto it = ref.find(name);

        ASSERT_EQ(n, it == ref.end() ? nullptr : it->second) << name;
        if (n == nullptr) {
            n = gossip_members_add(&t, name.c_str());
            ASSERT_NE(n, nullptr);
            EXPECT_STREQ(n->m.name, name.c_str());
            ref[name] = n;
        } else if (rng() % 3 == 0) {
            gossip_members_remove(&t, n);
            ref.erase(name);
        }
        if (op % 5000 == 0) {
            gossip_members_shuffle(&t, &r);
        }
    }
    ASSERT_EQ(t.n, ref.size());
    for (size_t i = 0; i < t.n; i++) {
        EXPECT_EQ(t.v[i]->idx, i);
        EXPECT_EQ(ref[t.v[i]->m.name], t.v[i]);
    }
    gossip_members_deinit(&t);
}

TEST(GossipMember, MetaIsOwnedAndBounded)
{
    struct gossip_members t;
    uint8_t meta[GOSSIP_META_MAX + 1] = { 1, 2, 3 };

    ASSERT_EQ(gossip_members_init(&t), 0);
    struct gossip_node *n = gossip_members_add(&t, "a");
    ASSERT_NE(n, nullptr);
    EXPECT_EQ(gossip_members_set_meta(n, meta, 3), 0);
    meta[0] = 9;
    EXPECT_EQ(n->m.meta[0], 1);
    EXPECT_EQ(gossip_members_set_meta(n, meta, GOSSIP_META_MAX + 1), -1);
    EXPECT_EQ(n->m.meta_len, 3);
    EXPECT_EQ(gossip_members_set_meta(n, nullptr, 0), 0);
    EXPECT_EQ(n->m.meta, nullptr);
    EXPECT_EQ(gossip_members_add(&t, ""), nullptr);
    EXPECT_EQ(gossip_members_add(&t, std::string(65, 'x').c_str()), nullptr);
    gossip_members_deinit(&t);
}

}  // namespace
