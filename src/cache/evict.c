/*
 * evict: CLOCK hands over slab pages (see evict.h).
 *
 * Note that the hand reads chunks it does not own: a chunk may be free, being
 * filled, about to be inserted, linked, or just unlinked. ITEM_LINKED (read
 * with acquire) makes a chunk a candidate; it is set just before an item is
 * inserted and cleared by whoever removes it, never set again after that
 * (cache.c: prepare_link). Before unlinking, take() looks the item up: only
 * an item the table holds during our RCU read section is unlinked, because
 * only for such an item does the read section keep its memory from being
 * reused under us (its table reference is dropped a grace period after its
 * removal, which must wait for us). That also skips an item whose insert
 * has not happened yet, whose node cds_lfht_del must never see. table_del
 * fails if another thread unlinked it first, so a victim is retired
 * exactly once.
 */
#include "cache/evict.h"

#include <pthread.h>

#include "cache/cache.h"
#include "cache/slab.h"
#include "cache/table.h"

struct hand {
    pthread_mutex_t lock;
    size_t page;                  /* arena page index */
    size_t chunk;                 /* chunk index within the page */
};

static struct hand hands[SLAB_MAX_CLASSES];
static struct hand crawl_hand;

void evict_setup(void)
{
    unsigned i;

    for (i = 0; i < SLAB_MAX_CLASSES; i++) {
        pthread_mutex_init(&hands[i].lock, NULL);
        hands[i].page = 0;
        hands[i].chunk = 0;
    }
    pthread_mutex_init(&crawl_hand.lock, NULL);
}

/* Advances h to the next chunk of class cls (any class if cls == 0);
 * returns it, or NULL if no page of that class exists. */
static struct item *hand_next(struct hand *h, unsigned cls)
{
    size_t pages = slab_pages_used();
    size_t tried;

    for (tried = 0; tried <= pages; tried++) {
        if (h->page >= pages) {
            h->page = 0;
            h->chunk = 0;
        }
        unsigned pc = slab_page_class(h->page);
        if (pc != 0 && (cls == 0 || pc == cls)) {
            if (h->chunk < slab_chunks_per_page(pc)) {
                return (struct item *)(slab_page_base(h->page) +
                                       h->chunk++ * slab_chunk_size(pc));
            }
        }
        h->page++;
        h->chunk = 0;
    }
    return NULL;
}

/* Tries to unlink it; true if this thread did. Inside a read section. */
static bool take(struct item *it)
{
    const char *key = item_key(it);

    if (table_lookup(key, it->nkey, table_hash(key, it->nkey), NULL) != it) {
        return false;             /* not (or not yet) in the table */
    }
    if (!table_del(it)) {
        return false;
    }
    __atomic_and_fetch(&it->iflags, (uint8_t)~ITEM_LINKED, __ATOMIC_RELEASE);
    return true;
}

size_t evict_collect(unsigned cls, struct item **out, size_t max)
{
    struct hand *h = &hands[cls];
    struct slab_class_stats st;
    rel_time_t now = clock_now();
    size_t n = 0, budget;

    slab_stats(cls, &st);
    /* Two full turns: the first may only clear active bits. */
    budget = 2 * st.total_chunks + 1;
    pthread_mutex_lock(&h->lock);
    rcu_read_lock();
    while (n < max && budget-- > 0) {
        struct item *it = hand_next(h, cls);
        uint8_t f;

        if (it == NULL) {
            break;
        }
        f = item_flags_load(it);
        if (!(f & ITEM_LINKED)) {
            continue;
        }
        if (!cache_item_live(it, now)) {
            if (take(it)) {
                cache_retire(it, false, true);
                out[n++] = it;
            }
            continue;
        }
        if (f & ITEM_ACTIVE) {
            __atomic_and_fetch(&it->iflags, (uint8_t)~ITEM_ACTIVE,
                               __ATOMIC_RELAXED);
            continue;
        }
        if (__atomic_load_n(&it->refcount, __ATOMIC_ACQUIRE) != 1) {
            continue;             /* someone is reading or writing it */
        }
        if (take(it)) {
            cache_retire(it, true, false);
            out[n++] = it;
        }
    }
    rcu_read_unlock_annotated();
    pthread_mutex_unlock(&h->lock);
    return n;
}

size_t evict_crawl(size_t max_chunks, struct item **out, size_t max,
                   struct evict_crawl_report *report)
{
    rel_time_t now = clock_now();
    struct hand *h = &crawl_hand;
    struct evict_crawl_report local = { 0, false };
    size_t n = 0, pages;

    if (report == NULL) {
        report = &local;
    }
    report->visited = 0;
    report->saw_ttl = false;
    pthread_mutex_lock(&h->lock);
    rcu_read_lock();
    pages = slab_pages_used();
    /* Page by page: the class, and so the chunk geometry, is per page. */
    while (n < max && max_chunks > 0 && pages > 0) {
        unsigned cls;
        size_t size, per;
        char *base;

        if (h->page >= pages) {
            h->page = 0;
            h->chunk = 0;
        }
        cls = slab_page_class(h->page);
        size = slab_chunk_size(cls);
        per = slab_chunks_per_page(cls);
        base = slab_page_base(h->page);
        for (; h->chunk < per && n < max && max_chunks > 0;
             h->chunk++, max_chunks--) {
            struct item *it = (struct item *)(base + h->chunk * size);

            report->visited++;
            if (!(item_flags_load(it) & ITEM_LINKED)) {
                continue;
            }
            if (cache_item_live(it, now)) {
                if (item_exptime(it) != 0) {
                    report->saw_ttl = true;
                }
            } else if (take(it)) {
                cache_retire(it, false, true);
                out[n++] = it;
            }
        }
        if (h->chunk >= per) {
            h->page++;
            h->chunk = 0;
        }
    }
    rcu_read_unlock_annotated();
    pthread_mutex_unlock(&h->lock);
    return n;
}
