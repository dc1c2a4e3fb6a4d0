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
//   - Spawned: a server started with an exact command line (fixed port,
//     unix socket, other -l addresses), killed and reaped by its destructor,
//   - connect_tcp()/connect_unix() and FdConn for sockets other than
//     127.0.0.1:port,
//   - kill_one(): kill(2) that refuses pid <= 1 (no process groups, no -1),
//   - vmrss_kb(), stats(), raise_nofile(), Rng and a few string helpers.
#ifndef RINGCACHED_T_DAEMON_DAEMON_UTIL_H
#define RINGCACHED_T_DAEMON_DAEMON_UTIL_H

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>
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

// kill(2) restricted to one real process that is not us: never a process
// group, never -1 ("every process"), never init.  Returns kill's result, or
// -1 with errno EINVAL for a refused pid.
inline int kill_one(pid_t pid, int sig) {
  if (pid <= 1 || pid == getpid()) {
    errno = EINVAL;
    return -1;
  }
  return kill(pid, sig);
}

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
  if (pid < 0) {
    for (int fd : {po[0], po[1], pe[0], pe[1]}) ::close(fd);
    return res;
  }
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
      kill_one(pid, SIGKILL);
      while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
      }
      res.status = st;
      break;
    }
    rc_test::sleep_ms(5);
  }
  return res;
}

// ------------------------------------------------------------ sockets

// Blocking connect to ip:port (IPv4), bounded by timeout_ms.  Returns a
// blocking fd or -1 (errno of the failure kept in *err if given).
inline int connect_tcp(const std::string& ip, int port, int timeout_ms = 3000, int* err = nullptr) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return -1;
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_port = htons((uint16_t)port);
  if (inet_pton(AF_INET, ip.c_str(), &sa.sin_addr) != 1) {
    ::close(fd);
    return -1;
  }
  int rc = connect(fd, (struct sockaddr*)&sa, sizeof sa);
  int e = rc == 0 ? 0 : errno;
  if (rc != 0 && e == EINPROGRESS) {
    struct pollfd p = {fd, POLLOUT, 0};
    int n;
    do n = poll(&p, 1, timeout_ms); while (n < 0 && errno == EINTR);
    socklen_t len = sizeof e;
    if (n <= 0) e = ETIMEDOUT;
    else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len) != 0) e = errno;
  }
  if (err) *err = e;
  if (e != 0) {
    ::close(fd);
    return -1;
  }
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  return fd;
}

inline int connect_unix(const std::string& path) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  struct sockaddr_un sa;
  memset(&sa, 0, sizeof sa);
  sa.sun_family = AF_UNIX;
  if (path.size() >= sizeof sa.sun_path) {
    ::close(fd);
    return -1;
  }
  memcpy(sa.sun_path, path.c_str(), path.size());
  if (connect(fd, (struct sockaddr*)&sa, sizeof sa) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Sends all of s on a connected socket without reading anything
// (<= timeout_ms); false on error or timeout.
inline bool send_all_fd(int fd, const std::string& s, int timeout_ms = 10000) {
  size_t off = 0;
  long long deadline = rc_test::now_ms() + timeout_ms;
  while (off < s.size()) {
    struct pollfd p = {fd, POLLOUT, 0};
    int left = (int)(deadline - rc_test::now_ms());
    if (left <= 0 || poll(&p, 1, left) <= 0) return false;
    ssize_t w = ::send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w > 0) off += (size_t)w;
    else if (w < 0 && errno != EAGAIN && errno != EINTR) return false;
  }
  return true;
}

// A minimal text-protocol connection over any connected stream fd (a unix
// socket, or TCP to an address other than 127.0.0.1).  All waits bounded.
class FdConn {
 public:
  explicit FdConn(int fd) : fd_(fd) {}
  ~FdConn() {
    if (fd_ >= 0) ::close(fd_);
  }
  FdConn(const FdConn&) = delete;
  FdConn& operator=(const FdConn&) = delete;
  bool ok() const { return fd_ >= 0; }
  bool send(const std::string& s, int timeout_ms = 10000) {
    return fd_ >= 0 && send_all_fd(fd_, s, timeout_ms);
  }
  std::string recv_until(const std::string& term, int timeout_ms = 5000) {
    long long deadline = rc_test::now_ms() + timeout_ms;
    for (;;) {
      size_t pos = buf_.find(term);
      if (pos != std::string::npos) {
        std::string out = buf_.substr(0, pos + term.size());
        buf_.erase(0, pos + term.size());
        return out;
      }
      int left = (int)(deadline - rc_test::now_ms());
      if (fd_ < 0 || eof_ || left <= 0) break;
      struct pollfd p = {fd_, POLLIN, 0};
      if (poll(&p, 1, left) <= 0) continue;
      char tmp[65536];
      ssize_t r = ::recv(fd_, tmp, sizeof tmp, MSG_DONTWAIT);
      if (r > 0) buf_.append(tmp, (size_t)r);
      else if (r == 0 || (errno != EAGAIN && errno != EINTR)) eof_ = true;
    }
    std::string out;
    out.swap(buf_);
    return out;
  }
  std::string cmd(const std::string& req, const std::string& term = "\r\n", int timeout_ms = 5000) {
    if (!send(req)) return recv_until(term, 200);
    return recv_until(term, timeout_ms);
  }

