// Daemon-level tests: ringcached driven by a real client library
// (libmemcached, text protocol), plus a few telnet-style raw socket checks.
//
// Build:
//   g++ -std=gnu++17 -O1 -pthread -Wall -Wextra -Werror -I t/daemon
//     t/daemon/client_test.cc t/daemon/harness.cc
//     $(pkg-config --cflags --libs gtest_main libmemcached) -o client_test
// Run:
//   RINGCACHED=build/src/ringcached ./client_test
// The expectations are memcached 1.6's behaviour; RINGCACHED=/usr/bin/memcached
// runs the same suite against the reference.
#include <libmemcached/memcached.h>

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "daemon_util.h"
#include "harness.h"

namespace {

using rc_test::Client;
using rc_test::Daemon;

// One daemon for the whole suite; each test uses its own key prefix.
class ClientTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    daemon_ = rc_dt::start_daemon({"-t", "2", "-m", "64"}).release();
  }
  static void TearDownTestSuite() {
    delete daemon_;
    daemon_ = nullptr;
  }

  void SetUp() override {
    ASSERT_NE(daemon_, nullptr) << "daemon did not start";
    mc_ = memcached_create(nullptr);
    ASSERT_NE(mc_, nullptr);
    ASSERT_EQ(MEMCACHED_SUCCESS, memcached_server_add(mc_, "127.0.0.1", (in_port_t)daemon_->port()));
    // Bounded waits everywhere (milliseconds).
    memcached_behavior_set(mc_, MEMCACHED_BEHAVIOR_CONNECT_TIMEOUT, 3000);
    memcached_behavior_set(mc_, MEMCACHED_BEHAVIOR_POLL_TIMEOUT, 5000);
    memcached_behavior_set(mc_, MEMCACHED_BEHAVIOR_RCV_TIMEOUT, 5000000);  // microseconds
    memcached_behavior_set(mc_, MEMCACHED_BEHAVIOR_SND_TIMEOUT, 5000000);
    memcached_behavior_set(mc_, MEMCACHED_BEHAVIOR_BINARY_PROTOCOL, binary() ? 1 : 0);
    memcached_behavior_set(mc_, MEMCACHED_BEHAVIOR_SUPPORT_CAS, 1);
  }
  void TearDown() override {
    if (mc_) memcached_free(mc_);
    mc_ = nullptr;
  }

  memcached_return_t set(const std::string& k, const std::string& v, time_t exp = 0,
                         uint32_t flags = 0) {
    return memcached_set(mc_, k.data(), k.size(), v.data(), v.size(), exp, flags);
  }

  // Fetches one key; found=false on a miss.  Fails the test on other errors.
  std::string get(const std::string& k, bool* found, uint32_t* flags = nullptr) {
    size_t len = 0;
    uint32_t fl = 0;
    memcached_return_t rc = MEMCACHED_FAILURE;
    char* v = memcached_get(mc_, k.data(), k.size(), &len, &fl, &rc);
    std::string out;
    if (v) {
      out.assign(v, len);
      free(v);
    }
    *found = (rc == MEMCACHED_SUCCESS);
    if (rc != MEMCACHED_SUCCESS && rc != MEMCACHED_NOTFOUND) {
      ADD_FAILURE() << "get " << k << ": " << memcached_strerror(mc_, rc) << " / "
                    << memcached_last_error_message(mc_);
    }
    if (flags) *flags = fl;
    return out;
  }

  // Value of a key that must exist.
  std::string must_get(const std::string& k) {
    bool found = false;
    std::string v = get(k, &found);
    EXPECT_TRUE(found) << "key " << k << " missing";
    return v;
  }

  bool exists(const std::string& k) {
    bool found = false;
    get(k, &found);
    return found;
  }

  // "gets": value and CAS via mget + fetch_result (SUPPORT_CAS is on).
  bool gets(const std::string& k, std::string* value, uint64_t* cas) {
    const char* keys[] = {k.c_str()};
    size_t lens[] = {k.size()};
    memcached_return_t rc = memcached_mget(mc_, keys, lens, 1);
    EXPECT_EQ(MEMCACHED_SUCCESS, rc) << memcached_last_error_message(mc_);
    bool found = false;
    memcached_result_st* res;
    while ((res = memcached_fetch_result(mc_, nullptr, &rc)) != nullptr) {
      EXPECT_EQ(k, std::string(memcached_result_key_value(res), memcached_result_key_length(res)));
      if (value) value->assign(memcached_result_value(res), memcached_result_length(res));
      if (cas) *cas = memcached_result_cas(res);
      found = true;
      memcached_result_free(res);
    }
    return found;
  }

  virtual bool binary() const { return false; }

  static Daemon* daemon_;
  memcached_st* mc_ = nullptr;
};

