// UDP (-U): memcached's 8-byte frame header, text and binary requests,
// responses split into datagrams.  Differential against memcached where
// its behaviour is deterministic, plus direct checks.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "bin_util.h"
#include "daemon_util.h"
#include "harness.h"
#include "udp_util.h"

namespace {

using rc_udp::Datagram;
using rc_udp::FreeUdpPort;
using rc_udp::Show;
using rc_udp::UdpClient;

struct Pair {
  std::unique_ptr<rc_test::Daemon> mc, rc;
  int mc_udp = 0, rc_udp = 0;
};

Pair StartBoth(std::vector<std::string> extra = {}) {
  Pair p;
  p.mc_udp = FreeUdpPort();
  std::vector<std::string> a = extra;
  a.push_back("-U");
  a.push_back(std::to_string(p.mc_udp));
  p.mc = rc_dt::start_memcached(a);
  p.rc_udp = FreeUdpPort();
  a = extra;
  a.push_back("-U");
  a.push_back(std::to_string(p.rc_udp));
  p.rc = rc_dt::start_daemon(a);
  return p;
}

TEST(Udp, SameDatagramsAsMemcached) {
  Pair p = StartBoth();
  ASSERT_NE(p.mc, nullptr);
  ASSERT_NE(p.rc, nullptr);
  UdpClient m(p.mc_udp), r(p.rc_udp);
  const std::string big(5000, 'x');
  const std::vector<std::string> requests = {
      "set a 0 0 5\r\nhello\r\nget a\r\n",
      "get a b a\r\n",
      // Misses in a multi-get: the first key's empty response is a
      // header announcing zero datagrams, later ones send nothing.
      "get nope a\r\n",
      "get a nope\r\n",
      "get nope1 nope2 nope3\r\n",
      "get a nope1 nope2 a nope3\r\n",
      "get a\r\ngets nope a\r\n",
      "get nope\r\nversion\r\n",
      "set big 7 0 5000\r\n" + big + "\r\nget big\r\n",
      "get big big\r\n",
      "get a big\r\n",
      "gets a\r\nincr x 1\r\ndelete a noreply\r\ntouch q 1\r\n",
      "set n 0 0 1 noreply\r\n1\r\n",
      "bogus\r\n",
      "get " + std::string(300, 'k') + "\r\n",
      // A bad key after good gets: the earlier responses are sent (and
      // nothing stale from the dropped batch).
      "get a\r\nget a\r\nget " + std::string(300, 'k') + "\r\n",
      "",
      std::string("\x80\x0a\0\0\0\0\0\0\0\0\0\0\0\0\0\x01\0\0\0\0\0\0\0\0", 24),
  };
  for (const auto& req : requests) {
    SCOPED_TRACE(rc_test::escape_bytes(req.substr(0, 60)));
    EXPECT_EQ(Show(m.Ask(req)), Show(r.Ask(req)));
  }
  // A value cut off by the end of its datagram is dropped.  memcached
  // instead takes the next datagram its thread reads, from any client, as
  // the rest of the value; we do not carry state between senders.
  EXPECT_EQ("", Show(r.Ask("set cut 0 0 5\r\nhel")));
  EXPECT_EQ("[4660 0/1 0] END\\r\\n\n", Show(r.Ask("get cut\r\n")));
  // Frames memcached drops: not exactly one datagram in the request.
  for (uint16_t total : {0, 2, 257}) {
    EXPECT_EQ("", Show(r.Ask("get a\r\n", 7, 0, total)));
    EXPECT_EQ("", Show(m.Ask("get a\r\n", 7, 0, total)));
  }
  // The sequence and reserved fields of a request are not checked.
  EXPECT_EQ(Show(m.Ask("get a\r\n", 9, 300, 1, 5)), Show(r.Ask("get a\r\n", 9, 300, 1, 5)));
  // Last, because it leaves memcached's UDP reader of that thread in a
  // state where later datagrams are served only in part: quit answers a
  // header announcing zero datagrams and ends the datagram.
  EXPECT_EQ(Show(m.Ask("quit\r\nget big\r\n")), Show(r.Ask("quit\r\nget big\r\n")));
  EXPECT_EQ("[4660 0/1 0] VERSION <v>\\r\\n\n", Show(r.Ask("version\r\n")))
      << "ringcached keeps serving after quit";
}

TEST(Udp, LargeResponsesReassemble) {
  int port = FreeUdpPort();
  auto rc = rc_dt::start_daemon({"-U", std::to_string(port)});
  ASSERT_NE(rc, nullptr);
  rc_test::Client tcp(rc->port());
  std::string v = rc_dt::random_bytes(60000, 3);
  ASSERT_EQ("STORED\r\n", tcp.cmd("set v 0 0 60000\r\n" + v + "\r\n"));
  UdpClient u(port);
  auto ds = u.Ask("get v\r\n", 4242);
  ASSERT_FALSE(ds.empty());
  std::string whole;
  for (size_t i = 0; i < ds.size(); i++) {
    EXPECT_EQ(4242, ds[i].id);
    EXPECT_EQ(i, ds[i].seq);
    EXPECT_EQ(ds.size(), ds[i].total);
    EXPECT_LE(ds[i].payload.size() + 8, 1400u);
    whole += ds[i].payload;
  }
  EXPECT_TRUE(whole == "VALUE v 0 60000\r\n" + v + "\r\nEND\r\n");
}

TEST(Udp, BinaryRequestsOverUdp) {
  int port = FreeUdpPort();
  auto rc = rc_dt::start_daemon({"-U", std::to_string(port)});
  ASSERT_NE(rc, nullptr);
  UdpClient u(port);
  using namespace rc_bin;
  auto ds = u.Ask(encode(Req{OP_SET, "bk", SetExtras(3, 0), "bv"}) + encode(Req{OP_GETK, "bk"}));
  ASSERT_EQ(2u, ds.size());
  std::vector<Resp> rs;
  ASSERT_EQ(ds[1].payload.size(), decode(ds[1].payload, &rs));
  ASSERT_EQ(1u, rs.size());
  EXPECT_EQ("bv", rs[0].val);
  EXPECT_EQ("bk", rs[0].key);
}

TEST(Udp, OffByDefaultAndOnlyWhereAsked) {
  // Without -U the daemon owns no UDP socket at all.
  auto plain = rc_dt::start_daemon();
  ASSERT_NE(plain, nullptr);
  std::string fds;
  auto udp_sockets = [](pid_t pid) {
    // Socket inodes of the process that appear in /proc/net/udp{,6}.
    std::string inodes;
    std::string dir = "/proc/" + std::to_string(pid) + "/fd";
    std::string out = rc_dt::run_program({"/bin/ls", "-l", dir}).out;
    std::string table = rc_test::read_file("/proc/net/udp") + rc_test::read_file("/proc/net/udp6");
    int n = 0;
    size_t at = 0;
    while ((at = out.find("socket:[", at)) != std::string::npos) {
      size_t end = out.find(']', at);
      std::string ino = out.substr(at + 8, end - at - 8);
      if (table.find(" " + ino + " ") != std::string::npos) n++;
      at = end;
    }
    return n;
  };
  EXPECT_EQ(0, udp_sockets(plain->pid()));
  // With -U and -l 127.0.0.1 (the harness's), bound to loopback only.
  int port = FreeUdpPort();
  auto rc = rc_dt::start_daemon({"-U", std::to_string(port)});
  ASSERT_NE(rc, nullptr);
  EXPECT_GE(udp_sockets(rc->pid()), 1);
  char hexport[8];
  snprintf(hexport, sizeof(hexport), "%04X", port);
  std::string table = rc_test::read_file("/proc/net/udp");
  EXPECT_NE(std::string::npos, table.find("0100007F:" + std::string(hexport)));
  EXPECT_EQ(std::string::npos, table.find("00000000:" + std::string(hexport)));
}

TEST(Udp, AuthenticationAndUdpAreExclusive) {
  std::string rcbin = rc_test::ringcached_path();
  auto r = rc_dt::run_program({rcbin, "-p", "0", "-U", "11999", "-S", "-u", "root"});
  EXPECT_EQ(64, r.exit_code()) << r.describe();
  EXPECT_NE(std::string::npos,
            r.err.find("ERROR: Cannot enable UDP while using binary SASL authentication."));
  r = rc_dt::run_program({rcbin, "-p", "0", "-U", "11999", "-Y", "/etc/hostname", "-u", "root"});
  EXPECT_EQ(64, r.exit_code()) << r.describe();
  EXPECT_NE(std::string::npos, r.err.find("Cannot use UDP with ascii authentication enabled"));
}

// Nothing of one datagram's request carries over to the next one, which
// may come from anyone: a cut-off `ms` must not answer the next `set`.
TEST(Udp, NoStateCarriesOverBetweenDatagrams) {
  int port = FreeUdpPort();
  auto rc = rc_dt::start_daemon({"-U", std::to_string(port), "-t", "1"});
  ASSERT_NE(rc, nullptr);
  UdpClient a(port), b(port);
  EXPECT_EQ("", Show(a.Ask("ms foo 3 T0 Oabc k\r\nab")));
  EXPECT_EQ("[4660 0/1 0] STORED\\r\\n\n", Show(b.Ask("set bar 0 0 1\r\nx\r\n")));
  // Many pipelined hits, then a bad key: every reply intact.
  std::string req;
  for (int i = 0; i < 300; i++) req += "get bar\r\n";
  req += "get " + std::string(300, 'k') + "\r\n";
  auto ds = b.Ask(req);
  ASSERT_EQ(301u, ds.size());
  for (int i = 0; i < 300; i++) EXPECT_EQ("VALUE bar 0 1\r\nx\r\nEND\r\n", ds[i].payload) << i;
  EXPECT_EQ("CLIENT_ERROR bad command line format\r\n", ds[300].payload);
}

// Many clients at once: every request answered, each to its sender.
TEST(Udp, ConcurrentClientsGetTheirOwnAnswers) {
  int port = FreeUdpPort();
  auto rc = rc_dt::start_daemon({"-U", std::to_string(port), "-t", "4"});
  ASSERT_NE(rc, nullptr);
  rc_test::Client tcp(rc->port());
  for (int i = 0; i < 8; i++) {
    std::string v = "value-" + std::to_string(i);
    ASSERT_EQ("STORED\r\n", tcp.cmd("set k" + std::to_string(i) + " 0 0 " +
                                    std::to_string(v.size()) + "\r\n" + v + "\r\n"));
  }
  std::vector<std::thread> ts;
  std::atomic<int> good{0};
  for (int t = 0; t < 8; t++) {
    ts.emplace_back([&, t] {
      UdpClient u(port);
      for (int j = 0; j < 50; j++) {
        auto ds = u.Ask("get k" + std::to_string(t) + "\r\n", (uint16_t)(t * 1000 + j), 0, 1, 0,
                        5, 2000);
        std::string want = "VALUE k" + std::to_string(t) + " 0 " +
                           std::to_string(7) + "\r\nvalue-" + std::to_string(t) + "\r\nEND\r\n";
        if (ds.size() == 1 && ds[0].id == t * 1000 + j && ds[0].payload == want) good++;
      }
    });
  }
  for (auto& t : ts) t.join();
  // Loopback UDP does not drop at this rate; every answer must be right.
  EXPECT_EQ(400, good.load());
}

}  // namespace
