/*
 * gossip_fuzz: libFuzzer target for the gossip wire decoder, the envelope
 * (crypto open path) and the core's handling of whatever decodes.
 *
 * The first input byte picks the path, the rest is the message:
 *   0  body: compound split, message decode, push-pull walk; everything
 *      that decodes must re-encode to the same bytes (one meaning per
 *      byte string) and respect every documented bound
 *   1  plain envelope of cluster "fuzz", then as 0
 *   2  sealed envelope under a fixed key, then as 0 (reaching the body
 *      needs a valid tag, so this mostly exercises the refusal paths)
 *   3  a datagram into a running core (envelope + state machine)
 *   4  a stream message into a running core (push-pull merge, TCP ping)
 *   5  member metadata (cluster_meta), which also runs on the metadata of
 *      every message that decodes in 0-2
 *   6  a stream of replies from a peer (peer_reply), framed one after
 *      the other as any kind (text line, get, meta, binary; a binary
 *      one then relayed for a quiet or loud opcode) until one is
 *      incomplete or garbage
 * The core is recreated every few thousand inputs, and its member table
 * is capped small (max_members), so that fuzzed ALIVE messages and
 * push-pulls also exercise the full-table refusal path. Wire version 2:
 * PING/PING_REQ/ACK/NACK carry a 64-bit seq and ACK/NACK the target's
 * name; the round-trip check below covers them like every other type.
 */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/cluster_meta.h"
#include "cluster/gossip.h"
#include "cluster/peer_reply.h"
#include "cluster/gossip_crypto.h"
#include "cluster/gossip_wire.h"

#define CLUSTER "fuzz"

/* Metadata comes from peers: whatever it holds, decoding stays inside it
 * and yields a host string the ring and text replies can take. */
static void check_meta(const uint8_t *p, size_t n)
{
    struct cluster_meta m, again;
    uint8_t out[GOSSIP_META_MAX];
    size_t hl;

    if (n > GOSSIP_META_MAX || cluster_meta_decode(p, n, &m) != 0) {
        return;
    }
    hl = strlen(m.host);
    assert(hl == 0 || cluster_meta_host_valid(m.host, hl));
    assert(cluster_meta_encode(&m, out) <= GOSSIP_META_MAX);
    assert(cluster_meta_decode(out, cluster_meta_encode(&m, out), &again) == 0);
    assert(strcmp(again.host, m.host) == 0);
}

static void check_replies(const uint8_t *p, size_t n)
{
    size_t off = 0, i = 0;

    while (off < n) {
        struct peer_reply r;
        /* The kinds, and a binary reply's opcode, come from the input's
         * own bytes. */
        uint8_t pick = p[i++ % n];
        enum peer_reply_kind k = (enum peer_reply_kind)(pick & 3);
        char copy[64];

        if (peer_reply_frame(k, (const char *)p + off, n - off, &r) !=
            PEER_REPLY_DONE) {
            break;
        }
        assert(r.len > 0 && r.len <= n - off);
        assert(r.relay_len <= r.len);
        if (k == PEER_REPLY_BINARY) {
            size_t relay = 0, len = r.len < sizeof(copy) ? r.len : sizeof(copy);

            memcpy(copy, p + off, len);
            if (peer_reply_binary_relay(copy, len, pick >> 2, &relay)) {
                assert(relay == 0 || relay == len);
                assert((uint8_t)copy[1] == pick >> 2);
            }
        }
        off += r.len;
    }
}

static void check_msg(const uint8_t *p, size_t n)
{
    struct gossip_msg m;
    uint8_t out[2048];
    struct gossip_wbuf w;

    if (!gossip_wire_decode(p, n, &m)) {
        return;
    }
    assert(strlen(m.node) <= GOSSIP_NAME_MAX);
    assert(strlen(m.from) <= GOSSIP_NAME_MAX);
    if (m.type == GOSSIP_MSG_ACK || m.type == GOSSIP_MSG_NACK ||
        m.type == GOSSIP_MSG_PING || m.type == GOSSIP_MSG_PING_REQ) {
        assert(m.node[0] != '\0');  /* every probe message names one */
    }
    assert(m.meta_len <= GOSSIP_META_MAX);
    assert(m.meta_len == 0 || (m.meta >= p && m.meta + m.meta_len <= p + n));
    check_meta(m.meta, m.meta_len);
    gossip_wbuf_init(&w, out, sizeof(out));
    assert(gossip_wire_put_msg(&w, &m));
    assert(w.len == n && memcmp(out, p, n) == 0);
    assert(gossip_wire_msg_size(&m) == n);
}

