// Binary protocol, differential: the same packets go to Debian's memcached
// and to ringcached, and the answers must match byte for byte apart from
// CAS values (compared by identity: the n-th distinct CAS a conversation
// sees) and the version string.  Every scenario also asserts a few facts
// on its own, so a bug shared by both servers' transcripts cannot hide.
//
// Run: RINGCACHED=build/src/ringcached MEMCACHED=/usr/bin/memcached ./binary_test
#include <stdint.h>
#include <string.h>

#include <atomic>
#include <functional>
#include <thread>
#include <map>
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

TEST(Binary, GetFamilyHitsAndMisses) {
  auto rs = Differential({}, [](Session& s) {
    s.exchange(All({Store(OP_SET, "k", "hello", 0xdeadbeef)}));
    s.exchange(All({Get(OP_GET, "k", 1), Get(OP_GETK, "k", 2), Get(OP_GETQ, "k", 3),
                    Get(OP_GETKQ, "k", 4)}));
    s.exchange(All({Get(OP_GET, "nope", 5), Get(OP_GETK, "nope", 6), Get(OP_GETQ, "nope", 7),
                    Get(OP_GETKQ, "nope", 8)}));
  });
  ASSERT_EQ(7u, rs.size());
  EXPECT_EQ("hello", rs[1].val);
  EXPECT_EQ(U32(0xdeadbeef), rs[1].ext);
  EXPECT_EQ("k", rs[2].key);
  EXPECT_EQ(2u, rs[2].opaque);
  EXPECT_EQ(ST_KEY_ENOENT, rs[5].status);  // GET miss; quiet misses are silent
  EXPECT_EQ("nope", rs[6].key);            // GETK miss carries the key
}

TEST(Binary, StorageCommandsAndQuietVariants) {
  auto rs = Differential({}, [](Session& s) {
    s.exchange(All({Store(OP_ADD, "a", "1"), Store(OP_ADD, "a", "2"),
                    Store(OP_REPLACE, "r", "x"), Store(OP_REPLACE, "a", "3", 7),
                    Get(OP_GET, "a")}));
    // Quiet forms: silent when they succeed, loud when they fail.
    s.exchange(All({Store(OP_SETQ, "q", "v"), Store(OP_ADDQ, "q", "w"),
                    Store(OP_REPLACEQ, "none", "w"), Store(OP_REPLACEQ, "q", "z"),
                    Get(OP_GET, "q")}));
    s.exchange(All({Concat(OP_APPEND, "none", "x"), Concat(OP_PREPEND, "none", "x"),
                    Concat(OP_APPEND, "a", "_end"), Concat(OP_PREPEND, "a", "start_"),
                    Concat(OP_APPENDQ, "a", "!"), Concat(OP_PREPENDQ, "none", "!"),
                    Get(OP_GET, "a")}));
    s.exchange(All({Req{OP_DELETE, "a"}, Req{OP_DELETE, "a"}, Req{OP_DELETEQ, "q"},
                    Req{OP_DELETEQ, "q"}, Get(OP_GET, "q")}));
  });
  ASSERT_FALSE(rs.empty());
  // The first GET after ADD/REPLACE shows the replaced value and flags.
  bool seen = false;
  for (const Resp& r : rs)
    if (r.op == OP_GET && r.val == "start_3_end!") seen = true;
  EXPECT_TRUE(seen) << "append/prepend result missing";
}

TEST(Binary, CasIsCheckedOnEveryStorageOpcode) {
  Differential({}, [](Session& s) {
    s.exchange(All({Store(OP_SET, "c", "v1"), Get(OP_GET, "c")}));
    uint64_t cas = s.last_cas();
    s.exchange(All({Store(OP_SET, "c", "bad", 0, 0, cas + 1000),
                    Store(OP_REPLACE, "c", "bad", 0, 0, cas + 1000),
                    Store(OP_ADD, "c", "bad", 0, 0, cas + 1000),
                    Concat(OP_APPEND, "c", "bad", cas + 1000),
                    Concat(OP_PREPEND, "c", "bad", cas + 1000),
                    Req{OP_DELETE, "c", "", "", cas + 1000},
                    Delta(OP_INCREMENT, "c", 1, 0, 0, cas + 1000), Get(OP_GET, "c")}));
    s.exchange(All({Concat(OP_APPEND, "c", "+", cas), Get(OP_GET, "c")}));
    cas = s.last_cas();
    s.exchange(All({Store(OP_REPLACE, "c", "v2", 0, 0, cas), Get(OP_GET, "c")}));
    cas = s.last_cas();
    s.exchange(All({Store(OP_ADD, "c", "v3", 0, 0, cas), Get(OP_GET, "c")}));
    cas = s.last_cas();
    s.exchange(All({Req{OP_DELETE, "c", "", "", cas}, Get(OP_GET, "c")}));
    // A CAS for a key that does not exist.
    s.exchange(All({Store(OP_SET, "missing", "x", 0, 0, 12345),
                    Concat(OP_APPEND, "missing", "x", 12345), Get(OP_GET, "missing")}));
  });
}

