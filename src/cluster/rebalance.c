/*
 * rebalance: passes over the cache after a ring change (see rebalance.h).
 *
 * A pass keeps private rings, built from the views' ring inputs with
 * ring_build (a view's own ring cannot be kept across RCU read sections;
 * rebuilding one costs 40 MD5s per member, once per change): `cur`, the
 * one the pass works toward, and the history since the node last
 * settled: hist[0], the ring the last complete pass ended on, then every
 * ring a pass was cut short on. Each maps its indexes to cur's, so
 * deciding a key costs one ring_owners per ring and integer compares.
 *
 * Why a history: writes go to the owners of the ring their writer saw.
 * A member that was not an owner on some ring since the node settled may
 * have missed writes made then, even if it owns the key again now (a
 * ring that flaps back), so it is sent the key. A ring that was never
 * seen (cluster_ring.gen skipped one) leaves nothing to reason with:
 * every owner is sent it.
 *
 * Who sends: every node that holds the key, owner or not. Choosing one
 * sender (the first old owner still on the ring, one copy on the wire)
 * is only right if every node saw the same rings, and after a partition
 * they do not: a node that comes back meets the others one at a time,
 * hands a key to whoever owned it on its second ring, and by its last
 * ring neither it nor that holder thinks it must send it on
 * (Partition.IsolatedNodeServesAloneAndRejoins lost writes so). Versions
 * sort out the duplicates; the cost is one copy per holder.
 *
 * The timer runs every TICK_BUSY_MS while a pass runs (TICK_IDLE_MS
 * otherwise); a tick sends while it has rate tokens and window room, and
 * inspects at most TICK_CHUNKS chunks, so the worker's clients wait at
 * most one tick's work behind it.
 */
#include "cluster/rebalance.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "cache/cache.h"
#include "cache/item.h"
#include "cache/tombstone.h"
#include "cluster/cluster.h"
#include "cluster/cluster_ring.h"
#include "cluster/peer.h"
#include "cluster/rebalance_resync.h"
#include "cluster/replica.h"
#include "cluster/ring.h"
#include "net/worker.h"
#include "util/log.h"

#define TICK_BUSY_MS 5
#define TICK_IDLE_MS 100
#define TICK_CHUNKS 16384         /* chunks inspected per tick at most */
#define WALK_BATCH 32             /* items referenced at once */
#define TOMB_BATCH 64
#define RETRY_MIN_MS 500          /* pause before repeating a failed pass */
#define RETRY_MAX_MS 10000
#define ADDR_MAX 64               /* cluster_member.client_addr */

#define HIST_MAX 4                /* rings remembered since settling */

/* A ring as a pass sees it. */
struct snap {
    struct ring *ring;            /* NULL: none yet */
    size_t n;
    struct cluster_ring_input *in;
    char (*addr)[ADDR_MAX];       /* ring index -> client address */
    size_t self;                  /* this node's ring index, SIZE_MAX */
    size_t *to_cur;               /* ring index -> cur's, SIZE_MAX: gone */
    uint64_t gen;                 /* cluster_ring.gen */
};

/* What one key's sends wait for (the done callback's argument). */
struct move {
    unsigned pending;             /* owners not answered yet */
    uint32_t bytes;               /* per request, for the window */
};

enum phase { PHASE_IDLE, PHASE_ITEMS, PHASE_TOMBSTONES, PHASE_DRAIN };

static struct {
    unsigned rate_kib;
    struct worker *owner;         /* the worker running passes */
    struct event *timer;
    struct snap hist[HIST_MAX], cur;   /* hist[0]: settled on */
    size_t nhist;
    /* A ring since settling is not in hist (more than HIST_MAX, or one
     * the gossip thread built and replaced between two ticks): nobody
     * knows who owned what then, so every holder sends to every owner. */
    bool overflow;
    enum phase phase;
    bool dirty;                   /* a send of this pass failed */
    bool leaving;                 /* this pass is the leave's */
    unsigned retry_ms;
    uint64_t retry_at_ms;
    struct cache_walk walk;
    size_t tomb_cursor;
    size_t inflight;              /* bytes */
    double tokens;                /* bytes the rate allows now */
    uint64_t last_ms, started_ms;
    size_t chunks_total;          /* when the pass started */
    uint64_t pass_keys, pass_bytes;
    uint64_t window_ms, window_bytes;  /* for the rate: the last second */
    char *value;                  /* rc_set value buffer, reused */
    size_t value_cap;
    /* Owners this pass sends every key they own to, ring or no ring
     * change (rebalance_resync). */
    struct resync_set resync;
    bool *resync_cur;             /* cur index -> in the set */
} rb;


