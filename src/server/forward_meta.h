/*
 * forward_meta: meta requests for keys another node owns, as the owner is
 * sent them (router.h decides; this file only writes them).
 *
 * The request is rebuilt from the parsed one: the command, the key as it
 * came on the wire (base64 again with `b`), and every flag token in the
 * client's order, so the owner composes exactly the reply it would give
 * the client directly (O, k, q and the rest included). Each is followed
 * by `mn`, so even a reply that `q` hides ends in a visible MN and the
 * peer stream stays in step (peer_reply.h, PEER_REPLY_META). If the owner
 * cannot answer, mg gets the miss memcached gives (EN with O and k, or
 * nothing under q) and the others SERVER_ERROR. Worker thread.
 */
#ifndef RC_SERVER_FORWARD_META_H
#define RC_SERVER_FORWARD_META_H

#include <stdbool.h>
#include <stddef.h>

#include "cache/item.h"
#include "net/conn.h"
#include "proto/meta.h"

#ifdef __cplusplus
extern "C" {
#endif

/* mg, md, ma, me: forwards r to addr. miss (mg only, else NULL) is the
 * reply to fall back on, miss_len bytes. */
void forward_meta(struct conn *c, const char *addr,
                  const struct meta_request *r, const char *miss,
                  size_t miss_len);

/* ms: its request line for the owner (heap, with \r\n; the caller keeps
 * it in conn_pending.forward until the value is read), or NULL. */
char *forward_meta_set_line(const struct meta_request *r);
/* ms: sends line (taken over and freed) and its value to addr. */
void forward_meta_set(struct conn *c, const char *addr, char *line,
                      const struct item *it);

#ifdef __cplusplus
}
#endif
#endif
