/*
 * item: allocation, reference counting and value access (see item.h).
 *
 * Note that allocation here never evicts: it returns NULL and cache.c, which
 * owns the eviction and RCU policy, makes room and calls again.
 */
#include "cache/item.h"

#include "cache/slab.h"

static size_t chunk_payload(void)
{
    return slab_chunk_size(slab_largest_class()) - ITEM_CHUNK_HDR;
}

static size_t chunks_needed(size_t nbytes)
{
    size_t per = chunk_payload();

    return (nbytes + per - 1) / per;
}

static size_t header_size(size_t nkey, uint32_t cflags, size_t nbytes)
{
    size_t plain = item_total_size(nkey, cflags, nbytes);

    if (slab_class_for(plain) != 0) {
        return plain;
    }
    return item_total_size(nkey, cflags, 0) + sizeof(void *) *
           chunks_needed(nbytes);
}

unsigned item_alloc_class(size_t nkey, uint32_t cflags, size_t nbytes)
{
    return slab_class_for(header_size(nkey, cflags, nbytes));
}

bool item_size_fits(size_t nkey, uint32_t cflags, size_t nbytes)
{
    return item_alloc_class(nkey, cflags, nbytes) != 0;
}

static char **chunk_table(const struct item *it)
{
    return (char **)(item_key(it) + it->nkey);
}

static void free_chunks(char **table, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        slab_free(table[i]);
    }
}

struct item *item_alloc(const char *key, size_t nkey, uint32_t cflags,
                        rel_time_t exptime, size_t nbytes)
{
    size_t hdr = header_size(nkey, cflags, nbytes);
    unsigned cls = slab_class_for(hdr);
    bool chunked = hdr != item_total_size(nkey, cflags, nbytes);
    struct item *it;

    if (cls == 0) {
        return NULL;
    }
    it = slab_alloc(cls);
    if (it == NULL) {
        return NULL;
    }
    cds_lfht_node_init(&it->node);
    it->refcount = 1;
    it->nkey = (uint8_t)nkey;
    it->nbytes = (uint32_t)nbytes;
    it->exptime = exptime;
    item_set_seq(it, 0);
    /* Set flags last with release, so a sweeper that sees them sees a
     * whole header; ITEM_LINKED comes only when the table has it. */
    __atomic_store_n(&it->iflags, (uint8_t)((cflags ? ITEM_CFLAGS : 0) |
                     (chunked ? ITEM_CHUNKED : 0)), __ATOMIC_RELEASE);
    if (cflags) {
        memcpy((char *)it + ITEM_HDR_SIZE + ITEM_SEQ_SIZE, &cflags, 4);
    }
    memcpy(item_key(it), key, nkey);
    if (chunked) {
        size_t n = chunks_needed(nbytes), i;
        char **table = chunk_table(it);
        unsigned big = slab_largest_class();

        for (i = 0; i < n; i++) {
            table[i] = slab_alloc(big);
            if (table[i] == NULL) {
                free_chunks(table, i);
                __atomic_store_n(&it->iflags, 0, __ATOMIC_RELEASE);
                slab_free(it);
                return NULL;
            }
            memset(table[i], 0, ITEM_CHUNK_HDR);
        }
    }
    return it;
}

bool item_ref(struct item *it)
{
    uint16_t n = __atomic_add_fetch(&it->refcount, 1, __ATOMIC_ACQUIRE);

    if (n >= ITEM_REFCOUNT_LIMIT) {
        item_put(it);
        return false;
    }
    return true;
}

void item_put(struct item *it)
{
    if (__atomic_sub_fetch(&it->refcount, 1, __ATOMIC_ACQ_REL) != 0) {
        return;
    }
    if (item_flags_relaxed(it) & ITEM_CHUNKED) {
        free_chunks(chunk_table(it), chunks_needed(it->nbytes));
    }
    /* Clear the flags so page sweepers see a free chunk. */
    __atomic_store_n(&it->iflags, 0, __ATOMIC_RELEASE);
    slab_free(it);
}

int item_segment_count(const struct item *it)
{
    if (!(item_flags_relaxed(it) & ITEM_CHUNKED)) {
        return 1;
    }
    return (int)chunks_needed(it->nbytes);
}

int item_segments(const struct item *it, struct iovec *iov, int max)
{
    size_t left = it->nbytes, per;
    char **table;
    int n = 0;

    if (!(item_flags_relaxed(it) & ITEM_CHUNKED)) {
        iov[0].iov_base = item_data(it);
        iov[0].iov_len = it->nbytes;
        return 1;
    }
    per = chunk_payload();
    table = chunk_table(it);
    while (left > 0 && n < max) {
        size_t len = left < per ? left : per;

        iov[n].iov_base = table[n] + ITEM_CHUNK_HDR;
        iov[n].iov_len = len;
        left -= len;
        n++;
    }
    return n;
}

/* Walks the value's bytes [off, off+len) calling copy on each piece. */
static void value_walk(const struct item *it, size_t off, char *buf,
                       size_t len, bool out)
{
    size_t per;
    char **table;

    if (!(item_flags_relaxed(it) & ITEM_CHUNKED)) {
        if (out) {
            memcpy(buf, item_data(it) + off, len);
        } else {
            memcpy(item_data(it) + off, buf, len);
        }
        return;
    }
    per = chunk_payload();
    table = chunk_table(it);
    while (len > 0) {
        size_t idx = off / per, in = off % per;
        size_t n = per - in < len ? per - in : len;
        char *p = table[idx] + ITEM_CHUNK_HDR + in;

        if (out) {
            memcpy(buf, p, n);
        } else {
            memcpy(p, buf, n);
        }
        buf += n;
        off += n;
        len -= n;
    }
}

void item_copy_out(const struct item *it, size_t off, void *dst, size_t len)
{
    value_walk(it, off, dst, len, true);
}

void item_copy_in(struct item *it, size_t off, const void *src, size_t len)
{
    value_walk(it, off, (char *)src, len, false);
}
