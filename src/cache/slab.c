/*
 * slab: chunk allocator over one reserved arena (see slab.h).
 *
 * Note that pages are carved from the arena with a bump pointer under one
 * lock; they are never returned, as in memcached without slab reassignment.
 * Like memcached, a class that has no page yet may take one even when the
 * limit has been reached, so every size stays storable; that is the fixed
 * overhead over -m documented in doc/architecture.md (at most one page per
 * class).
 */
#define _GNU_SOURCE
#include "cache/slab.h"

#include <pthread.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "util/log.h"

struct slab_class {
    pthread_mutex_t lock;
    size_t size;                  /* chunk size in bytes */
    size_t per_page;              /* chunks per page */
    void *free_list;              /* chunks linked through their first word */
    size_t free_count;
    size_t pages;
    uint64_t allocs;
    uint64_t frees;               /* atomic (written under lock) */
};

static struct {
    char *arena;                  /* reserved, page_size aligned */
    size_t arena_pages;           /* capacity in pages */
    size_t page_size;
    size_t mem_limit;
    unsigned largest;             /* highest class id */
    size_t pages_used;            /* atomic: pages handed out */
    size_t limit_pages;           /* pages allowed by -m */
    uint8_t *page_class;          /* page index -> class id */
    pthread_mutex_t grow_lock;
    struct slab_class cls[SLAB_MAX_CLASSES];
} slab;

static size_t align_up(size_t n, size_t a)
{
    return (n + a - 1) / a * a;
}

int slab_setup(const struct slab_options *o)
{
    size_t size = SLAB_MEMCACHED_HEADER + o->min_space;
    unsigned i = 0;
    size_t reserve;

    memset(&slab, 0, sizeof(slab));
    slab.page_size = o->page_size;
    slab.mem_limit = o->mem_limit;
    slab.limit_pages = o->mem_limit / o->page_size;
    if (slab.limit_pages == 0) {
        slab.limit_pages = 1;
    }
    pthread_mutex_init(&slab.grow_lock, NULL);

    /* The same walk as memcached's slabs_init(), so sizes match. */
    while (++i < SLAB_MAX_CLASSES - 1) {
        if ((double)size >= (double)o->chunk_max / o->factor) {
            break;
        }
        size = align_up(size, SLAB_CHUNK_ALIGN);
        slab.cls[i].size = size;
        slab.cls[i].per_page = o->page_size / size;
        size = (size_t)((double)size * o->factor);
    }
    slab.largest = i;
    slab.cls[i].size = o->chunk_max;
    slab.cls[i].per_page = o->page_size / o->chunk_max;
    for (i = 1; i <= slab.largest; i++) {
        pthread_mutex_init(&slab.cls[i].lock, NULL);
        LOG_AT(2, "slab class %3u: chunk size %9zu perslab %7zu\n", i,
               slab.cls[i].size, slab.cls[i].per_page);
    }

    /* Room for the limit plus one grace page per class. */
    slab.arena_pages = slab.limit_pages + slab.largest + 1;
    reserve = slab.arena_pages * o->page_size + o->page_size;
    slab.arena = mmap(NULL, reserve, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (slab.arena == MAP_FAILED) {
        fprintf(stderr, "failed to reserve %zu bytes for the cache: %m\n",
                reserve);
        slab.arena = NULL;
        return -1;
    }
    /* Align the arena to the page size so a page is found by a shift-free
     * division of the offset. */
    slab.arena = (char *)align_up((uintptr_t)slab.arena, o->page_size);
    slab.page_class = calloc(slab.arena_pages, 1);
    return slab.page_class ? 0 : -1;
}

void slab_teardown(void)
{
    /* The arena lives as long as the process; only the map is freed. */
    free(slab.page_class);
    slab.page_class = NULL;
}

unsigned slab_class_for(size_t size)
{
    unsigned i;

    if (size == 0) {
        return 0;
    }
    for (i = 1; i <= slab.largest; i++) {
        if (size <= slab.cls[i].size) {
            return i;
        }
    }
    return 0;
}

unsigned slab_largest_class(void)
{
    return slab.largest;
}

size_t slab_chunk_size(unsigned cls)
{
    return slab.cls[cls].size;
}

size_t slab_chunks_per_page(unsigned cls)
{
    return slab.cls[cls].per_page;
}

/* Takes a new page for class c if allowed. Called with c->lock held. */
static bool grow_locked(unsigned id, struct slab_class *c)
{
    size_t used, i;
    char *page;

    pthread_mutex_lock(&slab.grow_lock);
    used = slab.pages_used;
    if ((used >= slab.limit_pages && c->pages > 0) ||
        used >= slab.arena_pages) {
        pthread_mutex_unlock(&slab.grow_lock);
        return false;
    }
    page = slab.arena + used * slab.page_size;
    __atomic_store_n(&slab.page_class[used], (uint8_t)id, __ATOMIC_RELAXED);
    __atomic_store_n(&slab.pages_used, used + 1, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&slab.grow_lock);

    /* Thread the new chunks onto the free list in address order, so
     * allocation fills a page front to back. */
    for (i = c->per_page; i > 0; i--) {
        void *chunk = page + (i - 1) * c->size;
        *(void **)chunk = c->free_list;
        c->free_list = chunk;
    }
    c->free_count += c->per_page;
    c->pages++;
    return true;
}

void *slab_alloc(unsigned cls)
{
    struct slab_class *c = &slab.cls[cls];
    void *chunk = NULL;

    pthread_mutex_lock(&c->lock);
    if (c->free_list != NULL || grow_locked(cls, c)) {
        chunk = c->free_list;
        c->free_list = *(void **)chunk;
        c->free_count--;
        c->allocs++;
    }
    pthread_mutex_unlock(&c->lock);
    return chunk;
}

void slab_free(void *chunk)
{
    struct slab_class *c = &slab.cls[slab_class_of(chunk)];

    pthread_mutex_lock(&c->lock);
    *(void **)chunk = c->free_list;
    c->free_list = chunk;
    c->free_count++;
    __atomic_store_n(&c->frees, c->frees + 1, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&c->lock);
}

uint64_t slab_frees(unsigned cls)
{
    return __atomic_load_n(&slab.cls[cls].frees, __ATOMIC_RELAXED);
}

unsigned slab_class_of(const void *p)
{
    size_t page = (size_t)((const char *)p - slab.arena) / slab.page_size;

    return __atomic_load_n(&slab.page_class[page], __ATOMIC_RELAXED);
}

size_t slab_pages_used(void)
{
    return __atomic_load_n(&slab.pages_used, __ATOMIC_ACQUIRE);
}

unsigned slab_page_class(size_t page)
{
    return __atomic_load_n(&slab.page_class[page], __ATOMIC_RELAXED);
}

char *slab_page_base(size_t page)
{
    return slab.arena + page * slab.page_size;
}

void slab_stats(unsigned cls, struct slab_class_stats *out)
{
    struct slab_class *c = &slab.cls[cls];

    pthread_mutex_lock(&c->lock);
    out->chunk_size = c->size;
    out->chunks_per_page = c->per_page;
    out->total_pages = c->pages;
    out->total_chunks = c->pages * c->per_page;
    out->free_chunks = c->free_count;
    out->allocs = c->allocs;
    pthread_mutex_unlock(&c->lock);
}

size_t slab_mem_malloced(void)
{
    return slab_pages_used() * slab.page_size;
}

size_t slab_mem_limit(void)
{
    return slab.mem_limit;
}

bool slab_can_grow(void)
{
    return slab_pages_used() < slab.limit_pages;
}
