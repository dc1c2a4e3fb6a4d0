// Daemon-level concurrency tests: several client threads, each with its own
// connection, hammer overlapping keys of one ringcached for a bounded time.
//
// Build:
//   g++ -std=gnu++17 -O1 -pthread -Wall -Wextra -Werror -I t/daemon
//     t/daemon/concurrency_test.cc t/daemon/harness.cc
//     $(pkg-config --cflags --libs gtest_main libmemcached) -o concurrency_test
// Run:
//   RINGCACHED=build/src/ringcached ./concurrency_test
#include <stdlib.h>
#include <string.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "daemon_util.h"
#include "harness.h"

namespace {

using rc_test::Client;
using rc_test::Daemon;

const int kIoTimeoutMs = 15000;  // generous: the machine may be loaded

// Collects failures from worker threads; reported (a bounded number) by the
// main thread.
class Errors {
 public:
  void add(const std::string& e) {
    std::lock_guard<std::mutex> g(mu_);
    count_++;
    if (msgs_.size() < 20) msgs_.push_back(e);
  }
  int count() const {
    std::lock_guard<std::mutex> g(mu_);
    return count_;
  }
  std::string text() const {
    std::lock_guard<std::mutex> g(mu_);
    std::string s;
    for (auto& m : msgs_) s += "  " + m + "\n";
    if (count_ > (int)msgs_.size()) s += "  ... and " + std::to_string(count_ - msgs_.size()) + " more\n";
    return s;
  }

