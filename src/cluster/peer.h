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
 * A worker has up to two links per peer: text (text and meta requests)
 * and binary (binary packets, passed through). On connect the first line
 * is "rc_peer <node-name> text|binary": the other node then serves
 * everything on the connection locally, whatever its own ring says, so
 * two nodes with different views never bounce a request, and a binary
 * link switches to the binary protocol after the handshake.
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

/* What a forwarded text or meta write gets when its owner cannot
 * answer; binary writes get PEER_UNAVAILABLE_STATUS. */
#define PEER_UNAVAILABLE "SERVER_ERROR peer unavailable\r\n"
#define PEER_UNAVAILABLE_STATUS 0x0086   /* ETMPFAIL, "Temporary failure" */

struct peer_options {
    unsigned timeout_ms;          /* --peer-timeout */
};
void peer_setup(const struct peer_options *o);

/* One request for a key's owner. */
struct peer_request {
    const char *addr;             /* "ip:port", the member's client address */
    bool binary;                  /* a binary packet: the binary link */
    const char *req;              /* the request as the owner is sent it */
    size_t n;
    const char *value;            /* sent after req; may be NULL */
    size_t vlen;
    enum peer_reply_kind kind;    /* how the owner's reply is framed */
    uint8_t opcode;               /* PEER_REPLY_BINARY: the client's opcode */
    bool drop;                    /* noreply: the client gets nothing */
    /* What the client gets when the owner cannot answer (a miss for a
     * read, an error otherwise); copied unless fail_static. */
    const char *fail;
    size_t fail_len;
    bool fail_static;
    /* A read of key that another owner may answer (--replicas > 1):
     * when this owner fails or times out the request goes to the next
     * owner on the ring at once, the client's fail only when none is
     * left. */
    const char *key;              /* NULL: no failover */
    size_t nkey;
    /* With key, a write: it goes to the next owner only if this one
     * never received it (its link had not finished connecting), since a
     * write that may have run must not run twice. That covers an owner
     * that is down (refused, or its connect timed out) until gossip
     * declares it dead; one that stops answering after the write left
     * fails it, as before. */
    bool unsent_only;
    /* peer_send only: called on the sending thread with the owner's
     * reply (ok) or, when the link failed or timed out, with ok false
     * and no reply. NULL: the answer is dropped. */
    void (*done)(void *arg, bool ok, const char *reply, size_t n);
    void *arg;
};

/* Sends r on c's worker's link to r->addr (or, with r->key, to the
 * next owner that can be reached); the owner's reply (what
 * peer_reply relays of it) fills hole in c. False, with nothing sent and
 * the hole left open, when the peer cannot be used now (the caller fills
 * it with r->fail). */
bool peer_forward(struct conn *c, uint64_t hole, const struct peer_request *r);

/* Sends q (its reply framed as q->kind) on the calling worker's link to
 * q->addr with no client waiting for the answer: replication
 * (replica.h) and rebalance (rebalance.h), which may ask for q->done.
 * False when it could not be queued (done is not called then). A worker
 * thread only. A request that fails later (the link fails or times out)
 * is counted in send_failed, as one that could not be queued is. */
bool peer_send(const struct peer_request *q);

/* Frees the calling worker's pool (thread exit). */
void peer_thread_fini(void);

struct peer_stats {
    uint64_t forwarded;           /* requests sent to an owner */
    uint64_t errors;              /* failed: refused, closed, garbage */
    uint64_t timeouts;            /* failed: --peer-timeout passed */
    uint64_t connects;            /* connections opened */
    uint64_t send_failed;         /* peer_send requests that failed */
    uint64_t failovers;           /* reads sent on to the next owner */
};
void peer_stats_get(struct peer_stats *out);

/* One peer's counters, summed over the workers' links to it. */
struct peer_link_stats {
    uint64_t forwarded;           /* requests sent */
    uint64_t answered;            /* replies relayed */
    uint64_t errors, timeouts;    /* requests failed */
    uint64_t in_flight;           /* sent, not yet answered or failed */
    uint64_t latency_us;          /* sum over answered requests */
};
/* Calls fn for every peer this node has forwarded to (at most
 * PEER_STATS_MAX addresses; later ones are summed under "other"). */
#define PEER_STATS_MAX 256
void peer_stats_each(void (*fn)(void *arg, const char *addr,
                                const struct peer_link_stats *s),
                     void *arg);

#ifdef __cplusplus
}
#endif
#endif
