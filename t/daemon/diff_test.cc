// Differential protocol test: runs every script in $SRCDIR/t/diff/*.script
// against the reference memcached and against the server under test
// (ringcached_path()), each on a fresh daemon started with the same options,
// and compares the two transcripts byte for byte after normalisation.
//
// Environment:
//   SRCDIR          where t/diff lives (default ".")
//   RINGCACHED      server under test (default "src/ringcached")
//   MEMCACHED       reference server  (default "/usr/bin/memcached")
//   RC_DIFF_IDLE_MS capture idle time in ms (default 60; a script can
//                   override it with "#! idle: N")
//   RC_DIFF_RETRY   0 disables the automatic re-run, with a 4x longer idle
//                   time, of a script whose transcripts differ only in how
//                   the same bytes fell into captures (default: enabled)
//   RC_DIFF_PHASE_MS  delay (ms) between starting the reference and the
//                   server under test, to check that scripts do not depend on
//                   the phase of the servers' 1 s clocks (default 0)
//   RC_DIFF_DUMP    1 writes both normalised transcripts of every script to
//                   $TMPDIR (default only on mismatch)
//
// ============================== SCRIPT FORMAT ==============================
// (also in t/diff/README)
//
// A script is a text file, one directive per line.  Blank lines and lines
// starting with "#" are ignored, except header lines starting with "#!":
//
//   #! args: -m 8 -C     extra daemon options for this script.  The defaults
//                        are "-t 4 -m 64"; a default whose option letter the
//                        script also gives is dropped (so -m 8 replaces -m 64).
//   #! idle: 100         capture idle time (ms) for this script.
//
// Steps (each step runs on the "current connection", see `conn`):
//
//   > TEXT          send TEXT followed by \r\n, then capture the reply
//   + TEXT          append TEXT + \r\n to the bytes of the preceding
//                   `>`, `raw` or `split` step (one send() for all of it:
//                   use it for data blocks and pipelining)
//   raw TEXT        send exactly TEXT (no \r\n added), then capture
//   split MS TEXT   send exactly TEXT one byte at a time, pausing MS ms
//                   between bytes (TCP_NODELAY is on), then capture
//   sleep MS        pause MS milliseconds (no capture)
//   conn NAME       make connection NAME current, connecting it now if it is
//                   not open (never opened, closed by `close`, or closed by
//                   the server).  Before the first `conn`, the current
//                   connection is "1" (opened lazily by the first send).
//   close           close the current connection from the client side
//
// A trailing "\r" on a script line (CRLF files) is removed; every other byte
// of TEXT is literal (including leading/trailing spaces after the one
// separator space) except these escapes:
//
//   \r \n \t \\ \0      CR, LF, TAB, backslash, NUL
//   \xHH                the byte 0xHH
//   \s                  a space (handy for visible trailing spaces)
//   \$                  a literal "$"
//   ${cas}              the CAS of the last "VALUE key flags bytes CAS" line
//                       this server sent (per server: CAS values differ)
//   ${cas:KEY}          the CAS last seen for KEY
//   ${rep:N:TEXT}       TEXT (escapes allowed, no "}") repeated N times
//
// Capture: after a send step the connection is read until no byte arrived
// for the idle time (default 60 ms, max 5 s in total), or EOF/reset.  EOF is
// recorded as <EOF>; a step on a connection that has already seen EOF is
// not sent and records <closed>.  Bytes still arriving after the last step
// are compared too.
//
// Both servers run the script in lockstep (each step on both at once, in two
// threads).  When the two captures of a step differ, both connections are
// read again with 4x the idle time before the step counts as different, so
// a merely slow reply is not reported.  If the transcripts still differ but
// each connection received the same byte stream, the whole script is re-run
// once with 4x the idle time (RC_DIFF_RETRY=0 disables this).
//
// Normalisation before comparison (applied to both servers alike):
//   * CAS values in VALUE lines become <cas#N>, N numbered in order of first
//     appearance, so "same CAS"/"different CAS" relations are still compared
//     but the absolute values are not; likewise a meta reply's c<CAS> flag
//     and ME's cas=;
//   * in meta replies, t<secs>, l<secs> and ME's exp=/la= may differ by one
//     between the servers (clock phase), no more;
//   * the text after "VERSION " becomes <version>;
//   * every run of consecutive "STAT ..." lines becomes one "STAT <...>"
//     line (only the STAT...END structure is compared, not the stat set).
//   Data blocks following VALUE lines are skipped by the normaliser, so data
//   that happens to look like "VERSION x" is compared verbatim.
//
// On a mismatch the differing steps are printed with \r \n escaped, and the
// complete normalised transcripts are written to $TMPDIR for `diff -u`.
// ===========================================================================

#include <ctype.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "harness.h"