Daemon* ClientTest::daemon_ = nullptr;

// The library tests run twice: text protocol and binary protocol.
class ClientProtoTest : public ClientTest, public ::testing::WithParamInterface<bool> {
 protected:
  bool binary() const override { return GetParam(); }
  void SetUp() override {
    ClientTest::SetUp();
    // The text and binary runs use the same keys on one daemon.
    ASSERT_NE(mc_, nullptr);
    ASSERT_EQ(MEMCACHED_SUCCESS, memcached_flush(mc_, 0));
  }
  // The binary protocol says why a store failed: add finds the key, replace
  // does not; the text protocol answers NOT_STORED for both.
  memcached_return_t add_exists() const {
    return binary() ? MEMCACHED_DATA_EXISTS : MEMCACHED_NOTSTORED;
  }
  memcached_return_t replace_missing() const {
    return binary() ? MEMCACHED_NOTFOUND : MEMCACHED_NOTSTORED;
  }
};

#define MC_OK(expr) EXPECT_EQ(MEMCACHED_SUCCESS, (expr)) << memcached_last_error_message(mc_)

TEST_P(ClientProtoTest, SetGetOverwriteAndFlags) {
  MC_OK(set("sg:a", "hello", 0, 123));
  uint32_t flags = 0;
  bool found = false;
  EXPECT_EQ("hello", get("sg:a", &found, &flags));
  EXPECT_TRUE(found);
  EXPECT_EQ(123u, flags);

  MC_OK(set("sg:a", "world, longer than before", 0, 0xfffffffeu));
  EXPECT_EQ("world, longer than before", get("sg:a", &found, &flags));
  EXPECT_EQ(0xfffffffeu, flags);

  MC_OK(set("sg:empty", ""));
  EXPECT_EQ("", get("sg:empty", &found));
  EXPECT_TRUE(found);

  get("sg:missing", &found);
  EXPECT_FALSE(found);

  // A 250-byte key is the longest memcached accepts.
  std::string longkey = "sg:" + std::string(247, 'k');
  MC_OK(set(longkey, "long key"));
  EXPECT_EQ("long key", must_get(longkey));
}

TEST_P(ClientProtoTest, AddAndReplace) {
  EXPECT_EQ(MEMCACHED_SUCCESS, memcached_add(mc_, "ar:x", 4, "one", 3, 0, 0));
  EXPECT_EQ(add_exists(), memcached_add(mc_, "ar:x", 4, "two", 3, 0, 0));
  EXPECT_EQ("one", must_get("ar:x"));

  EXPECT_EQ(replace_missing(), memcached_replace(mc_, "ar:y", 4, "r", 1, 0, 0));
  EXPECT_FALSE(exists("ar:y"));
  EXPECT_EQ(MEMCACHED_SUCCESS, memcached_replace(mc_, "ar:x", 4, "three", 5, 0, 7));
  uint32_t flags = 0;
  bool found = false;
  EXPECT_EQ("three", get("ar:x", &found, &flags));
  EXPECT_EQ(7u, flags);
}

TEST_P(ClientProtoTest, AppendPrepend) {
  EXPECT_EQ(MEMCACHED_NOTSTORED, memcached_append(mc_, "ap:none", 7, "x", 1, 0, 0));
  EXPECT_EQ(MEMCACHED_NOTSTORED, memcached_prepend(mc_, "ap:none", 7, "x", 1, 0, 0));
  EXPECT_FALSE(exists("ap:none"));

  MC_OK(set("ap:k", "mid", 0, 42));
  MC_OK(memcached_append(mc_, "ap:k", 4, "_end", 4, 0, 0));
  MC_OK(memcached_prepend(mc_, "ap:k", 4, "start_", 6, 0, 0));
  uint32_t flags = 0;
  bool found = false;
  EXPECT_EQ("start_mid_end", get("ap:k", &found, &flags));
  EXPECT_EQ(42u, flags) << "append/prepend must keep the original flags";

  // Grow a value by appends across the 512 KB chunk boundary.
  std::string want;
  MC_OK(set("ap:grow", ""));
  for (int i = 0; i < 12; i++) {
    std::string piece = rc_dt::random_bytes(50000, 1000 + i);
    want += piece;
    MC_OK(memcached_append(mc_, "ap:grow", 7, piece.data(), piece.size(), 0, 0));
  }
  std::string got = must_get("ap:grow");
  EXPECT_TRUE(got == want) << rc_dt::first_diff(want, got);
}

