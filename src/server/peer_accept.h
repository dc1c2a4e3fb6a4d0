/*
 * peer_accept: the node's side of another node's connection, the rc_peer
 * handshake (cluster/peer.h) and, with --cluster-key-file, its challenge
 * (cluster/peer_auth.h).
 *
 * A connection admitted as a peer is served locally whatever this node's
 * ring says (no request bounces between nodes whose views differ), counts
 * as authenticated for -S and -Y (the node at the other end
 * authenticated its own client), and for a binary link speaks the binary
 * protocol from the next byte on. Admission needs the cluster key when
 * one is set; without one it is refused where clients must authenticate
 * (-S, -Y), since it would get around that. A challenged connection that
 * sends anything but rc_auth is closed. Worker thread.
 */
#ifndef RC_SERVER_PEER_ACCEPT_H
#define RC_SERVER_PEER_ACCEPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net/conn.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Handles line (len bytes, NUL-terminated, maybe ending in \r) if it is
 * part of a peer handshake, or if c was challenged and owes rc_auth:
 * true when it was (and has been answered). */
bool peer_accept_line(struct conn *c, char *line, size_t len);

/* Handshakes refused: bad or missing MAC, no key where one is needed. */
uint64_t peer_accept_refused(void);

#ifdef __cplusplus
}
#endif
#endif
