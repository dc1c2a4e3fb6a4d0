/*
 * hlc: the cluster's version clock (see hlc.h).
 *
 * The clock is one 64-bit word, advanced by compare-and-swap: the maximum
 * of everything issued and observed. The wall clock is read from
 * CLOCK_REALTIME_COARSE (a few milliseconds of resolution, no system
 * call); the logical bits absorb the coarseness.
 */
#include "util/hlc.h"

#include <stdbool.h>
#include <time.h>

static uint64_t last;             /* atomic */
static int64_t offset_ms;         /* atomic; the fault-injection hook */

static uint64_t wall(void)
{
    struct timespec ts;
    int64_t ms;

    clock_gettime(CLOCK_REALTIME_COARSE, &ts);
    ms = ((int64_t)ts.tv_sec - HLC_EPOCH_UNIX) * 1000 + ts.tv_nsec / 1000000 +
         __atomic_load_n(&offset_ms, __ATOMIC_RELAXED);
    if (ms < 0) {
        return 0;                 /* a clock before the epoch: logical only */
    }
    return ((uint64_t)ms << HLC_LOGICAL_BITS) & HLC_MAX;
}

uint64_t hlc_next(void)
{
    uint64_t w = wall();
    uint64_t cur = __atomic_load_n(&last, __ATOMIC_RELAXED), next;

    do {
        next = cur >= w ? cur + 1 : w;
    } while (!__atomic_compare_exchange_n(&last, &cur, next, true,
                                          __ATOMIC_RELAXED,
                                          __ATOMIC_RELAXED));
    return next;
}

uint64_t hlc_now(void)
{
    uint64_t w = wall(), cur = __atomic_load_n(&last, __ATOMIC_RELAXED);

    return cur > w ? cur : w;
}

void hlc_observe(uint64_t version)
{
    uint64_t cur = __atomic_load_n(&last, __ATOMIC_RELAXED);

    if (version > HLC_MAX) {
        return;
    }
    while (cur < version &&
           !__atomic_compare_exchange_n(&last, &cur, version, true,
                                        __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
    }
}

int64_t hlc_unix_ms(uint64_t v)
{
    return (int64_t)(v >> HLC_LOGICAL_BITS) + HLC_EPOCH_UNIX * 1000;
}

void hlc_set_offset_ms(int64_t ms)
{
    __atomic_store_n(&offset_ms, ms, __ATOMIC_RELAXED);
}
