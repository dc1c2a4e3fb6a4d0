/*
 * gossip_state_test: a few real gossip cores wired by hand, so a test can
 * record, drop, forge and replay single datagrams and stream messages.
 * What the member table does under a flood of fresh names (the cap), how
 * a node's incarnation behaves at the top of its range, and which acks
 * count for a probe (replay).
 *
 * Every message here is built and opened with the library's own encoders
 * and envelope, and recorded traffic is whatever the cores sent, so the
 * tests speak whatever wire version the code under test speaks.
 */
#include <gtest/gtest.h>

#include <stdint.h>
#include <string.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "cluster/gossip.h"
#include "cluster/gossip_crypto.h"
#include "cluster/gossip_wire.h"

namespace {

typedef std::vector<uint8_t> Bytes;

const char kCluster[] = "test";
const uint64_t kMs = 1000000ull;
const uint64_t kS = 1000000000ull;

struct gossip_keyring *Keyring()
{
    static struct gossip_keyring *kr;
    static const uint8_t key[GOSSIP_KEY_LEN] = { 7, 7, 7 };

    if (kr == nullptr) {
        kr = gossip_keyring_create();
        gossip_keyring_add(kr, key, true);
    }
    return kr;
}

struct gossip_addr Addr(uint8_t host)
{
    struct gossip_addr a;

    memset(&a, 0, sizeof(a));
    a.family = 4;
    a.ip[0] = 10;
    a.ip[3] = host;
    a.port = 7946;
    return a;
}

Bytes Seal(const Bytes &body, const struct gossip_keyring *kr)
{
    Bytes out(body.size() + GOSSIP_ENVELOPE_SEALED);
    size_t n = gossip_seal(kr, kCluster, body.data(), body.size(),
                           out.data(), out.size());

    out.resize(n);
    return out;
}

/* The messages in a datagram (empty if it does not open or decode). */
std::vector<struct gossip_msg> Messages(const Bytes &dgram,
                                        const struct gossip_keyring *kr)
{
    std::vector<struct gossip_msg> v;
    Bytes scratch(dgram.size() + 1);
    const uint8_t *body, *parts[GOSSIP_WIRE_MAX_PARTS];
    size_t blen, lens[GOSSIP_WIRE_MAX_PARTS];
    int n;

    if (gossip_open(kr, kCluster, dgram.data(), dgram.size(), scratch.data(),
                    scratch.size(), &body, &blen) != GOSSIP_OPEN_OK) {
        return v;
    }
    n = gossip_wire_split(body, blen, parts, lens);
    for (int i = 0; i < n; i++) {
        struct gossip_msg m;

        if (gossip_wire_decode(parts[i], lens[i], &m)) {
            v.push_back(m);
        }
    }
    return v;
}

bool HasType(const Bytes &dgram, uint8_t type,
             const struct gossip_keyring *kr)
{
    for (const struct gossip_msg &m : Messages(dgram, kr)) {
        if (m.type == type) {
            return true;
        }
    }
    return false;
}

struct Net;

struct Node {
    Net *net = nullptr;
    std::string name;
    struct gossip_addr addr;
    struct gossip *g = nullptr;
    bool down = false;            /* a dead process: receives nothing */
    bool stalled = false;         /* a stuck process: runs no timers, and
                                   * its datagrams wait (Net::held) */
    ~Node() { gossip_destroy(&g); }
};

struct Packet {
    struct gossip_addr from, to;
    Bytes data;
};

struct StreamOpen {
    Node *from;
    uint64_t id;
    struct gossip_addr to;
    Bytes data;
};

/* A hand-driven network: datagrams and stream messages queue here until
 * the test delivers, drops or records them. */
struct Net {
    const struct gossip_keyring *kr = Keyring();
    std::vector<std::unique_ptr<Node>> nodes;
    std::vector<Packet> queued;   /* datagrams not yet delivered */
    std::vector<Packet> sent;     /* every datagram ever sent */
    std::vector<Packet> held;     /* for stalled nodes, in arrival order */
    std::vector<StreamOpen> streams;
    uint64_t now = 1 * kS;
    /* Optional: datagrams and streams from -> to for which it returns
     * true are lost (streams then fail, as a firewalled connect would). */
    std::function<bool(const struct gossip_addr &,
                       const struct gossip_addr &)> cut;

    bool Lost(const struct gossip_addr &from, const struct gossip_addr &to)
    {
        return cut && cut(from, to);
    }

