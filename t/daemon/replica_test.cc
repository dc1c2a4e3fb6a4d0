// Replication with real processes: three daemons with --replicas 2.
// Every kind of write, through any node, leaves the key exactly as one
// memcached would hold it on both of its owners (each owner's own copy is
// read over a peer connection, which serves what that node holds) and
// nowhere else, with the same CAS on both; a CAS from one node works
// through another; reads of a stopped or killed owner's keys are answered
// by the other owner at once; a node killed with -9 after its writes were
// acknowledged loses none of them; and rc_set/rc_del, the replication
// commands, order copies by version, keep deletes with tombstones, and
// are unknown commands to anyone who is not a peer.
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "bin_util.h"
#include "cluster_util.h"
#include "daemon_util.h"
#include "harness.h"

namespace {

using rc_test::Client;
using rc_test::Daemon;

constexpr int kNodes = 3;
constexpr int kPeerTimeoutMs = 500;

std::string Addr(const Daemon* d) { return "127.0.0.1:" + std::to_string(d->port()); }

long long Stat(int port, const std::string& name) { return rc_ct::cluster_stat(port, name); }

std::vector<std::string> Owners(int port, const std::string& key) { return rc_ct::owners_of(port, key); }

// A connection that sees what one node holds (rc_peer: served there,
// whatever the ring says).
class Local {
 public:
  explicit Local(int port) : c_(port) { ok_ = c_.cmd("rc_peer tester text\r\n") == "OK\r\n"; }
  bool ok() const { return ok_; }
  std::string gets(const std::string& key) { return c_.cmd("gets " + key + "\r\n", "END\r\n"); }
  std::string cmd(const std::string& req, const std::string& end = "\r\n") {
    return c_.cmd(req, end);
  }

 private:
  Client c_;
  bool ok_ = false;
};

// "VALUE k f n" and the data without the CAS, and the CAS alone.
std::string WithoutCas(const std::string& gets, unsigned long long* cas) {
  char key[256];
  unsigned flags, bytes;
  *cas = 0;
  if (sscanf(gets.c_str(), "VALUE %255s %u %u %llu", key, &flags, &bytes, cas) != 4) return gets;
  size_t eol = gets.find("\r\n");
  return std::string("VALUE ") + key + " " + std::to_string(flags) + " " + std::to_string(bytes) +
         gets.substr(eol);
}

class Replica : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    nodes_ = new rc_ct::Nodes(kNodes, "rep", [](int) {
      return std::vector<std::string>{"--replicas", "2", "--peer-timeout",
                                      std::to_string(kPeerTimeoutMs), "--gossip-suspicion-mult",
                                      "8"};
    });
  }
  static void TearDownTestSuite() {
    delete nodes_;
    nodes_ = nullptr;
  }
  void SetUp() override {
    if (rc_dt::testing_memcached()) GTEST_SKIP() << "needs a cluster";
    for (int i = 0; i < kNodes; i++) ASSERT_NE(node(i), nullptr) << "node " << i;
    ASSERT_TRUE(rc_ct::wait_for(
        [] {
          for (int i = 0; i < kNodes; i++)
            if (nodes_->running(i) && rc_ct::alive_on_ring(node(i)->port()) != (size_t)nodes_->live())
              return false;
          return true;
        },
        10000));
  }
  static Daemon* node(int i) { return nodes_->node(i); }
  static int PortOf(const std::string& addr) { return atoi(addr.c_str() + addr.rfind(':') + 1); }
  // What each node holds of key, waiting (<= 3 s) until its owners agree.
  static bool Settled(const std::string& key, const std::string& want) {
    return rc_ct::wait_for(
        [&] {
          std::vector<std::string> own = Owners(node(0)->port(), key);
          if (own.size() != 2) return false;
          for (int i = 0; i < kNodes; i++) {
            if (!nodes_->running(i)) continue;
            Local l(node(i)->port());
            unsigned long long cas;
            bool owner = Addr(node(i)) == own[0] || Addr(node(i)) == own[1];
            if (WithoutCas(l.gets(key), &cas) != (owner ? want : std::string("END\r\n")))
              return false;
          }
          return true;
        },
        3000);
  }
  static rc_ct::Nodes* nodes_;
};
rc_ct::Nodes* Replica::nodes_ = nullptr;