namespace rc_test {
namespace {

// ------------------------------------------------------------ script model

struct Step {
  enum Kind { kSend, kSplit, kSleep, kConn, kClose } kind = kSend;
  std::string text;  // escaped source text (still with escapes / variables)
  int ms = 0;        // split pause or sleep time
  std::string conn;  // for kConn
  int line = 0;      // first script line of the step
  std::string src;   // script lines making up the step (for messages)
};

struct Script {
  std::string path;
  std::string name;
  std::vector<std::string> args;
  int idle_ms = -1;
  std::vector<Step> steps;
  std::string error;  // parse error ("" if fine)
};

std::string srcdir() {
  const char* s = getenv("SRCDIR");
  return (s && *s) ? s : ".";
}

int env_int(const char* name, int def) {
  const char* s = getenv(name);
  if (!s || !*s) return def;
  return atoi(s);
}

std::vector<std::string> split_ws(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  std::string w;
  while (in >> w) out.push_back(w);
  return out;
}

bool parse_int(const std::string& s, int* out) {
  if (s.empty()) return false;
  char* end = nullptr;
  long v = strtol(s.c_str(), &end, 10);
  if (*end != '\0' || v < 0 || v > 100000000) return false;
  *out = (int)v;
  return true;
}

// Variables available while expanding TEXT.
struct Vars {
  bool have_cas = false;
  std::string last_cas;
  std::map<std::string, std::string> cas_by_key;
};

int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Expands escapes and ${...}.  vars == nullptr: syntax check only (variables
// expand to a placeholder).  Returns false and sets *err on error.
bool expand(const std::string& in, const Vars* vars, std::string* out, std::string* err) {
  out->clear();
  for (size_t i = 0; i < in.size(); i++) {
    char c = in[i];
    if (c == '\\') {
      if (i + 1 >= in.size()) {
        *err = "dangling backslash";
        return false;
      }
      char e = in[++i];
      switch (e) {
        case 'r': *out += '\r'; break;
        case 'n': *out += '\n'; break;
        case 't': *out += '\t'; break;
        case '0': *out += '\0'; break;
        case 's': *out += ' '; break;
        case '\\': *out += '\\'; break;
        case '$': *out += '$'; break;
        case 'x': {
          int h = i + 2 < in.size() ? hexval(in[i + 1]) : -1;
          int l = i + 2 < in.size() ? hexval(in[i + 2]) : -1;
          if (h < 0 || l < 0) {
            *err = "bad \\x escape (need two hex digits)";
            return false;
          }
          *out += (char)(h * 16 + l);
          i += 2;
          break;
        }
        default:
          *err = std::string("unknown escape \\") + e;
          return false;
      }
    } else if (c == '$' && i + 1 < in.size() && in[i + 1] == '{') {
      size_t close = in.find('}', i + 2);
      if (close == std::string::npos) {
        *err = "unterminated ${";
        return false;
      }
      std::string body = in.substr(i + 2, close - i - 2);
      i = close;
      if (body == "cas") {
        if (!vars) {
          *out += "1";
        } else if (!vars->have_cas) {
          *err = "${cas} used before any VALUE line with a CAS was received";
          return false;
        } else {
          *out += vars->last_cas;
        }
      } else if (body.rfind("cas:", 0) == 0) {
        std::string key = body.substr(4);
        if (!vars) {
          *out += "1";
        } else {
          auto it = vars->cas_by_key.find(key);
          if (it == vars->cas_by_key.end()) {
            *err = "${cas:" + key + "} used before a CAS for that key was received";
            return false;
          }
          *out += it->second;
        }
      } else if (body.rfind("rep:", 0) == 0) {
        size_t colon = body.find(':', 4);
        int n = 0;
        if (colon == std::string::npos || !parse_int(body.substr(4, colon - 4), &n)) {
          *err = "bad ${rep:N:TEXT}";
          return false;
        }
        std::string unit;
        if (!expand(body.substr(colon + 1), vars, &unit, err)) return false;
        out->reserve(out->size() + unit.size() * (size_t)n);
        for (int k = 0; k < n; k++) *out += unit;
      } else {
        *err = "unknown variable ${" + body + "}";
        return false;
      }
    } else {
      *out += c;
    }
  }
  return true;
}

Script parse_script(const std::string& path) {
  Script s;
  s.path = path;
  std::string base = path.substr(path.rfind('/') == std::string::npos ? 0 : path.rfind('/') + 1);
  s.name = base;
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    s.error = "cannot open " + path;
    return s;
  }
  std::string line;
  int lineno = 0;
  bool seen_step = false;
  auto fail = [&](const std::string& msg) {
    if (s.error.empty()) s.error = path + ":" + std::to_string(lineno) + ": " + msg;
  };
  while (std::getline(in, line)) {
    lineno++;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.rfind("#!", 0) == 0) {
      std::string h = line.substr(2);
      size_t colon = h.find(':');
      std::string key = colon == std::string::npos ? h : h.substr(0, colon);
      key.erase(std::remove(key.begin(), key.end(), ' '), key.end());
      std::string val = colon == std::string::npos ? "" : h.substr(colon + 1);
      if (seen_step) fail("header after the first step");
      if (key == "args") {
        for (auto& a : split_ws(val)) s.args.push_back(a);
      } else if (key == "idle") {
        auto w = split_ws(val);
        if (w.size() != 1 || !parse_int(w[0], &s.idle_ms)) fail("bad idle header");
      } else {
        fail("unknown header '" + key + "'");
      }
      continue;
    }
    if (line.empty() || line[0] == '#') continue;
    std::string kw, rest;
    size_t sp = line.find(' ');
    kw = sp == std::string::npos ? line : line.substr(0, sp);
    rest = sp == std::string::npos ? "" : line.substr(sp + 1);
    Step st;
    st.line = lineno;
    st.src = line;
    if (kw == ">") {
      st.kind = Step::kSend;
      st.text = rest + "\\r\\n";
    } else if (kw == "+") {
      if (s.steps.empty() || (s.steps.back().kind != Step::kSend &&
                              s.steps.back().kind != Step::kSplit)) {
        fail("'+' line without a preceding '>', 'raw' or 'split' step");
        continue;
      }
      s.steps.back().text += rest + "\\r\\n";
      s.steps.back().src += "\n" + line;
      continue;
    } else if (kw == "raw") {
      st.kind = Step::kSend;
      st.text = rest;
    } else if (kw == "split") {
      st.kind = Step::kSplit;
      size_t sp2 = rest.find(' ');
      if (sp2 == std::string::npos || !parse_int(rest.substr(0, sp2), &st.ms)) {
        fail("usage: split MS TEXT");
        continue;
      }
      st.text = rest.substr(sp2 + 1);
    } else if (kw == "sleep") {
      st.kind = Step::kSleep;
      if (!parse_int(rest, &st.ms)) fail("usage: sleep MS");
    } else if (kw == "conn") {
      st.kind = Step::kConn;
      st.conn = rest;
      if (rest.empty() || rest.find(' ') != std::string::npos) fail("usage: conn NAME");
    } else if (kw == "close") {
      st.kind = Step::kClose;
      if (!rest.empty()) fail("usage: close");
    } else {
      fail("unknown directive '" + kw + "'");
      continue;
    }
    seen_step = true;
    s.steps.push_back(st);
  }
  for (const auto& st : s.steps) {
    if (st.kind != Step::kSend && st.kind != Step::kSplit) continue;
    std::string tmp, err;
    if (!expand(st.text, nullptr, &tmp, &err)) {
      lineno = st.line;
      fail(err);
    }
  }
  if (s.steps.empty()) fail("script has no steps");
  return s;
}

std::vector<std::string> daemon_args(const Script& s) {
  std::vector<std::string> defaults = {"-t", "4", "-m", "64"};
  std::vector<std::string> out;
  for (size_t i = 0; i + 1 < defaults.size(); i += 2) {
    bool overridden = false;
    for (const auto& a : s.args)
      if (a.size() >= 2 && a[0] == '-' && a[1] == defaults[i][1]) overridden = true;
    if (!overridden) {
      out.push_back(defaults[i]);
      out.push_back(defaults[i + 1]);
    }
  }
  bool has_user = false;
  for (const auto& a : s.args) {
    out.push_back(a);
    if (a == "-u" || a.rfind("--user", 0) == 0) has_user = true;
  }
  // Both memcached and ringcached refuse to run as root without -u.
  if (geteuid() == 0 && !has_user) {
    out.push_back("-u");
    out.push_back("root");
  }
  return out;
}

// ------------------------------------------------------------ reply parsing

// Calls fn(line_without_crlf, line_start, line_end_incl_nl) for every
// response line of reply, skipping the data blocks of VALUE lines.
struct Line {
  size_t start, end;  // [start, end) incl. the terminating \n if any
  std::string text;   // without \r\n / \n
};

std::vector<Line> reply_lines(const std::string& r) {
  std::vector<Line> out;
  size_t pos = 0;
  while (pos < r.size()) {
    size_t nl = r.find('\n', pos);
    size_t end = nl == std::string::npos ? r.size() : nl + 1;
    Line l;
    l.start = pos;
    l.end = end;
    size_t tend = nl == std::string::npos ? r.size() : nl;
    if (tend > pos && r[tend - 1] == '\r') tend--;
    l.text = r.substr(pos, tend - pos);
    out.push_back(l);
    pos = end;
    bool va = l.text.rfind("VA ", 0) == 0;
    if (l.text.rfind("VALUE ", 0) == 0 || va) {
      auto w = split_ws(l.text);
      size_t lenpos = va ? 1 : 3;
      if (w.size() > lenpos) {
        char* e = nullptr;
        unsigned long long n = strtoull(w[lenpos].c_str(), &e, 10);
        if (*e == '\0' && n < (1ULL << 40)) {
          size_t skip = (size_t)n + 2;
          Line d;
          d.start = pos;
          d.end = std::min(r.size(), pos + skip);
          d.text = std::string("\0data", 5);  // marker: data block
          out.push_back(d);
          pos = d.end;
        }
      }
    }
  }
  return out;
}

// Per-server state for normalisation and variables.
struct ServerState {
  Vars vars;
  std::map<std::string, int> cas_class;
};

// Meta protocol reply lines: status code first, then flags.
bool is_meta_line(const std::string& text) {
  static const char* codes[] = {"HD", "VA", "EN", "NF", "NS", "EX", "ME"};
  std::string first = text.substr(0, text.find(' '));
  for (const char* c : codes)
    if (first == c) return true;
  return false;
}

bool all_digits(const std::string& s, size_t from) {
  if (s.size() <= from) return false;
  for (size_t i = from; i < s.size(); i++)
    if (!isdigit((unsigned char)s[i])) return false;
  return true;
}

// The flag tokens of a meta line (after the code, VA's size, ME's key).
size_t meta_first_flag(const std::vector<std::string>& w) {
  return (w[0] == "VA" || w[0] == "ME") ? 2 : 1;
}

void record_vars(const std::string& reply, ServerState* st) {
  for (const auto& l : reply_lines(reply)) {
    if (is_meta_line(l.text)) {
      // c<CAS> (and, with k<key>, per key) feed ${cas} / ${cas:KEY}.
      auto w = split_ws(l.text);
      std::string cas, key;
      for (size_t i = meta_first_flag(w); i < w.size(); i++) {
        if (w[i][0] == 'c' && all_digits(w[i], 1)) cas = w[i].substr(1);
        if (w[i][0] == 'k') key = w[i].substr(1);
        if (w[0] == "ME" && w[i].rfind("cas=", 0) == 0) cas = w[i].substr(4);
      }
      if (w[0] == "ME" && w.size() > 1) key = w[1];
      if (!cas.empty()) {
        st->vars.have_cas = true;
        st->vars.last_cas = cas;
        if (!key.empty()) st->vars.cas_by_key[key] = cas;
      }
      continue;
    }
    if (l.text.rfind("VALUE ", 0) != 0) continue;
    auto w = split_ws(l.text);
    if (w.size() == 5) {
      st->vars.have_cas = true;
      st->vars.last_cas = w[4];
      st->vars.cas_by_key[w[1]] = w[4];
    }
  }
}

std::string cas_class(const std::string& cas, ServerState* st) {
  auto it = st->cas_class.find(cas);
  int id;
  if (it == st->cas_class.end()) {
    id = (int)st->cas_class.size() + 1;
    st->cas_class[cas] = id;
  } else {
    id = it->second;
  }
  return "<cas#" + std::to_string(id) + ">";
}

// Time-dependent numbers are wrapped in kTol so that equivalent() lets them
// differ by one second (the two servers' clocks tick at different moments)
// while still comparing them.
const char kTol = '\x01';

std::string tol(const std::string& num) { return std::string(1, kTol) + num + kTol; }

// A meta reply line: c<CAS> and ME's cas= become CAS classes as in VALUE
// lines; t<secs>, l<secs> and ME's exp= / la= become tolerant numbers.
std::string normalise_meta(const std::string& text, ServerState* st) {
  auto w = split_ws(text);
  bool me = w[0] == "ME";
  for (size_t i = meta_first_flag(w); i < w.size(); i++) {
    std::string& t = w[i];
    if (me) {
      if (t.rfind("cas=", 0) == 0) t = "cas=" + cas_class(t.substr(4), st);
      else if (t.rfind("la=", 0) == 0) t = "la=" + tol(t.substr(3));
      else if (t.rfind("exp=", 0) == 0 && t != "exp=-1") t = "exp=" + tol(t.substr(4));
    } else if (t[0] == 'c' && all_digits(t, 1)) {
      t = "c" + cas_class(t.substr(1), st);
    } else if ((t[0] == 't' || t[0] == 'l') && all_digits(t, 1)) {
      t = t.substr(0, 1) + tol(t.substr(1));
    }
  }
  std::string out;
  for (size_t i = 0; i < w.size(); i++) out += (i ? " " : "") + w[i];
  return out;
}

// Equality of normalised transcripts, where tolerant numbers may differ by
// at most one.
bool equivalent(const std::string& a, const std::string& b) {
  if (a == b) return true;
  size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    if (a[i] == kTol && b[j] == kTol) {
      size_t ie = a.find(kTol, i + 1), je = b.find(kTol, j + 1);
      if (ie == std::string::npos || je == std::string::npos) return false;
      long long x = atoll(a.substr(i + 1, ie - i - 1).c_str());
      long long y = atoll(b.substr(j + 1, je - j - 1).c_str());
      if (x - y > 1 || y - x > 1) return false;
      i = ie + 1;
      j = je + 1;
    } else if (a[i] != b[j]) {
      return false;
    } else {
      i++;
      j++;
    }
  }
  return i == a.size() && j == b.size();
}

