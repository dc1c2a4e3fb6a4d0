/*
 * peer_failover: where a read goes when its owner fails (peer.h,
 * peer_request.key), or a write its owner never received
 * (peer_request.unsent_only): the next owner on the ring of now that has
 * not been asked, this node included.
 */
#include "cluster/peer_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/cluster.h"
#include "cluster/peer_stats.h"

static uint32_t addr_hash(const char *addr)
{
    uint32_t h = 2166136261u;     /* FNV-1a */

    for (; *addr != '\0'; addr++) {
        h = (h ^ (uint8_t)*addr) * 16777619u;
    }
    return h;
}

/* The first owner of t's key, in ring order, not tried yet: its client
 * address into next (this node's own included: its link is served like
 * any peer's). Taken from the view of now, so an owner that has just
 * taken a dead one's place is asked too. False when none is left. */
static bool next_owner(struct retry *t, char *next)
{
    const struct cluster_member *own[REPLICA_MAX];
    size_t n, i, j;
    bool found = false;

    if (t->ntried >= replica_count() || t->ntried >= REPLICA_MAX) {
        return false;
    }
    rcu_read_lock();
    n = cluster_owners(cluster_view(), t->key, t->nkey, replica_count(),
                       own);
    for (i = 0; i < n && !found; i++) {
        uint32_t h = addr_hash(own[i]->client_addr);

        for (j = 0; j < t->ntried && t->tried[j] != h; j++) {
        }
        if (j == t->ntried) {
            snprintf(next, PEER_ADDR_MAX, "%s", own[i]->client_addr);
            t->tried[t->ntried++] = h;
            found = true;
        }
    }
    rcu_read_unlock_annotated();
    return found;
}

bool peer_failover(struct peer_req *r)
{
    char next[PEER_ADDR_MAX];
    struct retry *t = r->retry;

    while (next_owner(t, next)) {
        struct peer_request q = { 0 };

        q.addr = next;
        q.binary = t->binary;
        q.req = t->bytes;
        q.n = t->n;
        q.value = t->vlen > 0 ? t->bytes + t->n : NULL;
        q.vlen = t->vlen;
        q.key = t->key;
        q.nkey = t->nkey;
        q.unsent_only = t->unsent_only;
        q.kind = (enum peer_reply_kind)t->kind;
        q.opcode = t->opcode;
        q.drop = r->drop;
        __atomic_add_fetch(&peer_totals.failovers, 1, __ATOMIC_RELAXED);
        if (peer_enqueue(conn_worker(r->ref->c), &q, r)) {
            return true;
        }
    }
    return false;
}

struct retry *peer_retry_of(const struct peer_request *q)
{
    struct retry *t;

    if (q->key == NULL || q->nkey > KEY_MAX_LENGTH ||
        (q->vlen > 0 && !q->unsent_only) || replica_count() < 2) {
        return NULL;
    }
    t = malloc(sizeof(*t) + q->n + q->vlen);
    if (t != NULL) {
        t->tried[0] = addr_hash(q->addr);
        t->ntried = 1;
        t->binary = q->binary;
        t->kind = (uint8_t)q->kind;
        t->opcode = q->opcode;
        t->nkey = (uint8_t)q->nkey;
        memcpy(t->key, q->key, q->nkey);
        t->unsent_only = q->unsent_only;
        t->n = q->n;
        memcpy(t->bytes, q->req, q->n);
        t->vlen = q->vlen;
        if (q->vlen > 0) {
            memcpy(t->bytes + q->n, q->value, q->vlen);
        }
    }
    return t;
}
