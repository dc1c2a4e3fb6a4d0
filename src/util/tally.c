/*
 * tally: per-thread counter blocks (see tally.h).
 *
 * Note that blocks are few (one per thread that ever counted) and sums are
 * rare (`stats`), so a mutex-guarded list is all the structure needed.
 */
#include "util/tally.h"

#include <stdlib.h>
#include <string.h>

struct tally_block {
    struct tally_block *next;
    uint64_t counters[];
};

static void sum_into(uint64_t *out, const uint64_t *in, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        out[i] += __atomic_load_n(&in[i], __ATOMIC_RELAXED);
    }
}

void tally_init(struct tally *t, size_t count)
{
    pthread_mutex_init(&t->lock, NULL);
    t->count = count;
    t->blocks = NULL;
    t->retired = calloc(count, sizeof(uint64_t));
    t->baseline = calloc(count, sizeof(uint64_t));
}

uint64_t *tally_register(struct tally *t)
{
    struct tally_block *b = calloc(1, sizeof(*b) +
                                   t->count * sizeof(uint64_t));

    if (b == NULL) {
        abort();                  /* at thread start-up: nothing to undo */
    }
    pthread_mutex_lock(&t->lock);
    b->next = t->blocks;
    t->blocks = b;
    pthread_mutex_unlock(&t->lock);
    return b->counters;
}

void tally_unregister(struct tally *t, uint64_t *block)
{
    struct tally_block **p;

    pthread_mutex_lock(&t->lock);
    for (p = &t->blocks; *p != NULL; p = &(*p)->next) {
        if ((*p)->counters == block) {
            struct tally_block *b = *p;

            *p = b->next;
            sum_into(t->retired, b->counters, t->count);
            free(b);
            break;
        }
    }
    pthread_mutex_unlock(&t->lock);
}

static void sum_locked(struct tally *t, uint64_t *out)
{
    struct tally_block *b;

    memcpy(out, t->retired, t->count * sizeof(uint64_t));
    for (b = t->blocks; b != NULL; b = b->next) {
        sum_into(out, b->counters, t->count);
    }
}

void tally_sum(struct tally *t, uint64_t *out)
{
    size_t i;

    pthread_mutex_lock(&t->lock);
    sum_locked(t, out);
    for (i = 0; i < t->count; i++) {
        out[i] -= t->baseline[i];
    }
    pthread_mutex_unlock(&t->lock);
}

void tally_reset(struct tally *t, size_t first, size_t n)
{
    uint64_t *now = calloc(t->count, sizeof(uint64_t));
    size_t i;

    if (now == NULL) {
        return;
    }
    pthread_mutex_lock(&t->lock);
    sum_locked(t, now);
    for (i = first; i < first + n && i < t->count; i++) {
        t->baseline[i] = now[i];
    }
    pthread_mutex_unlock(&t->lock);
    free(now);
}
