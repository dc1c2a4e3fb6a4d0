/*
 * proto_fuzz: libFuzzer target for every request decoder behind a
 * connection: -B auto's first-byte choice, the text and binary framing and
 * parsing, and the executors, against the real cache (8 MiB, so eviction
 * and too-large paths run too).
 *
 * The connection is a stand-in (this file) that does what net/conn.c does
 * with input: hands unparsed bytes to the protocol's on_read look-ahead
 * and on_input, copies a value announced by conn_read_value() into its
 * item, swallows what a handler rejects, resumes a suspended request.
 * Output goes through the real reply queue (net/outq.c) to a socket that
 * writes in fuzz-chosen pieces, checked against a model of the bytes the
 * client must get. The
 * first input byte picks where a connection starts (-B auto's negotiation,
 * binary, text, or -Y's authentication in front of text) and whether
 * flush_all is allowed, so those paths run too.
 * What is checked: no crash, no sanitizer report, no runaway loop, that
 * handlers never claim more bytes than they were given, and that the
 * client receives exactly the replies that were not discarded.
 */
#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cache/cache.h"
#include "cluster/cluster.h"
#include "cache/tombstone.h"
#include "cluster/router.h"
#include "net/conn.h"
#include "net/outq.h"
#include "server/auth.h"
#include "server/exec_binary.h"
#include "server/exec_text.h"
#include "server/protocol.h"
#include "server/settings.h"
#include "server/stats.h"
#include "util/clock.h"
#include "util/log.h"

/* ---- the stand-in connection ----------------------------------------- */

/*
 * Output goes through the real reply queue (net/outq.c) and a socket that
 * takes as many bytes per write as the input's last bytes say, so partial
 * writes, checkpoints, discards, compaction and flow-control suspension
 * all run. Beside it a model keeps the bytes that must reach the client
 * (committed + discardable, as in t/unit/outq_test.cc); at the end what
 * the socket took must be exactly that.
 */
#define FUZZ_OUT_LIMIT 4096       /* small, so multi-gets suspend */

struct model {
    char *buf;
    size_t len, committed, cap;
};

struct conn {
    enum conn_state state;
    const struct conn_handler *h;
    bool close_after_write;
    bool suspended;
    struct item *value_item;
    size_t value_off, value_tail;
    char tail[2];
    size_t swallow_left;
    struct outq out;
    struct model want;            /* what must reach the client */
    struct model got;             /* what the socket took */
    const uint8_t *write_sizes;   /* per-write byte budgets, cycled */
    size_t nwrite_sizes, next_write;
    struct conn_pending pend;
    struct conn_auth auth;
    bool from_peer;               /* admitted by rc_peer */
};

static void model_add(struct model *m, const void *p, size_t n)
{
    if (n == 0) {
        return;                   /* p may be NULL (an empty segment) */
    }
    if (m->len + n > m->cap) {
        size_t cap = m->cap ? m->cap : 4096;

        while (cap < m->len + n) {
            cap *= 2;
        }
        m->buf = realloc(m->buf, cap);
        assert(m->buf != NULL);
        m->cap = cap;
    }
    memcpy(m->buf + m->len, p, n);
    m->len += n;
}

static const struct conn_handler *first_handler;

void conn_set_handler(const struct conn_handler *h) { first_handler = h; }
void conn_set_protocol(struct conn *c, const struct conn_handler *h) { c->h = h; }
void conn_set_auth_release(void (*fn)(void *sasl)) { (void)fn; }
struct conn_auth *conn_auth(struct conn *c) { return &c->auth; }
struct conn_pending *conn_pending(struct conn *c) { return &c->pend; }
int conn_fd(const struct conn *c) { (void)c; return 99; }
size_t conn_max_line(void) { return 64 * 1024; }
void conn_mark(struct conn *c) { outq_mark(&c->out); }
void conn_mark_keep_empty(struct conn *c) { outq_mark_keep_empty(&c->out); }
void conn_close_after_write(struct conn *c) { c->close_after_write = true; }
void conn_close_now(struct conn *c) { c->state = CONN_CLOSING; }
bool conn_out_full(const struct conn *c) { return outq_pending(&c->out) >= FUZZ_OUT_LIMIT; }
void conn_suspend(struct conn *c) { c->suspended = true; }

void conn_out(struct conn *c, const char *s, size_t n)
{
    if (!outq_copy(&c->out, s, n)) {
        c->state = CONN_CLOSING;
        return;
    }
    model_add(&c->want, s, n);
}

void conn_out_line(struct conn *c, const char *s)
{
    conn_out(c, s, strlen(s));
    conn_out(c, "\r\n", 2);
}

