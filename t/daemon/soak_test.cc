// Sanitizer soak of the real daemon (issue 12, item 6).
//
// The unit suites run the cache, slabs and crawler under TSan, but the races
// a TSan soak of the whole daemon found (`stats reset` against counter
// updates, `stats conns` reading conn.state, udp_serve and connection
// state, SIGTERM under load) live between modules: in the workers, the
// stats code and shutdown.  This suite is the load that found them, small
// enough for `make check` and CI, long enough (RC_SOAK_SECONDS) for
// contrib/soak.sh:
//
//   Soak.EverythingAtOnce   one daemon (-t 4 -U port), threads at once:
//     text and binary get/set with 10 B .. 200 KB values in pipelined
//     batches and multi-gets; CAS (a counter kept by gets/cas, and two
//     clients racing cas with one token); incr and ma on shared counters;
//     meta mg/ms/md/ma with flags; stats, stats conns, stats reset, slabs,
//     items, settings; UDP get/set from several sockets; connection churn
//     (request then close, and RST in the middle of a reply or a value); a
//     get-after-set checker on its own keys.  Then: every answer was right,
//     the counters equal the successful increments, the daemon answers,
//     SIGTERM under load exits 0 within a bound, the log is clean.
//   Soak.ClusterWithKillNine  three nodes with 100 ms gossip probes under
//     light load, routing keys to their owners; a non-seed node is
//     kill -9'ed and restarted (on another client port) every duration/3;
//     the survivors keep answering correctly (a dead owner's keys as from
//     a dead server only while it is down and for 2 s after its restart),
//     the restarted node rejoins, SIGTERM exits 0, and no log has a
//     sanitizer report.
//
// A sanitizer report in the daemon's log is a failure (with halt_on_error
// the daemon also dies, which is detected and reported with the log).  Run
// against a sanitizer build with RINGCACHED=build-tsan/src/ringcached and
// TSAN_OPTIONS=suppressions=t/tsan.supp:halt_on_error=1 (contrib/soak.sh).
//
// Environment: RC_SOAK_SECONDS (default 20) is the length of each test's
// load phase; the kill period and the phases' shares scale with it.
#include <arpa/inet.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <climits>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "bin_util.h"
#include "cluster_util.h"
#include "daemon_util.h"
#include "harness.h"

namespace {

using rc_test::Client;
using rc_test::Daemon;

const int kIoTimeoutMs = 20000;  // generous: TSan is 5-15x slower, 2 cores
// After a kill -9 and restart, how long survivors may still answer the
// victim's keys as from a dead owner: until gossip has put the restarted
// node (a new address) on their rings in place of the old one.
const int kSettleMs = 2000;
const size_t kMinValue = 10;
const size_t kMaxValue = 200 * 1024;

int SoakSeconds() {
  const char* e = getenv("RC_SOAK_SECONDS");
  int s = e ? atoi(e) : 0;
  return s > 0 ? s : 20;
}

// Collects failures from worker threads; the main thread reports them.
class Errors {
 public:
  void add(const std::string& e) {
    std::lock_guard<std::mutex> g(mu_);
    count_++;
    if (msgs_.size() < 25) msgs_.push_back(e);
  }
  int count() const {
    std::lock_guard<std::mutex> g(mu_);
    return count_;
  }
  std::string text() const {
    std::lock_guard<std::mutex> g(mu_);
    std::string s;
    for (auto& m : msgs_) s += "  " + m + "\n";
    if (count_ > (int)msgs_.size())
      s += "  ... and " + std::to_string(count_ - (int)msgs_.size()) + " more\n";
    return s;
  }

