/*
 * exec_text: text protocol execution (see exec_text.h).
 *
 * The parser (proto/text.c) has already chosen memcached's error line for
 * any malformed request; this file maps cache statuses to reply lines and
 * keeps memcached's side effects: a rejected value is swallowed, a failed
 * set removes the key's old value, noreply silences every line but values.
 */
#include "config.h"
#include "server/exec_text.h"

#include <signal.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "cache/cache.h"
#include "cluster/cluster.h"
#include "cluster/cluster_ring.h"
#include "cluster/replica.h"
#include "cluster/router.h"
#include "proto/meta.h"
#include "proto/text.h"
#include "server/exec_meta.h"
#include "server/forward_text.h"
#include "server/peer_accept.h"
#include "server/replica_apply.h"
#include "server/stats.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/numparse.h"

#define VERSION_LINE "VERSION 1.6.18-ringcached-" PACKAGE_VERSION
#define MAX_VERBOSITY 2

static const struct settings *cfg;
static struct text_options topts;

void exec_text_setup(const struct settings *s)
{
    cfg = s;
    topts.flush_enabled = s->flush_enabled;
}

static void reply(struct conn *c, bool noreply, const char *line)
{
    if (!noreply) {
        conn_out_line(c, line);
    }
}

static void value_header(struct conn *c, const struct item *it, bool cas)
{
    char buf[KEY_MAX_LENGTH + 80];
    char *p = buf;

    memcpy(p, "VALUE ", 6);
    p += 6;
    memcpy(p, item_key(it), it->nkey);
    p += it->nkey;
    *p++ = ' ';
    p += num_format_u64(item_cflags(it), p);
    *p++ = ' ';
    p += num_format_u64(it->nbytes, p);
    if (cas) {
        *p++ = ' ';
        p += num_format_u64(cache_item_cas(it), p);
    }
    *p++ = '\r';
    *p++ = '\n';
    conn_out(c, buf, (size_t)(p - buf));
}

/*
 * Flow control inside a multi-get: a line of up to 2 MiB of keys could
 * otherwise queue (and hold references for) millions of values at once.
 * When the connection's output reaches its limit with keys left, the get
 * saves its place and suspends; conn.c calls on_input again at the same
 * line once the replies have drained, and get_resume() goes on from there.
 *
 * The tokenizer NUL-terminated the keys of its current window in place;
 * before suspending, the separators of the keys not yet served are put
 * back, so the rest of the line is plain text again for the next pass.
 */
static void get_save_place(struct conn *c, char *line,
                           const struct text_token *t)
{
    struct conn_pending *p = conn_pending(c);
    const struct text_token *u;

    if (t->length == 0) {
        p->get.resume = (size_t)(t->value - line);   /* untokenized rest */
        return;
    }
    for (u = t; u->length != 0; u++) {
        if (u[1].length != 0 || u[1].value != NULL) {
            u->value[u->length] = ' ';
        }
    }
    p->get.resume = (size_t)(t->value - line);
}

/* Serves the keys from t on (first_key: t is the request's first key);
 * false if it suspended. */
static bool get_keys(struct conn *c, char *line, struct text_token *tokens,
                     struct text_token *t, bool first_key)
{
    const struct conn_pending *p = conn_pending(c);
    bool touch = p->get.touch;
    char first[ROUTER_ADDR_MAX];  /* the first remote owner, if any */
    bool local = false, spread = false;

    first[0] = '\0';

    for (;;) {
        for (; t->length != 0; t++) {
            char owner[ROUTER_ADDR_MAX];
            struct item *it;

            if (conn_out_full(c)) {
                get_save_place(c, line, t);
                conn_suspend(c);
                return false;
            }
            /* UDP framing, memcached's: every key after the first starts
             * a response (an empty one sends nothing); the first key's,
             * when more keys follow, goes out even empty, as a header. */
            if (!first_key) {
                conn_mark(c);
            } else if (t[1].length != 0 || t[1].value != NULL) {
                conn_mark_keep_empty(c);
            }
            first_key = false;
            if (router_remote(c, t->value, t->length, owner)) {
                /* Its VALUE block (if any) takes this key's place. */
                forward_text_get(c, owner, t->value, t->length, touch,
                                 p->get.cas, p->exptime);
                if (first[0] == '\0') {
                    memcpy(first, owner, sizeof(first));
                } else if (strcmp(first, owner) != 0) {
                    spread = true;
                }
                continue;
            }
            local = true;
            it = cache_get(t->value, t->length, touch, p->get.exptime);
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
                continue;
            }
            if (touch) {
                STATS_INC(touch_hits);
            } else {
                STATS_INC(get_hits);
            }
            value_header(c, it, p->get.cas);
            conn_out_value(c, it);
            conn_out(c, "\r\n", 2);
        }
        if (t->value == NULL) {
            break;
        }
        if (conn_out_full(c)) {
            get_save_place(c, line, t);
            conn_suspend(c);
            return false;
        }
        /* More keys than one tokenizer pass holds. */
        text_tokenize(t->value, tokens, TEXT_MAX_TOKENS);
        t = tokens;
    }
    if (spread || (local && first[0] != '\0')) {
        router_count_fanout();    /* a suspended get: its last part */
    }
    conn_out(c, "END\r\n", 5);
    conn_out_checkpoint(c);
    return true;
}

