/*
 * cache_rmw: the read-modify-write commands: incr/decr (cache_delta),
 * append/prepend, and meta delete (cache_mdelete).
 *
 * Each one reads the current item with a reference, builds a complete new
 * item beside it, and swaps it in against exactly the node it read
 * (cache_swap_exact). If another writer won meanwhile the swap fails and
 * the command starts again from the then-current item, so there is no lost
 * update and no lock. Linking, unlinking, stats and retirement are
 * cache.c's (cache_internal.h); nothing here touches RCU directly.
 */
#include "cache/cache_internal.h"

#include <stdlib.h>
#include <string.h>

#include "cache/table.h"
#include "util/numparse.h"

#define INCR_MAX_STORAGE 24       /* room for a u64 in decimal */

/* Builds old's value with data appended or prepended; NULL if no memory. */
static struct item *concat(struct item *old, struct item *data, bool append)
{
    struct item *it;
    size_t on = old->nbytes, dn = data->nbytes;
    char buf[4096];
    size_t off;

    if (cache_alloc(item_key(old), old->nkey, item_cflags(old),
                    item_exptime(old), on + dn, &it) != CACHE_OK) {
        return NULL;
    }
    /* Copy through a bounce buffer: either side may be chunked. */
    for (off = 0; off < on + dn; ) {
        size_t n = on + dn - off < sizeof(buf) ? on + dn - off : sizeof(buf);
        size_t first = append ? on : dn;
        struct item *a = append ? old : data, *b = append ? data : old;
        size_t i = 0;

        while (i < n) {
            size_t pos = off + i, take;

            if (pos < first) {
                take = first - pos < n - i ? first - pos : n - i;
                item_copy_out(a, pos, buf + i, take);
            } else {
                take = n - i;
                item_copy_out(b, pos - first, buf + i, take);
            }
            i += take;
        }
        item_copy_in(it, off, buf, n);
        off += n;
    }
    return it;
}

enum cache_status cache_store_concat(struct item *it, bool append,
                                     uint64_t cas, uint64_t hash,
                                     struct cache_change *how)
{
    for (;;) {
        struct item *old = cache_get_ref(item_key(it), it->nkey, hash, false);
        struct item *fresh;
        bool ok;

        if (old == NULL) {
            return CACHE_NOT_STORED;
        }
        /* memcached checks a CAS given with append/prepend (binary, meta). */
        if (cas != 0 && cache_item_cas(old) != cas) {
            item_put(old);
            return CACHE_EXISTS;
        }
        fresh = concat(old, it, append);
        if (fresh == NULL) {
            item_put(old);
            return CACHE_NOT_STORED;
        }
        ok = cache_swap_exact(old, fresh, hash);
        if (ok) {
            how->base = item_seq(old);
            how->version = item_seq(fresh);
            how->item = fresh;    /* the caller's reference now */
            item_put(old);
            return CACHE_STORED;
        }
        item_put(old);
        item_put(fresh);
    }
}

/* Parses an item's value as memcached's incr does; false if not a number. */
static bool value_number(const struct item *it, uint64_t *v)
{
    char small[64];
    char *buf = small;
    bool ok;

    if (it->nbytes == 0 || (item_flags_relaxed(it) & ITEM_CHUNKED)) {
        return false;
    }
    if (it->nbytes + 2 > sizeof(small)) {
        buf = malloc(it->nbytes + 2);
        if (buf == NULL) {
            return false;
        }
    }
    item_copy_out(it, 0, buf, it->nbytes);
    /* memcached parses up to the stored "\r\n", which counts as space. */
    buf[it->nbytes] = '\r';
    buf[it->nbytes + 1] = '\0';
    ok = num_parse_u64(buf, v);
    if (buf != small) {
        free(buf);
    }
    return ok;
}

/* Creates key with req->initial for an incr/decr miss (binary, meta). */
static enum cache_status delta_create(const char *key, size_t nkey,
                                      const struct cache_delta_req *req,
                                      struct cache_delta_res *res)
{
    struct item *it;
    enum cache_status st;

    res->len = (size_t)num_format_u64(req->initial, res->text);
    st = cache_alloc(key, nkey, 0, req->create_exptime, res->len, &it);
    if (st != CACHE_OK) {
        return CACHE_NO_MEMORY;
    }
    item_copy_in(it, 0, res->text, res->len);
    st = cache_store(it, CACHE_ADD, 0, &res->cas);
    res->exptime = item_exptime(it);
    item_put(it);
    if (st != CACHE_STORED) {
        return CACHE_NOT_STORED;
    }
    res->value = req->initial;
    res->created = true;
    return CACHE_OK;
}

enum cache_status cache_delta(const char *key, size_t nkey,
                              const struct cache_delta_req *req,
                              struct cache_delta_res *res)
{
    uint64_t hash = table_hash(key, nkey);

