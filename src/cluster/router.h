/*
 * router: which node serves a key, for the protocol executors.
 *
 * --route proxy: a request for a key that another node owns (on this
 * node's ring, cluster_owner) is forwarded to that node (peer.h) and its
 * reply takes the request's place in the client's reply queue (a hole),
 * so replies leave in request order. --route local: every node serves
 * what it is sent, for clients that route themselves.
 *
 * Always served here, whatever the ring says: requests on a connection
 * from another node (rc_peer), so disagreeing views never bounce a
 * request; UDP requests (not forwarded yet); and everything when the node
 * is not in a cluster. A key served here that the ring gives to another
 * node is counted as not mine.
 *
 * Worker threads; reads the ring inside its own RCU read section.
 */
#ifndef RC_CLUSTER_ROUTER_H
#define RC_CLUSTER_ROUTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cluster/peer_reply.h"
#include "net/conn.h"

#ifdef __cplusplus
extern "C" {
#endif

enum router_mode {
    ROUTER_LOCAL,
    ROUTER_PROXY,
};

#define ROUTER_ADDR_MAX 64

void router_setup(enum router_mode mode);
enum router_mode router_get_mode(void);

/* True when key, asked for on c, is to be forwarded: addr (at least
 * ROUTER_ADDR_MAX bytes) gets the owner's client address. */
bool router_remote(struct conn *c, const void *key, size_t nkey, char *addr);

/* Forwards req + value to addr; the owner's reply (framed as kind; none
 * at all to the client when drop) fills a new hole in c, in order. When
 * the owner cannot be reached the hole gets what a client of a dead
 * server sees: a miss for a get, SERVER_ERROR otherwise. */
void router_forward(struct conn *c, const char *addr, const char *req,
                    size_t n, const char *value, size_t vlen,
                    enum peer_reply_kind kind, bool drop);

struct router_stats {
    uint64_t not_mine;            /* served here, owned elsewhere */
};
void router_stats_get(struct router_stats *out);

#ifdef __cplusplus
}
#endif
#endif
