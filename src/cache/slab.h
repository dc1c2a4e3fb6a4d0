/*
 * slab: fixed-size chunk allocator bounded by -m.
 *
 * Memory is one virtual arena reserved at start-up and handed out in pages
 * (-I sized, 1 MiB by default) as classes need them; nothing is touched, so
 * nothing counts in RSS, until a page is used. Each page belongs to one
 * class, and a page's class is found from its address, so chunks carry no
 * class id. Class sizes follow memcached's formula (-n, -f, slab_chunk_max),
 * so `stats slabs` reports the same chunk sizes as memcached does.
 *
 *   arena: | page 0 (cls 3) | page 1 (cls 1) | page 2 (cls 3) | ... unused
 *   page:  | chunk | chunk | chunk | ... | slack < chunk size |
 *
 * Free chunks of a class are kept on a list threaded through their first
 * 8 bytes, under a per-class mutex. The rest of the chunk is left as it was,
 * so a sweeper reading a free chunk's flag byte sees "not linked".
 * Thread safety: all functions may be called from any thread.
 */
#ifndef RC_CACHE_SLAB_H
#define RC_CACHE_SLAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SLAB_MAX_CLASSES 64       /* class ids 1..63, as memcached */
#define SLAB_CHUNK_ALIGN 8
/* memcached's item header size, used only to compute class sizes the way
 * memcached does (its smallest chunk is this plus -n). */
#define SLAB_MEMCACHED_HEADER 48

struct slab_options {
    size_t mem_limit;             /* -m in bytes */
    size_t page_size;             /* -I: slab page size */
    size_t chunk_max;             /* largest chunk (slab_chunk_max) */
    size_t min_space;             /* -n */
    double factor;                /* -f */
};

struct slab_class_stats {
    size_t chunk_size;
    size_t chunks_per_page;
    size_t total_pages;
    size_t total_chunks;
    size_t free_chunks;
    uint64_t allocs;              /* successful slab_alloc calls */
};

/* Reserves the arena and computes classes. Returns 0, or -1 with a message
 * on stderr (e.g. the arena cannot be reserved). */
int slab_setup(const struct slab_options *opts);
void slab_teardown(void);

/* Smallest class whose chunks hold size bytes; 0 if none does. */
unsigned slab_class_for(size_t size);
/* The largest class id (its chunks are chunk_max bytes). */
unsigned slab_largest_class(void);
size_t slab_chunk_size(unsigned cls);
size_t slab_chunks_per_page(unsigned cls);

/* Takes a chunk of class cls, growing the class by a page if the limit
 * allows. NULL if the class is full and no page is left: evict and retry. */
void *slab_alloc(unsigned cls);
/* Returns a chunk to its class. */
void slab_free(void *chunk);

/* Chunks ever returned to class cls: a store that found the class full
 * and nothing to evict knows memory came back when this moves. Any
 * thread, no lock. */
uint64_t slab_frees(unsigned cls);

/* Class of the page that holds p (p must be a chunk from slab_alloc). */
unsigned slab_class_of(const void *p);

/* Sweeper access: pages handed out so far, and each page's class and base.
 * A page never changes class or moves, so these need no lock. */
size_t slab_pages_used(void);
unsigned slab_page_class(size_t page);
char *slab_page_base(size_t page);

void slab_stats(unsigned cls, struct slab_class_stats *out);
size_t slab_mem_malloced(void);   /* bytes of pages handed out */
size_t slab_mem_limit(void);
/* Whether any page remains under the limit (class growth possible). */
bool slab_can_grow(void);

#ifdef __cplusplus
}
#endif
#endif
