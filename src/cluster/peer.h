/*
 * peer: connections from this node to the other nodes, for requests the
 * router forwards to a key's owner.
 *
 * Each worker thread has its own pool: one connection per peer, on the
 * worker's own event loop, so a forwarded request never changes thread.
 * Requests from any number of the worker's clients are appended to the
 * peer's output buffer and leave in one write per loop iteration. The
 * peer answers in order, so the pending requests are a FIFO; each names
 * the client connection (conn_ref) and the hole its reply goes into.
 *
 * Failure: a peer that cannot be reached, closes mid-reply, sends garbage
 * or leaves the oldest request unanswered for --peer-timeout has every
 * pending request failed (a miss for a get, SERVER_ERROR otherwise) and
 * its connection closed; the next request reconnects. Nothing waits
 * longer than the timeout.
 *
 * On connect the first line is "rc_peer <node-name>": the other node then
 * serves everything on this connection locally, whatever its own ring
 * says, so two nodes with different views never bounce a request.
 *
 * Threads: everything here runs on the calling worker's thread; the
 * counters are relaxed atomics summed by `stats cluster`.
 */
#ifndef RC_CLUSTER_PEER_H
#define RC_CLUSTER_PEER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cluster/peer_reply.h"
#include "net/conn.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What a forwarded non-get gets when its owner cannot answer. */
#define PEER_UNAVAILABLE "SERVER_ERROR peer unavailable\r\n"

struct peer_options {
    unsigned timeout_ms;          /* --peer-timeout */
};
void peer_setup(const struct peer_options *o);

/* Sends req[0..n) then value[0..vlen) (may be NULL) to the peer at addr
 * ("ip:port", the member's client address) on c's worker; its reply, as
 * peer_reply frames `kind`, fills hole in c (nothing when drop is set:
 * noreply). False, with nothing sent, when the peer cannot be used now
 * (the caller answers as for an unreachable server). */
bool peer_forward(struct conn *c, uint64_t hole, const char *addr,
                  const char *req, size_t n, const char *value, size_t vlen,
                  enum peer_reply_kind kind, bool drop);

/* Frees the calling worker's pool (thread exit). */
void peer_thread_fini(void);

struct peer_stats {
    uint64_t forwarded;           /* requests sent to an owner */
    uint64_t errors;              /* failed: refused, closed, garbage */
    uint64_t timeouts;            /* failed: --peer-timeout passed */
    uint64_t connects;            /* connections opened */
};
void peer_stats_get(struct peer_stats *out);

#ifdef __cplusplus
}
#endif
#endif