std::string normalise(const std::string& reply, ServerState* st) {
  std::string out;
  bool in_stats = false;
  for (const auto& l : reply_lines(reply)) {
    std::string raw = reply.substr(l.start, l.end - l.start);
    std::string ending = raw.size() >= 2 && raw.compare(raw.size() - 2, 2, "\r\n") == 0 ? "\r\n"
                         : (!raw.empty() && raw.back() == '\n') ? "\n"
                                                                 : "";
    bool is_data = l.text.size() == 5 && l.text.compare(0, 5, std::string("\0data", 5)) == 0;
    if (!is_data && l.text.rfind("STAT ", 0) == 0 && !ending.empty()) {
      if (!in_stats) out += "STAT <...>" + ending;
      in_stats = true;
      continue;
    }
    in_stats = false;
    if (is_data) {
      out += raw;
    } else if (l.text.rfind("VALUE ", 0) == 0) {
      auto w = split_ws(l.text);
      if (w.size() == 5 && !ending.empty() && l.text == w[0] + " " + w[1] + " " + w[2] + " " +
                                                           w[3] + " " + w[4]) {
        auto it = st->cas_class.find(w[4]);
        int id;
        if (it == st->cas_class.end()) {
          id = (int)st->cas_class.size() + 1;
          st->cas_class[w[4]] = id;
        } else {
          id = it->second;
        }
        out += "VALUE " + w[1] + " " + w[2] + " " + w[3] + " <cas#" + std::to_string(id) + ">" +
               ending;
      } else {
        out += raw;
      }
    } else if (is_meta_line(l.text) && !ending.empty() &&
               l.text.find("  ") == std::string::npos) {
      out += normalise_meta(l.text, st) + ending;
    } else if (l.text.rfind("VERSION ", 0) == 0 && !ending.empty()) {
      out += "VERSION <version>" + ending;
    } else {
      out += raw;
    }
  }
  return out;
}

