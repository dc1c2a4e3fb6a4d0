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

#include "cluster/peer.h"
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
 * ROUTER_ADDR_MAX bytes, or NULL) gets the owner's client address. */
bool router_remote(struct conn *c, const void *key, size_t nkey, char *addr);

/* Forwards r (r->addr from router_remote) to the owner; its reply fills
 * a new hole in c, in request order. When the owner cannot be reached the
 * hole gets r->fail (nothing when r->drop). */
void router_forward(struct conn *c, const struct peer_request *r);

/* flush_all for the whole cluster: sends req (a text flush_all line
 * without noreply) to every other member on the ring, each into a hole of
 * its own that is filled with nothing when that member answers or fails;
 * the caller's own reply, queued after them, therefore leaves once every
 * member has flushed or given up. Returns how many members were sent it
 * (0 when the node is not in a cluster or c came from a peer). */
size_t router_broadcast(struct conn *c, const char *req, size_t n);

struct router_stats {
    uint64_t not_mine;            /* served here, owned elsewhere */
    uint64_t fanouts;             /* multi-key requests split over owners */
    uint64_t broadcasts;          /* flush_all sent to the other members */
};

/* A multi-key request (a get with several keys, or a quiet pipeline)
 * sent keys to more than one node. */
void router_count_fanout(void);
void router_stats_get(struct router_stats *out);

#ifdef __cplusplus
}
#endif
#endif
