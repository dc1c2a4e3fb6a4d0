// Membership with real processes: five daemons on 127.0.0.1 with short
// gossip timings form one cluster through one seed; kill -9, SIGSTOP,
// SIGTERM and a restart do what the issue says; nodes with another key or
// another cluster name stay out and change nobody's view.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "cluster/gossip_crypto.h"
#include "cluster/gossip_wire.h"
#include "cluster_util.h"
#include "daemon_util.h"
#include "harness.h"

namespace {

using rc_test::Client;
using rc_test::Daemon;

const std::vector<std::string>& kTimings = rc_ct::fast_timings();
constexpr int kDeadBoundMs = 8000;  // 2.4 s suspicion + probing + slack

struct Member {
  std::string state;
  unsigned incarnation = 0;
};

// name -> state as `cluster members` on port shows it.
std::map<std::string, Member> View(int port) {
  std::map<std::string, Member> v;
  Client c(port);
  if (!c.ok()) return v;
  std::string out = c.cmd("cluster members\r\n", "END\r\n");
  size_t at = 0;
  while ((at = out.find("MEMBER ", at)) != std::string::npos) {
    size_t eol = out.find("\r\n", at);
    char name[128], addr[128], state[16];
    unsigned inc = 0;
    if (sscanf(out.substr(at, eol - at).c_str(), "MEMBER %127s %127s %15s %u", name, addr, state,
               &inc) == 4)
      v[name] = Member{state, inc};
    at = eol;
  }
  return v;
}

struct Node {
  std::string name;
  int gossip_port = 0;
  std::unique_ptr<Daemon> d;
};

std::unique_ptr<Daemon> StartNode(const std::string& name, int gossip_port,
                                  const std::vector<std::string>& extra) {
  std::vector<std::string> args = {"--node-name", name, "--gossip-port",
                                   std::to_string(gossip_port)};
  args.insert(args.end(), kTimings.begin(), kTimings.end());
  args.insert(args.end(), extra.begin(), extra.end());
  return rc_dt::start_daemon(args);
}

class ClusterTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    nodes_ = new std::vector<Node>(5);
    for (int i = 0; i < 5; i++) {
      Node& n = (*nodes_)[i];
      n.name = "node" + std::to_string(i);
      n.gossip_port = rc_test::find_free_port();
      std::vector<std::string> join;
      if (i > 0) join = {"--join", "127.0.0.1:" + std::to_string((*nodes_)[0].gossip_port)};
      n.d = StartNode(n.name, n.gossip_port, join);
    }
  }
  static void TearDownTestSuite() {
    delete nodes_;
    nodes_ = nullptr;
  }
  void SetUp() override {
    for (const Node& n : *nodes_) ASSERT_NE(n.d, nullptr) << n.name << " did not start";
  }

  static Node& node(int i) { return (*nodes_)[i]; }

  // Whether every running node but `except` sees name in state.
  static bool AllSee(const std::string& name, const std::string& state, int except = -1) {
    for (int i = 0; i < 5; i++) {
      if (i == except || !node(i).d || node(i).d->exited()) continue;
      auto v = View(node(i).d->port());
      auto it = v.find(name);
      if (it == v.end() || it->second.state != state) return false;
    }
    return true;
  }

  static std::vector<Node>* nodes_;
};
std::vector<Node>* ClusterTest::nodes_ = nullptr;

TEST_F(ClusterTest, FiveNodesFormOneClusterThroughOneSeed) {
  bool formed = rc_ct::wait_for(
      [] {
        for (int i = 0; i < 5; i++) {
          auto v = View(node(i).d->port());
          int alive = 0;
          for (auto& kv : v) alive += kv.second.state == "alive";
          if (alive != 5) return false;
        }
        return true;
      },
      10000);
  EXPECT_TRUE(formed);
  // Each node lists every other by name with its client address.
  auto v = View(node(3).d->port());
  for (int i = 0; i < 5; i++) EXPECT_EQ(1u, v.count(node(i).name)) << node(i).name;
  Client c(node(2).d->port());
  std::string st = c.cmd("stats cluster\r\n", "END\r\n");
  EXPECT_NE(std::string::npos, st.find("STAT members_alive 5\r\n")) << st;
}

