/*
 * forward_binary: binary requests for keys another node owns, as the
 * owner is sent them (router.h decides; this file only writes them).
 *
 * The packet goes over the peer's binary link as the client sent it,
 * opaque and CAS included, but with its loud opcode: the owner then always
 * answers, which keeps the peer stream in step, and what the quiet opcode
 * hides (a GETQ miss, a SETQ success) is dropped here
 * (peer_reply_binary_relay), with the client's opcode put back in what is
 * relayed. If the owner cannot answer, a read gets a miss (nothing for a
 * quiet one) and anything else a Temporary failure. Worker thread.
 */
#ifndef RC_SERVER_FORWARD_BINARY_H
#define RC_SERVER_FORWARD_BINARY_H

#include <stdint.h>

#include "cache/item.h"
#include "net/conn.h"
#include "proto/binary.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A request without a value (gets, touch, delete, incr/decr): its
 * extras and key as they came. */
void forward_binary(struct conn *c, const char *addr,
                    const struct bin_header *h, const uint8_t *ext,
                    const char *key);

/* SET/ADD/REPLACE/APPEND/PREPEND once the value is read into it; exptime
 * as the client sent it. */
void forward_binary_store(struct conn *c, const char *addr,
                          const struct bin_header *h, uint32_t exptime,
                          const struct item *it);

#ifdef __cplusplus
}
#endif
#endif
