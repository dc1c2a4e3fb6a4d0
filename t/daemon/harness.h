// Daemon-level test harness for ringcached (and memcached, for comparison).
//
// Starts real server processes on 127.0.0.1 with a free TCP port and talks
// to them over plain POSIX TCP sockets, the way telnet would.  Everything is
// bounded in time: no call here blocks forever.
//
// Environment:
//   RINGCACHED   path of the server under test   (default "src/ringcached")
//   MEMCACHED    path of the reference memcached (default "/usr/bin/memcached")
//   TMPDIR       where daemon log files go       (default "/tmp")
//   RC_TEST_KEEP_LOGS=1   keep daemon log files even when the test passed
//
// When running as root and the binary's basename is "memcached", Daemon::start
// appends "-u root" (memcached refuses to run as root without -u).
//
// Daemons get PR_SET_PDEATHSIG=SIGKILL so that they die with a crashed test.
// Linux ties that to the *thread* that forked: call Daemon::start from a
// thread that outlives the daemon (normally the test's main thread).
#ifndef RINGCACHED_T_DAEMON_HARNESS_H
#define RINGCACHED_T_DAEMON_HARNESS_H

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

namespace rc_test {

std::string ringcached_path();  // getenv("RINGCACHED") or "src/ringcached"
std::string memcached_path();   // getenv("MEMCACHED") or "/usr/bin/memcached"

// Returns a TCP port on 127.0.0.1 that was free a moment ago (bind to port 0
// and read it back).  Racy by nature; Daemon::start retries on bind failure.
int find_free_port();

// Monotonic clock in milliseconds.
long long now_ms();

// Sleep for ms milliseconds (restarts on EINTR).
void sleep_ms(int ms);

// Make bytes readable: \r \n \t \\ are escaped, other non-printables as \xHH.
// A real newline is emitted after each escaped "\n" when split_lines is true.
std::string escape_bytes(const std::string& bytes, bool split_lines = false);

// Contents of a whole file ("" if unreadable).
std::string read_file(const std::string& path);

class Daemon {  // one real server process on 127.0.0.1
 public:
  // Picks a free TCP port, execs `binary -l 127.0.0.1 -p PORT <extra_args>`
  // (stdout/stderr to a log file under $TMPDIR or /tmp, see log_path()),
  // waits until it accepts connections (<= 5 s, else returns nullptr and
  // prints the log).  Retries a few times with another port if the process
  // exits early (e.g. port stolen between probing and binding).
  static std::unique_ptr<Daemon> start(
      const std::string& binary,
      const std::vector<std::string>& extra_args = {});

  int port() const { return port_; }
  pid_t pid() const { return pid_; }
  std::string log_path() const { return log_path_; }
  // Full command line used to start the daemon (for messages).
  std::string command_line() const { return cmdline_; }

  void signal(int sig);           // kill(pid, sig); no-op once reaped
  int wait_exit(int timeout_ms);  // waitpid with timeout; raw status or -1
  bool exited() const { return reaped_; }
  std::string log() const { return read_file(log_path_); }

  // SIGTERM, wait <= 2 s, then SIGKILL; always reaps.  Removes the log file
  // unless the current test failed or RC_TEST_KEEP_LOGS is set.
  ~Daemon();

  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

 private:
  Daemon() = default;
  pid_t pid_ = -1;
  int port_ = 0;
  bool reaped_ = false;
  int status_ = 0;
  std::string log_path_;
  std::string cmdline_;
};

class Client {  // raw TCP socket, as telnet would
 public:
  // Connects to 127.0.0.1:port (<= 3 s).  On failure: ADD_FAILURE, ok() false.
  explicit Client(int port);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  bool ok() const { return fd_ >= 0; }
  int fd() const { return fd_; }

  // Sends all bytes (<= 10 s).  While the socket is not writable, incoming
  // bytes are drained into an internal buffer (so huge pipelines cannot
  // deadlock); the recv_* functions return that buffered data first.
  // Returns false on error (EPIPE, ECONNRESET, timeout) or if !ok().
  bool send(const std::string& bytes);

  // Everything read up to and including terminator; bytes after it stay
  // buffered for the next call.  On timeout/EOF returns what it has.
  std::string recv_until(const std::string& terminator, int timeout_ms = 3000);

  // Reads until no bytes arrived for idle_ms (or EOF, or max_ms in total).
  std::string recv_idle(int idle_ms = 60, int max_ms = 3000);

  // Reads exactly n bytes (fewer on timeout/EOF).
  std::string recv_n(size_t n, int timeout_ms = 3000);

  // send + recv_until.
  std::string cmd(const std::string& req, const std::string& terminator = "\r\n");

  // True if EOF/ECONNRESET was seen within timeout.  Data read meanwhile is
  // kept in the buffer.
  bool peer_closed(int timeout_ms = 1000);

  // True once EOF or a connection error has been observed on reads.
  bool eof() const { return eof_; }

  // Closes the socket now (also done by the destructor).
  void close();

 private:
  // Reads whatever is available within timeout_ms into buf_.  Returns the
  // number of bytes read; 0 on timeout; -1 on EOF/error (sets eof_).
  long fill(int timeout_ms);

  int fd_ = -1;
  bool eof_ = false;
  std::string buf_;
};

}  // namespace rc_test

#endif  // RINGCACHED_T_DAEMON_HARNESS_H
