/*
 * forward_text: text-protocol requests for keys another node owns, as the
 * owner is sent them (router.h decides; this file only writes them).
 *
 * A request is rebuilt from what the parser read rather than copied, so
 * what crosses the hop is always canonical: one key per get (the owner's
 * VALUE block takes that key's place in the client's multi-get), noreply
 * taken off (the owner always answers, which keeps the peer stream in
 * step; the answer is dropped here instead), exptime as the client sent
 * it. Worker thread.
 */
#ifndef RC_SERVER_FORWARD_TEXT_H
#define RC_SERVER_FORWARD_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cache/item.h"
#include "net/conn.h"

#ifdef __cplusplus
extern "C" {
#endif

void forward_text_get(struct conn *c, const char *addr, const char *key,
                      size_t nkey, bool touch, bool cas, int64_t exptime);
/* it holds the key, flags and value read from the client. */
void forward_text_store(struct conn *c, const char *addr, int mode,
                        const struct item *it, int64_t exptime, uint64_t cas,
                        bool noreply);
void forward_text_delete(struct conn *c, const char *addr, const char *key,
                         size_t nkey, bool noreply);
void forward_text_delta(struct conn *c, const char *addr, const char *key,
                        size_t nkey, bool incr, uint64_t delta, bool noreply);
void forward_text_touch(struct conn *c, const char *addr, const char *key,
                        size_t nkey, int64_t exptime, bool noreply);
/* flush_all <delay> to every other member (router_broadcast): anything
 * the caller queues next leaves once each has answered or failed. */
void forward_text_flush(struct conn *c, int64_t delay);

#ifdef __cplusplus
}
#endif
#endif
