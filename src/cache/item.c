/*
 * item: allocation, reference counting and value access (see item.h).
 *
 * A chunked item's head is a chunk of the largest class: header, key, a table
 * of continuation chunks (also of the largest class), then as much of the
 * value as fits. Keeping every piece of a large item in one class matters
 * for eviction: the clock hand of the largest class finds the head (the
 * only linked piece) and evicting it frees all of the item's memory there.
 *
 *   head:  | header | key | cont[0..n-1] | value[0 .. inline) |
 *   cont:  | 32 zero bytes | value ... |
 *
 * Note that allocation here never evicts: it returns NULL and cache.c, which
 * owns the eviction and RCU policy, makes room and calls again.
 */
#include "cache/item.h"

#include "cache/slab.h"

/* Where a chunked value's bytes live. */
struct chunk_layout {
    size_t conts;                 /* continuation chunks */
    size_t inline_len;            /* value bytes in the head chunk */
};

static size_t cont_payload(void)
{
    return slab_chunk_size(slab_largest_class()) - ITEM_CHUNK_HDR;
}

static bool is_chunked(size_t nkey, uint32_t cflags, size_t nbytes)
{
    return slab_class_for(item_total_size(nkey, cflags, nbytes)) == 0;
}

/* Smallest number of continuation chunks that holds nbytes; false if the
 * key alone leaves no room (cannot happen with chunk sizes >= 1 KiB). */
static bool layout_for(size_t nkey, uint32_t cflags, size_t nbytes,
                       struct chunk_layout *out)
{
    size_t max = slab_chunk_size(slab_largest_class());
    size_t fixed = item_total_size(nkey, cflags, 0);
    size_t per = cont_payload();
    size_t n;

    if (fixed >= max) {
        return false;
    }
    /* Start near the answer: each continuation also costs a table slot. */
    n = nbytes > max - fixed ? (nbytes - (max - fixed)) / per : 0;
    for (;; n++) {
        size_t used = fixed + n * sizeof(void *);
        size_t inl;

        if (used >= max) {
            return false;
        }
        inl = max - used;
        if (inl + n * per >= nbytes) {
            out->conts = n;
            out->inline_len = inl < nbytes ? inl : nbytes;
            return true;
        }
    }
}

static void layout_of(const struct item *it, struct chunk_layout *out)
{
    layout_for(it->nkey, item_cflags(it), it->nbytes, out);
}

unsigned item_alloc_class(size_t nkey, uint32_t cflags, size_t nbytes)
{
    struct chunk_layout l;

    if (!is_chunked(nkey, cflags, nbytes)) {
        return slab_class_for(item_total_size(nkey, cflags, nbytes));
    }
    return layout_for(nkey, cflags, nbytes, &l) ? slab_largest_class() : 0;
}

size_t item_chunks_needed(size_t nkey, uint32_t cflags, size_t nbytes)
{
    struct chunk_layout l;

    if (!is_chunked(nkey, cflags, nbytes)) {
        return 1;
    }
    return layout_for(nkey, cflags, nbytes, &l) ? l.conts + 1 : 0;
}

bool item_size_fits(size_t nkey, uint32_t cflags, size_t nbytes)
{
    return item_alloc_class(nkey, cflags, nbytes) != 0;
}

/* The continuation table follows the key, so it is not 8-byte aligned:
 * entries are read and written with memcpy. */
static char *cont_table(const struct item *it)
{
    return item_key(it) + it->nkey;
}

static char *cont_get(const struct item *it, size_t i)
{
    char *p;

    memcpy(&p, cont_table(it) + i * sizeof(p), sizeof(p));
    return p;
}

static void cont_set(struct item *it, size_t i, char *p)
{
    memcpy(cont_table(it) + i * sizeof(p), &p, sizeof(p));
}

static char *inline_data(const struct item *it, const struct chunk_layout *l)
{
    return cont_table(it) + l->conts * sizeof(char *);
}

static void free_conts(const struct item *it, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        slab_free(cont_get(it, i));
    }
}

