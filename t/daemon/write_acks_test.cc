// --write-acks with real processes: three daemons with --replicas 2
// --write-acks 2. A write is answered only once both owners hold it, so a
// read of either owner's own copy right after the reply finds it; with an
// owner stopped (SIGSTOP, not yet declared dead) a write is answered as
// failed after the peer timeout, in the text, meta and binary protocols,
// and in order with the requests around it, while a noreply write does
// not hold up the connection; once the owner is back, writes succeed
// again. An incr computed from a value another owner has moved past is
// not acknowledged, and the owners then agree.
#include <signal.h>
#include <stdio.h>

#include <map>
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

class WriteAcks : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // Suspicion is slow here so that a stopped owner stays on the ring
    // (and keeps failing writes) for the whole of a test.
    nodes_ = new rc_ct::Nodes(kNodes, "wa", [](int) {
      return std::vector<std::string>{"--replicas",     "2",
                                      "--write-acks",   "2",
                                      "--peer-timeout", std::to_string(kPeerTimeoutMs),
                                      "--gossip-suspicion-mult", "30"};
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
            if (rc_ct::alive_on_ring(node(i)->port()) != (size_t)kNodes) return false;
          return true;
        },
        10000));
  }
  static Daemon* node(int i) { return nodes_->node(i); }
  static int IndexOf(const std::string& addr) {
    for (int i = 0; i < kNodes; i++)
      if (Addr(node(i)) == addr) return i;
    return -1;
  }
  // A key whose owners are node `first` and then node `second`.
  static std::string KeyOwnedBy(int first, int second, const std::string& prefix) {
    for (int i = 0; i < 5000; i++) {
      std::string k = prefix + std::to_string(i);
      std::vector<std::string> own = Owners(node(0)->port(), k);
      if (own.size() == 2 && own[0] == Addr(node(first)) && own[1] == Addr(node(second)))
        return k;
    }
    return "";
  }
  static rc_ct::Nodes* nodes_;
};

rc_ct::Nodes* WriteAcks::nodes_ = nullptr;

// A connection that sees what one node holds (rc_peer: served there).
std::string LocalRead(int port, const std::string& cmd, const std::string& key) {
  Client c(port);
  if (c.cmd("rc_peer tester text\r\n") != "OK\r\n") return "no rc_peer";
  return c.cmd(cmd + " " + key + "\r\n", "END\r\n");
}
std::string LocalGet(int port, const std::string& key) { return LocalRead(port, "get", key); }
std::string LocalGets(int port, const std::string& key) { return LocalRead(port, "gets", key); }

// Every acknowledged write is on both owners when its reply arrives: each
// owner's own copy is read right after the reply, with no wait.
TEST_F(WriteAcks, AnAcknowledgedWriteIsOnBothOwners) {
  int bad = 0, n = 0;
  std::string first_bad;
  for (int i = 0; i < 150; i++) {
    std::string k = "wa-both-" + std::to_string(i), v = "v" + std::to_string(i);
    Client c(node(i % kNodes)->port());
    std::string r;
    if (i % 3 == 0) {
      r = c.cmd("set " + k + " 0 0 " + std::to_string(v.size()) + "\r\n" + v + "\r\n");
      ASSERT_EQ("STORED\r\n", r) << k;
    } else if (i % 3 == 1) {
      r = c.cmd("ms " + k + " " + std::to_string(v.size()) + "\r\n" + v + "\r\n");
      ASSERT_EQ("HD\r\n", r) << k;
    } else {
      ASSERT_EQ("STORED\r\n", c.cmd("set " + k + " 0 0 1\r\nx\r\n")) << k;
      ASSERT_EQ("DELETED\r\n", c.cmd("delete " + k + "\r\n")) << k;
      v = "";
    }
    std::string want = v.empty() ? "END\r\n"
                                 : "VALUE " + k + " 0 " + std::to_string(v.size()) + "\r\n" + v +
                                       "\r\nEND\r\n";
    for (const std::string& o : Owners(node(0)->port(), k)) {
      n++;
      std::string got = LocalGet(node(IndexOf(o))->port(), k);
      if (got != want && bad++ == 0) first_bad = k + " on " + o + ": " + got;
    }
  }
  EXPECT_EQ(n, 300);
  EXPECT_EQ(bad, 0) << first_bad;
}

