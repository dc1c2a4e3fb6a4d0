/*
 * clock: rel_time_t seconds since start (see clock.h).
 *
 * Note that the origin is set a couple of seconds before start-up, as
 * memcached does, so that relative time 0 and 1 are never "now": 0 means
 * "never expires" and 1 is used for "already expired".
 */
#include "util/clock.h"

static time_t started_unix;       /* unix time of rel time 0 */
static time_t started_mono;       /* CLOCK_MONOTONIC seconds of rel time 0 */
static int32_t test_offset;       /* clock_advance() total, tests only */
static rel_time_t now_rel;        /* atomic: the current relative time */
static time_t held_mono;          /* clock_hold(): the frozen reading, or 0 */

#define CLOCK_ORIGIN_SLACK CLOCK_FIRST_SECOND

static time_t monotonic_seconds(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec;
}

void clock_setup(void)
{
    held_mono = 0;
    started_unix = time(NULL) - CLOCK_ORIGIN_SLACK;
    started_mono = monotonic_seconds() - CLOCK_ORIGIN_SLACK;
    clock_update();
}

void clock_update(void)
{
    time_t mono = __atomic_load_n(&held_mono, __ATOMIC_RELAXED);
    rel_time_t t;

    if (mono == 0) {
        mono = monotonic_seconds();
    }
    t = (rel_time_t)(mono - started_mono +
                     __atomic_load_n(&test_offset, __ATOMIC_RELAXED));

    __atomic_store_n(&now_rel, t, __ATOMIC_RELAXED);
}

rel_time_t clock_now(void)
{
    return __atomic_load_n(&now_rel, __ATOMIC_RELAXED);
}

time_t clock_started(void)
{
    return started_unix;
}

rel_time_t clock_expiry(int64_t exptime)
{
    if (exptime == 0) {
        return 0;
    }
    if (exptime < 0) {
        /* memcached maps negatives past the relative range: expired. */
        return 1;
    }
    if (exptime > CLOCK_MAX_RELATIVE) {
        if (exptime <= (int64_t)started_unix) {
            return 1;
        }
        return (rel_time_t)(exptime - started_unix);
    }
    return (rel_time_t)(exptime + clock_now());
}

void clock_hold(void)
{
    /* The reading now_rel was computed from, so holding moves nothing. */
    time_t mono = (time_t)clock_now() + started_mono -
                  __atomic_load_n(&test_offset, __ATOMIC_RELAXED);

    __atomic_store_n(&held_mono, mono, __ATOMIC_RELAXED);
}

void clock_advance(int32_t delta)
{
    __atomic_add_fetch(&test_offset, delta, __ATOMIC_RELAXED);
    clock_update();
}
