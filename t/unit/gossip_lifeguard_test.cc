/*
 * gossip_lifeguard_test: Lifeguard's and memberlist's formulas
 * (cluster/gossip_lifeguard.h), checked against values computed by hand
 * from memberlist's suspicionTimeout, remainingSuspicionTime,
 * retransmitLimit and pushPullScale.
 */
#include <gtest/gtest.h>

#include "cluster/gossip_lifeguard.h"

namespace {

constexpr uint64_t kMs = 1000000ull;
constexpr uint64_t kS = 1000 * kMs;

TEST(GossipLifeguard, SuspicionMinScalesWithLog10N)
{
    /* mult 4, interval 1 s: 4 * max(1, log10 n) seconds */
    EXPECT_EQ(gossip_suspicion_min_ns(4, 0, kS), 4 * kS);
    EXPECT_EQ(gossip_suspicion_min_ns(4, 1, kS), 4 * kS);
    EXPECT_EQ(gossip_suspicion_min_ns(4, 5, kS), 4 * kS);
    EXPECT_EQ(gossip_suspicion_min_ns(4, 10, kS), 4 * kS);
    EXPECT_EQ(gossip_suspicion_min_ns(4, 100, kS), 8 * kS);
    EXPECT_EQ(gossip_suspicion_min_ns(4, 1000, kS), 12 * kS);
    EXPECT_EQ(gossip_suspicion_min_ns(4, 10000, kS), 16 * kS);
    /* log10(50) = 1.69897: memberlist keeps milliseconds of the scale */
    EXPECT_EQ(gossip_suspicion_min_ns(4, 50, kS), 4 * 1698 * kMs);
    EXPECT_EQ(gossip_suspicion_min_ns(5, 1000, 200 * kMs), 3 * kS);
}

TEST(GossipLifeguard, ExpectedConfirmations)
{
    EXPECT_EQ(gossip_suspicion_k(4, 1000), 2u);
    EXPECT_EQ(gossip_suspicion_k(4, 4), 2u);
    EXPECT_EQ(gossip_suspicion_k(4, 3), 0u);  /* n - 2 < k */
    EXPECT_EQ(gossip_suspicion_k(4, 1), 0u);
    EXPECT_EQ(gossip_suspicion_k(6, 100), 4u);
    EXPECT_EQ(gossip_suspicion_k(2, 100), 0u);
}

TEST(GossipLifeguard, TimeoutShrinksWithConfirmations)
{
    uint64_t min = 12 * kS, max = 72 * kS;

    EXPECT_EQ(gossip_suspicion_timeout_ns(0, 2, min, max), max);
    /* 72 - log(2)/log(3) * 60 = 34.1442... s, floored to ms */
    EXPECT_EQ(gossip_suspicion_timeout_ns(1, 2, min, max), 34144 * kMs);
    EXPECT_EQ(gossip_suspicion_timeout_ns(2, 2, min, max), min);
    EXPECT_EQ(gossip_suspicion_timeout_ns(3, 2, min, max), min);  /* clamp */
    /* k = 0: nobody to wait for */
    EXPECT_EQ(gossip_suspicion_timeout_ns(0, 0, min, max), min);
    /* monotonic in confirmations for a larger k */
    uint64_t last = UINT64_MAX;
    for (unsigned c = 0; c <= 4; c++) {
        uint64_t t = gossip_suspicion_timeout_ns(c, 4, min, max);
        EXPECT_LT(t, last);
        EXPECT_GE(t, min);
        last = t;
    }
}

TEST(GossipLifeguard, RetransmitLimit)
{
    EXPECT_EQ(gossip_retransmit_limit(4, 1), 4u);     /* ceil(log10 2) = 1 */
    EXPECT_EQ(gossip_retransmit_limit(4, 9), 4u);
    EXPECT_EQ(gossip_retransmit_limit(4, 10), 8u);
    EXPECT_EQ(gossip_retransmit_limit(4, 99), 8u);
    EXPECT_EQ(gossip_retransmit_limit(4, 100), 12u);
    EXPECT_EQ(gossip_retransmit_limit(4, 999), 12u);
    EXPECT_EQ(gossip_retransmit_limit(4, 1000), 16u);
}

TEST(GossipLifeguard, PushPullInterval)
{
    EXPECT_EQ(gossip_push_pull_interval_ns(30 * kS, 1), 30 * kS);
    EXPECT_EQ(gossip_push_pull_interval_ns(30 * kS, 32), 30 * kS);
    EXPECT_EQ(gossip_push_pull_interval_ns(30 * kS, 33), 60 * kS);
    EXPECT_EQ(gossip_push_pull_interval_ns(30 * kS, 64), 60 * kS);
    EXPECT_EQ(gossip_push_pull_interval_ns(30 * kS, 100), 90 * kS);
    EXPECT_EQ(gossip_push_pull_interval_ns(30 * kS, 1000), 180 * kS);
}

TEST(GossipLifeguard, AwarenessStretchesAndIsBounded)
{
    struct gossip_awareness a;

    gossip_awareness_init(&a, 8);
    EXPECT_EQ(gossip_awareness_scale(&a, kS), kS);
    gossip_awareness_apply(&a, 3);
    EXPECT_EQ(a.score, 3u);
    EXPECT_EQ(gossip_awareness_scale(&a, 500 * kMs), 2 * kS);
    gossip_awareness_apply(&a, 100);
    EXPECT_EQ(a.score, 7u);                            /* max - 1 */
    EXPECT_EQ(gossip_awareness_scale(&a, kS), 8 * kS);
    gossip_awareness_apply(&a, -1);
    EXPECT_EQ(a.score, 6u);
    gossip_awareness_apply(&a, -100);
    EXPECT_EQ(a.score, 0u);
    gossip_awareness_init(&a, 0);                      /* clamped to 1 */
    gossip_awareness_apply(&a, 5);
    EXPECT_EQ(a.score, 0u);
}

}  // namespace