static void do_get(struct conn *c, char *line, struct text_request *r,
                   size_t used)
{
    struct conn_pending *p = conn_pending(c);

    p->get.touch = r->touch;
    p->get.cas = r->return_cas;
    p->get.exptime = r->touch ? clock_expiry(r->exptime) : 0;
    p->exptime = r->exptime;
    p->get.used = used;
    p->get.resume = 0;
    get_keys(c, line, r->tokens, r->keys, true);
}

/* on_input for a suspended get: its line is at the start of buf. */
static size_t get_resume(struct conn *c, char *buf)
{
    struct conn_pending *p = conn_pending(c);
    struct text_token tokens[TEXT_MAX_TOKENS];

    text_tokenize(buf + p->get.resume, tokens, TEXT_MAX_TOKENS);
    p->get.resume = 0;
    if (!get_keys(c, buf, tokens, tokens, false)) {
        return 0;
    }
    return p->get.used;
}

static void do_store(struct conn *c, struct text_request *r)
{
    struct item *it;
    enum cache_status st;
    struct conn_pending *p;

    st = cache_alloc(r->key, r->nkey, r->flags, clock_expiry(r->exptime),
                     (size_t)r->vlen, &it);
    if (st != CACHE_OK) {
        if (st == CACHE_TOO_LARGE) {
            STATS_INC(store_too_large);
            reply(c, r->noreply, "SERVER_ERROR object too large for cache");
        } else {
            STATS_INC(store_no_memory);
            reply(c, r->noreply, "SERVER_ERROR out of memory storing object");
        }
        conn_swallow(c, (size_t)r->vlen + 2);
        /* A failed set must not leave the previous value visible. */
        if (r->mode == TEXT_SET) {
            cache_unlink_key(r->key, r->nkey);
        }
        return;
    }
    p = conn_pending(c);
    p->mode = (int)r->mode;
    p->cas = r->cas;
    p->noreply = r->noreply;
    p->exptime = r->exptime;
    conn_read_value(c, it, 2);
}

static void on_value(struct conn *c, struct item *it, bool valid)
{
    struct conn_pending *p = conn_pending(c);
    char owner[ROUTER_ADDR_MAX];
    enum cache_status st;

    if (exec_meta_owns_value(c)) {
        exec_meta_on_value(c, it, valid);
        return;
    }
    if (replica_apply_owns_value(c)) {
        replica_apply_on_value(c, it, valid);
        return;
    }
    if (valid && router_remote(c, item_key(it), it->nkey, owner)) {
        /* The value was read here; the owner stores it. */
        forward_text_store(c, owner, p->mode, it, p->exptime, p->cas,
                           p->noreply);
        return;
    }
    STATS_INC(set_cmds);
    if (!valid) {
        reply(c, p->noreply, "CLIENT_ERROR bad data chunk");
        return;
    }
    st = cache_store(it, (enum cache_store_mode)p->mode, p->cas, NULL);
    switch (st) {
    case CACHE_STORED:
        if (p->mode == TEXT_CAS) {
            STATS_INC(cas_hits);
        }
        reply(c, p->noreply, "STORED");
        break;
    case CACHE_EXISTS:
        STATS_INC(cas_badval);
        reply(c, p->noreply, "EXISTS");
        break;
    case CACHE_NOT_FOUND:
        STATS_INC(cas_misses);
        reply(c, p->noreply, "NOT_FOUND");
        break;
    default:
        reply(c, p->noreply, "NOT_STORED");
        break;
    }
}

