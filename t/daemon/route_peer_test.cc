// The peer channel's guards with real processes. With --cluster-key-file
// nodes admit each other's links only after a challenge-response, and then
// forward even under -Y while clients still have to authenticate; a link
// that does not answer the challenge with the key is refused and closed,
// and an answer is good for its own nonce only. With -Y and no key the hop
// is refused rather than becoming a way around -Y. A "peer" that answers
// with garbage is disconnected, and its clients get clean errors on
// connections that keep working.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "bin_util.h"
#include "cluster_util.h"
#include "daemon_util.h"
#include "harness.h"

namespace {

using rc_test::Client;
using rc_test::Daemon;

const char kKey[] = "4b1c0a9e2f3d5c7b8a6e4d2c0b9a8f7e6d5c4b3a2f1e0d9c8b7a6f5e4d3c2b1a";


std::string WriteFile(const std::string& text) {
  char path[] = "/tmp/rc_route_peer_XXXXXX";
  int fd = mkstemp(path);
  if (fd < 0) return "";
  if (write(fd, text.data(), text.size()) != (ssize_t)text.size()) {
    close(fd);
    return "";
  }
  close(fd);
  return path;
}

// Two nodes, n1 joining n0, with the same extra options; waits until each
// has the other on its ring. auth: the -Y credentials to send first.
struct Pair {
  std::unique_ptr<Daemon> n0, n1;
  Pair(std::vector<std::string> common, const std::string& auth,
       std::vector<std::string> n1_extra = {}) {
    int g0 = rc_test::find_free_port(), g1 = rc_test::find_free_port();
    common.insert(common.end(), rc_ct::fast_timings().begin(), rc_ct::fast_timings().end());
    std::vector<std::string> a0 = {"--node-name", "p0", "--gossip-port", std::to_string(g0)};
    std::vector<std::string> a1 = {"--node-name", "p1", "--gossip-port", std::to_string(g1),
                                   "--join", "127.0.0.1:" + std::to_string(g0)};
    a0.insert(a0.end(), common.begin(), common.end());
    a1.insert(a1.end(), common.begin(), common.end());
    a1.insert(a1.end(), n1_extra.begin(), n1_extra.end());
    n0 = rc_dt::start_daemon(a0);
    n1 = rc_dt::start_daemon(a1);
    if (n0 == nullptr || n1 == nullptr) return;
    // Both rings hold both nodes (each routes by its own).
    rc_ct::wait_for([&] {
      for (Daemon* d : {n0.get(), n1.get()}) {
        Client c(d->port());
        if (!auth.empty()) c.cmd(auth);
        std::string r = c.cmd("cluster ring\r\n", "END\r\n");
        if (r.find("RING ") == std::string::npos ||
            r.find("RING ", r.find("RING ") + 1) == std::string::npos)
          return false;
      }
      return true;
    }, 10000);
  }
};

// The MAC a peer answers the challenge with (cluster/peer_auth.h),
// computed here with OpenSSL from the key file's hex.
std::string Mac(const std::string& key_hex, const std::string& nonce, const std::string& proto) {
  unsigned char key[32], out[32];
  for (int i = 0; i < 32; i++) key[i] = (unsigned char)std::stoi(key_hex.substr(2 * i, 2), nullptr, 16);
  std::string msg = "ringcached-peer-v1 " + nonce + " " + proto;
  unsigned int len = 0;
  HMAC(EVP_sha256(), key, 32, (const unsigned char*)msg.data(), msg.size(), out, &len);
  std::string hex;
  char b[3];
  for (unsigned i = 0; i < len; i++) {
    snprintf(b, sizeof(b), "%02x", out[i]);
    hex += b;
  }
  return hex;
}

// "CHALLENGE <nonce>\r\n" -> nonce ("" if it is not one).
std::string Nonce(const std::string& line) {
  if (line.rfind("CHALLENGE ", 0) != 0 || line.size() != 10 + 32 + 2) return "";
  return line.substr(10, 32);
}

TEST(RoutePeer, WithAClusterKeyNodesForwardUnderAsciiAuthAndClientsStillAuthenticate) {
  std::string keys = WriteFile(std::string(kKey) + "\n"), users = WriteFile("user:pass\n");
  ASSERT_FALSE(keys.empty());
  ASSERT_FALSE(users.empty());
  const std::string login = "set u 0 0 9\r\nuser pass\r\n";
  Pair p({"--cluster-key-file", keys, "-Y", users}, login);
  ASSERT_NE(p.n0, nullptr);
  ASSERT_NE(p.n1, nullptr);
  // A client that has not authenticated gets nothing, on either node.
  Client anon(p.n1->port());
  EXPECT_EQ(anon.cmd("get au:1\r\n"), "CLIENT_ERROR unauthenticated\r\n");
  Client c(p.n0->port());
  ASSERT_EQ(c.cmd(login), "STORED\r\n");
  for (int i = 0; i < 40; i++) {
    std::string k = "au:" + std::to_string(i);
    ASSERT_EQ(c.cmd("set " + k + " 0 0 2\r\n" + std::to_string(i % 100).substr(0, 1) + "x\r\n"),
              "STORED\r\n") << k;
  }
  EXPECT_GT(rc_dt::stat_num(rc_dt::stats(c, "cluster"), "forwarded"), 0);
  Client o(p.n1->port());
  ASSERT_EQ(o.cmd(login), "STORED\r\n");
  EXPECT_GT(rc_dt::stat_num(rc_dt::stats(o), "curr_items"), 0);
  for (int i = 0; i < 40; i++) {
    std::string k = "au:" + std::to_string(i);
    EXPECT_EQ(o.cmd("get " + k + "\r\n", "END\r\n"),
              "VALUE " + k + " 0 2\r\n" + std::to_string(i % 100).substr(0, 1) + "x\r\nEND\r\n");
  }
  EXPECT_EQ(rc_dt::stat_num(rc_dt::stats(o, "cluster"), "peer_auth_refused"), 0);
  unlink(keys.c_str());
  unlink(users.c_str());
}

TEST(RoutePeer, APeerLinkMustAnswerItsOwnChallengeWithTheKey) {
  std::string keys = WriteFile(std::string(kKey) + "\n");
  ASSERT_FALSE(keys.empty());
  Pair p({"--cluster-key-file", keys}, "");
  ASSERT_NE(p.n0, nullptr);
  int port = p.n0->port();
  {  // Anything but rc_auth after the challenge: refused, closed.
    Client c(port);
    ASSERT_FALSE(Nonce(c.cmd("rc_peer t text\r\n")).empty());
    EXPECT_EQ(c.cmd("get x\r\n"), "CLIENT_ERROR authentication required\r\n");
    EXPECT_TRUE(c.peer_closed());
  }
  {  // A wrong MAC.
    Client c(port);
    ASSERT_FALSE(Nonce(c.cmd("rc_peer t text\r\n")).empty());
    EXPECT_EQ(c.cmd("rc_auth " + std::string(64, '0') + "\r\n"),
              "CLIENT_ERROR authentication failure\r\n");
    EXPECT_TRUE(c.peer_closed());
  }
  {  // rc_auth without a challenge.
    Client c(port);
    EXPECT_EQ(c.cmd("rc_auth " + std::string(64, '0') + "\r\n"),
              "CLIENT_ERROR authentication required\r\n");
    EXPECT_TRUE(c.peer_closed());
  }
  std::string used;
  {  // The right MAC for this nonce: a peer link, served here.
    Client c(port);
    std::string nonce = Nonce(c.cmd("rc_peer t text\r\n"));
    ASSERT_FALSE(nonce.empty());
    used = Mac(kKey, nonce, "text");
    ASSERT_EQ(c.cmd("rc_auth " + used + "\r\n"), "OK\r\n");
    long long before = rc_dt::stat_num(rc_dt::stats(c, "cluster"), "not_mine");
    int local = 0;
    for (int i = 0; i < 20; i++) {
      std::string k = "pk:" + std::to_string(i);
      EXPECT_EQ(c.cmd("set " + k + " 0 0 1\r\nz\r\n"), "STORED\r\n");
      local++;
    }
    EXPECT_GT(rc_dt::stat_num(rc_dt::stats(c, "cluster"), "not_mine"), before);
    EXPECT_EQ(rc_dt::stat_num(rc_dt::stats(c), "curr_items"), local);
  }
  {  // The same answer is worth nothing against a new nonce.
    Client c(port);
    ASSERT_FALSE(Nonce(c.cmd("rc_peer t text\r\n")).empty());
    EXPECT_EQ(c.cmd("rc_auth " + used + "\r\n"), "CLIENT_ERROR authentication failure\r\n");
  }
  {  // A binary link: after OK, the binary protocol.
    Client c(port);
    std::string nonce = Nonce(c.cmd("rc_peer t binary\r\n"));
    ASSERT_FALSE(nonce.empty());
    ASSERT_EQ(c.cmd("rc_auth " + Mac(kKey, nonce, "binary") + "\r\n"), "OK\r\n");
    c.send(rc_bin::encode(rc_bin::Req(rc_bin::OP_NOOP, "", "", "", 0, 77)));
    std::string r = c.recv_n(24);
    std::vector<rc_bin::Resp> out;
    rc_bin::decode(r, &out);
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].op, rc_bin::OP_NOOP);
    EXPECT_EQ(out[0].opaque, 77u);
  }
  Client s(port);
  EXPECT_EQ(rc_dt::stat_num(rc_dt::stats(s, "cluster"), "peer_auth_refused"), 4);
  unlink(keys.c_str());
}

