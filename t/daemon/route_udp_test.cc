// Routing over UDP (-U) with real processes: three daemons (--route proxy,
// the default), each with its own UDP port, are one cache through any of
// them. A datagram whose keys other nodes own is answered, in one reply
// per response as memcached frames them, once the owners have answered:
// every request of the script below, sent to each node in turn, gets the
// same datagrams as from one memcached (text, meta, binary; misses at
// either end of a multi-get; a value split over several datagrams). An
// owner that is stopped fails its keys after --peer-timeout while the node
// keeps answering other datagrams meanwhile, and a flood of datagrams for
// a stopped owner holds bounded memory and leaves the node serving.
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "bin_util.h"
#include "cluster_util.h"
#include "daemon_util.h"
#include "harness.h"
#include "udp_util.h"

namespace {

using rc_test::Daemon;
using rc_udp::Datagram;
using rc_udp::Show;
using rc_udp::UdpClient;

constexpr int kNodes = 3;
constexpr int kPeerTimeoutMs = 500;

std::string Addr(const Daemon* d) { return "127.0.0.1:" + std::to_string(d->port()); }

long long Stat(int port, const std::string& name) {
  rc_test::Client c(port);
  return rc_dt::stat_num(rc_dt::stats(c, "cluster"), name);
}

// Show(), with every binary response's CAS reduced to whether it has
// one: memcached's and the cluster's CAS counters differ.
std::string ShowCasPresence(std::vector<Datagram> ds) {
  for (auto& d : ds) {
    std::string& p = d.payload;
    size_t off = 0;
    while (off + 24 <= p.size() && (uint8_t)p[off] == 0x81) {
      bool has = p.compare(off + 16, 8, std::string(8, '\0')) != 0;
      p.replace(off + 16, 8, std::string(7, '\0') + (has ? "\x01" : std::string(1, '\0')));
      off += 24 + ((size_t)(uint8_t)p[off + 8] << 24 | (size_t)(uint8_t)p[off + 9] << 16 |
                   (size_t)(uint8_t)p[off + 10] << 8 | (uint8_t)p[off + 11]);
    }
  }
  return Show(ds);
}

class RouteUdp : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    for (int i = 0; i < kNodes; i++) udp_[i] = rc_udp::FreeUdpPort();
    nodes_ = new rc_ct::Nodes(kNodes, "u", [](int i) {
      return std::vector<std::string>{"-U", std::to_string(udp_[i]), "--peer-timeout",
                                      std::to_string(kPeerTimeoutMs), "--gossip-suspicion-mult",
                                      "8"};
    });
    mc_udp_ = rc_udp::FreeUdpPort();
    mc_ = rc_dt::start_memcached({"-U", std::to_string(mc_udp_)}).release();
  }
  static void TearDownTestSuite() {
    delete nodes_;
    nodes_ = nullptr;
    delete mc_;
    mc_ = nullptr;
  }
  void SetUp() override {
    ASSERT_NE(mc_, nullptr);
    for (int i = 0; i < kNodes; i++) ASSERT_NE(node(i), nullptr) << "node " << i;
    ASSERT_TRUE(rc_ct::wait_for(
        [] {
          for (int i = 0; i < kNodes; i++)
            if (rc_ct::alive_on_ring(node(i)->port()) != (size_t)kNodes) return false;
          return true;
        },
        10000));
  }
  static Daemon* node(int i) { return nodes_->node(i); }
  // A key the given node owns (found by asking the ring).
  static std::string KeyOwnedBy(int owner, const std::string& prefix) {
    for (int i = 0; i < 10000; i++) {
      std::string k = prefix + std::to_string(i);
      if (rc_ct::owner_of(node(0)->port(), k) == Addr(node(owner))) return k;
    }
    return "";
  }

  static rc_ct::Nodes* nodes_;
  static Daemon* mc_;
  static int udp_[kNodes];
  static int mc_udp_;
};

rc_ct::Nodes* RouteUdp::nodes_ = nullptr;
Daemon* RouteUdp::mc_ = nullptr;
int RouteUdp::udp_[kNodes];
int RouteUdp::mc_udp_ = 0;