static void do_delta(struct conn *c, struct text_request *r)
{
    struct cache_delta_req req = { .incr = r->incr, .delta = r->delta };
    struct cache_delta_res res;
    char owner[ROUTER_ADDR_MAX];

    if (router_remote(c, r->key, r->nkey, owner)) {
        forward_text_delta(c, owner, r->key, r->nkey, r->incr, r->delta,
                           r->noreply);
        return;
    }
    switch (cache_delta(r->key, r->nkey, &req, &res)) {
    case CACHE_OK:
        if (r->incr) {
            STATS_INC(incr_hits);
        } else {
            STATS_INC(decr_hits);
        }
        reply(c, r->noreply, res.text);
        break;
    case CACHE_NOT_FOUND:
        if (r->incr) {
            STATS_INC(incr_misses);
        } else {
            STATS_INC(decr_misses);
        }
        reply(c, r->noreply, "NOT_FOUND");
        break;
    case CACHE_NON_NUMERIC:
        reply(c, r->noreply,
              "CLIENT_ERROR cannot increment or decrement non-numeric value");
        break;
    default:
        reply(c, r->noreply, "SERVER_ERROR out of memory");
        break;
    }
}

static void do_delete(struct conn *c, struct text_request *r)
{
    char owner[ROUTER_ADDR_MAX];

    if (router_remote(c, r->key, r->nkey, owner)) {
        forward_text_delete(c, owner, r->key, r->nkey, r->noreply);
        return;
    }
    if (cache_delete(r->key, r->nkey) == CACHE_OK) {
        STATS_INC(delete_hits);
        reply(c, r->noreply, "DELETED");
    } else {
        STATS_INC(delete_misses);
        reply(c, r->noreply, "NOT_FOUND");
    }
}

static void do_touch(struct conn *c, struct text_request *r)
{
    char owner[ROUTER_ADDR_MAX];

    if (router_remote(c, r->key, r->nkey, owner)) {
        forward_text_touch(c, owner, r->key, r->nkey, r->exptime,
                           r->noreply);
        return;
    }
    STATS_INC(touch_cmds);
    if (cache_touch(r->key, r->nkey, clock_expiry(r->exptime)) == CACHE_OK) {
        STATS_INC(touch_hits);
        reply(c, r->noreply, "TOUCHED");
    } else {
        STATS_INC(touch_misses);
        reply(c, r->noreply, "NOT_FOUND");
    }
}

/* `cluster members`: one line per member, from the RCU-published view. */
static void cluster_members(struct conn *c, const struct cluster_view *v)
{
    uint64_t now = cluster_now_ns();
    size_t i;

    for (i = 0; v != NULL && i < v->n; i++) {
        const struct cluster_member *m = &v->members[i];
        char line[GOSSIP_NAME_MAX + 160];
        uint64_t age = now > m->changed_ns ? now - m->changed_ns : 0;

        snprintf(line, sizeof(line), "MEMBER %s %s %s %u %llu.%03llu",
                 m->name, m->client_addr, gossip_state_name(m->state),
                 (unsigned)m->incarnation,
                 (unsigned long long)(age / 1000000000u),
                 (unsigned long long)(age / 1000000u % 1000));
        conn_out_line(c, line);
    }
}

/* `cluster ring`: the members on the ring in ring order (the order a
 * client must list them in), then the libmemcached configuration string
 * that builds the same ring. */
static void cluster_ring(struct conn *c, const struct cluster_view *v)
{
    const struct cluster_ring *r = v != NULL ? v->ring : NULL;
    struct ring_server *servers;
    size_t i, n = r != NULL ? r->n : 0, need;
    char *config;

    servers = calloc(n ? n : 1, sizeof(*servers));
    if (servers == NULL) {
        conn_out_line(c, "SERVER_ERROR out of memory");
        return;
    }
    for (i = 0; i < n; i++) {
        const struct cluster_ring_input *in = &r->inputs[i];
        const struct cluster_member *m = &v->members[v->ring_member[i]];
        char line[CLUSTER_HOST_MAX + GOSSIP_NAME_MAX + 80];

        snprintf(line, sizeof(line), "RING %s:%u %s %u %u %s", in->host,
                 (unsigned)in->port, m->name, (unsigned)in->weight,
                 (unsigned)r->ring->server_points[i],
                 gossip_state_name(m->state));
        conn_out_line(c, line);
        servers[i].host = in->host;
        servers[i].host_len = strlen(in->host);
        servers[i].port = in->port;
        servers[i].weight = in->weight;
    }
    need = ring_libmemcached_config(servers, n, NULL, 0);
    config = malloc(need + 8);
    if (config != NULL) {
        memcpy(config, "CONFIG ", 7);
        ring_libmemcached_config(servers, n, config + 7, need + 1);
        conn_out_line(c, config);
        free(config);
    }
    free(servers);
}

