/*
 * peer_internal: what peer.c (the links) and peer_failover.c (where a
 * failed read goes next) share. Not for other modules.
 *
 * Threads: the calling worker's, as everything in peer.h.
 */
#ifndef RC_CLUSTER_PEER_INTERNAL_H
#define RC_CLUSTER_PEER_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cache/item.h"
#include "cluster/peer.h"
#include "cluster/replica.h"
#include "net/worker.h"

/* What a read needs to go to the next owner (peer_request.key). */
struct retry {
    uint32_t tried[REPLICA_MAX];  /* owners asked (hashes of addresses) */
    unsigned ntried;
    bool binary;
    uint8_t kind, opcode;
    uint8_t nkey;
    bool unsent_only;             /* a write (peer_request.unsent_only) */
    char key[KEY_MAX_LENGTH];
    size_t n, vlen;
    char bytes[];                 /* the request as sent, then its value */
};

struct peer_req {
    struct conn_ref *ref;         /* NULL: nobody waits (see hello) */
    struct retry *retry;          /* a read that may fail over, or NULL */
    bool hello;                   /* the handshake */
    uint64_t hole;
    uint64_t deadline_ms;
    uint64_t sent_us;
    const char *fail;             /* the reply if the owner cannot answer */
    uint32_t fail_len;
    bool fail_owned;              /* fail is this request's heap copy */
    uint8_t kind;                 /* enum peer_reply_kind */
    uint8_t opcode;               /* binary: the client's opcode */
    bool drop;
    void (*done)(void *arg, bool ok, const char *reply, size_t n);
    void *done_arg;
};

/* Queues q on w's link to q->addr for r (ref, hole and fail filled in by
 * the caller, who still owns them on false). */
bool peer_enqueue(struct worker *w, const struct peer_request *q,
                  struct peer_req *r);

/* A copy of q for failing over, or NULL when q cannot fail over (no key,
 * a value, --replicas 1) or memory ran out. */
struct retry *peer_retry_of(const struct peer_request *q);
/* Sends r (its ref, hole and fail kept) to the next owner that takes it;
 * false when none is left. */
bool peer_failover(struct peer_req *r);

#endif