TEST_P(ClientProtoTest, GetsAndCas) {
  MC_OK(set("cas:k", "v1"));
  std::string v;
  uint64_t cas1 = 0, cas2 = 0;
  ASSERT_TRUE(gets("cas:k", &v, &cas1));
  EXPECT_EQ("v1", v);
  EXPECT_NE(0u, cas1);

  EXPECT_EQ(MEMCACHED_SUCCESS, memcached_cas(mc_, "cas:k", 5, "v2", 2, 0, 5, cas1));
  EXPECT_EQ(MEMCACHED_DATA_EXISTS, memcached_cas(mc_, "cas:k", 5, "v3", 2, 0, 0, cas1))
      << "a stale CAS must be refused";
  uint32_t flags = 0;
  bool found = false;
  EXPECT_EQ("v2", get("cas:k", &found, &flags));
  EXPECT_EQ(5u, flags);

  ASSERT_TRUE(gets("cas:k", &v, &cas2));
  EXPECT_NE(cas1, cas2);
  // Any modification changes the CAS.
  MC_OK(memcached_append(mc_, "cas:k", 5, "+", 1, 0, 0));
  uint64_t cas3 = 0;
  ASSERT_TRUE(gets("cas:k", &v, &cas3));
  EXPECT_EQ("v2+", v);
  EXPECT_NE(cas2, cas3);
  EXPECT_EQ(MEMCACHED_DATA_EXISTS, memcached_cas(mc_, "cas:k", 5, "x", 1, 0, 0, cas2));

  EXPECT_EQ(MEMCACHED_NOTFOUND, memcached_cas(mc_, "cas:none", 8, "x", 1, 0, 0, cas3));
  EXPECT_FALSE(exists("cas:none"));
}

TEST_P(ClientProtoTest, IncrDecr) {
  uint64_t value = 0;
  MC_OK(set("n:a", "10"));
  MC_OK(memcached_increment(mc_, "n:a", 3, 5, &value));
  EXPECT_EQ(15u, value);
  MC_OK(memcached_decrement(mc_, "n:a", 3, 3, &value));
  EXPECT_EQ(12u, value);
  MC_OK(memcached_decrement(mc_, "n:a", 3, 100, &value));
  EXPECT_EQ(0u, value) << "decr below zero clamps to 0";
  MC_OK(memcached_increment(mc_, "n:a", 3, 1234567, &value));
  EXPECT_EQ(1234567u, value);
  EXPECT_EQ("1234567", must_get("n:a"));

  // 64-bit wrap-around on incr.
  MC_OK(set("n:max", "18446744073709551615"));
  MC_OK(memcached_increment(mc_, "n:max", 5, 1, &value));
  EXPECT_EQ(0u, value);

  EXPECT_EQ(MEMCACHED_NOTFOUND, memcached_increment(mc_, "n:none", 6, 1, &value));
  EXPECT_EQ(MEMCACHED_NOTFOUND, memcached_decrement(mc_, "n:none", 6, 1, &value));

  MC_OK(set("n:text", "abc"));
  memcached_return_t rc = memcached_increment(mc_, "n:text", 6, 1, &value);
  EXPECT_NE(MEMCACHED_SUCCESS, rc);
  EXPECT_EQ("abc", must_get("n:text"));

  // Many increments through the library.
  MC_OK(set("n:many", "0"));
  for (int i = 0; i < 500; i++) {
    ASSERT_EQ(MEMCACHED_SUCCESS, memcached_increment(mc_, "n:many", 6, 2, &value));
  }
  EXPECT_EQ(1000u, value);
}

