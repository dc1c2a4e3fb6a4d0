// A private network for partition tests: a hub namespace holding a
// bridge, and one namespace per node joined to it by a veth pair, all
// created by the test (root only) and deleted by its destructor. Nodes
// get 10.77.0.<i+1>/24 inside their own namespace; the hub has
// 10.77.0.254 on its bridge, and the test's client sockets are made in
// the hub (setns on the calling thread for the socket() call only), so
// nothing is added to the machine's own network namespace.
//
// Faults, all silent drops as a real network's:
//   isolate(i) / reconnect(i)  the hub's end of node i's veth down / up
//                              (the test cannot reach node i meanwhile)
//   split(a, b) / heal()       an nftables bridge filter in the hub drops
//                              every frame between a port of group a and
//                              one of group b (the hub still reaches all)
#ifndef RINGCACHED_T_DAEMON_NETNS_UTIL_H
#define RINGCACHED_T_DAEMON_NETNS_UTIL_H

#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "daemon_util.h"
#include "harness.h"

namespace rc_ns {

inline std::string ip_path() {
  for (const char* p : {"/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"})
    if (access(p, X_OK) == 0) return p;
  return "";
}

inline std::string nft_path() {
  for (const char* p : {"/usr/sbin/nft", "/sbin/nft", "/usr/bin/nft"})
    if (access(p, X_OK) == 0) return p;
  return "";
}

// Runs a shell command quietly; whether it succeeded.
inline bool sh(const std::string& cmd) {
  return system((cmd + " >/dev/null 2>&1").c_str()) == 0;
}

class NetLab {
 public:
  // Why a lab cannot be built here ("" if it can).
  static std::string unavailable() {
    if (geteuid() != 0) return "network namespaces need root";
    if (ip_path().empty()) return "no ip(8) (iproute2)";
    if (nft_path().empty()) return "no nft(8) (nftables)";
    return "";
  }

  explicit NetLab(int nodes) : n_(nodes) {
    tag_ = "rc" + std::to_string(getpid() % 100000);
    std::string ip = ip_path(), hub = ns(-1);
    ok_ = sh(ip + " netns add " + hub) && sh(ip + " -n " + hub + " link set lo up") &&
          sh(ip + " -n " + hub + " link add br0 type bridge") &&
          sh(ip + " -n " + hub + " addr add 10.77.0.254/24 dev br0") &&
          sh(ip + " -n " + hub + " link set br0 up");
    for (int i = 0; ok_ && i < n_; i++) {
      std::string node = ns(i), port = "p" + std::to_string(i);
      ok_ = sh(ip + " netns add " + node) && sh(ip + " -n " + node + " link set lo up") &&
            sh(ip + " -n " + hub + " link add " + port + " type veth peer name eth0 netns " + node) &&
            sh(ip + " -n " + hub + " link set " + port + " master br0") &&
            sh(ip + " -n " + hub + " link set " + port + " up") &&
            sh(ip + " -n " + node + " addr add " + addr(i) + "/24 dev eth0") &&
            sh(ip + " -n " + node + " link set eth0 up");
    }
    std::string path = "/var/run/netns/" + hub;
    hub_fd_ = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    home_fd_ = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    ok_ = ok_ && hub_fd_ >= 0 && home_fd_ >= 0;
  }
  ~NetLab() {
    if (hub_fd_ >= 0) close(hub_fd_);
    if (home_fd_ >= 0) close(home_fd_);
    std::string ip = ip_path();
    for (int i = 0; i < n_; i++) sh(ip + " netns del " + ns(i));
    sh(ip + " netns del " + ns(-1));
  }
  NetLab(const NetLab&) = delete;
  NetLab& operator=(const NetLab&) = delete;

  bool ok() const { return ok_; }
  // Node i's namespace (-1: the hub) and address.
  std::string ns(int i) const { return tag_ + (i < 0 ? std::string("h") : "n" + std::to_string(i)); }
  static std::string addr(int i) { return "10.77.0." + std::to_string(i + 1); }

  // A TCP connection to node i's port, made from the hub; -1 if none.
  int connect(int i, int port, int timeout_ms = 1000) const {
    if (setns(hub_fd_, CLONE_NEWNET) != 0) return -1;
    int fd = rc_dt::connect_tcp(addr(i), port, timeout_ms);
    if (setns(home_fd_, CLONE_NEWNET) != 0) {
      fprintf(stderr, "netns: cannot return to the test's namespace\n");
      abort();
    }
    return fd;
  }

  bool isolate(int i) { return sh(ip_path() + " -n " + ns(-1) + " link set p" + std::to_string(i) + " down"); }
  bool reconnect(int i) { return sh(ip_path() + " -n " + ns(-1) + " link set p" + std::to_string(i) + " up"); }

  bool split(const std::vector<int>& a, const std::vector<int>& b) {
    std::string nft = "ip netns exec " + ns(-1) + " " + nft_path();
    auto ports = [](const std::vector<int>& g) {
      std::string s = "{ ";
      for (size_t k = 0; k < g.size(); k++) s += (k ? ", p" : "p") + std::to_string(g[k]);
      return s + " }";
    };
    return sh(nft + " add table bridge part") &&
           sh(nft + " \"add chain bridge part cut { type filter hook forward priority 0 ; }\"") &&
           sh(nft + " \"add rule bridge part cut iifname " + ports(a) + " oifname " + ports(b) +
              " drop\"") &&
           sh(nft + " \"add rule bridge part cut iifname " + ports(b) + " oifname " + ports(a) +
              " drop\"");
  }
  bool heal() {
    return sh("ip netns exec " + ns(-1) + " " + nft_path() + " delete table bridge part");
  }

  // Node i's daemon: ringcached inside its namespace on its address,
  // port 11211 (gossip 7946), joining node 0.
  std::unique_ptr<rc_dt::Spawned> start(int i, const std::vector<std::string>& extra) const {
    std::vector<std::string> argv = {ip_path(), "netns", "exec", ns(i), rc_test::ringcached_path(),
                                     "-l", addr(i), "-p", "11211", "-U", "0", "--gossip-port", "7946",
                                     "--node-name", "pn" + std::to_string(i)};
    if (i > 0) argv.insert(argv.end(), {"--join", addr(0) + ":7946"});
    if (geteuid() == 0) argv.insert(argv.end(), {"-u", "root"});
    argv.insert(argv.end(), extra.begin(), extra.end());
    return std::unique_ptr<rc_dt::Spawned>(new rc_dt::Spawned(argv));
  }

 private:
  int n_;
  std::string tag_;
  bool ok_ = false;
  int hub_fd_ = -1, home_fd_ = -1;
};

}  // namespace rc_ns

#endif  // RINGCACHED_T_DAEMON_NETNS_UTIL_H
