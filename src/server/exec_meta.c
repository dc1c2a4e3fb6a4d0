/*
 * exec_meta: meta command execution (see exec_meta.h).
 *
 * memcached composes a meta reply by walking the request's flag tokens in
 * order, and some flags act while it walks (mg T changes the TTL, so a `t`
 * before it prints the old one, after it the new one; an over-long O token
 * aborts the reply after T has already been applied). The composers below
 * walk the same way, so replies and side effects match byte for byte.
 *
 * Which replies `q` hides differs per command, exactly as in 1.6.18:
 *   mg: EN;  ms: HD;  md: HD;  ma: HD/VA of an existing counter (a counter
 *   created by N is still answered). Errors are never hidden.
 *
 * The recache token (W) is claimed with an atomic OR of ITEM_TOKEN_SENT:
 * memcached decides under its item lock, here two racing readers both see
 * the bit clear but only the one whose OR set it answers W; the other one
 * answers Z, as it would have a moment later.
 *
 * Stats follow memcached: mg counts get_xxx (touch_xxx on a T hit), ms set_cmds
 * and cas_xxx in CAS mode, md delete_xxx (not for I), ma incr_/decr_xxx (not
 * for a counter created by N), me cmd_meta.
 */
#include "config.h"
#include "server/exec_meta.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "cache/cache.h"
#include "cluster/router.h"
#include "proto/meta.h"
#include "server/forward_meta.h"
#include "server/stats.h"
#include "util/clock.h"
#include "util/numparse.h"

/* Status, ~20 flags with numbers, a base64 key and an opaque; ma adds its
 * value. 1.6.18 needs less than 1 KiB for the longest. */
#define REPLY_MAX 1536
#define TEMPLATE_MAX 44           /* ms return flags: O<=32, k, c */
#define MA_RETRIES 8              /* ma create lost to a racing store */

/* An ms between its line and its value, kept in conn_pending's meta. */
struct meta_pending {
    bool active;                  /* the pending value is an ms */
    bool quiet;
    uint8_t mode;                 /* enum cache_store_mode */
    uint8_t ntemplate;
    uint64_t cas;
    char template[TEMPLATE_MAX];  /* return flags: "O...\0", "k", "c" */
};

_Static_assert(sizeof(struct meta_pending) <=
               sizeof(((struct conn_pending *)0)->meta),
               "conn_pending.meta too small");

static struct meta_pending *pending(struct conn *c)
{
    return (struct meta_pending *)(void *)conn_pending(c)->meta;
}

static char *put(char *p, const char *s, size_t n)
{
    memcpy(p, s, n);
    return p + n;
}

static char *put_flag(char *p, char flag)
{
    *p++ = ' ';
    *p++ = flag;
    return p;
}

static char *put_u64(char *p, uint64_t v)
{
    return p + num_format_u64(v, p);
}

/* " k<key>", or " k<base64> b" for a binary key, as memcached's META_KEY. */
static char *put_key(char *p, const char *key, size_t nkey, bool binary)
{
    p = put_flag(p, 'k');
    if (!binary) {
        return put(p, key, nkey);
    }
    p += meta_base64_encode(key, nkey, p);
    return put(p, " b", 2);
}

static char *put_opaque(char *p, const struct text_token *t)
{
    *p++ = ' ';
    return put(p, t->value, t->length);
}

static char *put_end(char *p)
{
    return put(p, "\r\n", 2);
}

static void out(struct conn *c, const char *buf, const char *end)
{
    conn_out(c, buf, (size_t)(end - buf));
}

/* O and k for a reply without an item (EN, NF, EX); false on a bad O. */
static bool put_miss_flags(char **pp, const struct meta_request *r)
{
    char *p = *pp;
    size_t i;

    for (i = 0; i < r->nflags; i++) {
        const struct text_token *t = &r->flags[i];

        if (t->value[0] == 'O') {
            if (t->length > META_OPAQUE_MAX) {
                return false;
            }
            p = put_opaque(p, t);
        } else if (t->value[0] == 'k') {
            p = put_key(p, r->key, r->nkey, r->key_binary);
        }
    }
    *pp = p;
    return true;
}

static void opaque_error(struct conn *c)
{
    conn_out_line(c, "CLIENT_ERROR opaque token too long");
}

