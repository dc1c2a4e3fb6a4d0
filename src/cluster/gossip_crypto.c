/*
 * gossip_crypto: envelope and keyring (format in gossip_crypto.h).
 *
 * AES-256-GCM comes from OpenSSL's EVP interface; nothing cryptographic is
 * implemented here. A fresh EVP_CIPHER_CTX per message keeps the keyring
 * immutable and shareable (it is const in struct gossip_config); at gossip
 * rates the allocation is noise.
 */
#include "cluster/gossip_crypto.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <xxhash.h>

#define HDR_LEN 2
#define NONCE_LEN 12
#define TAG_LEN 16
#define MODE_PLAIN 0
#define MODE_SEALED 1

struct gossip_keyring {
    size_t n;                     /* keys[0] is the primary */
    uint8_t keys[GOSSIP_KEYRING_MAX][GOSSIP_KEY_LEN];
};

struct gossip_keyring *gossip_keyring_create(void)
{
    return calloc(1, sizeof(struct gossip_keyring));
}

void gossip_keyring_destroy(struct gossip_keyring **kr)
{
    if (*kr != NULL) {
        OPENSSL_cleanse(*kr, sizeof(**kr));
        free(*kr);
        *kr = NULL;
    }
}

static int key_index(const struct gossip_keyring *kr, const uint8_t *key)
{
    size_t i;

    for (i = 0; i < kr->n; i++) {
        if (CRYPTO_memcmp(kr->keys[i], key, GOSSIP_KEY_LEN) == 0) {
            return (int)i;
        }
    }
    return -1;
}

int gossip_keyring_add(struct gossip_keyring *kr,
                       const uint8_t key[GOSSIP_KEY_LEN], bool primary)
{
    int at = key_index(kr, key);
    uint8_t tmp[GOSSIP_KEY_LEN];

    if (at < 0) {
        if (kr->n == GOSSIP_KEYRING_MAX) {
            return -1;
        }
        at = (int)kr->n++;
        memcpy(kr->keys[at], key, GOSSIP_KEY_LEN);
    }
    if (primary && at != 0) {
        memcpy(tmp, kr->keys[0], GOSSIP_KEY_LEN);
        memcpy(kr->keys[0], kr->keys[at], GOSSIP_KEY_LEN);
        memcpy(kr->keys[at], tmp, GOSSIP_KEY_LEN);
        OPENSSL_cleanse(tmp, sizeof(tmp));
    }
    return 0;
}

int gossip_keyring_remove(struct gossip_keyring *kr,
                          const uint8_t key[GOSSIP_KEY_LEN])
{
    int at = key_index(kr, key);

    if (at <= 0) {
        return -1;
    }
    memmove(kr->keys[at], kr->keys[at + 1],
            (kr->n - (size_t)at - 1) * GOSSIP_KEY_LEN);
    kr->n--;
    OPENSSL_cleanse(kr->keys[kr->n], GOSSIP_KEY_LEN);
    return 0;
}

size_t gossip_keyring_count(const struct gossip_keyring *kr)
{
    return kr->n;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

int gossip_keyring_parse(struct gossip_keyring *kr, const char *text,
                         size_t len)
{
    uint8_t keys[GOSSIP_KEYRING_MAX][GOSSIP_KEY_LEN];
    size_t nkeys = 0, pos = 0, i;
    int rc = -1;

    while (pos < len) {
        size_t end = pos, a, b;

        while (end < len && text[end] != '\n') {
            end++;
        }
        a = pos;
        b = end;
        pos = end + 1;
        while (a < b && (text[a] == ' ' || text[a] == '\t')) {
            a++;
        }
        while (b > a && (text[b - 1] == ' ' || text[b - 1] == '\t' ||
                         text[b - 1] == '\r')) {
            b--;
        }
        if (a == b || text[a] == '#') {
            continue;
        }
        if (b - a != 2 * GOSSIP_KEY_LEN || nkeys == GOSSIP_KEYRING_MAX) {
            goto out;
        }
        for (i = 0; i < GOSSIP_KEY_LEN; i++) {
            int hi = hexval(text[a + 2 * i]), lo = hexval(text[a + 2 * i + 1]);

            if (hi < 0 || lo < 0) {
                goto out;
            }
            keys[nkeys][i] = (uint8_t)(hi << 4 | lo);
        }
        nkeys++;
    }
    for (i = 0; i < nkeys; i++) {
        if (gossip_keyring_add(kr, keys[i], i == 0) != 0) {
            goto out;
        }
    }
    rc = (int)nkeys;
out:
    OPENSSL_cleanse(keys, sizeof(keys));
    return rc;
}

size_t gossip_envelope_overhead(const struct gossip_keyring *kr)
{
    return kr != NULL ? GOSSIP_ENVELOPE_SEALED : GOSSIP_ENVELOPE_PLAIN;
}

static uint64_t cluster_tag(const char *cluster)
{
    return XXH3_64bits(cluster, strlen(cluster));
}

/* One AES-256-GCM operation; aad = header || cluster name. */
static bool gcm(bool enc, const uint8_t *key, const uint8_t *nonce,
                const uint8_t *hdr, const char *cluster, const uint8_t *in,
                size_t len, uint8_t *out, uint8_t *tag)
{
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int n = 0, fin = 0;
    bool ok = false;

    if (ctx == NULL || len > (size_t)INT32_MAX) {
        goto out;
    }
    if (EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL,
                          enc ? 1 : 0) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, NONCE_LEN,
                            NULL) != 1 ||
        EVP_CipherInit_ex(ctx, NULL, NULL, key, nonce, -1) != 1) {
        goto out;
    }
    if (EVP_CipherUpdate(ctx, NULL, &n, hdr, HDR_LEN) != 1 ||
        EVP_CipherUpdate(ctx, NULL, &n, (const uint8_t *)cluster,
                         (int)strlen(cluster)) != 1) {
        goto out;
    }
    if (len > 0 && EVP_CipherUpdate(ctx, out, &n, in, (int)len) != 1) {
        goto out;
    }
    if (!enc && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TAG_LEN,
                                    tag) != 1) {
        goto out;
    }
    if (EVP_CipherFinal_ex(ctx, out + n, &fin) != 1) {
        goto out;               /* decrypt: the tag did not verify */
    }
    if (enc && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TAG_LEN,
                                   tag) != 1) {
        goto out;
    }
    ok = true;