static void check_body(const uint8_t *p, size_t n)
{
    const uint8_t *parts[GOSSIP_WIRE_MAX_PARTS];
    size_t lens[GOSSIP_WIRE_MAX_PARTS];
    int k = gossip_wire_split(p, n, parts, lens), i;

    assert(k <= GOSSIP_WIRE_MAX_PARTS);
    for (i = 0; i < k; i++) {
        assert(parts[i] >= p && parts[i] + lens[i] <= p + n);
        check_msg(parts[i], lens[i]);
    }
    if (gossip_wire_pp_check(p, n)) {
        struct gossip_wire_cursor c;
        struct gossip_wire_state s;
        bool join;
        uint32_t count = 0;

        assert(gossip_wire_pp_begin(p, n, &join, &c));
        while (gossip_wire_pp_next(&c, &s)) {
            assert(s.state < GOSSIP_NSTATES);
            assert(s.meta_len <= GOSSIP_META_MAX);
            count++;
        }
        assert(c.remaining == 0 && c.p == c.end);
        assert(count <= GOSSIP_WIRE_MAX_STATES);
    }
}

static struct gossip_keyring *keyring(void)
{
    static struct gossip_keyring *kr;
    static const uint8_t key[GOSSIP_KEY_LEN] = { 0x42 };

    if (kr == NULL) {
        kr = gossip_keyring_create();
        gossip_keyring_add(kr, key, true);
    }
    return kr;
}

static void check_envelope(const struct gossip_keyring *kr, const uint8_t *p,
                           size_t n)
{
    uint8_t *scratch = malloc(n ? n : 1);
    const uint8_t *body = NULL;
    size_t blen = 0;

    if (gossip_open(kr, CLUSTER, p, n, scratch, n, &body, &blen) ==
        GOSSIP_OPEN_OK) {
        assert(blen <= n);
        check_body(body, blen);
    }
    free(scratch);
}

static void sink_send(void *ctx, const struct gossip_addr *to,
                      const uint8_t *buf, size_t len)
{
    (void)ctx;
    (void)to;
    assert(len <= GOSSIP_DATAGRAM_MAX);
    (void)buf;
}

static void sink_stream(void *ctx, uint64_t id, const struct gossip_addr *to,
                        const uint8_t *buf, size_t len)
{
    (void)ctx;
    (void)id;
    (void)to;
    (void)buf;
    (void)len;
}

static void sink_reply(void *arg, const uint8_t *buf, size_t len)
{
    (void)arg;
    (void)buf;
    (void)len;
}

static struct gossip *core(uint64_t *now)
{
    static struct gossip *g;
    static unsigned uses;
    static const struct gossip_transport t = { sink_send, sink_stream, NULL };
    struct gossip_config c;

    if (g != NULL && ++uses % 4096 == 0) {
        gossip_destroy(&g);
    }
    if (g == NULL) {
        gossip_config_defaults(&c);
        c.name = "fuzz-node";
        c.cluster_name = CLUSTER;
        c.gossip_addr.family = 4;
        c.gossip_addr.port = 7946;
        c.client_addr = c.gossip_addr;
        c.max_members = 256;
        g = gossip_create(&c, &t, NULL, 1);
        assert(g != NULL);
        gossip_start(g, 1);
    }
    /* Let a little time pass so timers (suspicions, probes) fire too. */
    *now += 100000000ull;
    gossip_advance(g, *now);
    assert(gossip_member_count(g) <= 256);
    return g;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint64_t now = 1;
    struct gossip_addr from = { 4, 0, 7946, { 10, 0, 0, 9 } };
    struct gossip *g;

    if (size == 0) {
        return 0;
    }
    switch (data[0] % 7) {
    case 0:
        check_body(data + 1, size - 1);
        break;
    case 1:
        check_envelope(NULL, data + 1, size - 1);
        break;
    case 2:
        check_envelope(keyring(), data + 1, size - 1);
        break;
    case 3:
        g = core(&now);
        gossip_on_datagram(g, &from, data + 1, size - 1, now);
        break;
    case 4:
        g = core(&now);
        gossip_on_stream(g, &from, data + 1, size - 1, now, sink_reply,
                         NULL);
        break;
    case 5:
        check_meta(data + 1, size - 1);
        break;
    case 6:
        check_replies(data + 1, size - 1);
        break;
    }
    return 0;
}