// Every kind of text and meta write, each through a different node, run
// against memcached too: each key ends as memcached holds it, on both
// owners, with one CAS, and not on the third node.
TEST_F(Replica, EveryWriteLeavesBothOwnersAsOneMemcached) {
  struct Step {
    std::string key;
    std::vector<std::string> reqs;
  };
  std::vector<Step> steps;
  for (int i = 0; i < 8; i++) {
    std::string k = "w" + std::to_string(i) + ":";
    steps.push_back({k + "set", {"set " + k + "set 3 0 2\r\nab\r\n"}});
    steps.push_back({k + "add", {"add " + k + "add 4 0 1\r\nx\r\n", "add " + k + "add 5 0 1\r\ny\r\n"}});
    steps.push_back({k + "rep", {"set " + k + "rep 0 0 1\r\na\r\n", "replace " + k + "rep 7 0 2\r\nbb\r\n"}});
    steps.push_back({k + "app", {"set " + k + "app 1 0 2\r\nmm\r\n", "append " + k + "app 0 0 2\r\nzz\r\n",
                                 "prepend " + k + "app 0 0 2\r\naa\r\n"}});
    steps.push_back({k + "inc", {"set " + k + "inc 0 0 2\r\n10\r\n", "incr " + k + "inc 5\r\n",
                                 "decr " + k + "inc 2\r\n", "incr " + k + "inc 100\r\n"}});
    steps.push_back({k + "del", {"set " + k + "del 0 0 1\r\nq\r\n", "delete " + k + "del\r\n"}});
    steps.push_back({k + "tch", {"set " + k + "tch 9 0 1\r\nt\r\n", "touch " + k + "tch 500\r\n",
                                 "gat 600 " + k + "tch\r\n"}});
    steps.push_back({k + "ms", {"ms " + k + "ms 3 F6 T0\r\nmet\r\n", "ma " + k + "ms\r\n",
                                "ms " + k + "ms 2 MA\r\n!!\r\n"}});
    steps.push_back({k + "ma", {"ma " + k + "ma N0 J40\r\n", "ma " + k + "ma D2\r\n"}});
    steps.push_back({k + "md", {"ms " + k + "md 1\r\nz\r\n", "md " + k + "md q\r\nmn\r\n"}});
    steps.push_back({k + "nr", {"set " + k + "nr 2 0 2 noreply\r\nnr\r\nmn\r\n"}});
  }
  auto mc = rc_dt::start_memcached();
  ASSERT_NE(mc, nullptr);
  Client m(mc->port());
  int turn = 0;
  for (const Step& s : steps) {
    for (const std::string& r : s.reqs) {
      std::string end = r.find("mn\r\n") != std::string::npos ? "MN\r\n"
                        : r.rfind("gat", 0) == 0                 ? "END\r\n"
                                                                 : "\r\n";
      std::string want = m.cmd(r, end);
      Client c(node(turn++ % kNodes)->port());
      EXPECT_EQ(c.cmd(r, end), want) << r;
    }
  }
  for (const Step& s : steps) {
    std::string want = m.cmd("get " + s.key + "\r\n", "END\r\n");
    EXPECT_TRUE(Settled(s.key, want)) << s.key << " should be " << want;
    std::vector<std::string> own = Owners(node(0)->port(), s.key);
    ASSERT_EQ(own.size(), 2u);
    unsigned long long a = 0, b = 0;
    Local la(PortOf(own[0])), lb(PortOf(own[1]));
    WithoutCas(la.gets(s.key), &a);
    WithoutCas(lb.gets(s.key), &b);
    EXPECT_EQ(a, b) << s.key << ": one write, one version on both owners";
  }
  EXPECT_GT(Stat(node(0)->port(), "replica_sets_sent") + Stat(node(1)->port(), "replica_sets_sent") +
                Stat(node(2)->port(), "replica_sets_sent"),
            0);
}