// Escapes bytes for display and abbreviates long runs of one byte.
std::string display(const std::string& s, size_t limit = 3000) {
  std::string out;
  size_t i = 0;
  while (i < s.size()) {
    size_t j = i;
    while (j < s.size() && s[j] == s[i]) j++;
    if (j - i >= 24) {
      out += escape_bytes(std::string(1, s[i])) + "{x" + std::to_string(j - i) + "}";
    } else {
      out += escape_bytes(s.substr(i, j - i));
    }
    i = j;
    if (out.size() > limit) {
      out += "...(" + std::to_string(s.size()) + " bytes in total)";
      break;
    }
  }
  return out;
}

// ------------------------------------------------------------ execution

struct StepResult {
  std::string raw;   // bytes received (plus <EOF>/<closed> markers)
  std::string norm;  // normalised
  std::string note;  // harness-side problems (not compared)
};

struct RunResult {
  std::vector<StepResult> steps;  // one per script step (empty for non-capturing)
  std::string error;              // fatal problem (daemon did not start, ...)
  std::string log_path;
  std::string exit_problem;       // daemon died during the script
  // Bytes that arrived on each still-open connection after the last step.
  std::map<std::string, std::string> trailing;
};

// Executes a script against one server, one step at a time (run_pair drives
// the two Runners in lockstep).
class Runner {
 public:
  Runner(const Script& s, Daemon* d, int idle_ms) : s_(s), d_(d), idle_(idle_ms) {}