static struct rebalance_stats totals;    /* relaxed atomics */

/* Leave handshake with the main thread. */
static pthread_mutex_t leave_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t leave_cond = PTHREAD_COND_INITIALIZER;
static bool leave_asked, leave_done;

static void put(uint64_t *c, uint64_t v)
{
    __atomic_store_n(c, v, __ATOMIC_RELAXED);
}

static void add(uint64_t *c, uint64_t v)
{
    __atomic_add_fetch(c, v, __ATOMIC_RELAXED);
}

static uint64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- rings ---------------------------------------------------------- */

static void snap_free(struct snap *s)
{
    ring_free(s->ring);
    free(s->in);
    free(s->addr);
    free(s->to_cur);
    memset(s, 0, sizeof(*s));
}

static void hist_clear(void)
{
    size_t h;

    for (h = 0; h < rb.nhist; h++) {
        snap_free(&rb.hist[h]);
    }
    rb.nhist = 0;
    rb.overflow = false;
}

/* cur's pass was cut short: cur joins the history (the oldest
 * intermediate ring gives way when it is full). */
static void hist_push_cur(void)
{
    if (rb.nhist == HIST_MAX) {
        snap_free(&rb.hist[1]);
        memmove(&rb.hist[1], &rb.hist[2],
                (HIST_MAX - 2) * sizeof(rb.hist[0]));
        rb.nhist--;
        rb.overflow = true;
    }
    rb.hist[rb.nhist++] = rb.cur;
    memset(&rb.cur, 0, sizeof(rb.cur));
}

/* v's ring, without this node when drop_self; inside rcu_read_lock. */
static int snap_take(struct snap *s, const struct cluster_view *v,
                     bool drop_self)
{
    struct ring_server *servers;
    size_t i, n = 0;

    memset(s, 0, sizeof(*s));
    s->self = SIZE_MAX;
    if (v == NULL || v->ring == NULL) {
        return -1;
    }
    s->in = calloc(v->ring->n + 1, sizeof(*s->in));
    s->addr = calloc(v->ring->n + 1, sizeof(*s->addr));
    servers = calloc(v->ring->n + 1, sizeof(*servers));
    if (s->in == NULL || s->addr == NULL || servers == NULL) {
        free(servers);
        snap_free(s);
        return -1;
    }
    for (i = 0; i < v->ring->n; i++) {
        const struct cluster_member *m = &v->members[v->ring_member[i]];

        if (m->self && drop_self) {
            continue;
        }
        if (m->self) {
            s->self = n;
        }
        s->in[n] = v->ring->inputs[i];
        snprintf(s->addr[n], ADDR_MAX, "%s", m->client_addr);
        servers[n].host = s->in[n].host;
        servers[n].host_len = strlen(s->in[n].host);
        servers[n].port = s->in[n].port;
        servers[n].weight = s->in[n].weight;
        n++;
    }
    s->n = n;
    s->gen = v->ring->gen;
    s->ring = ring_build(servers, n);
    free(servers);
    if (s->ring == NULL) {
        snap_free(s);
        return -1;
    }
    return 0;
}

static int map_to_cur(void)
{
    size_t h, i, j;

    free(rb.resync_cur);
    rb.resync_cur = calloc(rb.cur.n + 1, sizeof(*rb.resync_cur));
    if (rb.resync_cur == NULL) {
        return -1;
    }
    for (j = 0; j < rb.cur.n; j++) {
        rb.resync_cur[j] = resync_has(&rb.resync, rb.cur.addr[j]);
    }

    for (h = 0; h < rb.nhist; h++) {
        struct snap *o = &rb.hist[h];

        free(o->to_cur);
        o->to_cur = malloc((o->n + 1) * sizeof(*o->to_cur));
        if (o->to_cur == NULL) {
            return -1;
        }
        for (i = 0; i < o->n; i++) {
            o->to_cur[i] = SIZE_MAX;
            for (j = 0; j < rb.cur.n; j++) {
                if (strcmp(o->addr[i], rb.cur.addr[j]) == 0) {
                    o->to_cur[i] = j;
                    break;
                }
            }
        }
    }
    return 0;
}