    res->created = false;
    for (;;) {
        struct item *old = cache_get_ref(key, nkey, hash, false);
        struct item *fresh;
        rel_time_t exptime;
        uint64_t v;
        size_t len, newlen;
        bool ok;

        if (old == NULL) {
            return req->create ? delta_create(key, nkey, req, res)
                               : CACHE_NOT_FOUND;
        }
        if (req->cas != 0 && cache_item_cas(old) != req->cas) {
            item_put(old);
            return CACHE_EXISTS;
        }
        if (!value_number(old, &v)) {
            item_put(old);
            return CACHE_NON_NUMERIC;
        }
        if (req->incr) {
            v += req->delta;
        } else {
            v = req->delta > v ? 0 : v - req->delta;
        }
        len = (size_t)num_format_u64(v, res->text);
        /* memcached rewrites in place when the number fits, padding the
         * old length with spaces; clients can see that, so do the same. */
        newlen = len <= old->nbytes ? old->nbytes : len;
        exptime = req->set_exptime ? req->exptime : item_exptime(old);
        if (cache_alloc(key, nkey, item_cflags(old), exptime, newlen,
                        &fresh) != CACHE_OK) {
            item_put(old);
            return CACHE_NO_MEMORY;
        }
        item_copy_in(fresh, 0, res->text, len);
        if (newlen == old->nbytes) {
            /* memcached rewrites such a counter in place, so its meta
             * state (stale, token, binary key) and access time stay; a
             * longer number is a new item there too and starts fresh. */
            cache_item_flags_or(fresh, item_flags_load(old) &
                                (ITEM_STALE | ITEM_TOKEN_SENT |
                                 ITEM_KEY_BINARY));
        }
        if (newlen > len) {
            char pad[INCR_MAX_STORAGE + 64];
            size_t off = len;

            memset(pad, ' ', sizeof(pad));
            while (off < newlen) {
                size_t n = newlen - off < sizeof(pad) ? newlen - off
                                                      : sizeof(pad);
                item_copy_in(fresh, off, pad, n);
                off += n;
            }
        }
        ok = cache_swap_exact(old, fresh, hash);
        if (ok && newlen == old->nbytes) {
            item_set_last_access(fresh, item_last_access(old));
            item_touch_access(fresh, clock_now());
        }
        if (ok) {
            res->value = v;
            res->len = len;
            res->cas = cache_item_cas(fresh);
            res->exptime = exptime;
            cache_changed_from(fresh, item_seq(old));
        }
        item_put(old);
        item_put(fresh);
        if (ok) {
            return CACHE_OK;
        }
    }
}

/* A copy of old (key, flags, value) with a new TTL, for md I. */
static struct item *copy_of(struct item *old, rel_time_t exptime)
{
    struct item *it;
    char buf[4096];
    size_t off;

    if (cache_alloc(item_key(old), old->nkey, item_cflags(old), exptime,
                    old->nbytes, &it) != CACHE_OK) {
        return NULL;
    }
    for (off = 0; off < old->nbytes; ) {
        size_t n = old->nbytes - off < sizeof(buf) ? old->nbytes - off
                                                   : sizeof(buf);

        item_copy_out(old, off, buf, n);
        item_copy_in(it, off, buf, n);
        off += n;
    }
    return it;
}

enum cache_status cache_mdelete(const char *key, size_t nkey,
                                const struct cache_mdelete_req *req)
{
    uint64_t hash = table_hash(key, nkey);

    for (;;) {
        struct item *old = cache_get_ref(key, nkey, hash, false);
        struct item *fresh;
        uint8_t keep;
        bool won;

        if (old == NULL) {
            return CACHE_NOT_FOUND;
        }
        if (req->check_cas && cache_item_cas(old) != req->cas) {
            item_put(old);
            return CACHE_EXISTS;
        }
        if (!req->stale) {
            if (cache_unlink_exact(old)) {
                cache_changed(key, nkey);
                return CACHE_OK;
            }
            continue;
        }
        /* memcached flips the bits and the CAS in place under its item
         * lock; items here are immutable once linked, so swap in a copy. */
        fresh = copy_of(old, req->set_exptime ? req->exptime
                                              : item_exptime(old));
        if (fresh == NULL) {
            item_put(old);
            return CACHE_NO_MEMORY;
        }
        keep = item_flags_load(old) &
               (ITEM_FETCHED | ITEM_ACTIVE | ITEM_KEY_BINARY);
        cache_item_flags_or(fresh, (uint8_t)(keep | ITEM_STALE));
        won = cache_swap_exact(old, fresh, hash);
        if (won) {
            item_set_last_access(fresh, item_last_access(old));
            cache_changed_from(fresh, item_seq(old));
        }
        item_put(old);
        item_put(fresh);
        if (won) {
            return CACHE_OK;
        }
    }
}
