// Daemon-level test harness, see harness.h.
#include "harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

namespace rc_test {

std::string ringcached_path() {
  const char* p = getenv("RINGCACHED");
  return (p && *p) ? p : "src/ringcached";
}

std::string memcached_path() {
  const char* p = getenv("MEMCACHED");
  return (p && *p) ? p : "/usr/bin/memcached";
}

long long now_ms() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void sleep_ms(int ms) {
  if (ms <= 0) return;
  struct timespec ts;
  ts.tv_sec = ms / 1000;
  ts.tv_nsec = (long)(ms % 1000) * 1000000L;
  while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
  }
}

std::string escape_bytes(const std::string& bytes, bool split_lines) {
  std::string out;
  out.reserve(bytes.size() + bytes.size() / 8);
  static const char hex[] = "0123456789abcdef";
  for (unsigned char c : bytes) {
    switch (c) {
      case '\r': out += "\\r"; break;
      case '\n':
        out += "\\n";
        if (split_lines) out += '\n';
        break;
      case '\t': out += "\\t"; break;
      case '\\': out += "\\\\"; break;
      default:
        if (c >= 0x20 && c < 0x7f) {
          out += (char)c;
        } else {
          out += "\\x";
          out += hex[c >> 4];
          out += hex[c & 15];
        }
    }
  }
  return out;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "";
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int find_free_port() {
  for (int attempt = 0; attempt < 50; attempt++) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = 0;
    if (bind(fd, (struct sockaddr*)&sa, sizeof sa) == 0) {
      socklen_t len = sizeof sa;
      if (getsockname(fd, (struct sockaddr*)&sa, &len) == 0) {
        int port = ntohs(sa.sin_port);
        ::close(fd);
        if (port > 0) return port;
        continue;
      }
    }
    ::close(fd);
  }
  return -1;
}

namespace {

std::string tmp_dir() {
  const char* t = getenv("TMPDIR");
  return (t && *t) ? t : "/tmp";
}

// Non-blocking connect to 127.0.0.1:port with a timeout.  Returns the fd
// (still non-blocking) or -1.
int connect_loopback(int port, int timeout_ms) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return -1;
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sa.sin_port = htons((uint16_t)port);
  int rc = connect(fd, (struct sockaddr*)&sa, sizeof sa);
  if (rc != 0 && errno != EINPROGRESS) {
    ::close(fd);
    return -1;
  }
  if (rc != 0) {
    struct pollfd p = {fd, POLLOUT, 0};
    long long deadline = now_ms() + timeout_ms;
    for (;;) {
      int left = (int)(deadline - now_ms());
      if (left < 0) left = 0;
      int n = poll(&p, 1, left);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        ::close(fd);
        return -1;
      }
      break;
    }
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
      ::close(fd);
      return -1;
    }
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

bool keep_logs() {
  const char* k = getenv("RC_TEST_KEEP_LOGS");
  return k && *k && strcmp(k, "0") != 0;
}

bool current_test_failed() {
  return ::testing::UnitTest::GetInstance()->current_test_info() != nullptr &&
         ::testing::Test::HasFailure();
}

}  // namespace

