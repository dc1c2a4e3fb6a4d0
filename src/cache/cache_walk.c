/*
 * cache_walk: a cursor over every live item (see cache.h), for the
 * rebalance, which must find the keys whose owners changed.
 *
 * It walks the slab pages as the crawler does (evict.c) rather than the
 * hash table: a cds_lfht iteration cannot be resumed across read sections
 * once the table grows, and a page cursor costs nothing to keep. A chunk
 * seen ITEM_LINKED inside the read section still holds its table
 * reference until a grace period after it is unlinked, so item_ref on it
 * is safe there (cache.c, the RCU rules).
 */
#include "cache/cache.h"
#include "cache/slab.h"

size_t cache_walk_chunks(void)
{
    size_t pages = slab_pages_used(), p, n = 0;

    for (p = 0; p < pages; p++) {
        n += slab_chunks_per_page(slab_page_class(p));
    }
    return n;
}

size_t cache_walk_next(struct cache_walk *w, size_t max_chunks,
                       struct item **out, size_t max)
{
    rel_time_t now = clock_now();
    size_t n = 0, pages;

    rcu_read_lock();
    pages = slab_pages_used();
    while (n < max && max_chunks > 0 && w->page < pages) {
        unsigned cls = slab_page_class(w->page);
        size_t size = slab_chunk_size(cls);
        size_t per = slab_chunks_per_page(cls);
        char *base = slab_page_base(w->page);

        for (; w->chunk < per && n < max && max_chunks > 0;
             w->chunk++, max_chunks--, w->visited++) {
            struct item *it = (struct item *)(base + w->chunk * size);

            if ((item_flags_load(it) & ITEM_LINKED) &&
                cache_item_live(it, now) && item_ref(it)) {
                out[n++] = it;
            }
        }
        if (w->chunk >= per) {
            w->page++;
            w->chunk = 0;
        }
    }
    w->done = w->page >= pages;
    rcu_read_unlock_annotated();
    return n;
}
