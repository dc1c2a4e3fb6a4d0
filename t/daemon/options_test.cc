// Daemon-level tests of the command line: help/version, rejected options,
// listening options (-p/-s/-a/-l), daemon mode (-d/-P), and the options that
// change protocol behaviour (-C, -M, -F, -R, -I).  Expected behaviour is
// memcached 1.6.18's; option error messages may be worded differently, so
// only "non-zero exit + a message on stderr" is required, except where
// ringcached copies memcached's text.
//
// Build:
//   g++ -std=gnu++17 -O1 -pthread -Wall -Wextra -Werror -I t/daemon
//     t/daemon/options_test.cc t/daemon/harness.cc
//     $(pkg-config --cflags --libs gtest_main libmemcached) -o options_test
// Run:
//   RINGCACHED=build/src/ringcached ./options_test
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <memory>
#include <regex>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "daemon_util.h"
#include "harness.h"

namespace {

using rc_dt::FdConn;
using rc_dt::RunResult;
using rc_dt::Spawned;
using rc_test::Client;

std::vector<std::string> cmdline(std::vector<std::string> args) {
  std::vector<std::string> v = {rc_test::ringcached_path()};
  for (auto& a : rc_dt::with_user(args)) v.push_back(a);
  return v;
}

RunResult run(const std::vector<std::string>& args, int timeout_ms = 5000) {
  return rc_dt::run_program(cmdline(args), timeout_ms);
}

// A directory of our own under /tmp for sockets and pid files.
class TempDir {
 public:
  TempDir() {
    char t[] = "/tmp/rc_opt_XXXXXX";
    if (mkdtemp(t)) path_ = t;
  }
  ~TempDir() {
    if (!path_.empty()) {
      std::string cmd = "rm -rf '" + path_ + "'";
      int r = system(cmd.c_str());
      (void)r;
    }
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// ------------------------------------------------------------ help etc.

TEST(Options, HelpExitsZeroAndListsOptions) {
  for (const char* flag : {"-h", "--help"}) {
    RunResult r = run({flag});
    ASSERT_EQ(0, r.exit_code()) << flag << ": " << r.describe();
    const std::string& out = r.out;
    for (const char* opt : {"-p, --port", "-s, --unix-socket", "-a, --unix-mask", "-l, --listen",
                            "-d, --daemon", "-u, --user", "-m, --memory-limit", "-M, --disable-evictions",
                            "-c, --conn-limit", "-v, --verbose", "-h, --help", "-V, --version",
                            "-P, --pidfile", "-f, --slab-growth-factor", "-n, --slab-min-size",
                            "-t, --threads", "-R, --max-reqs-per-event", "-C, --disable-cas",
                            "-b, --listen-backlog", "-B, --protocol", "-I, --max-item-size",
                            "-F, --disable-flush-all", "-o, --extended"})
      EXPECT_NE(std::string::npos, out.find(opt)) << flag << " does not list \"" << opt << "\"";
  }
}

TEST(Options, VersionPrintsAVersion) {
  for (const char* flag : {"-V", "--version"}) {
    RunResult r = run({flag});
    ASSERT_EQ(0, r.exit_code()) << flag << ": " << r.describe();
    EXPECT_TRUE(std::regex_search(r.out, std::regex("^(ringcached|memcached) [0-9]+\\.[0-9]+\\.[0-9]+")))
        << r.describe();
    EXPECT_EQ('\n', r.out.empty() ? 0 : r.out.back());
  }
}

TEST(Options, UnknownOptionFails) {
  for (std::vector<std::string> args : {std::vector<std::string>{"--no-such-option"},
                                        std::vector<std::string>{"-y"},
                                        std::vector<std::string>{"-p"}}) {
    RunResult r = run(args);
    std::string what = args[0];
    EXPECT_TRUE(r.exited_ok()) << what << ": " << r.describe();
    EXPECT_NE(0, r.exit_code()) << what << ": " << r.describe();
    EXPECT_FALSE(r.err.empty()) << what << ": no message on stderr";
  }
  // getopt's message, as memcached prints it.
  RunResult r = run({"--no-such-option"});
  EXPECT_NE(std::string::npos, r.err.find("unrecognized option '--no-such-option'")) << r.describe();
}

struct BadValue {
  std::vector<std::string> args;
  std::string memcached_text;  // exact stderr line when ringcached copies it, else ""
};

TEST(Options, BadValuesFailWithAMessage) {
  const std::vector<BadValue> cases = {
      {{"-t", "0"}, "Number of threads must be greater than 0\n"},
      {{"-t", "-3"}, "Number of threads must be greater than 0\n"},
      {{"-t", "abc"}, "Number of threads must be greater than 0\n"},
      {{"-c", "0"}, ""},  // memcached: "Maximum connections must be greater than 0"
      {{"-f", "1"}, "Factor must be greater than 1\n"},
      {{"-f", "0.5"}, "Factor must be greater than 1\n"},
      {{"-I", "512"}, "Item max size cannot be less than 1024 bytes.\n"},
      {{"-I", "2g"}, ""},  // memcached prints a misleading "less than 1024 bytes"
      {{"-I", "abc"}, ""},
      {{"-B", "foo"}, "Invalid value for binding protocol: foo\n -- should be one of auto, binary, or ascii\n"},
      {{"-o", "bogus"}, "Illegal suboption \"bogus\"\n"},
      {{"-o", "hashpower=99"}, ""},
      {{"-m", "abc"}, ""},
      {{"-p", "-5"}, ""},
      {{"-R", "0"}, ""},
      {{"-n", "0"}, ""},
      {{"--replicas", "2", "--write-acks", "3"}, "--write-acks must be 1 to --replicas (2)\n"},
      {{"--write-acks", "2"}, "--write-acks must be 1 to --replicas (1)\n"},
      {{"--write-acks", "0"}, "Invalid value for --write-acks: 0\n"},
  };
  for (const auto& tc : cases) {
    std::vector<std::string> args = {"-l", "127.0.0.1", "-p", "0", "-U", "0"};
    args.insert(args.end(), tc.args.begin(), tc.args.end());
    std::string what;
    for (auto& a : tc.args) what += a + " ";
    RunResult r = run(args, 5000);
    EXPECT_FALSE(r.timed_out) << what << "was accepted (the server kept running)";
    EXPECT_TRUE(r.exited_ok()) << what << ": " << r.describe();
    EXPECT_NE(0, r.exit_code()) << what << ": " << r.describe();
    EXPECT_FALSE(r.err.empty()) << what << ": no message on stderr";
    if (!tc.memcached_text.empty()) {
      EXPECT_EQ(tc.memcached_text, r.err) << what;
    }
  }
}

TEST(Options, PortOutOfRangeRejected) {
  // memcached 1.6.18: "ERROR: Invalid port number 70000." and exit 64; it
  // must not silently listen on 70000 mod 65536 = 4464.
  for (const char* port : {"70000", "65536"}) {
    RunResult r = run({"-l", "127.0.0.1", "-p", port}, 3000);
    EXPECT_FALSE(r.timed_out) << "-p " << port << " was accepted (the server kept running)";
    EXPECT_NE(0, r.exit_code()) << "-p " << port << ": " << r.describe();
    EXPECT_FALSE(r.err.empty()) << "-p " << port << ": no message on stderr";
  }
}

// --------------------------------------------------------- listening

TEST(Options, UnixSocketOnly) {
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  std::string sock = dir.path() + "/mc.sock";
  int port = rc_test::find_free_port();
  // -s disables TCP even when -p names a port (memcached: "-s ... disables
  // network support").
  Spawned d(cmdline({"-l", "127.0.0.1", "-p", std::to_string(port), "-s", sock}));
  ASSERT_TRUE(d.wait_unix(sock, 5000)) << d.log();
  struct stat sb;
  ASSERT_EQ(0, stat(sock.c_str(), &sb));
  EXPECT_TRUE(S_ISSOCK(sb.st_mode));
  EXPECT_EQ(0700, (int)(sb.st_mode & 0777)) << "default -a is 0700";
  FdConn c(rc_dt::connect_unix(sock));
  ASSERT_TRUE(c.ok());
  EXPECT_EQ("STORED\r\n", c.cmd("set u 1 0 5\r\nhello\r\n"));
  EXPECT_EQ("VALUE u 1 5\r\nhello\r\nEND\r\n", c.cmd("get u\r\n", "END\r\n"));
  EXPECT_EQ("VERSION ", c.cmd("version\r\n").substr(0, 8));
  int err = 0;
  int fd = rc_dt::connect_tcp("127.0.0.1", port, 1000, &err);
  if (fd >= 0) close(fd);
  EXPECT_LT(fd, 0) << "TCP port " << port << " is served although -s was given";
}

TEST(Options, UnixSocketWithPortZeroAndMask) {
  TempDir dir;
  std::string sock = dir.path() + "/s";
  Spawned d(cmdline({"-p", "0", "-s", sock, "-a", "0666"}));
  ASSERT_TRUE(d.wait_unix(sock, 5000)) << d.log();
  struct stat sb;
  ASSERT_EQ(0, stat(sock.c_str(), &sb));
  EXPECT_EQ(0666, (int)(sb.st_mode & 0777));
  FdConn c(rc_dt::connect_unix(sock));
  ASSERT_TRUE(c.ok());
  std::string v(300000, 'u');
  EXPECT_EQ("STORED\r\n", c.cmd("set big 0 0 300000\r\n" + v + "\r\n"));
  std::string got = c.cmd("get big\r\n", "END\r\n");
  EXPECT_TRUE(got == "VALUE big 0 300000\r\n" + v + "\r\nEND\r\n") << got.size();
  // SIGTERM: clean exit.
  d.signal(SIGTERM);
  int st = d.wait_exit(10000);
  ASSERT_NE(-1, st);
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << "status 0x" << std::hex << st;
}

TEST(Options, ListenAddressBindsOnlyThere) {
  // The harness starts with -l 127.0.0.1.
  auto d = rc_dt::start_daemon();
  ASSERT_NE(d, nullptr);
  int err = 0;
  int fd = rc_dt::connect_tcp("127.0.0.2", d->port(), 2000, &err);
  if (fd >= 0) close(fd);
  EXPECT_LT(fd, 0) << "-l 127.0.0.1 but 127.0.0.2 is served too";
  EXPECT_EQ(ECONNREFUSED, err);
  Client c(d->port());
  EXPECT_EQ("STORED\r\n", c.cmd("set a 0 0 1\r\nx\r\n"));

  // Another loopback address, and a comma-separated list.
  int port = rc_test::find_free_port();
  Spawned d2(cmdline({"-l", "127.0.0.2,127.0.0.3", "-p", std::to_string(port)}));
  ASSERT_TRUE(d2.wait_tcp("127.0.0.2", port, 5000)) << d2.log();
  ASSERT_TRUE(d2.wait_tcp("127.0.0.3", port, 5000)) << d2.log();
  fd = rc_dt::connect_tcp("127.0.0.1", port, 2000, &err);
  if (fd >= 0) close(fd);
  EXPECT_LT(fd, 0) << "-l 127.0.0.2,127.0.0.3 but 127.0.0.1 is served too";
  FdConn c2(rc_dt::connect_tcp("127.0.0.2", port));
  FdConn c3(rc_dt::connect_tcp("127.0.0.3", port));
  ASSERT_TRUE(c2.ok() && c3.ok());
  EXPECT_EQ("STORED\r\n", c2.cmd("set shared 0 0 2\r\nhi\r\n"));
  EXPECT_EQ("VALUE shared 0 2\r\nhi\r\nEND\r\n", c3.cmd("get shared\r\n", "END\r\n"));
}

// ------------------------------------------------------------ daemon

// Polls a daemon's pid file for up to 5 s; 0 if no pid appeared.
pid_t WaitForPidfile(const std::string& pidfile) {
  long long deadline = rc_test::now_ms() + 5000;
  while (rc_test::now_ms() < deadline) {
    pid_t pid = (pid_t)atol(rc_test::read_file(pidfile).c_str());
    if (pid > 0) return pid;
    rc_test::sleep_ms(20);
  }
  return 0;
}

// Connects to 127.0.0.1:port, retrying for up to 5 s; -1 if it never answers.
int ConnectWhenUp(int port) {
  int fd = -1;
  long long deadline = rc_test::now_ms() + 5000;
  while (fd < 0 && rc_test::now_ms() < deadline) {
    fd = rc_dt::connect_tcp("127.0.0.1", port, 500);
    if (fd < 0) rc_test::sleep_ms(20);
  }
  return fd;
}

// Kills exactly one daemon pid when the test ends, whatever happens.
struct PidKiller {
  pid_t pid;
  ~PidKiller() {
    if (pid > 1 && rc_dt::kill_one(pid, SIGKILL) == 0) waitpid(pid, nullptr, 0);
  }
};

TEST(Options, DaemonizeWritesPidfile) {
  // Become a subreaper so the daemonized grandchild is re-parented to us
  // and can be reaped (pid 1 in a container may not reap).
  prctl(PR_SET_CHILD_SUBREAPER, 1);
  TempDir dir;
  std::string pidfile = dir.path() + "/rc.pid";
  int port = rc_test::find_free_port();
  RunResult r = run({"-d", "-P", pidfile, "-l", "127.0.0.1", "-p", std::to_string(port)}, 10000);
  ASSERT_EQ(0, r.exit_code()) << "the foreground process must exit 0 after forking: " << r.describe();
  EXPECT_FALSE(r.timed_out) << "stdout/stderr were left open by the daemon";
  // The pid file appears (written by the daemon).
  pid_t pid = WaitForPidfile(pidfile);
  ASSERT_GT(pid, 0) << "no pid in " << pidfile;
  // Only ever signal that pid if it really is the daemon we started.
  std::string comm = rc_test::read_file("/proc/" + std::to_string(pid) + "/cmdline");
  ASSERT_NE(std::string::npos, comm.find(rc_test::ringcached_path()))
      << "pid file names another process (" << pid << ")";
  ASSERT_NE(std::string::npos, comm.find(std::to_string(port))) << "pid " << pid << " is another server";
  // Clean up whatever happens below: kill exactly that pid.
  PidKiller killer{pid};
  // It serves.
  FdConn c(ConnectWhenUp(port));
  ASSERT_TRUE(c.ok()) << "daemon does not accept on port " << port;
  EXPECT_EQ("STORED\r\n", c.cmd("set d 0 0 1\r\nx\r\n"));
  // Detached: its own session, stdin/stdout/stderr not our pipes.
  EXPECT_EQ(pid, getsid(pid)) << "daemon did not call setsid()";
  // SIGTERM -> exits 0 (reaped by us as subreaper) and removes the pid file
  // (memcached does).
  ASSERT_EQ(0, rc_dt::kill_one(pid, SIGTERM));
  int st = -1;
  long long deadline = rc_test::now_ms() + 10000;
  while (rc_test::now_ms() < deadline) {
    pid_t w = waitpid(pid, &st, WNOHANG);
    if (w == pid) break;
    if (w < 0) {  // not our child after all: poll for it to disappear
      if (rc_dt::kill_one(pid, 0) != 0) {
        st = 0;
        break;
      }
    }
    st = -1;
    rc_test::sleep_ms(10);
  }
  ASSERT_NE(-1, st) << "daemon did not exit after SIGTERM";
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << "status 0x" << std::hex << st;
  killer.pid = 0;  // gone: nothing to clean up
  EXPECT_EQ("", rc_test::read_file(pidfile)) << "pid file not removed on exit";
}

// The README's quick start: as root, `-d -u nobody -P <root-owned dir>/pid`.
// The pid file must be written before the identity change (the unprivileged
// user cannot write there), and a daemon must not die over its pid file.
TEST(Options, DaemonizeAsOtherUserStillWritesPidfile) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to switch users";
  prctl(PR_SET_CHILD_SUBREAPER, 1);
  TempDir dir;  // mode 0700, owned by root: nobody cannot write here
  std::string pidfile = dir.path() + "/rc.pid";
  int port = rc_test::find_free_port();
  RunResult r = run({"-d", "-u", "nobody", "-P", pidfile, "-l", "127.0.0.1", "-p", std::to_string(port)},
                    10000);
  ASSERT_EQ(0, r.exit_code()) << r.describe();
  pid_t pid = WaitForPidfile(pidfile);
  ASSERT_GT(pid, 0) << "no pid written to " << pidfile;
  std::string comm = rc_test::read_file("/proc/" + std::to_string(pid) + "/cmdline");
  ASSERT_NE(std::string::npos, comm.find(std::to_string(port))) << "pid " << pid << " is another process";
  PidKiller killer{pid};
  // It runs as nobody and serves.
  std::string status = rc_test::read_file("/proc/" + std::to_string(pid) + "/status");
  struct passwd* pw = getpwnam("nobody");
  ASSERT_NE(nullptr, pw);
  EXPECT_NE(std::string::npos, status.find("Uid:\t" + std::to_string(pw->pw_uid) + "\t"))
      << "daemon is not running as nobody";
  FdConn c(ConnectWhenUp(port));
  ASSERT_TRUE(c.ok()) << "daemon does not accept on port " << port;
  EXPECT_EQ("STORED\r\n", c.cmd("set q 0 0 1\r\nx\r\n"));
}

// --------------------------------------------------- protocol options

TEST(Options, DisableCas) {
  auto d = rc_dt::start_daemon({"-C"});
  ASSERT_NE(d, nullptr);
  Client c(d->port());
  EXPECT_EQ("STORED\r\n", c.cmd("set k 3 0 2\r\nab\r\n"));
  EXPECT_EQ("VALUE k 3 2 0\r\nab\r\nEND\r\n", c.cmd("gets k\r\n", "END\r\n"));
  EXPECT_EQ("STORED\r\n", c.cmd("append k 0 0 1\r\nc\r\n"));
  EXPECT_EQ("VALUE k 3 3 0\r\nabc\r\nEND\r\n", c.cmd("gets k\r\n", "END\r\n"));
  EXPECT_EQ("NOT_FOUND\r\n", c.cmd("cas nokey 0 0 1 0\r\nx\r\n"));
  EXPECT_EQ("EXISTS\r\n", c.cmd("cas k 0 0 1 1\r\nx\r\n"));
  EXPECT_EQ("VALUE k 3 3\r\nabc\r\nEND\r\n", c.cmd("get k\r\n", "END\r\n"));
  // Without -C, CAS values are non-zero.
  auto d2 = rc_dt::start_daemon();
  ASSERT_NE(d2, nullptr);
  Client c2(d2->port());
  EXPECT_EQ("STORED\r\n", c2.cmd("set k 0 0 1\r\nx\r\n"));
  std::string g = c2.cmd("gets k\r\n", "END\r\n");
  EXPECT_TRUE(std::regex_match(g, std::regex("VALUE k 0 1 [1-9][0-9]*\r\nx\r\nEND\r\n"))) << rc_test::escape_bytes(g);
}

TEST(Options, DisableCasRefusesCasZero) {
  // memcached 1.6.18 with -C refuses every cas, even one carrying the CAS
  // value 0 that gets reports; the item is left alone.
  auto d = rc_dt::start_daemon({"-C"});
  ASSERT_NE(d, nullptr);
  Client c(d->port());
  EXPECT_EQ("STORED\r\n", c.cmd("set k 3 0 3\r\nabc\r\n"));
  EXPECT_EQ("EXISTS\r\n", c.cmd("cas k 0 0 1 0\r\nx\r\n"));
  EXPECT_EQ("VALUE k 3 3\r\nabc\r\nEND\r\n", c.cmd("cas k 0 0 1 0 noreply\r\nx\r\nget k\r\n", "END\r\n"));
}

TEST(Options, DisableEvictionsGivesOutOfMemory) {
  auto d = rc_dt::start_daemon({"-M", "-m", "4"});
  ASSERT_NE(d, nullptr);
  Client c(d->port());
  std::string v(100000, 'm');
  int stored = 0;
  std::string err;
  for (int i = 0; i < 400 && err.empty(); i++) {
    std::string r = c.cmd("set k" + std::to_string(i) + " 0 0 100000\r\n" + v + "\r\n");
    if (r == "STORED\r\n") stored++;
    else err = r;
  }
  EXPECT_EQ("SERVER_ERROR out of memory storing object\r\n", err) << "after " << stored << " sets";
  EXPECT_GT(stored, 5);
  EXPECT_LT(stored, 80) << "-m 4 holds ~40 values of 100 KB";
  // Nothing was evicted: every stored key is still there.
  for (int i = 0; i < stored; i++) {
    std::string g = c.cmd("get k" + std::to_string(i) + "\r\n", "END\r\n");
    ASSERT_EQ(0u, g.find("VALUE k" + std::to_string(i) + " 0 100000\r\n")) << "k" << i << " evicted despite -M";
  }
  auto st = rc_dt::stats(c);
  EXPECT_EQ(0, rc_dt::stat_num(st, "evictions"));
  // The failed key is not there; the connection is in sync.
  EXPECT_EQ("END\r\n", c.cmd("get k" + std::to_string(stored) + "\r\n", "END\r\n"));
  // Deleting makes room again.
  for (int i = 0; i < 5; i++) EXPECT_EQ("DELETED\r\n", c.cmd("delete k" + std::to_string(i) + "\r\n"));
  EXPECT_EQ("STORED\r\n", c.cmd("set again 0 0 100000\r\n" + v + "\r\n"));
}

TEST(Options, DisableFlushAll) {
  auto d = rc_dt::start_daemon({"-F"});
  ASSERT_NE(d, nullptr);
  Client c(d->port());
  EXPECT_EQ("STORED\r\n", c.cmd("set k 0 0 1\r\nx\r\n"));
  EXPECT_EQ("CLIENT_ERROR flush_all not allowed\r\n", c.cmd("flush_all\r\n"));
  EXPECT_EQ("CLIENT_ERROR flush_all not allowed\r\n", c.cmd("flush_all 0\r\n"));
  // With noreply: no answer, and still nothing flushed.
  EXPECT_EQ("VALUE k 0 1\r\nx\r\nEND\r\n", c.cmd("flush_all noreply\r\nget k\r\n", "END\r\n"));
}

TEST(Options, MaxReqsPerEventOne) {
  auto d = rc_dt::start_daemon({"-R", "1", "-t", "1"});
  ASSERT_NE(d, nullptr);
  Client a(d->port()), b(d->port());
  std::string req, want;
  for (int i = 0; i < 500; i++) {
    std::string k = "r" + std::to_string(i), v = std::to_string(i * i);
    req += "set " + k + " 0 0 " + std::to_string(v.size()) + "\r\n" + v + "\r\nget " + k + "\r\n";
    want += "STORED\r\nVALUE " + k + " 0 " + std::to_string(v.size()) + "\r\n" + v + "\r\nEND\r\n";
  }
  req += "get";
  for (int i = 0; i < 500; i += 7) req += " r" + std::to_string(i);
  req += "\r\n";
  for (int i = 0; i < 500; i += 7) {
    std::string v = std::to_string(i * i);
    want += "VALUE r" + std::to_string(i) + " 0 " + std::to_string(v.size()) + "\r\n" + v + "\r\n";
  }
  want += "END\r\n";
  ASSERT_TRUE(a.send(req));
  // While a's batch is processed one request per event, b is served.
  EXPECT_EQ("STORED\r\n", b.cmd("set other 0 0 1\r\no\r\n"));
  EXPECT_EQ("VALUE other 0 1\r\no\r\nEND\r\n", b.cmd("get other\r\n", "END\r\n"));
  std::string got = a.recv_n(want.size(), 15000);
  EXPECT_TRUE(got == want) << rc_dt::first_diff(want, got);
  EXPECT_EQ("", a.recv_idle(50, 200));
}

TEST(Options, MaxItemSize2m) {
  auto d = rc_dt::start_daemon({"-I", "2m"});
  ASSERT_NE(d, nullptr);
  Client c(d->port());
  std::string v = rc_dt::random_bytes(1536 * 1024, 15);
  EXPECT_EQ("STORED\r\n", c.cmd("set big 0 0 " + std::to_string(v.size()) + "\r\n" + v + "\r\n"));
  std::string want = "VALUE big 0 " + std::to_string(v.size()) + "\r\n" + v + "\r\nEND\r\n";
  std::string got = c.cmd("get big\r\n", "\r\nEND\r\n");
  EXPECT_TRUE(got == want) << rc_dt::first_diff(want, got);
  auto st = rc_dt::stats(c, "settings");
  EXPECT_EQ(2 * 1024 * 1024, rc_dt::stat_num(st, "item_size_max"));
  // Over 2 MiB: refused.
  std::string over(2 * 1024 * 1024 + 1, 'o');
  EXPECT_EQ("SERVER_ERROR object too large for cache\r\n",
            c.cmd("set over 0 0 " + std::to_string(over.size()) + "\r\n" + over + "\r\n"));
  // Default (1m) refuses 1.5 MB.
  auto d2 = rc_dt::start_daemon();
  ASSERT_NE(d2, nullptr);
  Client c2(d2->port());
  EXPECT_EQ("SERVER_ERROR object too large for cache\r\n",
            c2.cmd("set big 0 0 " + std::to_string(v.size()) + "\r\n" + v + "\r\n"));
}

TEST(Options, IdleTimeoutClosesIdleConnections) {
  auto d = rc_dt::start_daemon({"-o", "idle_timeout=1"});
  ASSERT_NE(d, nullptr);
  Client idle(d->port()), busy(d->port());
  ASSERT_EQ("STORED\r\n", idle.cmd("set i 0 0 1\r\nx\r\n"));
  long long t0 = rc_test::now_ms();
  bool closed = false;
  // memcached closes an idle connection ~1-2 s after its last command.
  while (rc_test::now_ms() - t0 < 6000 && !closed) {
    ASSERT_EQ("VERSION ", busy.cmd("version\r\n").substr(0, 8)) << "the busy connection was closed";
    closed = idle.peer_closed(100);
  }
  long long took = rc_test::now_ms() - t0;
  EXPECT_TRUE(closed) << "idle connection still open after " << took << " ms with idle_timeout=1";
  EXPECT_GE(took, 900) << "closed too early";
  EXPECT_EQ("VERSION ", busy.cmd("version\r\n").substr(0, 8));
}

TEST(Options, SettingsReflectCommandLine) {
  auto d = rc_dt::start_daemon({"-m", "100", "-c", "77", "-t", "3", "-R", "5", "-f", "1.5", "-n", "64", "-C", "-F"});
  ASSERT_NE(d, nullptr);
  Client c(d->port());
  auto st = rc_dt::stats(c, "settings");
  ASSERT_FALSE(st.empty());
  EXPECT_EQ("104857600", st["maxbytes"]);
  EXPECT_EQ("77", st["maxconns"]);
  EXPECT_EQ("3", st["num_threads"]);
  EXPECT_EQ("5", st["reqs_per_event"]);
  EXPECT_EQ("1.50", st["growth_factor"]);
  EXPECT_EQ("64", st["chunk_size"]);
  EXPECT_EQ("no", st["cas_enabled"]);
  EXPECT_EQ("no", st["flush_enabled"]);
  EXPECT_EQ("127.0.0.1", st["inter"]);
  EXPECT_EQ(std::to_string(d->port()), st["tcpport"]);
  auto gen = rc_dt::stats(c);
  EXPECT_EQ("104857600", gen["limit_maxbytes"]);
  EXPECT_EQ("3", gen["threads"]);
}

}  // namespace
