// The ring with real processes: five daemons on 127.0.0.1 (two of them
// with --weight 2) show the same `cluster ring` everywhere; a libmemcached
// client built from its CONFIG line sends every key to the node that
// `cluster owner` names; a suspect member stays on the ring and a dead one
// leaves it, its keys going to the next owner; bad options are refused.
#include <signal.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <libmemcached/memcached.h>

#include "cluster_util.h"
#include "daemon_util.h"
#include "harness.h"

namespace {

using rc_test::Client;
using rc_test::Daemon;

constexpr int kNodes = 5;
constexpr int kDeadBoundMs = 8000;

struct RingLine {
  std::string addr, name;
  unsigned weight = 0, points = 0;
  std::string state;
};

struct Ring {
  std::vector<RingLine> lines;
  std::string config;
  std::string raw;
};

Ring GetRing(int port) {
  Ring r;
  Client c(port);
  if (!c.ok()) return r;
  r.raw = c.cmd("cluster ring\r\n", "END\r\n");
  size_t at = 0;
  while (at < r.raw.size()) {
    size_t eol = r.raw.find("\r\n", at);
    if (eol == std::string::npos) break;
    std::string line = r.raw.substr(at, eol - at);
    at = eol + 2;
    char addr[200], name[100], state[16];
    RingLine l;
    if (sscanf(line.c_str(), "RING %199s %99s %u %u %15s", addr, name, &l.weight, &l.points,
               state) == 5) {
      l.addr = addr;
      l.name = name;
      l.state = state;
      r.lines.push_back(l);
    } else if (line.rfind("CONFIG ", 0) == 0) {
      r.config = line.substr(7);
    }
  }
  return r;
}

// `cluster owner` for every key, pipelined on one connection.
std::vector<std::string> Owners(int port, const std::vector<std::string>& keys) {
  Client c(port);
  std::string req;
  for (const std::string& k : keys) req += "cluster owner " + k + "\r\n";
  c.send(req);
  std::vector<std::string> out;
  for (size_t i = 0; i < keys.size(); i++) {
    std::string r = c.recv_until("END\r\n", 5000);
    char addr[200] = "";
    if (sscanf(r.c_str(), "OWNER %199s", addr) != 1) {
      ADD_FAILURE() << "no owner for " << keys[i] << ": " << r;
      return out;
    }
    out.push_back(addr);
  }
  return out;
}

std::vector<std::string> Keys(size_t n) {
  std::vector<std::string> keys;
  for (size_t i = 0; i < n; i++) keys.push_back("k:" + std::to_string(i * 7919));
  return keys;
}

// What a libmemcached client built from config picks for each key.
std::vector<std::string> LibmemcachedOwners(const std::string& config,
                                            const std::vector<std::string>& keys) {
  std::vector<std::string> out;
  memcached_st* memc = memcached(config.data(), config.size());
  if (memc == nullptr) {
    ADD_FAILURE() << "libmemcached refused: " << config;
    return out;
  }
  for (const std::string& k : keys) {
    uint32_t i = memcached_generate_hash(memc, k.data(), k.size());
    const memcached_instance_st* s = memcached_server_instance_by_position(memc, i);
    out.push_back(std::string(memcached_server_name(s)) + ":" +
                  std::to_string(memcached_server_port(s)));
  }
  memcached_free(memc);
  return out;
}

class ClusterRing : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    nodes_ = new rc_ct::Nodes(kNodes, "n", [](int i) {
      return i >= 3 ? std::vector<std::string>{"--weight", "2"} : std::vector<std::string>{};
    });
  }
  static void TearDownTestSuite() {
    delete nodes_;
    nodes_ = nullptr;
  }
  void SetUp() override {
    for (int i = 0; i < kNodes; i++) ASSERT_NE(node(i), nullptr) << "node " << i;
  }
  static Daemon* node(int i) { return nodes_->node(i); }
  static bool Running(int i) { return nodes_->running(i); }
  // Every running node's ring has exactly `want` members, all alive.
  static bool RingsHave(size_t want) {
    for (int i = 0; i < kNodes; i++) {
      if (!Running(i)) continue;
      Ring r = GetRing(node(i)->port());
      if (r.lines.size() != want) return false;
      for (const RingLine& l : r.lines)
        if (l.state != "alive") return false;
    }
    return true;
  }

  static rc_ct::Nodes* nodes_;
};
rc_ct::Nodes* ClusterRing::nodes_ = nullptr;