void conn_out_value(struct conn *c, struct item *it)
{
    size_t n = it->nbytes;
    char *v = malloc(n + 1);

    item_copy_out(it, 0, v, n);
    if (!outq_value(&c->out, it)) {
        c->state = CONN_CLOSING;
    } else {
        model_add(&c->want, v, n);
    }
    free(v);
}

void conn_out_checkpoint(struct conn *c)
{
    outq_checkpoint(&c->out);
    c->want.committed = c->want.len;
}

void conn_out_discard(struct conn *c)
{
    outq_discard(&c->out);
    c->want.len = c->want.committed;
}

void conn_read_value(struct conn *c, struct item *it, size_t tail)
{
    assert(tail == 0 || tail == 2);
    c->value_item = it;
    c->value_off = 0;
    c->value_tail = tail;
    c->state = CONN_VALUE;
}

void conn_swallow(struct conn *c, size_t n)
{
    c->swallow_left = n;
    c->state = n > 0 ? CONN_SWALLOW : CONN_CMD;
}

/* The socket: takes the next budget's worth of bytes, then EAGAIN. */
static ssize_t fuzz_writev(void *ctx, const struct iovec *iov, int cnt)
{
    struct conn *c = ctx;
    size_t budget = c->nwrite_sizes == 0 ? SIZE_MAX :
        (size_t)c->write_sizes[c->next_write++ % c->nwrite_sizes] * 7;
    size_t total = 0;
    int i;

    if (budget == 0) {
        errno = EAGAIN;
        return -1;
    }
    for (i = 0; i < cnt && budget > 0; i++) {
        size_t n = iov[i].iov_len < budget ? iov[i].iov_len : budget;

        model_add(&c->got, iov[i].iov_base, n);
        budget -= n;
        total += n;
    }
    return (ssize_t)total;
}

/* One flush as conn.c does it; a flush commits the model too. */
static void flush_once(struct conn *c)
{
    size_t written;

    (void)outq_flush(&c->out, fuzz_writev, c, &written);
    c->want.committed = c->want.len;
    assert(outq_pending(&c->out) == c->want.len - c->got.len);
}

/* ---- stats are not under test ----------------------------------------- */

__thread struct cmd_stats *stats_self;
static struct cmd_stats fuzz_stats;

int stats_reply(struct conn *c, const char *group, const char *arg)
{
    (void)arg;
    conn_out_line(c, "END");
    return group != NULL && strcmp(group, "bogus") == 0 ? -1 : 0;
}

int stats_emit_group(struct stats_sink *sink, const char *group)
{
    if (group != NULL && strcmp(group, "bogus") == 0) {
        return -1;
    }
    sink->emit(sink, "pid", "1");
    return 0;
}

void stats_reset_all(void) {}

/* ---- no cluster here ---------------------------------------------------- */

bool cluster_enabled(void) { return false; }
const struct cluster_view *cluster_view(void) { return NULL; }
uint64_t cluster_now_ns(void) { return 0; }
const char *gossip_state_name(enum gossip_state s) { (void)s; return "alive"; }
/* Without a cluster every key is served here: nothing is forwarded. */
bool router_remote(struct conn *c, const void *key, size_t nkey, char *addr)
{
    (void)c; (void)key; (void)nkey; (void)addr;
    return false;
}
void router_forward(struct conn *c, const struct peer_request *r)
{
    (void)c; (void)r;
    abort();                      /* router_remote never says so */
}
/* Not in a cluster: flush_all stays here. */
size_t router_broadcast(struct conn *c, const char *req, size_t n)
{
    (void)c; (void)req; (void)n;
    return 0;
}
void router_count_fanout(void) {}
/* rc_peer on the stand-in connection: rc_set and rc_del are served
 * (server/replica_apply.c) from then on. */
void conn_set_from_peer(struct conn *c) { c->from_peer = true; }
bool conn_from_peer(const struct conn *c) { return c->from_peer; }
void replica_count_applied(bool kept) { (void)kept; }
void replica_count_deleted(void) {}
void replica_count_conflict(void) {}
unsigned replica_count(void) { return 1; }

/* ---- the driver --------------------------------------------------------- */

static struct settings cfg[2];

