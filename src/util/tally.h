/*
 * tally: per-thread counters, summed on demand.
 *
 * Each thread registers a block of 64-bit counters that only it writes
 * (TALLY_ADD: a relaxed load and store, no locked instruction on the hot
 * path); a reader sums every block with relaxed loads. A thread's block is
 * folded into a retired total when it unregisters, and a reset records a
 * baseline instead of writing other threads' counters. Signed quantities
 * (deltas that may go negative in one thread) sum correctly as two's
 * complement.
 */
#ifndef RC_UTIL_TALLY_H
#define RC_UTIL_TALLY_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct tally_block;

struct tally {
    pthread_mutex_t lock;         /* guards the block list and totals */
    size_t count;                 /* counters per block */
    struct tally_block *blocks;   /* live threads' blocks */
    uint64_t *retired;            /* sum of unregistered blocks */
    uint64_t *baseline;           /* subtracted by tally_sum (reset) */
};

/* Adds v to counter field of a block owned by the calling thread. */
#define TALLY_ADD(block, field, v)                                        \
    __atomic_store_n(&(block)->field, (block)->field + (v), __ATOMIC_RELAXED)

/* Statically or once-initialised registry of `count` counters. */
void tally_init(struct tally *t, size_t count);
/* Registers the calling thread; returns its zeroed block of counters. */
uint64_t *tally_register(struct tally *t);
/* Folds the block into the retired total and frees it. */
void tally_unregister(struct tally *t, uint64_t *block);
/* out[i] = sum of counter i over all blocks, minus the reset baseline. */
void tally_sum(struct tally *t, uint64_t *out);
/* Makes counters [first, first + n) read zero from now on. */
void tally_reset(struct tally *t, size_t first, size_t n);

#ifdef __cplusplus
}
#endif
#endif
