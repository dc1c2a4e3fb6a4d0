/*
 * hlc: the cluster's version clock, a hybrid logical clock packed into
 * the 48 bits an item keeps for its CAS (cache/item.h).
 *
 * A version is (milliseconds since HLC_EPOCH_UNIX) << HLC_LOGICAL_BITS,
 * plus a counter in the low bits. hlc_next() returns a value above every
 * value this node has issued or observed and at least the wall clock's, so
 * a write that causally follows another through the cluster (the second
 * node saw the first version, by replication or migration, before it
 * wrote) always gets a larger version, whatever the two wall clocks say.
 * Writes that are not causally related are ordered by wall clock, to the
 * skew between the nodes: last writer wins.
 *
 * When more than 2^HLC_LOGICAL_BITS versions are issued in one
 * millisecond the counter carries into the milliseconds: the clock runs
 * ahead of the wall clock for as long as that rate lasts, which keeps it
 * monotonic at the price of skew. 1,024 per millisecond is a million
 * writes a second on one node.
 *
 * Range: 38 bits of milliseconds from 2026-01-01 last until 2034-09; past
 * that versions would wrap (not checked, like the CAS counter's limit).
 *
 * Any thread; one atomic word.
 */
#ifndef RC_UTIL_HLC_H
#define RC_UTIL_HLC_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HLC_LOGICAL_BITS 10
#define HLC_EPOCH_UNIX INT64_C(1767225600)   /* 2026-01-01T00:00:00Z */
#define HLC_MAX ((UINT64_C(1) << 48) - 1)

/* A version above every one issued or observed here. */
uint64_t hlc_next(void);
/* The largest version issued or observed here, or the wall clock's if
 * that is larger; issues nothing. */
uint64_t hlc_now(void);
/* Another node's version: later hlc_next() values are above it. Values
 * above HLC_MAX are ignored (a corrupt peer cannot stop the clock). */
void hlc_observe(uint64_t version);
/* The wall-clock part of v, in unix milliseconds (for stats and logs). */
int64_t hlc_unix_ms(uint64_t v);

/* Test and fault-injection hook: the wall clock this node reads is moved
 * by offset_ms (an hour ahead: 3600000). */
void hlc_set_offset_ms(int64_t offset_ms);

#ifdef __cplusplus
}
#endif
#endif