 private:
  mutable std::mutex mu_;
  int count_ = 0;
  std::vector<std::string> msgs_;
};

// One parsed retrieval response item.
struct Item {
  std::string key;
  unsigned flags = 0;
  unsigned long long cas = 0;
  std::string data;
};

// Reads a get/gets response up to END.  Returns false (and describes the
// problem in *err) on malformed or missing output.
bool read_values(Client& c, std::vector<Item>* out, std::string* err) {
  for (;;) {
    std::string line = c.recv_until("\r\n", kIoTimeoutMs);
    if (line == "END\r\n") return true;
    if (line.rfind("VALUE ", 0) != 0 || line.size() < 2 || line.substr(line.size() - 2) != "\r\n") {
      *err = "unexpected line in get response: \"" + rc_test::escape_bytes(line.substr(0, 200)) + "\"";
      return false;
    }
    Item it;
    char key[300];
    unsigned long long len = 0;
    int n = sscanf(line.c_str(), "VALUE %299s %u %llu %llu", key, &it.flags, &len, &it.cas);
    if (n < 3 || len > 4 * 1024 * 1024) {
      *err = "bad VALUE line: \"" + rc_test::escape_bytes(line.substr(0, 200)) + "\"";
      return false;
    }
    it.key = key;
    std::string data = c.recv_n((size_t)len + 2, kIoTimeoutMs);
    if (data.size() != len + 2 || data.substr(len) != "\r\n") {
      *err = "value of " + it.key + " (" + std::to_string(len) + " bytes) not followed by CRLF; got " +
             std::to_string(data.size()) + " bytes ending \"" +
             rc_test::escape_bytes(data.substr(data.size() > 20 ? data.size() - 20 : 0)) + "\"";
      return false;
    }
    data.resize(len);
    it.data.swap(data);
    out->push_back(std::move(it));
  }
}

// ---------------------------------------------------------------- values
// Self-validating values: a value is a sequence of segments, each of the form
//   "<" key "|" decimal total segment length "|" filler ">"
// where the filler bytes depend on the key and the position, so a value of
// another key, a truncated value or bytes from elsewhere are detected.

uint32_t key_hash(const std::string& k) {
  uint32_t h = 2166136261u;
  for (unsigned char ch : k) h = (h ^ ch) * 16777619u;
  return h;
}

std::string make_segment(const std::string& key, size_t len) {
  std::string head = "<" + key + "|";
  // The length field itself counts: find a consistent total length >= len.
  size_t total = std::max(len, head.size() + 8 + 2);
  std::string s = head + std::to_string(total) + "|";
  static const char alphabet[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789\r\n";
  uint32_t h = key_hash(key);
  while (s.size() < total - 1) s += alphabet[(h + s.size()) % 64];
  s += ">";
  return s;
}

// Empty string when valid, else a description.
std::string check_value(const std::string& key, const std::string& v) {
  if (v.empty()) return "";  // set with an empty value is never done; see callers
  size_t pos = 0;
  while (pos < v.size()) {
    std::string head = "<" + key + "|";
    if (v.compare(pos, head.size(), head) != 0)
      return "segment at " + std::to_string(pos) + " does not start with \"" + head + "\": \"" +
             rc_test::escape_bytes(v.substr(pos, 60)) + "\"";
    size_t bar = v.find('|', pos + head.size());
    if (bar == std::string::npos) return "no length at " + std::to_string(pos);
    size_t total = strtoul(v.c_str() + pos + head.size(), nullptr, 10);
    if (total == 0 || pos + total > v.size())
      return "segment at " + std::to_string(pos) + " claims " + std::to_string(total) +
             " bytes, value has " + std::to_string(v.size());
    std::string want = make_segment(key, total);
    if (want.size() != total || v.compare(pos, total, want) != 0)
      return "segment at " + std::to_string(pos) + " (" + std::to_string(total) +
             " bytes) corrupted: " + rc_dt::first_diff(want, v.substr(pos, total));
    pos += total;
  }
  return "";
}

class ConcurrencyTest : public ::testing::Test {
 public:
  const std::unique_ptr<Daemon>& daemon() const { return d_; }

 protected:
  void SetUp() override {
    // More worker threads than cores, to provoke real contention.
    d_ = rc_dt::start_daemon({"-t", "4", "-m", "256", "-c", "1024"});
    ASSERT_NE(d_, nullptr);
  }

  std::unique_ptr<Daemon> d_;

 public:
  // After the threads are done: the daemon still answers and its connection
  // count goes back down.
  void check_daemon_healthy(int connections_made) {
    Client c(d_->port());
    ASSERT_TRUE(c.ok());
    EXPECT_EQ("STORED\r\n", c.cmd("set health 0 0 2\r\nok\r\n"));
    EXPECT_EQ("VALUE health 0 2\r\nok\r\nEND\r\n", c.cmd("get health\r\n", "END\r\n"));
    long long curr = -1, total = -1;
    long long deadline = rc_test::now_ms() + 5000;
    do {
      auto st = rc_dt::stats(c);
      curr = rc_dt::stat_num(st, "curr_connections");
      total = rc_dt::stat_num(st, "total_connections");
      if (curr >= 1 && curr <= 4) break;
      rc_test::sleep_ms(50);
    } while (rc_test::now_ms() < deadline);
    // This connection (+ the listener in memcached's way of counting).
    EXPECT_GE(curr, 1);
    EXPECT_LE(curr, 4) << "closed connections are not accounted for";
    EXPECT_GE(total, connections_made);
    EXPECT_TRUE(d_->exited() == false && d_->wait_exit(0) == -1) << "daemon died";
  }
};

// N threads x M incr on one key: the final value is exactly N*M, and since
// every incr answers the new value, the answers are exactly 1..N*M once each.
TEST_F(ConcurrencyTest, IncrIsAtomic) {
  const int kThreads = 8, kPerThread = 2000, kBatch = 40;
  {
    Client c(d_->port());
    ASSERT_EQ("STORED\r\n", c.cmd("set ctr 0 0 1\r\n0\r\n"));
    ASSERT_EQ("STORED\r\n", c.cmd("set ctr2 0 0 5\r\n50000\r\n"));
  }
  Errors errs;
  std::vector<std::vector<unsigned long long>> seen(kThreads);
  std::vector<std::thread> th;
  for (int t = 0; t < kThreads; t++) {
    th.emplace_back([&, t] {
      Client c(d_->port());
      if (!c.ok()) return errs.add("connect failed");
      bool pipelined = (t % 2 == 0);
      int done = 0;
      while (done < kPerThread) {
        int n = pipelined ? std::min(kBatch, kPerThread - done) : 1;
        std::string req;
        for (int i = 0; i < n; i++) req += "incr ctr 1\r\n";
        // Noise on another key: incr/decr pairs that cancel out.
        req += (t % 3 == 0) ? "decr ctr2 7\r\n" : "incr ctr2 7\r\n";
        if (!c.send(req)) return errs.add("send failed");
        for (int i = 0; i < n; i++) {
          std::string line = c.recv_until("\r\n", kIoTimeoutMs);
          char* end = nullptr;
          unsigned long long v = strtoull(line.c_str(), &end, 10);
          if (line.size() < 3 || end != line.c_str() + line.size() - 2)
            return errs.add("bad incr answer \"" + rc_test::escape_bytes(line) + "\"");
          seen[t].push_back(v);
        }
        std::string line = c.recv_until("\r\n", kIoTimeoutMs);
        if (line.empty() || !isdigit((unsigned char)line[0]))
          return errs.add("bad incr/decr answer on ctr2 \"" + rc_test::escape_bytes(line) + "\"");
        done += n;
      }
    });
  }
  for (auto& x : th) x.join();
  ASSERT_EQ(0, errs.count()) << errs.text();

  Client c(d_->port());
  std::string total = std::to_string(kThreads * kPerThread);
  EXPECT_EQ("VALUE ctr 0 " + std::to_string(total.size()) + "\r\n" + total + "\r\nEND\r\n",
            c.cmd("get ctr\r\n", "END\r\n"));
  std::vector<unsigned long long> all;
  for (auto& v : seen) all.insert(all.end(), v.begin(), v.end());
  ASSERT_EQ((size_t)kThreads * kPerThread, all.size());
  std::sort(all.begin(), all.end());
  for (size_t i = 0; i < all.size(); i++) {
    if (all[i] != i + 1) {
      ADD_FAILURE() << "incr answers are not exactly 1.." << all.size() << ": position " << i
                    << " holds " << all[i] << " (a lost or duplicated increment)";
      break;
    }
  }
  // Within one connection the answers must increase strictly.
  for (int t = 0; t < kThreads; t++)
    for (size_t i = 1; i < seen[t].size(); i++)
      if (seen[t][i] <= seen[t][i - 1]) {
        ADD_FAILURE() << "thread " << t << " saw " << seen[t][i - 1] << " then " << seen[t][i];
        break;
      }
  // ctr2: threads 0,3,6 decremented (each clamps at 0 never: 50000 is enough)
  long long want2 = 50000;
  for (int t = 0; t < kThreads; t++) {
    int batches = (t % 2 == 0) ? (kPerThread + kBatch - 1) / kBatch : kPerThread;
    want2 += (t % 3 == 0 ? -7LL : 7LL) * batches;
  }
  std::string g = c.cmd("get ctr2\r\n", "END\r\n");
  ASSERT_EQ(0u, g.find("VALUE ctr2 0 ")) << rc_test::escape_bytes(g);
  size_t nl = g.find("\r\n");
  long long got2 = strtoll(g.c_str() + nl + 2, nullptr, 10);  // may be space padded
  EXPECT_EQ(want2, got2);
  check_daemon_healthy(kThreads + 1);
}

// gets + cas retry loops: no update is lost.
TEST_F(ConcurrencyTest, CasIncrementLosesNoUpdate) {
  const int kThreads = 6, kPerThread = 250;
  {
    Client c(d_->port());
    ASSERT_EQ("STORED\r\n", c.cmd("set casctr 0 0 1\r\n0\r\n"));
  }
  Errors errs;
  std::atomic<long> retries{0};
  std::vector<std::thread> th;
  long long deadline = rc_test::now_ms() + 30000;
  for (int t = 0; t < kThreads; t++) {
    th.emplace_back([&, t] {
      Client c(d_->port());
      if (!c.ok()) return errs.add("connect failed");
      for (int done = 0; done < kPerThread;) {
        if (rc_test::now_ms() > deadline) return errs.add("thread " + std::to_string(t) + " out of time");
        if (!c.send("gets casctr\r\n")) return errs.add("send failed");
        std::vector<Item> items;
        std::string err;
        if (!read_values(c, &items, &err)) return errs.add(err);
        if (items.size() != 1 || items[0].key != "casctr" || items[0].cas == 0)
          return errs.add("gets casctr returned " + std::to_string(items.size()) + " items");
        long long v = strtoll(items[0].data.c_str(), nullptr, 10);
        std::string nv = std::to_string(v + 1);
        std::string r = c.cmd("cas casctr 0 0 " + std::to_string(nv.size()) + " " +
                              std::to_string(items[0].cas) + "\r\n" + nv + "\r\n");
        if (r == "STORED\r\n") {
          done++;
        } else if (r == "EXISTS\r\n") {
          retries++;
        } else {
          return errs.add("cas answered \"" + rc_test::escape_bytes(r) + "\"");
        }
      }
    });
  }
  for (auto& x : th) x.join();
  ASSERT_EQ(0, errs.count()) << errs.text();
  Client c(d_->port());
  std::string want = std::to_string(kThreads * kPerThread);
  EXPECT_EQ("VALUE casctr 0 " + std::to_string(want.size()) + "\r\n" + want + "\r\nEND\r\n",
            c.cmd("get casctr\r\n", "END\r\n"));
  printf("[ info     ] %ld cas retries (EXISTS) for %d successful cas\n", retries.load(),
         kThreads * kPerThread);
  check_daemon_healthy(kThreads + 1);
}

// Mixed set/get/append/prepend/delete/multi-get on a small set of
// overlapping keys with self-validating values: a get never returns a
// corrupted, truncated or foreign value, or a malformed response.
void run_mixed(ConcurrencyTest* fx, int kKeys, int kRunMs, bool evicting) {
  const int kThreads = 6;
  const std::unique_ptr<Daemon>& d_ = fx->daemon();
  std::vector<std::string> keys;
  for (int i = 0; i < kKeys; i++) keys.push_back("mix:" + std::to_string(i) + (i % 2 ? "" : ":long-key-name"));
  Errors errs;
  std::atomic<long> ops{0}, hits{0}, misses{0}, bytes_read{0};
  std::atomic<int> connections{0};
  std::atomic<long long> max_lat_ms{0};
  long long stop_at = rc_test::now_ms() + kRunMs;
  std::vector<std::thread> th;
  for (int t = 0; t < kThreads; t++) {
    th.emplace_back([&, t] {
      rc_dt::Rng rng(1234 + t);
      std::unique_ptr<Client> c(new Client(d_->port()));
      connections++;
      while (rc_test::now_ms() < stop_at && errs.count() == 0) {
        if (!c->ok()) return errs.add("connect failed");
        // Occasionally reconnect (connection churn during the load).
        if (rng.below(200) == 0) {
          c.reset(new Client(d_->port()));
          connections++;
          continue;
        }
        const std::string& k = keys[rng.below(kKeys)];
        unsigned op = (unsigned)rng.below(100);
        long long op_start = rc_test::now_ms();
        size_t len;
        unsigned sz = (unsigned)rng.below(100);
        unsigned big_pct = evicting ? 10 : 1;
        if (sz < 70 - 3 * big_pct) len = 30 + rng.below(300);
        else if (sz < 95 - 2 * big_pct) len = 300 + rng.below(20000);
        else if (sz < 100 - big_pct) len = 20000 + rng.below(200000);
        else len = 500 * 1024 + rng.below(40 * 1024);  // crosses the 512 KB chunk size
        std::string what;
        if (op < 35) {  // set
          std::string v = make_segment(k, len);
          what = "set " + k;
          std::string r = c->cmd("set " + k + " 0 0 " + std::to_string(v.size()) + "\r\n" + v + "\r\n");
          // Under heavy eviction memcached itself occasionally answers
          // "SERVER_ERROR out of memory storing object" or "SERVER_ERROR Out
          // of memory during read" (this test is about corruption; running out
          // of memory is checked in robustness_test).
          if (r != "STORED\r\n" &&
              !(evicting && (r == "SERVER_ERROR out of memory storing object\r\n" ||
                             r == "SERVER_ERROR Out of memory during read\r\n")))
            return errs.add(what + " answered \"" + rc_test::escape_bytes(r) + "\"");
        } else if (op < 45 || (op >= 85 && op < 90)) {  // append / prepend
          const char* verb = op < 45 ? "append" : "prepend";
          std::string v = make_segment(k, std::min<size_t>(len, 5000));
          std::string r = c->cmd(std::string(verb) + " " + k + " 0 0 " + std::to_string(v.size()) + "\r\n" + v + "\r\n");
          // Too large after many appends is an acceptable outcome too.
          if (r != "STORED\r\n" && r != "NOT_STORED\r\n" &&
              r != "SERVER_ERROR object too large for cache\r\n" &&
              r != "SERVER_ERROR out of memory storing object\r\n" &&
              r != "SERVER_ERROR Out of memory during read\r\n")
            return errs.add(std::string(verb) + " " + k + " answered \"" + rc_test::escape_bytes(r) + "\"");
          if (r.rfind("SERVER_ERROR", 0) == 0) c->cmd("delete " + k + "\r\n");
        } else if (op == 52 && rng.below(40) == 0) {  // rarely: flush_all
          std::string r = c->cmd("flush_all\r\n");
          if (r != "OK\r\n") return errs.add("flush_all answered \"" + rc_test::escape_bytes(r) + "\"");
        } else if (op < 52) {  // delete
          std::string r = c->cmd("delete " + k + "\r\n");
          if (r != "DELETED\r\n" && r != "NOT_FOUND\r\n")
            return errs.add("delete " + k + " answered \"" + rc_test::escape_bytes(r) + "\"");
        } else {  // get / gets / multi-get
          std::vector<std::string> want_keys = {k};
          if (op >= 90) {
            for (int i = 0; i < 4; i++) want_keys.push_back(keys[rng.below(kKeys)]);
          }
          std::string req = (op % 2) ? "gets" : "get";
          for (auto& wk : want_keys) req += " " + wk;
          if (!c->send(req + "\r\n")) return errs.add("send failed");
          std::vector<Item> items;
          std::string err;
          if (!read_values(*c, &items, &err)) return errs.add(req + ": " + err);
          // Hits come back in request order (misses skipped).
          size_t wi = 0;
          for (auto& it : items) {
            while (wi < want_keys.size() && want_keys[wi] != it.key) wi++;
            if (wi == want_keys.size())
              return errs.add(req + ": unexpected or out-of-order key " + it.key);
            wi++;
            std::string bad = check_value(it.key, it.data);
            if (!bad.empty() || it.data.empty())
              return errs.add(req + ": value of " + it.key + " (" + std::to_string(it.data.size()) +
                              " bytes) invalid: " + (it.data.empty() ? "empty" : bad));
            bytes_read += (long)it.data.size();
            if ((op % 2) && it.cas == 0) return errs.add("gets without a CAS value");
          }
          hits += (long)items.size();
          misses += (long)(want_keys.size() - items.size());
        }
        long long lat = rc_test::now_ms() - op_start, prev = max_lat_ms.load();
        while (lat > prev && !max_lat_ms.compare_exchange_weak(prev, lat)) {
        }
        ops++;
      }
    });
  }
  for (auto& x : th) x.join();
  ASSERT_EQ(0, errs.count()) << errs.text();
  printf("[ info     ] %ld ops, %ld hits (%ld MB read), %ld misses, %d connections, slowest op %lld ms\n",
         ops.load(), hits.load(), bytes_read.load() >> 20, misses.load(), connections.load(), max_lat_ms.load());
  EXPECT_GT(ops.load(), 500);
  EXPECT_GT(hits.load(), evicting ? 10 : 50);
  // Every key holds a valid value or nothing.
  Client c(d_->port());
  std::string req = "get";
  for (auto& k : keys) req += " " + k;
  ASSERT_TRUE(c.send(req + "\r\n"));
  std::vector<Item> items;
  std::string err;
  ASSERT_TRUE(read_values(c, &items, &err)) << err;
  for (auto& it : items) EXPECT_EQ("", check_value(it.key, it.data)) << it.key;
  fx->check_daemon_healthy(connections.load() + 1);
}
TEST_F(ConcurrencyTest, MixedOpsNeverCorrupt) { run_mixed(this, 24, 2000, false); }

// The same with a small memory limit, so that items (also chunked ones
// over 512 KB) are evicted while other connections read them.
TEST_F(ConcurrencyTest, MixedOpsUnderEvictionNeverCorrupt) {
  d_.reset();
  d_ = rc_dt::start_daemon({"-t", "4", "-m", "8", "-c", "1024"});
  ASSERT_NE(d_, nullptr);
  run_mixed(this, 64, 1500, true);
  Client c(d_->port());
  auto st = rc_dt::stats(c);
  printf("[ info     ] evictions=%lld curr_items=%lld bytes=%lld\n", rc_dt::stat_num(st, "evictions"),
         rc_dt::stat_num(st, "curr_items"), rc_dt::stat_num(st, "bytes"));
  EXPECT_GT(rc_dt::stat_num(st, "evictions"), 0);
}

// Many short-lived connections opening and closing in parallel while others
// keep a set/get loop going; the daemon keeps serving, nothing leaks.
TEST_F(ConcurrencyTest, ConnectionChurn) {
  const int kChurners = 4, kWorkers = 2, kRunMs = 1200;
  Errors errs;
  std::atomic<int> made{0};
  std::atomic<long> ops{0};
  long long stop_at = rc_test::now_ms() + kRunMs;
  std::vector<std::thread> th;
  for (int t = 0; t < kChurners; t++) {
    th.emplace_back([&, t] {
      int i = 0;
      while (rc_test::now_ms() < stop_at && errs.count() == 0) {
        Client c(d_->port());
        made++;
        if (!c.ok()) return errs.add("connect failed");
        switch (i++ % 3) {
          case 0: {  // full request/response
            std::string r = c.cmd("version\r\n");
            if (r.rfind("VERSION ", 0) != 0) return errs.add("version answered \"" + rc_test::escape_bytes(r) + "\"");
            break;
          }
          case 1:  // close in the middle of a request
            c.send("set churn" + std::to_string(t) + " 0 0 100\r\nabc");
            break;
          default:  // close with a response still unread
            c.send("get churn0 churn1 churn2\r\nstats\r\n");
            break;
        }
      }
    });
  }
  for (int t = 0; t < kWorkers; t++) {
    th.emplace_back([&, t] {
      Client c(d_->port());
      made++;
      std::string k = "w" + std::to_string(t);
      for (int i = 0; rc_test::now_ms() < stop_at && errs.count() == 0; i++) {
        std::string v = make_segment(k, 40 + (i % 500));
        std::string r = c.cmd("set " + k + " 0 0 " + std::to_string(v.size()) + "\r\n" + v + "\r\nget " + k + "\r\n",
                              "END\r\n");
        std::string want = "STORED\r\nVALUE " + k + " 0 " + std::to_string(v.size()) + "\r\n" + v + "\r\nEND\r\n";
        if (r != want) return errs.add("worker: " + rc_dt::first_diff(want, r));
        ops++;
      }
    });
  }
  for (auto& x : th) x.join();
  ASSERT_EQ(0, errs.count()) << errs.text();
  printf("[ info     ] %d connections, %ld worker round trips\n", made.load(), ops.load());
  EXPECT_GT(ops.load(), 50);
  check_daemon_healthy(made.load());
}

}  // namespace
