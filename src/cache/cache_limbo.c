/*
 * cache_limbo: where a thread's retired items wait for an RCU grace
 * period (cache_internal.h). An item removed from the table may still be
 * read by threads inside read-side sections, so its table reference is
 * dropped only after a grace period: each thread collects its retired
 * items in a limbo of CACHE_LIMBO_CAP and hands a full one (or whatever
 * it has, at cache_quiesce) to call_rcu. cache_alloc.c takes a thread's
 * own limbo back when it needs memory now, and waits for the batches
 * already handed over before it evicts anything live (the per-class
 * count below tells it whether that is worth a wait).
 */
#include "cache/cache.h"
#include "cache/cache_internal.h"

#include <stdlib.h>

#include "cache/item.h"
#include "cache/slab.h"
#include "util/tsan.h"

struct limbo {
    struct rcu_head head;
    unsigned n;
    struct item *items[CACHE_LIMBO_CAP];
};

/* For TSan only: "every call_rcu callback so far has run". limbo_release
 * releases it when done, and whoever returns from rcu_barrier() acquires
 * it; liburcu's own wait is invisible to TSan (util/tsan.h). */
int tsan_barrier_token;

static __thread struct limbo *self_limbo;
/* atomic: chunks of each class in limbos handed to call_rcu and not yet
 * released (cache_retired_chunks) */
static uint64_t retired_chunks[SLAB_MAX_CLASSES];

void cache_limbo_thread_init(void)
{
    self_limbo = calloc(1, sizeof(*self_limbo));
}

void cache_limbo_thread_fini(void)
{
    free(self_limbo);
    self_limbo = NULL;
}

size_t cache_limbo_take(struct item **out)
{
    struct limbo *l = self_limbo;
    size_t n = l->n, i;

    for (i = 0; i < n; i++) {
        out[i] = l->items[i];
    }
    l->n = 0;
    return n;
}

bool cache_limbo_empty(void)
{
    return self_limbo->n == 0;
}

void cache_limbo_push(struct item *it)
{
    self_limbo->items[self_limbo->n++] = it;
    if (self_limbo->n == CACHE_LIMBO_CAP) {
        cache_quiesce();
    }
}

size_t cache_retired_chunks(unsigned cls)
{
    return cls < SLAB_MAX_CLASSES
           ? (size_t)__atomic_load_n(&retired_chunks[cls], __ATOMIC_RELAXED)
           : 0;
}

/* Adds l's items' chunks to retired_chunks, or takes them away. */
static void limbo_count(const struct limbo *l, bool add)
{
    unsigned i;

    for (i = 0; i < l->n; i++) {
        const struct item *it = l->items[i];
        uint32_t cf = (item_flags_relaxed(it) & ITEM_CFLAGS) ? 1 : 0;
        unsigned cls = item_alloc_class(it->nkey, cf, it->nbytes);
        uint64_t n = item_chunks_needed(it->nkey, cf, it->nbytes);

        if (cls == 0 || cls >= SLAB_MAX_CLASSES) {
            continue;
        }
        if (add) {
            __atomic_add_fetch(&retired_chunks[cls], n, __ATOMIC_RELAXED);
        } else {
            __atomic_sub_fetch(&retired_chunks[cls], n, __ATOMIC_RELAXED);
        }
    }
}

static void limbo_release(struct rcu_head *head)
{
    struct limbo *l = caa_container_of(head, struct limbo, head);
    unsigned i;

    TSAN_ACQUIRE(&tsan_grace_token); /* a grace period has passed */
    TSAN_ACQUIRE(l);                 /* handed over by call_rcu */
    limbo_count(l, false);
    for (i = 0; i < l->n; i++) {
        item_put(l->items[i]);
    }
    free(l);
    TSAN_RELEASE(&tsan_barrier_token); /* done: rcu_barrier waits for us */
}

void cache_quiesce(void)
{
    struct limbo *l = self_limbo;

    if (l->n == 0) {
        return;
    }
    self_limbo = calloc(1, sizeof(*self_limbo));
    limbo_count(l, true);
    TSAN_RELEASE(l);
    call_rcu(&l->head, limbo_release);
}