  void step(size_t i, StepResult* res) {
    const Step& st = s_.steps[i];
    switch (st.kind) {
      case Step::kSleep:
        sleep_ms(st.ms);
        break;
      case Step::kConn:
        cur_ = st.conn;
        get_conn(cur_, true);
        break;
      case Step::kClose: {
        auto it = conns_.find(cur_);
        if (it != conns_.end()) conns_.erase(it);
        break;
      }
      case Step::kSend:
      case Step::kSplit: {
        Client* c = get_conn(cur_);
        if (!c || !c->ok()) {
          res->raw = "<connect failed>";
          break;
        }
        if (c->eof()) {
          res->raw = "<closed>";
          break;
        }
        std::string bytes, err;
        if (!expand(st.text, &state_.vars, &bytes, &err)) {
          res->raw = "<script error: " + err + ">";
          res->note = err;
          break;
        }
        bool ok = true;
        if (st.kind == Step::kSend) {
          ok = c->send(bytes);
        } else {
          for (size_t b = 0; b < bytes.size() && ok; b++) {
            ok = c->send(bytes.substr(b, 1));
            if (b + 1 < bytes.size()) sleep_ms(st.ms);
          }
        }
        if (!ok) res->note = "send failed (peer closed?)";
        before_ = state_;
        std::string got = c->recv_idle(idle_, 5000);
        record_vars(got, &state_);
        res->raw = got;
        res->norm = normalise(got, &state_);
        if (c->eof()) {
          res->raw += "<EOF>";
          res->norm += "<EOF>";
        }
        break;
      }
    }
    if (res->norm.empty()) res->norm = res->raw;
  }

  // Reads more of the reply to capture step i (which must be the last step
  // executed) with a longer idle time: used when the two servers' captures
  // differ, in case one server was merely slower than the idle time.
  void settle(size_t i, StepResult* res, int idle_ms) {
    const Step& st = s_.steps[i];
    if (st.kind != Step::kSend && st.kind != Step::kSplit) return;
    auto it = conns_.find(cur_);
    if (it == conns_.end() || !it->second->ok() || it->second->eof()) return;
    if (!res->note.empty() && res->raw.rfind("<script error", 0) == 0) return;
    Client* c = it->second.get();
    std::string more = c->recv_idle(idle_ms, 3000);
    if (more.empty() && !c->eof()) return;
    record_vars(more, &state_);
    res->raw += more;
    state_.cas_class = before_.cas_class;
    res->norm = normalise(res->raw, &state_);
    if (c->eof()) {
      res->raw += "<EOF>";
      res->norm += "<EOF>";
    }
    if (res->norm.empty()) res->norm = res->raw;
  }

  // Drains what arrived after the last step on every open connection.
  void finish(RunResult* rr) {
    for (auto& kv : conns_) {
      if (!kv.second->ok() || kv.second->eof()) continue;
      std::string rest = kv.second->recv_idle(idle_, 5000);
      if (kv.second->eof()) rest += "<EOF>";
      if (!rest.empty()) rr->trailing[kv.first] = rest;
    }
    conns_.clear();
  }

 private:
  // Returns connection `name`.  With reconnect, a connection that has seen
  // EOF is replaced by a fresh one (used by `conn NAME`).
  Client* get_conn(const std::string& name, bool reconnect = false) {
    auto it = conns_.find(name);
    if (it != conns_.end() && !(reconnect && it->second->eof())) return it->second.get();
    auto c = std::make_unique<Client>(d_->port());
    Client* p = c.get();
    conns_[name] = std::move(c);
    return p;
  }

  const Script& s_;
  Daemon* d_;
  int idle_;
  std::string cur_ = "1";
  std::map<std::string, std::unique_ptr<Client>> conns_;
  ServerState state_;
  ServerState before_;  // state_ before the last capture was normalised
};

// Runs f(ref_runner) and f(sut_runner) concurrently.
template <typename F>
void both(Runner* a, Runner* b, F f) {
  std::thread t([&] { f(a, 0); });
  f(b, 1);
  t.join();
}

struct PairResult {
  RunResult ref, sut;
  std::string fatal;
};