/* ---- deciding a key ------------------------------------------------- */

/* Whether cur member c is among owners o[0..n) of hist ring h. */
static bool owner_in(size_t h, const size_t *o, size_t n, size_t c)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (rb.hist[h].to_cur[o[i]] == c) {
            return true;
        }
    }
    return false;
}

/* The cur-ring indexes key must be sent to from here (none unless this
 * node is one of the key's senders, see the top of the file). */
static size_t plan(const char *key, size_t nkey, size_t *to)
{
    size_t own[HIST_MAX][REPLICA_MAX], no[HIST_MAX], ni[REPLICA_MAX];
    size_t nn, h, i, j, k = 0;
    unsigned r = replica_count();
    bool sender = false;

    for (h = 0; h < rb.nhist; h++) {
        no[h] = ring_owners(rb.hist[h].ring, key, nkey, r, own[h]);
    }
    if (rb.leaving) {
        for (i = 0; i < no[0]; i++) {
            sender = sender || own[0][i] == rb.hist[0].self;
        }
    } else {
        sender = true;            /* whoever holds it: see the top */
    }
    if (!sender) {
        return 0;
    }
    nn = ring_owners(rb.cur.ring, key, nkey, r, ni);
    for (j = 0; j < nn; j++) {
        bool always = !rb.overflow && ni[j] != rb.cur.self;

        for (h = 0; h < rb.nhist && always; h++) {
            always = owner_in(h, own[h], no[h], ni[j]);
        }
        if ((!always || rb.resync_cur[ni[j]]) && ni[j] != rb.cur.self) {
            to[k++] = ni[j];      /* may lack the key's latest state */
        }
    }
    return k;
}

/* ---- sending -------------------------------------------------------- */

static void on_done(void *arg, bool ok, const char *reply, size_t n)
{
    struct move *m = arg;

    rb.inflight -= m->bytes < rb.inflight ? m->bytes : rb.inflight;
    if (ok && replica_reply_definite(reply, n)) {
        if (n == 8 && memcmp(reply, "STORED\r\n", 8) == 0) {
            add(&totals.keys_moved, 1);
        } else if (n == 9 && memcmp(reply, "DELETED\r\n", 9) == 0) {
            add(&totals.deletes_moved, 1);
        }
    } else {
        rb.dirty = true;
        add(&totals.failed, 1);
    }
    if (--m->pending == 0) {
        free(m);
    }
}

/* Sends line (+ value) to each of to[0..k). */
static void send_key(const size_t *to, size_t k, const char *line, size_t n,
                     const char *value, size_t vlen)
{
    struct move *m = malloc(sizeof(*m));
    size_t i, sent = 0;

    if (m == NULL) {
        rb.dirty = true;
        return;
    }
    m->pending = (unsigned)k + 1; /* + 1: ours, until the loop is done */
    m->bytes = (uint32_t)(n + vlen);
    for (i = 0; i < k; i++) {
        struct peer_request q = { 0 };

        q.addr = rb.cur.addr[to[i]];
        q.req = line;
        q.n = n;
        q.value = value;
        q.vlen = vlen;
        q.kind = PEER_REPLY_LINE;
        q.done = on_done;
        q.arg = m;
        if (peer_send(&q)) {
            rb.inflight += n + vlen;
            sent++;
        } else {
            m->pending--;
            rb.dirty = true;
            add(&totals.failed, 1);
        }
    }
    rb.pass_bytes += sent * (n + vlen);
    rb.window_bytes += sent * (n + vlen);
    add(&totals.bytes_moved, sent * (n + vlen));
    rb.tokens -= (double)(sent * (n + vlen));
    if (--m->pending == 0) {
        free(m);                  /* nothing was queued, or all answered */
    }
}

static void send_item(struct item *it)
{
    size_t to[REPLICA_MAX], k, n, vlen;
    char line[REPLICA_LINE_MAX];

    if (!(item_flags_load(it) & ITEM_LINKED)) {
        return;                   /* deleted since the walk saw it */
    }
    k = plan(item_key(it), it->nkey, to);
    if (k == 0) {
        return;
    }
    n = replica_set_line(it, 0, line, sizeof(line));
    vlen = n > 0 ? replica_value(it, &rb.value, &rb.value_cap) : 0;
    if (vlen == 0) {
        rb.dirty = true;
        return;
    }
    rb.pass_keys++;
    send_key(to, k, line, n, rb.value, vlen);
}

