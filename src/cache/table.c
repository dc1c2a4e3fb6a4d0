/*
 * table: cds_lfht wrapper (see table.h).
 *
 * Note that the hash stored in the node is XXH3-64 of the key; cds_lfht
 * splits buckets by its bit-reversed value, so all 64 bits matter.
 *
 * The table is created with an explicit memory-management plugin (the one
 * cds_lfht_new would pick by itself) so that the prefetch hints can find a
 * bucket through the plugin's public bucket_at().
 */
#include "cache/table.h"

#include <xxhash.h>

#include "util/tsan.h"

static struct cds_lfht *table;
static const struct cds_lfht_mm_type *table_mm; /* bucket array layout */
static size_t buckets;            /* atomic: current bucket count */
static size_t max_buckets;

#define TABLE_MAX_POWER 32
#define TABLE_MIN_ITEM 48         /* no item is smaller than a 48-byte chunk */

int table_setup(unsigned hashpower, size_t mem_limit)
{
    size_t most_items = mem_limit / TABLE_MIN_ITEM;

    /* cds_lfht reserves address space for its largest size up front, so the
     * bound is what -m can hold at 1.5 items per bucket, not 2^32 (which
     * would reserve 64 GiB and fail under address-space limits). */
    buckets = (size_t)1 << hashpower;
    max_buckets = buckets;
    while (max_buckets + max_buckets / 2 < most_items &&
           max_buckets < ((size_t)1 << TABLE_MAX_POWER)) {
        max_buckets *= 2;
    }
    /* cds_lfht_new's own choice for this bound on 64-bit: one reserved
     * mapping, so bucket_at() is a plain index. */
    table_mm = sizeof(long) >= 8 ? &cds_lfht_mm_mmap : &cds_lfht_mm_order;
    table = _cds_lfht_new(buckets, buckets, max_buckets, 0, table_mm,
                          &rcu_flavor, NULL);
    return table ? 0 : -1;
}

void table_teardown(void)
{
    /* cds_lfht_destroy requires an empty table, and emptying it item by
     * item at exit is wasted work: the table stays (reachable, so leak
     * checkers do not count it) until the process ends. */
}

uint64_t table_hash(const char *key, size_t nkey)
{
    return XXH3_64bits(key, nkey);
}

struct match_key {
    const char *key;
    size_t nkey;
};

static int match(struct cds_lfht_node *node, const void *arg)
{
    const struct match_key *k = arg;
    struct item *it = caa_container_of(node, struct item, node);

    TSAN_ACQUIRE(it);             /* rcu_dereference inside cds_lfht */
    return it->nkey == k->nkey && memcmp(item_key(it), k->key, k->nkey) == 0;
}

static struct item *to_item(struct cds_lfht_node *node)
{
    if (node == NULL) {
        return NULL;
    }
    TSAN_ACQUIRE(caa_container_of(node, struct item, node));
    return caa_container_of(node, struct item, node);
}

struct item *table_lookup(const char *key, size_t nkey, uint64_t hash,
                          struct cds_lfht_iter *iter)
{
    struct match_key k = { key, nkey };
    struct cds_lfht_iter local;

    if (iter == NULL) {
        iter = &local;
    }
    cds_lfht_lookup(table, hash, match, &k, iter);
    return to_item(cds_lfht_iter_get_node(iter));
}

struct item *table_add_replace(struct item *it, uint64_t hash)
{
    TSAN_RELEASE(it);             /* rcu_assign_pointer inside cds_lfht */
    struct match_key k = { item_key(it), it->nkey };

    return to_item(cds_lfht_add_replace(table, hash, match, &k, &it->node));
}

bool table_replace(struct cds_lfht_iter *iter, struct item *it,
                   uint64_t hash)
{
    TSAN_RELEASE(it);             /* rcu_assign_pointer inside cds_lfht */
    struct match_key k = { item_key(it), it->nkey };

    return cds_lfht_replace(table, iter, hash, match, &k, &it->node) == 0;
}

struct item *table_add_unique(struct item *it, uint64_t hash)
{
    TSAN_RELEASE(it);             /* rcu_assign_pointer inside cds_lfht */
    struct match_key k = { item_key(it), it->nkey };
    struct cds_lfht_node *got;

    got = cds_lfht_add_unique(table, hash, match, &k, &it->node);
    return got == &it->node ? NULL : to_item(got);
}

bool table_del(struct item *it)
{
    return cds_lfht_del(table, &it->node) == 0;
}

/*
 * The bucket for hash among the first `buckets` ones. They are allocated
 * before `buckets` is raised and the table never shrinks, so this is
 * always mapped memory even while a resize runs (the index may then be
 * stale, which only makes the hint useless).
 */
static struct cds_lfht_node *bucket_of(uint64_t hash)
{
    size_t n = __atomic_load_n(&buckets, __ATOMIC_RELAXED);

    return table_mm->bucket_at(table, (unsigned long)(hash & (n - 1)));
}

void table_prefetch_bucket(uint64_t hash)
{
    __builtin_prefetch(bucket_of(hash), 0, 3);
}

void table_prefetch_chain(uint64_t hash)
{
    struct cds_lfht_node *b = bucket_of(hash);
    /* The first node after the bucket: the item a lookup of hash compares
     * first. Its low bits are cds_lfht flags. Items are never unmapped,
     * and a prefetch does not fault, so a node freed meanwhile is
     * harmless. */
    uintptr_t next = (uintptr_t)__atomic_load_n(&b->next, __ATOMIC_RELAXED);
    const char *node = (const char *)(next & ~(uintptr_t)7);

    if (node != NULL) {
        /* The header and the key that match() reads. (Also prefetching
         * the rest of a 100-byte value, which writev copies out, measured
         * no better.) */
        __builtin_prefetch(node, 0, 3);
        __builtin_prefetch(node + 64, 0, 3);
    }
}

size_t table_maybe_grow(size_t items)
{
    size_t cur = __atomic_load_n(&buckets, __ATOMIC_RELAXED);
    size_t want = cur;

    while (items > want + want / 2 && want < max_buckets) {
        want *= 2;
    }
    if (want != cur) {
        cds_lfht_resize(table, want);
        __atomic_store_n(&buckets, want, __ATOMIC_RELAXED);
    }
    return want;
}

size_t table_buckets(void)
{
    return __atomic_load_n(&buckets, __ATOMIC_RELAXED);
}