TEST_F(ClusterTest, PausedShorterThanSuspicionIsNeverDead) {
  ASSERT_TRUE(rc_ct::wait_for([] { return AllSee("node1", "alive"); }, 10000));
  pid_t pid = node(1).d->pid();
  bool ever_dead = false;
  auto seen_dead = [] {
    for (int i = 0; i < 5; i++)
      if (i != 1 && View(node(i).d->port())["node1"].state == "dead") return true;
    return false;
  };
  ASSERT_EQ(0, rc_dt::kill_one(pid, SIGSTOP));
  long long until = rc_test::now_ms() + 300;  // under the 400 ms minimum
  while (rc_test::now_ms() < until) {
    ever_dead |= seen_dead();
    rc_test::sleep_ms(20);
  }
  ASSERT_EQ(0, rc_dt::kill_one(pid, SIGCONT));
  // It refutes any suspicion and is alive everywhere again.
  long long back_by = rc_test::now_ms() + 5000;
  bool back = false;
  while (!back && rc_test::now_ms() < back_by) {
    ever_dead |= seen_dead();
    back = AllSee("node1", "alive");
  }
  EXPECT_FALSE(ever_dead);
  EXPECT_TRUE(back);
}

TEST_F(ClusterTest, KillNineIsDeadEverywhereWithinTheBound) {
  ASSERT_TRUE(rc_ct::wait_for([] { return AllSee("node4", "alive"); }, 10000));
  long long t0 = rc_test::now_ms();
  node(4).d->signal(SIGKILL);
  node(4).d->wait_exit(2000);
  bool dead = rc_ct::wait_for([] { return AllSee("node4", "dead", 4); }, kDeadBoundMs);
  long long took = rc_test::now_ms() - t0;
  EXPECT_TRUE(dead) << "not dead everywhere after " << took << " ms";
  printf("kill -9: dead everywhere after %lld ms (bound %d ms)\n", took, kDeadBoundMs);
}

TEST_F(ClusterTest, RestartWithTheSameNameIsAliveWithAHigherIncarnation) {
  ASSERT_TRUE(rc_ct::wait_for([] { return AllSee("node4", "dead", 4); }, kDeadBoundMs));
  unsigned before = View(node(0).d->port())["node4"].incarnation;
  node(4).d = StartNode("node4", node(4).gossip_port,
                        {"--join", "127.0.0.1:" + std::to_string(node(0).gossip_port)});
  ASSERT_NE(node(4).d, nullptr);
  EXPECT_TRUE(rc_ct::wait_for([] { return AllSee("node4", "alive"); }, 10000));
  for (int i = 0; i < 4; i++)
    EXPECT_GT(View(node(i).d->port())["node4"].incarnation, before) << node(i).name;
}

TEST_F(ClusterTest, SigtermShowsLeft) {
  ASSERT_TRUE(rc_ct::wait_for([] { return AllSee("node2", "alive"); }, 10000));
  node(2).d->signal(SIGTERM);
  EXPECT_TRUE(WIFEXITED(node(2).d->wait_exit(5000)));
  EXPECT_TRUE(rc_ct::wait_for([] { return AllSee("node2", "left", 2); }, 3000));
  // And it never turns dead afterwards.
  rc_test::sleep_ms(1500);
  EXPECT_TRUE(AllSee("node2", "left", 2));
}

// ---- outsiders -----------------------------------------------------------

std::string WriteFile(const std::string& body) {
  char tmpl[] = "/tmp/rc_cluster_XXXXXX";
  int fd = mkstemp(tmpl);
  if (fd < 0) return "";
  if (write(fd, body.data(), body.size()) != (ssize_t)body.size()) return "";
  close(fd);
  return tmpl;
}

