/*
 * outq: a connection's reply queue (see outq.h).
 *
 * Note on the checkpoint: memcached drops the responses of a get that
 * fails part way (a key over 250 bytes) together with everything else it
 * has not transmitted, and it transmits whenever it runs out of input and
 * after every completed get. Here the equivalent boundaries are "the last
 * flush" and "the last outq_checkpoint()", whichever is later; because a
 * flush commits the whole queue, the checkpoint can never lie before a
 * byte the socket has taken.
 */
#include "net/outq.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cache/item.h"

#define OUTBLOCK_SIZE 16384       /* copied text; addresses are stable */
#define IOV_INITIAL 64
#define HELD_INITIAL 16
#define OUTQ_IOV_BATCH 1024       /* iovecs per writev (IOV_MAX) */

static char hole_mark;            /* an open hole's iovec base */

/* A filled hole's bytes; freed once its iovec is written. */
struct outfill {
    struct outfill *next;
    size_t iov;
    char data[];
};

struct outblock {
    struct outblock *next;
    size_t used;
    size_t cap;
    size_t iov_end;               /* iovecs up to here may point into it */
    char data[];
};

bool outq_init(struct outq *q, bool with_marks)
{
    memset(q, 0, sizeof(*q));
    q->with_marks = with_marks;
    q->iovcap = IOV_INITIAL;
    q->iov = malloc(q->iovcap * sizeof(*q->iov));
    q->heldcap = HELD_INITIAL;
    q->held = malloc(q->heldcap * sizeof(*q->held));
    q->held_end = malloc(q->heldcap * sizeof(*q->held_end));
    if (q->iov == NULL || q->held == NULL || q->held_end == NULL) {
        free(q->iov);
        free(q->held);
        free(q->held_end);
        return false;
    }
    return true;
}

static void free_blocks(struct outblock *b)
{
    while (b != NULL) {
        struct outblock *next = b->next;

        free(b);
        b = next;
    }
}

/* Frees the fills whose iovec is in [from, to) and moves the others'
 * indexes down by shift. */
static void release_fills(struct outq *q, size_t from, size_t to,
                          size_t shift)
{
    struct outfill **p = &q->fills;

    while (*p != NULL) {
        struct outfill *f = *p;

        if (f->iov >= from && f->iov < to) {
            *p = f->next;
            free(f);
        } else {
            f->iov -= shift;
            p = &f->next;
        }
    }
}

void outq_reset(struct outq *q)
{
    struct outblock *b = q->blocks;
    size_t i;

    release_fills(q, 0, SIZE_MAX, 0);
    q->nholes = 0;                /* their ids are never reused */
    for (i = 0; i < q->nheld; i++) {
        item_put(q->held[i]);
    }
    q->nheld = 0;
    q->niov = q->iov_sent = q->head_off = 0;
    q->nmarks = 0;                /* they indexed the iovecs just dropped */
    q->queued = q->written = 0;
    /* Keep one standard block for the next replies. */
    if (b != NULL && b->cap == OUTBLOCK_SIZE) {
        free_blocks(b->next);
        b->next = NULL;
        b->used = 0;
        q->last_block = b;
    } else {
        free_blocks(b);
        q->blocks = q->last_block = NULL;
    }
    outq_checkpoint(q);
}

void outq_deinit(struct outq *q)
{
    outq_reset(q);
    free_blocks(q->blocks);
    free(q->iov);
    free(q->held);
    free(q->held_end);
    free(q->marks);
    free(q->mark_keep);
    free(q->holes);
    memset(q, 0, sizeof(*q));
}

static bool iov_room(struct outq *q, size_t n)
{
    if (q->niov + n > q->iovcap) {
        size_t cap = q->iovcap * 2;
        struct iovec *grown;

        while (cap < q->niov + n) {
            cap *= 2;
        }
        grown = realloc(q->iov, cap * sizeof(*grown));
        if (grown == NULL) {
            return false;
        }
        q->iov = grown;
        q->iovcap = cap;
    }
    return true;
}