// A CAS taken through one node works through another (both owners keep
// the same CAS); a stale one fails wherever it is sent; increments
// through every node add up.
TEST_F(Replica, CasAndCountersAreOneThroughEveryNode) {
  Client a(node(0)->port()), b(node(1)->port()), c(node(2)->port());
  ASSERT_EQ(a.cmd("set cas:k 0 0 1\r\nx\r\n"), "STORED\r\n");
  unsigned long long ca = 0, cb = 0;
  WithoutCas(a.cmd("gets cas:k\r\n", "END\r\n"), &ca);
  WithoutCas(b.cmd("gets cas:k\r\n", "END\r\n"), &cb);
  ASSERT_NE(ca, 0u);
  EXPECT_EQ(ca, cb);
  EXPECT_EQ(c.cmd("cas cas:k 0 0 1 " + std::to_string(ca) + "\r\ny\r\n"), "STORED\r\n");
  EXPECT_EQ(b.cmd("cas cas:k 0 0 1 " + std::to_string(ca) + "\r\nz\r\n"), "EXISTS\r\n");
  EXPECT_TRUE(Settled("cas:k", "VALUE cas:k 0 1\r\ny\r\nEND\r\n"));

  ASSERT_EQ(a.cmd("set cnt 0 0 1\r\n0\r\n"), "STORED\r\n");
  Client* via[] = {&a, &b, &c};
  for (int i = 0; i < 30; i++) via[i % 3]->cmd("incr cnt 1\r\n");
  EXPECT_EQ(c.cmd("get cnt\r\n", "END\r\n"), "VALUE cnt 0 2\r\n30\r\nEND\r\n");
  EXPECT_TRUE(Settled("cnt", "VALUE cnt 0 2\r\n30\r\nEND\r\n"));
}

// rc_set and rc_del: unknown commands to a client, as to memcached; on a
// peer connection the newest version wins and a delete's tombstone keeps
// older copies out.
TEST_F(Replica, ReplicationCommandsOrderCopiesByVersion) {
  auto mc = rc_dt::start_memcached();
  ASSERT_NE(mc, nullptr);
  std::string bytes = "rc_set v:k 0 0 1 99\r\nx\r\nrc_del v:k 100\r\nget v:k\r\n";
  Client m(mc->port()), plain(node(0)->port());
  m.send(bytes);
  plain.send(bytes);
  EXPECT_EQ(plain.recv_until("END\r\n"), m.recv_until("END\r\n"));

  // Versions near the node's own clock, so they are plausible.
  Local l(node(1)->port());
  ASSERT_TRUE(l.ok());
  ASSERT_EQ(l.cmd("set v:base 0 0 1\r\nb\r\n"), "STORED\r\n");
  unsigned long long base = 0;
  WithoutCas(l.gets("v:base"), &base);
  ASSERT_NE(base, 0u);
  auto V = [base](int d) { return std::to_string(base + 1000 + d); };
  EXPECT_EQ(l.cmd("rc_set v:k 5 0 3 " + V(10) + "\r\nnew\r\n"), "STORED\r\n");
  EXPECT_EQ(l.cmd("rc_set v:k 5 0 3 " + V(5) + "\r\nold\r\n"), "NOT_STORED\r\n");
  EXPECT_EQ(l.cmd("rc_set v:k 5 0 3 " + V(10) + "\r\nnew\r\n"), "EXISTS\r\n");
  EXPECT_EQ(l.gets("v:k"), "VALUE v:k 5 3 " + V(10) + "\r\nnew\r\nEND\r\n");
  EXPECT_EQ(l.cmd("rc_del v:k " + V(8) + "\r\n"), "EXISTS\r\n");
  EXPECT_EQ(l.cmd("rc_del v:k " + V(20) + "\r\n"), "DELETED\r\n");
  EXPECT_EQ(l.cmd("rc_set v:k 5 0 3 " + V(15) + "\r\nzom\r\n"), "NOT_STORED\r\n")
      << "older than the delete: stays deleted";
  EXPECT_EQ(l.gets("v:k"), "END\r\n");
  EXPECT_EQ(l.cmd("rc_set v:k 5 0 3 " + V(25) + "\r\nagn\r\n"), "STORED\r\n");
  EXPECT_EQ(l.cmd("rc_set v:k 5 100 1 " + V(26) + " S\r\ns\r\n"), "STORED\r\n");
  std::string mg = l.cmd("mg v:k t\r\n");
  EXPECT_EQ(mg.rfind("HD t", 0), 0u) << mg;
  EXPECT_GE(atoi(mg.c_str() + 4), 98) << "the TTL left, not a unix time: " << mg;
  EXPECT_NE(mg.find(" X"), std::string::npos) << "S: a stale copy is stale here too: " << mg;
  EXPECT_EQ(l.cmd("s\r\n"), "ERROR\r\n") << "the value line was not swallowed";
  // A later client write on the node beats every version it has seen.
  EXPECT_EQ(l.cmd("set v:k 0 0 1\r\nc\r\n"), "STORED\r\n");
  unsigned long long now = 0;
  WithoutCas(l.gets("v:k"), &now);
  EXPECT_GT(now, base + 1026);
  // Bad lines: memcached's format error, and the connection serves on.
  EXPECT_EQ(l.cmd("rc_set v:k 0 0\r\n"), "CLIENT_ERROR bad command line format\r\n");
  EXPECT_EQ(l.cmd("rc_del v:k x\r\n"), "CLIENT_ERROR bad command line format\r\n");
  EXPECT_EQ(l.cmd("rc_set v:k 0 0 1 0\r\n"), "CLIENT_ERROR bad command line format\r\n");
  EXPECT_EQ(l.cmd("rc_set v:k 0 0 1 " + V(99) + "\r\nxy\r\n"), "CLIENT_ERROR bad data chunk\r\n");
  // What follows a bad chunk is read as a command line, as after a bad
  // set's (memcached's rule): here "\n", an empty line.
  EXPECT_EQ(l.cmd("version\r\n"), "ERROR\r\n");
  EXPECT_EQ(l.cmd("").rfind("VERSION ", 0), 0u);
  EXPECT_GT(Stat(node(1)->port(), "tombstones"), 0);
}