struct item *item_alloc(const char *key, size_t nkey, uint32_t cflags,
                        rel_time_t exptime, size_t nbytes)
{
    bool chunked = is_chunked(nkey, cflags, nbytes);
    unsigned cls = item_alloc_class(nkey, cflags, nbytes);
    struct chunk_layout l = { 0, 0 };
    struct item *it;

    if (cls == 0) {
        return NULL;
    }
    if (chunked) {
        layout_for(nkey, cflags, nbytes, &l);
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
    item_set_last_access(it, 0);
    /* Set flags last with release, so a sweeper that sees them sees a
     * whole header; ITEM_LINKED comes from cache.c just before the
     * insert (prepare_link). */
    __atomic_store_n(&it->iflags, (uint8_t)((cflags ? ITEM_CFLAGS : 0) |
                     (chunked ? ITEM_CHUNKED : 0)), __ATOMIC_RELEASE);
    if (cflags) {
        memcpy((char *)it + ITEM_HDR_SIZE + ITEM_SEQ_SIZE, &cflags, 4);
    }
    memcpy(item_key(it), key, nkey);
    if (chunked) {
        unsigned big = slab_largest_class();
        size_t i;

        for (i = 0; i < l.conts; i++) {
            char *cont = slab_alloc(big);

            if (cont == NULL) {
                free_conts(it, i);
                __atomic_store_n(&it->iflags, 0, __ATOMIC_RELEASE);
                slab_free(it);
                return NULL;
            }
            /* Zeroed flag byte: page sweepers skip continuations. */
            memset(cont, 0, ITEM_CHUNK_HDR);
            cont_set(it, i, cont);
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
        struct chunk_layout l;

        layout_of(it, &l);
        free_conts(it, l.conts);
    }
    /* Clear the flags so page sweepers see a free chunk. */
    __atomic_store_n(&it->iflags, 0, __ATOMIC_RELEASE);
    slab_free(it);
}

int item_segment_count(const struct item *it)
{
    struct chunk_layout l;

    if (!(item_flags_relaxed(it) & ITEM_CHUNKED)) {
        return 1;
    }
    layout_of(it, &l);
    return (int)l.conts + 1;
}

int item_segments(const struct item *it, struct iovec *iov, int max)
{
    struct chunk_layout l;
    size_t left, per, i;
    int n = 0;

    if (!(item_flags_relaxed(it) & ITEM_CHUNKED)) {
        iov[0].iov_base = item_data(it);
        iov[0].iov_len = it->nbytes;
        return 1;
    }
    layout_of(it, &l);
    iov[n].iov_base = inline_data(it, &l);
    iov[n].iov_len = l.inline_len;
    n++;
    left = it->nbytes - l.inline_len;
    per = cont_payload();
    for (i = 0; left > 0 && n < max; i++) {
        size_t len = left < per ? left : per;

        iov[n].iov_base = cont_get(it, i) + ITEM_CHUNK_HDR;
        iov[n].iov_len = len;
        left -= len;
        n++;
    }
    return n;
}

/* Copies the value's bytes [off, off+len) out of (or into) buf. */
static void value_walk(const struct item *it, size_t off, char *buf,
                       size_t len, bool out)
{
    struct chunk_layout l;
    size_t per;

    if (!(item_flags_relaxed(it) & ITEM_CHUNKED)) {
        if (out) {
            memcpy(buf, item_data(it) + off, len);
        } else {
            memcpy(item_data(it) + off, buf, len);
        }
        return;
    }
    layout_of(it, &l);
    per = cont_payload();
    while (len > 0) {
        char *p;
        size_t room;

        if (off < l.inline_len) {
            p = inline_data(it, &l) + off;
            room = l.inline_len - off;
        } else {
            size_t rel = off - l.inline_len;

            p = cont_get(it, rel / per) + ITEM_CHUNK_HDR + rel % per;
            room = per - rel % per;
        }
        if (room > len) {
            room = len;
        }
        if (out) {
            memcpy(buf, p, room);
        } else {
            memcpy(p, buf, room);
        }
        buf += room;
        off += room;
        len -= room;
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
