/*
 * gossip_wire: the gossip message codec, bytes <-> structs, no I/O.
 *
 * Every message starts with a one-byte type. Integers are big-endian,
 * names are a length byte (1..GOSSIP_NAME_MAX) plus bytes without NUL,
 * addresses are family (4|6), 4 or 16 address bytes and a u16 port. A
 * decoder accepts a message only if every field is in bounds and the
 * message ends exactly where the buffer does: trailing bytes are an error,
 * so one byte string has one meaning.
 *
 *   PING      type seq:u64 target:name
 *   PING_REQ  type seq:u64 flags:u8(bit0 = nack wanted) target:name
 *             target_addr:addr
 *   ACK/NACK  type seq:u64 target:name  (the member that was pinged)
 *   ALIVE     type inc:u32 node:name gossip_addr:addr client_addr:addr
 *             weight:u16 meta_len:u8(<= GOSSIP_META_MAX) meta
 *   SUSPECT   type inc:u32 node:name from:name
 *   DEAD      type inc:u32 node:name from:name  (from == node: left)
 *   COMPOUND  type count:u8(1..GOSSIP_WIRE_MAX_PARTS) then count times
 *             len:u16 message; parts are never compound themselves
 *   PUSH_PULL type flags:u8(bit0 = join) count:u32 then count times
 *             node:name state:u8 inc:u32 gossip_addr:addr client_addr:addr
 *             weight:u16 meta_len:u8 meta
 *
 * The version lives in the envelope (gossip_crypto.h), which wraps every
 * datagram and stream message. Version 2 widened seq from 32 to 64 bits
 * and added the target to ACK/NACK: an ack counts only for the probe of
 * the member it names, under a sequence space drawn at random for each
 * life of the prober, so recorded acks cannot be replayed.
 */
#ifndef RC_CLUSTER_GOSSIP_WIRE_H
#define RC_CLUSTER_GOSSIP_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cluster/gossip.h"

#ifdef __cplusplus
extern "C" {
#endif

enum gossip_msg_type {
    GOSSIP_MSG_PING = 1,
    GOSSIP_MSG_PING_REQ = 2,
    GOSSIP_MSG_ACK = 3,
    GOSSIP_MSG_NACK = 4,
    GOSSIP_MSG_ALIVE = 5,
    GOSSIP_MSG_SUSPECT = 6,
    GOSSIP_MSG_DEAD = 7,
    GOSSIP_MSG_COMPOUND = 8,
    GOSSIP_MSG_PUSH_PULL = 9,
};

#define GOSSIP_WIRE_MAX_PARTS 64  /* messages in one compound */
#define GOSSIP_WIRE_MAX_STATES 65536  /* members in one push-pull */
#define GOSSIP_WIRE_STREAM_MAX (16u << 20)  /* bytes in a stream message */
#define GOSSIP_WIRE_COMPOUND_HDR 2  /* type + count */
#define GOSSIP_WIRE_PART_HDR 2    /* u16 length before each part */

/* One decoded message (not COMPOUND or PUSH_PULL). Names are copied and
 * NUL-terminated; meta points into the decoded buffer. */
struct gossip_msg {
    uint8_t type;                 /* enum gossip_msg_type */
    bool want_nack;               /* PING_REQ */
    uint64_t seq;                 /* PING, PING_REQ, ACK, NACK */
    uint32_t incarnation;         /* ALIVE, SUSPECT, DEAD */
    char node[GOSSIP_NAME_MAX + 1];  /* target (incl. ACK/NACK) or subject */
    char from[GOSSIP_NAME_MAX + 1];  /* SUSPECT, DEAD: the accuser */
    struct gossip_addr addr;      /* PING_REQ target; ALIVE gossip addr */
    struct gossip_addr client_addr;  /* ALIVE */
    uint16_t weight;              /* ALIVE */
    uint8_t meta_len;             /* ALIVE */
    const uint8_t *meta;          /* ALIVE */
};

/* One member's entry in a push-pull. */
struct gossip_wire_state {
    char node[GOSSIP_NAME_MAX + 1];
    uint8_t state;                /* enum gossip_state */
    uint32_t incarnation;
    struct gossip_addr gossip_addr;
    struct gossip_addr client_addr;
    uint16_t weight;
    uint8_t meta_len;
    const uint8_t *meta;
};

/* A bounded output buffer: writes past cap set overflow and are dropped,
 * so an encoder can write unconditionally and check once at the end. */
struct gossip_wbuf {
    uint8_t *p;
    size_t len;
    size_t cap;
    bool overflow;
};

void gossip_wbuf_init(struct gossip_wbuf *w, uint8_t *p, size_t cap);

/* Encoders append one message to w; false if it did not fit (w->len is
 * then restored, so a caller can try a smaller message). */
bool gossip_wire_put_msg(struct gossip_wbuf *w, const struct gossip_msg *m);
/* Appends a push-pull header; states follow with put_state. */
bool gossip_wire_put_pp_header(struct gossip_wbuf *w, bool join,
                               uint32_t count);
bool gossip_wire_put_state(struct gossip_wbuf *w,
                           const struct gossip_wire_state *s);

/* Encoded size of m, for fitting messages into a datagram. */
size_t gossip_wire_msg_size(const struct gossip_msg *m);

/* Decodes one non-compound message. Returns false if malformed. */
bool gossip_wire_decode(const uint8_t *buf, size_t len, struct gossip_msg *m);

/* Splits a COMPOUND into parts (pointers into buf). Returns the number of
 * parts, or -1 if malformed. A non-compound message yields itself. */
int gossip_wire_split(const uint8_t *buf, size_t len,
                      const uint8_t *parts[GOSSIP_WIRE_MAX_PARTS],
                      size_t lens[GOSSIP_WIRE_MAX_PARTS]);

/* Push-pull decoding: begin checks the header, next yields each state.
 * Every state must decode and the last must end at the buffer's end;
 * validate with gossip_wire_pp_check() before acting on any of them. */
struct gossip_wire_cursor {
    const uint8_t *p;
    const uint8_t *end;
    uint32_t remaining;
};
bool gossip_wire_pp_begin(const uint8_t *buf, size_t len, bool *join,
                          struct gossip_wire_cursor *c);
bool gossip_wire_pp_next(struct gossip_wire_cursor *c,
                         struct gossip_wire_state *s);
bool gossip_wire_pp_check(const uint8_t *buf, size_t len);

#ifdef __cplusplus
}
#endif

#endif