TEST(RoutePeer, WithAuthFileAndNoClusterKeyTheHopIsRefusedNotABypass) {
  std::string users = WriteFile("user:pass\n");
  ASSERT_FALSE(users.empty());
  const std::string login = "set u 0 0 9\r\nuser pass\r\n";
  Pair p({"-Y", users}, login);
  ASSERT_NE(p.n0, nullptr);
  ASSERT_NE(p.n1, nullptr);
  Client c(p.n0->port());
  ASSERT_EQ(c.cmd(login), "STORED\r\n");
  int remote = 0;
  for (int i = 0; i < 40; i++) {
    std::string k = "au:" + std::to_string(i);
    std::string r = c.cmd("set " + k + " 0 0 1\r\nx\r\n");
    if (r == "SERVER_ERROR peer unavailable\r\n") {
      remote++;
    } else {
      EXPECT_EQ(r, "STORED\r\n") << k;
    }
  }
  EXPECT_GT(remote, 0);
  // Nothing reached the owner without authenticating.
  Client o(p.n1->port());
  ASSERT_EQ(o.cmd(login), "STORED\r\n");
  EXPECT_EQ(rc_dt::stat_num(rc_dt::stats(o), "curr_items"), 0);
  EXPECT_GT(rc_dt::stat_num(rc_dt::stats(o, "cluster"), "peer_auth_refused"), 0);
  unlink(users.c_str());
}