TEST_P(ClientProtoTest, Delete) {
  MC_OK(set("del:k", "v"));
  EXPECT_EQ(MEMCACHED_SUCCESS, memcached_delete(mc_, "del:k", 5, 0));
  EXPECT_FALSE(exists("del:k"));
  EXPECT_EQ(MEMCACHED_NOTFOUND, memcached_delete(mc_, "del:k", 5, 0));
  // add works again after delete
  EXPECT_EQ(MEMCACHED_SUCCESS, memcached_add(mc_, "del:k", 5, "w", 1, 0, 0));
  EXPECT_EQ("w", must_get("del:k"));
}

// Expiry (relative and absolute), touch, and negative expiry; one shared wait.
TEST_P(ClientProtoTest, ExpiryAndTouch) {
  time_t now = time(nullptr);
  MC_OK(set("ex:short", "a", 1));
  MC_OK(set("ex:touched-longer", "b", 1));
  EXPECT_EQ(MEMCACHED_SUCCESS, memcached_touch(mc_, "ex:touched-longer", 17, 100));
  MC_OK(set("ex:touched-shorter", "c", 100));
  EXPECT_EQ(MEMCACHED_SUCCESS, memcached_touch(mc_, "ex:touched-shorter", 18, 1));
  // +3, not +1: the server's clock may already be a second ahead of ours,
  // and a loaded machine may take another second to get to the check below.
  MC_OK(set("ex:absolute", "d", now + 3));
  MC_OK(set("ex:abs-future", "e", now + 1000));
  MC_OK(set("ex:forever", "f", 0));
  EXPECT_EQ(MEMCACHED_NOTFOUND, memcached_touch(mc_, "ex:none", 7, 10));

  // Everything is there right now.
  for (const char* k : {"ex:short", "ex:touched-longer", "ex:touched-shorter", "ex:absolute",
                        "ex:abs-future", "ex:forever"})
    EXPECT_TRUE(exists(k)) << k;

  // memcached's clock ticks once a second: an exptime of 1 s is gone after
  // at most ~2 s.
  rc_test::sleep_ms(4100);
  EXPECT_FALSE(exists("ex:short"));
  EXPECT_TRUE(exists("ex:touched-longer"));
  EXPECT_FALSE(exists("ex:touched-shorter"));
  EXPECT_FALSE(exists("ex:absolute"));
  EXPECT_TRUE(exists("ex:abs-future"));
  EXPECT_TRUE(exists("ex:forever"));
  // An expired key can be added again.
  EXPECT_EQ(MEMCACHED_SUCCESS, memcached_add(mc_, "ex:short", 8, "again", 5, 0, 0));
  EXPECT_EQ("again", must_get("ex:short"));
}

TEST_P(ClientProtoTest, FlushAll) {
  for (int i = 0; i < 50; i++) MC_OK(set("fl:" + std::to_string(i), "v" + std::to_string(i)));
  EXPECT_TRUE(exists("fl:7"));
  MC_OK(memcached_flush(mc_, 0));
  for (int i = 0; i < 50; i++) EXPECT_FALSE(exists("fl:" + std::to_string(i))) << i;
  MC_OK(set("fl:after", "x"));
  EXPECT_EQ("x", must_get("fl:after"));
  EXPECT_EQ(MEMCACHED_SUCCESS, memcached_add(mc_, "fl:7", 4, "y", 1, 0, 0));
}