void outq_mark(struct outq *q)
{
    /* A response with nothing in it yet just goes on, unless it is to be
     * sent even empty: then it ends here, empty. */
    if (!q->with_marks ||
        (q->nmarks > 0 && q->marks[q->nmarks - 1] == q->niov &&
         !q->mark_keep[q->nmarks - 1])) {
        return;
    }
    if (q->nmarks == q->markcap) {
        size_t cap = q->markcap ? 2 * q->markcap : 64;
        size_t *grown = realloc(q->marks, cap * sizeof(*grown));
        uint8_t *keep;

        if (grown == NULL) {
            return;               /* responses merge; nothing is lost */
        }
        q->marks = grown;
        keep = realloc(q->mark_keep, cap);
        if (keep == NULL) {
            return;               /* marks grown, capacity not yet */
        }
        q->mark_keep = keep;
        q->markcap = cap;
    }
    q->mark_keep[q->nmarks] = 0;
    q->marks[q->nmarks++] = q->niov;
}

void outq_mark_keep_empty(struct outq *q)
{
    if (q->nmarks > 0) {
        q->mark_keep[q->nmarks - 1] = 1;
    }
}

/* Room for n bytes at the end of the last block (a new block if needed);
 * NULL if out of memory. */
static char *block_room(struct outq *q, size_t n)
{
    struct outblock *b = q->last_block;

    if (b == NULL || b->cap - b->used < n) {
        size_t cap = n > OUTBLOCK_SIZE ? n : OUTBLOCK_SIZE;
        struct outblock *nb;

        if (b != NULL && b->next != NULL) {
            /* Only after a discard rolled last_block back: its old
             * successors are free now. */
            free_blocks(b->next);
            b->next = NULL;
        }
        nb = malloc(sizeof(*nb) + cap);
        if (nb == NULL) {
            return NULL;
        }
        nb->next = NULL;
        nb->used = 0;
        nb->cap = cap;
        nb->iov_end = 0;
        if (b != NULL) {
            b->next = nb;
        } else {
            q->blocks = nb;
        }
        q->last_block = b = nb;
    }
    return b->data + b->used;
}

/* Appends dst[0..n) (already in the last block) to the queue. */
static bool append_iov(struct outq *q, char *dst, size_t n)
{
    /* Extend the previous iovec when this text directly follows it and
     * belongs to the same response (a mark at niov starts a new one). */
    if (q->niov > 0 &&
        (q->nmarks == 0 || q->marks[q->nmarks - 1] != q->niov) &&
        (char *)q->iov[q->niov - 1].iov_base + q->iov[q->niov - 1].iov_len ==
        dst) {
        q->iov[q->niov - 1].iov_len += n;
        return true;
    }
    if (!iov_room(q, 1)) {
        return false;
    }
    q->iov[q->niov].iov_base = dst;
    q->iov[q->niov].iov_len = n;
    q->niov++;
    return true;
}

bool outq_copy(struct outq *q, const char *s, size_t n)
{
    char *dst;

    if (n == 0) {
        return true;
    }
    dst = block_room(q, n);
    if (dst == NULL || !iov_room(q, 1)) {
        return false;
    }
    memcpy(dst, s, n);
    q->last_block->used += n;
    append_iov(q, dst, n);        /* cannot fail: room was made */
    q->last_block->iov_end = q->niov;
    q->queued += n;
    return true;
}

bool outq_value(struct outq *q, struct item *it)
{
    int segs;

    if (it->nbytes == 0) {
        item_put(it);             /* nothing to send */
        return true;
    }
    if (__atomic_load_n(&it->refcount, __ATOMIC_RELAXED) >=
        ITEM_HOLD_LIMIT) {
        /* Pinned by many holders already: send a copy instead. */
        char *dst = block_room(q, it->nbytes);
        bool ok = dst != NULL && iov_room(q, 1);

        if (ok) {
            item_copy_out(it, 0, dst, it->nbytes);
            q->last_block->used += it->nbytes;
            append_iov(q, dst, it->nbytes);
            q->last_block->iov_end = q->niov;
            q->queued += it->nbytes;
        }
        item_put(it);
        return ok;
    }
    segs = item_segment_count(it);
    if (!iov_room(q, (size_t)segs)) {
        item_put(it);
        return false;
    }
    if (q->nheld == q->heldcap) {
        struct item **grown = realloc(q->held, 2 * q->heldcap *
                                      sizeof(*grown));
        size_t *ends;

        if (grown == NULL) {
            item_put(it);
            return false;
        }
        q->held = grown;
        ends = realloc(q->held_end, 2 * q->heldcap * sizeof(*ends));
        if (ends == NULL) {
            item_put(it);
            return false;
        }
        q->held_end = ends;
        q->heldcap *= 2;
    }
    q->niov += (size_t)item_segments(it, q->iov + q->niov, segs);
    q->held_end[q->nheld] = q->niov;
    q->held[q->nheld++] = it;
    q->queued += it->nbytes;
    return true;
}

