/*
 * gossip_crypto: the envelope around every gossip datagram and stream
 * message, and the keyring that authenticates it.
 *
 *   plain:  version:u8=2 mode:u8=0 cluster_tag:u64 body
 *   sealed: version:u8=2 mode:u8=1 nonce[12] AES-256-GCM(body) tag[16]
 *
 * (Version 1 had 32-bit probe sequence numbers and acks without a target,
 * gossip_wire.h; the versions do not talk to each other.)
 *
 * cluster_tag is XXH3-64 of the cluster name: without a key it is not a
 * defence against an attacker, only against two clusters merging by
 * mistake. With a keyring, the two header bytes and the cluster name are
 * the GCM associated data, so a message sealed for another cluster fails
 * authentication even under the same key. Sealing uses the primary key
 * (index 0); opening tries every key, so a key can be rotated in by adding
 * it everywhere, making it primary everywhere, then removing the old one.
 *
 * Nonces are 12 random bytes from OpenSSL's RAND_bytes per message. With
 * random 96-bit nonces, NIST SP 800-38D allows at most 2^32 messages per
 * key (nonce-collision probability then about 2^-33), and that bound is
 * per key, counted over every node of the cluster sealing with it, not
 * per node: at about 2 datagrams per node per second, 1,000 nodes seal
 * 2,000 messages a second and reach 2^32 in 2^32 / 2000 s = 24.9 days
 * (10,000 nodes: 2.5 days; 100 nodes: 249 days; push-pull streams add
 * well under 1%). A collision under GCM leaks the XOR of two plaintexts
 * and lets an attacker forge tags, so rotate the primary key well before
 * that (every week or two at 1,000 nodes): a new primary starts a new
 * count. Rotation: add the new key everywhere (second line of the key
 * file), make it primary everywhere (first line), then remove the old
 * one; doc/cluster.md, "Security".
 *
 * Replay: the envelope has no sender or timestamp; what keeps recorded
 * traffic from satisfying a later probe is in the messages themselves
 * (64-bit per-life random sequence numbers, acks naming their target;
 * gossip_wire.h), and incarnations make replayed membership news old.
 */
#ifndef RC_CLUSTER_GOSSIP_CRYPTO_H
#define RC_CLUSTER_GOSSIP_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define GOSSIP_KEY_LEN 32         /* AES-256 */
#define GOSSIP_KEYRING_MAX 8
#define GOSSIP_WIRE_VERSION 2
#define GOSSIP_ENVELOPE_PLAIN 10  /* header + cluster tag */
#define GOSSIP_ENVELOPE_SEALED 30 /* header + nonce + tag */

struct gossip_keyring;

struct gossip_keyring *gossip_keyring_create(void);
void gossip_keyring_destroy(struct gossip_keyring **kr);

/* Adds a key (primary: first, used to seal). Returns 0, or -1 if the ring
 * is full. Adding a key already present only moves it if primary. */
int gossip_keyring_add(struct gossip_keyring *kr,
                       const uint8_t key[GOSSIP_KEY_LEN], bool primary);
/* Removes a key; the primary cannot be removed (-1). */
int gossip_keyring_remove(struct gossip_keyring *kr,
                          const uint8_t key[GOSSIP_KEY_LEN]);
size_t gossip_keyring_count(const struct gossip_keyring *kr);

/* Parses a key file's text: one key per line as 64 hex digits, blank
 * lines and '#' comments ignored, the first key primary. Returns the number
 * of keys added, or -1 (nothing added) on any malformed line. */
int gossip_keyring_parse(struct gossip_keyring *kr, const char *text,
                         size_t len);

/* HMAC-SHA256 of msg under key i (0 is the primary): for authenticating
 * peer connections (peer_auth.h). False when there is no key i. */
bool gossip_keyring_hmac(const struct gossip_keyring *kr, size_t i,
                         const void *msg, size_t n, uint8_t out[32]);

enum gossip_open_status {
    GOSSIP_OPEN_OK = 0,
    GOSSIP_OPEN_MALFORMED,        /* too short, unknown mode */
    GOSSIP_OPEN_VERSION,          /* a version we do not speak */
    GOSSIP_OPEN_WRONG_CLUSTER,    /* plain, other cluster's tag */
    GOSSIP_OPEN_UNSEALED,         /* plain message but we require a key */
    GOSSIP_OPEN_NO_KEY,           /* sealed message but we have no keyring */
    GOSSIP_OPEN_AUTH,             /* no key authenticates it */
};

/* Bytes the envelope adds with this keyring (NULL: plain). */
size_t gossip_envelope_overhead(const struct gossip_keyring *kr);

/* Wraps body into out (body and out must not overlap). Returns the
 * envelope's length, or 0 if it does not fit in cap or sealing failed. */
size_t gossip_seal(const struct gossip_keyring *kr, const char *cluster,
                   const uint8_t *body, size_t len, uint8_t *out, size_t cap);

/* Unwraps in. The body is returned through *body and *body_len: inside in for a
 * plain message, inside scratch (cap >= len) for a sealed one. */
enum gossip_open_status gossip_open(const struct gossip_keyring *kr,
                                    const char *cluster, const uint8_t *in,
                                    size_t len, uint8_t *scratch, size_t cap,
                                    const uint8_t **body, size_t *body_len);

#ifdef __cplusplus
}
#endif

#endif