    static void SendDatagram(void *ctx, const struct gossip_addr *to,
                             const uint8_t *buf, size_t len)
    {
        Node *n = (Node *)ctx;
        Packet p = { n->addr, *to, Bytes(buf, buf + len) };

        n->net->queued.push_back(p);
        n->net->sent.push_back(p);
    }

    static void OpenStream(void *ctx, uint64_t id,
                           const struct gossip_addr *to, const uint8_t *buf,
                           size_t len)
    {
        Node *n = (Node *)ctx;

        n->net->streams.push_back({ n, id, *to, Bytes(buf, buf + len) });
    }

    static void Reply(void *arg, const uint8_t *buf, size_t len)
    {
        ((Bytes *)arg)->assign(buf, buf + len);
    }

    Node *Add(const std::string &name, uint8_t host, uint64_t seed,
              void (*tweak)(struct gossip_config *) = nullptr)
    {
        static const struct gossip_transport t = { SendDatagram, OpenStream,
                                                   nullptr };
        std::unique_ptr<Node> n(new Node);
        struct gossip_config c;

        n->net = this;
        n->name = name;
        n->addr = Addr(host);
        gossip_config_defaults(&c);
        c.name = n->name.c_str();
        c.cluster_name = kCluster;
        c.gossip_addr = n->addr;
        c.client_addr = n->addr;
        c.keyring = kr;
        if (tweak != nullptr) {
            tweak(&c);
        }
        n->g = gossip_create(&c, &t, n.get(), seed);
        EXPECT_NE(n->g, nullptr);
        gossip_start(n->g, now);
        nodes.push_back(std::move(n));
        return nodes.back().get();
    }

    Node *At(const struct gossip_addr &a)
    {
        for (auto &n : nodes) {
            if (n->g != nullptr && gossip_addr_equal(&n->addr, &a)) {
                return n.get();
            }
        }
        return nullptr;
    }

    /* Delivers queued datagrams and streams until none is left; those to
     * a down node are lost. */
    void Deliver()
    {
        while (!queued.empty() || !streams.empty()) {
            std::vector<Packet> q;
            std::vector<StreamOpen> s;

            q.swap(queued);
            s.swap(streams);
            for (const Packet &p : q) {
                Node *to = At(p.to);

                if (to != nullptr && to->stalled) {
                    held.push_back(p);  /* its socket buffer */
                } else if (to != nullptr && !to->down &&
                           !Lost(p.from, p.to)) {
                    gossip_on_datagram(to->g, &p.from, p.data.data(),
                                       p.data.size(), now);
                }
            }
            for (const StreamOpen &o : s) {
                Node *to = At(o.to);
                Bytes reply;

                if (to != nullptr && !to->down && !to->stalled &&
                    !Lost(o.from->addr, o.to)) {
                    gossip_on_stream(to->g, &o.from->addr, o.data.data(),
                                     o.data.size(), now, Reply, &reply);
                }
                if (o.from->g == nullptr) {
                    continue;
                }
                if (reply.empty()) {
                    gossip_on_stream_failed(o.from->g, o.id, now);
                } else {
                    gossip_on_stream_reply(o.from->g, o.id, reply.data(),
                                           reply.size(), now);
                }
            }
        }
    }

    /* Runs every live node's timers in 10 ms steps for span, delivering
     * as it goes; stop (if given) is checked after every step. */
    void Run(uint64_t span, const std::function<bool()> &stop = nullptr)
    {
        uint64_t end = now + span;

        while (now < end) {
            now += 10 * kMs;
            for (auto &n : nodes) {
                if (n->g != nullptr && !n->down && !n->stalled) {
                    gossip_advance(n->g, now);
                }
            }
            Deliver();
            if (stop && stop()) {
                return;
            }
        }
    }

    /* The end of a stall: what waited for n is delivered, in order. */
    void Resume(Node *n)
    {
        std::vector<Packet> keep;

        n->stalled = false;
        for (const Packet &p : held) {
            (gossip_addr_equal(&p.to, &n->addr) ? queued : keep).push_back(p);
        }
        held.swap(keep);
        Deliver();
    }

    void Join(Node *a, Node *seed)
    {
        gossip_join(a->g, &seed->addr, 1, now);
        Deliver();
    }

