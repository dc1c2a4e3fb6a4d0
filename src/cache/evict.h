/*
 * evict: CLOCK eviction over slab pages, and the expired-item sweep.
 *
 * There are no LRU lists. A hit sets ITEM_ACTIVE in the item (item.h); the
 * class's clock hand walks the class's pages chunk by chunk: an active item
 * gets its bit cleared and a second chance, an inactive unreferenced one is
 * unlinked. Expired and flushed items are taken first wherever the hand
 * finds them. Hands are per class, under a per-class mutex (only allocation
 * under memory pressure takes it; hits never do).
 *
 * Both functions unlink under an RCU read section and return the victims
 * still holding their table reference: the caller waits for a grace period
 * (synchronize_rcu) and then item_put()s them, so the memory is reusable
 * at once by the thread that needs it.
 */
#ifndef RC_CACHE_EVICT_H
#define RC_CACHE_EVICT_H

#include <stddef.h>

#include "cache/item.h"

#ifdef __cplusplus
extern "C" {
#endif

void evict_setup(void);

/* Unlinks up to max victims from class cls into out; returns how many. */
size_t evict_collect(unsigned cls, struct item **out, size_t max);

/* What one evict_crawl() call saw. */
struct evict_crawl_report {
    size_t visited;               /* chunks inspected */
    bool saw_ttl;                 /* a live item that will expire */
};

/* Sweeps up to max_chunks chunks from a cursor that walks all pages,
 * unlinking expired/flushed items into out (up to max; it stops early when
 * out is full). report may be NULL. */
size_t evict_crawl(size_t max_chunks, struct item **out, size_t max,
                   struct evict_crawl_report *report);

#ifdef __cplusplus
}
#endif
#endif
