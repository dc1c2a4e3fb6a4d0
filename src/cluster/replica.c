/*
 * replica: a key's new state to its other owners (see replica.h).
 */
#include "cluster/replica.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache/cache.h"
#include "cache/item.h"
#include "cache/tombstone.h"
#include "cluster/cluster.h"
#include "cluster/peer.h"
#include "cluster/rebalance.h"
#include "cluster/router.h"
#include "net/conn.h"
#include "util/hlc.h"
#include "util/numparse.h"

static unsigned replicas = 1;
static unsigned write_acks = 1;
static struct replica_stats totals;   /* relaxed atomics */

static void count(uint64_t *c)
{
    __atomic_add_fetch(c, 1, __ATOMIC_RELAXED);
}

/* The other owners' client addresses; how many. */
static size_t other_owners(const char *key, size_t nkey,
                           char addrs[][ROUTER_ADDR_MAX])
{
    const struct cluster_member *own[REPLICA_MAX];
    size_t n, i, k = 0;

    rcu_read_lock();
    n = cluster_owners(cluster_view(), key, nkey, replicas, own);
    for (i = 0; i < n; i++) {
        if (!own[i]->self) {
            snprintf(addrs[k++], ROUTER_ADDR_MAX, "%s", own[i]->client_addr);
        }
    }
    rcu_read_unlock_annotated();
    return k;
}

bool replica_reply_definite(const char *s, size_t n)
{
    static const char *const ok[] = { "STORED\r\n", "EXISTS\r\n",
                                      "NOT_STORED\r\n", "DELETED\r\n",
                                      "NOT_FOUND\r\n" };
    size_t i;

    for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        if (n == strlen(ok[i]) && memcmp(s, ok[i], n) == 0) {
            return true;
        }
    }
    return false;
}

/*
 * --write-acks: one write's copies in flight, and the client's reply held
 * (conn_hold) until need of them are acknowledged. Any definite answer is
 * an acknowledgement: the owner holds this version or a newer one
 * (EXISTS: it had newer; NOT_STORED: a newer delete). The reply is
 * released as soon as need have answered, and failed once too few can.
 */
struct acks {
    struct conn_hold *hold;
    unsigned need, got, left;
    bool released;
};

static void ack_settle(struct acks *a)
{
    if (!a->released && a->got >= a->need) {
        a->released = true;
        conn_hold_release(a->hold, true);
    } else if (!a->released && a->got + a->left < a->need) {
        a->released = true;
        count(&totals.acks_failed);
        conn_hold_release(a->hold, false);
    }
    if (a->left == 0) {
        free(a);
    }
}

/* One owner's answer: held says whether it holds this write. */
static void on_ack(struct acks *a, bool held)
{
    a->left--;
    if (held) {
        a->got++;
    }
    ack_settle(a);
}

/* Holds the running request's reply if --write-acks asks for more than
 * this node's copy; NULL when it need not (or cannot) wait. */
static struct acks *acks_begin(size_t k)
{
    struct acks *a;

    if (write_acks <= 1) {
        return NULL;
    }
    a = calloc(1, sizeof(*a));
    if (a == NULL) {
        return NULL;
    }
    a->hold = conn_hold_current();
    if (a->hold == NULL) {
        free(a);
        return NULL;
    }
    a->need = write_acks - 1;     /* this node's copy is the first */
    a->left = (unsigned)k + 1;    /* + the sending itself, below */
    return a;
}

/* One copy in flight: which owner, and the write's acks if it waits;
 * for a read-modify-write's result (base != 0), which key and version,
 * in case the owner finds it conflicting. */
struct copy {
    struct acks *acks;
    char addr[ROUTER_ADDR_MAX];
    uint64_t base, version;
    size_t nkey;
    char key[KEY_MAX_LENGTH];
};

/* "CONFLICT <version>": the owner kept its state, newer than the copy's
 * base. If that is exactly the state here, the owner holds this write or
 * a later one made from it here (two results of one node's writes can
 * arrive out of order, from two workers): held. Otherwise this node's
 * result undid a write it had not seen; it takes the owner's state
 * (replica_adopt) and the write is not held. */
