/*
 * outq: a connection's queue of replies waiting to be written.
 *
 * Text is copied into 16 KiB output blocks whose addresses never move;
 * values are referenced in place in item memory, with the item's reference
 * held until the bytes are written. The queue is a vector of iovecs over
 * both, so a pipelined batch leaves in one writev. It has no socket of its
 * own: outq_flush() is handed a writev-like function, which is how the
 * unit test stops writes at every byte offset.
 *
 *   iov[0 .. sent)   written          (the first unsent one may be partly
 *   iov[sent .. chk) committed         written: head_off bytes of it)
 *   iov[chk .. n)    discardable
 *
 * Invariants:
 *  - iovecs are never changed by a partial write; the queue remembers how
 *    far into iov[sent] the socket took (head_off) and offsets a copy of
 *    it for the next writev. A checkpoint's saved length therefore always
 *    describes the iovec as it was queued.
 *  - Every flush moves the checkpoint to the end of the queue ("commits"
 *    it), so outq_discard() can only drop output that no write has seen:
 *    nothing sent, or partly sent, is ever dropped or re-sent.
 *  - pending bytes = queued - written, counting copied text and referenced
 *    values alike; the connection stops running requests while it is at or
 *    over its limit (conn.c), which is what bounds a slow reader.
 *  - A queue that never empties (a client reading about as fast as it
 *    asks) still holds only what is unwritten: once half its iovecs are
 *    written, a flush releases their items and blocks and moves the rest
 *    down, so the work is amortised O(1) per iovec.
 *
 * Holes: a reply that another node will send (a key routed to its owner)
 * reserves its place with outq_hole() and is put there later with
 * outq_fill(), while replies queued after it wait behind it: a flush
 * writes up to the first open hole and no further, so replies leave in
 * request order however late a peer answers. A filled hole's bytes live
 * in a buffer of their own, freed once written. A hole after the
 * checkpoint is dropped by outq_discard() like any other output; filling
 * a hole that is gone (or was never made) fails, and the caller drops
 * the late reply.
 *
 * An outq belongs to one connection and so to one worker thread; nothing
 * here is locked.
 */
#ifndef RC_NET_OUTQ_H
#define RC_NET_OUTQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

struct item;
struct outblock;
struct outfill;

struct outhole {
    uint64_t id;
    size_t iov;                   /* its iovec: empty until filled */
};

struct outq {
    struct iovec *iov;            /* queued output, as queued */
    size_t niov, iovcap;
    size_t iov_sent;              /* iovecs fully written */
    size_t head_off;              /* bytes of iov[iov_sent] written */
    struct item **held;           /* items whose values iov points into */
    size_t *held_end;             /* ...up to iov[held_end[i] - 1] */
    size_t nheld, heldcap;
    struct outblock *blocks, *last_block;
    uint64_t queued;              /* bytes queued since the last reset */
    uint64_t written;             /* ...and written */
    /* Open holes in queue order, and the filled ones' buffers. */
    struct outhole *holes;
    size_t nholes, holecap;
    uint64_t next_hole_id;
    struct outfill *fills;
    /* Checkpoint: what outq_discard() keeps. */
    size_t chk_niov, chk_lastlen, chk_nheld;
    const void *chk_lastbase;     /* iov[chk_niov - 1] then */
    uint64_t chk_queued;
    struct outblock *chk_block;   /* last_block then, and its fill */
    size_t chk_block_used;
    /* Response starts (iov indexes), kept only when with_marks (UDP);
     * mark_keep[i]: response i is sent even if it ends up empty. */
    bool with_marks;
    size_t *marks;
    uint8_t *mark_keep;
    size_t nmarks, markcap;
};

/* writev(2)'s contract: bytes written, or -1 with errno set. */
typedef ssize_t (*outq_writev_fn)(void *ctx, const struct iovec *iov,
                                  int iovcnt);

/* Caller-owned storage; with_marks records response starts (UDP). */
bool outq_init(struct outq *q, bool with_marks);
/* Drops everything (releasing held items) and frees the storage. */
void outq_deinit(struct outq *q);

/* Queues n bytes, copied. False if out of memory (queue unchanged). */
bool outq_copy(struct outq *q, const char *s, size_t n);
/* Queues the value of it, taking over the caller's reference. The value
 * is referenced in place unless the item already has ITEM_HOLD_LIMIT
 * references, in which case it is copied and the reference dropped at
 * once: so no number of slow readers can saturate an item's count and
 * make it invisible to everyone else. False if out of memory (the
 * reference is dropped either way). */
bool outq_value(struct outq *q, struct item *it);
/* A new response starts here (kept only with marks). */
void outq_mark(struct outq *q);
/* The current response is sent even if nothing is queued in it (UDP:
 * memcached's header-only datagram for a multi-get's first miss). */
void outq_mark_keep_empty(struct outq *q);

/* Marks what is queued so far as kept by outq_discard(). */
void outq_checkpoint(struct outq *q);
/* Drops what was queued after the checkpoint (or the last flush, which
 * checkpoints), releasing its items and output blocks. */
void outq_discard(struct outq *q);

/* Reserves the place of a reply that comes later; returns its id (never
 * 0), or 0 if out of memory (queue unchanged). */
uint64_t outq_hole(struct outq *q);
/* Puts n bytes (copied) in open hole id. False if there is no such hole
 * (discarded, reset, already filled) or out of memory; the hole stays
 * open in the latter case. */
bool outq_fill(struct outq *q, uint64_t id, const char *s, size_t n);
/* Open holes. */
static inline size_t outq_holes_open(const struct outq *q)
{
    return q->nholes;
}

/* Writes queued output with fn: 0 all written (the queue is reset for
 * reuse), 1 fn would block (EAGAIN), 2 written up to an open hole (wait
 * for outq_fill), -1 error (errno from fn). *written gets the bytes
 * written by this call. */
int outq_flush(struct outq *q, outq_writev_fn fn, void *ctx,
               size_t *written);
/* Drops everything queued, written or not (keeps one output block). */
void outq_reset(struct outq *q);

/* Bytes queued and not yet written. */
static inline uint64_t outq_pending(const struct outq *q)
{
    return q->queued - q->written;
}

/* Bytes of output blocks allocated (memory accounting, tests). */
size_t outq_block_bytes(const struct outq *q);

/* Whether anything is waiting to be written. */
static inline bool outq_empty(const struct outq *q)
{
    return q->iov_sent == q->niov;
}

#ifdef __cplusplus
}
#endif
#endif
