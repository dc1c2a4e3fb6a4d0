/*
 * clock: the server's notion of "now" in whole seconds, and memcached's
 * expiry-time conversion.
 *
 * Like memcached, time is kept as rel_time_t, seconds since a point just
 * before start-up, read from CLOCK_MONOTONIC so wall-clock jumps do not
 * expire or resurrect items. One thread (main) advances it once a second;
 * every other thread reads it with a relaxed atomic load. Tests may set it.
 */
#ifndef RC_UTIL_CLOCK_H
#define RC_UTIL_CLOCK_H

#include <stdint.h>
#include <time.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef uint32_t rel_time_t;

/* The relative time at start-up (0 means "never", 1 "already expired"). */
#define CLOCK_FIRST_SECOND 2

/* Longest exptime taken as relative (30 days); longer is a unix time. */
#define CLOCK_MAX_RELATIVE (60 * 60 * 24 * 30)

/* Starts the clock; call once before any other clock function. */
void clock_setup(void);

/* Re-reads the monotonic clock; called once a second by the main thread. */
void clock_update(void);

/* Current relative time in seconds. Any thread. */
rel_time_t clock_now(void);

/* Unix time at which relative time 0 was. */
time_t clock_started(void);

/* memcached's realtime(): client exptime (0 = never, <= 30 days relative,
 * larger = unix time, negative = already expired) to rel_time_t, where 0
 * means never expires. */
rel_time_t clock_expiry(int64_t exptime);

/* Test hook: moves the clock by delta seconds. */
void clock_advance(int32_t delta);

/* Test hook: from now on the clock moves only by clock_advance. A test
 * that asserts on second boundaries (stored at +0, gone at +10) must not
 * see an extra second because the real one ticked over while it ran. */
void clock_hold(void);

#ifdef __cplusplus
}
#endif
#endif