static bool conflict_held(const struct copy *c, const char *reply, size_t n)
{
    char num[24];
    uint64_t have, here = 0;
    struct item *it;

    if (n < 11 || n - 11 >= sizeof(num)) {
        return false;
    }
    memcpy(num, reply + 9, n - 11);
    num[n - 11] = '\0';
    if (!num_parse_u64(num, &have)) {
        return false;
    }
    it = cache_peek_quiet(c->key, c->nkey);
    if (it != NULL) {
        here = cache_item_version(it);
        item_put(it);
    }
    if (here == have) {
        return true;
    }
    replica_adopt(c->addr, c->key, c->nkey, c->version, have);
    return false;
}

/* A copy that did not arrive (the link failed or timed out, or it could
 * not be queued): the owner may have missed this write, and a resync
 * pass will send it every key it owns (rebalance_resync). A definite
 * answer of any kind means it holds this state or a newer one. */
static void on_copy(void *arg, bool ok, const char *reply, size_t n)
{
    struct copy *c = arg;
    bool held = ok && replica_reply_definite(reply, n);

    if (!ok) {
        rebalance_resync(c->addr);
    } else if (!held && c->base != 0 && n > 9 &&
               memcmp(reply, "CONFLICT ", 9) == 0) {
        held = conflict_held(c, reply, n);
    }
    if (c->acks != NULL) {
        on_ack(c->acks, held);
    }
    free(c);
}

/* What a copy is of: the key and, for a read-modify-write, its base and
 * version (0 otherwise). */
struct copy_of {
    const char *key;
    size_t nkey;
    uint64_t base, version;
};

static void send_all(char addrs[][ROUTER_ADDR_MAX], size_t k,
                     const struct copy_of *of, const char *line, size_t n,
                     const char *value, size_t vlen)
{
    struct acks *a = acks_begin(k);
    size_t i;

    for (i = 0; i < k; i++) {
        struct peer_request r = { 0 };
        struct copy *c = malloc(sizeof(*c));

        r.addr = addrs[i];
        r.req = line;
        r.n = n;
        r.value = value;
        r.vlen = vlen;
        r.kind = PEER_REPLY_LINE;
        if (c != NULL) {
            c->acks = a;
            memcpy(c->addr, addrs[i], sizeof(c->addr));
            c->base = of->base;
            c->version = of->version;
            c->nkey = of->nkey <= sizeof(c->key) ? of->nkey : 0;
            memcpy(c->key, of->key, c->nkey);
            r.done = on_copy;
            r.arg = c;
        }
        if (c == NULL || !peer_send(&r)) {
            free(c);
            rebalance_resync(addrs[i]);
            if (a != NULL) {
                a->left--;        /* done is not called: failed now */
            }
        }
    }
    if (a != NULL) {
        a->left--;                /* every send has been tried */
        ack_settle(a);
    }
}