// A stand-in for a node's client port that admits rc_peer and then
// answers every request with `garbage`; counts the links closed on it.
class GarbagePeer {
 public:
  explicit GarbagePeer(std::string garbage) : garbage_(std::move(garbage)) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(a);
    int one = 1;
    setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd_, (sockaddr*)&a, sizeof(a)) != 0 || listen(fd_, 16) != 0 ||
        getsockname(fd_, (sockaddr*)&a, &len) != 0) {
      ADD_FAILURE() << "cannot listen";
      return;
    }
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { run(); });
  }
  ~GarbagePeer() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    close(fd_);
  }
  int port() const { return port_; }
  int closed() const { return closed_; }

 private:
  void run() {
    std::vector<pollfd> fds = {{fd_, POLLIN, 0}};
    std::vector<std::string> seen = {""};
    while (!stop_) {
      if (poll(fds.data(), fds.size(), 50) <= 0) continue;
      for (size_t i = 0; i < fds.size(); i++) {
        if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
        if (i == 0) {
          int c = accept(fd_, nullptr, nullptr);
          if (c >= 0) {
            fds.push_back({c, POLLIN, 0});
            seen.push_back("");
          }
          continue;
        }
        char buf[4096];
        ssize_t n = read(fds[i].fd, buf, sizeof(buf));
        if (n <= 0) {
          close(fds[i].fd);
          fds[i].fd = -fds[i].fd - 1;  // poll ignores it from now on
          closed_++;
          continue;
        }
        std::string& s = seen[i];
        bool admitted = s.find("\r\n") != std::string::npos;
        s.append(buf, (size_t)n);
        std::string reply;
        if (!admitted && s.find("\r\n") != std::string::npos) reply = "OK\r\n";
        if (s.size() > s.find("\r\n") + 2) reply += garbage_;
        if (!reply.empty() && write(fds[i].fd, reply.data(), reply.size()) < 0) continue;
      }
    }
    for (size_t i = 1; i < fds.size(); i++)
      if (fds[i].fd >= 0) close(fds[i].fd);
  }

  std::string garbage_;
  int fd_ = -1, port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> closed_{0};
  std::thread thread_;
};

