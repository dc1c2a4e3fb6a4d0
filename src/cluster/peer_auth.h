/*
 * peer_auth: the challenge-response that admits another node's connection
 * as a peer (rc_peer) when --cluster-key-file is set.
 *
 *   peer:  rc_peer <name> text|binary
 *   node:  CHALLENGE <nonce>          32 hex digits, fresh per connection
 *   peer:  rc_auth <mac>              64 hex digits
 *   node:  OK                         (or an error, and the connection closes)
 *
 * mac = HMAC-SHA256(key, "ringcached-peer-v1 " nonce " " text|binary) in
 * hex, under the peer's primary key; the node accepts it under any key of
 * its keyring, so keys rotate as they do for gossip. The key never
 * crosses the wire and a nonce is never reused, so a recorded handshake
 * admits nothing. Only the node authenticates the peer: what a peer link
 * can do beyond a client's commands (be served whatever the ring says,
 * skip -S/-Y) is what needs guarding, and it is the node that grants it.
 *
 * Set up by cluster_start before workers run, torn down by main after
 * they stop; the keyring is immutable, so any thread may call.
 */
#ifndef RC_CLUSTER_PEER_AUTH_H
#define RC_CLUSTER_PEER_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#include "cluster/gossip_crypto.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PEER_AUTH_NONCE_HEX 32
#define PEER_AUTH_MAC_HEX 64

/* The keyring peers authenticate with (NULL: none, no challenge); it is
 * owned from then on, and freed by the next setup or by teardown. */
void peer_auth_setup(struct gossip_keyring *kr);
/* Frees the keyring: after the worker threads have stopped (main). */
void peer_auth_teardown(void);
bool peer_auth_enabled(void);

/* A fresh nonce as hex, NUL-terminated. False if no randomness. */
bool peer_auth_nonce(char out[PEER_AUTH_NONCE_HEX + 1]);

/* The answer to nonce (n bytes of hex) for a link of this protocol, under
 * the primary key, NUL-terminated. False without a key or a valid nonce. */
bool peer_auth_sign(const char *nonce, size_t n, bool binary,
                    char out[PEER_AUTH_MAC_HEX + 1]);

/* Whether mac (n bytes) answers nonce under any key; constant time in
 * the mac's contents. */
bool peer_auth_verify(const char *nonce, bool binary, const char *mac,
                      size_t n);

#ifdef __cplusplus
}
#endif
#endif
