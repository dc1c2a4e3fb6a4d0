/*
 * peer_auth: the rc_peer challenge-response (see peer_auth.h). OpenSSL
 * does the HMAC (through the keyring), the randomness and the constant-
 * time comparison; this file only formats the message.
 */
#include "cluster/peer_auth.h"

#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#define LABEL "ringcached-peer-v1 "

static struct gossip_keyring *keyring;

void peer_auth_setup(struct gossip_keyring *kr)
{
    if (keyring != kr) {
        gossip_keyring_destroy(&keyring);
    }
    keyring = kr;
}

void peer_auth_teardown(void)
{
    gossip_keyring_destroy(&keyring);
}

bool peer_auth_enabled(void)
{
    return keyring != NULL;
}

static void to_hex(const unsigned char *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    size_t i;

    for (i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

static bool is_hex(const char *s, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) {
            return false;
        }
    }
    return true;
}

bool peer_auth_nonce(char out[PEER_AUTH_NONCE_HEX + 1])
{
    unsigned char raw[PEER_AUTH_NONCE_HEX / 2];

    if (RAND_bytes(raw, sizeof(raw)) != 1) {
        return false;
    }
    to_hex(raw, sizeof(raw), out);
    return true;
}

/* The MAC of the handshake message under key i. */
static bool mac_of(size_t i, const char *nonce, bool binary,
                   unsigned char out[32])
{
    char msg[sizeof(LABEL) + PEER_AUTH_NONCE_HEX + 8];
    int n = snprintf(msg, sizeof(msg), LABEL "%.*s %s", PEER_AUTH_NONCE_HEX,
                     nonce, binary ? "binary" : "text");

    return n > 0 && (size_t)n < sizeof(msg) &&
           gossip_keyring_hmac(keyring, i, msg, (size_t)n, out);
}

bool peer_auth_sign(const char *nonce, size_t n, bool binary,
                    char out[PEER_AUTH_MAC_HEX + 1])
{
    unsigned char mac[32];

    if (keyring == NULL || n != PEER_AUTH_NONCE_HEX || !is_hex(nonce, n) ||
        !mac_of(0, nonce, binary, mac)) {
        return false;
    }
    to_hex(mac, sizeof(mac), out);
    return true;
}

bool peer_auth_verify(const char *nonce, bool binary, const char *mac,
                      size_t n)
{
    unsigned char want[32];
    char hex[PEER_AUTH_MAC_HEX + 1];
    bool ok = false;
    size_t i;

    if (keyring == NULL || n != PEER_AUTH_MAC_HEX) {
        return false;
    }
    for (i = 0; mac_of(i, nonce, binary, want); i++) {
        to_hex(want, sizeof(want), hex);
        ok |= CRYPTO_memcmp(hex, mac, PEER_AUTH_MAC_HEX) == 0;
    }
    return ok;
}