/* mg N on a miss: links an empty item (memcached: item_alloc + link with
 * exptime 0; N's TTL is applied while composing). NULL if no memory; if a
 * racing store won, that item is returned as a plain hit. */
static struct item *vivify(const struct meta_request *r, bool *created)
{
    struct item *it;

    if (cache_alloc(r->key, r->nkey, 0, 0, 0, &it) != CACHE_OK) {
        return NULL;
    }
    if (cache_store(it, CACHE_ADD, 0, NULL) == CACHE_STORED) {
        *created = true;
        return it;
    }
    item_put(it);
    return cache_peek(r->key, r->nkey);
}

static void mg_miss(struct conn *c, const struct meta_request *r)
{
    char buf[REPLY_MAX];
    char *p = put(buf, "EN", 2);

    STATS_INC(get_cmds);
    STATS_INC(get_misses);
    if (!put_miss_flags(&p, r)) {
        opaque_error(c);
        return;
    }
    if (!r->quiet) {
        out(c, buf, put_end(p));
    }
}

static void do_get(struct conn *c, const struct meta_request *r)
{
    rel_time_t now = clock_now();
    bool created = false, won = false, ttl_set = false, token_sent;
    struct item *it = cache_peek(r->key, r->nkey);
    char buf[REPLY_MAX];
    char *p = buf;
    uint8_t f0;
    rel_time_t exp;
    size_t i;

    if (it == NULL && r->vivify) {
        it = vivify(r, &created);
    }
    if (it == NULL) {
        mg_miss(c, r);
        return;
    }
    f0 = item_flags_load(it);
    exp = item_exptime(it);
    if (r->value) {
        p = put(p, "VA ", 3);
        p = put_u64(p, it->nbytes);
    } else {
        p = put(p, "HD", 2);
    }
    for (i = 0; i < r->nflags; i++) {
        const struct text_token *t = &r->flags[i];

        switch (t->value[0]) {
        case 'T':
            ttl_set = true;
            exp = clock_expiry(r->ttl);
            cache_item_set_exptime(it, exp);
            break;
        case 'N':
            if (created) {
                exp = clock_expiry(r->vivify_ttl);
                cache_item_set_exptime(it, exp);
                won = true;
            }
            break;
        case 'R':
            if (!(f0 & ITEM_TOKEN_SENT) && !created && exp != 0 &&
                exp < clock_expiry(r->recache_ttl)) {
                won = true;
            }
            break;
        case 's':
            p = put_u64(put_flag(p, 's'), it->nbytes);
            break;
        case 't':
            p = put_flag(p, 't');
            /* memcached prints the unsigned difference. */
            p = exp == 0 ? put(p, "-1", 2) : put_u64(p, (uint32_t)(exp - now));
            break;
        case 'c':
            p = put_u64(put_flag(p, 'c'), cache_item_cas(it));
            break;
        case 'f':
            p = put_u64(put_flag(p, 'f'), item_cflags(it));
            break;
        case 'l':
            p = put_u64(put_flag(p, 'l'), item_idle_secs(it, now));
            break;
        case 'h':
            p = put(put_flag(p, 'h'), (f0 & ITEM_FETCHED) ? "1" : "0", 1);
            break;
        case 'O':
            if (t->length > META_OPAQUE_MAX) {
                item_put(it);
                opaque_error(c);
                return;
            }
            p = put_opaque(p, t);
            break;
        case 'k':
            p = put_key(p, item_key(it), it->nkey,
                        (f0 & ITEM_KEY_BINARY) != 0);
            break;
        default:
            break;
        }
    }
    token_sent = (f0 & ITEM_TOKEN_SENT) != 0;
    if (token_sent) {
        p = put_flag(p, 'Z');
    }
    if (f0 & ITEM_STALE) {
        p = put_flag(p, 'X');
        if (!token_sent) {
            won = true;
        }
    }
    if (won) {
        uint8_t before = cache_item_flags_or(it, ITEM_TOKEN_SENT);

        /* Lost the race for the token to a concurrent reader. */
        p = put_flag(p, (before & ITEM_TOKEN_SENT) && !token_sent ? 'Z'
                                                                  : 'W');
    }
    p = put_end(p);
    if (ttl_set) {
        STATS_INC(touch_cmds);
        STATS_INC(touch_hits);
    } else {
        STATS_INC(get_cmds);
        STATS_INC(get_hits);
    }
    if (!r->no_update) {
        cache_item_accessed(it);
    }
    out(c, buf, p);
    if (r->value && it->nbytes > 0) {
        conn_out_value(c, it);    /* takes the reference */
    } else {
        item_put(it);
    }
    if (r->value) {
        conn_out(c, "\r\n", 2);
    }
}