    /* The first datagram from `from` to `to` at or after index since
     * that holds a message of this type; -1 if none. */
    long Find(Node *from, Node *to, uint8_t type, size_t since = 0)
    {
        for (size_t i = since; i < sent.size(); i++) {
            if (gossip_addr_equal(&sent[i].from, &from->addr) &&
                gossip_addr_equal(&sent[i].to, &to->addr) &&
                HasType(sent[i].data, type, kr)) {
                return (long)i;
            }
        }
        return -1;
    }
};

const struct gossip_member *View(Node *at, const std::string &name)
{
    return gossip_member_find(at->g, name.c_str());
}

/* A sealed datagram holding one message, as if from `from`. */
void Inject(Net &net, Node *to, const struct gossip_addr &from,
            const struct gossip_msg &m)
{
    uint8_t body[GOSSIP_DATAGRAM_MAX];
    struct gossip_wbuf w;

    gossip_wbuf_init(&w, body, sizeof(body));
    ASSERT_TRUE(gossip_wire_put_msg(&w, &m));
    Bytes d = Seal(Bytes(body, body + w.len), net.kr);
    gossip_on_datagram(to->g, &from, d.data(), d.size(), net.now);
}

struct gossip_msg Accusation(uint8_t type, const char *node, uint32_t inc)
{
    struct gossip_msg m;