TEST(RoutePeer, APeerThatSendsGarbageIsDroppedAndItsClientsGetCleanErrors) {
  // Text garbage for text and meta links; a binary packet with the wrong
  // magic for binary links comes from the same bytes.
  GarbagePeer fake("HELLO THERE\r\n");
  ASSERT_GT(fake.port(), 0);
  std::string fake_addr = "127.0.0.1:" + std::to_string(fake.port());
  // n1 is a real member, but tells clients (and peers) to use the fake.
  Pair p({"--peer-timeout", "2000"}, "", {"--advertise", fake_addr});
  ASSERT_NE(p.n0, nullptr);
  ASSERT_NE(p.n1, nullptr);
  Client c(p.n0->port());
  std::vector<std::string> theirs;
  for (int i = 0; i < 400 && theirs.size() < 5; i++) {
    std::string k = "gp:" + std::to_string(i);
    std::string r = c.cmd("cluster owner " + k + "\r\n", "END\r\n");
    if (r.find(fake_addr) != std::string::npos) theirs.push_back(k);
  }
  ASSERT_EQ(theirs.size(), 5u);
  long long t0 = rc_test::now_ms();
  for (const std::string& k : theirs) {
    EXPECT_EQ(c.cmd("set " + k + " 0 0 1\r\nx\r\n"), "SERVER_ERROR peer unavailable\r\n");
    EXPECT_EQ(c.cmd("get " + k + "\r\n", "END\r\n"), "END\r\n");
    EXPECT_EQ(c.cmd("mg " + k + " v O5\r\n"), "EN O5\r\n");
    EXPECT_EQ(c.cmd("ma " + k + "\r\n"), "SERVER_ERROR peer unavailable\r\n");
  }
  // No waiting for a timeout: garbage fails at once.
  EXPECT_LT(rc_test::now_ms() - t0, 2000);
  {
    Client b(p.n0->port());
    b.send(rc_bin::encode(rc_bin::Req(rc_bin::OP_GET, theirs[0], "", "", 0, 5)) +
           rc_bin::encode(rc_bin::Req(rc_bin::OP_SET, theirs[0], rc_bin::SetExtras(0, 0), "v",
                                      0, 6)));
    std::vector<rc_bin::Resp> out;
    std::string got;
    long long end = rc_test::now_ms() + 3000;
    while (out.size() < 2 && rc_test::now_ms() < end) {
      got += b.recv_idle(50, 500);
      out.clear();
      rc_bin::decode(got, &out);
    }
    ASSERT_EQ(out.size(), 2u);
    EXPECT_EQ(out[0].status, rc_bin::ST_KEY_ENOENT);
    EXPECT_EQ(out[0].opaque, 5u);
    EXPECT_EQ(out[1].status, 0x86);  // Temporary failure
    EXPECT_EQ(out[1].val, "Temporary failure");
  }
  // The client's connection is fine, and so are keys this node owns.
  EXPECT_EQ(c.cmd("version\r\n").rfind("VERSION ", 0), 0u);
  auto st = rc_dt::stats(c, "cluster");
  EXPECT_GE(rc_dt::stat_num(st, "peer_errors"), 20);
  EXPECT_GE(rc_dt::stat_num(st, "peer:" + fake_addr + ":errors"), 20);
  EXPECT_EQ(rc_dt::stat_num(st, "peer:" + fake_addr + ":in_flight"), 0);
  // Every link that sent garbage was closed by the node.
  EXPECT_TRUE(rc_ct::wait_for([&] { return fake.closed() >= 20; }, 3000)) << fake.closed();
}

}  // namespace