static enum cache_store_mode set_mode(const struct meta_request *r)
{
    enum cache_store_mode m;

    switch (r->mode) {
    case 'E':
        return CACHE_ADD;
    case 'A':
        return CACHE_APPEND;
    case 'P':
        return CACHE_PREPEND;
    case 'R':
        m = CACHE_REPLACE;
        break;
    default:
        m = CACHE_SET;
        break;
    }
    /* memcached upgrades set and replace with a CAS to its CAS command;
     * add ignores the CAS, append/prepend check it themselves. */
    if (r->has_cas) {
        m = r->set_stale ? CACHE_CAS_STALE : CACHE_CAS;
    }
    return m;
}

static void do_set(struct conn *c, const struct meta_request *r)
{
    struct meta_pending *mp = pending(c);
    rel_time_t exptime = r->new_ttl ? clock_expiry(r->ttl) : 0;
    enum cache_status st;
    struct item *it;
    size_t i, n = 0;

    st = cache_alloc(r->key, r->nkey, r->client_flags, exptime,
                     (size_t)r->vlen, &it);
    if (st != CACHE_OK) {
        if (st == CACHE_TOO_LARGE) {
            STATS_INC(store_too_large);
            conn_out_line(c, "SERVER_ERROR object too large for cache");
        } else {
            STATS_INC(store_no_memory);
            conn_out_line(c, "SERVER_ERROR out of memory storing object");
        }
        /* memcached drops the old value whatever the mode. */
        cache_unlink_key(r->key, r->nkey);
        conn_swallow(c, (size_t)r->vlen + 2);
        return;
    }
    if (r->key_binary) {
        cache_item_flags_or(it, ITEM_KEY_BINARY);
    }
    memset(mp, 0, sizeof(*mp));
    for (i = 0; i < r->nflags; i++) {
        const struct text_token *t = &r->flags[i];

        if (t->value[0] == 'O') {
            /* meta_parse refused longer ones; the NUL ends it. */
            memcpy(mp->template + n, t->value, t->length + 1);
            n += t->length + 1;
        } else if (t->value[0] == 'k' || t->value[0] == 'c') {
            mp->template[n++] = t->value[0];
        } else {
            continue;
        }
        mp->ntemplate++;
    }
    assert(n <= sizeof(mp->template));
    mp->active = true;
    mp->quiet = r->quiet;
    mp->mode = (uint8_t)set_mode(r);
    mp->cas = r->cas;
    if (router_remote(c, r->key, r->nkey, NULL)) {
        /* The owner stores it: its line waits here for the value. */
        conn_pending(c)->forward = forward_meta_set_line(r);
    }
    conn_read_value(c, it, 2);
}

bool exec_meta_owns_value(struct conn *c)
{
    return pending(c)->active;
}

void exec_meta_on_value(struct conn *c, struct item *it, bool valid)
{
    struct meta_pending *mp = pending(c);
    enum cache_store_mode mode = (enum cache_store_mode)mp->mode;
    bool is_cas = mode == CACHE_CAS || mode == CACHE_CAS_STALE;
    uint64_t stored_cas = 0;
    char buf[REPLY_MAX];
    char *p = buf;
    const char *t = mp->template;
    uint8_t i;

    mp->active = false;
    if (conn_pending(c)->forward != NULL) {
        char *line = conn_pending(c)->forward;
        char owner[ROUTER_ADDR_MAX];

        conn_pending(c)->forward = NULL;
        if (valid && router_remote(c, item_key(it), it->nkey, owner)) {
            forward_meta_set(c, owner, line, it);
            return;
        }
        free(line);               /* the ring moved it here meanwhile */
    }
    STATS_INC(set_cmds);
    if (!valid) {
        conn_out_line(c, "CLIENT_ERROR bad data chunk");
        return;
    }
    switch (cache_store(it, mode, mp->cas, &stored_cas)) {
    case CACHE_STORED:
        if (is_cas) {
            STATS_INC(cas_hits);
        }
        if (mp->quiet) {
            return;
        }
        p = put(p, "HD", 2);
        break;
    case CACHE_EXISTS:
        if (is_cas) {
            STATS_INC(cas_badval);
        }
        p = put(p, "EX", 2);
        break;
    case CACHE_NOT_FOUND:
        if (is_cas) {
            STATS_INC(cas_misses);
        }
        p = put(p, "NF", 2);
        break;
    default:
        p = put(p, "NS", 2);
        break;
    }
    for (i = 0; i < mp->ntemplate; i++) {
        if (*t == 'O') {
            size_t n = strlen(t);

            *p++ = ' ';
            p = put(p, t, n);
            t += n + 1;
        } else if (*t++ == 'k') {
            p = put_key(p, item_key(it), it->nkey,
                        (item_flags_load(it) & ITEM_KEY_BINARY) != 0);
        } else {
            p = put_u64(put_flag(p, 'c'), stored_cas);
        }
    }
    out(c, buf, put_end(p));
}