std::unique_ptr<Daemon> Daemon::start(const std::string& binary,
                                      const std::vector<std::string>& extra_args) {
  std::string last_log;
  std::string last_cmd;
  const int kAttempts = 5;
  for (int attempt = 0; attempt < kAttempts; attempt++) {
    int port = find_free_port();
    if (port <= 0) {
      fprintf(stderr, "rc_test::Daemon: cannot find a free port\n");
      return nullptr;
    }
    std::vector<std::string> args = {binary, "-l", "127.0.0.1", "-p", std::to_string(port)};
    for (const auto& a : extra_args) args.push_back(a);
    const char* base = strrchr(binary.c_str(), '/');
    base = base ? base + 1 : binary.c_str();
    if (geteuid() == 0 && strcmp(base, "memcached") == 0) {
      bool has_u = false;
      for (const auto& a : extra_args)
        if (a == "-u" || a.rfind("--user", 0) == 0) has_u = true;
      if (!has_u) {
        args.push_back("-u");
        args.push_back("root");
      }
    }
    std::string cmdline;
    for (const auto& a : args) cmdline += (cmdline.empty() ? "" : " ") + a;

    std::string tmpl = tmp_dir() + "/rc_daemon_XXXXXX.log";
    std::vector<char> tbuf(tmpl.begin(), tmpl.end());
    tbuf.push_back('\0');
    int logfd = mkstemps(tbuf.data(), 4);
    if (logfd < 0) {
      fprintf(stderr, "rc_test::Daemon: mkstemps(%s): %s\n", tmpl.c_str(), strerror(errno));
      return nullptr;
    }
    std::string log_path(tbuf.data());
    {
      std::string hdr = "# " + cmdline + "\n";
      ssize_t w = write(logfd, hdr.data(), hdr.size());
      (void)w;
    }

    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    pid_t parent = getpid();
    long maxfd = sysconf(_SC_OPEN_MAX);
    if (maxfd < 0 || maxfd > 4096) maxfd = 4096;

    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
      fprintf(stderr, "rc_test::Daemon: fork: %s\n", strerror(errno));
      ::close(logfd);
      unlink(log_path.c_str());
      return nullptr;
    }
    if (pid == 0) {
      // Child: die with the test process; only async-signal-safe calls here.
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent) _exit(126);
      setpgid(0, 0);
      int devnull = open("/dev/null", O_RDONLY);
      if (devnull >= 0) dup2(devnull, 0);
      dup2(logfd, 1);
      dup2(logfd, 2);
      for (long fd = 3; fd < maxfd; fd++) ::close((int)fd);
      ::signal(SIGPIPE, SIG_DFL);
      execv(argv[0], argv.data());
      const char msg[] = "rc_test::Daemon: execv failed\n";
      ssize_t w = write(2, msg, sizeof msg - 1);
      (void)w;
      _exit(127);
    }
    ::close(logfd);

    std::unique_ptr<Daemon> d(new Daemon());
    d->pid_ = pid;
    d->port_ = port;
    d->log_path_ = log_path;
    d->cmdline_ = cmdline;

    long long deadline = now_ms() + 5000;
    bool up = false;
    bool died = false;
    while (now_ms() < deadline) {
      int st = 0;
      pid_t r = waitpid(pid, &st, WNOHANG);
      if (r == pid) {
        d->reaped_ = true;
        d->status_ = st;
        died = true;
        break;
      }
      int fd = connect_loopback(port, 200);
      if (fd >= 0) {
        ::close(fd);
        up = true;
        break;
      }
      sleep_ms(10);
    }
    if (up) return d;

    last_log = read_file(log_path);
    last_cmd = cmdline;
    if (died) {
      // Probably lost the race for the port: try again with another one.
      bool port_issue = last_log.find("in use") != std::string::npos ||
                        last_log.find("failed to listen") != std::string::npos ||
                        last_log.find("bind") != std::string::npos;
      unlink(log_path.c_str());
      d->log_path_.clear();
      if (port_issue && attempt + 1 < kAttempts) continue;
      fprintf(stderr, "rc_test::Daemon: `%s` exited during startup (status 0x%x). Log:\n%s\n",
              cmdline.c_str(), d->status_, last_log.c_str());
      return nullptr;
    }
    fprintf(stderr, "rc_test::Daemon: `%s` did not accept connections within 5 s. Log (%s):\n%s\n",
            cmdline.c_str(), log_path.c_str(), last_log.c_str());
    return nullptr;  // ~Daemon kills and reaps it
  }
  fprintf(stderr, "rc_test::Daemon: giving up starting `%s`. Last log:\n%s\n", last_cmd.c_str(),
          last_log.c_str());
  return nullptr;
}

void Daemon::signal(int sig) {
  if (!reaped_ && pid_ > 0) kill(pid_, sig);
}

int Daemon::wait_exit(int timeout_ms) {
  if (reaped_) return status_;
  if (pid_ <= 0) return -1;
  long long deadline = now_ms() + timeout_ms;
  for (;;) {
    int st = 0;
    pid_t r = waitpid(pid_, &st, WNOHANG);
    if (r == pid_) {
      reaped_ = true;
      status_ = st;
      return st;
    }
    if (r < 0 && errno != EINTR) return -1;
    long long left = deadline - now_ms();
    if (left <= 0) return -1;
    sleep_ms(left < 5 ? (int)left : 5);
  }
}

