/*
 * gossip_broadcast: the transmit-limited queue (see gossip_broadcast.h).
 *
 * A sorted array of pointers: a new entry always sorts first (0 transmits,
 * newest), so pushing is one memmove; taking walks from the front, then
 * re-inserts the few taken entries by binary search. The array is at most
 * one entry per member, so memmove over it costs less than any tree would
 * in pointer chasing at the sizes a cluster has.
 */
#include "cluster/gossip_broadcast.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

void gossip_bqueue_init(struct gossip_bqueue *q)
{
    memset(q, 0, sizeof(*q));
}

void gossip_bqueue_deinit(struct gossip_bqueue *q)
{
    size_t i;

    for (i = 0; i < q->n; i++) {
        free(q->v[i]);
    }
    free(q->v);
    memset(q, 0, sizeof(*q));
}

static void drop_at(struct gossip_bqueue *q, size_t i)
{
    if (q->v[i]->tracked) {
        q->tracked--;
    }
    free(q->v[i]);
    memmove(&q->v[i], &q->v[i + 1], (q->n - i - 1) * sizeof(q->v[0]));
    q->n--;
}

/* True if a sorts before b. */
static bool before(const struct gossip_bcast *a, const struct gossip_bcast *b)
{
    if (a->transmits != b->transmits) {
        return a->transmits < b->transmits;
    }
    return a->id > b->id;
}

static void insert_sorted(struct gossip_bqueue *q, struct gossip_bcast *b)
{
    size_t lo = 0, hi = q->n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (before(q->v[mid], b)) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    memmove(&q->v[lo + 1], &q->v[lo], (q->n - lo) * sizeof(q->v[0]));
    q->v[lo] = b;
    q->n++;
}

int gossip_bqueue_push(struct gossip_bqueue *q, const char *name,
                       const uint8_t *msg, size_t len, bool tracked)
{
    uint64_t h = XXH3_64bits(name, strlen(name));
    struct gossip_bcast *b;
    size_t i;

    if (len > UINT16_MAX) {
        return -1;
    }
    for (i = 0; i < q->n; i++) {
        if (q->v[i]->hash == h && strcmp(q->v[i]->name, name) == 0) {
            drop_at(q, i);
            break;              /* invariant: at most one per member */
        }
    }
    if (q->n == q->cap) {
        size_t cap = q->cap ? q->cap * 2 : 32;
        struct gossip_bcast **v = realloc(q->v, cap * sizeof(*v));

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
    return 0;
}

size_t gossip_bqueue_take(struct gossip_bqueue *q, struct gossip_wbuf *w,
                          size_t avail, size_t max_parts, unsigned limit)
{
    struct gossip_bcast *taken[GOSSIP_WIRE_MAX_PARTS];
    size_t ntaken = 0, i, kept;

    if (max_parts > GOSSIP_WIRE_MAX_PARTS) {
        max_parts = GOSSIP_WIRE_MAX_PARTS;
    }
    for (i = 0; i < q->n && ntaken < max_parts; i++) {
        struct gossip_bcast *b = q->v[i];
        size_t need = GOSSIP_WIRE_PART_HDR + b->len;
        uint8_t hdr[2] = { (uint8_t)(b->len >> 8), (uint8_t)b->len };

        if (need > avail || w->cap - w->len < need) {
            continue;           /* a smaller one further on may fit */
        }
        memcpy(w->p + w->len, hdr, 2);
        memcpy(w->p + w->len + 2, b->msg, b->len);
        w->len += need;
        avail -= need;
        taken[ntaken++] = b;
        q->v[i] = NULL;
    }
    /* Close the holes, then put the taken entries back in order. */
    for (i = 0, kept = 0; i < q->n; i++) {
        if (q->v[i] != NULL) {
            q->v[kept++] = q->v[i];
        }
    }
    q->n = kept;
    for (i = 0; i < ntaken; i++) {
        struct gossip_bcast *b = taken[i];

        if (++b->transmits >= limit) {
            if (b->tracked) {
                q->tracked--;
            }
            free(b);
        } else {
            insert_sorted(q, b);
        }
    }
    return ntaken;
}