TEST_P(ClientProtoTest, MgetManyKeys) {
  const int kKeys = 3000;
  std::vector<std::string> keys, want(kKeys);
  for (int i = 0; i < kKeys; i++) {
    keys.push_back("mg:" + std::to_string(i) + ":" + std::string(i % 37, 'q'));
    if (i % 3 != 2) {  // every third key is missing
      want[i] = "val-" + std::to_string(i) + "-" + std::string((size_t)(i * 7919) % 700, 'a' + i % 26);
      ASSERT_EQ(MEMCACHED_SUCCESS, set(keys[i], want[i], 0, (uint32_t)i))
          << memcached_last_error_message(mc_);
    }
  }
  std::vector<const char*> kp;
  std::vector<size_t> kl;
  for (auto& k : keys) {
    kp.push_back(k.c_str());
    kl.push_back(k.size());
  }
  ASSERT_EQ(MEMCACHED_SUCCESS, memcached_mget(mc_, kp.data(), kl.data(), kp.size()))
      << memcached_last_error_message(mc_);
  std::vector<int> seen(kKeys, 0);
  int hits = 0;
  memcached_return_t rc;
  memcached_result_st* res;
  std::map<std::string, int> index;
  for (int i = 0; i < kKeys; i++) index[keys[i]] = i;
  while ((res = memcached_fetch_result(mc_, nullptr, &rc)) != nullptr) {
    std::string k(memcached_result_key_value(res), memcached_result_key_length(res));
    std::string v(memcached_result_value(res), memcached_result_length(res));
    auto it = index.find(k);
    if (it == index.end()) {
      ADD_FAILURE() << "unexpected key " << rc_test::escape_bytes(k);
    } else {
      int i = it->second;
      seen[i]++;
      EXPECT_NE(2, i % 3) << "missing key returned: " << k;
      EXPECT_EQ(want[i], v) << k;
      EXPECT_EQ((uint32_t)i, memcached_result_flags(res)) << k;
      EXPECT_NE(0u, memcached_result_cas(res)) << k;
    }
    hits++;
    memcached_result_free(res);
  }
  EXPECT_TRUE(rc == MEMCACHED_END || rc == MEMCACHED_SUCCESS || rc == MEMCACHED_NOTFOUND)
      << memcached_strerror(mc_, rc);
  EXPECT_EQ(2000, hits);
  for (int i = 0; i < kKeys; i++)
    if (i % 3 != 2) {
      EXPECT_EQ(1, seen[i]) << keys[i];
    }
}

TEST_P(ClientProtoTest, LargeValuesAcrossChunkBoundary) {
  const size_t kChunk = 512 * 1024;
  // Default -I 1m: item header + key + value must fit in 1 MiB; keep a
  // 1 KiB margin for "just under 1 MB".
  const std::vector<size_t> sizes = {1,          1000,       16383,      16384,     65537,
                                     kChunk - 100, kChunk - 1, kChunk,     kChunk + 1, kChunk + 100,
                                     800 * 1000, 1024 * 1024 - 1024};
  for (size_t i = 0; i < sizes.size(); i++) {
    std::string k = "big:" + std::to_string(sizes[i]);
    std::string v = rc_dt::random_bytes(sizes[i], 77 + i);
    ASSERT_EQ(MEMCACHED_SUCCESS, set(k, v, 0, (uint32_t)sizes[i]))
        << "size " << sizes[i] << ": " << memcached_last_error_message(mc_);
  }
  // Read back after all were written (so they coexist in memory).
  for (size_t i = 0; i < sizes.size(); i++) {
    std::string k = "big:" + std::to_string(sizes[i]);
    std::string want = rc_dt::random_bytes(sizes[i], 77 + i);
    uint32_t flags = 0;
    bool found = false;
    std::string got = get(k, &found, &flags);
    ASSERT_TRUE(found) << k;
    EXPECT_TRUE(got == want) << k << ": " << rc_dt::first_diff(want, got);
    EXPECT_EQ((uint32_t)sizes[i], flags);
  }
  // Overwrite a chunked value with a small one and back.
  std::string k = "big:" + std::to_string(kChunk + 1);
  MC_OK(set(k, "small now"));
  EXPECT_EQ("small now", must_get(k));
  std::string v2 = rc_dt::random_bytes(kChunk * 3 / 2, 4242);
  MC_OK(set(k, v2));
  std::string got = must_get(k);
  EXPECT_TRUE(got == v2) << rc_dt::first_diff(v2, got);

  // Too large: refused, the key keeps nothing, and the connection still works.
  std::string huge(1024 * 1024 + 1, 'h');
  EXPECT_NE(MEMCACHED_SUCCESS, set("big:toolarge", huge));
  EXPECT_FALSE(exists("big:toolarge"));
  MC_OK(set("big:after", "ok"));
  EXPECT_EQ("ok", must_get("big:after"));
}