    memset(&m, 0, sizeof(m));
    m.type = type;
    m.incarnation = inc;
    snprintf(m.node, sizeof(m.node), "%s", node);
    snprintf(m.from, sizeof(m.from), "accuser");
    return m;
}

/* ---- replay ---------------------------------------------------------- */

/* A node restarts (same name, same address, a new process). Nothing an
 * attacker recorded in its first life, here the ack its first probe got,
 * may satisfy a probe in the second life: the target is really dead and
 * must be suspected. Before the fix the sequence restarted at 1, so the
 * recorded ack matched the new life's first probe. */
TEST(GossipReplay, AckRecordedInAnEarlierLifeDoesNotSatisfyAProbe)
{
    Net net;
    Node *t = net.Add("t", 2, 100);
    Node *p = net.Add("p", 1, 1);
    long ping, ack;

    net.Join(p, t);
    ASSERT_NE(View(p, "t"), nullptr);
    net.Run(3 * kS, [&] { return net.Find(p, t, GOSSIP_MSG_PING) >= 0; });
    ping = net.Find(p, t, GOSSIP_MSG_PING);
    ASSERT_GE(ping, 0);
    net.Run(20 * kMs);
    ack = net.Find(t, p, GOSSIP_MSG_ACK, (size_t)ping);
    ASSERT_GE(ack, 0);
    Packet recorded = net.sent[(size_t)ack];

    /* Second life: a fresh process (its own random seed) under the same
     * name and address joins, then t dies. */
    gossip_destroy(&p->g);
    net.nodes.erase(net.nodes.begin() + 1);
    p = net.Add("p", 1, 2);
    net.Join(p, t);
    ASSERT_NE(View(p, "t"), nullptr);
    t->down = true;
    size_t since = net.sent.size();
    bool injected = false;

    net.Run(10 * kS, [&] {
        if (net.Find(p, t, GOSSIP_MSG_PING, since) >= 0) {
            gossip_on_datagram(p->g, &recorded.from, recorded.data.data(),
                               recorded.data.size(), net.now);
            injected = true;
        }
        return injected;
    });
    ASSERT_TRUE(injected);
    /* That probe must fail on its own: suspect by the end of its interval
     * (1 s), not only after the next probe. */
    net.Run(1 * kS + 50 * kMs);
    EXPECT_EQ(View(p, "t")->state, GOSSIP_SUSPECT)
        << "a replayed ack from p's earlier life kept dead t alive";
}

/* Another member's ack, recorded on its way to another prober whose
 * sequence number happens to match (here: the same seed), replayed with
 * the dead target's address as its source: it names another member, so
 * it must not count. Before the fix any ack with the right seq did. */
TEST(GossipReplay, AckFromAnotherMemberToAnotherProberDoesNotCount)
{
    Net net;
    Node *a = net.Add("a", 3, 10);
    Node *q = net.Add("q", 4, 1);
    long ping, ack;

    net.Join(q, a);
    net.Run(3 * kS, [&] { return net.Find(q, a, GOSSIP_MSG_PING) >= 0; });
    ping = net.Find(q, a, GOSSIP_MSG_PING);
    ASSERT_GE(ping, 0);
    net.Run(20 * kMs);
    ack = net.Find(a, q, GOSSIP_MSG_ACK, (size_t)ping);
    ASSERT_GE(ack, 0);
    Packet recorded = net.sent[(size_t)ack];
    a->down = true;
    q->down = true;

    Node *t = net.Add("t", 2, 11);
    Node *p = net.Add("p", 1, 1);
    net.Join(p, t);
    ASSERT_NE(View(p, "t"), nullptr);
    t->down = true;
    size_t since = net.sent.size();
    bool injected = false;

    net.Run(10 * kS, [&] {
        if (net.Find(p, t, GOSSIP_MSG_PING, since) >= 0) {
            gossip_on_datagram(p->g, &t->addr, recorded.data.data(),
                               recorded.data.size(), net.now);
            injected = true;
        }
        return injected;
    });
    ASSERT_TRUE(injected);
    net.Run(1 * kS + 50 * kMs);
    EXPECT_EQ(View(p, "t")->state, GOSSIP_SUSPECT)
        << "a's ack to q kept dead t alive in p's view";
}

/* The honest paths still work: a live target's direct ack, and the
 * relayed ack of an indirect probe when the direct path is broken. */
TEST(GossipReplay, DirectAndRelayedAcksStillCount)
{
    Net net;
    Node *t = net.Add("t", 2, 100);
    Node *r = net.Add("r", 3, 101);
    Node *p = net.Add("p", 1, 1);

    net.Join(r, t);
    net.Join(p, t);
    net.Run(5 * kS);
    ASSERT_NE(View(p, "r"), nullptr);
    uint64_t before = 0;
    struct gossip_stats st;

    gossip_get_stats(p->g, &st);
    before = st.probe_failures;
    net.Run(10 * kS);
    gossip_get_stats(p->g, &st);
    EXPECT_EQ(st.probe_failures, before);
    EXPECT_EQ(View(p, "t")->state, GOSSIP_ALIVE);

    /* Cut p <-> t (datagrams and the TCP ping) from now on: only the
     * relay's forwarded acks can keep t alive in p's view. */
    struct gossip_addr pa = p->addr, ta = t->addr;
    net.cut = [pa, ta](const struct gossip_addr &f,
                       const struct gossip_addr &to) {
        return (gossip_addr_equal(&f, &pa) && gossip_addr_equal(&to, &ta)) ||
               (gossip_addr_equal(&f, &ta) && gossip_addr_equal(&to, &pa));
    };
    size_t since = net.sent.size();
    net.Run(30 * kS);
    EXPECT_GE(net.Find(r, p, GOSSIP_MSG_ACK, since), 0) << "no relayed ack";
    EXPECT_EQ(View(p, "t")->state, GOSSIP_ALIVE);
    EXPECT_EQ(View(t, "p")->state, GOSSIP_ALIVE);
    EXPECT_EQ(View(p, "r")->state, GOSSIP_ALIVE);
}

/* ---- incarnation ----------------------------------------------------- */

/* A restart on another client port: same name, same gossip address, and
 * the same incarnation as the earlier life (both start at 1). The new life
 * must beat the old one, or members keep routing its keys to the old
 * port, which nothing answers. */
TEST(GossipIncarnation, EarlierLifeOnAnotherClientPortIsRefuted)
{
    Net net;
    Node *s = net.Add("s", 1, 1);
    Node *x = net.Add("x", 2, 2);

    net.Join(x, s);
    net.Run(2 * kS);
    uint32_t inc = gossip_self(s->g)->incarnation;
    struct gossip_msg a;
    memset(&a, 0, sizeof(a));
    a.type = GOSSIP_MSG_ALIVE;
    a.incarnation = inc;
    snprintf(a.node, sizeof(a.node), "s");
    a.addr = s->addr;
    a.client_addr = s->addr;
    a.client_addr.port = 11311;
    Inject(net, s, x->addr, a);
    EXPECT_GT(gossip_self(s->g)->incarnation, inc);
    net.Run(2 * kS);
    ASSERT_NE(View(x, "s"), nullptr);
    EXPECT_EQ(View(x, "s")->incarnation, gossip_self(s->g)->incarnation);
    EXPECT_TRUE(gossip_addr_equal(&View(x, "s")->client_addr, &s->addr));
}

/* Refuting at the top of the range must not wrap to 0: peers take 0 for
 * old news, and the node would then lose every accusation. */
TEST(GossipIncarnation, RefutationSaturatesInsteadOfWrapping)
{
    Net net;
    Node *s = net.Add("s", 1, 1);
    Node *x = net.Add("x", 2, 2);

    net.Join(x, s);
    Inject(net, s, x->addr,
           Accusation(GOSSIP_MSG_SUSPECT, "s", UINT32_MAX - 1));
    EXPECT_EQ(gossip_self(s->g)->incarnation, UINT32_MAX);
    Inject(net, s, x->addr, Accusation(GOSSIP_MSG_SUSPECT, "s", UINT32_MAX));
    EXPECT_EQ(gossip_self(s->g)->incarnation, UINT32_MAX);
    Inject(net, s, x->addr, Accusation(GOSSIP_MSG_DEAD, "s", UINT32_MAX));
    EXPECT_EQ(gossip_self(s->g)->incarnation, UINT32_MAX);
    EXPECT_EQ(gossip_self(s->g)->state, GOSSIP_ALIVE);

    /* An earlier life at the top (a restart): beaten by saturating, too. */
    struct gossip_msg a;
    memset(&a, 0, sizeof(a));
    a.type = GOSSIP_MSG_ALIVE;
    a.incarnation = UINT32_MAX;
    snprintf(a.node, sizeof(a.node), "s");
    a.addr = Addr(9);
    a.client_addr = a.addr;
    Inject(net, s, x->addr, a);
    EXPECT_EQ(gossip_self(s->g)->incarnation, UINT32_MAX);

    /* A metadata update cannot be announced above the top: refused. */
    EXPECT_NE(gossip_update(s->g, (const uint8_t *)"m", 1, 1, net.now), 0);
    EXPECT_EQ(gossip_self(s->g)->incarnation, UINT32_MAX);

    /* What peers hear is the saturated incarnation, never 0. */
    size_t since = net.sent.size();
    net.Run(2 * kS);
    bool heard = false;
    for (size_t i = since; i < net.sent.size(); i++) {
        if (!gossip_addr_equal(&net.sent[i].from, &s->addr)) {
            continue;           /* x may still relay what it heard before */
        }
        for (const struct gossip_msg &m : Messages(net.sent[i].data,
                                                   net.kr)) {
            if (m.type == GOSSIP_MSG_ALIVE && strcmp(m.node, "s") == 0) {
                EXPECT_EQ(m.incarnation, UINT32_MAX);
                heard = true;
            }
        }
    }
    EXPECT_TRUE(heard);
    EXPECT_EQ(View(x, "s")->incarnation, UINT32_MAX);
}

/* ---- the member cap -------------------------------------------------- */

/* A plain push-pull of n alive members named prefix-<i>. */
Bytes FloodBody(const std::string &prefix, size_t n)
{
    Bytes body(16 + n * 80);
    struct gossip_wbuf w;

    gossip_wbuf_init(&w, body.data(), body.size());
    gossip_wire_put_pp_header(&w, false, (uint32_t)n);
    for (size_t i = 0; i < n; i++) {
        struct gossip_wire_state s;

        memset(&s, 0, sizeof(s));
        snprintf(s.node, sizeof(s.node), "%s-%zu", prefix.c_str(), i);
        s.state = GOSSIP_ALIVE;
        s.incarnation = 1;
        s.gossip_addr = Addr(200);
        s.gossip_addr.port = (uint16_t)(1 + i % 60000);
        s.client_addr = s.gossip_addr;
        s.weight = 1;
        gossip_wire_put_state(&w, &s);
    }
    EXPECT_FALSE(w.overflow);
    body.resize(w.len);
    return body;
}

/* Pushes one flood at node; returns the reply (empty: none). */
Bytes Flood(Net &net, Node *n, const std::string &prefix, size_t count)
{
    Bytes msg = Seal(FloodBody(prefix, count), net.kr), reply;

    gossip_on_stream(n->g, &net.nodes[0]->addr, msg.data(), msg.size(),
                     net.now, Net::Reply, &reply);
    return reply;
}

/* The largest push-pull there is, four times, at a node with the default
 * cap: the table stops at the cap, every push-pull is still answered
 * with the full table (before the fix the table grew to 262,145 and the
 * node could no longer encode its state past 65,536), the real members
 * stay in the view, and the node keeps probing them successfully. */
TEST(GossipCap, FourMaximalFloodsLeaveABoundedTableThatStillAnswers)
{
    Net net;
    Node *v = net.Add("victim", 1, 1);
    Node *r = net.Add("real", 2, 2);

    net.Join(r, v);
    for (int i = 0; i < 4; i++) {
        Bytes reply = Flood(net, v, "flood" + std::to_string(i), 65536);
        ASSERT_FALSE(reply.empty()) << "push-pull " << i << " unanswered";
        EXPECT_LE(gossip_member_count(v->g), 16384u);
    }
    EXPECT_EQ(View(v, "real")->state, GOSSIP_ALIVE);
    net.Run(5 * kS);
    EXPECT_EQ(View(v, "real")->state, GOSSIP_ALIVE);
    EXPECT_EQ(View(r, "victim")->state, GOSSIP_ALIVE);
}

void SmallCap(struct gossip_config *c)
{
    c->max_members = 64;
}

/* Over the cap unknown names are refused and counted, known members
 * still update, and reaping the dead makes room again. */
TEST(GossipCap, RefusedOverTheCapKnownMembersUpdateReapingMakesRoom)
{
    Net net;
    Node *v = net.Add("victim", 1, 1, SmallCap);
    Node *r = net.Add("real", 2, 2);
    struct gossip_stats st;

    net.Join(r, v);
    ASSERT_FALSE(Flood(net, v, "f", 1000).empty());
    EXPECT_EQ(gossip_member_count(v->g), 64u);
    gossip_get_stats(v->g, &st);
    EXPECT_EQ(st.members_refused, 1000u - 62u);
    ASSERT_NE(View(v, "f-0"), nullptr);
    EXPECT_EQ(View(v, "f-999"), nullptr);

    /* A known member still updates while the table is full. */
    ASSERT_EQ(gossip_update(r->g, (const uint8_t *)"x", 1, 3, net.now), 0);
    net.Run(1 * kS);
    EXPECT_EQ(View(v, "real")->weight, 3);

    /* The fake members are never answered: they die, are reaped after
     * dead_retention (60 s), and fresh names fit again. (Slowly: the fake
     * members are also asked to relay and never nack, so the victim
     * blames itself, Lifeguard's awareness reaches its maximum and it
     * probes 8 times slower; a bound, not a timing.) */
    net.Run(1800 * kS, [&] { return gossip_member_count(v->g) <= 2; });
    EXPECT_EQ(gossip_member_count(v->g), 2u);
    ASSERT_FALSE(Flood(net, v, "g", 10).empty());
    EXPECT_NE(View(v, "g-9"), nullptr);
    EXPECT_EQ(View(v, "real")->state, GOSSIP_ALIVE);
}

/* ---- refutation in a crowded table ---------------------------------- */

/* The flood of issue 12 under TSan, in miniature: a table mostly of
 * members that never answer, and a real member t that stalls for 1.5 s
 * (digesting a big push-pull). Its prober p suspects it; gossip alone
 * would tell t only if one of p's few retransmits drew it among 40
 * ghosts, and would carry t's refutation back to p just as rarely, so p
 * declared t dead and kept it dead (t never hears of it; seen in CI). Now
 * p tells t directly when it suspects it, t's refutation goes straight
 * back to its accuser, and p sees t alive within moments of the stall's
 * end, never dead. */
TEST(GossipRefute, AStalledMemberInACrowdedTableIsBackAliveAtOnce)
{
    Net net;
    Node *p = net.Add("p", 1, 1);
    Node *t = net.Add("t", 2, 2);

    net.Join(t, p);
    net.Run(2 * kS);
    ASSERT_FALSE(Flood(net, p, "ghost", 40).empty());
    ASSERT_FALSE(Flood(net, t, "ghost", 40).empty());
    uint32_t inc = gossip_self(t->g)->incarnation;

    t->stalled = true;
    net.Run(600 * kS, [&] { return View(p, "t")->state != GOSSIP_ALIVE; });
    ASSERT_EQ(View(p, "t")->state, GOSSIP_SUSPECT) << "p never suspected t";
    net.Run(1500 * kMs, [&] { return View(p, "t")->state == GOSSIP_DEAD; });
    ASSERT_EQ(View(p, "t")->state, GOSSIP_SUSPECT);

    net.Resume(t);
    net.Run(200 * kMs, [&] { return View(p, "t")->state == GOSSIP_ALIVE; });
    EXPECT_EQ(View(p, "t")->state, GOSSIP_ALIVE);
    EXPECT_GT(View(p, "t")->incarnation, inc);
    EXPECT_GT(gossip_self(t->g)->incarnation, inc);
}

}  // namespace
