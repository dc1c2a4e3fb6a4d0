/*
 * gossip_broadcast: the transmit-limited queue (see gossip_broadcast.h).
 *
 * A sorted array of pointers: a new entry always sorts first (0 transmits,
 * newest), so pushing is one memmove; taking walks from the front, then
 * re-inserts the few taken entries by binary search. The array is at most
 * one entry per member, so memmove over it costs less than any tree would
 * in pointer chasing at the sizes a cluster has. Finding older news about
 * a member goes through a small hash index (linear probing, backward-shift
 * deletion), because after a partition every member has news queued.
 */
#include "cluster/gossip_broadcast.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#define TAKE_MIN_ROOM 16          /* below this no message fits */
#define TAKE_MAX_SKIPS 32         /* entries passed over for being big */

void gossip_bqueue_init(struct gossip_bqueue *q)
{
    memset(q, 0, sizeof(*q));
}

void gossip_bqueue_deinit(struct gossip_bqueue *q)
{
    size_t i;

    for (i = 0; i < q->n; i++) {
        free(q->v[i].b);
    }
    free(q->v);
    free(q->index);
    memset(q, 0, sizeof(*q));
}

/* The index slot holding news about name, or the empty slot for it. */
static size_t index_slot(const struct gossip_bqueue *q, uint64_t h,
                         const char *name)
{
    size_t s = (size_t)h & q->index_mask;

    while (q->index[s] != NULL && (q->index[s]->hash != h ||
                                   strcmp(q->index[s]->name, name) != 0)) {
        s = (s + 1) & q->index_mask;
    }
    return s;
}

static void index_remove(struct gossip_bqueue *q, struct gossip_bcast *b)
{
    size_t hole = index_slot(q, b->hash, b->name), s;

    q->index[hole] = NULL;
    for (s = (hole + 1) & q->index_mask; q->index[s] != NULL;
         s = (s + 1) & q->index_mask) {
        size_t home = (size_t)q->index[s]->hash & q->index_mask;

        if (((s - home) & q->index_mask) >= ((s - hole) & q->index_mask)) {
            q->index[hole] = q->index[s];
            q->index[s] = NULL;
            hole = s;
        }
    }
}

/* Keeps the index at most half full; false on out of memory. */
static bool index_reserve(struct gossip_bqueue *q, size_t n)
{
    size_t size = q->index_mask ? q->index_mask + 1 : 0, i;
    struct gossip_bcast **idx;

    if (2 * n <= size) {
        return true;
    }
    size = size ? size * 2 : 64;
    idx = calloc(size, sizeof(*idx));
    if (idx == NULL) {
        return false;
    }
    free(q->index);
    q->index = idx;
    q->index_mask = size - 1;
    for (i = 0; i < q->n; i++) {
        q->index[index_slot(q, q->v[i].b->hash, q->v[i].b->name)] =
            q->v[i].b;
    }
    return true;
}

static void forget(struct gossip_bqueue *q, struct gossip_bcast *b)
{
    if (b->tracked) {
        q->tracked--;
    }
    index_remove(q, b);
    free(b);
}


/* The order as one integer: fewer transmits first, then newer (larger id)
 * first. Kept next to the pointer so a binary search touches only the
 * array, not the entries. Ids stay below 2^48 (a million a second for
 * nine years). */
static uint64_t sort_key(const struct gossip_bcast *b)
{
    return (uint64_t)b->transmits << 48 | (((1ull << 48) - 1) - b->id);
}

/* Where b is, or would be inserted, in the sorted array. */
static size_t position_of(const struct gossip_bqueue *q,
                          const struct gossip_bcast *b)
{
    size_t lo = 0, hi = q->n;
    uint64_t key = sort_key(b);

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (q->v[mid].key < key) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}

static void insert_sorted(struct gossip_bqueue *q, struct gossip_bcast *b)
{
    size_t lo = position_of(q, b);

    memmove(&q->v[lo + 1], &q->v[lo], (q->n - lo) * sizeof(q->v[0]));
    q->v[lo].key = sort_key(b);
    q->v[lo].b = b;
    q->n++;
}

int gossip_bqueue_push(struct gossip_bqueue *q, const char *name,
                       const uint8_t *msg, size_t len, bool tracked)
{
    uint64_t h = XXH3_64bits(name, strlen(name));
    struct gossip_bcast *b, *old;
    size_t i;

    if (len > UINT16_MAX) {
        return -1;
    }
    if (!index_reserve(q, q->n + 1)) {
        return -1;
    }
    old = q->index[index_slot(q, h, name)];
    if (old != NULL) {
        /* Invariant: at most one entry per member. */
        i = position_of(q, old);
        memmove(&q->v[i], &q->v[i + 1], (q->n - i - 1) * sizeof(q->v[0]));
        q->n--;
        forget(q, old);
    }
    if (q->n == q->cap) {
        size_t cap = q->cap ? q->cap * 2 : 32;
        struct gossip_bentry *v = realloc(q->v, cap * sizeof(*v));

        if (v == NULL) {
            return -1;
        }
        q->v = v;
        q->cap = cap;
    }
    b = malloc(sizeof(*b) + len);
    if (b == NULL) {
        return -1;
    }
    b->id = ++q->next_id;
    b->hash = h;
    b->transmits = 0;
    b->len = (uint16_t)len;
    b->tracked = tracked;
    snprintf(b->name, sizeof(b->name), "%s", name);
    memcpy(b->msg, msg, len);
    if (tracked) {
        q->tracked++;
    }
    insert_sorted(q, b);
    q->index[index_slot(q, h, name)] = b;
    return 0;
}

size_t gossip_bqueue_take(struct gossip_bqueue *q, struct gossip_wbuf *w,
                          size_t avail, size_t max_parts, unsigned limit)
{
    struct gossip_bcast *taken[GOSSIP_WIRE_MAX_PARTS];
    size_t ntaken = 0, i, kept, skipped = 0;

    if (max_parts > GOSSIP_WIRE_MAX_PARTS) {
        max_parts = GOSSIP_WIRE_MAX_PARTS;
    }
    for (i = 0; i < q->n && ntaken < max_parts; i++) {
        struct gossip_bcast *b = q->v[i].b;
        size_t need = GOSSIP_WIRE_PART_HDR + b->len;
        uint8_t hdr[2] = { (uint8_t)(b->len >> 8), (uint8_t)b->len };

        if (avail > w->cap - w->len) {
            avail = w->cap - w->len;
        }
        if (need > avail) {
            /* A smaller one further on may fit, but a packet this full
             * is not worth a walk over the whole queue. */
            if (avail < TAKE_MIN_ROOM || ++skipped > TAKE_MAX_SKIPS) {
                break;
            }
            continue;
        }
        memcpy(w->p + w->len, hdr, 2);
        memcpy(w->p + w->len + 2, b->msg, b->len);
        w->len += need;
        avail -= need;
        taken[ntaken++] = b;
        q->v[i].b = NULL;
    }
    /* Close the holes, then put the taken entries back in order. */
    for (i = 0, kept = 0; i < q->n; i++) {
        if (q->v[i].b != NULL) {
            q->v[kept++] = q->v[i];
        }
    }
    q->n = kept;
    for (i = 0; i < ntaken; i++) {
        struct gossip_bcast *b = taken[i];

        if (++b->transmits >= limit) {
            forget(q, b);
        } else {
            insert_sorted(q, b);
        }
    }
    return ntaken;
}
