/*
 * gossip_broadcast: the transmit-limited queue (see gossip_broadcast.h).
 *
 * A binary min-heap of (key, pointer) pairs, where the key orders by
 * transmits, then newest first; every entry knows its heap index, so news
 * that replaces an older entry about the same member removes that entry
 * from the middle of the heap in O(log n). Taking pops entries in key
 * order and pushes the taken (one more transmit) and the skipped (too big
 * for this packet) back afterwards, so the order is exactly that of a
 * sorted list. (It was a sorted array, whose insert moved the whole array:
 * a flood of fresh member names made every insert cost O(n).) Finding
 * older news about a member goes through a small hash index (linear
 * probing, backward-shift deletion), because after a partition every
 * member has news queued.
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

static void heap_set(struct gossip_bqueue *q, size_t i,
                     struct gossip_bentry e)
{
    q->v[i] = e;
    e.b->pos = i;
}

/* Moves the entry at i towards the root while it sorts before its parent;
 * returns where it ended up. */
static size_t heap_up(struct gossip_bqueue *q, size_t i)
{
    struct gossip_bentry e = q->v[i];

    while (i > 0 && e.key < q->v[(i - 1) / 2].key) {
        heap_set(q, i, q->v[(i - 1) / 2]);
        i = (i - 1) / 2;
    }
    heap_set(q, i, e);
    return i;
}

static void heap_down(struct gossip_bqueue *q, size_t i)
{
    struct gossip_bentry e = q->v[i];

    for (;;) {
        size_t c = 2 * i + 1;

        if (c >= q->n) {
            break;
        }
        if (c + 1 < q->n && q->v[c + 1].key < q->v[c].key) {
            c++;
        }
        if (q->v[c].key >= e.key) {
            break;
        }
        heap_set(q, i, q->v[c]);
        i = c;
    }
    heap_set(q, i, e);
}

/* Adds b (room for it must exist). */
static void heap_insert(struct gossip_bqueue *q, struct gossip_bcast *b)
{
    struct gossip_bentry e = { sort_key(b), b };

    q->v[q->n++] = e;
    heap_up(q, q->n - 1);
}

/* Takes the entry at i out of the heap. */
static void heap_remove(struct gossip_bqueue *q, size_t i)
{
    q->n--;
    if (i == q->n) {
        return;
    }
    q->v[i] = q->v[q->n];
    if (heap_up(q, i) == i) {
        heap_down(q, i);
    }
}

int gossip_bqueue_push(struct gossip_bqueue *q, const char *name,
                       const uint8_t *msg, size_t len, bool tracked)
{
    uint64_t h = XXH3_64bits(name, strlen(name));
    struct gossip_bcast *b, *old;

    if (len > UINT16_MAX) {
        return -1;
    }
    if (!index_reserve(q, q->n + 1)) {
        return -1;
    }
    old = q->index[index_slot(q, h, name)];
    if (old != NULL) {
        /* Invariant: at most one entry per member. */
        heap_remove(q, old->pos);
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
    heap_insert(q, b);
    q->index[index_slot(q, h, name)] = b;
    return 0;
}

size_t gossip_bqueue_take(struct gossip_bqueue *q, struct gossip_wbuf *w,
                          size_t avail, size_t max_parts, unsigned limit)
{
    struct gossip_bcast *taken[GOSSIP_WIRE_MAX_PARTS];
    struct gossip_bcast *passed[TAKE_MAX_SKIPS + 1];
    size_t ntaken = 0, npassed = 0, i;

    if (max_parts > GOSSIP_WIRE_MAX_PARTS) {
        max_parts = GOSSIP_WIRE_MAX_PARTS;
    }
    /* Pop in order; whatever is popped goes back in below, so the heap
     * never holds an entry twice and a skipped entry keeps its place. */
    while (q->n > 0 && ntaken < max_parts) {
        struct gossip_bcast *b = q->v[0].b;
        size_t need = GOSSIP_WIRE_PART_HDR + b->len;
        uint8_t hdr[2] = { (uint8_t)(b->len >> 8), (uint8_t)b->len };

        if (avail > w->cap - w->len) {
            avail = w->cap - w->len;
        }
        if (need > avail) {
            /* A smaller one further on may fit, but a packet this full
             * is not worth a walk over the whole queue. */
            if (avail < TAKE_MIN_ROOM || npassed == TAKE_MAX_SKIPS) {
                break;
            }
            heap_remove(q, 0);
            passed[npassed++] = b;
            continue;
        }
        heap_remove(q, 0);
        memcpy(w->p + w->len, hdr, 2);
        memcpy(w->p + w->len + 2, b->msg, b->len);
        w->len += need;
        avail -= need;
        taken[ntaken++] = b;
    }
    for (i = 0; i < npassed; i++) {
        heap_insert(q, passed[i]);
    }
    for (i = 0; i < ntaken; i++) {
        struct gossip_bcast *b = taken[i];

        if (++b->transmits >= limit) {
            forget(q, b);
        } else {
            heap_insert(q, b);
        }
    }
    return ntaken;
}
