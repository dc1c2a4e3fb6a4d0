// Authentication: SASL PLAIN on the binary protocol (-S) against a sasldb
// made by Debian's saslpasswd2, differential with memcached and through
// libmemcached; and memcached's ASCII token file (-Y).
#include <libmemcached/memcached.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "bin_session.h"
#include "daemon_util.h"
#include "harness.h"

namespace {

using namespace rc_bin;
using rc_test::Client;

// A SASL config directory with memcached.conf and a sasldb holding
// alice/secret, exported as SASL_CONF_PATH for the daemons we start.
class SaslTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    char tmpl[] = "/tmp/rc_sasl_XXXXXX";
    ASSERT_NE(nullptr, mkdtemp(tmpl));
    dir_ = tmpl;
    FILE* f = fopen((dir_ + "/memcached.conf").c_str(), "w");
    ASSERT_NE(nullptr, f);
    fprintf(f, "mech_list: plain\nsasldb_path: %s/sasldb2\n", dir_.c_str());
    fclose(f);
    std::string cmd = "printf secret | saslpasswd2 -p -a memcached -c -f " + dir_ +
                      "/sasldb2 alice";
    ASSERT_EQ(0, system(cmd.c_str())) << "saslpasswd2 (Debian sasl2-bin) is needed";
    setenv("SASL_CONF_PATH", dir_.c_str(), 1);
  }
  static void TearDownTestSuite() {
    unsetenv("SASL_CONF_PATH");
    std::string cmd = "rm -rf " + dir_;
    if (system(cmd.c_str()) != 0) {
    }
  }
  static std::string dir_;
};
std::string SaslTest::dir_;

std::string Plain(const std::string& user, const std::string& pass) {
  return std::string(1, '\0') + user + std::string(1, '\0') + pass;
}

// Until authenticated only VERSION and the SASL opcodes may run, so the
// steps are read by idle time rather than behind a NOOP barrier.
TEST_F(SaslTest, SameAnswersAsMemcached) {
  auto rs = Differential({"-S"}, [](Session& s) {
    s.exchange_raw(All({Req{OP_SASL_LIST_MECHS}, Req{OP_VERSION}}));
    s.exchange_raw(All({Req{OP_SASL_AUTH, "PLAIN", "", Plain("alice", "wrong")}}));
    s.exchange_raw(All({Req{OP_SASL_STEP, "PLAIN", "", Plain("alice", "secret")}}));
    s.exchange_raw(All({Req{OP_SASL_AUTH, "BOGUS", "", "x"}}));
    s.exchange(All({Req{OP_SASL_AUTH, "PLAIN", "", Plain("alice", "secret")},
                    Store(OP_SET, "k", "v"), Get(OP_GET, "k")}));
  });
  ASSERT_EQ(8u, rs.size());
  EXPECT_EQ("PLAIN", rs[0].val);
  EXPECT_EQ(ST_AUTH_ERROR, rs[2].status);
  EXPECT_EQ(ST_SUCCESS, rs[5].status);
  EXPECT_EQ("Authenticated", rs[5].val);
  EXPECT_EQ("v", rs[7].val);
}

TEST_F(SaslTest, UnauthenticatedCommandsAreRefusedAndClosed) {
  Differential({"-S"}, [](Session& s) {
    s.exchange_raw(All({Store(OP_SET, "k", "v"), Get(OP_GET, "k")}));
  });
  Differential({"-S"}, [](Session& s) {
    s.exchange_raw(All({Req{OP_SASL_AUTH, "PLAIN", "", Plain("alice", "nope")},
                        Get(OP_GET, "k")}));
  });
}

// -S implies -B binary: text is not a binary header, and once a header's
// worth of it has arrived the connection is closed.
TEST_F(SaslTest, TextProtocolIsNotOffered) {
  Differential({"-S"}, [](Session& s) { s.exchange_raw("get k\r\nget k\r\nget k\r\nget k\r\n"); });
  auto rc = rc_dt::start_daemon({"-S"});
  ASSERT_NE(rc, nullptr);
  Client c(rc->port());
  ASSERT_TRUE(c.send("get k\r\nget k\r\nget k\r\nget k\r\n"));
  EXPECT_TRUE(c.peer_closed(2000));
}

