// Small helpers shared by the daemon-level suites client_test.cc,
// concurrency_test.cc, robustness_test.cc and options_test.cc.
// Header-only on purpose: each suite builds from `X_test.cc harness.cc`.
//
// Builds on rc_test (harness.h); adds
//   - start_daemon(): Daemon::start that appends "-u root" when running as
//     root (ringcached, like memcached, refuses to run as root without -u;
//     the harness only adds it for binaries named "memcached"),
//   - run_program(): fork/exec a short-lived command with captured
//     stdout/stderr and a hard timeout (for the command-line tests),
//   - vmrss_kb(), stats(), raise_nofile() and a few string helpers.
#ifndef RINGCACHED_T_DAEMON_DAEMON_UTIL_H
#define RINGCACHED_T_DAEMON_DAEMON_UTIL_H

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "harness.h"

namespace rc_dt {

// True when the server under test ($RINGCACHED) is really memcached, i.e. the
// suite is being checked against the reference implementation.
inline bool testing_memcached() {
  std::string p = rc_test::ringcached_path();
  size_t slash = p.rfind('/');
  std::string base = slash == std::string::npos ? p : p.substr(slash + 1);
  return base.rfind("memcached", 0) == 0;
}

inline std::vector<std::string> with_user(std::vector<std::string> args) {
  if (geteuid() != 0) return args;
  for (const auto& a : args)
    if (a == "-u" || a.rfind("--user", 0) == 0) return args;
  args.push_back("-u");
  args.push_back("root");
  return args;
}

// Starts the server under test ($RINGCACHED) on 127.0.0.1 with a free port.
inline std::unique_ptr<rc_test::Daemon> start_daemon(const std::vector<std::string>& args = {}) {
  return rc_test::Daemon::start(rc_test::ringcached_path(), with_user(args));
}

// Starts the reference memcached ($MEMCACHED).
inline std::unique_ptr<rc_test::Daemon> start_memcached(const std::vector<std::string>& args = {}) {
  return rc_test::Daemon::start(rc_test::memcached_path(), with_user(args));
}

// VmRSS of a process in KiB (-1 if unreadable).
inline long vmrss_kb(pid_t pid) {
  std::string s = rc_test::read_file("/proc/" + std::to_string(pid) + "/status");
  size_t p = s.find("VmRSS:");
  if (p == std::string::npos) return -1;
  return strtol(s.c_str() + p + 6, nullptr, 10);
}

// Number of open file descriptors of a process (-1 if unknown).
inline int open_fds(pid_t pid) {
  std::string cmd = "ls /proc/" + std::to_string(pid) + "/fd 2>/dev/null | wc -l";
  FILE* f = popen(cmd.c_str(), "r");
  if (!f) return -1;
  int n = -1;
  if (fscanf(f, "%d", &n) != 1) n = -1;
  pclose(f);
  return n;
}

// "stats\r\n" on a connection; name -> value.  Empty map on failure.
inline std::map<std::string, std::string> stats(rc_test::Client& c, const std::string& sub = "") {
  std::map<std::string, std::string> out;
  std::string r = c.cmd(sub.empty() ? "stats\r\n" : "stats " + sub + "\r\n", "END\r\n");
  std::istringstream in(r);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.rfind("STAT ", 0) != 0) continue;
    size_t sp = line.find(' ', 5);
    if (sp == std::string::npos) continue;
    out[line.substr(5, sp - 5)] = line.substr(sp + 1);
  }
  return out;
}

inline long long stat_num(const std::map<std::string, std::string>& st, const std::string& k) {
  auto it = st.find(k);
  return it == st.end() ? -1 : strtoll(it->second.c_str(), nullptr, 10);
}

// Raises RLIMIT_NOFILE (soft) towards want, bounded by the hard limit.
// Returns the resulting soft limit.
inline long raise_nofile(long want) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return -1;
  if ((long)rl.rlim_cur < want) {
    rlim_t target = (rlim_t)want;
    if (rl.rlim_max != RLIM_INFINITY && target > rl.rlim_max) target = rl.rlim_max;
    rl.rlim_cur = target;
    setrlimit(RLIMIT_NOFILE, &rl);
    getrlimit(RLIMIT_NOFILE, &rl);
  }
  return (long)rl.rlim_cur;
}

