// Binary protocol packets for the daemon tests: building requests and
// splitting a byte stream into responses.  Independent of src/ on purpose:
// the tests must not share the server's idea of the wire format.
#ifndef RINGCACHED_T_DAEMON_BIN_UTIL_H
#define RINGCACHED_T_DAEMON_BIN_UTIL_H

#include <stdint.h>

#include <string>
#include <vector>

namespace rc_bin {

enum : uint8_t {
  OP_GET = 0x00, OP_SET = 0x01, OP_ADD = 0x02, OP_REPLACE = 0x03, OP_DELETE = 0x04,
  OP_INCREMENT = 0x05, OP_DECREMENT = 0x06, OP_QUIT = 0x07, OP_FLUSH = 0x08, OP_GETQ = 0x09,
  OP_NOOP = 0x0a, OP_VERSION = 0x0b, OP_GETK = 0x0c, OP_GETKQ = 0x0d, OP_APPEND = 0x0e,
  OP_PREPEND = 0x0f, OP_STAT = 0x10, OP_SETQ = 0x11, OP_ADDQ = 0x12, OP_REPLACEQ = 0x13,
  OP_DELETEQ = 0x14, OP_INCREMENTQ = 0x15, OP_DECREMENTQ = 0x16, OP_QUITQ = 0x17,
  OP_FLUSHQ = 0x18, OP_APPENDQ = 0x19, OP_PREPENDQ = 0x1a, OP_VERBOSITY = 0x1b,
  OP_TOUCH = 0x1c, OP_GAT = 0x1d, OP_GATQ = 0x1e, OP_SASL_LIST_MECHS = 0x20,
  OP_SASL_AUTH = 0x21, OP_SASL_STEP = 0x22, OP_GATK = 0x23, OP_GATKQ = 0x24,
};

enum : uint16_t {
  ST_SUCCESS = 0x00, ST_KEY_ENOENT = 0x01, ST_KEY_EEXISTS = 0x02, ST_E2BIG = 0x03,
  ST_EINVAL = 0x04, ST_NOT_STORED = 0x05, ST_DELTA_BADVAL = 0x06, ST_AUTH_ERROR = 0x20,
  ST_AUTH_CONTINUE = 0x21, ST_UNKNOWN_COMMAND = 0x81, ST_ENOMEM = 0x82,
};

inline std::string U32(uint32_t v) {
  std::string s(4, '\0');
  for (int i = 0; i < 4; i++) s[i] = (char)(v >> (24 - 8 * i));
  return s;
}
inline std::string U64(uint64_t v) { return U32((uint32_t)(v >> 32)) + U32((uint32_t)v); }
inline std::string SetExtras(uint32_t flags, uint32_t exp) { return U32(flags) + U32(exp); }
inline std::string IncrExtras(uint64_t delta, uint64_t initial, uint32_t exp) {
  return U64(delta) + U64(initial) + U32(exp);
}

struct Req {
  Req(uint8_t op_ = OP_NOOP, std::string key_ = "", std::string ext_ = "",
      std::string val_ = "", uint64_t cas_ = 0, uint32_t opaque_ = 0, long bodylen_ = -1)
      : op(op_), key(key_), ext(ext_), val(val_), cas(cas_), opaque(opaque_), bodylen(bodylen_) {}
  uint8_t op;
  std::string key, ext, val;
  uint64_t cas;
  uint32_t opaque;
  long bodylen;  // -1: the real length
};

inline std::string encode(const Req& r) {
  uint32_t body = r.bodylen >= 0 ? (uint32_t)r.bodylen
                                 : (uint32_t)(r.key.size() + r.ext.size() + r.val.size());
  std::string h(24, '\0');
  h[0] = (char)0x80;
  h[1] = (char)r.op;
  h[2] = (char)(r.key.size() >> 8);
  h[3] = (char)r.key.size();
  h[4] = (char)r.ext.size();
  h.replace(8, 4, U32(body));
  h.replace(12, 4, U32(r.opaque));
  h.replace(16, 8, U64(r.cas));
  return h + r.ext + r.key + r.val;
}

struct Resp {
  uint8_t op = 0;
  uint16_t status = 0;
  uint32_t opaque = 0;
  uint64_t cas = 0;
  std::string ext, key, val;
};

inline uint32_t get32(const std::string& s, size_t at) {
  uint32_t v = 0;
  for (int i = 0; i < 4; i++) v = v << 8 | (uint8_t)s[at + i];
  return v;
}

// Appends every complete response at the front of buf; returns the bytes
// they took (stops at the first incomplete or non-response packet).
inline size_t decode(const std::string& buf, std::vector<Resp>* out) {
  size_t at = 0;
  while (buf.size() - at >= 24 && (uint8_t)buf[at] == 0x81) {
    uint16_t klen = (uint16_t)((uint8_t)buf[at + 2] << 8 | (uint8_t)buf[at + 3]);
    uint8_t elen = (uint8_t)buf[at + 4];
    uint32_t blen = get32(buf, at + 8);
    if (buf.size() - at - 24 < blen || klen + elen > blen) break;
    Resp r;
    r.op = (uint8_t)buf[at + 1];
    r.status = (uint16_t)((uint8_t)buf[at + 6] << 8 | (uint8_t)buf[at + 7]);
    r.opaque = get32(buf, at + 12);
    r.cas = (uint64_t)get32(buf, at + 16) << 32 | get32(buf, at + 20);
    r.ext = buf.substr(at + 24, elen);
    r.key = buf.substr(at + 24 + elen, klen);
    r.val = buf.substr(at + 24 + elen + klen, blen - elen - klen);
    out->push_back(r);
    at += 24 + blen;
  }
  return at;
}

}  // namespace rc_bin

#endif  // RINGCACHED_T_DAEMON_BIN_UTIL_H
