/*
 * tombstone: a bounded, expiring record of deleted keys (see tombstone.h).
 *
 * Buckets of TOMBSTONE_WAYS slots; a bucket is chosen by the key hash and
 * a slot within it by a linear scan (8 x 40 bytes: five cache lines;
 * the keys are on the heap). TOMBSTONE_SHARDS mutexes cover the buckets,
 * so the threads writing tombstones rarely meet. An empty slot has hash 0 (a key whose hash is 0
 * is stored as 1: the same collision argument as any other).
 */
#include "cache/tombstone.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "cache/item.h"
#include "cache/table.h"

#define TOMBSTONE_SHARDS 64
#define TOMBSTONE_NEXT_BUCKETS 1024  /* per tombstone_next call */

struct slot {
    uint64_t hash;
    uint64_t version;
    rel_time_t expires;
    uint8_t nkey;
    char *key;                    /* malloc'd copy, for tombstone_next */
};

static struct slot *slots;
static size_t nbuckets;           /* a power of two */
static unsigned ttl = TOMBSTONE_DEFAULT_TTL;
static pthread_mutex_t locks[TOMBSTONE_SHARDS];
static uint64_t recorded, dropped; /* atomic */

int tombstone_setup(size_t n, unsigned ttl_secs)
{
    size_t b = 1, i;

    while (b * TOMBSTONE_WAYS < n) {
        b *= 2;
    }
    slots = calloc(b * TOMBSTONE_WAYS, sizeof(*slots));
    if (slots == NULL) {
        return -1;
    }
    nbuckets = b;
    ttl = ttl_secs;
    for (i = 0; i < TOMBSTONE_SHARDS; i++) {
        pthread_mutex_init(&locks[i], NULL);
    }
    return 0;
}

void tombstone_teardown(void)
{
    size_t i;

    for (i = 0; slots != NULL && i < nbuckets * TOMBSTONE_WAYS; i++) {
        free(slots[i].key);
    }
    free(slots);
    slots = NULL;
    nbuckets = 0;
}

static uint64_t hash_of(const char *key, size_t nkey)
{
    uint64_t h = table_hash(key, nkey);

    return h != 0 ? h : 1;
}

static struct slot *bucket_of(uint64_t h, pthread_mutex_t **lock)
{
    size_t b = (size_t)(h >> 16) & (nbuckets - 1);  /* not the table's bits */

    *lock = &locks[b % TOMBSTONE_SHARDS];
    return &slots[b * TOMBSTONE_WAYS];
}

static bool live(const struct slot *s, rel_time_t now)
{
    return s->hash != 0 && s->expires > now;
}

void tombstone_put(const char *key, size_t nkey, uint64_t version)
{
    uint64_t h = hash_of(key, nkey);
    rel_time_t now = clock_now();
    pthread_mutex_t *lock;
    struct slot *b, *victim;
    char *copy;
    size_t i;

    if (slots == NULL || nkey == 0 || nkey > KEY_MAX_LENGTH) {
        return;
    }
    /* Copied before the lock; a tombstone without its key (no memory)
     * still refuses older copies, it only cannot be handed on. */
    copy = malloc(nkey);
    if (copy != NULL) {
        memcpy(copy, key, nkey);
    }
    b = bucket_of(h, &lock);
    __atomic_add_fetch(&recorded, 1, __ATOMIC_RELAXED);
    pthread_mutex_lock(lock);
    victim = &b[0];
    for (i = 0; i < TOMBSTONE_WAYS; i++) {
        if (b[i].hash == h) {
            victim = &b[i];
            if (live(victim, now) && victim->version > version) {
                version = victim->version;
            }
            break;
        }
        if (!live(&b[i], now)) {
            victim = &b[i];       /* free or expired: take it */
        } else if (live(victim, now) && b[i].expires < victim->expires) {
            victim = &b[i];
        }
    }
    if (victim->hash != h && live(victim, now)) {
        __atomic_add_fetch(&dropped, 1, __ATOMIC_RELAXED);
    }
    if (victim->hash == h && victim->key != NULL) {
        free(copy);               /* the same key: keep the copy held */
    } else {
        free(victim->key);
        victim->key = copy;
        victim->nkey = (uint8_t)nkey;
    }
    victim->hash = h;
    victim->version = version;
    victim->expires = now + ttl;
    pthread_mutex_unlock(lock);
}

size_t tombstone_next(size_t *cursor, struct tombstone_entry *out,
                      size_t max)
{
    rel_time_t now = clock_now();
    size_t n = 0, seen = 0;

    while (slots != NULL && *cursor < nbuckets && n + TOMBSTONE_WAYS <= max &&
           seen++ < TOMBSTONE_NEXT_BUCKETS) {
        pthread_mutex_t *lock = &locks[*cursor % TOMBSTONE_SHARDS];
        const struct slot *b = &slots[*cursor * TOMBSTONE_WAYS];
        size_t w;

        pthread_mutex_lock(lock);
        for (w = 0; w < TOMBSTONE_WAYS; w++) {
            if (live(&b[w], now) && b[w].key != NULL) {
                out[n].version = b[w].version;
                out[n].nkey = b[w].nkey;
                memcpy(out[n].key, b[w].key, b[w].nkey);
                n++;
            }
        }
        pthread_mutex_unlock(lock);
        (*cursor)++;
    }
    return n;
}

size_t tombstone_buckets(void)
{
    return nbuckets;
}

uint64_t tombstone_get(const char *key, size_t nkey)
{
    uint64_t h = hash_of(key, nkey), v = 0;
    rel_time_t now = clock_now();
    pthread_mutex_t *lock;
    struct slot *b;
    size_t i;

    if (slots == NULL) {
        return 0;
    }
    b = bucket_of(h, &lock);
    pthread_mutex_lock(lock);
    for (i = 0; i < TOMBSTONE_WAYS; i++) {
        if (b[i].hash == h && live(&b[i], now)) {
            v = b[i].version;
            break;
        }
    }
    pthread_mutex_unlock(lock);
    return v;
}

void tombstone_stats(struct tombstone_stats *out)
{
    rel_time_t now = clock_now();
    size_t i, n = 0;

    out->slots = nbuckets * TOMBSTONE_WAYS;
    /* A bucket at a time, under its lock: a few milliseconds for the
     * default size, and only for `stats cluster`. */
    for (i = 0; i < nbuckets; i++) {
        pthread_mutex_t *lock = &locks[i % TOMBSTONE_SHARDS];
        size_t w;

        pthread_mutex_lock(lock);
        for (w = 0; w < TOMBSTONE_WAYS; w++) {
            n += live(&slots[i * TOMBSTONE_WAYS + w], now);
        }
        pthread_mutex_unlock(lock);
    }
    out->live = n;
    out->recorded = __atomic_load_n(&recorded, __ATOMIC_RELAXED);
    out->dropped = __atomic_load_n(&dropped, __ATOMIC_RELAXED);
}