// A cluster of three with one setting; an outsider with another tries to
// join through every one of them. It must stay out of every view, and the
// insiders must stay exactly as they were.
void ExpectOutsiderStaysOut(const std::vector<std::string>& inside,
                            const std::vector<std::string>& outside) {
  std::vector<Node> ns(3);
  for (int i = 0; i < 3; i++) {
    ns[i].name = "in" + std::to_string(i);
    ns[i].gossip_port = rc_test::find_free_port();
    std::vector<std::string> args = inside;
    if (i > 0) {
      args.push_back("--join");
      args.push_back("127.0.0.1:" + std::to_string(ns[0].gossip_port));
    }
    ns[i].d = StartNode(ns[i].name, ns[i].gossip_port, args);
    ASSERT_NE(ns[i].d, nullptr);
  }
  auto all_alive = [&] {
    for (auto& n : ns) {
      auto v = View(n.d->port());
      if (v.size() != 3) return false;
      for (auto& kv : v)
        if (kv.second.state != "alive") return false;
    }
    return true;
  };
  ASSERT_TRUE(rc_ct::wait_for(all_alive, 10000));
  std::string seeds;
  for (auto& n : ns) seeds += (seeds.empty() ? "" : ",") + ("127.0.0.1:" + std::to_string(n.gossip_port));
  std::vector<std::string> args = outside;
  args.push_back("--join");
  args.push_back(seeds);
  auto intruder = StartNode("intruder", rc_test::find_free_port(), args);
  ASSERT_NE(intruder, nullptr);
  rc_test::sleep_ms(2500);  // several probe, gossip and push-pull rounds
  for (auto& n : ns) {
    auto v = View(n.d->port());
    EXPECT_EQ(0u, v.count("intruder")) << n.name;
    EXPECT_EQ(3u, v.size()) << n.name;
  }
  // (Within a few seconds: on a loaded machine a 100 ms probe can miss and
  // make a member suspect for a moment; it refutes.)
  EXPECT_TRUE(rc_ct::wait_for(all_alive, 5000));
  auto mine = View(intruder->port());
  EXPECT_EQ(1u, mine.size()) << "the intruder sees only itself";
  // The insiders counted what they dropped.
  Client c(ns[0].d->port());
  std::string st = c.cmd("stats cluster\r\n", "END\r\n");
  bool counted = st.find("STAT auth_failures 0\r\n") == std::string::npos ||
                 st.find("STAT wrong_cluster 0\r\n") == std::string::npos;
  EXPECT_TRUE(counted) << st;
}

TEST(ClusterOutsiders, WrongKeyStaysOut) {
  std::string k1 = WriteFile(std::string(64, 'a') + "\n");
  std::string k2 = WriteFile(std::string(64, 'b') + "\n");
  ExpectOutsiderStaysOut({"--cluster-key-file", k1}, {"--cluster-key-file", k2});
  // Without any key, an outsider cannot talk to a keyed cluster either.
  ExpectOutsiderStaysOut({"--cluster-key-file", k1}, {});
  unlink(k1.c_str());
  unlink(k2.c_str());
}

TEST(ClusterOutsiders, OtherClusterNameStaysOut) {
  ExpectOutsiderStaysOut({"--cluster-name", "alpha"}, {"--cluster-name", "beta"});
  // The name binds keyed messages too: same key, other name.
  std::string k = WriteFile(std::string(64, 'c') + "\n");
  ExpectOutsiderStaysOut({"--cluster-name", "alpha", "--cluster-key-file", k},
                         {"--cluster-name", "beta", "--cluster-key-file", k});
  unlink(k.c_str());
}

// VmData (allocated address space, touched or not) in KiB.
long VmDataKb(pid_t pid) {
  std::string s = rc_test::read_file("/proc/" + std::to_string(pid) + "/status");
  size_t p = s.find("VmData:");
  return p == std::string::npos ? -1 : strtol(s.c_str() + p + 7, nullptr, 10);
}

