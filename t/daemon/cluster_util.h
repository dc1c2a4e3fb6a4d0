// Helpers for the suites that run several real nodes (cluster_test,
// cluster_ring_test, route_test, soak_test): gossip timings short enough
// for a test, waiting for a condition with a bound, and a set of nodes
// where node i > 0 joins through node 0.
#ifndef RC_T_DAEMON_CLUSTER_UTIL_H
#define RC_T_DAEMON_CLUSTER_UTIL_H

#include <dirent.h>
#include <stdio.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "daemon_util.h"
#include "harness.h"

namespace rc_ct {

// Probe every 100 ms: the smallest suspicion timeout is 4 * 100 ms =
// 400 ms, the largest 6 times that.
inline const std::vector<std::string>& fast_timings() {
  static const std::vector<std::string> t = {
      "--gossip-probe-interval", "100", "--gossip-probe-timeout", "50",
      "--gossip-interval",       "50",  "--gossip-push-pull-interval", "1000",
  };
  return t;
}

// Polls cond every 50 ms for at most timeout_ms; its last answer.
inline bool wait_for(const std::function<bool()>& cond, int timeout_ms) {
  long long end = rc_test::now_ms() + timeout_ms;
  while (rc_test::now_ms() < end) {
    if (cond()) return true;
    rc_test::sleep_ms(50);
  }
  return cond();
}

// After kill(pid, SIGSTOP): waits (<= 2 s) until every thread of pid is
// stopped, since kill returns before they are, and a worker running on
// another core could still answer a request sent meanwhile.
inline bool wait_stopped(int pid) {
  return wait_for(
      [pid] {
        std::string dir = "/proc/" + std::to_string(pid) + "/task";
        DIR* d = opendir(dir.c_str());
        if (d == nullptr) return false;
        bool all = true;
        while (struct dirent* e = readdir(d)) {
          if (e->d_name[0] == '.') continue;
          std::string stat = rc_test::read_file(dir + "/" + e->d_name + "/stat");
          size_t paren = stat.rfind(')');
          if (paren == std::string::npos || paren + 2 >= stat.size() || stat[paren + 2] != 'T')
            all = false;
        }
        closedir(d);
        return all;
      },
      2000);
}

// Members on port's ring when all of them are alive, else 0 (a suspect
// member is still on the ring).
inline size_t alive_on_ring(int port) {
  rc_test::Client c(port);
  std::string r = c.cmd("cluster ring\r\n", "END\r\n");
  size_t n = 0, alive = 0, at = 0;
  while ((at = r.find("RING ", at)) != std::string::npos) {
    n++;
    at++;
  }
  at = 0;
  while ((at = r.find(" alive\r\n", at)) != std::string::npos) {
    alive++;
    at++;
  }
  return alive == n ? n : 0;
}

// Every owner `cluster owner` lists for key, first owner first.
inline std::vector<std::string> owners_of(int port, const std::string& key) {
  rc_test::Client c(port);
  std::string r = c.cmd("cluster owner " + key + "\r\n", "END\r\n");
  std::vector<std::string> out;
  size_t at = 0;
  while ((at = r.find("OWNER ", at)) != std::string::npos) {
    size_t sp = r.find(' ', at + 6);
    out.push_back(r.substr(at + 6, sp - at - 6));
    at = sp;
  }
  return out;
}

// A `stats cluster` figure of the node at port.
inline long long cluster_stat(int port, const std::string& name) {
  rc_test::Client c(port);
  return rc_dt::stat_num(rc_dt::stats(c, "cluster"), name);
}

inline std::string owner_of(int port, const std::string& key) {
  rc_test::Client c(port);
  std::string r = c.cmd("cluster owner " + key + "\r\n", "END\r\n");
  char addr[200] = "";
  sscanf(r.c_str(), "OWNER %199s", addr);
  return addr;
}

// n daemons named prefix0..; node i > 0 joins through node 0. args(i)
// adds each node's own options. The first `now` (default: all) start at
// once; start(i) starts (or restarts) node i later.
class Nodes {
 public:
  Nodes(int n, std::string prefix, std::function<std::vector<std::string>(int)> args, int now = -1)
      : prefix_(std::move(prefix)), args_(std::move(args)), gossip_(n), d_(n) {
    for (int i = 0; i < n; i++) gossip_[i] = rc_test::find_free_port();
    for (int i = 0; i < (now < 0 ? n : now); i++) start(i);
  }
  void start(int i) {
    std::vector<std::string> a = {"--node-name", prefix_ + std::to_string(i), "--gossip-port",
                                  std::to_string(gossip_[i])};
    a.insert(a.end(), fast_timings().begin(), fast_timings().end());
    if (i > 0) a.insert(a.end(), {"--join", "127.0.0.1:" + std::to_string(gossip_[0])});
    std::vector<std::string> own = args_(i);
    a.insert(a.end(), own.begin(), own.end());
    d_[i] = rc_dt::start_daemon(a);
  }
  rc_test::Daemon* node(int i) const { return d_[i].get(); }
  bool running(int i) const { return d_[i] != nullptr && !d_[i]->exited(); }
  int size() const { return (int)d_.size(); }
  int live() const {
    int n = 0;
    for (int i = 0; i < size(); i++) n += running(i);
    return n;
  }

 private:
  std::string prefix_;
  std::function<std::vector<std::string>(int)> args_;
  std::vector<int> gossip_;
  std::vector<std::unique_ptr<rc_test::Daemon>> d_;
};

}  // namespace rc_ct

#endif