 private:
  int fd_;
  bool eof_ = false;
  std::string buf_;
};

// ------------------------------------------------------------ processes

// A server started with an exact command line (not through the harness,
// which always adds -l 127.0.0.1 -p <new port>).  stdout/stderr go to a log
// file.  The destructor SIGKILLs (its pid only) and reaps it.
class Spawned {
 public:
  explicit Spawned(const std::vector<std::string>& argv) {
    char tmpl[] = "/tmp/rc_spawned_XXXXXX";
    int logfd = mkstemp(tmpl);
    log_path_ = tmpl;
    std::string hdr = "#";
    for (auto& a : argv) hdr += " " + a;
    hdr += "\n";
    if (logfd >= 0) {
      ssize_t w = write(logfd, hdr.data(), hdr.size());
      (void)w;
    }
    std::vector<char*> av;
    for (auto& a : argv) av.push_back(const_cast<char*>(a.c_str()));
    av.push_back(nullptr);
    pid_t parent = getpid();
    fflush(stdout);
    fflush(stderr);
    pid_ = fork();
    if (pid_ == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent) _exit(126);
      setpgid(0, 0);
      int devnull = open("/dev/null", O_RDONLY);
      if (devnull >= 0) dup2(devnull, 0);
      if (logfd >= 0) {
        dup2(logfd, 1);
        dup2(logfd, 2);
      }
      ::signal(SIGPIPE, SIG_DFL);
      execv(av[0], av.data());
      _exit(127);
    }
    if (logfd >= 0) ::close(logfd);
  }
  ~Spawned() {
    if (pid_ > 0 && !reaped_) {
      kill_one(pid_, SIGKILL);
      int st;
      while (waitpid(pid_, &st, 0) < 0 && errno == EINTR) {
      }
    }
    if (!log_path_.empty()) unlink(log_path_.c_str());
  }
  Spawned(const Spawned&) = delete;
  Spawned& operator=(const Spawned&) = delete;

  pid_t pid() const { return pid_; }
  std::string log() const { return rc_test::read_file(log_path_); }

  // Raw wait status once exited within timeout_ms, else -1.
  int wait_exit(int timeout_ms) {
    if (reaped_) return status_;
    if (pid_ <= 0) return -1;  // never waitpid(-1): that would reap other children
    long long deadline = rc_test::now_ms() + timeout_ms;
    for (;;) {
      int st;
      pid_t r = waitpid(pid_, &st, WNOHANG);
      if (r == pid_) {
        reaped_ = true;
        status_ = st;
        return st;
      }
      if (r < 0 && errno != EINTR) return -1;
      if (rc_test::now_ms() >= deadline) return -1;
      rc_test::sleep_ms(5);
    }
  }
  bool running() { return wait_exit(0) == -1; }
  void signal(int sig) {
    if (!reaped_) kill_one(pid_, sig);
  }

  // Until ip:port accepts a connection; false if the process died or timed out.
  bool wait_tcp(const std::string& ip, int port, int timeout_ms = 5000) {
    long long deadline = rc_test::now_ms() + timeout_ms;
    while (rc_test::now_ms() < deadline) {
      if (!running()) return false;
      int fd = connect_tcp(ip, port, 200);
      if (fd >= 0) {
        ::close(fd);
        return true;
      }
      rc_test::sleep_ms(20);
    }
    return false;
  }
  bool wait_unix(const std::string& path, int timeout_ms = 5000) {
    long long deadline = rc_test::now_ms() + timeout_ms;
    while (rc_test::now_ms() < deadline) {
      if (!running()) return false;
      int fd = connect_unix(path);
      if (fd >= 0) {
        ::close(fd);
        return true;
      }
      rc_test::sleep_ms(20);
    }
    return false;
  }

 private:
  pid_t pid_ = -1;
  bool reaped_ = false;
  int status_ = 0;
  std::string log_path_;
};

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