memcached_st* Connect(int port, const char* user, const char* pass) {
  memcached_st* mc = memcached_create(nullptr);
  memcached_server_add(mc, "127.0.0.1", (in_port_t)port);
  memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_BINARY_PROTOCOL, 1);
  memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_POLL_TIMEOUT, 3000);
  if (user != nullptr) memcached_set_sasl_auth_data(mc, user, pass);
  return mc;
}

TEST_F(SaslTest, LibmemcachedWithRightAndWrongPassword) {
  auto rc = rc_dt::start_daemon({"-S"});
  ASSERT_NE(rc, nullptr);
  memcached_st* good = Connect(rc->port(), "alice", "secret");
  EXPECT_EQ(MEMCACHED_SUCCESS, memcached_set(good, "lk", 2, "lv", 2, 0, 0))
      << memcached_last_error_message(good);
  size_t len = 0;
  uint32_t flags = 0;
  memcached_return_t rcode;
  char* v = memcached_get(good, "lk", 2, &len, &flags, &rcode);
  ASSERT_NE(nullptr, v) << memcached_last_error_message(good);
  EXPECT_EQ("lv", std::string(v, len));
  free(v);
  memcached_free(good);

  memcached_st* bad = Connect(rc->port(), "alice", "guess");
  EXPECT_NE(MEMCACHED_SUCCESS, memcached_set(bad, "lk", 2, "x", 1, 0, 0));
  memcached_free(bad);
  memcached_st* none = Connect(rc->port(), nullptr, nullptr);
  EXPECT_NE(MEMCACHED_SUCCESS, memcached_set(none, "lk", 2, "x", 1, 0, 0));
  memcached_free(none);

  // Neither changed the value.
  memcached_st* again = Connect(rc->port(), "alice", "secret");
  v = memcached_get(again, "lk", 2, &len, &flags, &rcode);
  ASSERT_NE(nullptr, v);
  EXPECT_EQ("lv", std::string(v, len));
  free(v);
  memcached_free(again);
}

// ---- -Y: ASCII authentication tokens ---------------------------------

class AsciiAuthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/rc_authfile_XXXXXX";
    int fd = mkstemp(tmpl);
    ASSERT_GE(fd, 0);
    path_ = tmpl;
    std::string body = "user:pass\nu2:p2\n";
    ASSERT_EQ((ssize_t)body.size(), write(fd, body.data(), body.size()));
    close(fd);
  }
  void TearDown() override { unlink(path_.c_str()); }
  std::string path_;
};