TEST_F(ClusterRing, EveryNodeShowsTheSameRingWithWeightsAndPoints) {
  ASSERT_TRUE(rc_ct::wait_for([] { return RingsHave(kNodes); }, 10000));
  Ring first = GetRing(node(0)->port());
  for (int i = 1; i < kNodes; i++) EXPECT_EQ(GetRing(node(i)->port()).raw, first.raw) << i;
  // Weights 1,1,1,2,2 (W = 7): 1/7 * 40 * 5 = 28.6 -> 112 points,
  // 2/7 * 40 * 5 = 57.1 -> 228, in libmemcached's arithmetic.
  std::set<std::string> seen;
  for (const RingLine& l : first.lines) {
    seen.insert(l.name);
    bool heavy = l.name == "n3" || l.name == "n4";
    EXPECT_EQ(l.weight, heavy ? 2u : 1u) << l.name;
    EXPECT_EQ(l.points, heavy ? 228u : 112u) << l.name;
    EXPECT_EQ(l.addr.rfind("127.0.0.1:", 0), 0u) << l.addr;
  }
  EXPECT_EQ(seen.size(), (size_t)kNodes);
  // Ring order is the host string order, which clients must keep.
  for (size_t i = 1; i < first.lines.size(); i++)
    EXPECT_LT(first.lines[i - 1].addr, first.lines[i].addr);
  EXPECT_NE(first.config.find("--DISTRIBUTION=consistent"), std::string::npos) << first.config;
}

TEST_F(ClusterRing, LibmemcachedFromTheConfigLineAgreesWithClusterOwnerOnEveryNode) {
  ASSERT_TRUE(rc_ct::wait_for([] { return RingsHave(kNodes); }, 10000));
  std::vector<std::string> keys = Keys(3000);
  Ring r = GetRing(node(2)->port());
  std::vector<std::string> lib = LibmemcachedOwners(r.config, keys);
  ASSERT_EQ(lib.size(), keys.size());
  std::map<std::string, int> per_node;
  for (int i = 0; i < kNodes; i++) {
    std::vector<std::string> owners = Owners(node(i)->port(), keys);
    ASSERT_EQ(owners.size(), keys.size());
    size_t diffs = 0;
    for (size_t k = 0; k < keys.size(); k++) {
      diffs += owners[k] != lib[k];
      if (i == 0) per_node[owners[k]]++;
    }
    EXPECT_EQ(diffs, 0u) << "node " << i;
  }
  // Every node owns some keys, the heavy ones about twice as many on
  // average. (One heavy node against one light one varies too much with
  // the ports, which are hashed: in 3,000 simulated rings with random
  // ports that comparison at 1.5x failed 0.9% of the time, as it did
  // in a local run; the averages' ratio was never below 1.51.)
  EXPECT_EQ(per_node.size(), (size_t)kNodes);
  for (auto& kv : per_node) printf("%s owns %d of %zu keys\n", kv.first.c_str(), kv.second, keys.size());
  double heavy = 0, light = 0;
  for (int i = 0; i < kNodes; i++) {
    int n = per_node["127.0.0.1:" + std::to_string(node(i)->port())];
    (i >= 3 ? heavy : light) += n;
  }
  EXPECT_GT((heavy / 2) / (light / 3), 1.3) << "mean keys of a weight-2 node over a weight-1 node";
}

// contrib/ringcached-clients, as a user runs it: its libmemcached line
// builds a client that agrees with `cluster owner`, and its host lists
// name every member.
TEST_F(ClusterRing, ClientConfigToolPrintsWhatLibmemcachedRoutesBy) {
  ASSERT_TRUE(rc_ct::wait_for([] { return RingsHave(kNodes); }, 10000));
  const char* srcdir = getenv("srcdir");  // set by automake's test driver
  std::string tool = std::string(srcdir ? srcdir : "..") + "/contrib/ringcached-clients";
  auto r = rc_dt::run_program({"/bin/bash", tool, "127.0.0.1:" + std::to_string(node(4)->port())});
  ASSERT_EQ(r.exit_code(), 0) << r.describe();
  std::string config;
  size_t at = r.out.find("\nlibmemcached: ");
  ASSERT_NE(at, std::string::npos) << r.out;
  at += 15;
  config = r.out.substr(at, r.out.find('\n', at) - at);
  std::vector<std::string> keys = Keys(2000);
  EXPECT_EQ(LibmemcachedOwners(config, keys), Owners(node(0)->port(), keys));
  for (int i = 0; i < kNodes; i++) {
    std::string hp = "'127.0.0.1:" + std::to_string(node(i)->port()) + "'";
    EXPECT_NE(r.out.find("pymemcache: ["), std::string::npos) << r.out;
    EXPECT_NE(r.out.find(hp), std::string::npos) << hp << "\n" << r.out;
  }
  // A node that is not there: a clear error and a failing exit.
  auto bad = rc_dt::run_program({"/bin/bash", tool, "127.0.0.1:1"});
  EXPECT_EQ(bad.exit_code(), 1) << bad.describe();
  EXPECT_NE(bad.err.find("cannot connect to 127.0.0.1:1"), std::string::npos) << bad.err;
}