// Junk on the gossip port: random datagrams, and many TCP streams that
// announce a large message, send a little and hold the connection. The
// node keeps its view and its memory, a real join still gets through, and
// clients are still served.
TEST(ClusterRobustness, GossipPortSurvivesJunk) {
  int g0 = rc_test::find_free_port(), g1 = rc_test::find_free_port();
  auto a = StartNode("a", g0, {});
  auto b = StartNode("b", g1, {"--join", "127.0.0.1:" + std::to_string(g0)});
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  auto two_alive = [&] {
    auto v = View(a->port());
    return v.size() == 2 && v["a"].state == "alive" && v["b"].state == "alive";
  };
  // Names go into text replies: one that would forge lines is refused.
  auto bad = StartNode("evil\r\nEND", rc_test::find_free_port(), {});
  EXPECT_EQ(nullptr, bad);
  ASSERT_TRUE(rc_ct::wait_for(two_alive, 10000));
  long data0 = VmDataKb(a->pid());
  int u = socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons((uint16_t)g0);
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  for (int i = 0; i < 2000; i++) {
    std::string junk = rc_dt::random_bytes(1 + i % 1400, (uint64_t)i);
    sendto(u, junk.data(), junk.size(), 0, (sockaddr*)&to, sizeof(to));
  }
  close(u);
  std::vector<int> fds;
  for (int i = 0; i < 100; i++) {
    int fd = rc_dt::connect_tcp("127.0.0.1", g0);
    if (fd < 0) continue;
    std::string msg = std::string("\x00\x80\x00\x00", 4) + rc_dt::random_bytes(1000, 99);
    if (write(fd, msg.data(), msg.size()) < 0) {
    }
    fds.push_back(fd);
  }
  rc_test::sleep_ms(1000);
  // Buffers follow the bytes received: 100 announcements of 8 MiB must not
  // reserve 800 MiB.
  long data1 = VmDataKb(a->pid());
  EXPECT_LT(data1 - data0, 64 * 1024) << "VmData grew from " << data0 << " to " << data1 << " KiB";
  // While the junk holds its connections, a new node joins through a.
  auto c3 = StartNode("c", rc_test::find_free_port(), {"--join", "127.0.0.1:" + std::to_string(g0)});
  ASSERT_NE(c3, nullptr);
  EXPECT_TRUE(rc_ct::wait_for([&] { return View(a->port())["c"].state == "alive"; }, 8000))
      << "a join was shut out by connections held open";
  for (int fd : fds) close(fd);
  EXPECT_TRUE(rc_ct::wait_for([&] {
    auto v = View(a->port());
    return v["a"].state == "alive" && v["b"].state == "alive" && v["c"].state == "alive";
  }, 5000));
  Client c(a->port());
  EXPECT_EQ("STORED\r\n", c.cmd("set k 0 0 1\r\nv\r\n"));
  std::string st = c.cmd("stats cluster\r\n", "END\r\n");
  EXPECT_EQ(std::string::npos, st.find("STAT decode_errors 0\r\n")) << st;
}

TEST(ClusterOptions, OffByDefaultAndClearErrors) {
  // Without cluster options there is no gossip socket and no cluster.
  auto d = rc_dt::start_daemon();
  ASSERT_NE(d, nullptr);
  Client c(d->port());
  EXPECT_EQ("SERVER_ERROR cluster not enabled\r\n", c.cmd("cluster members\r\n"));
  EXPECT_EQ("STAT cluster_enabled no\r\nEND\r\n", c.cmd("stats cluster\r\n", "END\r\n"));
  std::string rc = rc_test::ringcached_path();
  auto r = rc_dt::run_program({rc, "-p", "0", "-u", "root", "--gossip-port", "0"});
  EXPECT_EQ(64, r.exit_code()) << r.describe();
  std::string port = std::to_string(rc_test::find_free_port());
  std::string bad = WriteFile("not a key\n");
  r = rc_dt::run_program({rc, "-l", "127.0.0.1", "-p", port, "-u", "root", "--gossip-port",
                          std::to_string(rc_test::find_free_port()), "--cluster-key-file", bad});
  EXPECT_NE(0, r.exit_code()) << r.describe();
  EXPECT_NE(std::string::npos, r.err.find("64 hex digits")) << r.describe();
  unlink(bad.c_str());
  // Listening everywhere needs to be told what address to advertise.
  r = rc_dt::run_program({rc, "-p", port, "-u", "root", "--gossip-port",
                          std::to_string(rc_test::find_free_port())});
  EXPECT_NE(0, r.exit_code()) << r.describe();
  EXPECT_NE(std::string::npos, r.err.find("--advertise")) << r.describe();
}