out:
    EVP_CIPHER_CTX_free(ctx);
    return ok;
}

size_t gossip_seal(const struct gossip_keyring *kr, const char *cluster,
                   const uint8_t *body, size_t len, uint8_t *out, size_t cap)
{
    size_t total = len + gossip_envelope_overhead(kr);
    uint64_t tag;
    int i;

    if (total > cap || total < len) {
        return 0;
    }
    out[0] = GOSSIP_WIRE_VERSION;
    if (kr == NULL) {
        out[1] = MODE_PLAIN;
        tag = cluster_tag(cluster);
        for (i = 0; i < 8; i++) {
            out[HDR_LEN + i] = (uint8_t)(tag >> (56 - 8 * i));
        }
        memcpy(out + GOSSIP_ENVELOPE_PLAIN, body, len);
        return total;
    }
    if (kr->n == 0) {
        return 0;
    }
    out[1] = MODE_SEALED;
    if (RAND_bytes(out + HDR_LEN, NONCE_LEN) != 1 ||
        !gcm(true, kr->keys[0], out + HDR_LEN, out, cluster, body, len,
             out + HDR_LEN + NONCE_LEN, out + HDR_LEN + NONCE_LEN + len)) {
        return 0;
    }
    return total;
}

enum gossip_open_status gossip_open(const struct gossip_keyring *kr,
                                    const char *cluster, const uint8_t *in,
                                    size_t len, uint8_t *scratch, size_t cap,
                                    const uint8_t **body, size_t *body_len)
{
    uint64_t tag = 0;
    size_t i, clen;

    if (len < HDR_LEN) {
        return GOSSIP_OPEN_MALFORMED;
    }
    if (in[0] != GOSSIP_WIRE_VERSION) {
        return GOSSIP_OPEN_VERSION;
    }
    if (in[1] == MODE_PLAIN) {
        if (len < GOSSIP_ENVELOPE_PLAIN) {
            return GOSSIP_OPEN_MALFORMED;
        }
        if (kr != NULL) {
            return GOSSIP_OPEN_UNSEALED;
        }
        for (i = 0; i < 8; i++) {
            tag = tag << 8 | in[HDR_LEN + i];
        }
        if (tag != cluster_tag(cluster)) {
            return GOSSIP_OPEN_WRONG_CLUSTER;
        }
        *body = in + GOSSIP_ENVELOPE_PLAIN;
        *body_len = len - GOSSIP_ENVELOPE_PLAIN;
        return GOSSIP_OPEN_OK;
    }
    if (in[1] != MODE_SEALED || len < GOSSIP_ENVELOPE_SEALED) {
        return GOSSIP_OPEN_MALFORMED;
    }
    if (kr == NULL) {
        return GOSSIP_OPEN_NO_KEY;
    }
    clen = len - GOSSIP_ENVELOPE_SEALED;
    if (cap < clen) {
        return GOSSIP_OPEN_MALFORMED;
    }
    for (i = 0; i < kr->n; i++) {
        /* gcm() does not modify the tag when decrypting, but EVP wants a
         * mutable pointer: copy it. */
        uint8_t t[TAG_LEN];

        memcpy(t, in + len - TAG_LEN, TAG_LEN);
        if (gcm(false, kr->keys[i], in + HDR_LEN, in, cluster,
                in + HDR_LEN + NONCE_LEN, clen, scratch, t)) {
            *body = scratch;
            *body_len = clen;
            return GOSSIP_OPEN_OK;
        }
    }
    return GOSSIP_OPEN_AUTH;
}

bool gossip_keyring_hmac(const struct gossip_keyring *kr, size_t i,
                         const void *msg, size_t n, uint8_t out[32])
{
    unsigned int len = 0;

    if (kr == NULL || i >= kr->n) {
        return false;
    }
    return HMAC(EVP_sha256(), kr->keys[i], GOSSIP_KEY_LEN, msg, n, out,
                &len) != NULL && len == 32;
}
