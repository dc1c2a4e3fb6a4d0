/*
 * binary: executes memcached binary-protocol requests (see binary.h).
 *
 * proto/binary.c frames and checks; this file maps each opcode onto the
 * cache and answers with memcached 1.6.18's packets: the same status codes
 * and error texts, the opaque echoed, the CAS of what was stored. Quiet
 * opcodes stay silent on success only; errors are always sent, as in
 * memcached. Hits of GETQ/GETKQ/GATQ/GATKQ are answered (that is the
 * point of them), their misses are not.
 */
#include "config.h"
#include "server/exec_binary.h"

#include <string.h>

#include "cache/cache.h"
#include "cluster/router.h"
#include "proto/binary.h"
#include "server/auth.h"
#include "server/forward_binary.h"
#include "server/forward_text.h"
#include "server/stats.h"
#include "util/clock.h"
#include "util/numparse.h"

#define VERSION_TEXT "1.6.18-ringcached-" PACKAGE_VERSION
#define SASL_BODY_MAX 4096        /* mechanism name + client response */

static const struct settings *cfg;

void exec_binary_setup(const struct settings *s)
{
    cfg = s;
}

static void header(struct conn *c, const struct bin_header *h,
                   uint16_t status, uint8_t extlen, uint16_t keylen,
                   uint32_t bodylen, uint64_t cas)
{
    uint8_t buf[BIN_HEADER_SIZE];

    bin_encode_header(buf, h, status, extlen, keylen, bodylen, cas);
    conn_out(c, (const char *)buf, sizeof(buf));
}

static const char *status_text(uint16_t status)
{
    switch (status) {
    case BIN_KEY_ENOENT: return "Not found";
    case BIN_KEY_EEXISTS: return "Data exists for key.";
    case BIN_E2BIG: return "Too large.";
    case BIN_EINVAL: return "Invalid arguments";
    case BIN_NOT_STORED: return "Not stored.";
    case BIN_DELTA_BADVAL:
        return "Non-numeric server-side value for incr or decr";
    case BIN_AUTH_ERROR: return "Auth failure.";
    case BIN_UNKNOWN_COMMAND: return "Unknown command";
    default: return "Out of memory";
    }
}

/* An error packet; text NULL for the status's standard text. */
static void error(struct conn *c, const struct bin_header *h,
                  uint16_t status, const char *text)
{
    size_t n;

    if (text == NULL) {
        text = status_text(status);
    }
    n = strlen(text);
    header(c, h, status, 0, 0, (uint32_t)n, 0);
    conn_out(c, text, n);
}

void exec_binary_reply(struct conn *c, const struct bin_header *h,
                  uint16_t status, const void *body, size_t n)
{
    header(c, h, status, 0, 0, (uint32_t)n, 0);
    conn_out(c, body, n);
}

void exec_binary_error(struct conn *c, const struct bin_header *h,
                  uint16_t status)
{
    error(c, h, status, NULL);
}

/* A success packet with an optional body; nothing for a quiet opcode. */
static void success(struct conn *c, const struct bin_header *h,
                    const void *body, size_t n, uint64_t cas)
{
    if (bin_is_quiet(h->opcode)) {
        return;
    }
    header(c, h, BIN_SUCCESS, 0, 0, (uint32_t)n, cas);
    conn_out(c, body, n);
}