static void setup_once(void)
{
    struct cache_options co;
    int i;

    for (i = 0; i < 2; i++) {
        struct settings *s = &cfg[i];

        memset(s, 0, sizeof(*s));
        s->protocol = "auto-negotiate";
        s->flush_enabled = i == 0;
        s->use_cas = true;
        s->item_size_max = 64 * 1024;
    }
    memset(&co, 0, sizeof(co));
    co.slab.mem_limit = 8 * 1024 * 1024;
    co.slab.page_size = 1024 * 1024;
    co.slab.chunk_max = 16 * 1024;
    co.slab.min_space = 48;
    co.slab.factor = 1.25;
    co.use_cas = true;
    co.evict = true;
    co.hashpower = 12;
    co.item_size_max = 64 * 1024;
    clock_setup();
    if (cache_setup(&co) != 0) {
        abort();
    }
    cache_thread_init();
    if (tombstone_setup(1024, 60) != 0) {
        abort();
    }
    stats_self = &fuzz_stats;
    {
        /* -Y: a token file, so the pre-authentication parser is fuzzed. */
        char path[] = "/tmp/proto_fuzz_auth_XXXXXX";
        int fd = mkstemp(path);
        struct settings a = cfg[0];

        if (fd < 0 || write(fd, "user:pass\n", 10) != 10) {
            abort();
        }
        close(fd);
        a.auth_file = path;
        if (auth_setup(&a) != 0) {
            abort();
        }
        unlink(path);
    }
}

/* Runs input through the connection as conn.c's process() and
 * conn_drive() would: requests one by one, a flush every few requests or
 * when output is at its limit, a suspended request resumed after it. */
static void drive(struct conn *c, char *buf, size_t len)
{
    size_t pos = 0;
    unsigned steps = 0;

    while (pos < len && c->state != CONN_CLOSING && !c->close_after_write &&
           ++steps < 100000) {
        size_t avail = len - pos;
        char *p = buf + pos;

        if (steps % 5 == 0 && c->state == CONN_CMD) {
            flush_once(c);
        }
        if (c->state == CONN_CMD) {
            size_t used;

            if (conn_out_full(c)) {
                flush_once(c);
                continue;
            }
            /* conn.c calls it after a read; here at every request
             * boundary, so the look-ahead sees every suffix. */
            if (c->h->on_read != NULL && !c->suspended) {
                c->h->on_read(c, p, avail);
            }
            c->suspended = false;
            used = c->h->on_input(c, p, avail);

            assert(used <= avail);
            if (c->suspended) {
                assert(used == 0);
                flush_once(c);
                continue;
            }
            if (used == 0) {
                return;           /* needs more input than there is */
            }
            pos += used;
        } else if (c->state == CONN_VALUE) {
            struct item *it = c->value_item;
            size_t total = (size_t)it->nbytes + c->value_tail;

            pos += conn_value_feed(it, &c->value_off, c->value_tail, c->tail,
                                   p, avail);
            if (c->value_off < total) {
                return;
            }
            c->value_item = NULL;
            c->state = CONN_CMD;
            c->h->on_value(c, it, c->value_tail == 0 ||
                                  (c->tail[0] == '\r' && c->tail[1] == '\n'));
            item_put(it);
        } else {
            size_t take = c->swallow_left < avail ? c->swallow_left : avail;

            pos += take;
            c->swallow_left -= take;
            if (c->swallow_left == 0) {
                c->state = CONN_CMD;
            }
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool ready;
    struct conn c;
    char *buf;

    if (!ready) {
        setup_once();
        ready = true;
    }
    if (size < 1) {
        return 0;
    }
    log_level = 0;                /* `verbosity 2` would log every line */
    {
        const struct settings *s = &cfg[(data[0] >> 2) & 1];
        const struct conn_handler *text = exec_text_handler();

        exec_text_setup(s);
        exec_binary_setup(s);
        switch (data[0] & 3) {
        case 0: conn_set_handler(protocol_handler(s)); break;
        case 1: conn_set_handler(exec_binary_handler()); break;
        case 2: conn_set_handler(text); break;
        default: conn_set_handler(auth_ascii_handler(text)); break;
        }
    }
    memset(&c, 0, sizeof(c));
    c.h = first_handler;
    if (!outq_init(&c.out, false)) {
        abort();
    }
    /* The input's last 8 bytes (when there are enough) are the socket's
     * write sizes, so partial writes land on every kind of boundary. */
    if (size > 16) {
        c.write_sizes = data + size - 8;
        c.nwrite_sizes = 8;
    }
    /* Handlers write into the buffer (NUL-terminating lines). */
    buf = malloc(size);
    memcpy(buf, data + 1, size - 1);
    drive(&c, buf, size - 1);
    if (c.value_item != NULL) {
        item_put(c.value_item);   /* connection closed mid-value */
    }
    /* Drain what is left: the client must get exactly the model's bytes,
     * unless the connection closed (then whatever it got is a prefix). */
    c.nwrite_sizes = 0;
    flush_once(&c);
    assert(outq_empty(&c.out));
    assert(c.got.len <= c.want.len);
    assert(c.got.len == 0 || memcmp(c.got.buf, c.want.buf, c.got.len) == 0);
    if (c.state != CONN_CLOSING) {
        assert(c.got.len == c.want.len);
    }
    outq_deinit(&c.out);
    free(c.want.buf);
    free(c.got.buf);
    free(buf);
    cache_quiesce();
    return 0;
}