TEST(Binary, IncrementAndDecrement) {
  auto rs = Differential({}, [](Session& s) {
    s.exchange(All({Delta(OP_INCREMENT, "n", 5, 10, 0), Delta(OP_INCREMENT, "n", 5, 10, 0),
                    Delta(OP_DECREMENT, "n", 100, 10, 0), Get(OP_GET, "n")}));
    // 0xffffffff: do not create.
    s.exchange(All({Delta(OP_INCREMENT, "m", 1, 1, 0xffffffff),
                    Delta(OP_DECREMENT, "m", 1, 1, 0xffffffff), Get(OP_GET, "m")}));
    s.exchange(All({Store(OP_SET, "w", "18446744073709551615"),
                    Delta(OP_INCREMENT, "w", 2, 0, 0), Get(OP_GET, "w")}));
    s.exchange(All({Store(OP_SET, "p", "100"), Delta(OP_DECREMENT, "p", 91, 0, 0),
                    Get(OP_GET, "p")}));
    s.exchange(All({Store(OP_SET, "t", "abc"), Delta(OP_INCREMENT, "t", 1, 0, 0),
                    Delta(OP_INCREMENTQ, "n", 1, 0, 0), Delta(OP_DECREMENTQ, "n", 1, 0, 0),
                    Delta(OP_INCREMENTQ, "none", 1, 0, 0xffffffff), Get(OP_GET, "n")}));
  });
  ASSERT_GE(rs.size(), 3u);
  EXPECT_EQ(U64(10), rs[0].val);  // created with the initial value
  EXPECT_EQ(U64(15), rs[1].val);
  EXPECT_EQ(U64(0), rs[2].val);   // decr stops at 0
}

TEST(Binary, TouchAndGat) {
  Differential({}, [](Session& s) {
    s.exchange(All({Store(OP_SET, "t", "val", 9)}));
    s.exchange(All({Touch(OP_TOUCH, "t", 100), Touch(OP_GAT, "t", 100),
                    Touch(OP_GATK, "t", 100), Touch(OP_GATQ, "t", 100),
                    Touch(OP_GATKQ, "t", 100)}));
    s.exchange(All({Touch(OP_TOUCH, "none", 1), Touch(OP_GAT, "none", 1),
                    Touch(OP_GATK, "none", 1), Touch(OP_GATQ, "none", 1),
                    Touch(OP_GATKQ, "none", 1)}));
    // A unix time in the past expires the item at once.
    s.exchange(All({Touch(OP_TOUCH, "t", 1000000000), Get(OP_GET, "t")}));
  });
}

TEST(Binary, FlushNoopVersionQuit) {
  Differential({}, [](Session& s) {
    s.exchange(All({Store(OP_SET, "f", "1"), Req{OP_FLUSH}, Get(OP_GET, "f")}));
    s.exchange(All({Store(OP_SET, "f", "1"), Req{OP_FLUSHQ}, Get(OP_GET, "f")}));
    // A delayed flush leaves items visible until it is due.
    s.exchange(All({Store(OP_SET, "f", "2"), Req{OP_FLUSH, "", U32(100)}, Get(OP_GET, "f")}));
    s.exchange(All({Req{OP_NOOP}, Req{OP_VERSION}}));
    s.exchange_raw(All({Req{OP_QUIT, "", "", "", 0, 77}, Req{OP_NOOP}}));
  });
  Differential({}, [](Session& s) { s.exchange_raw(All({Req{OP_QUITQ}, Req{OP_NOOP}})); });
  // -F: flush is refused with an auth error, even in the quiet form.
  Differential({"-F"}, [](Session& s) { s.exchange(All({Req{OP_FLUSH}, Req{OP_FLUSHQ}})); });
}

