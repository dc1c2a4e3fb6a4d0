/*
 * peer_reply: frames the replies a peer sends back on a forwarded text
 * request, so the router knows where one reply ends and the next begins
 * and what part of it goes to the client.
 *
 * A forwarded request always expects exactly one reply (noreply is taken
 * off on the hop, and a quiet meta request is followed by `mn`; see
 * router.h), so the peer stream is a plain sequence:
 *   PEER_REPLY_LINE   one line (STORED, DELETED, a number, an error...);
 *   PEER_REPLY_GET    a single-key retrieval: "VALUE k f n [cas]\r\n"
 *                     n bytes "\r\n", then "END\r\n"; or just "END\r\n";
 *                     or an error line. The client gets the VALUE block
 *                     only, since its own END closes its whole multi-get.
 *   PEER_REPLY_META   a meta request followed by `mn`: at most one reply
 *                     (a status line, "VA n ...\r\n" with n bytes and
 *                     "\r\n", or an error line), then "MN\r\n". The client
 *                     gets what came before MN: nothing when `q` hid it.
 *   PEER_REPLY_BINARY one binary response packet (24-byte header and the
 *                     body it announces); peer_reply_binary_relay() then
 *                     applies the client's quiet opcode to it.
 * The bytes come from another node: every length is checked, a line is at
 * most PEER_REPLY_LINE_MAX bytes, a value at most PEER_REPLY_VALUE_MAX,
 * and anything else is garbage (the caller closes the peer connection).
 * Pure; no state.
 */
#ifndef RC_CLUSTER_PEER_REPLY_H
#define RC_CLUSTER_PEER_REPLY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PEER_REPLY_LINE_MAX 2048
#define PEER_REPLY_VALUE_MAX (1024u * 1024 * 1024)

enum peer_reply_kind {
    PEER_REPLY_LINE,
    PEER_REPLY_GET,
    PEER_REPLY_META,
    PEER_REPLY_BINARY,
};

enum peer_reply_status {
    PEER_REPLY_MORE = 0,          /* incomplete: read more */
    PEER_REPLY_DONE = 1,          /* one whole reply */
    PEER_REPLY_GARBAGE = -1,      /* not a reply of this kind */
};

struct peer_reply {
    size_t len;                   /* bytes the reply takes in the stream */
    size_t relay_len;             /* bytes from the start to relay */
    int error;                    /* the reply is an error line */
};

/* Frames the reply of `kind` at the start of buf[0..n). */
enum peer_reply_status peer_reply_frame(enum peer_reply_kind kind,
                                        const char *buf, size_t n,
                                        struct peer_reply *out);

/* A binary response (framed above, rep->len bytes at buf) to a request
 * the client sent as `opcode` and the owner was sent as its loud form:
 * false when the packet does not answer that request (garbage). Else the
 * opcode byte is set back to the client's and *relay gets the bytes the
 * client is sent: none for what the quiet opcode hides (a GETQ-style
 * miss, any other quiet success), as memcached does. */
bool peer_reply_binary_relay(char *buf, size_t len, uint8_t opcode,
                             size_t *relay);

#ifdef __cplusplus
}
#endif
#endif
