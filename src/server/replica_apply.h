/*
 * replica_apply: the receiving side of replication (cluster/replica.h):
 * rc_set and rc_del from another node, keeping the newest version of
 * each key and no copy older than a delete (cache/tombstone.h).
 *
 * Only on a connection admitted as a peer (server/peer_accept.h, with the
 * cluster key when one is set); from anyone else these lines are unknown
 * commands (ERROR), as they are to memcached. Replies: STORED (kept),
 * NOT_STORED (older than what is here, or than a tombstone), EXISTS (the
 * same version: its TTL was taken); DELETED, NOT_FOUND, EXISTS (something
 * newer stays). Worker thread.
 */
#ifndef RC_SERVER_REPLICA_APPLY_H
#define RC_SERVER_REPLICA_APPLY_H

#include <stdbool.h>
#include <stddef.h>

#include "cache/item.h"
#include "net/conn.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Handles line (len bytes, NUL-terminated, no \r\n) if it is rc_set or
 * rc_del on a peer connection: true when it was. */
bool replica_apply_line(struct conn *c, char *line, size_t len);

/* Whether the value conn_read_value is reading on c is an rc_set's; then
 * replica_apply_on_value takes it. */
bool replica_apply_owns_value(struct conn *c);
void replica_apply_on_value(struct conn *c, struct item *it, bool valid);

#ifdef __cplusplus
}
#endif
#endif