static void do_get(struct conn *c, const struct bin_header *h,
                   const uint8_t *ext, const char *key)
{
    uint8_t op = bin_loud_opcode(h->opcode);
    bool touch = op == BIN_TOUCH || op == BIN_GAT || op == BIN_GATK;
    bool want_key = op == BIN_GETK || op == BIN_GATK;
    rel_time_t exptime = touch ? clock_expiry(bin_get32(ext)) : 0;
    struct item *it = cache_get(key, h->keylen, touch, exptime);
    uint16_t klen = want_key ? h->keylen : 0;
    uint8_t flags[4];

    if (touch) {
        STATS_INC(touch_cmds);
    } else {
        STATS_INC(get_cmds);
    }
    if (it == NULL) {
        if (touch) {
            STATS_INC(touch_misses);
        } else {
            STATS_INC(get_misses);
        }
        if (bin_is_quiet(h->opcode)) {
            return;
        }
        if (want_key) {
            /* memcached's GETK miss carries the key instead of a text. */
            header(c, h, BIN_KEY_ENOENT, 0, klen, klen, 0);
            conn_out(c, key, klen);
        } else {
            error(c, h, BIN_KEY_ENOENT, NULL);
        }
        return;
    }
    if (touch) {
        STATS_INC(touch_hits);
    } else {
        STATS_INC(get_hits);
    }
    bin_put32(flags, item_cflags(it));
    header(c, h, BIN_SUCCESS, 4, klen,
           4 + klen + (op == BIN_TOUCH ? 0 : it->nbytes), cache_item_cas(it));
    conn_out(c, (const char *)flags, 4);
    conn_out(c, key, klen);
    if (op == BIN_TOUCH) {
        item_put(it);
    } else {
        conn_out_value(c, it);
    }
}

/* SET/ADD/REPLACE/APPEND/PREPEND: allocate, then read the value. */
static void do_update(struct conn *c, const struct bin_header *h,
                      const uint8_t *ext, const char *key)
{
    uint8_t op = bin_loud_opcode(h->opcode);
    bool concat = op == BIN_APPEND || op == BIN_PREPEND;
    uint32_t flags = concat ? 0 : bin_get32(ext);
    rel_time_t exptime = concat ? 0 : clock_expiry(bin_get32(ext + 4));
    size_t vlen = h->bodylen - h->keylen - h->extlen;
    struct conn_pending *p;
    struct item *it;
    enum cache_status st;

    st = cache_alloc(key, h->keylen, flags, exptime, vlen, &it);
    if (st != CACHE_OK) {
        if (st == CACHE_TOO_LARGE) {
            error(c, h, BIN_E2BIG, NULL);
        } else {
            error(c, h, BIN_ENOMEM, "Out of memory allocating item");
        }
        conn_swallow(c, vlen);
        /* A failed set must not leave the previous value visible. */
        if (op == BIN_SET) {
            cache_unlink_key(key, h->keylen);
        }
        return;
    }
    p = conn_pending(c);
    p->bin = *h;
    p->cas = h->cas;
    p->exptime = concat ? 0 : (int64_t)bin_get32(ext + 4);
    switch (op) {
    case BIN_ADD: p->mode = CACHE_ADD; break;
    case BIN_REPLACE: p->mode = CACHE_REPLACE; break;
    case BIN_APPEND: p->mode = CACHE_APPEND; break;
    case BIN_PREPEND: p->mode = CACHE_PREPEND; break;
    default: p->mode = CACHE_SET; break;
    }
    /* memcached turns set/add/replace with a CAS into a CAS command. */
    if (!concat && h->cas != 0) {
        p->mode = CACHE_CAS;
    }
    conn_read_value(c, it, 0);
}

static void on_value(struct conn *c, struct item *it, bool valid)
{
    struct conn_pending *p = conn_pending(c);
    const struct bin_header *h = &p->bin;
    char owner[ROUTER_ADDR_MAX];
    uint64_t cas = 0;

    (void)valid;                  /* binary values have no terminator */
    if (router_remote(c, item_key(it), it->nkey, owner)) {
        forward_binary_store(c, owner, h, (uint32_t)p->exptime, it);
        return;
    }
    STATS_INC(set_cmds);
    switch (cache_store(it, (enum cache_store_mode)p->mode, p->cas, &cas)) {
    case CACHE_STORED:
        if (p->mode == CACHE_CAS) {
            STATS_INC(cas_hits);
        }
        success(c, h, NULL, 0, cas);
        break;
    case CACHE_EXISTS:
        if (p->mode == CACHE_CAS) {
            STATS_INC(cas_badval);
        }
        error(c, h, BIN_KEY_EEXISTS, NULL);
        break;
    case CACHE_NOT_FOUND:
        STATS_INC(cas_misses);
        error(c, h, BIN_KEY_ENOENT, NULL);
        break;
    default:
        if (p->mode == CACHE_ADD) {
            error(c, h, BIN_KEY_EEXISTS, NULL);
        } else if (p->mode == CACHE_REPLACE) {
            error(c, h, BIN_KEY_ENOENT, NULL);
        } else {
            error(c, h, BIN_NOT_STORED, NULL);
        }
        break;
    }
}