TEST_P(ClientProtoTest, MgetOfLargeValues) {
  // ~12 MB in one multi-get response.
  const int kKeys = 48;
  std::vector<std::string> keys;
  for (int i = 0; i < kKeys; i++) {
    keys.push_back("mgl:" + std::to_string(i));
    std::string v = rc_dt::random_bytes(200 * 1024 + i * 1000, 500 + i);
    ASSERT_EQ(MEMCACHED_SUCCESS, set(keys[i], v)) << memcached_last_error_message(mc_);
  }
  std::vector<const char*> kp;
  std::vector<size_t> kl;
  for (auto& k : keys) {
    kp.push_back(k.c_str());
    kl.push_back(k.size());
  }
  ASSERT_EQ(MEMCACHED_SUCCESS, memcached_mget(mc_, kp.data(), kl.data(), kp.size()));
  int n = 0;
  memcached_return_t rc;
  memcached_result_st* res;
  while ((res = memcached_fetch_result(mc_, nullptr, &rc)) != nullptr) {
    std::string k(memcached_result_key_value(res), memcached_result_key_length(res));
    std::string v(memcached_result_value(res), memcached_result_length(res));
    int i = atoi(k.c_str() + 4);
    std::string want = rc_dt::random_bytes(200 * 1024 + i * 1000, 500 + i);
    EXPECT_TRUE(v == want) << k << ": " << rc_dt::first_diff(want, v);
    n++;
    memcached_result_free(res);
  }
  EXPECT_EQ(kKeys, n);
}

TEST_P(ClientProtoTest, ValuesWithCrLfAndNul) {
  const std::vector<std::string> values = {
      "\r\n",
      "line1\r\nline2\r\n",
      "END\r\n",
      "\r\nEND\r\nVALUE x 0 1\r\ny\r\n",
      std::string("nul\0inside\0", 11),
      "\n\n\r\r",
      std::string(5000, '\n') + "\r\n" + std::string(5000, '\r'),
  };
  for (size_t i = 0; i < values.size(); i++) {
    std::string k = "crlf:" + std::to_string(i);
    MC_OK(set(k, values[i]));
  }
  for (size_t i = 0; i < values.size(); i++) {
    std::string k = "crlf:" + std::to_string(i);
    EXPECT_EQ(rc_test::escape_bytes(values[i]), rc_test::escape_bytes(must_get(k))) << k;
  }
  // Appending CRLF data keeps it verbatim.
  MC_OK(memcached_append(mc_, "crlf:2", 6, "\r\nEND\r\n", 7, 0, 0));
  EXPECT_EQ("END\r\n\r\nEND\r\n", must_get("crlf:2"));
}

// What libmemcached offers only, or differently, over the binary protocol.
TEST_P(ClientProtoTest, IncrementWithInitialExistAndStats) {
  uint64_t value = 0;
  memcached_return_t rc = memcached_increment_with_initial(mc_, "wi:n", 4, 5, 40, 0, &value);
  if (!binary()) {
    // The text protocol cannot create on incr; libmemcached says so.
    EXPECT_NE(MEMCACHED_SUCCESS, rc);
  } else {
    MC_OK(rc);
    EXPECT_EQ(40u, value);
    MC_OK(memcached_increment_with_initial(mc_, "wi:n", 4, 5, 40, 0, &value));
    EXPECT_EQ(45u, value);
    MC_OK(memcached_decrement_with_initial(mc_, "wi:m", 4, 5, 7, 0, &value));
    EXPECT_EQ(7u, value);
    MC_OK(memcached_decrement_with_initial(mc_, "wi:m", 4, 5, 7, 0, &value));
    EXPECT_EQ(2u, value);
    EXPECT_EQ("45", must_get("wi:n"));
  }

  MC_OK(set("wi:e", "x"));
  EXPECT_EQ(MEMCACHED_SUCCESS, memcached_exist(mc_, "wi:e", 4));
  EXPECT_EQ(MEMCACHED_NOTFOUND, memcached_exist(mc_, "wi:none", 7));

  MC_OK(memcached_version(mc_));
  memcached_return_t src = MEMCACHED_FAILURE;
  memcached_stat_st* st = memcached_stat(mc_, nullptr, &src);
  ASSERT_NE(nullptr, st);
  EXPECT_EQ(MEMCACHED_SUCCESS, src);
  EXPECT_EQ((pid_t)st[0].pid, daemon_->pid());
  EXPECT_GT(st[0].cmd_set, 0u);
  char* pid = memcached_stat_get_value(mc_, &st[0], "pid", &src);
  ASSERT_NE(nullptr, pid);
  EXPECT_EQ(std::to_string(daemon_->pid()), pid);
  free(pid);
  memcached_stat_free(mc_, st);
}