// An owner stopped: writes to its keys fail after the peer timeout, in
// every protocol and in request order; noreply writes pass at once;
// reads are not held. After SIGCONT the same writes succeed.
TEST_F(WriteAcks, AStoppedOwnerFailsWritesAfterThePeerTimeout) {
  std::string k = KeyOwnedBy(0, 2, "wa-stop-"), other = KeyOwnedBy(0, 1, "wa-live-");
  ASSERT_FALSE(k.empty());
  ASSERT_FALSE(other.empty());
  long long failed0 = Stat(node(0)->port(), "write_acks_failed");
  Client c(node(0)->port());
  ASSERT_EQ("STORED\r\n", c.cmd("set " + other + " 0 0 1\r\no\r\n"));
  ASSERT_EQ(0, rc_dt::kill_one(node(2)->pid(), SIGSTOP));
  ASSERT_TRUE(rc_ct::wait_stopped(node(2)->pid()));

  // noreply is not held: the next command's reply comes at once.
  long long t0 = rc_test::now_ms();
  EXPECT_EQ("MN\r\n", c.cmd("set " + k + " 0 0 1 noreply\r\nn\r\nmn\r\n"));
  EXPECT_LT(rc_test::now_ms() - t0, kPeerTimeoutMs);

  // A pipeline: a failing text write, a read, a write whose owners are
  // both alive, a failing meta write; answered in order, after one peer
  // timeout (the two failing writes wait together).
  t0 = rc_test::now_ms();
  ASSERT_TRUE(c.send("set " + k + " 0 0 1\r\nt\r\nget " + other + "\r\nset " + other +
                     " 0 0 2\r\nok\r\nms " + k + " 1\r\nm\r\nmn\r\n"));
  std::string got = c.recv_until("MN\r\n", 4 * kPeerTimeoutMs + 2000);
  long long took = rc_test::now_ms() - t0;
  EXPECT_EQ("SERVER_ERROR replicas unavailable\r\nVALUE " + other +
                " 0 1\r\no\r\nEND\r\nSTORED\r\nSERVER_ERROR replicas unavailable\r\nMN\r\n",
            got);
  EXPECT_GE(took, kPeerTimeoutMs - 50) << "the failure waits for the peer timeout";
  EXPECT_LT(took, 3 * kPeerTimeoutMs + 1000) << "one timeout for the pipeline, not one each";

  // Binary: status 0x86 "Temporary failure", the request's opcode and
  // opaque kept; the noop after it arrives after it.
  Client b(node(0)->port());
  ASSERT_TRUE(b.send(rc_bin::encode(rc_bin::Req(rc_bin::OP_SET, k, rc_bin::SetExtras(0, 0), "b",
                                                0, 0x1234)) +
                     rc_bin::encode(rc_bin::Req(rc_bin::OP_NOOP, "", "", "", 0, 0x99))));
  std::string buf;
  std::vector<rc_bin::Resp> rs;
  long long end = rc_test::now_ms() + 4 * kPeerTimeoutMs + 2000;
  while (rs.size() < 2 && rc_test::now_ms() < end) {
    buf += b.recv_idle(50, 500);
    rs.clear();
    rc_bin::decode(buf, &rs);
  }
  ASSERT_EQ(2u, rs.size());
  EXPECT_EQ(rc_bin::OP_SET, rs[0].op);
  EXPECT_EQ(0x86, rs[0].status);
  EXPECT_EQ(0x1234u, rs[0].opaque);
  EXPECT_EQ("Temporary failure", rs[0].val);
  EXPECT_EQ(rc_bin::OP_NOOP, rs[1].op);
  EXPECT_EQ(0x99u, rs[1].opaque);

  // Still on the ring (alive or suspect): the failures were the stopped
  // owner's, not a membership change.
  {
    Client r(node(0)->port());
    EXPECT_NE(std::string::npos,
              r.cmd("cluster ring\r\n", "END\r\n").find("RING " + Addr(node(2)) + " "));
  }
  ASSERT_EQ(0, rc_dt::kill_one(node(2)->pid(), SIGCONT));
  EXPECT_GE(Stat(node(0)->port(), "write_acks_failed") - failed0, 3);

  // Back: the same write succeeds and is on both owners.
  EXPECT_TRUE(rc_ct::wait_for(
      [&] {
        Client w(node(1)->port());
        return w.cmd("set " + k + " 0 0 4\r\nback\r\n") == "STORED\r\n";
      },
      5000));
  std::string want = "VALUE " + k + " 0 4\r\nback\r\nEND\r\n";
  EXPECT_EQ(want, LocalGet(node(0)->port(), k));
  EXPECT_EQ(want, LocalGet(node(2)->port(), k));
}

