/*
 * binary: memcached's binary protocol framing, without I/O.
 *
 * A request is a 24-byte header, then extras, key and value, whose lengths
 * the header gives. bin_decode_header() reads a header; bin_check() decides,
 * as memcached 1.6 does, whether a request's lengths suit its opcode and
 * what to do when they do not; bin_encode_header() writes a response
 * header. The server layer (server/exec_binary.c) executes requests. Memcached
 * deprecated this protocol in 1.6 but still serves it, and so do we,
 * byte for byte.
 */
#ifndef RC_PROTO_BINARY_H
#define RC_PROTO_BINARY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define BIN_HEADER_SIZE 24
#define BIN_REQ_MAGIC 0x80
#define BIN_RES_MAGIC 0x81

enum bin_opcode {
    BIN_GET = 0x00, BIN_SET = 0x01, BIN_ADD = 0x02, BIN_REPLACE = 0x03,
    BIN_DELETE = 0x04, BIN_INCREMENT = 0x05, BIN_DECREMENT = 0x06,
    BIN_QUIT = 0x07, BIN_FLUSH = 0x08, BIN_GETQ = 0x09, BIN_NOOP = 0x0a,
    BIN_VERSION = 0x0b, BIN_GETK = 0x0c, BIN_GETKQ = 0x0d,
    BIN_APPEND = 0x0e, BIN_PREPEND = 0x0f, BIN_STAT = 0x10,
    BIN_SETQ = 0x11, BIN_ADDQ = 0x12, BIN_REPLACEQ = 0x13,
    BIN_DELETEQ = 0x14, BIN_INCREMENTQ = 0x15, BIN_DECREMENTQ = 0x16,
    BIN_QUITQ = 0x17, BIN_FLUSHQ = 0x18, BIN_APPENDQ = 0x19,
    BIN_PREPENDQ = 0x1a, BIN_VERBOSITY = 0x1b, BIN_TOUCH = 0x1c,
    BIN_GAT = 0x1d, BIN_GATQ = 0x1e, BIN_SASL_LIST_MECHS = 0x20,
    BIN_SASL_AUTH = 0x21, BIN_SASL_STEP = 0x22, BIN_GATK = 0x23,
    BIN_GATKQ = 0x24,
};

enum bin_status {
    BIN_SUCCESS = 0x00,
    BIN_KEY_ENOENT = 0x01,
    BIN_KEY_EEXISTS = 0x02,
    BIN_E2BIG = 0x03,
    BIN_EINVAL = 0x04,
    BIN_NOT_STORED = 0x05,
    BIN_DELTA_BADVAL = 0x06,
    BIN_AUTH_ERROR = 0x20,
    BIN_AUTH_CONTINUE = 0x21,
    BIN_UNKNOWN_COMMAND = 0x81,
    BIN_ENOMEM = 0x82,
};

/* A request header in host byte order. */
struct bin_header {
    uint8_t magic;
    uint8_t opcode;
    uint16_t keylen;
    uint8_t extlen;
    uint8_t datatype;
    uint16_t vbucket;
    uint32_t bodylen;
    uint32_t opaque;              /* echoed as received (no byte swap) */
    uint64_t cas;
};

/* Reads the header at buf (BIN_HEADER_SIZE bytes). */
void bin_decode_header(const uint8_t *buf, struct bin_header *h);

/* Writes a response header for request h into out (BIN_HEADER_SIZE). */
void bin_encode_header(uint8_t *out, const struct bin_header *h,
                       uint16_t status, uint8_t extlen, uint16_t keylen,
                       uint32_t bodylen, uint64_t cas);

/* Whether the opcode is a quiet variant, and its loud counterpart. */
bool bin_is_quiet(uint8_t opcode);
uint8_t bin_loud_opcode(uint8_t opcode);

/* memcached's first check: false if key and extras do not fit in the body
 * (it answers UNKNOWN_COMMAND and closes). Authentication comes next, then
 * bin_check(). */
bool bin_lengths_fit(const struct bin_header *h);

enum bin_verdict {
    BIN_RUN,                      /* lengths suit the opcode: execute */
    BIN_PROTOCOL_ERROR,           /* EINVAL, then close */
    BIN_UNKNOWN,                  /* UNKNOWN_COMMAND, swallow bodylen */
};

/* memcached 1.6's remaining checks, in its order: key length against
 * key_max (250), then the lengths each opcode requires. */
enum bin_verdict bin_check(const struct bin_header *h, size_t key_max);

/* Big-endian accessors for extras. */
uint32_t bin_get32(const uint8_t *p);
uint64_t bin_get64(const uint8_t *p);
void bin_put32(uint8_t *p, uint32_t v);
void bin_put64(uint8_t *p, uint64_t v);

#ifdef __cplusplus
}
#endif
#endif