 private:
  mutable std::mutex mu_;
  int count_ = 0;
  std::vector<std::string> msgs_;
};

std::string Esc(const std::string& s, size_t n = 160) {
  return rc_test::escape_bytes(s.substr(0, n));
}

// ---------------------------------------------------------------- values
// A value names its key and a nonce, and the rest is filler derived from
// both, so a value of another key, a torn value or stray bytes are caught
// even on keys that other threads overwrite:
//   "<" key "|" nonce "|" length ">" filler...
// Values shorter than that header are the first bytes of a per-key pattern.
// The filler includes \r and \n on purpose.

uint64_t Mix(const std::string& s, uint64_t seed) {
  uint64_t h = 1469598103934665603ull ^ seed;
  for (unsigned char ch : s) h = (h ^ ch) * 1099511628211ull;
  return h;
}

std::string Filler(uint64_t h, size_t from, size_t to) {
  static const char alphabet[] =
      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789\r\n";
  std::string s;
  s.reserve(to - from);
  for (size_t i = from; i < to; i++) s += alphabet[(h + i * 0x9e3779b1u + (i >> 7)) % 64];
  return s;
}

std::string MakeValue(const std::string& key, uint64_t nonce, size_t len) {
  std::string head = "<" + key + "|" + std::to_string(nonce) + "|" + std::to_string(len) + ">";
  if (len < head.size()) return Filler(Mix(key, 0), 0, len);
  return head + Filler(Mix(key, nonce), head.size(), len);
}

// "" when v is a value MakeValue could have made for key, else why not.
std::string CheckValue(const std::string& key, const std::string& v) {
  std::string head = "<" + key + "|";
  if (v.compare(0, head.size(), head) != 0) {
    if (v == Filler(Mix(key, 0), 0, v.size())) return "";
    return "value of " + std::to_string(v.size()) + " bytes is not " + key + "'s: \"" + Esc(v, 60) +
           "\"";
  }
  unsigned long long nonce = strtoull(v.c_str() + head.size(), nullptr, 10);
  std::string want = MakeValue(key, nonce, v.size());
  if (v != want) return key + ": " + rc_dt::first_diff(want, v);
  return "";
}

// Sizes spread evenly on a log scale from 10 B to 200 KB: most values are
// small, a few per batch are large.
size_t RandomSize(rc_dt::Rng& r, size_t lo = kMinValue, size_t hi = kMaxValue) {
  double u = (double)(r.next() >> 11) / (double)(1ull << 53);
  double s = exp(log((double)lo) + u * (log((double)hi) - log((double)lo)));
  return std::min(hi, std::max(lo, (size_t)s));
}

// ---------------------------------------------------------------- text I/O

struct Item {
  std::string key;
  unsigned flags = 0;
  unsigned long long cas = 0;
  std::string data;
};

// Reads a get/gets response up to END.  False (and *err) when malformed.
bool ReadValues(Client& c, std::vector<Item>* out, std::string* err) {
  for (;;) {
    std::string line = c.recv_until("\r\n", kIoTimeoutMs);
    if (line == "END\r\n") return true;
    if (line.rfind("VALUE ", 0) != 0 || line.size() < 2 ||
        line.compare(line.size() - 2, 2, "\r\n") != 0) {
      *err = "unexpected line in get response: \"" + Esc(line) + "\"";
      return false;
    }
    Item it;
    char key[300];
    unsigned long long len = 0;
    int n = sscanf(line.c_str(), "VALUE %299s %u %llu %llu", key, &it.flags, &len, &it.cas);
    if (n < 3 || len > 4 * 1024 * 1024) {
      *err = "bad VALUE line: \"" + Esc(line) + "\"";
      return false;
    }
    it.key = key;
    std::string data = c.recv_n((size_t)len + 2, kIoTimeoutMs);
    if (data.size() != len + 2 || data.compare(len, 2, "\r\n") != 0) {
      *err = "value of " + it.key + " (" + std::to_string(len) + " bytes) cut short: got " +
             std::to_string(data.size()) + " bytes";
      return false;
    }
    data.resize(len);
    it.data.swap(data);
    out->push_back(std::move(it));
  }
}

std::string SetCmd(const std::string& verb, const std::string& key, const std::string& v,
                   unsigned flags = 0, unsigned long long cas = 0) {
  std::string s = verb + " " + key + " " + std::to_string(flags) + " 0 " + std::to_string(v.size());
  if (verb == "cas") s += " " + std::to_string(cas);
  return s + "\r\n" + v + "\r\n";
}

// ---------------------------------------------------------------- binary I/O

// Reads one binary response (header, then body).  False on timeout/EOF.
bool ReadBin(Client& c, rc_bin::Resp* r) {
  std::string h = c.recv_n(24, kIoTimeoutMs);
  if (h.size() != 24 || (uint8_t)h[0] != 0x81) return false;
  uint32_t blen = rc_bin::get32(h, 8);
  if (blen > 4 * 1024 * 1024) return false;
  std::string b = c.recv_n(blen, kIoTimeoutMs);
  if (b.size() != blen) return false;
  std::vector<rc_bin::Resp> out;
  if (rc_bin::decode(h + b, &out) != 24 + blen || out.size() != 1) return false;
  *r = out[0];
  return true;
}

// ---------------------------------------------------------------- meta I/O

// Reads a meta reply: the status line, and for VA the data block.
bool ReadMeta(Client& c, std::string* line, std::string* data, std::string* err) {
  *line = c.recv_until("\r\n", kIoTimeoutMs);
  data->clear();
  if (line->size() < 4 || line->compare(line->size() - 2, 2, "\r\n") != 0) {
    *err = "no meta reply line: \"" + Esc(*line) + "\"";
    return false;
  }
  line->resize(line->size() - 2);
  if (line->rfind("VA ", 0) == 0) {
    size_t len = strtoul(line->c_str() + 3, nullptr, 10);
    *data = c.recv_n(len + 2, kIoTimeoutMs);
    if (data->size() != len + 2 || data->compare(len, 2, "\r\n") != 0) {
      *err = "meta VA data cut short after \"" + Esc(*line) + "\"";
      return false;
    }
    data->resize(len);
  }
  return true;
}

// The value of return flag `f` in a meta status line ("" if absent).  The
// status word and VA's length are skipped: flags are letters.
std::string MetaFlag(const std::string& line, char f) {
  size_t at = line.find(' ');
  while (at != std::string::npos && at < line.size()) {
    at++;
    size_t sp = line.find(' ', at);
    std::string tok = line.substr(at, sp == std::string::npos ? std::string::npos : sp - at);
    if (!tok.empty() && tok[0] == f) return tok.substr(1);
    at = sp;
  }
  return "";
}

// ---------------------------------------------------------------- UDP

class Udp {
 public:
  explicit Udp(int port) : port_(port) {
    fd_ = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    int size = 1 << 20;
    setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  }
  ~Udp() {
    if (fd_ >= 0) close(fd_);
  }
  Udp(const Udp&) = delete;
  Udp& operator=(const Udp&) = delete;

  // Sends payload in one frame with a fresh request id; returns the
  // reassembled reply, or false when no complete reply came in timeout_ms
  // (datagrams of older requests are skipped by id).
  bool Ask(const std::string& payload, std::string* reply, int timeout_ms = 2000) {
    uint16_t id = ++id_;
    std::string d(8, '\0');
    d[0] = (char)(id >> 8);
    d[1] = (char)id;
    d[5] = 1;  // seq 0, total 1, reserved 0
    d += payload;
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port_);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (sendto(fd_, d.data(), d.size(), 0, (sockaddr*)&a, sizeof a) != (ssize_t)d.size())
      return false;
    std::map<int, std::string> parts;
    int total = -1;
    long long deadline = rc_test::now_ms() + timeout_ms;
    while (total < 0 || (int)parts.size() < total) {
      int left = (int)(deadline - rc_test::now_ms());
      pollfd p{fd_, POLLIN, 0};
      if (left <= 0 || poll(&p, 1, left) != 1) return false;
      char buf[70000];
      ssize_t n = recv(fd_, buf, sizeof buf, 0);
      if (n < 8) continue;
      auto u16 = [&](int at) { return (int)((uint8_t)buf[at] << 8 | (uint8_t)buf[at + 1]); };
      if (u16(0) != id) continue;
      total = u16(4);
      parts[u16(2)] = std::string(buf + 8, (size_t)n - 8);
    }
    reply->clear();
    for (auto& kv : parts) *reply += kv.second;
    return true;
  }

 private:
  int fd_;
  int port_;
  uint16_t id_ = 0;
};

int FreeUdpPort() {
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, (sockaddr*)&a, sizeof a);
  socklen_t len = sizeof a;
  getsockname(fd, (sockaddr*)&a, &len);
  close(fd);
  return ntohs(a.sin_port);
}

// ---------------------------------------------------------------- logs

// The first sanitizer report in a daemon log, with some context ("" if
// clean).  Reports go to stderr, which the harness sends to the log.
std::string SanitizerReport(const std::string& log) {
  static const char* const kMarkers[] = {"ThreadSanitizer", "AddressSanitizer", "LeakSanitizer",
                                         "runtime error", "UndefinedBehaviorSanitizer"};
  size_t first = std::string::npos;
  for (const char* m : kMarkers) first = std::min(first, log.find(m));
  if (first == std::string::npos) return "";
  size_t from = log.rfind('\n', first > 200 ? first - 200 : 0);
  from = from == std::string::npos ? 0 : from;
  return log.substr(from, 12000);
}

// Whether a daemon is still running (reaps it if it died).
bool Alive(Daemon& d) { return !d.exited() && d.wait_exit(0) == -1; }

std::string DescribeStatus(int st) {
  if (st == -1) return "still running";
  if (WIFEXITED(st)) return "exit " + std::to_string(WEXITSTATUS(st));
  if (WIFSIGNALED(st)) return std::string("signal ") + strsignal(WTERMSIG(st));
  return "status " + std::to_string(st);
}

// ---------------------------------------------------------------- raw load
// Load for the SIGTERM phase and for nodes that get killed: plain
// blocking sockets with timeouts, which never fail the test by themselves
// (the daemon is expected to go away under them).