static void do_delete(struct conn *c, const struct meta_request *r)
{
    struct cache_mdelete_req req = {
        .check_cas = r->has_cas,
        .cas = r->cas,
        .stale = r->set_stale,
        .set_exptime = r->new_ttl,
        .exptime = r->new_ttl ? clock_expiry(r->ttl) : 0,
    };
    char buf[REPLY_MAX];
    char *p = buf + 2;            /* status goes in front */

    if (!put_miss_flags(&p, r)) {
        opaque_error(c);
        return;
    }
    switch (cache_mdelete(r->key, r->nkey, &req)) {
    case CACHE_OK:
        if (!r->set_stale) {
            STATS_INC(delete_hits);
        }
        if (r->quiet) {
            return;
        }
        memcpy(buf, "HD", 2);
        break;
    case CACHE_EXISTS:
        STATS_INC(delete_misses);
        memcpy(buf, "EX", 2);
        break;
    case CACHE_NOT_FOUND:
        STATS_INC(delete_misses);
        memcpy(buf, "NF", 2);
        break;
    default:
        conn_out_line(c, "SERVER_ERROR out of memory");
        return;
    }
    out(c, buf, put_end(p));
}

/* Sets the TTL of the counter ma just wrote, if it is still that one. */
static void ma_set_ttl(const struct meta_request *r, uint64_t cas,
                       rel_time_t exp)
{
    struct item *it = cache_peek(r->key, r->nkey);

    if (it != NULL) {
        if (cache_item_cas(it) == cas) {
            cache_item_set_exptime(it, exp);
        }
        item_put(it);
    }
}

static void do_arithmetic(struct conn *c, const struct meta_request *r)
{
    struct cache_delta_req req = {
        .incr = r->mode != 'D' && r->mode != '-',
        .delta = r->delta,
        .cas = r->has_cas ? r->cas : 0,
        .create = r->vivify,
        .initial = r->initial,
    };
    struct cache_delta_res res;
    enum cache_status st;
    char buf[REPLY_MAX];
    char *p = buf;
    bool ttl_changed = false;
    rel_time_t exp;
    int tries = 0;
    size_t i;

    do {
        st = cache_delta(r->key, r->nkey, &req, &res);
    } while (st == CACHE_NOT_STORED && ++tries < MA_RETRIES);
    switch (st) {
    case CACHE_OK:
        break;
    case CACHE_NOT_FOUND:
    case CACHE_EXISTS:
        if (st == CACHE_NOT_FOUND) {
            if (req.incr) {
                STATS_INC(incr_misses);
            } else {
                STATS_INC(decr_misses);
            }
        }
        p = put(p, st == CACHE_NOT_FOUND ? "NF" : "EX", 2);
        if (!put_miss_flags(&p, r)) {
            opaque_error(c);
            return;
        }
        out(c, buf, put_end(p));
        return;
    case CACHE_NON_NUMERIC:
        conn_out_line(c, "CLIENT_ERROR cannot increment or decrement "
                         "non-numeric value");
        return;
    default:
        conn_out_line(c, "SERVER_ERROR out of memory");
        return;
    }
    if (!res.created) {
        if (req.incr) {
            STATS_INC(incr_hits);
        } else {
            STATS_INC(decr_hits);
        }
    }
    exp = res.exptime;
    if (r->value) {
        p = put(p, "VA ", 3);
        p = put_u64(p, res.len);
    } else {
        p = put(p, "HD", 2);
    }
    for (i = 0; i < r->nflags; i++) {
        const struct text_token *t = &r->flags[i];

        switch (t->value[0]) {
        case 'c':
            p = put_u64(put_flag(p, 'c'), res.cas);
            break;
        case 't':
            p = put_flag(p, 't');
            p = exp == 0 ? put(p, "-1", 2)
                         : put_u64(p, (uint32_t)(exp - clock_now()));
            break;
        case 'T':
            exp = clock_expiry(r->ttl);
            ttl_changed = true;
            break;
        case 'N':
            if (res.created) {
                exp = clock_expiry(r->vivify_ttl);
                ttl_changed = true;
            }
            break;
        case 'O':
            if (t->length > META_OPAQUE_MAX) {
                if (ttl_changed) {
                    ma_set_ttl(r, res.cas, exp);
                }
                opaque_error(c);
                return;
            }
            p = put_opaque(p, t);
            break;
        case 'k':
            p = put_key(p, r->key, r->nkey, r->key_binary);
            break;
        default:
            break;
        }
    }
    if (ttl_changed) {
        ma_set_ttl(r, res.cas, exp);
    }
    if (r->quiet && !res.created) {
        return;
    }
    p = put_end(p);
    if (r->value) {
        p = put_end(put(p, res.text, res.len));
    }
    out(c, buf, p);
}