// Result of a short-lived program run.
struct RunResult {
  int status = -1;        // raw waitpid status (-1 if it could not be run)
  bool timed_out = false; // killed after the timeout
  std::string out, err;
  bool exited_ok() const { return !timed_out && status >= 0 && WIFEXITED(status); }
  int exit_code() const { return exited_ok() ? WEXITSTATUS(status) : -1; }
  std::string describe() const {
    std::ostringstream s;
    if (timed_out) s << "TIMED OUT; ";
    else if (status >= 0 && WIFEXITED(status)) s << "exit " << WEXITSTATUS(status) << "; ";
    else if (status >= 0 && WIFSIGNALED(status)) s << "signal " << WTERMSIG(status) << "; ";
    s << "stdout=\"" << rc_test::escape_bytes(out.substr(0, 2000)) << "\" stderr=\""
      << rc_test::escape_bytes(err.substr(0, 2000)) << "\"";
    return s.str();
  }
};

// Runs argv (argv[0] is the path) with stdin=/dev/null, capturing stdout and
// stderr, killing it (SIGKILL, its whole process group) after timeout_ms.
inline RunResult run_program(const std::vector<std::string>& argv, int timeout_ms = 5000) {
  RunResult res;
  int po[2], pe[2];
  if (pipe2(po, O_CLOEXEC) != 0) return res;
  if (pipe2(pe, O_CLOEXEC) != 0) {
    ::close(po[0]);
    ::close(po[1]);
    return res;
  }
  std::vector<char*> av;
  for (const auto& a : argv) av.push_back(const_cast<char*>(a.c_str()));
  av.push_back(nullptr);
  pid_t parent = getpid();
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  if (pid < 0) return res;
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(126);
    setpgid(0, 0);
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, 0);
    dup2(po[1], 1);
    dup2(pe[1], 2);
    ::signal(SIGPIPE, SIG_DFL);
    execv(av[0], av.data());
    _exit(127);
  }
  ::close(po[1]);
  ::close(pe[1]);
  long long deadline = rc_test::now_ms() + timeout_ms;
  bool open_o = true, open_e = true;
  while (open_o || open_e) {
    long long left = deadline - rc_test::now_ms();
    if (left <= 0) break;
    struct pollfd p[2] = {{open_o ? po[0] : -1, POLLIN, 0}, {open_e ? pe[0] : -1, POLLIN, 0}};
    int n = poll(p, 2, (int)left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    char buf[4096];
    for (int i = 0; i < 2; i++) {
      if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t r = read(p[i].fd, buf, sizeof buf);
      if (r > 0) {
        (i == 0 ? res.out : res.err).append(buf, (size_t)r);
      } else if (r == 0 || (errno != EINTR && errno != EAGAIN)) {
        (i == 0 ? open_o : open_e) = false;
      }
    }
  }
  ::close(po[0]);
  ::close(pe[0]);
  // Both pipes closed (or the deadline passed): reap, with the time left.
  for (;;) {
    int st = 0;
    pid_t r = waitpid(pid, &st, WNOHANG);
    if (r == pid) {
      res.status = st;
      break;
    }
    if (r < 0 && errno != EINTR) break;
    if (rc_test::now_ms() >= deadline) {
      res.timed_out = true;
      kill(-pid, SIGKILL);
      kill(pid, SIGKILL);
      while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
      }
      res.status = st;
      break;
    }
    rc_test::sleep_ms(5);
  }
  return res;
}

// Deterministic pseudo-random generator (xorshift64*), so failures reproduce.
struct Rng {
  uint64_t s;
  explicit Rng(uint64_t seed) : s(seed ? seed : 0x9e3779b97f4a7c15ull) {}
  uint64_t next() {
    s ^= s >> 12;
    s ^= s << 25;
    s ^= s >> 27;
    return s * 2685821657736338717ull;
  }
  uint64_t below(uint64_t n) { return n ? next() % n : 0; }
};

// Bytes 0..255 from a seed; includes \r, \n and NUL.
inline std::string random_bytes(size_t n, uint64_t seed) {
  Rng r(seed);
  std::string s(n, '\0');
  for (size_t i = 0; i < n; i++) s[i] = (char)(r.next() >> 56);
  return s;
}

// Describes the first difference between two byte strings (for failures on
// large values, where printing both is useless).
inline std::string first_diff(const std::string& want, const std::string& got) {
  if (want == got) return "identical";
  std::ostringstream s;
  size_t i = 0;
  while (i < want.size() && i < got.size() && want[i] == got[i]) i++;
  s << "sizes want=" << want.size() << " got=" << got.size() << ", first difference at byte " << i;
  size_t from = i >= 16 ? i - 16 : 0;
  s << "; want[" << from << "..]=\"" << rc_test::escape_bytes(want.substr(from, 48)) << "\"";
  if (from < got.size())
    s << " got[" << from << "..]=\"" << rc_test::escape_bytes(got.substr(from, 48)) << "\"";
  return s.str();
}

}  // namespace rc_dt

#endif  // RINGCACHED_T_DAEMON_DAEMON_UTIL_H
