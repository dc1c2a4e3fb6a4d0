/*
 * replica_adopt: after another owner refused this node's read-modify-write
 * result as a conflict (see replica.h), take that owner's state.
 *
 * The owner is asked with a meta get on this worker's link to it
 * ("mg <key> s v f t c", then "mn"), and what it holds is compared with
 * the result here, at version v:
 *   - newer than v: it beats ours on every later merge anyway, so it is
 *     stored as a copy at its own version (cache_put_version, no hook),
 *     as read repair would;
 *   - older than v: ours would beat it everywhere, so its content is
 *     stored again here as a new write, if the key is still at v (a CAS
 *     on v), and the change hook sends that to every owner as a result
 *     built on the owner's version (cache_store_rebased): if the owner
 *     took another write since it answered, it refuses this one as a
 *     conflict and the adoption starts over from its newer state, rather
 *     than a blind copy of the old answer undoing that write. The same
 *     for an owner that holds nothing (a deletion, then; not based, see
 *     doc/cluster.md).
 * Two nodes that refused each other's results therefore agree on one of
 * the two states without trading them back and forth: only the one whose
 * version is the higher writes again.
 *
 * Worker threads: runs on the thread whose copy conflicted, answered on
 * it (peer_send's done).
 */
#include "cluster/replica.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache/cache.h"
#include "cache/item.h"
#include "cache/tombstone.h"
#include "cluster/peer.h"
#include "util/clock.h"
#include "util/hlc.h"
#include "util/numparse.h"

struct adopt {
    uint64_t version;             /* our result that conflicted */
    uint64_t have;                /* the owner's, from its CONFLICT */
    size_t nkey;
    char key[KEY_MAX_LENGTH];
};

/* The owner holds nothing (a tombstone at a->have). */
static void adopt_absence(const struct adopt *a)
{
    if (a->have > a->version) {
        tombstone_put(a->key, a->nkey, a->have);
        (void)cache_delete_below(a->key, a->nkey, a->have);
    } else if (cache_delete_cas(a->key, a->nkey, a->version) != CACHE_OK) {
        return;                   /* changed here meanwhile */
    }
    replica_count_adopted();
}

/* Its "VA <n> s.. f.. t.. c..": the value's flags, ttl and version. */
struct va {
    uint32_t bytes, flags;
    int64_t ttl;                  /* -1: none */
    uint64_t version;
    size_t line;                  /* bytes the line takes, "\r\n" too */
};

static bool parse_va(const char *r, size_t n, struct va *v)
{
    char line[160], *tok, *save = NULL;
    const char *nl = memchr(r, '\n', n);
    size_t len;

    if (nl == NULL || nl == r || nl[-1] != '\r' ||
        (len = (size_t)(nl - r) - 1) >= sizeof(line) || len < 4 ||
        memcmp(r, "VA ", 3) != 0) {
        return false;
    }
    memcpy(line, r, len);
    line[len] = '\0';
    memset(v, 0, sizeof(*v));
    v->ttl = -1;
    v->line = len + 2;
    tok = strtok_r(line + 3, " ", &save);
    if (tok == NULL || !num_parse_u32(tok, &v->bytes)) {
        return false;
    }
    while ((tok = strtok_r(NULL, " ", &save)) != NULL) {
        bool ok = true;

        switch (tok[0]) {
        case 'f': ok = num_parse_u32(tok + 1, &v->flags); break;
        case 't': ok = num_parse_i64(tok + 1, &v->ttl); break;
        case 'c': ok = num_parse_u64(tok + 1, &v->version); break;
        default: break;           /* s, and what a later owner adds */
        }
        if (!ok) {
            return false;
        }
    }
    return n == v->line + v->bytes + 2 && v->version != 0;
}

static void adopt_value(const struct adopt *a, const char *r, size_t n)
{
    struct va v;
    struct item *it;
    rel_time_t exp;

    if (!parse_va(r, n, &v)) {
        return;
    }
    exp = v.ttl < 0 ? 0 : clock_now() + (rel_time_t)(v.ttl > 0 ? v.ttl : 1);
    if (cache_alloc(a->key, a->nkey, v.flags, exp, v.bytes, &it) !=
        CACHE_OK) {
        return;
    }
    item_copy_in(it, 0, r + v.line, v.bytes);
    if (v.version > a->version) {
        if (cache_put_version(it, v.version) == CACHE_STORED) {
            replica_count_adopted();
        }
    } else {
        hlc_observe(v.version);
        if (cache_store_rebased(it, a->version, v.version) == CACHE_STORED) {
            replica_count_adopted();
        }
    }
    item_put(it);
}

static void on_state(void *arg, bool ok, const char *reply, size_t n)
{
    struct adopt *a = arg;

    if (ok && n == 4 && memcmp(reply, "EN\r\n", 4) == 0) {
        adopt_absence(a);
    } else if (ok && n > 3 && memcmp(reply, "VA ", 3) == 0) {
        adopt_value(a, reply, n);
    }
    /* Anything else (the link failed, an error): this node's result
     * stays; the next write of the key, a rebalance or a resync meets
     * the owner's state again. */
    free(a);
}

void replica_adopt(const char *addr, const char *key, size_t nkey,
                   uint64_t version, uint64_t have)
{
    struct peer_request r = { 0 };
    struct adopt *a;
    char req[KEY_MAX_LENGTH + 32];
    int len;

    if (nkey == 0 || nkey > KEY_MAX_LENGTH) {
        return;
    }
    len = snprintf(req, sizeof(req), "mg %.*s s v f t c\r\nmn\r\n",
                   (int)nkey, key);
    a = malloc(sizeof(*a));
    if (a == NULL || len <= 0 || (size_t)len >= sizeof(req)) {
        free(a);
        return;
    }
    a->version = version;
    a->have = have;
    a->nkey = nkey;
    memcpy(a->key, key, nkey);
    r.addr = addr;
    r.req = req;
    r.n = (size_t)len;
    r.kind = PEER_REPLY_META;
    r.done = on_state;
    r.arg = a;
    if (!peer_send(&r)) {
        free(a);
    }
}