static void do_delete(struct conn *c, const struct bin_header *h,
                      const char *key)
{
    switch (cache_delete_cas(key, h->keylen, h->cas)) {
    case CACHE_OK:
        STATS_INC(delete_hits);
        success(c, h, NULL, 0, 0);
        break;
    case CACHE_EXISTS:
        error(c, h, BIN_KEY_EEXISTS, NULL);
        break;
    default:
        STATS_INC(delete_misses);
        error(c, h, BIN_KEY_ENOENT, NULL);
        break;
    }
}

static void do_delta(struct conn *c, const struct bin_header *h,
                     const uint8_t *ext, const char *key)
{
    struct cache_delta_req req = {0};
    struct cache_delta_res res;
    uint32_t expiration = bin_get32(ext + 16);
    uint8_t body[8];

    req.incr = bin_loud_opcode(h->opcode) == BIN_INCREMENT;
    req.delta = bin_get64(ext);
    req.initial = bin_get64(ext + 8);
    req.cas = h->cas;
    /* An expiration of all ones means "do not create". */
    req.create = expiration != 0xffffffffu;
    req.create_exptime = clock_expiry(expiration);
    switch (cache_delta(key, h->keylen, &req, &res)) {
    case CACHE_OK:
        if (!res.created) {
            if (req.incr) {
                STATS_INC(incr_hits);
            } else {
                STATS_INC(decr_hits);
            }
        }
        bin_put64(body, res.value);
        success(c, h, body, sizeof(body), res.cas);
        break;
    case CACHE_NOT_FOUND:
        if (req.incr) {
            STATS_INC(incr_misses);
        } else {
            STATS_INC(decr_misses);
        }
        error(c, h, BIN_KEY_ENOENT, NULL);
        break;
    case CACHE_NON_NUMERIC:
        error(c, h, BIN_DELTA_BADVAL, NULL);
        break;
    case CACHE_EXISTS:
        error(c, h, BIN_KEY_EEXISTS, NULL);
        break;
    case CACHE_NOT_STORED:
        error(c, h, BIN_NOT_STORED, NULL);
        break;
    default:
        error(c, h, BIN_ENOMEM, "Out of memory incrementing value");
        break;
    }
}

static void do_flush(struct conn *c, const struct bin_header *h,
                     const uint8_t *ext)
{
    if (!cfg->flush_enabled) {
        error(c, h, BIN_AUTH_ERROR, NULL);
        return;
    }
    STATS_INC(flush_cmds);
    cache_flush(h->extlen == 4 ? (int64_t)bin_get32(ext) : 0);
    /* Every node flushes; the reply waits for all of them. */
    forward_text_flush(c, h->extlen == 4 ? (int64_t)bin_get32(ext) : 0);
    success(c, h, NULL, 0, 0);
}

/* Binary stats: one packet per stat, then an empty one. */
struct bin_sink {
    struct stats_sink base;
    const struct bin_header *h;
};

static void bin_emit(struct stats_sink *s, const char *name,
                     const char *value)
{
    struct bin_sink *b = (struct bin_sink *)s;
    size_t kn = strlen(name), vn = strlen(value);

    header(s->c, b->h, BIN_SUCCESS, 0, (uint16_t)kn, (uint32_t)(kn + vn), 0);
    conn_out(s->c, name, kn);
    conn_out(s->c, value, vn);
}

