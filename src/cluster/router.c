/*
 * router: the routing decision and the hand-off to a peer (see router.h).
 */
#include "cluster/router.h"

#include <stdio.h>
#include <string.h>

#include "cache/item.h"
#include "cluster/cluster.h"
#include "cluster/peer.h"

/* flush_all reaches at most this many other members at once (a stack
 * array of addresses); the cluster sizes this project targets are far
 * smaller. */
#define CLUSTER_BROADCAST_MAX 256

static enum router_mode mode = ROUTER_LOCAL;
static struct router_stats totals;  /* relaxed atomics */

void router_setup(enum router_mode m)
{
    mode = m;
}

enum router_mode router_get_mode(void)
{
    return mode;
}

bool router_remote(struct conn *c, const void *key, size_t nkey, char *addr)
{
    const struct cluster_member *m;
    bool remote = false;

    if (!cluster_enabled()) {
        return false;
    }
    rcu_read_lock();
    m = cluster_owner(cluster_view(), key, nkey);
    if (m != NULL && !m->self) {
        if (mode == ROUTER_PROXY && !conn_from_peer(c)) {
            if (addr != NULL) {
                snprintf(addr, ROUTER_ADDR_MAX, "%s", m->client_addr);
            }
            remote = true;
        } else {
            __atomic_add_fetch(&totals.not_mine, 1, __ATOMIC_RELAXED);
        }
    }
    rcu_read_unlock_annotated();
    return remote;
}

void router_forward(struct conn *c, const struct peer_request *r)
{
    uint64_t hole = conn_hole(c);

    if (hole == 0) {
        return;                   /* out of memory: the connection closes */
    }
    if (peer_forward(c, hole, r)) {
        return;
    }
    if (r->drop) {
        conn_fill(c, hole, "", 0);
    } else {
        conn_fill(c, hole, r->fail, r->fail_len);
    }
}

size_t router_broadcast(struct conn *c, const char *req, size_t n)
{
    const struct cluster_view *v;
    char addrs[CLUSTER_BROADCAST_MAX][ROUTER_ADDR_MAX];
    size_t i, k = 0;

    if (mode != ROUTER_PROXY || !cluster_enabled() || conn_from_peer(c)) {
        return 0;
    }
    /* Copy the addresses out: forwarding may run event callbacks, which
     * must not happen inside the read section. */
    rcu_read_lock();
    v = cluster_view();
    for (i = 0; v != NULL && i < v->n && k < CLUSTER_BROADCAST_MAX; i++) {
        const struct cluster_member *m = &v->members[i];

        if (!m->self && m->ring_points > 0) {
            snprintf(addrs[k++], ROUTER_ADDR_MAX, "%s", m->client_addr);
        }
    }
    rcu_read_unlock_annotated();
    for (i = 0; i < k; i++) {
        struct peer_request r = { 0 };

        r.addr = addrs[i];
        r.req = req;
        r.n = n;
        r.kind = PEER_REPLY_LINE;
        r.drop = true;            /* its OK is the caller's to send */
        r.fail = "";
        r.fail_static = true;
        router_forward(c, &r);
    }
    if (k > 0) {
        __atomic_add_fetch(&totals.broadcasts, 1, __ATOMIC_RELAXED);
    }
    return k;
}

void router_count_fanout(void)
{
    __atomic_add_fetch(&totals.fanouts, 1, __ATOMIC_RELAXED);
}

void router_stats_get(struct router_stats *out)
{
    out->not_mine = __atomic_load_n(&totals.not_mine, __ATOMIC_RELAXED);
    out->fanouts = __atomic_load_n(&totals.fanouts, __ATOMIC_RELAXED);
    out->broadcasts = __atomic_load_n(&totals.broadcasts, __ATOMIC_RELAXED);
}