// With one owner of a key stopped, reads through every other node are
// answered by the other owner (after at most the peer timeout), before
// and without gossip declaring anything.
TEST_F(Replica, ReadsOfAStoppedOwnerAreAnsweredByTheOther) {
  std::map<std::string, std::string> keys;
  for (int i = 0; i < 120; i++) {
    std::string k = "fo:" + std::to_string(i), v = "v" + std::to_string(i * 7);
    Client c(node(i % kNodes)->port());
    ASSERT_EQ(c.cmd("set " + k + " 0 0 " + std::to_string(v.size()) + "\r\n" + v + "\r\n"), "STORED\r\n");
    keys[k] = v;
  }
  for (auto& kv : keys)
    ASSERT_TRUE(Settled(kv.first, "VALUE " + kv.first + " 0 " + std::to_string(kv.second.size()) +
                                      "\r\n" + kv.second + "\r\nEND\r\n"));
  long long failovers = Stat(node(0)->port(), "failovers") + Stat(node(1)->port(), "failovers");
  ASSERT_EQ(0, rc_dt::kill_one(node(2)->pid(), SIGSTOP));
  ASSERT_TRUE(rc_ct::wait_stopped(node(2)->pid()));
  long long t0 = rc_test::now_ms();
  int missing = 0;
  for (int via = 0; via < 2; via++) {
    Client c(node(via)->port());
    std::string req;
    for (auto& kv : keys) req += "get " + kv.first + "\r\n";
    c.send(req + "version\r\n");
    std::string got = c.recv_until("VERSION ", 10000);
    c.recv_until("\r\n");
    for (auto& kv : keys)
      if (got.find("VALUE " + kv.first + " 0 " + std::to_string(kv.second.size()) + "\r\n" +
                   kv.second + "\r\n") == std::string::npos)
        missing++;
    // meta and binary reads fail over too: one of each.
    std::string k = keys.begin()->first;
    EXPECT_EQ(c.cmd("mg " + k + " v\r\n"), "VA " + std::to_string(keys[k].size()) + "\r\n")
        << "mg " << k;
  }
  long long took = rc_test::now_ms() - t0;
  ASSERT_EQ(0, rc_dt::kill_one(node(2)->pid(), SIGCONT));
  EXPECT_EQ(missing, 0);
  EXPECT_GT(Stat(node(0)->port(), "failovers") + Stat(node(1)->port(), "failovers"), failovers);
  // Each pipeline waits for one peer timeout, not one per key.
  EXPECT_LT(took, 4 * kPeerTimeoutMs + 3000);
  printf("reads of a stopped owner: all %zu keys through 2 nodes in %lld ms\n", keys.size(), took);
}