static void send_tombstone(const struct tombstone_entry *t)
{
    size_t to[REPLICA_MAX], k;
    char line[REPLICA_LINE_MAX];
    int n;

    k = plan(t->key, t->nkey, to);
    n = snprintf(line, sizeof(line), "rc_del %.*s %" PRIu64 "\r\n",
                 (int)t->nkey, t->key, t->version);
    if (k == 0 || n <= 0 || (size_t)n >= sizeof(line)) {
        return;
    }
    send_key(to, k, line, (size_t)n, NULL, 0);
}

/* ---- the pass ------------------------------------------------------- */

static void finish_leave(void)
{
    pthread_mutex_lock(&leave_lock);
    leave_done = true;
    pthread_cond_broadcast(&leave_cond);
    pthread_mutex_unlock(&leave_lock);
}

static void start_pass(void)
{
    memset(&rb.walk, 0, sizeof(rb.walk));
    rb.tomb_cursor = 0;
    rb.dirty = false;
    rb.phase = PHASE_ITEMS;
    rb.started_ms = now_ms();
    rb.chunks_total = cache_walk_chunks();
    rb.window_ms = rb.started_ms;
    rb.window_bytes = 0;
    put(&totals.rate, 0);
    rb.pass_keys = rb.pass_bytes = 0;
    put(&totals.running, 1);
    if (map_to_cur() != 0) {
        rb.phase = PHASE_IDLE;    /* out of memory: the next tick retries */
        put(&totals.running, 0);
        return;
    }
    LOG_AT(1, "rebalance: pass from %zu to %zu members (%zu rings)%s\n",
           rb.hist[0].n, rb.cur.n, rb.nhist, rb.leaving ? ", leaving" : "");
}

static void finish_pass(void)
{
    if (rb.dirty && !rb.leaving) {
        /* Some owner did not answer: the same pass again, later. */
        rb.retry_ms = rb.retry_ms == 0 ? RETRY_MIN_MS
                      : rb.retry_ms * 2 > RETRY_MAX_MS ? RETRY_MAX_MS
                                                       : rb.retry_ms * 2;
        rb.retry_at_ms = now_ms() + rb.retry_ms;
        rb.phase = PHASE_IDLE;
        return;
    }
    rb.retry_ms = 0;
    if (resync_quiet(&rb.resync)) {
        rb.resync.n = 0;          /* every owner asked for has it all */
        rb.resync.all = false;
    }                             /* else: asked again meanwhile: again */
    hist_clear();
    rb.hist[0] = rb.cur;          /* settled */
    rb.nhist = 1;
    memset(&rb.cur, 0, sizeof(rb.cur));
    rb.phase = PHASE_IDLE;
    add(&totals.passes, 1);
    put(&totals.running, 0);
    put(&totals.progress_pct, 100);
    put(&totals.keys_to_move, 0);
    put(&totals.bytes_to_move, 0);
    put(&totals.eta_s, 0);
    if (rb.leaving) {
        finish_leave();
    }
}

/* The leave's pass: from the ring of now to the same without us. */
static void start_leave(const struct cluster_view *v)
{
    struct snap with, without;

    if (snap_take(&with, v, false) != 0) {
        finish_leave();           /* nothing to hand on from here */
        return;
    }
    if (snap_take(&without, v, true) != 0) {
        snap_free(&with);
        finish_leave();
        return;
    }
    hist_clear();
    snap_free(&rb.cur);
    rb.hist[0] = with;
    rb.nhist = 1;
    rb.cur = without;
    rb.leaving = true;
    start_pass();
}

/* The first ring this timer sees. If the node has stored anything, it
 * did so under rings seen before the timer's first tick (a node joins
 * and takes writes within milliseconds, quicker than TICK_IDLE_MS), and
 * nothing says who missed what: every holder sends to every owner, as
 * after an unseen ring. An empty node has nothing to move. */
static void first_ring(const struct cluster_view *v)
{
    struct cache_stats cs;
    struct tombstone_stats ts;

    if (snap_take(&rb.hist[0], v, false) != 0) {
        return;
    }
    rb.nhist = 1;
    cache_stats_sum(&cs);
    tombstone_stats(&ts);
    if (cs.total_items == 0 && ts.recorded == 0) {
        return;
    }
    if (snap_take(&rb.cur, v, false) == 0) {
        rb.overflow = true;
        rb.retry_ms = 0;
        start_pass();
    }
}

