// Rebalance with real processes: when the ring changes, keys reach the
// members that have become their owners. After a kill -9 with
// --replicas 2 every key has two copies again; a node that joins holds
// every key the ring gives it; a node stopped with SIGTERM hands its keys
// on first (--replicas 1: nothing is lost); a node that was declared dead
// and comes back with its old data ends with no value older than the
// cluster's and no deleted key; and --rebalance-rate bounds the speed,
// with the progress visible in `stats cluster`.
#include <signal.h>
#include <stdio.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "cluster_util.h"
#include "daemon_util.h"
#include "harness.h"

namespace {

using rc_test::Client;

long long Stat(int port, const std::string& name) {
  Client c(port);
  return rc_dt::stat_num(rc_dt::stats(c, "cluster"), name);
}

std::string Addr(int port) { return "127.0.0.1:" + std::to_string(port); }
int PortOf(const std::string& addr) { return atoi(addr.c_str() + addr.rfind(':') + 1); }

// Every key's owners by port's view, first owner first (one pipeline).
std::map<std::string, std::vector<std::string>> OwnersOf(int port, const std::vector<std::string>& keys) {
  Client c(port);
  std::string req;
  for (const std::string& k : keys) req += "cluster owner " + k + "\r\n";
  c.send(req + "version\r\n");
  std::string r = c.recv_until("VERSION ", 20000);
  std::map<std::string, std::vector<std::string>> out;
  size_t at = 0;
  for (const std::string& k : keys) {
    size_t end = r.find("END\r\n", at);
    if (end == std::string::npos) break;
    std::string block = r.substr(at, end - at);
    size_t o = 0;
    while ((o = block.find("OWNER ", o)) != std::string::npos) {
      size_t sp = block.find_first_of(" \r", o + 6);
      out[k].push_back(block.substr(o + 6, sp - o - 6));
      o = sp;
    }
    at = end + 5;
  }
  return out;
}

// What one node holds of each key (rc_peer: served there, whatever its
// ring says): the value, or "" when absent.
std::map<std::string, std::string> HeldBy(int port, const std::vector<std::string>& keys) {
  Client c(port);
  std::map<std::string, std::string> out;
  if (c.cmd("rc_peer tester text\r\n") != "OK\r\n") return out;
  std::string req;
  for (const std::string& k : keys) req += "get " + k + "\r\n";
  c.send(req + "version\r\n");
  std::string r = c.recv_until("VERSION ", 20000);
  size_t at = 0;
  for (const std::string& k : keys) {
    size_t end = r.find("END\r\n", at);
    if (end == std::string::npos) break;
    std::string block = r.substr(at, end - at);
    size_t eol = block.find("\r\n");
    out[k] = block.rfind("VALUE ", 0) == 0 ? block.substr(eol + 2, block.size() - eol - 4) : "";
    at = end + 5;
  }
  return out;
}

// Stores every key through port in one pipeline; each must be
// acknowledged (STORED).
void Load(int port, const std::map<std::string, std::string>& kv) {
  Client c(port);
  std::string req, want;
  for (auto& e : kv) {
    req += "set " + e.first + " 0 0 " + std::to_string(e.second.size()) + "\r\n" + e.second + "\r\n";
    want += "STORED\r\n";
  }
  c.send(req + "mn\r\n");
  ASSERT_EQ(c.recv_until("MN\r\n", 20000), want + "MN\r\n");
}

std::vector<std::string> KeysOf(const std::map<std::string, std::string>& kv) {
  std::vector<std::string> k;
  for (auto& e : kv) k.push_back(e.first);
  return k;
}

class Rebalance : public ::testing::Test {
 protected:
  void SetUp() override {
    if (rc_dt::testing_memcached()) GTEST_SKIP() << "needs a cluster";
  }
  void Start(int n, int now, std::vector<std::string> extra) {
    nodes_ = std::make_unique<rc_ct::Nodes>(n, "rb", [extra](int) {
      std::vector<std::string> a = {"--peer-timeout", "500", "--gossip-suspicion-mult", "4"};
      a.insert(a.end(), extra.begin(), extra.end());
      return a;
    }, now);
    for (int i = 0; i < now; i++) ASSERT_NE(nodes_->node(i), nullptr) << "node " << i;
    ASSERT_TRUE(Converged(10000));
  }
  int port(int i) const { return nodes_->node(i)->port(); }
  // Every running node has every running node alive on its ring.
  bool Converged(int ms) {
    return rc_ct::wait_for(
        [this] {
          for (int i = 0; i < nodes_->size(); i++)
            if (nodes_->running(i) && rc_ct::alive_on_ring(port(i)) != (size_t)nodes_->live())
              return false;
          return true;
        },
        ms);
  }
  // The ring has converged and no node runs a pass (twice in a row, the
  // first poll after the passes could have noticed the change).
  bool Settled(int ms) {
    if (!Converged(ms)) return false;
    rc_test::sleep_ms(300);
    int quiet = 0;
    return rc_ct::wait_for(
        [&] {
          for (int i = 0; i < nodes_->size(); i++)
            if (nodes_->running(i) && Stat(port(i), "rebalance_running") != 0) {
              quiet = 0;
              return false;
            }
          return ++quiet >= 2;
        },
        ms);
  }
  // Keys whose owners (by node `via`) do not all hold `want`'s value.
  int MissingCopies(int via, const std::map<std::string, std::string>& want, size_t copies) {
    std::vector<std::string> keys = KeysOf(want);
    auto owners = OwnersOf(port(via), keys);
    std::map<int, std::map<std::string, std::string>> held;
    int bad = 0;
    for (int i = 0; i < nodes_->size(); i++)
      if (nodes_->running(i)) held[port(i)] = HeldBy(port(i), keys);
    for (auto& e : want) {
      const std::vector<std::string>& own = owners[e.first];
      if (own.size() != copies) {
        bad++;
        continue;
      }
      for (const std::string& o : own)
        if (held[PortOf(o)][e.first] != e.second) bad++;
    }
    return bad;
  }
  std::unique_ptr<rc_ct::Nodes> nodes_;
};

std::map<std::string, std::string> Keys(const std::string& prefix, int n, size_t len) {
  std::map<std::string, std::string> kv;
  for (int i = 0; i < n; i++) {
    std::string v = rc_dt::random_bytes(len, (uint64_t)i + 1);
    for (char& ch : v) ch = 'a' + (unsigned char)ch % 26;
    kv[prefix + std::to_string(i)] = v;
  }
  return kv;
}

// --replicas 2, four nodes, kill -9 of one: the survivors copy every key
// that lost a copy to its new second owner.
TEST_F(Rebalance, DeathRestoresEveryCopy) {
  Start(4, 4, {"--replicas", "2"});
  auto kv = Keys("d:", 3000, 100);
  Load(port(0), kv);
  ASSERT_TRUE(rc_ct::wait_for([&] { return MissingCopies(0, kv, 2) == 0; }, 5000));
  long long t0 = rc_test::now_ms();
  nodes_->node(3)->signal(SIGKILL);
  nodes_->node(3)->wait_exit(2000);
  ASSERT_TRUE(Settled(15000));
  long long took = rc_test::now_ms() - t0;
  EXPECT_EQ(MissingCopies(0, kv, 2), 0) << "every key on both of its owners again";
  EXPECT_EQ(MissingCopies(1, kv, 2), 0);
  long long moved = 0;
  for (int i = 0; i < 3; i++) moved += Stat(port(i), "rebalance_keys_moved");
  EXPECT_GT(moved, 3000 / 4) << "about a quarter of the copies were on the dead node";
  EXPECT_LT(moved, 3000);
  printf("kill -9 of 1 of 4 nodes: %lld copies restored, R = 2 again %lld ms after the kill\n",
         moved, took);
}

// --replicas 1: a fourth node joins; every key the ring now gives it is
// on it, no key moved anywhere else, and every key still reads.
TEST_F(Rebalance, JoinWarmsTheNewNode) {
  Start(4, 3, {});
  auto kv = Keys("j:", 3000, 50);
  Load(port(0), kv);
  std::vector<std::string> keys = KeysOf(kv);
  auto before = OwnersOf(port(0), keys);
  nodes_->start(3);
  ASSERT_NE(nodes_->node(3), nullptr);
  ASSERT_TRUE(Settled(15000));
  auto after = OwnersOf(port(0), keys);
  auto on_new = HeldBy(port(3), keys);
  int moved = 0, elsewhere = 0, cold = 0;
  for (const std::string& k : keys) {
    if (after[k] == before[k]) continue;
    moved++;
    if (after[k].size() != 1 || after[k][0] != Addr(port(3))) elsewhere++;
    else if (on_new[k] != kv[k]) cold++;
  }
  EXPECT_EQ(elsewhere, 0) << "a join moves keys to the new node only";
  EXPECT_EQ(cold, 0) << "the new node holds every key it owns";
  EXPECT_GT(moved, 0);
  EXPECT_EQ(MissingCopies(2, kv, 1), 0);
  printf("join of a 4th node: %d of %zu keys moved (%.1f%%), all on the new node\n", moved,
         keys.size(), 100.0 * moved / keys.size());
}

// --replicas 1: SIGTERM one of three nodes; it hands its keys to their
// owners without it before it exits, so no key is lost.
TEST_F(Rebalance, GracefulLeaveLosesNoKey) {
  Start(3, 3, {});
  auto kv = Keys("l:", 3000, 80);
  Load(port(0), kv);
  long long t0 = rc_test::now_ms();
  nodes_->node(2)->signal(SIGTERM);
  ASSERT_NE(nodes_->node(2)->wait_exit(20000), -1) << "a leave is bounded";
  long long took = rc_test::now_ms() - t0;
  ASSERT_TRUE(Settled(10000));
  EXPECT_EQ(MissingCopies(0, kv, 1), 0) << "every key on its owner without the leaver";
  EXPECT_EQ(MissingCopies(1, kv, 1), 0);
  printf("graceful leave of 1 of 3 nodes (R = 1): exited after %lld ms, no key lost\n", took);
}

// --replicas 2: a node is stopped until the others declare it dead, keys
// are overwritten and deleted meanwhile, and it comes back with its old
// data: afterwards it holds no old value of a key it owns and none of
// the deleted keys.
TEST_F(Rebalance, ReturningNodeServesNothingOlder) {
  Start(3, 3, {"--replicas", "2"});
  auto kv = Keys("r:", 1500, 20);
  Load(port(0), kv);
  ASSERT_TRUE(rc_ct::wait_for([&] { return MissingCopies(0, kv, 2) == 0; }, 5000));
  ASSERT_EQ(0, rc_dt::kill_one(nodes_->node(2)->pid(), SIGSTOP));
  ASSERT_TRUE(rc_ct::wait_stopped(nodes_->node(2)->pid()));
  // Both survivors route around it before anything is written.
  bool dead = rc_ct::wait_for(
      [&] {
        for (int n = 0; n < 2; n++) {
          Client c(port(n));
          if (c.cmd("cluster ring\r\n", "END\r\n").find(Addr(port(2))) != std::string::npos)
            return false;
        }
        return true;
      },
      10000);
  ASSERT_TRUE(dead) << "the stopped node left both survivors' rings";
  std::map<std::string, std::string> newer, now = kv;
  std::vector<std::string> gone;
  int i = 0;
  for (auto& e : kv) {
    if (i % 3 == 0) newer[e.first] = "new" + std::to_string(i);
    if (i % 3 == 1) gone.push_back(e.first);
    i++;
  }
  Load(port(1), newer);
  {
    Client c(port(1));
    std::string req;
    for (const std::string& k : gone) req += "delete " + k + " noreply\r\n";
    c.send(req + "mn\r\n");
    ASSERT_EQ(c.recv_until("MN\r\n", 10000), "MN\r\n");
    ASSERT_EQ(c.cmd("get " + gone[0] + "\r\n", "END\r\n"), "END\r\n");
  }
  for (auto& e : newer) now[e.first] = e.second;
  for (const std::string& k : gone) now.erase(k);
  ASSERT_EQ(0, rc_dt::kill_one(nodes_->node(2)->pid(), SIGCONT));
  ASSERT_TRUE(Settled(15000));
  std::vector<std::string> keys = KeysOf(kv);
  auto owners = OwnersOf(port(0), keys);
  auto held = HeldBy(port(2), keys);
  int stale = 0, resurrected = 0, owned = 0;
  for (const std::string& k : keys) {
    bool mine = false;
    for (const std::string& o : owners[k]) mine = mine || o == Addr(port(2));
    if (!mine) continue;
    owned++;
    if (now.count(k) == 0 && !held[k].empty()) resurrected++;
    if (now.count(k) != 0 && held[k] != now[k]) stale++;
  }
  EXPECT_GT(owned, 0);
  EXPECT_EQ(stale, 0) << "values written while it was away replaced its old ones";
  EXPECT_EQ(resurrected, 0) << "keys deleted while it was away are gone from it";
  EXPECT_EQ(MissingCopies(0, now, 2), 0);
}

// --rebalance-rate 128 (KiB/s): re-replicating ~500 KB a node takes
// seconds, at about that rate (measured over whole seconds), with
// progress and an ETA in `stats cluster`.
TEST_F(Rebalance, RateLimitsAndReportsProgress) {
  Start(3, 3, {"--replicas", "2", "--rebalance-rate", "128"});
  auto kv = Keys("p:", 1500, 1000);
  Load(port(0), kv);
  ASSERT_TRUE(rc_ct::wait_for([&] { return MissingCopies(0, kv, 2) == 0; }, 5000));
  nodes_->node(2)->signal(SIGKILL);
  nodes_->node(2)->wait_exit(2000);
  ASSERT_TRUE(Converged(10000));
  // Midway: a pass runs, near the limit, with something left to move.
  int busy = -1;
  bool seen = rc_ct::wait_for(
      [&] {
        for (int n = 0; n < 2; n++)
          if (Stat(port(n), "rebalance_running") == 1 && Stat(port(n), "rebalance_rate") > 0 &&
              Stat(port(n), "rebalance_progress_pct") < 80) {
            busy = n;
            return true;
          }
        return false;
      },
      5000);
  ASSERT_TRUE(seen) << "a pass in progress";
  long long rate = Stat(port(busy), "rebalance_rate");
  EXPECT_GT(rate, 128 * 1024 / 2) << "node " << busy << " moves at about --rebalance-rate";
  EXPECT_LT(rate, 128 * 1024 * 3 / 2) << "node " << busy << " stays near --rebalance-rate";
  EXPECT_GT(Stat(port(busy), "rebalance_bytes_to_move"), 0);
  EXPECT_GT(Stat(port(busy), "rebalance_eta"), 0);
  printf("--rebalance-rate 128 KiB/s: node %d measured %lld bytes/s\n", busy, rate);
  ASSERT_TRUE(Settled(30000));
  EXPECT_EQ(MissingCopies(0, kv, 2), 0);
  for (int n = 0; n < 2; n++) {
    EXPECT_EQ(Stat(port(n), "rebalance_progress_pct"), 100);
    EXPECT_EQ(Stat(port(n), "rebalance_eta"), 0);
  }
}

}  // namespace