// The cas of key on one node's own copy (its version); 0 if absent.
unsigned long long LocalVersion(int port, const std::string& key) {
  std::string r = LocalGets(port, key);
  size_t sp = r.rfind(' ', r.find("\r\n"));
  return r.compare(0, 6, "VALUE ") == 0 ? std::stoull(r.substr(sp + 1)) : 0;
}

// Two nodes that each took themselves for a key's first owner (their
// views differed) each applied an incr to their own copy: here the second
// owner holds a write (injected as a copy from elsewhere, at a version
// just above the first owner's) that the first owner never saw. The first
// owner's incr, computed from the older value, must not be acknowledged
// (it would silently undo that write), and afterwards both owners agree
// on the write it would have undone; the next incr counts from there.
// Then the same with the other owner's version far ahead (its clock ahead
// of ours): the result is the same.
TEST_F(WriteAcks, AnIncrFromABaseAnotherOwnerHasMovedPastIsNotAcknowledged) {
  std::string k = KeyOwnedBy(0, 1, "wa-rmw-");
  ASSERT_FALSE(k.empty());
  Client c(node(0)->port());
  long long conflicts0 = Stat(node(1)->port(), "replica_conflicts");
  long long adopted0 = Stat(node(0)->port(), "replica_adopted");
  const unsigned long long ahead[] = {1, 60000ull << 10};  // versions: +1, a minute
  int round = 0;
  for (unsigned long long delta : ahead) {
    SCOPED_TRACE("other owner's version ahead by " + std::to_string(delta));
    ASSERT_EQ("STORED\r\n", c.cmd("set " + k + " 0 0 2\r\n10\r\n"));
    unsigned long long v = LocalVersion(node(0)->port(), k);
    ASSERT_NE(0u, v);
    ASSERT_EQ(v, LocalVersion(node(1)->port(), k));
    {
      Client p(node(1)->port());
      ASSERT_EQ("OK\r\n", p.cmd("rc_peer tester text\r\n"));
      ASSERT_EQ("STORED\r\n",
                p.cmd("rc_set " + k + " 0 0 2 " + std::to_string(v + delta) + "\r\n20\r\n"));
    }
    rc_test::sleep_ms(5);  // our next version is above v + 1 on the wall clock
    EXPECT_EQ("SERVER_ERROR replicas unavailable\r\n", c.cmd("incr " + k + " 1\r\n"));
    std::string want = "VALUE " + k + " 0 2\r\n20\r\nEND\r\n";
    EXPECT_TRUE(rc_ct::wait_for(
        [&] { return LocalGet(node(0)->port(), k) == want && LocalGet(node(1)->port(), k) == want; },
        5000))
        << LocalGet(node(0)->port(), k) << LocalGet(node(1)->port(), k);
    EXPECT_EQ("21\r\n", c.cmd("incr " + k + " 1\r\n"));
    want = "VALUE " + k + " 0 2\r\n21\r\nEND\r\n";
    EXPECT_EQ(want, LocalGet(node(0)->port(), k));
    EXPECT_EQ(want, LocalGet(node(1)->port(), k));
    round++;
    EXPECT_GE(Stat(node(1)->port(), "replica_conflicts") - conflicts0, round);
    EXPECT_GE(Stat(node(0)->port(), "replica_adopted") - adopted0, round);
  }
}

}  // namespace
