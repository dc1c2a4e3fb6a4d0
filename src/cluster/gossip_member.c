/*
 * gossip_member: the member table (see gossip_member.h).
 *
 * The index keeps its load at or under one half, so probe sequences stay
 * short without tombstones: deletion shifts later entries of the same run
 * back (Knuth's algorithm R), which is why no slot is ever "deleted".
 */
#include "cluster/gossip_member.h"

#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#define MIN_SLOTS 16

static uint64_t name_hash(const char *name)
{
    return XXH3_64bits(name, strlen(name));
}

/* A slot holds the node and the top half of its name's hash, so a probe
 * that meets another name rejects it without touching that node, and a
 * hit costs one cache miss for the slot and one for the node. (The sim
 * runs a thousand tables at once, where every miss goes to DRAM.) */
static void slot_set(struct gossip_slot *s, struct gossip_node *n)
{
    s->tag = (uint32_t)(n->hash >> 32);
    s->node = n;
}

int gossip_members_init(struct gossip_members *t)
{
    memset(t, 0, sizeof(*t));
    t->slots = calloc(MIN_SLOTS, sizeof(*t->slots));
    if (t->slots == NULL) {
        return -1;
    }
    t->mask = MIN_SLOTS - 1;
    return 0;
}

void gossip_members_deinit(struct gossip_members *t)
{
    size_t i;

    for (i = 0; i < t->n; i++) {
        free((void *)t->v[i]->m.meta);
        free(t->v[i]);
    }
    free(t->v);
    free(t->slots);
    memset(t, 0, sizeof(*t));
}

/* The slot holding name, or the empty slot where it would go. */
static size_t slot_of(const struct gossip_members *t, uint64_t h,
                      const char *name)
{
    size_t s = (size_t)h & t->mask;

    while (t->slots[s].node != NULL) {
        if (t->slots[s].tag == (uint32_t)(h >> 32)) {
            const struct gossip_node *n = t->slots[s].node;

            if (n->hash == h && strcmp(n->m.name, name) == 0) {
                break;
            }
        }
        s = (s + 1) & t->mask;
    }
    return s;
}

struct gossip_node *gossip_members_find(const struct gossip_members *t,
                                        const char *name)
{
    uint64_t h = name_hash(name);
    size_t s = slot_of(t, h, name);

    return t->slots[s].node;
}

static void index_rebuild(struct gossip_members *t)
{
    size_t i;

    memset(t->slots, 0, (t->mask + 1) * sizeof(*t->slots));
    for (i = 0; i < t->n; i++) {
        size_t s = (size_t)t->v[i]->hash & t->mask;

        while (t->slots[s].node != NULL) {
            s = (s + 1) & t->mask;
        }
        slot_set(&t->slots[s], t->v[i]);
        t->v[i]->idx = (uint32_t)i;
    }
}

static int grow(struct gossip_members *t)
{
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        struct gossip_node **v = realloc(t->v, cap * sizeof(*v));

        if (v == NULL) {
            return -1;
        }
        t->v = v;
        t->cap = cap;
    }
    if ((t->n + 1) * 2 > t->mask + 1) {
        size_t nslots = (t->mask + 1) * 2;
        struct gossip_slot *slots = calloc(nslots, sizeof(*slots));

        if (slots == NULL) {
            return -1;
        }
        free(t->slots);
        t->slots = slots;
        t->mask = nslots - 1;
        index_rebuild(t);
    }
    return 0;
}

struct gossip_node *gossip_members_add(struct gossip_members *t,
                                       const char *name)
{
    struct gossip_node *node;
    size_t len = strlen(name);

    if (len == 0 || len > GOSSIP_NAME_MAX || grow(t) != 0) {
        return NULL;
    }
    node = calloc(1, sizeof(*node));
    if (node == NULL) {
        return NULL;
    }
    memcpy(node->m.name, name, len + 1);
    node->hash = name_hash(name);
    node->idx = (uint32_t)t->n;
    t->v[t->n++] = node;
    slot_set(&t->slots[slot_of(t, node->hash, name)], node);
    return node;
}

void gossip_members_remove(struct gossip_members *t, struct gossip_node *node)
{
    uint32_t idx = node->idx, last = (uint32_t)t->n - 1;
    size_t hole = slot_of(t, node->hash, node->m.name), s;

    /* Backward-shift deletion: pull later members of the run into the
     * hole when the hole lies on their probe path. */
    t->slots[hole].node = NULL;
    for (s = (hole + 1) & t->mask; t->slots[s].node != NULL;
         s = (s + 1) & t->mask) {
        size_t home = (size_t)t->slots[s].node->hash & t->mask;

        if (((s - home) & t->mask) >= ((s - hole) & t->mask)) {
            t->slots[hole] = t->slots[s];
            t->slots[s].node = NULL;
            hole = s;
        }
    }
    if (idx != last) {
        t->v[idx] = t->v[last];
        t->v[idx]->idx = idx;
    }
    t->n--;
    free((void *)node->m.meta);
    free(node);
}

int gossip_members_set_meta(struct gossip_node *node, const uint8_t *meta,
                            size_t len)
{
    uint8_t *copy = NULL;

    if (len > GOSSIP_META_MAX) {
        return -1;
    }
    if (len > 0) {
        copy = malloc(len);
        if (copy == NULL) {
            return -1;
        }
        memcpy(copy, meta, len);
    }
    free((void *)node->m.meta);
    node->m.meta = copy;
    node->m.meta_len = (uint8_t)len;
    return 0;
}

void gossip_members_shuffle(struct gossip_members *t, struct gossip_rand *r)
{
    size_t i;

    for (i = t->n; i > 1; i--) {
        size_t j = (size_t)gossip_rand_below(r, i);
        struct gossip_node *tmp = t->v[i - 1];

        t->v[i - 1] = t->v[j];
        t->v[j] = tmp;
        t->v[i - 1]->idx = (uint32_t)(i - 1);
        t->v[j]->idx = (uint32_t)j;
    }
}

void gossip_members_swap(struct gossip_members *t, size_t i, size_t j)
{
    struct gossip_node *a = t->v[i];

    /* The index points at nodes, not positions: nothing else to fix. */
    t->v[i] = t->v[j];
    t->v[j] = a;
    t->v[i]->idx = (uint32_t)i;
    t->v[j]->idx = (uint32_t)j;
}