int RawConnect(int port) {
  int fd = rc_dt::connect_tcp("127.0.0.1", port, 1000);
  if (fd < 0) return -1;
  timeval tv{1, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  return fd;
}

bool RawSend(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    ssize_t w = send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
    if (w <= 0) return false;
    off += (size_t)w;
  }
  return true;
}

// Reads until `term` was seen or the socket failed; returns what was read.
std::string RawRecvUntil(int fd, const std::string& term, size_t max = 4 << 20) {
  std::string got;
  char buf[65536];
  while (got.size() < max) {
    ssize_t r = recv(fd, buf, sizeof buf, 0);
    if (r <= 0) break;
    got.append(buf, (size_t)r);
    if (got.size() >= term.size() &&
        got.find(term, got.size() > (size_t)r + term.size() ? got.size() - r - term.size() : 0) !=
            std::string::npos)
      break;
  }
  return got;
}

// Closes with RST instead of FIN: the daemon sees ECONNRESET mid-reply.
void AbortClose(int fd) {
  linger l{1, 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  close(fd);
}

// ================================================================ the soak

class SoakRun {
 public:
  SoakRun(int port, int udp_port, long long stop_at)
      : port_(port), udp_port_(udp_port), stop_at_(stop_at) {}

  bool running() const { return !stop_.load() && rc_test::now_ms() < stop_at_; }
  void stop() { stop_.store(true); }

  // --- text get/set load: pipelined sets of a batch, then one multi-get.
  void TextLoad(uint64_t seed) {
    rc_dt::Rng r(seed);
    Client c(port_);
    if (!c.ok()) return errors_.add("text load: no connection");
    uint64_t nonce = seed << 32;
    while (running()) {
      size_t n = 1 + r.below(8);
      std::vector<std::string> keys;
      std::string req;
      while (keys.size() < n) {
        std::string k = "ld:" + std::to_string(r.below(kLoadKeys));
        if (std::find(keys.begin(), keys.end(), k) != keys.end()) continue;
        keys.push_back(k);
        req += SetCmd("set", k, MakeValue(k, ++nonce, RandomSize(r)));
      }
      bool gets = r.below(2) == 0;
      req += gets ? "gets" : "get";
      for (auto& k : keys) req += " " + k;
      req += "\r\n";
      if (!c.send(req)) return errors_.add("text load: send failed");
      for (size_t i = 0; i < n; i++) {
        std::string line = c.recv_until("\r\n", kIoTimeoutMs);
        if (line != "STORED\r\n") return errors_.add("text load: set replied \"" + Esc(line) + "\"");
      }
      std::vector<Item> items;
      std::string err;
      if (!ReadValues(c, &items, &err)) return errors_.add("text load: " + err);
      // Every key was just stored and the cache is far from full: all come
      // back, in the order asked, each a whole value of its own key.
      if (items.size() != n) {
        errors_.add("text load: multi-get of " + std::to_string(n) + " fresh keys returned " +
                    std::to_string(items.size()));
        continue;
      }
      for (size_t i = 0; i < n; i++) {
        if (items[i].key != keys[i])
          errors_.add("text load: multi-get answer " + std::to_string(i) + " is " + items[i].key +
                      ", asked " + keys[i]);
        std::string e = CheckValue(keys[i], items[i].data);
        if (!e.empty()) errors_.add("text load: wrong value: " + e);
        if (gets && items[i].cas == 0) errors_.add("text load: gets without a cas token");
      }
      text_ops_ += n * 2;
    }
  }

  // --- binary load: SETQ a batch, GETKQ it (plus one absent key), NOOP.
  void BinaryLoad(uint64_t seed) {
    rc_dt::Rng r(seed);
    Client c(port_);
    if (!c.ok()) return errors_.add("binary load: no connection");
    uint64_t nonce = seed << 32;
    uint32_t opaque = 0;
    while (running()) {
      size_t n = 1 + r.below(8);
      std::vector<std::string> keys;
      std::string req;
      while (keys.size() < n) {
        std::string k = "ld:" + std::to_string(r.below(kLoadKeys));
        if (std::find(keys.begin(), keys.end(), k) != keys.end()) continue;
        keys.push_back(k);
        req += rc_bin::encode(rc_bin::Req(rc_bin::OP_SETQ, k, rc_bin::SetExtras(0, 0),
                                          MakeValue(k, ++nonce, RandomSize(r)), 0, ++opaque));
      }
      uint32_t first_get = opaque + 1;
      for (auto& k : keys) req += rc_bin::encode(rc_bin::Req(rc_bin::OP_GETKQ, k, "", "", 0, ++opaque));
      req += rc_bin::encode(rc_bin::Req(rc_bin::OP_GETKQ, "absent:" + std::to_string(seed), "", "",
                                        0, ++opaque));
      uint32_t noop = ++opaque;
      req += rc_bin::encode(rc_bin::Req(rc_bin::OP_NOOP, "", "", "", 0, noop));
      if (!c.send(req)) return errors_.add("binary load: send failed");
      size_t got = 0;
      for (;;) {
        rc_bin::Resp resp;
        if (!ReadBin(c, &resp)) return errors_.add("binary load: response cut short");
        if (resp.opaque == noop && resp.op == rc_bin::OP_NOOP) break;
        if (resp.op != rc_bin::OP_GETKQ || resp.status != rc_bin::ST_SUCCESS ||
            resp.opaque < first_get || resp.opaque >= first_get + n) {
          errors_.add("binary load: unexpected response op " + std::to_string(resp.op) +
                      " status " + std::to_string(resp.status) + " opaque " +
                      std::to_string(resp.opaque));
          continue;
        }
        const std::string& want_key = keys[resp.opaque - first_get];
        if (resp.key != want_key)
          errors_.add("binary load: GETKQ for " + want_key + " answered key " + Esc(resp.key));
        std::string e = CheckValue(want_key, resp.val);
        if (!e.empty()) errors_.add("binary load: wrong value: " + e);
        got++;
      }
      if (got != n)
        errors_.add("binary load: " + std::to_string(got) + " of " + std::to_string(n) +
                    " fresh keys found");
      bin_ops_ += n * 2;
    }
  }

  // --- CAS: threads keep one counter with gets + cas; each STORED is one
  // increment, so the final value counts the tokens accepted.  A token
  // accepted twice shows up as a final value below the count.
  void CasCounter() {
    Client c(port_);
    if (!c.ok()) return errors_.add("cas: no connection");
    while (running()) {
      if (!c.send("gets cas:ctr\r\n")) return errors_.add("cas: send failed");
      std::vector<Item> items;
      std::string err;
      if (!ReadValues(c, &items, &err)) return errors_.add("cas: " + err);
      if (items.size() != 1) return errors_.add("cas: cas:ctr is gone");
      unsigned long long v = strtoull(items[0].data.c_str(), nullptr, 10);
      std::string line = c.cmd(SetCmd("cas", "cas:ctr", std::to_string(v + 1), 0, items[0].cas));
      if (line == "STORED\r\n") {
        cas_wins_++;
      } else if (line != "EXISTS\r\n") {
        return errors_.add("cas: cas replied \"" + Esc(line) + "\"");
      }
    }
  }

  // --- CAS race: two connections send cas with the same token at once;
  // exactly one is STORED, and the value is the winner's.
  void CasRace() {
    Client a(port_), b(port_);
    if (!a.ok() || !b.ok()) return errors_.add("cas race: no connection");
    unsigned long long round = 0;
    while (running()) {
      std::string k = "race:" + std::to_string(round % 8);
      std::string line = a.cmd(SetCmd("set", k, "start"));
      if (line != "STORED\r\n") return errors_.add("cas race: set replied \"" + Esc(line) + "\"");
      a.send("gets " + k + "\r\n");
      std::vector<Item> items;
      std::string err;
      if (!ReadValues(a, &items, &err) || items.size() != 1)
        return errors_.add("cas race: gets " + k + " failed " + err);
      unsigned long long token = items[0].cas;
      std::string va = "a" + std::to_string(round), vb = "b" + std::to_string(round);
      if (!a.send(SetCmd("cas", k, va, 0, token)) || !b.send(SetCmd("cas", k, vb, 0, token)))
        return errors_.add("cas race: send failed");
      std::string ra = a.recv_until("\r\n", kIoTimeoutMs), rb = b.recv_until("\r\n", kIoTimeoutMs);
      bool wa = ra == "STORED\r\n", wb = rb == "STORED\r\n";
      if (wa == wb || (!wa && ra != "EXISTS\r\n") || (!wb && rb != "EXISTS\r\n")) {
        errors_.add("cas race on " + k + " token " + std::to_string(token) + ": replies \"" +
                    Esc(ra) + "\" and \"" + Esc(rb) + "\" (want one STORED, one EXISTS)");
      } else {
        b.send("gets " + k + "\r\n");
        items.clear();
        if (!ReadValues(b, &items, &err) || items.size() != 1)
          return errors_.add("cas race: gets after the race failed " + err);
        if (items[0].data != (wa ? va : vb))
          errors_.add("cas race on " + k + ": winner stored " + (wa ? va : vb) + ", value is " +
                      Esc(items[0].data));
        if (items[0].cas == token)
          errors_.add("cas race on " + k + ": token unchanged after a successful cas");
        cas_races_++;
      }
      round++;
    }
  }

  // --- incr on shared counters: pipelined text incr and meta ma.  The
  // replies of one connection to one counter strictly increase; at the
  // end each counter equals the number of successful replies.
  void Incr(uint64_t seed, bool meta) {
    rc_dt::Rng r(seed);
    Client c(port_);
    if (!c.ok()) return errors_.add("incr: no connection");
    unsigned long long last[kCounters] = {};
    while (running()) {
      std::string req;
      std::vector<int> which;
      for (int i = 0; i < 16; i++) {
        int j = (int)r.below(kCounters);
        which.push_back(j);
        req += (meta ? "ma ctr:" : "incr ctr:") + std::to_string(j) + (meta ? " v\r\n" : " 1\r\n");
      }
      if (!c.send(req)) return errors_.add("incr: send failed");
      for (int j : which) {
        unsigned long long v = 0;
        if (meta) {
          std::string line, data, err;
          if (!ReadMeta(c, &line, &data, &err)) return errors_.add("ma: " + err);
          if (line.rfind("VA ", 0) != 0) return errors_.add("ma replied \"" + Esc(line) + "\"");
          v = strtoull(data.c_str(), nullptr, 10);
        } else {
          std::string line = c.recv_until("\r\n", kIoTimeoutMs);
          if (line.empty() || !isdigit((unsigned char)line[0]))
            return errors_.add("incr replied \"" + Esc(line) + "\"");
          v = strtoull(line.c_str(), nullptr, 10);
        }
        if (v <= last[j])
          errors_.add("incr ctr:" + std::to_string(j) + " went from " + std::to_string(last[j]) +
                      " to " + std::to_string(v) + " on one connection");
        last[j] = v;
        incr_ok_[j]++;
      }
    }
  }

  // --- meta commands on own keys, with flags: ms (F, T, c) -> mg (v f c k
  // s O t) returns exactly that; ma with N/J/D; md q then mg misses.  Plus
  // mg k v on the shared load keys, checked for well-formed values.
  void Meta(uint64_t seed) {
    rc_dt::Rng r(seed);
    Client c(port_);
    if (!c.ok()) return errors_.add("meta: no connection");
    uint64_t nonce = seed << 32;
    unsigned long long round = 0;
    while (running()) {
      std::string k = "meta:" + std::to_string(r.below(32));
      std::string v = MakeValue(k, ++nonce, RandomSize(r, kMinValue, 64 * 1024));
      unsigned flags = (unsigned)r.below(1u << 31);
      std::string line, data, err;
      c.send("ms " + k + " " + std::to_string(v.size()) + " F" + std::to_string(flags) +
             " T0 c\r\n" + v + "\r\n");
      if (!ReadMeta(c, &line, &data, &err)) return errors_.add("ms: " + err);
      std::string cas = MetaFlag(line, 'c');
      if (line.rfind("HD", 0) != 0 || cas.empty())
        return errors_.add("ms " + k + " replied \"" + Esc(line) + "\"");
      c.send("mg " + k + " v f c k s O" + std::to_string(round) + " t\r\n");
      if (!ReadMeta(c, &line, &data, &err)) return errors_.add("mg: " + err);
      if (line.rfind("VA ", 0) != 0 || data != v || MetaFlag(line, 'f') != std::to_string(flags) ||
          MetaFlag(line, 'c') != cas || MetaFlag(line, 'k') != k ||
          MetaFlag(line, 's') != std::to_string(v.size()) ||
          MetaFlag(line, 'O') != std::to_string(round) || MetaFlag(line, 't') != "-1") {
        errors_.add("mg " + k + " after ms (F" + std::to_string(flags) + " c" + cas + ", " +
                    std::to_string(v.size()) + " bytes) replied \"" + Esc(line) + "\", " +
                    (data == v ? "same data" : rc_dt::first_diff(v, data)));
      }
      // ma: autovivify with J, then deltas; own key, so the values are exact.
      std::string ck = "mcnt:" + std::to_string(seed) + ":" + std::to_string(round);
      unsigned long long init = r.below(1000), d = 1 + r.below(50);
      c.send("ma " + ck + " N0 J" + std::to_string(init) + " v\r\nma " + ck + " D" +
             std::to_string(d) + " v\r\nma " + ck + " MD D1 v\r\n");
      unsigned long long want[3] = {init, init + d, init + d - 1};
      for (int i = 0; i < 3; i++) {
        if (!ReadMeta(c, &line, &data, &err)) return errors_.add("ma: " + err);
        if (line.rfind("VA ", 0) != 0 || data != std::to_string(want[i]))
          errors_.add("ma " + ck + " step " + std::to_string(i) + " replied \"" + Esc(line) +
                      "\" \"" + Esc(data) + "\", want " + std::to_string(want[i]));
      }
      // md quiet: success is silent, so only mn's MN comes back; then a miss.
      c.send("md " + ck + " q\r\nmn\r\nmg " + ck + " v\r\n");
      if (!ReadMeta(c, &line, &data, &err) || line != "MN")
        errors_.add("md q + mn replied \"" + Esc(line) + "\"");
      if (!ReadMeta(c, &line, &data, &err) || line != "EN")
        errors_.add("mg after md replied \"" + Esc(line) + "\"");
      // Shared keys, overwritten by the load threads: whole values only.
      std::string lk = "ld:" + std::to_string(r.below(kLoadKeys));
      c.send("mg " + lk + " k v\r\n");
      if (!ReadMeta(c, &line, &data, &err)) return errors_.add("mg: " + err);
      if (line.rfind("VA ", 0) == 0) {
        std::string e = CheckValue(lk, data);
        if (!e.empty()) errors_.add("mg on a load key: wrong value: " + e);
        if (MetaFlag(line, 'k') != lk) errors_.add("mg " + lk + " k returned \"" + Esc(line) + "\"");
      } else if (line != "EN" && line != "EN k" + lk) {  // k and O come back on a miss too
        errors_.add("mg " + lk + " replied \"" + Esc(line) + "\"");
      }
      meta_ops_ += 8;
      round++;
    }
  }

  // --- stats of every kind, including reset, against all of the above.
  void Stats() {
    Client c(port_);
    if (!c.ok()) return errors_.add("stats: no connection");
    static const char* const kGroups[] = {"", "conns", "reset", "slabs", "items", "settings"};
    unsigned long long i = 0;
    while (running()) {
      std::string g = kGroups[i++ % 6];
      std::string req = g.empty() ? "stats\r\n" : "stats " + g + "\r\n";
      std::string term = g == "reset" ? "RESET\r\n" : "END\r\n";
      std::string out = c.cmd(req, term);
      if (out.size() < term.size() || out.compare(out.size() - term.size(), term.size(), term) != 0)
        return errors_.add("\"" + Esc(req) + "\" replied \"" + Esc(out) + "\"");
      // Every line before the terminator is a STAT line.
      size_t at = 0;
      while (at < out.size() - term.size()) {
        size_t eol = out.find("\r\n", at);
        if (out.compare(at, 5, "STAT ") != 0) {
          errors_.add("\"" + Esc(req) + "\": line \"" + Esc(out.substr(at, eol - at)) + "\"");
          break;
        }
        at = eol + 2;
      }
      if (g == "" && out.find("STAT curr_connections ") == std::string::npos)
        errors_.add("stats without curr_connections");
      stats_ops_++;
    }
  }

  // --- UDP get-after-set on own keys, from several sockets.  A request
  // without an answer (a datagram lost) makes the key unknown until its
  // next confirmed set; a wrong answer is an error.
  void UdpClient(int id) {
    Udp u(udp_port_);
    rc_dt::Rng r(0x5eed + id);
    std::map<std::string, std::string> known;
    uint64_t nonce = (uint64_t)id << 40;
    while (running()) {
      std::string k = "udp:" + std::to_string(id) + ":" + std::to_string(r.below(16));
      std::string reply;
      udp_asked_++;
      if (r.below(2) == 0 || !known.count(k)) {
        std::string v = MakeValue(k, ++nonce, RandomSize(r, kMinValue, 3000));
        known.erase(k);
        if (!u.Ask(SetCmd("set", k, v), &reply)) continue;
        if (reply != "STORED\r\n") {
          errors_.add("udp set " + k + " replied \"" + Esc(reply) + "\"");
          continue;
        }
        known[k] = v;
      } else {
        if (!u.Ask("get " + k + "\r\n", &reply)) continue;
        std::string want = "VALUE " + k + " 0 " + std::to_string(known[k].size()) + "\r\n" +
                           known[k] + "\r\nEND\r\n";
        if (reply != want)
          errors_.add("udp get " + k + " after its set: " + rc_dt::first_diff(want, reply));
      }
      udp_answered_++;
    }
  }

  // --- connection churn: connect, one request, close; or close abruptly
  // (RST) in the middle of a large reply or in the middle of a value.
  void Churn(uint64_t seed) {
    rc_dt::Rng r(seed);
    while (running()) {
      int fd = RawConnect(port_);
      if (fd < 0) {
        errors_.add("churn: connect failed: " + std::string(strerror(errno)));
        rc_test::sleep_ms(50);
        continue;
      }
      switch (r.below(4)) {
        case 0: {  // a whole request and its reply, then FIN
          RawSend(fd, "version\r\n");
          std::string got = RawRecvUntil(fd, "\r\n");
          if (got.rfind("VERSION ", 0) != 0)
            errors_.add("churn: version replied \"" + Esc(got) + "\"");
          close(fd);
          break;
        }
        case 1: {  // a multi-get of large values, RST after the first bytes
          std::string req = "get";
          for (int i = 0; i < 16; i++) req += " ld:" + std::to_string(r.below(kLoadKeys));
          RawSend(fd, req + "\r\n");
          char buf[512];
          ssize_t n = recv(fd, buf, sizeof buf, 0);
          (void)n;
          AbortClose(fd);
          break;
        }
        case 2: {  // half a value, then RST
          std::string v = MakeValue("churn", 1, RandomSize(r, 1000, kMaxValue));
          RawSend(fd, "set churn:" + std::to_string(seed) + " 0 0 " + std::to_string(v.size()) +
                          "\r\n" + v.substr(0, v.size() / 2));
          AbortClose(fd);
          break;
        }
        default: {  // binary get, then close before reading
          RawSend(fd, rc_bin::encode(rc_bin::Req(rc_bin::OP_GETK, "ld:1")));
          close(fd);
          break;
        }
      }
      churn_ops_++;
    }
  }

  // --- get after set on own keys, through text, binary or meta, in any
  // combination: every get returns exactly the value just set.  (A
  // connection's protocol is fixed by its first byte: binary goes over a
  // connection of its own, text and meta share one.)
  void GetAfterSet(uint64_t seed) {
    rc_dt::Rng r(seed);
    Client tc(port_), bc(port_);
    if (!tc.ok() || !bc.ok()) return errors_.add("get-after-set: no connection");
    uint64_t nonce = seed << 32;
    while (running()) {
      std::string k = "gas:" + std::to_string(seed) + ":" + std::to_string(r.below(64));
      std::string v = MakeValue(k, ++nonce, RandomSize(r));
      unsigned flags = (unsigned)r.below(65536);
      int how_set = (int)r.below(3), how_get = (int)r.below(3);
      std::string line, data, err;
      if (how_set == 0) {
        line = tc.cmd(SetCmd("set", k, v, flags));
        if (line != "STORED\r\n") return errors_.add("gas: set replied \"" + Esc(line) + "\"");
      } else if (how_set == 1) {
        bc.send(rc_bin::encode(rc_bin::Req(rc_bin::OP_SET, k, rc_bin::SetExtras(flags, 0), v)));
        rc_bin::Resp resp;
        if (!ReadBin(bc, &resp) || resp.status != rc_bin::ST_SUCCESS)
          return errors_.add("gas: binary set failed, status " + std::to_string(resp.status));
      } else {
        tc.send("ms " + k + " " + std::to_string(v.size()) + " F" + std::to_string(flags) + "\r\n" +
               v + "\r\n");
        if (!ReadMeta(tc, &line, &data, &err) || line != "HD")
          return errors_.add("gas: ms replied \"" + Esc(line) + "\" " + err);
      }
      std::string got;
      unsigned got_flags = 0;
      bool found = false;
      if (how_get == 0) {
        tc.send("get " + k + "\r\n");
        std::vector<Item> items;
        if (!ReadValues(tc, &items, &err)) return errors_.add("gas: " + err);
        found = items.size() == 1 && items[0].key == k;
        if (found) {
          got = items[0].data;
          got_flags = items[0].flags;
        }
      } else if (how_get == 1) {
        bc.send(rc_bin::encode(rc_bin::Req(rc_bin::OP_GETK, k)));
        rc_bin::Resp resp;
        if (!ReadBin(bc, &resp)) return errors_.add("gas: binary get cut short");
        found = resp.status == rc_bin::ST_SUCCESS && resp.key == k && resp.ext.size() == 4;
        if (found) {
          got = resp.val;
          got_flags = rc_bin::get32(resp.ext, 0);
        }
      } else {
        tc.send("mg " + k + " v f\r\n");
        if (!ReadMeta(tc, &line, &data, &err)) return errors_.add("gas: " + err);
        found = line.rfind("VA ", 0) == 0;
        got = data;
        got_flags = (unsigned)strtoul(MetaFlag(line, 'f').c_str(), nullptr, 10);
      }
      static const char* const kHow[] = {"text", "binary", "meta"};
      std::string what = std::string(kHow[how_set]) + " set, " + kHow[how_get] + " get of " + k;
      if (!found) {
        errors_.add(what + ": missing right after its set");
      } else if (got != v || got_flags != flags) {
        errors_.add(what + ": flags " + std::to_string(got_flags) + " (want " +
                    std::to_string(flags) + "), " + rc_dt::first_diff(v, got));
      }
      gas_ops_++;
    }
  }

  static constexpr int kLoadKeys = 400;  // <= 80 MB even if all were 200 KB
  static constexpr int kCounters = 4;

  int port_, udp_port_;
  long long stop_at_;
  std::atomic<bool> stop_{false};
  Errors errors_;
  std::atomic<unsigned long long> text_ops_{0}, bin_ops_{0}, cas_wins_{0}, cas_races_{0},
      meta_ops_{0}, stats_ops_{0}, udp_asked_{0}, udp_answered_{0}, churn_ops_{0}, gas_ops_{0};
  std::atomic<unsigned long long> incr_ok_[kCounters] = {};
};

// Pipelined sets, multi-gets and reconnects until the daemon goes away or
// until `until`; counts nothing, checks nothing (the SIGTERM phase).
void BlindLoad(int port, uint64_t seed, long long until) {
  rc_dt::Rng r(seed);
  while (rc_test::now_ms() < until) {
    int fd = RawConnect(port);
    if (fd < 0) return;  // gone: the listener closed
    for (int i = 0; i < 20 && rc_test::now_ms() < until; i++) {
      std::string req;
      for (int j = 0; j < 4; j++) {
        std::string k = "ld:" + std::to_string(r.below(SoakRun::kLoadKeys));
        req += SetCmd("set", k, MakeValue(k, r.next(), RandomSize(r, kMinValue, 20000)));
      }
      req += "get ld:1 ld:2 ld:3 ld:4 ld:5\r\n";
      if (!RawSend(fd, req) || RawRecvUntil(fd, "END\r\n").empty()) break;
    }
    close(fd);
  }
}

TEST(Soak, EverythingAtOnce) {
  const int secs = SoakSeconds();
  const int udp_port = FreeUdpPort();
  auto d = rc_dt::start_daemon({"-t", "4", "-U", std::to_string(udp_port), "-m", "1024"});
  ASSERT_NE(d, nullptr);
  printf("soak: %s for %d s\n", d->command_line().c_str(), secs);

  // Shared counters and the CAS counter exist before the load starts.
  {
    Client c(d->port());
    ASSERT_TRUE(c.ok());
    for (int j = 0; j < SoakRun::kCounters; j++)
      ASSERT_EQ("STORED\r\n", c.cmd(SetCmd("set", "ctr:" + std::to_string(j), "0")));
    ASSERT_EQ("STORED\r\n", c.cmd(SetCmd("set", "cas:ctr", "0")));
  }

  long long t0 = rc_test::now_ms();
  SoakRun run(d->port(), udp_port, t0 + secs * 1000LL);
  std::vector<std::thread> th;
  for (int i = 0; i < 2; i++) th.emplace_back([&run, i] { run.TextLoad(100 + i); });
  th.emplace_back([&run] { run.BinaryLoad(200); });
  for (int i = 0; i < 3; i++) th.emplace_back([&run] { run.CasCounter(); });
  th.emplace_back([&run] { run.CasRace(); });
  for (int i = 0; i < 3; i++) th.emplace_back([&run, i] { run.Incr(300 + i, i == 2); });
  th.emplace_back([&run] { run.Meta(400); });
  th.emplace_back([&run] { run.Stats(); });
  for (int i = 0; i < 3; i++) th.emplace_back([&run, i] { run.UdpClient(i); });
  for (int i = 0; i < 2; i++) th.emplace_back([&run, i] { run.Churn(500 + i); });
  for (int i = 0; i < 2; i++) th.emplace_back([&run, i] { run.GetAfterSet(600 + i); });

  // Watch the daemon: with halt_on_error a sanitizer report kills it, and
  // then the load should stop at once rather than time out thread by thread.
  bool died = false;
  while (run.running()) {
    if (!Alive(*d)) {
      died = true;
      run.stop();
      break;
    }
    rc_test::sleep_ms(100);
  }
  for (auto& t : th) t.join();
  long long took = rc_test::now_ms() - t0;
  printf("soak: %lld ms: text %llu, binary %llu, cas wins %llu, cas races %llu, meta %llu, "
         "stats %llu, udp %llu/%llu answered, churn %llu, get-after-set %llu\n",
         took, run.text_ops_.load(), run.bin_ops_.load(), run.cas_wins_.load(),
         run.cas_races_.load(), run.meta_ops_.load(), run.stats_ops_.load(),
         run.udp_answered_.load(), run.udp_asked_.load(), run.churn_ops_.load(),
         run.gas_ops_.load());
  ASSERT_FALSE(died || !Alive(*d)) << "the daemon died under load ("
                                   << DescribeStatus(d->wait_exit(0)) << "); log:\n"
                                   << d->log().substr(0, 20000);
  EXPECT_EQ(0, run.errors_.count()) << "wrong answers under load:\n" << run.errors_.text();

  // Every kind of work got done (a thread that stopped at once would
  // otherwise pass silently).
  EXPECT_GT(run.text_ops_.load(), 0u);
  EXPECT_GT(run.bin_ops_.load(), 0u);
  EXPECT_GT(run.cas_wins_.load(), 0u);
  EXPECT_GT(run.cas_races_.load(), 0u);
  EXPECT_GT(run.meta_ops_.load(), 0u);
  EXPECT_GT(run.stats_ops_.load(), 0u);
  EXPECT_GT(run.churn_ops_.load(), 0u);
  EXPECT_GT(run.gas_ops_.load(), 0u);
  // Loopback UDP with one request in flight per socket loses (almost) none.
  EXPECT_GE(run.udp_answered_.load() * 10, run.udp_asked_.load() * 9)
      << run.udp_answered_.load() << " of " << run.udp_asked_.load() << " UDP requests answered";
  EXPECT_GT(run.udp_answered_.load(), 0u);

  // The daemon still answers, and the counters are exact.
  {
    Client c(d->port());
    ASSERT_TRUE(c.ok());
    EXPECT_EQ(0u, c.cmd("version\r\n").rfind("VERSION ", 0));
    for (int j = 0; j < SoakRun::kCounters; j++) {
      std::string k = "ctr:" + std::to_string(j);
      std::string want = "VALUE " + k + " 0 ";
      std::string n = std::to_string(run.incr_ok_[j].load());
      want += std::to_string(n.size()) + "\r\n" + n + "\r\nEND\r\n";
      EXPECT_EQ(want, c.cmd("get " + k + "\r\n", "END\r\n")) << "successful increments of " << k;
    }
    std::string n = std::to_string(run.cas_wins_.load());
    EXPECT_EQ("VALUE cas:ctr 0 " + std::to_string(n.size()) + "\r\n" + n + "\r\nEND\r\n",
              c.cmd("get cas:ctr\r\n", "END\r\n"))
        << "accepted cas tokens";
  }

  // SIGTERM under load: a clean exit, status 0, within the bound.
  const int port = d->port();
  long long load_until = rc_test::now_ms() + 3000 + kIoTimeoutMs;
  std::vector<std::thread> blind;
  for (int i = 0; i < 4; i++)
    blind.emplace_back([port, i, load_until] { BlindLoad(port, 700 + i, load_until); });
  rc_test::sleep_ms(1000);
  bool alive_at_term = Alive(*d);
  long long t_term = rc_test::now_ms();
  d->signal(SIGTERM);
  const int kExitBoundMs = 15000;  // TSan's exit-time work included
  int st = d->wait_exit(kExitBoundMs);
  long long exit_ms = rc_test::now_ms() - t_term;
  for (auto& t : blind) t.join();
  ASSERT_TRUE(alive_at_term) << "died under the SIGTERM phase's load; log:\n"
                             << d->log().substr(0, 20000);
  printf("soak: SIGTERM under load: %s after %lld ms\n", DescribeStatus(st).c_str(), exit_ms);
  EXPECT_TRUE(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0)
      << "SIGTERM under load: " << DescribeStatus(st) << " after " << exit_ms << " ms";

  std::string report = SanitizerReport(d->log());
  EXPECT_TRUE(report.empty()) << "sanitizer report in " << d->log_path() << ":\n" << report;
}

// ================================================================ cluster

// Short timings as in cluster_test: probe every 100 ms.
const std::vector<std::string> kTimings = {
    "--gossip-probe-interval", "100", "--gossip-probe-timeout", "50",
    "--gossip-interval",       "50",  "--gossip-push-pull-interval", "1000",
};

struct Node {
  std::string name;
  int gossip_port = 0;
  std::unique_ptr<Daemon> d;
  std::atomic<int> port{0};  // client port; 0 while down
  std::atomic<int> gen{0};   // bumped (after port = 0) before each kill
};

std::unique_ptr<Daemon> StartNode(const Node& n, int seed_gossip_port) {
  std::vector<std::string> args = {"-t", "4", "--node-name", n.name, "--gossip-port",
                                   std::to_string(n.gossip_port)};
  args.insert(args.end(), kTimings.begin(), kTimings.end());
  if (seed_gossip_port) {
    args.push_back("--join");
    args.push_back("127.0.0.1:" + std::to_string(seed_gossip_port));
  }
  return rc_dt::start_daemon(args);
}

// name -> state as `cluster members` on port shows it.
std::map<std::string, std::string> View(int port) {
  std::map<std::string, std::string> v;
  rc_dt::FdConn c(rc_dt::connect_tcp("127.0.0.1", port, 1000));
  if (!c.ok()) return v;
  std::string out = c.cmd("cluster members\r\n", "END\r\n");
  size_t at = 0;
  while ((at = out.find("MEMBER ", at)) != std::string::npos) {
    size_t eol = out.find("\r\n", at);
    char name[128], addr[128], state[16];
    if (sscanf(out.substr(at, eol - at).c_str(), "MEMBER %127s %127s %15s", name, addr, state) == 3)
      v[name] = state;
    at = eol;
  }
  return v;
}

bool AllAlive(std::vector<Node>& ns) {
  for (auto& n : ns) {
    auto v = View(n.port.load());
    for (auto& m : ns)
      if (v[m.name] != "alive") return false;
  }
  return true;
}

// While a node is down and until its restart has settled, a survivor
// routes its keys to an owner that is gone: what a memcached client gets
// from a dead server is expected then (and only then), and counted.
struct Churn {
  std::atomic<long long> until_ms{0};  // unsettled until then (LLONG_MAX: down)
  std::atomic<unsigned long long> down_rounds{0}, settling_rounds{0};
  std::atomic<long long> restarted_ms{0};
  bool now(long long started_ms) const {
    long long u = until_ms.load();
    return started_ms <= u || rc_test::now_ms() <= u;
  }
};

// Light load on one node: get after set on own keys over one connection,
// plus stats and cluster members; the node routes keys to their owners.
// On a survivor any failure counts, except a dead owner's answer while
// another node is down (churn); on the node that gets killed, a broken
// connection is expected, and a new one (to the restarted process, whose
// cache is empty) starts afresh.
void NodeLoad(Node* n, bool victim, uint64_t seed, const std::atomic<bool>* stop, Errors* errors,
              std::atomic<unsigned long long>* ops, Churn* churn) {
  rc_dt::Rng r(seed);
  uint64_t nonce = seed << 32;
  while (!stop->load()) {
    // gen before port: a connection made under generation g fails only
    // after the kill that moved gen past g (the port is zeroed first).
    int gen = n->gen.load();
    int port = n->port.load();
    if (port == 0) {  // being restarted
      rc_test::sleep_ms(50);
      continue;
    }
    int fd = rc_dt::connect_tcp("127.0.0.1", port, 1000);
    if (fd < 0) {
      if (!victim || n->gen.load() == gen) errors->add(n->name + ": connect failed");
      rc_test::sleep_ms(100);
      continue;
    }
    rc_dt::FdConn c(fd);
    while (!stop->load()) {
      std::string k = "cl:" + std::to_string(seed) + ":" + std::to_string(r.below(32));
      std::string v = MakeValue(k, ++nonce, RandomSize(r, kMinValue, 20000));
      std::string want_get =
          "VALUE " + k + " 0 " + std::to_string(v.size()) + "\r\n" + v + "\r\nEND\r\n";
      long long started = rc_test::now_ms();
      std::string set = c.cmd(SetCmd("set", k, v), "\r\n", kIoTimeoutMs);
      std::string get =
          set == "STORED\r\n" ? c.cmd("get " + k + "\r\n", "END\r\n", kIoTimeoutMs) : "";
      std::string st = r.below(8) == 0 ? c.cmd("stats\r\n", "END\r\n", kIoTimeoutMs) : "END\r\n";
      bool ok = set == "STORED\r\n" && get == want_get && st.size() >= 5 &&
                st.compare(st.size() - 5, 5, "END\r\n") == 0;
      bool owner_gone = set == "SERVER_ERROR peer unavailable\r\n" ||
                        (set == "STORED\r\n" && get == "END\r\n");
      if (!ok && owner_gone && st.size() >= 5 && churn->now(started)) {
        (churn->until_ms.load() == LLONG_MAX ? churn->down_rounds : churn->settling_rounds)++;
        continue;
      }
      if (!ok) {
        if (victim && n->gen.load() != gen) break;  // killed under us: reconnect
        errors->add(n->name + " (" + std::to_string(rc_test::now_ms() - churn->restarted_ms.load()) +
                    " ms after the last restart): set \"" + Esc(set) + "\", then get: " +
                    rc_dt::first_diff(want_get, get) + ", stats ending \"" +
                    Esc(st.substr(st.size() > 20 ? st.size() - 20 : 0)) + "\"");
        break;
      }
      (*ops)++;
      rc_test::sleep_ms(2);  // light load
    }
  }
}

TEST(Soak, ClusterWithKillNine) {
  if (rc_dt::testing_memcached()) GTEST_SKIP() << "memcached has no cluster";
  const int secs = SoakSeconds();
  std::vector<Node> ns(3);
  for (int i = 0; i < 3; i++) {
    ns[i].name = "soak" + std::to_string(i);
    ns[i].gossip_port = rc_test::find_free_port();
    ns[i].d = StartNode(ns[i], i ? ns[0].gossip_port : 0);
    ASSERT_NE(ns[i].d, nullptr) << ns[i].name << " did not start";
    ns[i].port = ns[i].d->port();
  }
  ASSERT_TRUE(rc_ct::wait_for([&] { return AllAlive(ns); }, 15000)) << "three nodes never formed a cluster";

  std::atomic<bool> stop{false};
  Errors errors;
  std::atomic<unsigned long long> ops{0};
  Churn churn;
  std::vector<std::thread> th;
  for (int i = 0; i < 3; i++)
    for (int j = 0; j < 2; j++)
      th.emplace_back(
          [&, i, j] { NodeLoad(&ns[i], i == 2, 10 * i + j, &stop, &errors, &ops, &churn); });

  // kill -9 node 2 (not the seed) every secs/3 and start it again with the
  // same name and gossip port; its log up to the kill must be clean too.
  const int period_ms = std::max(2000, secs * 1000 / 3);
  long long end = rc_test::now_ms() + secs * 1000LL;
  int kills = 0;
  std::string victim_reports;
  bool survivor_died = false, restart_failed = false;
  while (rc_test::now_ms() + period_ms <= end + 500) {
    long long next = rc_test::now_ms() + period_ms;
    while (rc_test::now_ms() < next && !survivor_died) {
      for (int i = 0; i < 2; i++) survivor_died |= !Alive(*ns[i].d);
      rc_test::sleep_ms(100);
    }
    if (survivor_died) break;
    ns[2].port = 0;
    ns[2].gen++;
    churn.until_ms = LLONG_MAX;
    ns[2].d->signal(SIGKILL);
    ns[2].d->wait_exit(5000);
    std::string rep = SanitizerReport(ns[2].d->log());
    if (!rep.empty() && victim_reports.empty()) victim_reports = rep;
    ns[2].d = StartNode(ns[2], ns[0].gossip_port);
    if (!ns[2].d) {
      restart_failed = true;
      break;
    }
    ns[2].port = ns[2].d->port();
    churn.restarted_ms = rc_test::now_ms();
    churn.until_ms = rc_test::now_ms() + kSettleMs;
    kills++;
  }
  stop = true;
  for (auto& t : th) t.join();
  printf("cluster soak: %d kill -9 + restart, %llu get-after-set rounds; answered as by a dead "
         "owner: %llu while it was down, %llu after its restart\n",
         kills, ops.load(), churn.down_rounds.load(), churn.settling_rounds.load());
  ASSERT_FALSE(restart_failed) << "restart " << kills + 1 << " of " << ns[2].name << " failed";

  for (int i = 0; i < 2; i++)
    ASSERT_TRUE(Alive(*ns[i].d)) << ns[i].name << " died (" << DescribeStatus(ns[i].d->wait_exit(0))
                                 << "); log:\n"
                                 << ns[i].d->log().substr(0, 20000);
  EXPECT_GE(kills, 2);
  EXPECT_GT(ops.load(), 0u);
  EXPECT_EQ(0, errors.count()) << errors.text();
  // The restarted node is back in everyone's view, and everyone answers.
  EXPECT_TRUE(rc_ct::wait_for([&] { return AllAlive(ns); }, 15000)) << "the cluster did not heal";
  for (auto& n : ns) {
    rc_dt::FdConn c(rc_dt::connect_tcp("127.0.0.1", n.port.load(), 1000));
    EXPECT_EQ(0u, c.cmd("version\r\n").rfind("VERSION ", 0)) << n.name;
  }
  // SIGTERM: each survivor leaves (gossip waits <= 2 s) and exits 0.
  for (int i = 0; i < 2; i++) {
    ns[i].d->signal(SIGTERM);
    int st = ns[i].d->wait_exit(15000);
    EXPECT_TRUE(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0)
        << ns[i].name << " after SIGTERM: " << DescribeStatus(st);
  }
  for (auto& n : ns) {
    std::string report = SanitizerReport(n.d->log());
    EXPECT_TRUE(report.empty()) << "sanitizer report in " << n.d->log_path() << ":\n" << report;
  }
  EXPECT_TRUE(victim_reports.empty()) << "sanitizer report in a killed " << ns[2].name << ":\n"
                                      << victim_reports;
}

}  // namespace