uint64_t outq_hole(struct outq *q)
{
    if (!iov_room(q, 1)) {
        return 0;
    }
    if (q->nholes == q->holecap) {
        size_t cap = q->holecap ? 2 * q->holecap : 16;
        struct outhole *grown = realloc(q->holes, cap * sizeof(*grown));

        if (grown == NULL) {
            return 0;
        }
        q->holes = grown;
        q->holecap = cap;
    }
    /* {&hole_mark, 0}: no text is ever merged into it (append_iov looks
     * for contiguous bytes, and nothing follows hole_mark), and flush
     * stops before it while it is open. An empty fill leaves it so. */
    q->iov[q->niov].iov_base = &hole_mark;
    q->iov[q->niov].iov_len = 0;
    q->holes[q->nholes].id = ++q->next_hole_id;
    q->holes[q->nholes].iov = q->niov++;
    return q->holes[q->nholes++].id;
}

bool outq_fill(struct outq *q, uint64_t id, const char *s, size_t n)
{
    struct outfill *f;
    size_t i;

    for (i = 0; i < q->nholes && q->holes[i].id != id; i++) {
    }
    if (i == q->nholes) {
        return false;
    }
    if (n > 0) {
        f = malloc(sizeof(*f) + n);
        if (f == NULL) {
            return false;
        }
        memcpy(f->data, s, n);
        f->iov = q->holes[i].iov;
        f->next = q->fills;
        q->fills = f;
        q->iov[f->iov].iov_base = f->data;
        q->iov[f->iov].iov_len = n;
        q->queued += n;
        if (f->iov < q->chk_niov) {
            q->chk_queued += n;   /* a discard keeps it: it is before */
        }
    }
    memmove(q->holes + i, q->holes + i + 1,
            (q->nholes - i - 1) * sizeof(*q->holes));
    q->nholes--;
    return true;
}

void outq_checkpoint(struct outq *q)
{
    q->chk_niov = q->niov;
    q->chk_lastlen = q->niov > 0 ? q->iov[q->niov - 1].iov_len : 0;
    q->chk_lastbase = q->niov > 0 ? q->iov[q->niov - 1].iov_base : NULL;
    q->chk_nheld = q->nheld;
    q->chk_queued = q->queued;
    q->chk_block = q->last_block;
    q->chk_block_used = q->last_block != NULL ? q->last_block->used : 0;
}

void outq_discard(struct outq *q)
{
    size_t i;

    for (i = q->chk_nheld; i < q->nheld; i++) {
        item_put(q->held[i]);
    }
    q->nheld = q->chk_nheld;
    q->niov = q->chk_niov;
    if (q->niov > 0 && q->iov[q->niov - 1].iov_base == q->chk_lastbase) {
        /* Text after the checkpoint may have been merged into it (not
         * so into a hole filled since, whose base has changed). */
        q->iov[q->niov - 1].iov_len = q->chk_lastlen;
    }
    while (q->nholes > 0 && q->holes[q->nholes - 1].iov >= q->niov) {
        q->nholes--;              /* dropped with what followed them */
    }
    release_fills(q, q->niov, SIZE_MAX, 0);  /* holes made after it */
    while (q->nmarks > 0 && q->marks[q->nmarks - 1] > q->niov) {
        q->nmarks--;
    }
    q->queued = q->chk_queued;
    /* Give back the block space the dropped text took; blocks after the
     * checkpoint's are freed when block_room next needs one. */
    if (q->chk_block != NULL) {
        q->last_block = q->chk_block;
        q->last_block->used = q->chk_block_used;
    } else if (q->blocks != NULL) {
        q->last_block = q->blocks;
        q->last_block->used = 0;
        free_blocks(q->blocks->next);
        q->blocks->next = NULL;
    }
}

