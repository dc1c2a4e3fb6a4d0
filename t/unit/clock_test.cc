/*
 * clock_test: relative time and memcached's exptime conversion
 * (util/clock.h).
 *
 * clock_expiry() is memcached's realtime(): what a client's exptime means
 * decides whether a stored item is ever seen again, so each of its ranges is
 * pinned here. The clock is process-global; it is started once for the
 * whole binary by a gtest Environment, and each test reads clock_now()
 * afresh, so the tests do not depend on their order (clock_advance only
 * moves time forward).
 */
#include <gtest/gtest.h>

#include <ctime>

#include "util/clock.h"

namespace {

class ClockEnv : public ::testing::Environment {
public:
    void SetUp() override { clock_setup(); }
};

::testing::Environment *const clock_env =
    ::testing::AddGlobalTestEnvironment(new ClockEnv);

TEST(Clock, StartsJustAfterTheOrigin)
{
    /* 0 means "never" and 1 "already expired", so the clock must never
     * read them (memcached starts its clock 2 s before start-up). */
    EXPECT_GE(clock_now(), 2u);
    /* The origin is in the past, close to now. */
    time_t started = clock_started();
    time_t wall = time(nullptr);

    EXPECT_LE(started, wall - 2);
    EXPECT_GE(started, wall - 60);
}

TEST(Clock, ZeroMeansNever)
{
    EXPECT_EQ(clock_expiry(0), 0u);
}

TEST(Clock, NegativeMeansAlreadyExpired)
{
    EXPECT_EQ(clock_expiry(-1), 1u);
    EXPECT_EQ(clock_expiry(-1000000), 1u);
    EXPECT_EQ(clock_expiry(INT32_MIN), 1u);
    EXPECT_EQ(clock_expiry(INT64_MIN), 1u);
    /* And 1 is in the past: an item with it is dead at once. */
    EXPECT_LT(1u, clock_now());
}

TEST(Clock, UpToThirtyDaysIsRelative)
{
    rel_time_t now = clock_now();

    EXPECT_EQ(clock_expiry(1), now + 1);
    EXPECT_EQ(clock_expiry(100), now + 100);
    EXPECT_EQ(clock_expiry(CLOCK_MAX_RELATIVE), now + CLOCK_MAX_RELATIVE);
    EXPECT_EQ(CLOCK_MAX_RELATIVE, 60 * 60 * 24 * 30);
}

TEST(Clock, BeyondThirtyDaysIsUnixTime)
{
    /* One past the relative range is a unix time in 1970: long before the
     * server started, so already expired. */
    EXPECT_EQ(clock_expiry(CLOCK_MAX_RELATIVE + 1), 1u);
    EXPECT_EQ(clock_expiry(1000000000), 1u); /* 2001 */
    /* Exactly the start time is "at/before start": expired. */
    EXPECT_EQ(clock_expiry(clock_started()), 1u);
    EXPECT_EQ(clock_expiry(clock_started() + 1), 1u);

    /* A unix time in the future is relative to the start. */
    time_t future = time(nullptr) + 3600;

    EXPECT_EQ(clock_expiry(future), (rel_time_t)(future - clock_started()));
    /* Note that this is not compared with clock_now() + 3600: another
     * test's clock_advance() moves relative time away from wall time. */
}

TEST(Clock, AdvanceMovesNow)
{
    rel_time_t before = clock_now();

    clock_advance(100);
    rel_time_t after = clock_now();

    /* clock_advance re-reads the monotonic clock too, which may have
     * ticked by a second meanwhile. */
    EXPECT_GE(after, before + 100);
    EXPECT_LE(after, before + 101);

    /* Relative expiry follows the moved clock. */
    EXPECT_EQ(clock_expiry(10), clock_now() + 10);

    /* clock_update keeps the offset: time never goes back to real time. */
    clock_update();
    EXPECT_GE(clock_now(), after);
}

TEST(Clock, UpdateIsMonotonic)
{
    rel_time_t prev = clock_now();

    for (int i = 0; i < 1000; i++) {
        clock_update();
        rel_time_t t = clock_now();

        ASSERT_GE(t, prev);
        prev = t;
    }
}

}  // namespace

TEST(Clock, HeldClockMovesOnlyByAdvance)
{
    clock_hold();
    rel_time_t held = clock_now();
    struct timespec second = { 1, 100 * 1000 * 1000 };

    /* A real second passes: a held clock does not see it. */
    nanosleep(&second, nullptr);
    clock_update();
    EXPECT_EQ(clock_now(), held);
    clock_advance(7);
    EXPECT_EQ(clock_now(), held + 7);
    EXPECT_EQ(clock_expiry(10), held + 17);

    /* clock_setup lets go; the other tests see real time again. */
    clock_setup();
    nanosleep(&second, nullptr);
    clock_update();
    EXPECT_GE(clock_now(), (rel_time_t)CLOCK_FIRST_SECOND + 1);
}
