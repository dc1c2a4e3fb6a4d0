/*
 * cluster_meta: what a node says about itself in its gossip metadata
 * (struct gossip_member.meta, at most GOSSIP_META_MAX bytes): today the
 * host string clients use for it, which the ring hashes verbatim.
 *
 * Encoding: a sequence of tag:u8 len:u8 value[len]; unknown tags are
 * skipped, so later versions can add fields. The bytes come from peers:
 * decoding checks every length and never reads past the buffer. No state;
 * any thread.
 */
#ifndef RC_CLUSTER_CLUSTER_META_H
#define RC_CLUSTER_CLUSTER_META_H

#include <stddef.h>
#include <stdint.h>

#include "cluster/gossip.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CLUSTER_META_HOST 1       /* tag: the client host string */
#define CLUSTER_META_BOOT 2       /* tag: 8 bytes, little-endian: this run */
/* A host string must leave room for its tag and length in the metadata. */
#define CLUSTER_HOST_MAX (GOSSIP_META_MAX - 2)

struct cluster_meta {
    char host[CLUSTER_HOST_MAX + 1];  /* "" when the member sent none */
    /* Drawn at random when the process starts: a member whose boot
     * changed was restarted and lost what it held, even if it never
     * looked dead to anyone. 0: none sent (or no room beside a host of
     * more than CLUSTER_HOST_MAX - 10 bytes). */
    uint64_t boot;
};

/* Encodes m into out (GOSSIP_META_MAX bytes); returns the length. */
size_t cluster_meta_encode(const struct cluster_meta *m, uint8_t *out);
/* Decodes; fields missing or malformed stay empty. Returns 0, or -1 when
 * the bytes were malformed (what was well formed before is kept). */
int cluster_meta_decode(const uint8_t *buf, size_t len,
                        struct cluster_meta *m);
/* A host string we accept: 1..CLUSTER_HOST_MAX printable bytes, no space
 * (it appears in text replies and client configuration). */
int cluster_meta_host_valid(const char *host, size_t len);

#ifdef __cplusplus
}
#endif
#endif