// A push-pull of n fresh alive names (prefix-<i>), in a plain envelope
// of cluster `cluster`, framed for the gossip port (4-byte length).
std::string FloodMessage(const std::string& cluster, const std::string& prefix, size_t n) {
  std::vector<uint8_t> body(16 + n * 64), out(body.size() + 64);
  gossip_wbuf w;
  gossip_wbuf_init(&w, body.data(), body.size());
  gossip_wire_put_pp_header(&w, false, (uint32_t)n);
  for (size_t i = 0; i < n; i++) {
    gossip_wire_state s;
    memset(&s, 0, sizeof(s));
    snprintf(s.node, sizeof(s.node), "%s-%zu", prefix.c_str(), i);
    s.state = GOSSIP_ALIVE;
    s.incarnation = 1;
    s.gossip_addr.family = 4;
    s.gossip_addr.ip[0] = 127;
    s.gossip_addr.ip[1] = 9;  // nobody listens there
    s.gossip_addr.ip[2] = (uint8_t)(i >> 8);
    s.gossip_addr.ip[3] = (uint8_t)i;
    s.gossip_addr.port = 7946;
    s.client_addr = s.gossip_addr;
    s.weight = 1;
    gossip_wire_put_state(&w, &s);
  }
  size_t len = gossip_seal(nullptr, cluster.c_str(), body.data(), w.len, out.data(), out.size());
  std::string msg(4, '\0');
  msg[0] = (char)(len >> 24);
  msg[1] = (char)(len >> 16);
  msg[2] = (char)(len >> 8);
  msg[3] = (char)len;
  return msg + std::string((const char*)out.data(), len);
}

// Sends one framed stream message to the gossip port; returns the length
// of the framed reply (0: none, the connection closed without one).
size_t PushPull(int gossip_port, const std::string& msg) {
  int fd = rc_dt::connect_tcp("127.0.0.1", gossip_port);
  if (fd < 0) return 0;
  timeval tv = {20, 0};  // generous: only against a hang
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  size_t off = 0;
  while (off < msg.size()) {
    ssize_t n = write(fd, msg.data() + off, msg.size() - off);
    if (n <= 0) break;
    off += (size_t)n;
  }
  unsigned char hdr[4];
  size_t got = 0, want = 0;
  while (got < 4) {
    ssize_t n = read(fd, hdr + got, 4 - got);
    if (n <= 0) break;
    got += (size_t)n;
  }
  if (got == 4) {
    want = (size_t)hdr[0] << 24 | (size_t)hdr[1] << 16 | (size_t)hdr[2] << 8 | hdr[3];
    std::vector<char> buf(65536);
    size_t have = 0;
    while (have < want) {
      ssize_t n = read(fd, buf.data(), std::min(buf.size(), want - have));
      if (n <= 0) break;
      have += (size_t)n;
    }
    if (have < want) want = 0;
  }
  close(fd);
  return want;
}