// noreply: libmemcached sends the quiet opcodes over binary.
TEST_P(ClientProtoTest, NoreplyStoresArrive) {
  memcached_behavior_set(mc_, MEMCACHED_BEHAVIOR_NOREPLY, 1);
  for (int i = 0; i < 100; i++) MC_OK(set("nr:" + std::to_string(i), "v" + std::to_string(i)));
  MC_OK(memcached_delete(mc_, "nr:7", 4, 0));
  MC_OK(memcached_append(mc_, "nr:8", 4, "+", 1, 0, 0));
  memcached_behavior_set(mc_, MEMCACHED_BEHAVIOR_NOREPLY, 0);
  EXPECT_EQ("v99", must_get("nr:99"));
  EXPECT_EQ("v8+", must_get("nr:8"));
  EXPECT_FALSE(exists("nr:7"));
}

INSTANTIATE_TEST_SUITE_P(Protocols, ClientProtoTest, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& p) {
                           return std::string(p.param ? "Binary" : "Text");
                         });

// ------------------------------------------------------------ raw sockets

TEST_F(ClientTest, TelnetSession) {
  Client c(daemon_->port());
  ASSERT_TRUE(c.ok());
  EXPECT_EQ("STORED\r\n", c.cmd("set tn:foo 5 0 3\r\nbar\r\n"));
  EXPECT_EQ("VALUE tn:foo 5 3\r\nbar\r\nEND\r\n", c.cmd("get tn:foo\r\n", "END\r\n"));
  std::string g = c.cmd("gets tn:foo\r\n", "END\r\n");
  EXPECT_EQ(0u, g.find("VALUE tn:foo 5 3 ")) << rc_test::escape_bytes(g);
  unsigned long long cas = strtoull(g.c_str() + strlen("VALUE tn:foo 5 3 "), nullptr, 10);
  EXPECT_NE(0u, cas);
  EXPECT_EQ("EXISTS\r\n", c.cmd("cas tn:foo 0 0 1 " + std::to_string(cas + 1) + "\r\nx\r\n"));
  EXPECT_EQ("STORED\r\n", c.cmd("cas tn:foo 0 0 1 " + std::to_string(cas) + "\r\nx\r\n"));
  EXPECT_EQ("NOT_FOUND\r\n", c.cmd("cas tn:none 0 0 1 1\r\nx\r\n"));
  EXPECT_EQ("ERROR\r\n", c.cmd("bogus\r\n"));
  std::string ver = c.cmd("version\r\n");
  EXPECT_EQ(0u, ver.find("VERSION ")) << rc_test::escape_bytes(ver);
  // Multi-key get returns hits in request order, misses skipped.
  EXPECT_EQ("STORED\r\n", c.cmd("set tn:b 0 0 1\r\nB\r\n"));
  EXPECT_EQ("VALUE tn:b 0 1\r\nB\r\nVALUE tn:foo 0 1\r\nx\r\nVALUE tn:b 0 1\r\nB\r\nEND\r\n",
            c.cmd("get tn:b tn:nope tn:foo tn:b\r\n", "END\r\n"));
  // Bad data chunk, then the connection is still usable.
  EXPECT_EQ("CLIENT_ERROR bad data chunk\r\n", c.cmd("set tn:bad 0 0 3\r\nbarx\r\n"));
  EXPECT_EQ("ERROR\r\n", c.recv_until("\r\n"));  // the left-over "\n" line, as memcached
  EXPECT_EQ("END\r\n", c.cmd("get tn:bad\r\n", "END\r\n"));
  // noreply: nothing comes back, the next command's answer is next.
  ASSERT_TRUE(c.send("set tn:nr 0 0 2 noreply\r\nhi\r\ndelete tn:none noreply\r\n"));
  EXPECT_EQ("VALUE tn:nr 0 2\r\nhi\r\nEND\r\n", c.cmd("get tn:nr\r\n", "END\r\n"));
  // Negative exptime: stored but immediately expired.
  EXPECT_EQ("STORED\r\n", c.cmd("set tn:neg 0 -1 1\r\nz\r\n"));
  EXPECT_EQ("END\r\n", c.cmd("get tn:neg\r\n", "END\r\n"));
  // decr shrinking a number keeps the length, padded with spaces (memcached).
  EXPECT_EQ("STORED\r\n", c.cmd("set tn:d 0 0 3\r\n100\r\n"));
  EXPECT_EQ("9\r\n", c.cmd("decr tn:d 91\r\n"));
  EXPECT_EQ("VALUE tn:d 0 3\r\n9  \r\nEND\r\n", c.cmd("get tn:d\r\n", "END\r\n"));
  EXPECT_EQ("CLIENT_ERROR cannot increment or decrement non-numeric value\r\n",
            c.cmd("incr tn:b 1\r\n"));
  EXPECT_EQ("CLIENT_ERROR invalid numeric delta argument\r\n", c.cmd("incr tn:d -1\r\n"));
  // Key too long (251 bytes).
  EXPECT_EQ("CLIENT_ERROR bad command line format\r\n",
            c.cmd("get " + std::string(251, 'a') + "\r\n"));
  EXPECT_EQ("END\r\n", c.cmd("get " + std::string(250, 'a') + "\r\n"));
  // quit closes the connection.
  ASSERT_TRUE(c.send("quit\r\n"));
  EXPECT_TRUE(c.peer_closed(3000));
  EXPECT_EQ("", c.recv_idle(50, 200));
}