std::string exit_desc(int st) {
  if (WIFEXITED(st)) return "exited with status " + std::to_string(WEXITSTATUS(st));
  if (WIFSIGNALED(st)) return "killed by signal " + std::to_string(WTERMSIG(st));
  return "status " + std::to_string(st);
}

PairResult run_pair(const Script& s, int idle_ms) {
  PairResult pr;
  auto args = daemon_args(s);
  std::unique_ptr<Daemon> ref = Daemon::start(memcached_path(), args);
  if (!ref) {
    pr.fatal = "could not start reference " + memcached_path();
    return pr;
  }
  // Servers with a 1 s clock tick in phase with their start time: two
  // memcacheds started together tick together and hide clock-phase races in
  // a script.  RC_DIFF_PHASE_MS delays the second start to expose them.
  sleep_ms(env_int("RC_DIFF_PHASE_MS", 0));
  std::unique_ptr<Daemon> sut = Daemon::start(ringcached_path(), args);
  if (!sut) {
    pr.fatal = "could not start server under test " + ringcached_path() +
               " (set RINGCACHED=/path/to/ringcached)";
    return pr;
  }
  // Accepting a connection does not mean the event loop is serving yet (a
  // fresh memcached can take >60 ms for its first reply): do one round trip
  // on a throwaway connection before the script starts.
  for (Daemon* d : {ref.get(), sut.get()}) {
    Client warm(d->port());
    std::string v = warm.ok() ? warm.cmd("version\r\n") : "";
    if (v.rfind("VERSION ", 0) != 0) {
      pr.fatal = "`" + d->command_line() + "` did not answer \"version\" within 3 s (got \"" +
                 display(v) + "\")";
      return pr;
    }
  }
  Runner rref(s, ref.get(), idle_ms), rsut(s, sut.get(), idle_ms);
  RunResult* rr[2] = {&pr.ref, &pr.sut};
  for (RunResult* r : rr) r->steps.resize(s.steps.size());
  for (size_t i = 0; i < s.steps.size(); i++) {
    both(&rref, &rsut, [&](Runner* r, int k) { r->step(i, &rr[k]->steps[i]); });
    if (!equivalent(pr.ref.steps[i].norm, pr.sut.steps[i].norm)) {
      // Possibly just a slow reply: give both servers a longer idle time.
      both(&rref, &rsut, [&](Runner* r, int k) { r->settle(i, &rr[k]->steps[i], 4 * idle_ms); });
    }
  }
  both(&rref, &rsut, [&](Runner* r, int k) { r->finish(rr[k]); });
  struct {
    Daemon* d;
    RunResult* r;
  } both[] = {{ref.get(), &pr.ref}, {sut.get(), &pr.sut}};
  for (auto& b : both) {
    int st = b.d->wait_exit(0);
    if (st != -1) {
      b.r->exit_problem = "`" + b.d->command_line() + "` " + exit_desc(st) +
                          " during the script. Log:\n" + b.d->log();
    }
    // Teardown speed: memcached takes up to ~1 s to act on SIGTERM, and the
    // graceful path is tested elsewhere.  Kill both now, reap in ~Daemon.
    b.d->signal(SIGKILL);
  }
  return pr;
}

std::string step_label(const Script& s, size_t i) {
  const Step& st = s.steps[i];
  std::string src = st.src;
  if (src.size() > 300) src = src.substr(0, 300) + "...";
  return s.path + ":" + std::to_string(st.line) + ": " + src;
}

std::string write_transcript(const Script& s, const RunResult& r, const std::string& who) {
  const char* t = getenv("TMPDIR");
  std::string dir = (t && *t) ? t : "/tmp";
  std::string path = dir + "/rc_diff_" + s.name + "." + who + ".txt";
  std::ofstream out(path, std::ios::binary);
  std::string conn = "1";
  for (size_t i = 0; i < s.steps.size(); i++) {
    const Step& st = s.steps[i];
    if (st.kind == Step::kConn) conn = st.conn;
    out << "=== line " << st.line << " [conn " << conn << "] " << st.src << "\n";
    if (st.kind == Step::kSend || st.kind == Step::kSplit)
      out << display(r.steps[i].norm, 1u << 20) << "\n";
  }
  return path;
}

// Returns "" if the normalised transcripts agree, else a readable report.
std::string compare(const Script& s, const PairResult& pr, const std::string& sut_name) {
  std::ostringstream msg;
  int ndiff = 0;
  for (size_t i = 0; i < s.steps.size(); i++) {
    const StepResult& a = pr.ref.steps[i];
    const StepResult& b = pr.sut.steps[i];
    if (equivalent(a.norm, b.norm)) continue;
    if (++ndiff > 15) continue;
    msg << "\n" << step_label(s, i) << "\n"
        << "    ref: \"" << display(a.norm) << "\"\n"
        << "    sut: \"" << display(b.norm) << "\"\n";
    if (!a.note.empty()) msg << "    (ref side: " << a.note << ")\n";
    if (!b.note.empty()) msg << "    (sut side: " << b.note << ")\n";
  }
  std::map<std::string, int> conns;
  for (const auto& kv : pr.ref.trailing) conns[kv.first];
  for (const auto& kv : pr.sut.trailing) conns[kv.first];
  for (const auto& kv : conns) {
    auto get = [&](const std::map<std::string, std::string>& m) {
      auto it = m.find(kv.first);
      return it == m.end() ? std::string() : it->second;
    };
    ServerState sa, sb;
    std::string a = normalise(get(pr.ref.trailing), &sa), b = normalise(get(pr.sut.trailing), &sb);
    if (equivalent(a, b)) continue;
    if (++ndiff > 15) continue;
    msg << "\n" << s.path << ": after the last step, unread bytes on connection " << kv.first
        << "\n    ref: \"" << display(a) << "\"\n    sut: \"" << display(b) << "\"\n";
  }
  std::string problems;
  if (!pr.ref.exit_problem.empty()) problems += "\nreference daemon: " + pr.ref.exit_problem;
  if (!pr.sut.exit_problem.empty()) problems += "\nserver under test: " + pr.sut.exit_problem;
  if (ndiff == 0 && problems.empty()) return "";
  std::ostringstream out;
  if (ndiff > 0) {
    out << ndiff << " step(s) differ in " << s.path << " (showing up to 15)\n"
        << "ref = " << memcached_path() << ", sut = " << sut_name
        << " (replies escaped, runs of >= 24 equal bytes shown as c{xN})\n"
        << msg.str();
    if (ndiff > 15) out << "\n  ... and " << (ndiff - 15) << " more\n";
  }
  out << problems;
  return out.str();
}