/* Owners that missed a replica's copy: a pass sends each every key it
 * owns (a new owner, or one asked for during a pass, restarts it). */
static void check_resync(const struct cluster_view *v)
{
    bool fresh, idle = rb.phase == PHASE_IDLE;
    bool stranded = (rb.resync.n > 0 || rb.resync.all) && idle &&
                    rb.cur.ring == NULL;

    if (!resync_take(&rb.resync, &fresh) && !stranded) {
        return;
    }
    if (!idle && !fresh) {
        return;                   /* the running pass ends with "again" */
    }
    if (idle && rb.cur.ring != NULL && now_ms() < rb.retry_at_ms) {
        return;                   /* the failed pass's retry takes them */
    }
    if (rb.cur.ring == NULL && snap_take(&rb.cur, v, false) != 0) {
        return;                   /* stranded: the next tick tries */
    }
    add(&totals.resyncs, 1);
    start_pass();
}

/* Looks at the view: a ring other than the one the node is settled on
 * or working toward (re)starts a pass; a failed pass is repeated. */
static void watch_view(void)
{
    const struct cluster_view *v;
    bool asked;

    pthread_mutex_lock(&leave_lock);
    asked = leave_asked && !leave_done && !rb.leaving;
    pthread_mutex_unlock(&leave_lock);
    rcu_read_lock();
    v = cluster_view();
    if (asked) {
        start_leave(v);
    } else if (!rb.leaving && v != NULL && v->ring != NULL) {
        const struct snap *target = rb.cur.ring != NULL ? &rb.cur
                                                        : &rb.hist[0];

        if (rb.nhist == 0) {
            first_ring(v);
        } else if (v->ring->gen != target->gen) {
            if (v->ring->gen > target->gen + 1) {
                rb.overflow = true;   /* a ring came and went unseen */
            }
            if (rb.cur.ring != NULL) {
                hist_push_cur();  /* cut short: remember what it was */
            }
            if (snap_take(&rb.cur, v, false) == 0) {
                rb.retry_ms = 0;
                start_pass();
            }
        } else if (rb.phase == PHASE_IDLE && rb.cur.ring != NULL &&
                   now_ms() >= rb.retry_at_ms) {
            start_pass();         /* a failed pass, again */
        }
        if (rb.nhist > 0 && !rb.leaving) {
            check_resync(v);
        }
    }
    rcu_read_unlock_annotated();
}

static void refill(void)
{
    uint64_t now = now_ms();
    double rate = (double)rb.rate_kib * 1024.0, cap;

    if (rb.rate_kib == 0 || rb.leaving) {
        rb.tokens = (double)REBALANCE_WINDOW;
    } else {
        cap = rate / 20 > 16384 ? rate / 20 : 16384;  /* 50 ms' burst */
        rb.tokens += rate * (double)(now - rb.last_ms) / 1000.0;
        rb.tokens = rb.tokens > cap ? cap : rb.tokens;
    }
    rb.last_ms = now;
}

static void report(void)
{
    uint64_t now = now_ms(), el = now - rb.started_ms;
    double done = rb.phase != PHASE_ITEMS ? 1.0
                  : rb.chunks_total > 0
                      ? (double)rb.walk.visited / (double)rb.chunks_total
                      : 0.0;

    /* The rate over whole seconds, so the first tick's burst does not
     * read as the rate. */
    if (now - rb.window_ms >= 1000) {
        put(&totals.rate, rb.window_bytes * 1000 / (now - rb.window_ms));
        rb.window_ms = now;
        rb.window_bytes = 0;
    }
    done = done > 0.99 && rb.phase == PHASE_ITEMS ? 0.99 : done;
    put(&totals.progress_pct, (uint64_t)(done * 100));
    if (done > 0) {
        double left = (1.0 - done) / done;

        put(&totals.keys_to_move, (uint64_t)((double)rb.pass_keys * left));
        put(&totals.bytes_to_move, (uint64_t)((double)rb.pass_bytes * left));
        put(&totals.eta_s, (uint64_t)((double)el * left / 1000.0 + 0.999));
    }
}