// Step by step, and batched: memcached answers only the last request of a
// batch sent while unauthenticated, and so must we.
TEST_F(AsciiAuthTest, SameAnswersAsMemcached) {
  auto mc = rc_dt::start_memcached({"-Y", path_});
  auto rc = rc_dt::start_daemon({"-Y", path_});
  ASSERT_NE(mc, nullptr);
  ASSERT_NE(rc, nullptr);
  const std::vector<std::vector<std::string>> conversations = {
      {"get a\r\n", "set x 0 0 9\r\nuser:pass\r\n", "set x 0 0 9\r\nuser pass\r\n",
       "get x\r\n", "set x 0 0 2\r\nok\r\n", "get x\r\n"},
      {"set x 0 0 9\r\nuser pasX\r\n", "set\r\n", "set x 0 0 a\r\n", "set x 0 0 3\r\nabcde\r\n",
       "\r\n", "set x 0 0 5\r\nu2 p2\r\n", "version\r\n"},
      {"set x 0 0 9\r\nuser pass\r\n", "set x 0 0 9\r\nuser pass\r\n"},
      {"set k 1 2 14\r\nuser pass more\r\n", "get k\r\n"},
      {"get a\r\nset x 0 0 9\r\nuser:pass\r\nset x 0 0 9\r\nuser pass\r\nget a\r\n"},
      {"set x 0 0 9\r\nuser pasX\r\nset\r\nset x 0 0 3\r\nabcde\r\n"},
  };
  for (const auto& conv : conversations) {
    Client a(mc->port()), b(rc->port());
    for (const auto& step : conv) {
      SCOPED_TRACE(rc_test::escape_bytes(step));
      ASSERT_TRUE(a.send(step));
      ASSERT_TRUE(b.send(step));
      std::string want = a.recv_idle(100, 2000);
      std::string got = b.recv_idle(100, 2000);
      if (step.rfind("version", 0) == 0) {
        EXPECT_EQ(0u, got.find("VERSION ")) << got;
        continue;
      }
      EXPECT_EQ(rc_test::escape_bytes(want), rc_test::escape_bytes(got));
    }
  }
  // Tokens up to 16,382 bytes are read and checked; a longer one is not
  // buffered at all: the connection closes, as memcached's does (before,
  // up to 4 MiB was buffered from an unauthenticated client).
  for (size_t n : {16382u, 16383u, 4000000u}) {
    SCOPED_TRACE("token of " + std::to_string(n) + " bytes");
    Client a(mc->port()), b(rc->port());
    std::string line = "set x 0 0 " + std::to_string(n) + "\r\n";
    std::string token = "user " + std::string(n - 5, 'p') + "\r\n";
    ASSERT_TRUE(a.send(line));
    ASSERT_TRUE(b.send(line));
    if (n <= 16382) {
      ASSERT_TRUE(a.send(token));
      ASSERT_TRUE(b.send(token));
      std::string want = a.recv_idle(100, 2000);
      EXPECT_EQ("CLIENT_ERROR authentication failure\r\n", want);
      EXPECT_EQ(want, b.recv_idle(100, 2000));
    } else {
      // memcached closes once the token does not fit; ours at the line.
      a.send(token.substr(0, 20000));
      b.send(token.substr(0, 20000));
      EXPECT_TRUE(a.peer_closed(2000)) << "memcached";
      EXPECT_TRUE(b.peer_closed(2000)) << "ringcached";
    }
  }
  // A line with no newline after 2 KiB is junk: closed, as memcached does.
  Client junk(rc->port());
  ASSERT_TRUE(junk.send(std::string(3000, 'x')));
  EXPECT_TRUE(junk.peer_closed(2000));
}

TEST_F(AsciiAuthTest, ConflictingOptionsAreRefused) {
  struct Case {
    std::vector<std::string> args;
    int status;
    std::string message;
  };
  std::string rcbin = rc_test::ringcached_path();
  const std::vector<Case> cases = {
      {{"-Y", path_, "-B", "binary"}, 64,
       "ERROR: You cannot allow the BINARY protocol while using ascii authentication tokens."},
      {{"-Y", path_, "-B", "auto"}, 64,
       "ERROR: You cannot allow the BINARY protocol while using ascii authentication tokens."},
      {{"-S", "-B", "ascii"}, 64, "ERROR: You cannot allow the ASCII protocol while using SASL."},
      {{"-S", "-B", "auto"}, 64, "ERROR: You cannot allow the ASCII protocol while using SASL."},
      {{"-Y", "/nonexistent/authfile"}, 1, "Could not open authfile [/nonexistent/authfile]"},
  };
  for (const auto& c : cases) {
    std::vector<std::string> argv = {rcbin, "-p", "0"};
    for (const auto& a : rc_dt::with_user(c.args)) argv.push_back(a);
    auto r = rc_dt::run_program(argv, 5000);
    EXPECT_EQ(c.status, r.exit_code()) << r.describe();
    EXPECT_NE(std::string::npos, r.err.find(c.message)) << r.describe();
  }
}

}  // namespace
