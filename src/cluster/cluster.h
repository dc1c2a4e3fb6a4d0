/*
 * cluster: the gossip core (gossip.h) running inside the daemon.
 *
 * A thread of its own with a libevent loop owns the gossip instance, a UDP
 * socket and a TCP listener on the gossip port (streams are framed with a
 * 4-byte length, cluster_stream.h), and the core's timer. Whenever the view changes, and
 * once a second for the counters, it publishes an immutable snapshot by
 * RCU; worker threads read it with no lock (`cluster members`,
 * `stats cluster`, the ring: cluster_owner).
 *
 * Off unless asked: without --gossip-port or --join no socket is opened.
 */
#ifndef RC_CLUSTER_CLUSTER_H
#define RC_CLUSTER_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <urcu.h>

#include "cluster/cluster_meta.h"
#include "cluster/gossip.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CLUSTER_DEFAULT_GOSSIP_PORT 7946   /* memberlist's */

struct cluster_options {
    const char *join;             /* --join host:port[,host:port...] */
    int gossip_port;              /* --gossip-port; 0: the default */
    const char *node_name;        /* --node-name; default: advertise */
    const char *advertise;        /* --advertise host[:port] for clients */
    const char *cluster_name;     /* --cluster-name; default "" */
    const char *key_file;         /* --cluster-key-file */
    const char *bind_host;        /* first -l host, NULL: all interfaces */
    int client_port;              /* -p */
    /* Timing knobs in milliseconds (0: memberlist's LAN default). */
    unsigned probe_interval_ms;
    unsigned probe_timeout_ms;
    unsigned gossip_interval_ms;
    unsigned push_pull_interval_ms;
    unsigned dead_retention_ms;
    unsigned suspicion_mult;
    unsigned indirect_checks;
    unsigned gossip_nodes;
    unsigned max_members;         /* --cluster-max-members; 0: default */
    unsigned weight;              /* --weight; 0: 1 */
};

/* Starts the gossip thread. Prints a message and returns -1 on a bad
 * option, an unreadable key file or a port it cannot bind. */
int cluster_start(const struct cluster_options *o);
/* Leaves gracefully (members see `left`), waiting at most timeout_ms for
 * the news to go out, then stops the thread. No-op when not started. */
void cluster_stop(unsigned timeout_ms);
bool cluster_enabled(void);
/* This node's member name (set by cluster_start). */
const char *cluster_self_name(void);
/* fn(client address) is called on the gossip thread when a member that
 * was in the view before comes back from a restart (its boot changed):
 * it lost everything it held, though it may never have looked dead, so
 * no ring change will bring its keys back (rebalance_resync does). */
void cluster_set_restart_hook(void (*fn)(const char *client_addr));

/* One member as readers see it. */
struct cluster_member {
    char name[GOSSIP_NAME_MAX + 1];
    char client_addr[64];         /* host:port, the resolved address */
    char host[CLUSTER_HOST_MAX + 1];  /* as clients configure it (hashed) */
    uint16_t port;                /* client port */
    bool self;
    enum gossip_state state;
    uint32_t incarnation;
    uint16_t weight;
    uint32_t ring_points;         /* 0 when not on the ring */
    uint64_t boot;                /* its run (cluster_meta.boot); 0: unknown */
    uint64_t changed_ns;          /* CLOCK_MONOTONIC of the last change */
};

struct cluster_ring;              /* cluster_ring.h: shared between views */

struct cluster_view {
    struct rcu_head rcu;
    uint64_t taken_ns;            /* CLOCK_MONOTONIC when built */
    struct gossip_stats stats;
    struct cluster_ring *ring;    /* alive and suspect members; may be NULL */
    size_t ring_n;                /* members on the ring */
    uint32_t *ring_member;        /* ring server index -> members[] index */
    size_t n;
    struct cluster_member members[];
};

/* The current view; call inside rcu_read_lock(). NULL when disabled. */
const struct cluster_view *cluster_view(void);

/* Inside rcu_read_lock(), with a view from cluster_view(): the member
 * owning key on v's ring, NULL when the ring is empty. */
const struct cluster_member *cluster_owner(const struct cluster_view *v,
                                           const void *key, size_t nkey);
/* The first `want` distinct owners clockwise, owner first; returns how
 * many (fewer when fewer members are on the ring). */
size_t cluster_owners(const struct cluster_view *v, const void *key,
                      size_t nkey, size_t want,
                      const struct cluster_member **out);

uint64_t cluster_now_ns(void);

#ifdef __cplusplus
}
#endif
#endif