TEST_F(ClusterRing, OwnerNamesItselfAndCommandsAreChecked) {
  ASSERT_TRUE(rc_ct::wait_for([] { return RingsHave(kNodes); }, 10000));
  std::vector<std::string> keys = Keys(200);
  std::vector<std::string> owners = Owners(node(1)->port(), keys);
  std::string me = "127.0.0.1:" + std::to_string(node(1)->port());
  Client c(node(1)->port());
  for (size_t k = 0; k < owners.size(); k++) {
    if (owners[k] != me) continue;
    std::string r = c.cmd("cluster owner " + keys[k] + "\r\n", "END\r\n");
    EXPECT_NE(r.find(" n1 self\r\n"), std::string::npos) << r;
    break;
  }
  const char* usage = "CLIENT_ERROR usage: cluster members | cluster ring | cluster owner <key>\r\n";
  EXPECT_EQ(c.cmd("cluster owner\r\n"), usage);
  EXPECT_EQ(c.cmd("cluster ring extra\r\n"), usage);
  EXPECT_EQ(c.cmd("cluster nonsense\r\n"), usage);
  EXPECT_EQ(c.cmd("cluster owner " + std::string(251, 'k') + "\r\n"),
            "CLIENT_ERROR bad command line format\r\n");
  // The connection still serves.
  EXPECT_EQ(c.cmd("version\r\n").rfind("VERSION ", 0), 0u);
}

TEST_F(ClusterRing, SuspectStaysOnTheRingDeadLeavesAndItsKeysMoveOn) {
  ASSERT_TRUE(rc_ct::wait_for([] { return RingsHave(kNodes); }, 10000));
  std::vector<std::string> keys = Keys(2000);
  std::string victim = "127.0.0.1:" + std::to_string(node(2)->port());
  std::vector<std::string> before = Owners(node(0)->port(), keys);
  ASSERT_EQ(0, rc_dt::kill_one(node(2)->pid(), SIGSTOP));
  ASSERT_TRUE(rc_ct::wait_stopped(node(2)->pid()));
  // Until it is dead, whoever shows it shows it on the ring (alive or
  // suspect); once dead it is gone from the ring.
  bool saw_suspect_on_ring = false, gone = false;
  long long until = rc_test::now_ms() + kDeadBoundMs;
  while (!gone && rc_test::now_ms() < until) {
    Ring r = GetRing(node(0)->port());
    bool listed = false;
    for (const RingLine& l : r.lines) {
      if (l.addr != victim) continue;
      listed = true;
      saw_suspect_on_ring |= l.state == "suspect";
    }
    gone = !listed && r.lines.size() == kNodes - 1;
    rc_test::sleep_ms(20);
  }
  EXPECT_TRUE(gone) << "still on the ring after " << kDeadBoundMs << " ms";
  EXPECT_TRUE(saw_suspect_on_ring) << "never seen as suspect on the ring";
  // The victim's keys went to others; nobody else's keys moved (equal
  // point counts before and after are not guaranteed with weights, so
  // compare with what libmemcached says for the survivors' list). The
  // same node's ring: another node may not have dropped the victim yet,
  // and with it on the ring every survivor's share, so its points, differ.
  Ring after_ring = GetRing(node(0)->port());
  std::vector<std::string> lib = LibmemcachedOwners(after_ring.config, keys);
  std::vector<std::string> after = Owners(node(0)->port(), keys);
  ASSERT_EQ(after.size(), keys.size());
  size_t moved_from_victim = 0;
  for (size_t k = 0; k < keys.size(); k++) {
    EXPECT_NE(after[k], victim);
    EXPECT_EQ(after[k], lib[k]) << keys[k];
    moved_from_victim += before[k] == victim;
  }
  EXPECT_GT(moved_from_victim, 0u);
  // Back: it refutes its death and returns to the ring.
  ASSERT_EQ(0, rc_dt::kill_one(node(2)->pid(), SIGCONT));
  EXPECT_TRUE(rc_ct::wait_for([] { return RingsHave(kNodes); }, 10000));
  EXPECT_EQ(Owners(node(3)->port(), keys), before);
}

TEST_F(ClusterRing, KillNineLeavesTheRingEverywhere) {
  ASSERT_TRUE(rc_ct::wait_for([] { return RingsHave(kNodes); }, 10000));
  node(4)->signal(SIGKILL);
  node(4)->wait_exit(2000);
  EXPECT_TRUE(rc_ct::wait_for([] { return RingsHave(kNodes - 1); }, kDeadBoundMs));
  std::vector<std::string> keys = Keys(1000);
  std::string dead = "127.0.0.1:" + std::to_string(node(4)->port());
  for (int i = 0; i < kNodes - 1; i++) {
    for (const std::string& o : Owners(node(i)->port(), keys)) ASSERT_NE(o, dead) << i;
  }
}

TEST(ClusterRingOptions, WeightIsValidatedAndOwnerNeedsACluster) {
  for (const char* bad : {"0", "65536", "x", "-1"}) {
    auto r = rc_dt::run_program(rc_dt::with_user({rc_test::ringcached_path(), "-p", "0", "-l",
                                                  "127.0.0.1", "--weight", bad}));
    EXPECT_TRUE(r.exited_ok() && r.exit_code() != 0) << bad << " " << r.describe();
    EXPECT_NE(r.err.find("--weight"), std::string::npos) << bad << " " << r.err;
  }
  auto d = rc_dt::start_daemon();
  ASSERT_NE(d, nullptr);
  Client c(d->port());
  EXPECT_EQ(c.cmd("cluster owner foo\r\n"), "SERVER_ERROR cluster not enabled\r\n");
  EXPECT_EQ(c.cmd("cluster ring\r\n"), "SERVER_ERROR cluster not enabled\r\n");
}

}  // namespace