// True if, per connection, both servers sent the same byte stream and the
// transcripts differ only in how the bytes fell into the idle-based captures
// (a timing artefact worth a re-run with a longer idle time).
bool same_streams(const Script& s, const PairResult& pr) {
  std::map<std::string, std::string> a, b;
  std::string conn = "1";
  for (size_t i = 0; i < s.steps.size(); i++) {
    if (s.steps[i].kind == Step::kConn) conn = s.steps[i].conn;
    a[conn] += pr.ref.steps[i].raw;
    b[conn] += pr.sut.steps[i].raw;
  }
  for (const auto& kv : pr.ref.trailing) a[kv.first] += kv.second;
  for (const auto& kv : pr.sut.trailing) b[kv.first] += kv.second;
  for (const auto& kv : b) a[kv.first];
  for (const auto& kv : a) {
    ServerState sa, sb;
    if (!equivalent(normalise(kv.second, &sa), normalise(b[kv.first], &sb))) return false;
  }
  return true;
}

// ------------------------------------------------------------ gtest glue

std::vector<std::string> script_files() {
  std::vector<std::string> out;
  std::string dir = srcdir() + "/t/diff";
  DIR* d = opendir(dir.c_str());
  if (!d) return out;
  while (struct dirent* e = readdir(d)) {
    std::string n = e->d_name;
    if (n.size() > 7 && n.compare(n.size() - 7, 7, ".script") == 0) out.push_back(dir + "/" + n);
  }
  closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

std::string test_name(const std::string& path) {
  std::string base = path.substr(path.rfind('/') + 1);
  base = base.substr(0, base.size() - 7);
  for (auto& c : base)
    if (!isalnum((unsigned char)c)) c = '_';
  return base;
}

class DiffTest : public ::testing::TestWithParam<std::string> {};

TEST_P(DiffTest, SameTranscript) {
  Script s = parse_script(GetParam());
  ASSERT_TRUE(s.error.empty()) << s.error;
  int idle = s.idle_ms > 0 ? s.idle_ms : env_int("RC_DIFF_IDLE_MS", 60);
  std::string sut_name = ringcached_path();

  long long t0 = now_ms();
  PairResult pr = run_pair(s, idle);
  ASSERT_TRUE(pr.fatal.empty()) << pr.fatal;
  std::string report = compare(s, pr, sut_name);
  if (!report.empty() && env_int("RC_DIFF_RETRY", 1) != 0 && same_streams(s, pr)) {
    // Captures are idle-time based; on a loaded machine a reply can straddle
    // two captures.  When the byte streams are the same and only their split
    // into captures differs, re-run once with a much longer idle time.
    fprintf(stderr,
            "NOTE %s: transcripts differed with idle=%d ms, re-running with idle=%d ms. "
            "First report:\n%s\n",
            s.name.c_str(), idle, idle * 4, report.c_str());
    pr = run_pair(s, idle * 4);
    ASSERT_TRUE(pr.fatal.empty()) << pr.fatal;
    report = compare(s, pr, sut_name);
  }
  if (!report.empty() || env_int("RC_DIFF_DUMP", 0)) {
    std::string p1 = write_transcript(s, pr.ref, "memcached");
    std::string p2 = write_transcript(s, pr.sut, "sut");
    if (!report.empty()) report += "\nfull normalised transcripts: diff -u " + p1 + " " + p2;
  }
  EXPECT_TRUE(report.empty()) << report;
  RecordProperty("elapsed_ms", std::to_string(now_ms() - t0));
}

INSTANTIATE_TEST_SUITE_P(Scripts, DiffTest, ::testing::ValuesIn(script_files()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return test_name(info.param);
                         });
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(DiffTest);

TEST(DiffScripts, Found) {
  EXPECT_FALSE(script_files().empty())
      << "no *.script files in " << srcdir() << "/t/diff (set SRCDIR to the source tree)";
}

// The scripts compare only the shape of `stats`; the meta commands' effect
// on the counters is compared here, value by value, after the same
// requests on both servers.
std::map<std::string, std::string> stat_map(Client* c) {
  std::map<std::string, std::string> m;
  std::string r = c->cmd("stats\r\n", "END\r\n");
  for (const auto& l : reply_lines(r)) {
    auto w = split_ws(l.text);
    if (w.size() == 3 && w[0] == "STAT") m[w[1]] = w[2];
  }
  return m;
}

TEST(MetaStats, CountersMoveLikeMemcached) {
  const char* reqs =
      "mg a v\r\nmg a T10\r\nms a 1\r\nx\r\nmg a v\r\nmg a T10 v\r\nmg a k q\r\n"
      "mg b N30\r\nmg b\r\nms a 1 C1\r\nx\r\nms c 1 C1\r\nx\r\nmg a c\r\n"
      "ms a 1 MA C1\r\ny\r\nms a 1 ME\r\nz\r\nms a 2 q\r\nzzzz\r\n"
      "md a C1\r\nmd nope\r\nmd b I\r\nmd b\r\nma n\r\nma n MD\r\n"
      "ma n N0 J5\r\nma n\r\nma n MD D2\r\nma n C1\r\nms t 1\r\nx\r\nma t\r\n"
      "me n\r\nme nope\r\nme\r\nmg x zz\r\nmn\r\n";
  const char* names[] = {"cmd_get",      "cmd_set",    "cmd_touch",  "cmd_meta",
                         "get_hits",     "get_misses", "touch_hits", "touch_misses",
                         "delete_hits",  "delete_misses", "incr_hits", "incr_misses",
                         "decr_hits",    "decr_misses", "cas_hits",  "cas_misses",
                         "cas_badval",   "curr_items"};
  // Not total_items: ringcached links a new item for what memcached
  // changes in place (incr, md I), as it already does for text incr.
  std::map<std::string, std::string> got[2];
  std::string replies[2];
  const std::string bins[2] = {memcached_path(), ringcached_path()};
  for (int k = 0; k < 2; k++) {
    std::vector<std::string> args = {"-t", "1"};
    if (geteuid() == 0) {
      args.push_back("-u");
      args.push_back("root");
    }
    auto d = Daemon::start(bins[k], args);
    ASSERT_TRUE(d) << bins[k];
    Client c(d->port());
    ASSERT_TRUE(c.ok());
    c.send(reqs);
    replies[k] = c.recv_until("MN\r\n");
    got[k] = stat_map(&c);
    d->signal(SIGKILL);
  }
  ASSERT_FALSE(got[0].empty());
  for (const char* n : names) {
    ASSERT_TRUE(got[0].count(n)) << n;
    EXPECT_EQ(got[0][n], got[1][n]) << "stat " << n;
  }
  EXPECT_NE(got[0]["cmd_get"], "0");
  EXPECT_NE(got[0]["cmd_meta"], "0");
  // The replies themselves are the scripts' business; both must be whole.
  for (const auto& r : replies) EXPECT_NE(r.find("MN\r\n"), std::string::npos);
}

// Self-test of the normaliser and the script expander.
TEST(DiffScripts, NormaliserAndExpander) {
  ServerState st;
  std::string r =
      "VALUE a 0 1 55\r\nx\r\nVALUE b 0 18 56\r\nVERSION 1 STAT x\r\nEND\r\n"
      "VALUE a 0 1 55\r\nx\r\nEND\r\nVERSION 1.6.18\r\nSTAT pid 1\r\nSTAT uptime 2\r\nEND\r\n";
  record_vars(r, &st);
  EXPECT_EQ(st.vars.last_cas, "55");
  EXPECT_EQ(st.vars.cas_by_key["b"], "56");
  EXPECT_EQ(normalise(r, &st),
            "VALUE a 0 1 <cas#1>\r\nx\r\nVALUE b 0 18 <cas#2>\r\nVERSION 1 STAT x\r\nEND\r\n"
            "VALUE a 0 1 <cas#1>\r\nx\r\nEND\r\nVERSION <version>\r\nSTAT <...>\r\nEND\r\n");
  // Meta replies: VA data skipped, CAS classes shared with VALUE lines,
  // time fields tolerant to one second, but no more.
  ServerState m1, m2;
  std::string ra = "VA 2 c55 t10 kfoo\r\nc9\r\nHD c77 l3\r\nME foo exp=-4 la=2 cas=55 fetch=no\r\n";
  std::string rb = "VA 2 c91 t9 kfoo\r\nc9\r\nHD c92 l4\r\nME foo exp=-3 la=2 cas=91 fetch=no\r\n";
  record_vars(ra, &m1);
  EXPECT_EQ(m1.vars.cas_by_key["foo"], "55");
  EXPECT_TRUE(equivalent(normalise(ra, &m1), normalise(rb, &m2)));
  ServerState m3, m4;
  EXPECT_FALSE(equivalent(normalise("HD t10\r\n", &m3), normalise("HD t12\r\n", &m4)));
  EXPECT_FALSE(equivalent(normalise("HD c1 c1\r\n", &m3), normalise("HD c5 c6\r\n", &m4)));
  EXPECT_FALSE(equivalent(normalise("VA 2\r\nab\r\n", &m3), normalise("VA 2\r\nac\r\n", &m4)));
  std::string out, err;
  ASSERT_TRUE(expand("a\\r\\n\\x41\\s\\\\\\$${cas}|${cas:b}|${rep:3:ab\\x21}", &st.vars, &out, &err))
      << err;
  EXPECT_EQ(out, "a\r\nA \\$55|56|ab!ab!ab!");
  EXPECT_FALSE(expand("\\q", &st.vars, &out, &err));
  EXPECT_FALSE(expand("${nope}", &st.vars, &out, &err));
  EXPECT_FALSE(expand("\\x4", &st.vars, &out, &err));
}

}  // namespace
}  // namespace rc_test
