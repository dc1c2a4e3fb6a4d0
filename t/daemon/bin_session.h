// A binary-protocol conversation with one daemon, recorded as a normalized
// transcript, and the differential runner that compares memcached's
// transcript with ringcached's.  Shared by binary_test and auth_test.
#ifndef RINGCACHED_T_DAEMON_BIN_SESSION_H
#define RINGCACHED_T_DAEMON_BIN_SESSION_H

#include <stdio.h>

#include <functional>
#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "bin_util.h"
#include "daemon_util.h"
#include "harness.h"

namespace rc_bin {

inline constexpr uint32_t kMarker = 0xfeedf00d;  // opaque of our NOOP barrier

// One connection to one daemon, writing a normalized transcript.
class Session {
 public:
  explicit Session(int port) : c_(port) {}

  // Sends bytes plus a NOOP barrier and records every answer before it.
  void exchange(const std::string& bytes) {
    ASSERT_TRUE(c_.send(bytes + encode(Req{OP_NOOP, "", "", "", 0, kMarker})));
    std::string buf;
    long long deadline = rc_test::now_ms() + 10000;
    for (;;) {
      std::string more = c_.recv_idle(20, 1000);
      if (more.empty() && (c_.eof() || rc_test::now_ms() > deadline)) {
        note("<timeout or close; partial " + rc_test::escape_bytes(buf) + ">");
        return;
      }
      buf += more;
      std::vector<Resp> rs;
      size_t used = decode(buf, &rs);
      for (const Resp& r : rs) {
        if (r.op == OP_NOOP && r.opaque == kMarker) {
          if (used != buf.size()) note("<bytes after barrier>");
          return;
        }
        record(r);
      }
      buf.erase(0, used);
    }
  }

  // Sends bytes and records what comes back until the server goes quiet,
  // and whether it closed the connection.
  void exchange_raw(const std::string& bytes, int idle_ms = 150) {
    ASSERT_TRUE(c_.send(bytes));
    std::string buf = c_.recv_idle(idle_ms, 3000);
    std::vector<Resp> rs;
    size_t used = decode(buf, &rs);
    for (const Resp& r : rs) record(r);
    if (used != buf.size()) note("<junk " + rc_test::escape_bytes(buf.substr(used)) + ">");
    if (c_.peer_closed(idle_ms)) note("<closed>");
  }

  uint64_t last_cas() const { return last_cas_; }
  const std::string& transcript() const { return out_; }
  const std::vector<Resp>& responses() const { return all_; }

 private:
  void note(const std::string& s) { out_ += s + "\n"; }

  void record(const Resp& r) {
    all_.push_back(r);
    std::string cas = "0";
    if (r.cas != 0) {
      auto it = cas_ids_.find(r.cas);
      if (it == cas_ids_.end()) it = cas_ids_.emplace(r.cas, cas_ids_.size() + 1).first;
      cas = "C" + std::to_string(it->second);
      last_cas_ = r.cas;
    }
    std::string val = r.val;
    if (r.op == OP_VERSION && r.status == 0) val = "<version>";
    char head[96];
    snprintf(head, sizeof(head), "op=%02x st=%04x opq=%08x cas=%s ", r.op, r.status,
             r.opaque, cas.c_str());
    out_ += head + std::string("ext=") + rc_test::escape_bytes(r.ext) +
            " key=" + rc_test::escape_bytes(r.key) + " val=" + rc_test::escape_bytes(val) + "\n";
  }

  rc_test::Client c_;
  std::string out_;
  std::vector<Resp> all_;
  std::map<uint64_t, size_t> cas_ids_;
  uint64_t last_cas_ = 0;
};

using Scenario = std::function<void(Session&)>;

// Runs the scenario against memcached and ringcached started with args;
// the transcripts must match.  Returns ringcached's session responses.
inline std::vector<Resp> Differential(const std::vector<std::string>& args, const Scenario& scenario) {
  auto mc = rc_dt::start_memcached(args);
  auto rc = rc_dt::start_daemon(args);
  EXPECT_NE(mc, nullptr);
  EXPECT_NE(rc, nullptr);
  if (!mc || !rc) return {};
  Session want(mc->port()), got(rc->port());
  scenario(want);
  scenario(got);
  EXPECT_EQ(want.transcript(), got.transcript()) << "memcached:\n"
                                                 << want.transcript() << "ringcached:\n"
                                                 << got.transcript();
  return got.responses();
}

inline Req Get(uint8_t op, const std::string& key, uint32_t opaque = 0) {
  return Req{op, key, "", "", 0, opaque};
}
inline Req Store(uint8_t op, const std::string& key, const std::string& val, uint32_t flags = 0,
          uint32_t exp = 0, uint64_t cas = 0) {
  return Req{op, key, SetExtras(flags, exp), val, cas, 0};
}
inline Req Concat(uint8_t op, const std::string& key, const std::string& val, uint64_t cas = 0) {
  return Req{op, key, "", val, cas, 0};
}
inline Req Delta(uint8_t op, const std::string& key, uint64_t delta, uint64_t initial, uint32_t exp,
          uint64_t cas = 0) {
  return Req{op, key, IncrExtras(delta, initial, exp), "", cas, 0};
}
inline Req Touch(uint8_t op, const std::string& key, uint32_t exp) {
  return Req{op, key, U32(exp), "", 0, 0};
}

inline std::string All(std::initializer_list<Req> reqs) {
  std::string s;
  for (const Req& r : reqs) s += encode(r);
  return s;
}

}  // namespace rc_bin

#endif  // RINGCACHED_T_DAEMON_BIN_SESSION_H