Daemon::~Daemon() {
  if (!reaped_ && pid_ > 0) {
    kill(pid_, SIGTERM);
    if (wait_exit(2000) == -1) {
      kill(pid_, SIGKILL);
      int st = 0;
      while (waitpid(pid_, &st, 0) < 0 && errno == EINTR) {
      }
      reaped_ = true;
      status_ = st;
    }
  }
  if (!log_path_.empty()) {
    // A sanitizer's report in a daemon (a leak found at exit, an error
    // that did not abort) fails whatever test ran it.
    std::string l = log();
    for (const char* mark : {"ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                             "WARNING: ThreadSanitizer", "runtime error:"}) {
      size_t at = l.find(mark);
      if (at != std::string::npos) {
        ADD_FAILURE() << "sanitizer report in the log of `" << cmdline_ << "`:\n"
                      << l.substr(at > 200 ? at - 200 : 0, 6000);
        break;
      }
    }
    if (keep_logs() || current_test_failed()) {
      fprintf(stderr, "rc_test::Daemon: log of `%s` kept in %s\n", cmdline_.c_str(),
              log_path_.c_str());
    } else {
      unlink(log_path_.c_str());
    }
  }
}

// ---------------------------------------------------------------- Client

Client::Client(int port) {
  fd_ = connect_loopback(port, 3000);
  if (fd_ < 0) {
    ADD_FAILURE() << "rc_test::Client: cannot connect to 127.0.0.1:" << port;
  }
}

Client::~Client() { close(); }

void Client::close() {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
}

long Client::fill(int timeout_ms) {
  if (fd_ < 0 || eof_) return -1;
  struct pollfd p = {fd_, POLLIN, 0};
  long long deadline = now_ms() + (timeout_ms < 0 ? 0 : timeout_ms);
  for (;;) {
    int left = (int)(deadline - now_ms());
    if (left < 0) left = 0;
    int n = poll(&p, 1, left);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      eof_ = true;
      return -1;
    }
    if (n == 0) return 0;
    break;
  }
  long total = 0;
  char tmp[65536];
  for (;;) {
    ssize_t r = ::recv(fd_, tmp, sizeof tmp, 0);
    if (r > 0) {
      buf_.append(tmp, (size_t)r);
      total += r;
      continue;
    }
    if (r < 0 && errno == EINTR) continue;
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    // r == 0 (EOF) or a hard error such as ECONNRESET.
    eof_ = true;
    break;
  }
  if (total > 0) return total;
  return eof_ ? -1 : 0;
}

bool Client::send(const std::string& bytes) {
  if (fd_ < 0) return false;
  size_t off = 0;
  long long deadline = now_ms() + 10000;
  while (off < bytes.size()) {
    struct pollfd p = {fd_, (short)(POLLOUT | (eof_ ? 0 : POLLIN)), 0};
    int left = (int)(deadline - now_ms());
    if (left <= 0) return false;
    int n = poll(&p, 1, left);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return false;
    if (n == 0) return false;
    if (p.revents & POLLIN) fill(0);
    if (p.revents & (POLLOUT | POLLERR | POLLHUP)) {
      ssize_t w = ::send(fd_, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
      if (w > 0) {
        off += (size_t)w;
      } else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
        if (!(p.revents & POLLOUT) && (p.revents & (POLLERR | POLLHUP))) return false;
      } else {
        return false;
      }
    }
  }
  return true;
}

std::string Client::recv_until(const std::string& terminator, int timeout_ms) {
  long long deadline = now_ms() + timeout_ms;
  for (;;) {
    if (!terminator.empty()) {
      size_t pos = buf_.find(terminator);
      if (pos != std::string::npos) {
        std::string out = buf_.substr(0, pos + terminator.size());
        buf_.erase(0, pos + terminator.size());
        return out;
      }
    }
    long long left = deadline - now_ms();
    if (left <= 0 || eof_ || fd_ < 0) break;
    fill((int)left);
  }
  std::string out;
  out.swap(buf_);
  return out;
}

std::string Client::recv_idle(int idle_ms, int max_ms) {
  long long deadline = now_ms() + max_ms;
  for (;;) {
    long long left = deadline - now_ms();
    if (left <= 0) break;
    long r = fill((int)(left < idle_ms ? left : idle_ms));
    if (r <= 0) break;  // idle (0) or EOF (-1)
  }
  std::string out;
  out.swap(buf_);
  return out;
}

std::string Client::recv_n(size_t n, int timeout_ms) {
  long long deadline = now_ms() + timeout_ms;
  while (buf_.size() < n) {
    long long left = deadline - now_ms();
    if (left <= 0) break;
    if (fill((int)left) < 0) break;
  }
  size_t take = buf_.size() < n ? buf_.size() : n;
  std::string out = buf_.substr(0, take);
  buf_.erase(0, take);
  return out;
}

std::string Client::cmd(const std::string& req, const std::string& terminator) {
  if (!send(req)) {
    // Still return whatever the server said (e.g. an error before closing).
    return recv_until(terminator, 200);
  }
  return recv_until(terminator);
}

bool Client::peer_closed(int timeout_ms) {
  if (eof_) return true;
  if (fd_ < 0) return true;
  long long deadline = now_ms() + timeout_ms;
  for (;;) {
    long long left = deadline - now_ms();
    if (left <= 0) return eof_;
    if (fill((int)left) < 0) return true;
    if (eof_) return true;
  }
}

}  // namespace rc_test