TEST(Binary, StatsGroups) {
  Differential({}, [](Session& s) {
    s.exchange(All({Req{OP_STAT, "nonsense"}, Req{OP_STAT, "detail on"},
                    Req{OP_STAT, "detail off"}, Req{OP_STAT, "detail dump"},
                    Req{OP_STAT, "detail bogus"}, Req{OP_STAT, "reset"},
                    Req{OP_STAT, "sizes"}, Req{OP_STAT, "conns"}}));
  });
  // The general and settings groups differ in content (memcached has more
  // counters); check their framing and the counters both have.
  auto rc = rc_dt::start_daemon();
  ASSERT_NE(rc, nullptr);
  Session s(rc->port());
  s.exchange(All({Store(OP_SET, "x", "1"), Get(OP_GET, "x"), Get(OP_GET, "y"), Req{OP_STAT}}));
  std::map<std::string, std::string> st;
  const auto& rs = s.responses();
  ASSERT_GE(rs.size(), 4u);
  for (size_t i = 3; i < rs.size(); i++) {  // after SET, hit, miss
    EXPECT_EQ(0, rs[i].status);
    EXPECT_EQ(OP_STAT, rs[i].op);
    if (!rs[i].key.empty()) st[rs[i].key] = rs[i].val;
  }
  EXPECT_TRUE(rs.back().key.empty() && rs.back().val.empty()) << "no terminating packet";
  EXPECT_EQ("1", st["get_hits"]);
  EXPECT_EQ("1", st["get_misses"]);
  EXPECT_EQ("1", st["cmd_set"]);
  EXPECT_EQ(std::to_string(rc->pid()), st["pid"]);
  Session t(rc->port());
  t.exchange(All({Req{OP_STAT, "settings"}}));
  bool binding = false;
  for (const Resp& r : t.responses())
    if (r.key == "binding_protocol") binding = r.val == "auto-negotiate";
  EXPECT_TRUE(binding);
}

TEST(Binary, MalformedRequests) {
  // Each case on its own connection: most of them close it.
  const std::vector<std::string> cases = {
      "\x81" + std::string(23, '\0'),                      // response magic
      encode(Req{OP_GET, std::string(251, 'k')}),          // key over 250
      encode(Req{OP_GET, "abc", "", "", 0, 0, 2}),         // key longer than body
      encode(Req{OP_SET, "abc", "", "", 0, 0, 10}),        // ext longer than body
      encode(Req{OP_GET, "abc", "1234"}),                  // GET with extras
      encode(Req{OP_SET, "abc", U32(0), "v"}),             // SET with 4-byte extras
      encode(Req{OP_INCREMENT, "n", U64(1)}),              // short INCR extras
      encode(Req{OP_DELETE, ""}),                          // DELETE without key
      encode(Req{OP_NOOP, "k"}),                           // NOOP with a key
      encode(Req{OP_VERSION, "", "", "x"}),                // VERSION with a body
      encode(Req{OP_FLUSH, "", U64(1)}),                   // FLUSH with 8 extras
      encode(Req{OP_TOUCH, "k"}),                          // TOUCH without extras
      encode(Req{0x45, "abc", "", "xyz"}) + encode(Req{OP_NOOP}) + encode(Req{OP_NOOP}),
      encode(Req{OP_VERBOSITY, "", U32(1)}) + encode(Req{OP_NOOP}),
      encode(Req{OP_SASL_LIST_MECHS}) + encode(Req{OP_NOOP}),
      encode(Req{OP_SASL_AUTH, "PLAIN", "", std::string("\0u\0p", 4)}) + encode(Req{OP_NOOP}),
      // TOUCH does not check its body length: the rest is the next request.
      encode(Req{OP_TOUCH, "k", U32(0), "", 0, 0, 5 + 24}) + encode(Req{OP_NOOP}),
  };
  auto mc = rc_dt::start_memcached();
  auto rc = rc_dt::start_daemon();
  ASSERT_NE(mc, nullptr);
  ASSERT_NE(rc, nullptr);
  for (size_t i = 0; i < cases.size(); i++) {
    SCOPED_TRACE("case " + std::to_string(i));
    Session want(mc->port()), got(rc->port());
    want.exchange_raw(cases[i]);
    got.exchange_raw(cases[i]);
    EXPECT_EQ(want.transcript(), got.transcript());
  }
  // Both servers survived all of it.
  Session after(rc->port());
  after.exchange(All({Req{OP_VERSION}}));
  EXPECT_EQ(1u, after.responses().size());
}

TEST(Binary, TooLargeValuesAreSwallowed) {
  Differential({"-I", "2k", "-o", "slab_chunk_max=1024"}, [](Session& s) {
    s.exchange(All({Store(OP_SET, "big", "small")}));
    s.exchange(All({Store(OP_SET, "big", std::string(3000, 'x')), Get(OP_GET, "big")}));
    s.exchange(All({Store(OP_SET, "big", "again"),
                    Store(OP_ADD, "new", std::string(3000, 'y')),
                    Concat(OP_APPEND, "big", std::string(3000, 'z')),
                    Concat(OP_APPEND, "big", std::string(2030, 'z')), Get(OP_GET, "big"),
                    Get(OP_GET, "new")}));
  });
}