static bool key_is(const char *key, size_t n, const char *word)
{
    return n == strlen(word) && memcmp(key, word, n) == 0;
}

static bool key_starts(const char *key, size_t n, const char *word)
{
    size_t wn = strlen(word);

    return n >= wn && memcmp(key, word, wn) == 0;
}

static void do_stat(struct conn *c, const struct bin_header *h,
                    const char *key)
{
    struct bin_sink sink = { { bin_emit, c }, h };
    size_t n = h->keylen;

    /* memcached matches these three by prefix, the groups exactly. */
    if (n == 0) {
        stats_emit_group(&sink.base, NULL);
    } else if (key_starts(key, n, "reset")) {
        stats_reset_all();
    } else if (key_starts(key, n, "settings")) {
        stats_emit_group(&sink.base, "settings");
    } else if (key_starts(key, n, "detail")) {
        if (key_starts(key + 6, n - 6, " dump")) {
            bin_emit(&sink.base, "detailed", "END\r\n");
        } else if (!key_starts(key + 6, n - 6, " on") &&
                   !key_starts(key + 6, n - 6, " off")) {
            error(c, h, BIN_KEY_ENOENT, NULL);
            return;
        }
    } else if (key_is(key, n, "items") || key_is(key, n, "slabs") ||
               key_is(key, n, "sizes")) {
        char group[8];

        memcpy(group, key, n);
        group[n] = '\0';
        stats_emit_group(&sink.base, group);
    } else {
        error(c, h, BIN_KEY_ENOENT, NULL);
        return;
    }
    header(c, h, BIN_SUCCESS, 0, 0, 0, 0);
}

/* The keyed requests without a value, which go to the key's owner. */
static bool forwardable(uint8_t op)
{
    switch (op) {
    case BIN_GET:
    case BIN_GETK:
    case BIN_TOUCH:
    case BIN_GAT:
    case BIN_GATK:
    case BIN_DELETE:
    case BIN_INCREMENT:
    case BIN_DECREMENT:
        return true;
    default:
        return false;
    }
}

static void run(struct conn *c, const struct bin_header *h,
                const uint8_t *ext, const char *key)
{
    char owner[ROUTER_ADDR_MAX];

    if (forwardable(bin_loud_opcode(h->opcode)) &&
        router_remote(c, key, h->keylen, owner)) {
        forward_binary(c, owner, h, ext, key);
        return;
    }
    switch (bin_loud_opcode(h->opcode)) {
    case BIN_GET:
    case BIN_GETK:
    case BIN_TOUCH:
    case BIN_GAT:
    case BIN_GATK:
        do_get(c, h, ext, key);
        break;
    case BIN_SET:
    case BIN_ADD:
    case BIN_REPLACE:
    case BIN_APPEND:
    case BIN_PREPEND:
        do_update(c, h, ext, key);
        break;
    case BIN_DELETE:
        do_delete(c, h, key);
        break;
    case BIN_INCREMENT:
    case BIN_DECREMENT:
        do_delta(c, h, ext, key);
        break;
    case BIN_FLUSH:
        do_flush(c, h, ext);
        break;
    case BIN_NOOP:
        header(c, h, BIN_SUCCESS, 0, 0, 0, 0);
        break;
    case BIN_VERSION:
        success(c, h, VERSION_TEXT, strlen(VERSION_TEXT), 0);
        break;
    case BIN_QUIT:
        success(c, h, NULL, 0, 0);
        conn_close_after_write(c);
        break;
    case BIN_STAT:
        do_stat(c, h, key);
        break;
    case BIN_SASL_LIST_MECHS:
    case BIN_SASL_AUTH:
    case BIN_SASL_STEP:
        if (!auth_sasl_enabled()) {
            error(c, h, BIN_UNKNOWN_COMMAND, NULL);
            conn_swallow(c, h->bodylen - h->keylen);
        } else if (h->bodylen > SASL_BODY_MAX) {
            error(c, h, BIN_EINVAL, NULL);
            conn_swallow(c, h->bodylen - h->keylen);
        } else {
            auth_sasl_request(c, h, key);
        }
        break;
    default:
        break;                    /* bin_check() let nothing else through */
    }
}