// Writes go once to one node (in turn) and once to memcached; reads go to
// every node. Each must get memcached's datagrams.
TEST_F(RouteUdp, EveryNodeAnswersWithMemcachedsDatagrams) {
  // Two keys of each owner, so every node sees local and remote keys.
  std::vector<std::string> k;
  for (int o = 0; o < kNodes; o++)
    for (const char* p : {"ua", "ub"}) {
      k.push_back(KeyOwnedBy(o, std::string(p) + std::to_string(o) + "-"));
      ASSERT_FALSE(k.back().empty());
    }
  const std::string big(5000, 'x');
  auto all = [&](const std::string& extra_front, const std::string& extra_back) {
    std::string r = "get" + extra_front;
    for (const auto& key : k) r += " " + key;
    return r + extra_back + "\r\n";
  };
  using namespace rc_bin;
  struct Step {
    std::string req;
    bool write;
  };
  std::vector<Step> script;
  for (size_t i = 0; i < k.size(); i++)
    script.push_back({"set " + k[i] + " " + std::to_string(i) + " 0 3\r\nv" +
                          std::to_string(i) + "!\r\n",
                      true});
  script.push_back({all("", ""), false});
  script.push_back({all(" nokey1", " nokey2"), false});          // misses at both ends
  script.push_back({all(" nokey1", "").substr(0, 4) + "nokey3 nokey4\r\n", false});  // all miss
  script.push_back({"get " + k[1] + "\r\nget " + k[2] + "\r\nget " + k[5] + "\r\n", false});
  script.push_back({"delete " + k[3] + "\r\nget " + k[3] + "\r\n", true});
  script.push_back({"set cnt 0 0 1\r\n5\r\nincr cnt 7\r\ndecr cnt 2\r\nincr nocnt 1\r\n", true});
  script.push_back({"touch " + k[4] + " 100\r\ntouch nokey 1\r\n", true});
  script.push_back({"append " + k[0] + " 0 0 2\r\nzz\r\nprepend " + k[2] + " 0 0 1\r\n<\r\n",
                    true});
  script.push_back({"mg " + k[0] + " v k f\r\nmg nokey v\r\nmg " + k[5] + " s q\r\nmn\r\n", false});
  script.push_back({"ms " + k[4] + " 2 T0\r\nhi\r\nmg " + k[4] + " v\r\n", true});
  script.push_back({"md " + k[4] + " q\r\nmg " + k[4] + " v\r\nmn\r\n", true});
  script.push_back({"set big 0 0 5000\r\n" + big + "\r\n", true});
  script.push_back({"get " + k[1] + " big " + k[2] + "\r\n", false});
  script.push_back({encode(Req{OP_GETK, k[0]}) + encode(Req{OP_GETKQ, "nokey"}) +
                        encode(Req{OP_GETKQ, k[5]}) + encode(Req{OP_NOOP}),
                    false});
  script.push_back({encode(Req{OP_SET, "bk", SetExtras(9, 0), "bv"}) +
                        encode(Req{OP_DELETE, k[1]}) + encode(Req{OP_GETK, "bk"}),
                    true});
  script.push_back({"get " + k[1] + " bk\r\nversion\r\n", false});

  UdpClient m(mc_udp_);
  std::vector<std::unique_ptr<UdpClient>> u;
  for (int i = 0; i < kNodes; i++) u.emplace_back(new UdpClient(udp_[i]));
  long long before = 0;
  for (int i = 0; i < kNodes; i++) before += Stat(node(i)->port(), "forwarded");
  int turn = 0;
  for (const auto& s : script) {
    SCOPED_TRACE(rc_test::escape_bytes(s.req.substr(0, 80)));
    std::string want = ShowCasPresence(m.Ask(s.req));
    ASSERT_FALSE(want.empty());
    if (s.write) {
      int n = turn++ % kNodes;
      EXPECT_EQ(want, ShowCasPresence(u[n]->Ask(s.req))) << "through node " << n;
    } else {
      for (int n = 0; n < kNodes; n++)
        EXPECT_EQ(want, ShowCasPresence(u[n]->Ask(s.req))) << "through node " << n;
    }
  }
  long long after = 0;
  for (int i = 0; i < kNodes; i++) after += Stat(node(i)->port(), "forwarded");
  // Most of the script's keys were someone else's at its entry node.
  EXPECT_GE(after - before, 40);
}