/* `cluster owner <key>`: the member that owns key on this node's ring. */
static void cluster_owner_of(struct conn *c, const struct cluster_view *v,
                             const struct text_request *r)
{
    const struct cluster_member *own[REPLICA_MAX];
    char line[CLUSTER_HOST_MAX + GOSSIP_NAME_MAX + 40];
    size_t n = cluster_owners(v, r->key, r->nkey, replica_count(), own), i;

    /* The first owner first: where writes go, then the other copies. */
    for (i = 0; i < n; i++) {
        snprintf(line, sizeof(line), "OWNER %s:%u %s%s", own[i]->host,
                 (unsigned)own[i]->port, own[i]->name,
                 own[i]->self ? " self" : "");
        conn_out_line(c, line);
    }
}

static void do_cluster(struct conn *c, struct text_request *r)
{
    const char *sub = r->stats_group;
    const struct cluster_view *v;

    if (sub == NULL ||
        (strcmp(sub, "members") != 0 && strcmp(sub, "ring") != 0 &&
         strcmp(sub, "owner") != 0) ||
        (strcmp(sub, "owner") == 0) != (r->stats_arg != NULL)) {
        conn_out_line(c, "CLIENT_ERROR usage: cluster members | cluster "
                      "ring | cluster owner <key>");
        return;
    }
    if (strcmp(sub, "owner") == 0 && r->nkey > KEY_MAX_LENGTH) {
        conn_out_line(c, "CLIENT_ERROR bad command line format");
        return;
    }
    if (!cluster_enabled()) {
        conn_out_line(c, "SERVER_ERROR cluster not enabled");
        return;
    }
    rcu_read_lock();
    v = cluster_view();
    if (strcmp(sub, "members") == 0) {
        cluster_members(c, v);
    } else if (strcmp(sub, "ring") == 0) {
        cluster_ring(c, v);
    } else {
        cluster_owner_of(c, v, r);
    }
    rcu_read_unlock_annotated();
    conn_out_line(c, "END");
}

static void on_line(struct conn *c, char *line, size_t len, size_t used)
{
    struct text_request r;

    LOG_AT(2, "<%d %s\n", conn_fd(c), line);
    conn_mark(c);
    if ((line[0] == 'r' || conn_auth(c)->peer_challenged) &&
        peer_accept_line(c, line, len)) {
        return;                   /* another node's link (cluster/peer.c) */
    }
    if (line[0] == 'r' && replica_apply_line(c, line, len)) {
        return;                   /* a copy from a key's first owner */
    }
    if ((line[0] == 'm' || line[0] == ' ') && meta_is_command(line)) {
        exec_meta_run(c, line, len);
        return;
    }
    text_parse(line, &topts, &r);
    switch (r.cmd) {
    case TEXT_ERROR_REPLY:
        reply(c, r.noreply, r.error);
        break;
    case TEXT_CLOSE_CONN:
        conn_close_now(c);
        break;
    case TEXT_GET:
        do_get(c, line, &r, used);
        break;
    case TEXT_GET_BAD_KEY:
        /* memcached serves the keys before the bad one, then drops every
         * response it has not transmitted; it transmits after each
         * completed get, so what goes is back to the last one. */
        conn_out_discard(c);
        conn_out_line(c, "CLIENT_ERROR bad command line format");
        break;
    case TEXT_STORE:
        do_store(c, &r);
        break;
    case TEXT_DELTA:
        do_delta(c, &r);
        break;
    case TEXT_DELETE:
        do_delete(c, &r);
        break;
    case TEXT_TOUCH:
        do_touch(c, &r);
        break;
    case TEXT_STATS:
        if (stats_reply(c, r.stats_group, r.stats_arg) != 0) {
            conn_out_line(c, "ERROR");
        }
        break;
    case TEXT_FLUSH_ALL:
        STATS_INC(flush_cmds);
        cache_flush(r.exptime);
        /* Every node flushes; the OK waits for all of them. */
        forward_text_flush(c, r.exptime);
        reply(c, r.noreply, "OK");
        break;
    case TEXT_VERSION:
        conn_out_line(c, VERSION_LINE);
        break;
    case TEXT_VERBOSITY:
        __atomic_store_n(&log_level, r.level > MAX_VERBOSITY ? MAX_VERBOSITY
                                                            : (int)r.level,
                         __ATOMIC_RELAXED);
        reply(c, r.noreply, "OK");
        break;
    case TEXT_QUIT:
        conn_close_after_write(c);
        break;
    case TEXT_CLUSTER:
        do_cluster(c, &r);
        break;
    case TEXT_SHUTDOWN:
        if (!cfg->shutdown_enabled) {
            conn_out_line(c, "ERROR: shutdown not enabled");
        } else {
            conn_close_now(c);
            raise(SIGINT);
        }
        break;
    }
}