/* One tick's share of the pass. */
static void work(void)
{
    size_t chunks = TICK_CHUNKS;

    refill();
    while (rb.phase == PHASE_ITEMS && chunks > 0 && rb.tokens > 0 &&
           rb.inflight < REBALANCE_WINDOW) {
        struct item *batch[WALK_BATCH];
        size_t step = chunks < 1024 ? chunks : 1024, n, i;
        /* Under a rate, few items at once: what a batch sends past the
         * tokens is the rate's overshoot. */
        size_t want = rb.tokens >= (double)(WALK_BATCH << 10)
                      ? WALK_BATCH : (size_t)rb.tokens / 1024 + 1;

        n = cache_walk_next(&rb.walk, step, batch, want);
        chunks -= step;
        for (i = 0; i < n; i++) {
            send_item(batch[i]);
            item_put(batch[i]);
        }
        if (rb.walk.done) {
            rb.phase = PHASE_TOMBSTONES;
        }
    }
    while (rb.phase == PHASE_TOMBSTONES && rb.tokens > 0 &&
           rb.inflight < REBALANCE_WINDOW && chunks > 0) {
        struct tombstone_entry t[TOMB_BATCH];
        size_t n = tombstone_next(&rb.tomb_cursor, t, TOMB_BATCH), i;

        for (i = 0; i < n; i++) {
            send_tombstone(&t[i]);
        }
        chunks -= chunks < 256 ? chunks : 256;
        if (rb.tomb_cursor >= tombstone_buckets()) {
            rb.phase = PHASE_DRAIN;
        }
    }
    if (rb.phase == PHASE_DRAIN && rb.inflight == 0) {
        finish_pass();
    }
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    struct timeval tv = { 0, 0 };

    (void)fd;
    (void)what;
    (void)arg;
    if (cluster_enabled()) {
        watch_view();
        if (rb.phase != PHASE_IDLE) {
            work();
            report();
        }
    }
    tv.tv_usec = (rb.phase != PHASE_IDLE ? TICK_BUSY_MS : TICK_IDLE_MS) *
                 1000;
    evtimer_add(rb.timer, &tv);
}

/* ---- the API -------------------------------------------------------- */

void rebalance_setup(unsigned rate_kib)
{
    rb.rate_kib = rate_kib;
    cluster_set_restart_hook(rebalance_resync);
}

void rebalance_thread_init(void)
{
    struct worker *w = worker_self(), *none = NULL;
    struct timeval tv = { 0, TICK_IDLE_MS * 1000 };

    if (w == NULL ||
        !__atomic_compare_exchange_n(&rb.owner, &none, w, false,
                                     __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
        return;
    }
    rb.timer = evtimer_new(worker_base(w), on_tick, NULL);
    rb.last_ms = now_ms();
    if (rb.timer != NULL) {
        evtimer_add(rb.timer, &tv);
    }
}

void rebalance_thread_fini(void)
{
    if (worker_self() == NULL ||
        worker_self() != __atomic_load_n(&rb.owner, __ATOMIC_ACQUIRE)) {
        return;
    }
    if (rb.timer != NULL) {
        event_free(rb.timer);
        rb.timer = NULL;
    }
    hist_clear();
    snap_free(&rb.cur);
    free(rb.resync_cur);
    rb.resync_cur = NULL;
    free(rb.value);
    rb.value = NULL;
    rb.value_cap = 0;
}

void rebalance_leave(unsigned timeout_ms)
{
    struct timespec ts;

    if (!cluster_enabled() ||
        __atomic_load_n(&rb.owner, __ATOMIC_ACQUIRE) == NULL) {
        return;
    }
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += timeout_ms / 1000;
    ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    ts.tv_sec += ts.tv_nsec / 1000000000L;
    ts.tv_nsec %= 1000000000L;
    pthread_mutex_lock(&leave_lock);
    leave_asked = true;
    while (!leave_done) {
        if (pthread_cond_timedwait(&leave_cond, &leave_lock, &ts) != 0) {
            break;
        }
    }
    pthread_mutex_unlock(&leave_lock);
}

void rebalance_stats_get(struct rebalance_stats *out)
{
    const uint64_t *src = (const uint64_t *)&totals;
    uint64_t *dst = (uint64_t *)out;
    size_t i;

    for (i = 0; i < sizeof(*out) / sizeof(uint64_t); i++) {
        dst[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
    }
}