TEST(Binary, LargeValuesRoundTrip) {
  std::string v = rc_dt::random_bytes(700 * 1024, 7);
  auto rs = Differential({}, [&](Session& s) {
    s.exchange(All({Store(OP_SET, "L", v, 3), Get(OP_GETK, "L"), Concat(OP_APPEND, "L", "tail"),
                    Get(OP_GET, "L")}));
  });
  ASSERT_EQ(4u, rs.size());
  EXPECT_TRUE(rs[1].val == v);
  EXPECT_TRUE(rs[3].val == v + "tail");
}

// The same pipeline, whole and one byte per write, gives the same answers.
TEST(Binary, SplitWritesMatchWholeWrites) {
  std::string pipeline =
      All({Store(OP_SET, "s", "split value", 5), Get(OP_GETK, "s"), Get(OP_GETQ, "none"),
           Delta(OP_INCREMENT, "ctr", 3, 7, 0), Concat(OP_APPENDQ, "s", "+"), Get(OP_GET, "s"),
           Req{OP_NOOP}});
  auto rc = rc_dt::start_daemon();
  ASSERT_NE(rc, nullptr);
  Client whole(rc->port()), bytes(rc->port());
  ASSERT_TRUE(whole.send(pipeline));
  std::string a = whole.recv_idle(100, 3000);
  ASSERT_TRUE(whole.send(encode(Req{OP_FLUSH})));
  whole.recv_idle(100, 3000);
  for (char ch : pipeline) ASSERT_TRUE(bytes.send(std::string(1, ch)));
  std::string b = bytes.recv_idle(200, 5000);
  std::vector<Resp> ra, rb;
  ASSERT_EQ(a.size(), decode(a, &ra));
  ASSERT_EQ(b.size(), decode(b, &rb));
  ASSERT_EQ(ra.size(), rb.size());
  ASSERT_EQ(5u, ra.size());  // the quiet miss and append say nothing
  for (size_t i = 0; i < ra.size(); i++) {
    EXPECT_EQ(ra[i].op, rb[i].op);
    EXPECT_EQ(ra[i].status, rb[i].status);
    EXPECT_EQ(ra[i].key, rb[i].key);
    EXPECT_EQ(ra[i].val, rb[i].val);
  }
  EXPECT_EQ("split value+", rb[3].val);
}

// Pipelined binary INCREMENTs from several connections at once lose none.
// (The counter exists first: racing creations of a missing key answer
// NOT_STORED to all but one, as in memcached.)
TEST(Binary, ConcurrentIncrementsAddUp) {
  auto rc = rc_dt::start_daemon({"-t", "4"});
  ASSERT_NE(rc, nullptr);
  {
    Session s(rc->port());
    s.exchange(All({Store(OP_SET, "ctr", "0")}));
  }
  constexpr int kThreads = 4, kBatches = 100, kDepth = 10;
  std::vector<std::thread> ts;
  std::atomic<int> answered{0};
  for (int t = 0; t < kThreads; t++) {
    ts.emplace_back([&] {
      Client c(rc->port());
      std::string batch;
      for (int j = 0; j < kDepth; j++) batch += encode(Delta(OP_INCREMENT, "ctr", 1, 0, 0));
      for (int b = 0; b < kBatches; b++) {
        if (!c.send(batch)) return;
        std::string got;
        std::vector<Resp> rs;
        long long deadline = rc_test::now_ms() + 10000;
        while (rs.size() < (size_t)kDepth && rc_test::now_ms() < deadline) {
          got += c.recv_idle(5, 500);
          rs.clear();
          decode(got, &rs);
        }
        for (const Resp& r : rs) answered += r.status == ST_SUCCESS;
      }
    });
  }
  for (auto& t : ts) t.join();
  EXPECT_EQ(kThreads * kBatches * kDepth, answered.load());
  Session s(rc->port());
  s.exchange(All({Get(OP_GET, "ctr")}));
  ASSERT_EQ(1u, s.responses().size());
  EXPECT_EQ(std::to_string(kThreads * kBatches * kDepth), s.responses()[0].val);
}

TEST(Binary, ProtocolSelection) {
  // -B binary: a text command is not a binary request; the connection closes.
  Differential({"-B", "binary"}, [](Session& s) { s.exchange_raw("get foo\r\n"); });
  // -B ascii: a binary packet is garbage to the text parser.
  Differential({"-B", "ascii"}, [](Session& s) { s.exchange_raw(encode(Req{OP_NOOP}) + "\r\n"); });
  // auto: each connection picks by its first byte.
  auto rc = rc_dt::start_daemon();
  ASSERT_NE(rc, nullptr);
  Client text(rc->port());
  EXPECT_EQ("STORED\r\n", text.cmd("set both 0 0 2\r\nok\r\n"));
  Session bin(rc->port());
  bin.exchange(All({Get(OP_GET, "both")}));
  ASSERT_EQ(1u, bin.responses().size());
  EXPECT_EQ("ok", bin.responses()[0].val);
}

}  // namespace
