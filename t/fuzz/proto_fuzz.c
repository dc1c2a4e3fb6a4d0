/*
 * proto_fuzz: libFuzzer target for every request decoder behind a
 * connection: -B auto's first-byte choice, the text and binary framing and
 * parsing, and the executors, against the real cache (8 MiB, so eviction
 * and too-large paths run too).
 *
 * The connection is a stand-in (this file) that does what net/conn.c does
 * with input: hands unparsed bytes to the protocol's on_read look-ahead
 * and on_input, copies a value announced by conn_read_value() into its
 * item, swallows what a handler rejects. Output is counted, not sent. The
 * first input byte picks where a connection starts (-B auto's negotiation,
 * binary, text, or -Y's authentication in front of text) and whether
 * flush_all is allowed, so those paths run too.
 * What is checked: no crash, no sanitizer report, no runaway loop, and
 * that handlers never claim more bytes than they were given.
 */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cache/cache.h"
#include "cluster/cluster.h"
#include "net/conn.h"
#include "server/auth.h"
#include "server/binary.h"
#include "server/dispatch.h"
#include "server/protocol.h"
#include "server/settings.h"
#include "server/stats.h"
#include "util/clock.h"
#include "util/log.h"

/* ---- the stand-in connection ----------------------------------------- */

struct conn {
    enum conn_state state;
    const struct conn_handler *h;
    bool close_after_write;
    struct item *value_item;
    size_t value_off, value_tail;
    char tail[2];
    size_t swallow_left;
    size_t out_bytes, queued_values;
    struct conn_pending pend;
    struct conn_auth auth;
};

static const struct conn_handler *first_handler;

void conn_set_handler(const struct conn_handler *h) { first_handler = h; }
void conn_set_protocol(struct conn *c, const struct conn_handler *h) { c->h = h; }
void conn_set_auth_release(void (*fn)(void *sasl)) { (void)fn; }
struct conn_auth *conn_auth(struct conn *c) { return &c->auth; }
struct conn_pending *conn_pending(struct conn *c) { return &c->pend; }
int conn_fd(const struct conn *c) { (void)c; return 99; }
size_t conn_max_line(void) { return 64 * 1024; }
void conn_out(struct conn *c, const char *s, size_t n) { (void)s; c->out_bytes += n; }
void conn_mark(struct conn *c) { (void)c; }
void conn_out_line(struct conn *c, const char *s) { c->out_bytes += strlen(s) + 2; }
void conn_out_discard(struct conn *c) { c->out_bytes = 0; }
void conn_out_checkpoint(struct conn *c) { (void)c; }
void conn_close_after_write(struct conn *c) { c->close_after_write = true; }
void conn_close_now(struct conn *c) { c->state = CONN_CLOSING; }

void conn_out_value(struct conn *c, struct item *it)
{
    c->out_bytes += it->nbytes;
    c->queued_values++;
    item_put(it);
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

/* Runs input through the connection as conn.c's process() would. */
static void drive(struct conn *c, char *buf, size_t len)
{
    size_t pos = 0;
    unsigned steps = 0;

    while (pos < len && c->state != CONN_CLOSING && !c->close_after_write &&
           ++steps < 100000) {
        size_t avail = len - pos;
        char *p = buf + pos;

        if (c->state == CONN_CMD) {
            size_t used;

            /* conn.c calls it after a read; here at every request
             * boundary, so the look-ahead sees every suffix. */
            if (c->h->on_read != NULL) {
                c->h->on_read(c, p, avail);
            }
            used = c->h->on_input(c, p, avail);

            assert(used <= avail);
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
        const struct conn_handler *text = dispatch_text_handler();

        dispatch_setup(s);
        binary_setup(s);
        switch (data[0] & 3) {
        case 0: conn_set_handler(protocol_handler(s)); break;
        case 1: conn_set_handler(binary_handler_get()); break;
        case 2: conn_set_handler(text); break;
        default: conn_set_handler(auth_ascii_handler(text)); break;
        }
    }
    memset(&c, 0, sizeof(c));
    c.h = first_handler;
    /* Handlers write into the buffer (NUL-terminating lines). */
    buf = malloc(size);
    memcpy(buf, data + 1, size - 1);
    drive(&c, buf, size - 1);
    if (c.value_item != NULL) {
        item_put(c.value_item);   /* connection closed mid-value */
    }
    free(buf);
    cache_quiesce();
    return 0;
}
