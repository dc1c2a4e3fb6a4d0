/*
 * gossip_wire_test: the gossip codec (cluster/gossip_wire.h). Every
 * message type round-trips; every truncation of a valid message, every
 * out-of-bounds field and every trailing byte is refused; compound and
 * push-pull framing reject what a hostile peer could send; and the
 * encoders refuse to produce what the decoder would refuse.
 */
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "cluster/gossip_wire.h"

namespace {

using Bytes = std::vector<uint8_t>;

struct gossip_addr V4(uint8_t a, uint8_t b, uint8_t c, uint8_t d,
                      uint16_t port)
{
    struct gossip_addr x;

    memset(&x, 0, sizeof(x));
    x.family = 4;
    x.ip[0] = a;
    x.ip[1] = b;
    x.ip[2] = c;
    x.ip[3] = d;
    x.port = port;
    return x;
}

struct gossip_addr V6(uint16_t port)
{
    struct gossip_addr x;

    memset(&x, 0, sizeof(x));
    x.family = 6;
    for (int i = 0; i < 16; i++) {
        x.ip[i] = (uint8_t)(0x20 + i);
    }
    x.port = port;
    return x;
}

struct gossip_msg Msg(uint8_t type)
{
    struct gossip_msg m;

    memset(&m, 0, sizeof(m));
    m.type = type;
    return m;
}

Bytes Encode(const struct gossip_msg &m)
{
    uint8_t buf[2048];
    struct gossip_wbuf w;

    gossip_wbuf_init(&w, buf, sizeof(buf));
    EXPECT_TRUE(gossip_wire_put_msg(&w, &m));
    EXPECT_EQ(w.len, gossip_wire_msg_size(&m));
    return Bytes(buf, buf + w.len);
}

const uint8_t kMeta[] = { 1, 2, 3, 0, 255 };

/* One valid instance of every message type, with maximal fields where
 * that makes a difference. */
std::vector<struct gossip_msg> AllMessages()
{
    std::vector<struct gossip_msg> v;
    struct gossip_msg m;

    m = Msg(GOSSIP_MSG_PING);
    m.seq = 0xdeadbeefcafef00dull;  /* all 64 bits travel */
    strcpy(m.node, "node-1");
    v.push_back(m);

    m = Msg(GOSSIP_MSG_PING_REQ);
    m.seq = 7;
    m.want_nack = true;
    strcpy(m.node, std::string(GOSSIP_NAME_MAX, 'n').c_str());
    m.addr = V6(7946);
    v.push_back(m);

    m = Msg(GOSSIP_MSG_ACK);
    m.seq = 1;
    strcpy(m.node, "node-1");   /* acks name the member pinged */
    v.push_back(m);

    m = Msg(GOSSIP_MSG_NACK);
    m.seq = UINT64_MAX;
    strcpy(m.node, std::string(GOSSIP_NAME_MAX, 'n').c_str());
    v.push_back(m);

    m = Msg(GOSSIP_MSG_ALIVE);
    m.incarnation = 42;
    strcpy(m.node, "10.0.0.1:11211");
    m.addr = V4(10, 0, 0, 1, 7946);
    m.client_addr = V6(11211);
    m.weight = 300;
    m.meta = kMeta;
    m.meta_len = sizeof(kMeta);
    v.push_back(m);

    m = Msg(GOSSIP_MSG_SUSPECT);
    m.incarnation = 3;
    strcpy(m.node, "a");
    strcpy(m.from, "b");
    v.push_back(m);

    m = Msg(GOSSIP_MSG_DEAD);
    m.incarnation = 9;
    strcpy(m.node, "a");
    strcpy(m.from, "a");
    v.push_back(m);
    return v;
}

void ExpectSame(const struct gossip_msg &a, const struct gossip_msg &b)
{
    EXPECT_EQ(a.type, b.type);
    EXPECT_EQ(a.seq, b.seq);
    EXPECT_EQ(a.want_nack, b.want_nack);
    EXPECT_EQ(a.incarnation, b.incarnation);
    EXPECT_STREQ(a.node, b.node);
    EXPECT_STREQ(a.from, b.from);
    EXPECT_EQ(a.weight, b.weight);
    ASSERT_EQ(a.meta_len, b.meta_len);
    if (a.meta_len) {
        EXPECT_EQ(memcmp(a.meta, b.meta, a.meta_len), 0);
    }
    if (a.type == GOSSIP_MSG_ALIVE || a.type == GOSSIP_MSG_PING_REQ) {
        EXPECT_TRUE(gossip_addr_equal(&a.addr, &b.addr));
    }
    if (a.type == GOSSIP_MSG_ALIVE) {
        EXPECT_TRUE(gossip_addr_equal(&a.client_addr, &b.client_addr));
    }
}

TEST(GossipWire, EveryMessageRoundTrips)
{
    for (const auto &m : AllMessages()) {
        Bytes b = Encode(m);
        struct gossip_msg d;

        ASSERT_TRUE(gossip_wire_decode(b.data(), b.size(), &d))
            << "type " << (int)m.type;
        ExpectSame(m, d);
    }
}

TEST(GossipWire, EveryTruncationIsRefused)
{
    for (const auto &m : AllMessages()) {
        Bytes b = Encode(m);
        struct gossip_msg d;

        for (size_t n = 0; n < b.size(); n++) {
            EXPECT_FALSE(gossip_wire_decode(b.data(), n, &d))
                << "type " << (int)m.type << " cut at " << n;
        }
    }
}

TEST(GossipWire, TrailingBytesAreRefused)
{
    for (const auto &m : AllMessages()) {
        Bytes b = Encode(m);
        struct gossip_msg d;

        b.push_back(0);
        EXPECT_FALSE(gossip_wire_decode(b.data(), b.size(), &d))
            << "type " << (int)m.type;
    }
}

TEST(GossipWire, UnknownTypesAreRefused)
{
    struct gossip_msg d;

    for (int t : { 0, (int)GOSSIP_MSG_COMPOUND, (int)GOSSIP_MSG_PUSH_PULL, 10,
                   255 }) {
        uint8_t b[16] = { (uint8_t)t };

        EXPECT_FALSE(gossip_wire_decode(b, sizeof(b), &d)) << t;
    }
}

/* ALIVE's layout: type inc(4) namelen name family ip(4) port(2) ... */
TEST(GossipWire, OutOfBoundsFieldsAreRefused)
{
    struct gossip_msg a = AllMessages()[4], d;
    Bytes good = Encode(a);
    size_t name_at = 5, name_len = strlen(a.node);
    size_t addr_at = name_at + 1 + name_len;
    Bytes b;

    ASSERT_TRUE(gossip_wire_decode(good.data(), good.size(), &d));

    b = good;                   /* empty name */
    b[name_at] = 0;
    EXPECT_FALSE(gossip_wire_decode(b.data(), b.size(), &d));

    b = good;                   /* a NUL inside the name */
    b[name_at + 3] = 0;
    EXPECT_FALSE(gossip_wire_decode(b.data(), b.size(), &d));

    b = good;                   /* unknown address family */
    for (uint8_t fam : { 0, 5, 255 }) {
        b[addr_at] = fam;
        EXPECT_FALSE(gossip_wire_decode(b.data(), b.size(), &d)) << fam;
    }

    b = good;                   /* meta longer than GOSSIP_META_MAX */
    b[b.size() - sizeof(kMeta) - 1] = GOSSIP_META_MAX + 1;
    b.resize(b.size() - sizeof(kMeta) + GOSSIP_META_MAX + 1, 'm');
    EXPECT_FALSE(gossip_wire_decode(b.data(), b.size(), &d));

    /* A name of 65 bytes, hand-built (the encoder refuses to). */
    b = { GOSSIP_MSG_PING, 0, 0, 0, 0, 0, 0, 0, 1, GOSSIP_NAME_MAX + 1 };
    b.resize(b.size() + GOSSIP_NAME_MAX + 1, 'x');
    EXPECT_FALSE(gossip_wire_decode(b.data(), b.size(), &d));
    b[9] = GOSSIP_NAME_MAX;     /* the same bytes, legal length: trailing */
    EXPECT_FALSE(gossip_wire_decode(b.data(), b.size(), &d));
    b.pop_back();
    EXPECT_TRUE(gossip_wire_decode(b.data(), b.size(), &d));

    /* PING_REQ with a reserved flag bit. */
    b = Encode(AllMessages()[1]);
    b[9] |= 2;
    EXPECT_FALSE(gossip_wire_decode(b.data(), b.size(), &d));
}

TEST(GossipWire, EncoderRefusesWhatDecoderWould)
{
    uint8_t buf[512];
    struct gossip_wbuf w;
    struct gossip_msg m = Msg(GOSSIP_MSG_PING);

    gossip_wbuf_init(&w, buf, sizeof(buf));
    EXPECT_FALSE(gossip_wire_put_msg(&w, &m));          /* empty name */
    EXPECT_EQ(w.len, 0u);
    EXPECT_FALSE(w.overflow);

    m = AllMessages()[4];
    m.addr.family = 5;
    EXPECT_FALSE(gossip_wire_put_msg(&w, &m));
    m = AllMessages()[4];
    m.meta_len = GOSSIP_META_MAX + 1;
    EXPECT_FALSE(gossip_wire_put_msg(&w, &m));
    m = Msg(GOSSIP_MSG_COMPOUND);
    EXPECT_FALSE(gossip_wire_put_msg(&w, &m));
    EXPECT_EQ(w.len, 0u);

    /* Too small a buffer: refused and rolled back, not half-written. */
    m = AllMessages()[4];
    gossip_wbuf_init(&w, buf, gossip_wire_msg_size(&m) - 1);
    EXPECT_FALSE(gossip_wire_put_msg(&w, &m));
    EXPECT_EQ(w.len, 0u);
    gossip_wbuf_init(&w, buf, gossip_wire_msg_size(&m));
    EXPECT_TRUE(gossip_wire_put_msg(&w, &m));
}

Bytes Compound(const std::vector<Bytes> &parts)
{
    Bytes b = { GOSSIP_MSG_COMPOUND, (uint8_t)parts.size() };

    for (const auto &p : parts) {
        b.push_back((uint8_t)(p.size() >> 8));
        b.push_back((uint8_t)p.size());
        b.insert(b.end(), p.begin(), p.end());
    }
    return b;
}

TEST(GossipWire, CompoundSplitsAndRejectsBadFraming)
{
    const uint8_t *parts[GOSSIP_WIRE_MAX_PARTS];
    size_t lens[GOSSIP_WIRE_MAX_PARTS];
    std::vector<Bytes> msgs;
    Bytes b;

    for (const auto &m : AllMessages()) {
        msgs.push_back(Encode(m));
    }
    b = Compound(msgs);
    ASSERT_EQ(gossip_wire_split(b.data(), b.size(), parts, lens),
              (int)msgs.size());
    for (size_t i = 0; i < msgs.size(); i++) {
        EXPECT_EQ(Bytes(parts[i], parts[i] + lens[i]), msgs[i]);
    }
    for (size_t n = 0; n < b.size(); n++) {
        EXPECT_EQ(gossip_wire_split(b.data(), n, parts, lens), -1) << n;
    }
    b.push_back(0);
    EXPECT_EQ(gossip_wire_split(b.data(), b.size(), parts, lens), -1);

    /* A plain message is its own single part. */
    EXPECT_EQ(gossip_wire_split(msgs[0].data(), msgs[0].size(), parts, lens),
              1);

    Bytes zero = { GOSSIP_MSG_COMPOUND, 0 };
    EXPECT_EQ(gossip_wire_split(zero.data(), zero.size(), parts, lens), -1);

    std::vector<Bytes> many(GOSSIP_WIRE_MAX_PARTS + 1, msgs[2]);
    b = Compound(many);
    EXPECT_EQ(gossip_wire_split(b.data(), b.size(), parts, lens), -1);
    many.pop_back();
    b = Compound(many);
    EXPECT_EQ(gossip_wire_split(b.data(), b.size(), parts, lens),
              GOSSIP_WIRE_MAX_PARTS);

    b = Compound({ msgs[0], Compound({ msgs[1] }) });   /* nested */
    EXPECT_EQ(gossip_wire_split(b.data(), b.size(), parts, lens), -1);
    b = Compound({ msgs[0], Bytes() });                 /* empty part */
    EXPECT_EQ(gossip_wire_split(b.data(), b.size(), parts, lens), -1);
    b = Compound({ msgs[0] });                          /* length past end */
    b[3] += 1;
    EXPECT_EQ(gossip_wire_split(b.data(), b.size(), parts, lens), -1);
    EXPECT_EQ(gossip_wire_split(nullptr, 0, parts, lens), -1);
}

struct gossip_wire_state State(int i)
{
    struct gossip_wire_state s;