static size_t on_input(struct conn *c, char *buf, size_t len)
{
    size_t line_len, used;

    if (conn_pending(c)->get.resume != 0) {
        return get_resume(c, buf);
    }
    switch (text_find_line(buf, len, conn_max_line(), &line_len, &used)) {
    case TEXT_NEED_MORE:
        return 0;
    case TEXT_CLOSE:
        conn_close_now(c);
        return 0;
    default:
        on_line(c, buf, line_len, used);
        return conn_pending(c)->get.resume != 0 ? 0 : used;
    }
}

/* The next space-separated token of [*p, end); false if there is none. */
static bool next_token(const char **p, const char *end, const char **tok,
                       size_t *n)
{
    const char *q = *p;

    while (q < end && *q == ' ') {
        q++;
    }
    *tok = q;
    while (q < end && *q != ' ') {
        q++;
    }
    *n = (size_t)(q - *tok);
    *p = q;
    return *n > 0;
}

/*
 * Look-ahead over a freshly read batch (conn_handler.on_read): the keys of
 * its gets and stores go to cache_prefetch, so the batch waits for its
 * table and item misses once instead of once per request (see exec_binary.c).
 * Only the common shapes are recognised; anything else ends the
 * look-ahead, and on_input alone decides what the bytes mean.
 */
static void on_read(struct conn *c, const char *buf, size_t len)
{
    struct cache_key keys[CACHE_PREFETCH_MAX];
    const char *p = buf, *end = buf + len;
    size_t n = 0;

    (void)c;
    while (n < CACHE_PREFETCH_MAX && p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *q = p, *lend, *tok;
        size_t tn, field = 0;
        uint64_t bytes = 0;
        bool store;

        if (eol == NULL) {
            break;
        }
        lend = eol > p && eol[-1] == '\r' ? eol - 1 : eol;
        if (!next_token(&q, lend, &tok, &tn)) {
            break;
        }
        if ((tn == 3 && memcmp(tok, "get", 3) == 0) ||
            (tn == 4 && memcmp(tok, "gets", 4) == 0)) {
            store = false;
        } else if ((tn == 3 && (memcmp(tok, "set", 3) == 0 ||
                                memcmp(tok, "add", 3) == 0 ||
                                memcmp(tok, "cas", 3) == 0)) ||
                   (tn == 7 && memcmp(tok, "replace", 7) == 0)) {
            store = true;
        } else {
            break;
        }
        while (n < CACHE_PREFETCH_MAX && next_token(&q, lend, &tok, &tn)) {
            field++;
            if (field == 1 || !store) {
                if (tn > KEY_MAX_LENGTH) {
                    return;
                }
                keys[n].key = tok;
                keys[n].nkey = tn;
                n++;
            } else if (field == 4) {
                /* <key> <flags> <exptime> <bytes>: the value follows. */
                for (; tn > 0 && bytes < UINT32_MAX; tok++, tn--) {
                    if (*tok < '0' || *tok > '9') {
                        break;
                    }
                    bytes = bytes * 10 + (uint64_t)(*tok - '0');
                }
                break;
            }
        }
        if (store && (field < 4 || tn > 0 ||
                      bytes + 2 > (uint64_t)(end - eol - 1))) {
            break;                /* odd, or the value is not all here */
        }
        p = eol + 1 + (store ? bytes + 2 : 0);
    }
    if (n > 0) {
        cache_prefetch(keys, n);
    }
}

static const struct conn_handler text_handler = { on_input, on_value,
                                                  on_read };

const struct conn_handler *exec_text_handler(void)
{
    return &text_handler;
}