// The flood of issue 12: four push-pulls of the most names one may carry
// (65,536 each, 2.3 MB), sent to the gossip port of a keyless node as
// anyone on its network could. The node answers every push-pull, its
// member table stops at --cluster-max-members and counts what it refused,
// its real peer stays alive on both sides, and it still serves clients.
// (Before the cap: 262,145 members, and no answer to any push-pull after
// the first, because the table no longer fit in one.)
TEST(ClusterRobustness, FloodOfFreshNamesIsCappedAndTheNodeKeepsAnswering) {
  int g0 = rc_test::find_free_port(), g1 = rc_test::find_free_port();
  std::vector<std::string> opts = {"--cluster-name", "flood", "--cluster-max-members", "100"};
  auto a = StartNode("a", g0, opts);
  std::vector<std::string> bopts = {"--cluster-name", "flood", "--join",
                                    "127.0.0.1:" + std::to_string(g0)};
  auto b = StartNode("b", g1, bopts);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  auto real_alive = [&] {
    return View(a->port())["b"].state == "alive" && View(b->port())["a"].state == "alive";
  };
  ASSERT_TRUE(rc_ct::wait_for(real_alive, 10000));
  for (int i = 0; i < 4; i++) {
    size_t reply = PushPull(g0, FloodMessage("flood", "flood" + std::to_string(i), 65536));
    EXPECT_GT(reply, 0u) << "push-pull " << i << " was not answered";
    // Alive, or back to alive within seconds: on a loaded machine one
    // 100 ms probe may miss while the node digests 2.3 MB, and the peer
    // refutes the suspicion (ExpectOutsiderStaysOut allows the same).
    EXPECT_TRUE(rc_ct::wait_for(real_alive, 5000)) << "after push-pull " << i;
  }
  Client c(a->port());
  std::map<std::string, std::string> st;
  // The counters in `stats cluster` are at most a second old.
  rc_ct::wait_for([&] {
    st = rc_dt::stats(c, "cluster");
    return rc_dt::stat_num(st, "members_refused") >= 4 * 65536 - 100;
  }, 5000);
  long long members = rc_dt::stat_num(st, "members_alive") + rc_dt::stat_num(st, "members_suspect") +
                      rc_dt::stat_num(st, "members_dead") + rc_dt::stat_num(st, "members_left");
  EXPECT_LE(members, 100);
  EXPECT_GE(rc_dt::stat_num(st, "members_refused"), 4 * 65536 - 100);
  EXPECT_LT(rc_dt::vmrss_kb(a->pid()), 128 * 1024) << "KiB";
  // The real peer is probed and stays alive for a while yet (probes go on
  // at 100 ms among the fake members, whose probes all fail).
  rc_test::sleep_ms(1000);
  EXPECT_TRUE(rc_ct::wait_for(real_alive, 5000));
  // It serves its own keys (fake members own others, and do not answer).
  std::string own;
  for (int i = 0; i < 20000 && own.empty(); i++) {
    std::string k = "k" + std::to_string(i);
    if (c.cmd("cluster owner " + k + "\r\n", "END\r\n").find(" self\r\n") != std::string::npos)
      own = k;
  }
  ASSERT_FALSE(own.empty());
  EXPECT_EQ("STORED\r\n", c.cmd("set " + own + " 0 0 1\r\nv\r\n"));
  // A real join still gets through: the two real members fit (b, a).
  EXPECT_EQ(View(b->port()).count("a"), 1u);
}

// The gossip port listens no wider than the client port: with -l's first
// address the IPv6 wildcard, the client port is IPv6-only (as memcached
// binds it) and so must the gossip port be; before, it was a dual-stack
// socket that also took IPv4 on every interface.
TEST(ClusterOptions, GossipPortListensNoWiderThanTheClientPort) {
  int g = rc_test::find_free_port();
  auto d = StartNode("v6", g, {"-l", "::,127.0.0.1", "--advertise", "127.0.0.1"});
  if (d == nullptr) GTEST_SKIP() << "no IPv6 wildcard here";
  int cfd = rc_dt::connect_tcp("127.0.0.2", d->port(), 500);
  bool client_v4_wide = cfd >= 0;
  if (cfd >= 0) close(cfd);
  int gfd = rc_dt::connect_tcp("127.0.0.2", g, 500);
  bool gossip_v4_wide = gfd >= 0;
  if (gfd >= 0) close(gfd);
  EXPECT_FALSE(client_v4_wide);
  EXPECT_FALSE(gossip_v4_wide) << "gossip port reachable on 127.0.0.2 over IPv4";
}

TEST(ClusterOptions, MaxMembersIsValidated) {
  std::string rc = rc_test::ringcached_path();
  for (const char* bad : {"0", "1", "65537", "many"}) {
    auto r = rc_dt::run_program({rc, "-l", "127.0.0.1", "-p", "0", "-u", "root", "--gossip-port",
                                 std::to_string(rc_test::find_free_port()),
                                 "--cluster-max-members", bad});
    EXPECT_EQ(64, r.exit_code()) << bad << ": " << r.describe();
    EXPECT_NE(std::string::npos, r.err.find("cluster")) << r.describe();
  }
}

}  // namespace