TEST_F(ClientTest, TelnetPipelinedAndSplitWrites) {
  Client c(daemon_->port());
  ASSERT_TRUE(c.ok());
  // Everything in one write.
  std::string req, want;
  for (int i = 0; i < 200; i++) {
    std::string k = "pl:" + std::to_string(i), v = std::string(i, 'v');
    req += "set " + k + " 0 0 " + std::to_string(v.size()) + "\r\n" + v + "\r\n";
    want += "STORED\r\n";
  }
  for (int i = 0; i < 200; i++) {
    std::string k = "pl:" + std::to_string(i), v = std::string(i, 'v');
    req += "get " + k + "\r\n";
    want += "VALUE " + k + " 0 " + std::to_string(v.size()) + "\r\n" + v + "\r\nEND\r\n";
  }
  ASSERT_TRUE(c.send(req));
  std::string got = c.recv_n(want.size(), 10000);
  EXPECT_TRUE(got == want) << rc_dt::first_diff(want, got);

  // One byte at a time (commands split at every position).
  std::string slow = "set pl:slow 3 0 10\r\n0123\r\n6789\r\nget pl:slow\r\n";
  for (char ch : slow) {
    ASSERT_TRUE(c.send(std::string(1, ch)));
    rc_test::sleep_ms(1);
  }
  EXPECT_EQ("STORED\r\nVALUE pl:slow 3 10\r\n0123\r\n6789\r\nEND\r\n",
            c.recv_until("END\r\n", 5000));
}

TEST_F(ClientTest, ExactItemSizeLimit) {
  // memcached 1.6.18 with the default -I 1m stores at most 1048516 value
  // bytes under a 1-byte key (1 MiB minus its item header); one more is
  // "too large", the data is swallowed, and (for set) the old value is
  // removed so that no stale data survives the failed set.
  Client c(daemon_->port());
  ASSERT_TRUE(c.ok());
  std::string v(1048516, 'L');
  EXPECT_EQ("STORED\r\n", c.cmd("set L 0 0 1048516\r\n" + v + "\r\n"));
  std::string want = "VALUE L 0 1048516\r\n" + v + "\r\nEND\r\n";
  std::string got = c.cmd("get L\r\n", "END\r\n");
  EXPECT_TRUE(want == got) << rc_dt::first_diff(want, got);
  EXPECT_EQ("SERVER_ERROR object too large for cache\r\n",
            c.cmd("set L 0 0 1048517\r\n" + v + "L\r\n"));
  EXPECT_EQ("END\r\n", c.cmd("get L\r\n", "END\r\n"))
      << "memcached unlinks the old item when a set fails for size";
  // Same through add/replace/append: nothing stored, connection in sync.
  EXPECT_EQ("STORED\r\n", c.cmd("set L 0 0 2\r\nok\r\n"));
  EXPECT_EQ("SERVER_ERROR object too large for cache\r\n",
            c.cmd("append L 0 0 1048517\r\n" + v + "L\r\n"));
  EXPECT_EQ("VALUE L 0 2\r\nok\r\nEND\r\n", c.cmd("get L\r\n", "END\r\n"));
}

}  // namespace