// A datagram waiting for a stopped owner waits alone: the node answers
// other datagrams meanwhile, then fails the waiting one after the peer
// timeout (a read misses, a write gets SERVER_ERROR), in its own reply.
TEST_F(RouteUdp, StoppedOwnerFailsOnlyItsDatagramsAfterTheTimeout) {
  std::string theirs = KeyOwnedBy(2, "us-"), mine = KeyOwnedBy(0, "um-"),
              missing = KeyOwnedBy(1, "un-");
  ASSERT_FALSE(theirs.empty());
  ASSERT_FALSE(mine.empty());
  ASSERT_FALSE(missing.empty());
  UdpClient waiting(udp_[0]), other(udp_[0]);
  ASSERT_EQ("[4660 0/1 0] STORED\\r\\n\n", Show(other.Ask("set " + mine + " 0 0 1\r\nm\r\n")));
  ASSERT_EQ(0, kill(node(2)->pid(), SIGSTOP));
  ASSERT_TRUE(rc_ct::wait_stopped(node(2)->pid()));
  long long t0 = rc_test::now_ms();
  waiting.Send("get " + mine + " " + theirs + "\r\n", 1);
  waiting.Send("set " + theirs + " 0 0 1\r\nt\r\n", 2);
  // Answered now (a local hit, and a miss at node 1), while the two
  // above wait for node 2.
  EXPECT_EQ("[4660 0/1 0] VALUE " + mine + " 0 1\\r\\nm\\r\\nEND\\r\\n\n[4660 0/1 0] END\\r\\n\n",
            Show(other.Ask("get " + mine + "\r\nget " + missing + "\r\n")));
  EXPECT_LT(rc_test::now_ms() - t0, kPeerTimeoutMs);
  std::vector<Datagram> late = waiting.Collect(4 * kPeerTimeoutMs, 300);
  long long waited = rc_test::now_ms() - t0;
  kill(node(2)->pid(), SIGCONT);
  std::map<uint16_t, std::string> by_id;
  for (const auto& d : late) by_id[d.id] += d.payload;
  // The hit and the failed key are two responses, as memcached frames a
  // multi-get (the miss's END in its own datagram), and the set one.
  EXPECT_EQ(3u, late.size()) << Show(late);
  EXPECT_EQ("VALUE " + mine + " 0 1\r\nm\r\nEND\r\n", by_id[1]);
  EXPECT_EQ("SERVER_ERROR peer unavailable\r\n", by_id[2]);
  EXPECT_GE(waited, kPeerTimeoutMs - 50);
  EXPECT_GE(Stat(node(0)->port(), "peer_timeouts"), 2);
}

// 20,000 datagrams for a stopped owner: what waits is bounded (each of
// the 4 workers keeps at most 256 such datagrams and drops the rest
// unread, as a full socket buffer would), the node's memory stays
// bounded, every datagram that was kept is answered (a miss), and once
// the owner is back the node routes to it normally.
TEST_F(RouteUdp, FloodForAStoppedOwnerIsBoundedAndTheNodeRecovers) {
  std::string theirs = KeyOwnedBy(1, "uf-");
  ASSERT_FALSE(theirs.empty());
  UdpClient flood(udp_[0]), other(udp_[0]);
  long rss0 = rc_dt::vmrss_kb(node(0)->pid());
  ASSERT_EQ(0, kill(node(1)->pid(), SIGSTOP));
  ASSERT_TRUE(rc_ct::wait_stopped(node(1)->pid()));
  const std::string req = "get " + theirs + "\r\n";
  long long t0 = rc_test::now_ms();
  for (int i = 0; i < 20000; i++) {
    flood.Send(req, (uint16_t)i);
    if (i % 500 == 499) rc_test::sleep_ms(2);  // let the node read, not the kernel drop
  }
  rc_test::sleep_ms(100);
  // A kept datagram waits one peer timeout, then its slot takes another:
  // a flood that outlasts the timeout (a loaded machine) is kept in waves.
  long long flood_ms = rc_test::now_ms() - t0;
  size_t waves = 1 + (size_t)(flood_ms / kPeerTimeoutMs);
  long rss1 = rc_dt::vmrss_kb(node(0)->pid());
  std::vector<Datagram> got = flood.Collect(4 * kPeerTimeoutMs, 4 * kPeerTimeoutMs);
  kill(node(1)->pid(), SIGCONT);
  EXPECT_GT(got.size(), 0u);
  EXPECT_LE(got.size(), 4u * 256u * waves) << "the flood took " << flood_ms << " ms";
  if (waves > 1) printf("note: the flood took %lld ms, %zu waves of kept datagrams\n", flood_ms, waves);
  for (const auto& d : got) ASSERT_EQ("END\r\n", d.payload) << d.id;
#ifndef __SANITIZE_THREAD__
  EXPECT_LT(rss1 - rss0, 32 * 1024) << "KiB while 20,000 datagrams waited";
#else
  // TSan's shadow memory multiplies every allocation (96 MiB measured for
  // the 7 MiB this holds); the plain and ASan runs check the bound.
  fprintf(stderr, "note: RSS bound not checked under TSan (+%ld KiB)\n", rss1 - rss0);
#endif
  // Back: once node 0 sees every member alive again, a write through
  // node 0 lands at node 1 and reads back.
  ASSERT_TRUE(rc_ct::wait_for(
      [] { return rc_ct::alive_on_ring(node(0)->port()) == (size_t)kNodes; }, 10000));
  EXPECT_TRUE(rc_ct::wait_for(
      [&] {
        return Show(other.Ask("set " + theirs + " 0 0 1\r\nf\r\n", 5)) ==
               "[5 0/1 0] STORED\\r\\n\n";
      },
      5000));
  EXPECT_EQ("[6 0/1 0] VALUE " + theirs + " 0 1\\r\\nf\\r\\nEND\\r\\n\n",
            Show(other.Ask("get " + theirs + "\r\n", 6)));
}

}  // namespace