static size_t on_input(struct conn *c, char *buf, size_t len)
{
    struct bin_header h;
    size_t need;

    if (len < BIN_HEADER_SIZE) {
        return 0;
    }
    bin_decode_header((const uint8_t *)buf, &h);
    if (h.magic != BIN_REQ_MAGIC) {
        conn_close_now(c);        /* memcached closes without a word */
        return 0;
    }
    need = BIN_HEADER_SIZE + h.extlen + (size_t)h.keylen;
    /* SASL data is small and is read whole, not into an item. */
    if (auth_sasl_enabled() && bin_lengths_fit(&h) &&
        (h.opcode == BIN_SASL_AUTH || h.opcode == BIN_SASL_STEP) &&
        h.bodylen <= SASL_BODY_MAX) {
        need = BIN_HEADER_SIZE + (size_t)h.bodylen;
    }
    if (len < need) {
        return 0;
    }
    conn_mark(c);
    if (!bin_lengths_fit(&h)) {
        error(c, &h, BIN_UNKNOWN_COMMAND, NULL);
        conn_close_after_write(c);
        return need;
    }
    if (auth_sasl_enabled() && !auth_sasl_allows(c, h.opcode)) {
        error(c, &h, BIN_AUTH_ERROR, NULL);
        conn_close_after_write(c);
        return need;
    }
    switch (bin_check(&h, KEY_MAX_LENGTH)) {
    case BIN_PROTOCOL_ERROR:
        error(c, &h, BIN_EINVAL, NULL);
        conn_close_after_write(c);
        break;
    case BIN_UNKNOWN:
        /* memcached swallows the whole body length after the key: its
         * count is off by the key and extras, and clients see that. */
        error(c, &h, BIN_UNKNOWN_COMMAND, NULL);
        conn_swallow(c, h.bodylen);
        break;
    default:
        run(c, &h, (const uint8_t *)buf + BIN_HEADER_SIZE,
            buf + BIN_HEADER_SIZE + h.extlen);
        break;
    }
    return need;
}

/*
 * Look-ahead over a freshly read batch: the keys of the complete requests
 * in it are handed to cache_prefetch, so a pipelined batch waits for its
 * table and item misses once instead of once per request. Framing errors
 * just end the look-ahead; on_input decides what they mean.
 */
static void on_read(struct conn *c, const char *buf, size_t len)
{
    struct cache_key keys[CACHE_PREFETCH_MAX];
    size_t n = 0, off = 0;

    (void)c;
    while (n < CACHE_PREFETCH_MAX && len - off >= BIN_HEADER_SIZE) {
        const uint8_t *p = (const uint8_t *)buf + off;
        size_t keylen = (size_t)p[2] << 8 | p[3];
        size_t keyoff = BIN_HEADER_SIZE + p[4];
        size_t body = bin_get32(p + 8);

        if (p[0] != BIN_REQ_MAGIC || keylen + p[4] > body) {
            break;
        }
        if (keylen > 0 && keylen <= KEY_MAX_LENGTH) {
            if (len - off < keyoff + keylen) {
                break;
            }
            keys[n].key = buf + off + keyoff;
            keys[n].nkey = keylen;
            n++;
        }
        if (len - off - BIN_HEADER_SIZE < body) {
            break;                /* the rest comes with the next read */
        }
        off += BIN_HEADER_SIZE + body;
    }
    if (n > 0) {
        cache_prefetch(keys, n);
    }
}

static const struct conn_handler binary_handler = { on_input, on_value,
                                                    on_read };

const struct conn_handler *exec_binary_handler(void)
{
    return &binary_handler;
}