/*
 * Gives back what a partial write finished with: items and blocks that
 * only written iovecs point into, and the written iovecs themselves. Runs
 * once at least half the iovecs are written, so what it moves is never
 * more than what was written since the last time.
 */
static void compact(struct outq *q)
{
    size_t shift = q->iov_sent, i, keep;
    struct outblock *b;

    if (shift == 0 || shift < q->niov - shift) {
        return;
    }
    for (i = 0; i < q->nheld && q->held_end[i] <= shift; i++) {
        item_put(q->held[i]);
    }
    keep = q->nheld - i;
    memmove(q->held, q->held + i, keep * sizeof(*q->held));
    memmove(q->held_end, q->held_end + i, keep * sizeof(*q->held_end));
    q->nheld = keep;
    for (i = 0; i < q->nheld; i++) {
        q->held_end[i] -= shift;
    }
    while (q->blocks != q->last_block && q->blocks->iov_end <= shift) {
        b = q->blocks;
        q->blocks = b->next;
        free(b);
    }
    for (b = q->blocks; b != NULL; b = b->next) {
        b->iov_end = b->iov_end > shift ? b->iov_end - shift : 0;
    }
    memmove(q->iov, q->iov + shift, (q->niov - shift) * sizeof(*q->iov));
    q->niov -= shift;
    q->iov_sent = 0;
    /* Marks are for UDP, which never writes in part; keep them right. */
    for (i = 0; i < q->nmarks; i++) {
        q->marks[i] = q->marks[i] > shift ? q->marks[i] - shift : 0;
    }
    for (i = 0; i < q->nholes; i++) {
        q->holes[i].iov -= shift;  /* open holes are never written */
    }
    release_fills(q, 0, shift, shift);
}

int outq_flush(struct outq *q, outq_writev_fn fn, void *ctx, size_t *written)
{
    *written = 0;
    /* Whatever happens now, nothing queued so far may be discarded. */
    outq_checkpoint(q);
    for (;;) {
        /* Nothing after an open hole leaves before it is filled. */
        size_t limit = q->nholes > 0 ? q->holes[0].iov : q->niov;
        size_t cnt = limit - q->iov_sent;
        struct iovec *head, saved;
        bool progress;
        ssize_t n;

        if (cnt == 0) {
            if (q->nholes == 0) {
                break;
            }
            compact(q);
            outq_checkpoint(q);
            return 2;
        }
        head = &q->iov[q->iov_sent];
        saved = *head;
        if (cnt > OUTQ_IOV_BATCH) {
            cnt = OUTQ_IOV_BATCH;
        }
        /* The queue keeps iovecs as queued: offset the head for this
         * call only. */
        head->iov_base = (char *)head->iov_base + q->head_off;
        head->iov_len -= q->head_off;
        n = fn(ctx, head, (int)cnt);
        *head = saved;
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                compact(q);
                outq_checkpoint(q);
                return 1;
            }
            return -1;
        }
        *written += (size_t)n;
        q->written += (uint64_t)n;
        /* Zero-length entries (empty values) are consumed as they come;
         * one left at the end would make writev return 0 forever. */
        progress = n > 0;
        while (q->iov_sent < limit) {
            size_t left = q->iov[q->iov_sent].iov_len - q->head_off;

            if ((size_t)n >= left) {
                n -= (ssize_t)left;
                q->iov_sent++;
                q->head_off = 0;
                progress = true;
            } else {
                q->head_off += (size_t)n;
                break;
            }
        }
        if (!progress) {
            compact(q);           /* took nothing: wait for writability */
            outq_checkpoint(q);
            return 1;
        }
    }
    outq_reset(q);
    return 0;
}

size_t outq_block_bytes(const struct outq *q)
{
    const struct outblock *b;
    size_t n = 0;

    for (b = q->blocks; b != NULL; b = b->next) {
        n += b->cap;
    }
    return n;
}