    memset(&s, 0, sizeof(s));
    snprintf(s.node, sizeof(s.node), "node-%d", i);
    s.state = (uint8_t)(i % GOSSIP_NSTATES);
    s.incarnation = (uint32_t)i * 3;
    s.gossip_addr = V4(10, 0, 0, (uint8_t)i, 7946);
    s.client_addr = i % 2 ? V6(11211) : V4(10, 0, 0, (uint8_t)i, 11211);
    s.weight = (uint16_t)i;
    s.meta = i % 3 ? kMeta : nullptr;
    s.meta_len = i % 3 ? sizeof(kMeta) : 0;
    return s;
}

Bytes PushPull(int n, bool join)
{
    std::vector<uint8_t> buf(64 + n * 300);
    struct gossip_wbuf w;

    gossip_wbuf_init(&w, buf.data(), buf.size());
    EXPECT_TRUE(gossip_wire_put_pp_header(&w, join, (uint32_t)n));
    for (int i = 0; i < n; i++) {
        struct gossip_wire_state s = State(i);

        EXPECT_TRUE(gossip_wire_put_state(&w, &s));
    }
    buf.resize(w.len);
    return buf;
}

TEST(GossipWire, PushPullRoundTrips)
{
    Bytes b = PushPull(20, true);
    struct gossip_wire_cursor c;
    struct gossip_wire_state s;
    bool join = false;

    ASSERT_TRUE(gossip_wire_pp_check(b.data(), b.size()));
    ASSERT_TRUE(gossip_wire_pp_begin(b.data(), b.size(), &join, &c));
    EXPECT_TRUE(join);
    for (int i = 0; i < 20; i++) {
        struct gossip_wire_state want = State(i);

        ASSERT_TRUE(gossip_wire_pp_next(&c, &s));
        EXPECT_STREQ(s.node, want.node);
        EXPECT_EQ(s.state, want.state);
        EXPECT_EQ(s.incarnation, want.incarnation);
        EXPECT_TRUE(gossip_addr_equal(&s.gossip_addr, &want.gossip_addr));
        EXPECT_TRUE(gossip_addr_equal(&s.client_addr, &want.client_addr));
        EXPECT_EQ(s.weight, want.weight);
        EXPECT_EQ(s.meta_len, want.meta_len);
    }
    EXPECT_FALSE(gossip_wire_pp_next(&c, &s));
    EXPECT_EQ(c.p, c.end);

    Bytes empty = PushPull(0, false);
    EXPECT_TRUE(gossip_wire_pp_check(empty.data(), empty.size()));
}

TEST(GossipWire, PushPullRejectsBadFraming)
{
    Bytes good = PushPull(5, false), b;

    for (size_t n = 0; n < good.size(); n++) {
        EXPECT_FALSE(gossip_wire_pp_check(good.data(), n)) << n;
    }
    b = good;
    b.push_back(0);
    EXPECT_FALSE(gossip_wire_pp_check(b.data(), b.size()));

    b = good;                   /* count says one more than present */
    b[5] += 1;
    EXPECT_FALSE(gossip_wire_pp_check(b.data(), b.size()));

    b = good;                   /* count above GOSSIP_WIRE_MAX_STATES */
    b[2] = 0x7f;
    EXPECT_FALSE(gossip_wire_pp_check(b.data(), b.size()));

    b = good;                   /* reserved flag */
    b[1] = 2;
    EXPECT_FALSE(gossip_wire_pp_check(b.data(), b.size()));

    b = good;                   /* state out of range: after name "node-0" */
    b[6 + 1 + 6] = GOSSIP_NSTATES;
    EXPECT_FALSE(gossip_wire_pp_check(b.data(), b.size()));

    b = good;
    b[0] = GOSSIP_MSG_PING;
    EXPECT_FALSE(gossip_wire_pp_check(b.data(), b.size()));

    struct gossip_wire_state s = State(1);
    uint8_t buf[512];
    struct gossip_wbuf w;

    s.state = GOSSIP_NSTATES;
    gossip_wbuf_init(&w, buf, sizeof(buf));
    EXPECT_FALSE(gossip_wire_put_state(&w, &s));
}

}  // namespace