// kill -9 of a node after its writes were acknowledged: every key is
// still readable through the others, at once (failover) and after the
// ring has dropped it.
TEST_F(Replica, KilledNodeLosesNoAcknowledgedWrite) {
  std::map<std::string, std::string> keys;
  for (int i = 0; i < 300; i++) {
    std::string k = "kn:" + std::to_string(i), v = rc_dt::random_bytes(1 + i % 50, i);
    for (char& ch : v) ch = 'a' + (unsigned char)ch % 26;
    Client c(node(i % kNodes)->port());
    ASSERT_EQ(c.cmd("set " + k + " 0 0 " + std::to_string(v.size()) + "\r\n" + v + "\r\n"), "STORED\r\n");
    keys[k] = v;
  }
  // Acknowledged, and (R = 2) on a second node by the time a reader asks.
  rc_test::sleep_ms(200);
  node(2)->signal(SIGKILL);
  node(2)->wait_exit(2000);
  auto read_all = [&](int via) {
    Client c(node(via)->port());
    std::string req;
    for (auto& kv : keys) req += "get " + kv.first + "\r\n";
    c.send(req + "version\r\n");
    std::string got = c.recv_until("VERSION ", 10000);
    int lost = 0;
    for (auto& kv : keys)
      if (got.find("VALUE " + kv.first + " 0 " + std::to_string(kv.second.size()) + "\r\n" +
                   kv.second + "\r\n") == std::string::npos)
        lost++;
    return lost;
  };
  EXPECT_EQ(read_all(0), 0) << "right after the kill";
  EXPECT_EQ(read_all(1), 0) << "right after the kill";
  ASSERT_TRUE(rc_ct::wait_for([] { return rc_ct::alive_on_ring(node(0)->port()) == 2; }, 10000));
  EXPECT_EQ(read_all(0), 0) << "once the ring has dropped it";
  EXPECT_EQ(read_all(1), 0) << "once the ring has dropped it";
  // Writes go on, to both survivors.
  Client c(node(0)->port());
  EXPECT_EQ(c.cmd("set kn:after 0 0 1\r\nz\r\n"), "STORED\r\n");
  EXPECT_TRUE(rc_ct::wait_for(
      [] {
        Local a(node(0)->port()), b(node(1)->port());
        return a.gets("kn:after").find("VALUE") == 0 && b.gets("kn:after").find("VALUE") == 0;
      },
      3000));
}


// Three nodes with --replicas 2 on fixed ports (a restart keeps its
// address, as in production), suspected for seconds and never dead here.
class FixedCluster {
 public:
  static constexpr int n = 3;
  explicit FixedCluster(const std::string& prefix) : prefix_(prefix) {
    for (int i = 0; i < n; i++) {
      port[i] = rc_test::find_free_port();
      gossip_[i] = rc_test::find_free_port();
    }
    for (int i = 0; i < n; i++) start(i);
  }
  void start(int i) {
    std::vector<std::string> a = {rc_test::ringcached_path(), "-l", "127.0.0.1", "-p",
                                  std::to_string(port[i]), "--node-name", prefix_ + std::to_string(i),
                                  "--gossip-port", std::to_string(gossip_[i]), "--replicas", "2",
                                  "--gossip-suspicion-mult", "30"};
    a.insert(a.end(), rc_ct::fast_timings().begin(), rc_ct::fast_timings().end());
    if (i > 0) a.insert(a.end(), {"--join", "127.0.0.1:" + std::to_string(gossip_[0])});
    d[i].reset(new rc_dt::Spawned(rc_dt::with_user(a)));
  }
  // Every node listens and sees all three alive on its ring.
  bool formed() const {
    return rc_ct::wait_for(
        [&] {
          for (int i = 0; i < n; i++) {
            int fd = rc_dt::connect_tcp("127.0.0.1", port[i], 200);
            if (fd < 0) return false;  // not listening yet
            close(fd);
            if (rc_ct::alive_on_ring(port[i]) != (size_t)n) return false;
          }
          return true;
        },
        10000);
  }
  int port[n];
  std::unique_ptr<rc_dt::Spawned> d[n];

 private:
  std::string prefix_;
  int gossip_[n];
};