static void do_debug(struct conn *c, const struct meta_request *r)
{
    rel_time_t now = clock_now();
    struct item *it = cache_peek(r->key, r->nkey);
    char buf[REPLY_MAX];
    char *p = put(buf, "ME ", 3);
    rel_time_t exp;

    STATS_INC(meta_cmds);
    if (it == NULL) {
        conn_out_line(c, "EN");
        return;
    }
    if (item_flags_load(it) & ITEM_KEY_BINARY) {
        p += meta_base64_encode(item_key(it), it->nkey, p);
    } else {
        p = put(p, item_key(it), it->nkey);
    }
    exp = item_exptime(it);
    /* memcached prints now - exptime: negative for a future expiry. */
    p += snprintf(p, (size_t)(buf + sizeof(buf) - p),
                  " exp=%d la=%llu cas=%llu fetch=%s cls=%u size=%lu\r\n",
                  exp == 0 ? -1 : (int)(now - exp),
                  (unsigned long long)item_idle_secs(it, now),
                  (unsigned long long)cache_item_cas(it),
                  (item_flags_load(it) & ITEM_FETCHED) ? "yes" : "no",
                  cache_item_mc_class(it),
                  (unsigned long)cache_item_bytes(it));
    item_put(it);
    out(c, buf, p);
}

/* mg, md, ma, me for a key another node owns. */
static void forward(struct conn *c, const struct meta_request *r,
                    const char *owner)
{
    char miss[REPLY_MAX];
    char *p = put(miss, "EN", 2);

    if (r->cmd != META_GET) {
        forward_meta(c, owner, r, NULL, 0);
    } else if (!put_miss_flags(&p, r)) {
        opaque_error(c);
    } else {
        /* If the owner cannot answer: the miss memcached would give. */
        forward_meta(c, owner, r, miss,
                     r->quiet ? 0 : (size_t)(put_end(p) - miss));
    }
}

void exec_meta_run(struct conn *c, char *line, size_t len)
{
    struct meta_request r;
    char owner[ROUTER_ADDR_MAX];

    (void)len;
    meta_parse(line, &r);
    if (r.cmd != META_ERROR_REPLY && r.cmd != META_NOOP &&
        r.cmd != META_SET && router_remote(c, r.key, r.nkey, owner)) {
        forward(c, &r, owner);
        return;
    }
    switch (r.cmd) {
    case META_ERROR_REPLY:
        conn_out_line(c, r.error);
        if (r.swallow) {
            conn_swallow(c, r.swallow_len);
        }
        break;
    case META_GET:
        do_get(c, &r);
        break;
    case META_SET:
        do_set(c, &r);
        break;
    case META_DELETE:
        do_delete(c, &r);
        break;
    case META_ARITHMETIC:
        do_arithmetic(c, &r);
        break;
    case META_NOOP:
        conn_out_line(c, "MN");
        break;
    case META_DEBUG:
        do_debug(c, &r);
        break;
    }
}
