/*
 * router: the routing decision and the hand-off to a peer (see router.h).
 */
#include "cluster/router.h"

#include <stdio.h>
#include <string.h>

#include "cache/item.h"
#include "cluster/cluster.h"
#include "cluster/peer.h"

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

    if (!cluster_enabled() || !conn_hole_capable(c)) {
        return false;
    }
    rcu_read_lock();
    m = cluster_owner(cluster_view(), key, nkey);
    if (m != NULL && !m->self) {
        if (mode == ROUTER_PROXY && !conn_from_peer(c)) {
            snprintf(addr, ROUTER_ADDR_MAX, "%s", m->client_addr);
            remote = true;
        } else {
            __atomic_add_fetch(&totals.not_mine, 1, __ATOMIC_RELAXED);
        }
    }
    rcu_read_unlock_annotated();
    return remote;
}

void router_forward(struct conn *c, const char *addr, const char *req,
                    size_t n, const char *value, size_t vlen,
                    enum peer_reply_kind kind, bool drop)
{
    uint64_t hole = conn_hole(c);

    if (hole == 0) {
        return;                   /* out of memory: the connection closes */
    }
    if (peer_forward(c, hole, addr, req, n, value, vlen, kind, drop)) {
        return;
    }
    if (kind == PEER_REPLY_GET || drop) {
        conn_fill(c, hole, "", 0);
    } else {
        conn_fill(c, hole, PEER_UNAVAILABLE, sizeof(PEER_UNAVAILABLE) - 1);
    }
}

void router_stats_get(struct router_stats *out)
{
    out->not_mine = __atomic_load_n(&totals.not_mine, __ATOMIC_RELAXED);
}