size_t replica_set_line(const struct item *it, uint64_t base, char *line,
                        size_t cap)
{
    rel_time_t exp = item_exptime(it), now = clock_now();
    uint64_t ttl = exp == 0 ? 0 : exp > now ? exp - now : 1;
    bool stale = (item_flags_load(it) & ITEM_STALE) != 0;
    char based[24] = "";
    int n;

    if (base != 0) {
        snprintf(based, sizeof(based), " b%" PRIu64, base);
    }
    n = snprintf(line, cap, "rc_set %.*s %u %" PRIu64 " %u %" PRIu64
                 "%s%s\r\n", (int)it->nkey, item_key(it), item_cflags(it),
                 ttl, (unsigned)it->nbytes, cache_item_version(it),
                 stale ? " S" : "", based);

    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

size_t replica_value(const struct item *it, char **buf, size_t *cap)
{
    size_t need = (size_t)it->nbytes + 2;

    if (need > *cap) {
        char *grown = realloc(*buf, need);

        if (grown == NULL) {
            return 0;
        }
        *buf = grown;
        *cap = need;
    }
    item_copy_out(it, 0, *buf, it->nbytes);
    memcpy(*buf + it->nbytes, "\r\n", 2);
    return need;
}

static void send_item(char addrs[][ROUTER_ADDR_MAX], size_t k,
                      const struct item *it, const struct copy_of *of)
{
    char line[REPLICA_LINE_MAX], *value = NULL;
    size_t cap = 0, n = replica_set_line(it, of->base, line, sizeof(line));
    size_t vlen = n > 0 ? replica_value(it, &value, &cap) : 0;

    if (vlen > 0) {
        send_all(addrs, k, of, line, n, value, vlen);
        __atomic_add_fetch(&totals.sets_sent, k, __ATOMIC_RELAXED);
    }
    free(value);
}

/* The change hook (cache.h): the key's state now, to the other owners;
 * a read-modify-write's result, with its base. */
static void on_change(const char *key, size_t nkey,
                      const struct cache_change *how)
{
    char addrs[REPLICA_MAX][ROUTER_ADDR_MAX];
    struct copy_of of = { key, nkey, 0, 0 };
    struct item *it;
    size_t k;

    if (!cluster_enabled()) {
        return;
    }
    k = other_owners(key, nkey, addrs);
    if (k == 0 && write_acks <= 1) {
        return;
    }
    if (how->item != NULL) {
        /* This very result, even if the key has moved on since: a later
         * state would go with a base it was not computed from. An owner
         * that already has the later one answers CONFLICT with exactly
         * the state here, which counts as held. */
        of.base = how->base;
        of.version = how->version;
        send_item(addrs, k, how->item, &of);
    } else if ((it = cache_peek_quiet(key, nkey)) != NULL) {
        send_item(addrs, k, it, &of);
        item_put(it);
    } else {
        /* Absent now: deleted, at a version above every write of it seen
         * here, remembered so an older copy cannot come back. */
        char line[REPLICA_LINE_MAX];
        uint64_t v = hlc_next();
        int n = snprintf(line, sizeof(line), "rc_del %.*s %" PRIu64 "\r\n",
                         (int)nkey, key, v);

        tombstone_put(key, nkey, v);
        if (n > 0 && (size_t)n < sizeof(line)) {
            send_all(addrs, k, &of, line, (size_t)n, NULL, 0);
            __atomic_add_fetch(&totals.deletes_sent, k, __ATOMIC_RELAXED);
        }
    }
}

void replica_setup(unsigned r, unsigned acks)
{
    replicas = r < 1 ? 1 : r > REPLICA_MAX ? REPLICA_MAX : r;
    write_acks = acks < 1 ? 1 : acks > replicas ? replicas : acks;
    if (replicas > 1) {
        cache_set_change_hook(on_change);
    }
}

unsigned replica_count(void)
{
    return replicas;
}

void replica_count_applied(bool kept)
{
    count(kept ? &totals.applied : &totals.older);
}

void replica_count_deleted(void)
{
    count(&totals.deleted);
}

void replica_count_conflict(void)
{
    count(&totals.conflicts);
}

void replica_count_adopted(void)
{
    count(&totals.adopted);
}

void replica_stats_get(struct replica_stats *out)
{
    out->sets_sent = __atomic_load_n(&totals.sets_sent, __ATOMIC_RELAXED);
    out->deletes_sent = __atomic_load_n(&totals.deletes_sent,
                                        __ATOMIC_RELAXED);
    out->applied = __atomic_load_n(&totals.applied, __ATOMIC_RELAXED);
    out->older = __atomic_load_n(&totals.older, __ATOMIC_RELAXED);
    out->deleted = __atomic_load_n(&totals.deleted, __ATOMIC_RELAXED);
    out->acks_failed = __atomic_load_n(&totals.acks_failed,
                                       __ATOMIC_RELAXED);
    out->conflicts = __atomic_load_n(&totals.conflicts, __ATOMIC_RELAXED);
    out->adopted = __atomic_load_n(&totals.adopted, __ATOMIC_RELAXED);
}