// A node killed -9 and restarted on the same port before anyone declared
// it dead: the ring never changed, so no rebalance would send it the keys
// it lost. Its new boot (in its gossip metadata) tells the others it
// restarted, and they send it every key it owns that they hold.
TEST(ReplicaRestart, ANodeRestartedOnItsPortGetsItsKeysBackThoughNeverDeclaredDead) {
  if (rc_dt::testing_memcached()) GTEST_SKIP() << "needs a cluster";
  FixedCluster cl("rs");
  auto& d = cl.d;
  auto& port = cl.port;
  ASSERT_TRUE(cl.formed());
  constexpr int kKeys = 300;
  {
    Client c(port[0]);
    for (int k = 0; k < kKeys; k++)
      ASSERT_EQ("STORED\r\n", c.cmd("set rs-" + std::to_string(k) + " 0 0 2\r\nv" +
                                     std::to_string(k % 10) + "\r\n"));
  }
  long long dead0 = rc_ct::cluster_stat(port[0], "deaths");
  d[2]->signal(SIGKILL);
  ASSERT_GE(d[2]->wait_exit(5000), 0);
  cl.start(2);
  ASSERT_TRUE(cl.formed());
  std::string self = "127.0.0.1:" + std::to_string(port[2]);
  int owned = 0, missing = 0;
  std::string first;
  bool back = rc_ct::wait_for(
      [&] {
        owned = missing = 0;
        Local l(port[2]);
        for (int k = 0; k < kKeys; k++) {
          std::string key = "rs-" + std::to_string(k);
          std::vector<std::string> own = Owners(port[0], key);
          if (std::find(own.begin(), own.end(), self) == own.end()) continue;
          owned++;
          std::string want = "VALUE " + key + " 0 2\r\nv" + std::to_string(k % 10) + "\r\nEND\r\n";
          unsigned long long cas;
          if (WithoutCas(l.gets(key), &cas) != want && missing++ == 0) first = key;
        }
        return owned > 0 && missing == 0;
      },
      10000);
  EXPECT_TRUE(back) << missing << " of " << owned << " keys missing on the restarted node, first "
                    << first;
  EXPECT_GT(owned, kKeys / 3);
  // Never declared dead: the ring did not change, the boot did.
  EXPECT_EQ(dead0, rc_ct::cluster_stat(port[0], "deaths"));
}


// A first owner killed -9 and not declared dead yet: its writes go to the
// next owner at once, since it never received them (connection refused),
// in text, meta and binary; a read then finds them there.
TEST(ReplicaFailover, WritesToAKilledOwnerGoToTheNextOwnerBeforeItIsDeclaredDead) {
  if (rc_dt::testing_memcached()) GTEST_SKIP() << "needs a cluster";
  FixedCluster cl("wf");
  auto& d = cl.d;
  auto& port = cl.port;
  ASSERT_TRUE(cl.formed());
  std::string dead = "127.0.0.1:" + std::to_string(port[2]);
  std::vector<std::string> keys;  // first owner: node 2
  std::string second;
  for (int i = 0; keys.size() < 3 && i < 5000; i++) {
    std::string k = "wf-" + std::to_string(i);
    std::vector<std::string> own = Owners(port[0], k);
    if (own.size() == 2 && own[0] == dead && (second.empty() || own[1] == second)) {
      second = own[1];
      keys.push_back(k);
    }
  }
  ASSERT_EQ(3u, keys.size());
  long long deaths0 = rc_ct::cluster_stat(port[0], "deaths");
  d[2]->signal(SIGKILL);
  ASSERT_GE(d[2]->wait_exit(5000), 0);

  Client c(port[0]);
  EXPECT_EQ("STORED\r\n", c.cmd("set " + keys[0] + " 0 0 4\r\ntext\r\n"));
  EXPECT_EQ("HD\r\n", c.cmd("ms " + keys[1] + " 4\r\nmeta\r\n"));
  Client b(port[0]);
  ASSERT_TRUE(b.send(rc_bin::encode(
      rc_bin::Req(rc_bin::OP_SET, keys[2], rc_bin::SetExtras(0, 0), "bin!", 0, 7))));
  std::string buf;
  std::vector<rc_bin::Resp> rs;
  long long end = rc_test::now_ms() + 5000;
  while (rs.empty() && rc_test::now_ms() < end) {
    buf += b.recv_idle(50, 500);
    rc_bin::decode(buf, &rs);
  }
  ASSERT_EQ(1u, rs.size());
  EXPECT_EQ(0, rs[0].status);
  // On the next owner, and read back through the entry node.
  Local l(atoi(second.c_str() + second.rfind(':') + 1));
  const char* vals[] = {"text", "meta", "bin!"};
  for (int i = 0; i < 3; i++) {
    unsigned long long cas;
    std::string want = "VALUE " + keys[i] + " 0 4\r\n" + vals[i] + "\r\nEND\r\n";
    EXPECT_EQ(want, WithoutCas(l.gets(keys[i]), &cas));
    EXPECT_EQ(want, c.cmd("get " + keys[i] + "\r\n", "END\r\n"));
  }
  EXPECT_EQ("DELETED\r\n", c.cmd("delete " + keys[0] + "\r\n"));
  EXPECT_EQ("END\r\n", l.gets(keys[0]));
  // All of it before anyone declared node 2 dead.
  EXPECT_EQ(deaths0, rc_ct::cluster_stat(port[0], "deaths"));
  EXPECT_GE(rc_ct::cluster_stat(port[0], "failovers"), 4);
}

}  // namespace
