/*
 * cluster_ring: the ring a view carries (see cluster_ring.h).
 *
 * Building a ring costs one MD5 per 4 points (40 per member), about 70 ms
 * at 1,000 members; views are published on every change and once a second
 * for the counters, so a view whose ring members are unchanged shares the
 * previous ring instead of building its own.
 */
#include "cluster/cluster_ring.h"

#include <stdlib.h>
#include <string.h>

static int input_cmp(const struct cluster_ring_input *a,
                     const struct cluster_ring_input *b)
{
    int c = strcmp(a->host, b->host);

    if (c != 0) {
        return c;
    }
    if (a->port != b->port) {
        return a->port < b->port ? -1 : 1;
    }
    return a->weight < b->weight ? -1 : a->weight > b->weight;
}

static uint64_t built;            /* rings built so far */

struct entry {
    struct cluster_ring_input in;
    uint32_t member;              /* index in the view's members[] */
};

static int entry_cmp(const void *a, const void *b)
{
    return input_cmp(&((const struct entry *)a)->in,
                     &((const struct entry *)b)->in);
}

static struct cluster_ring *build(const struct cluster_ring_input *in,
                                  size_t n)
{
    struct cluster_ring *r = calloc(1, sizeof(*r));
    struct ring_server *servers = calloc(n ? n : 1, sizeof(*servers));
    size_t i;

    if (r == NULL || servers == NULL) {
        goto fail;
    }
    r->inputs = malloc((n ? n : 1) * sizeof(*r->inputs));
    if (r->inputs == NULL) {
        goto fail;
    }
    memcpy(r->inputs, in, n * sizeof(*in));
    r->n = n;
    for (i = 0; i < n; i++) {
        servers[i].host = r->inputs[i].host;
        servers[i].host_len = strlen(r->inputs[i].host);
        servers[i].port = r->inputs[i].port;
        servers[i].weight = r->inputs[i].weight;
    }
    r->ring = ring_build(servers, n);
    if (r->ring == NULL) {
        goto fail;
    }
    r->refs = 1;
    r->gen = ++built;             /* the gossip thread only */
    free(servers);
    return r;
fail:
    if (r != NULL) {
        free(r->inputs);
    }
    free(r);
    free(servers);
    return NULL;
}

static bool same_inputs(const struct cluster_ring *r,
                        const struct cluster_ring_input *in, size_t n)
{
    size_t i;

    if (r == NULL || r->n != n) {
        return false;
    }
    for (i = 0; i < n; i++) {
        if (input_cmp(&r->inputs[i], &in[i]) != 0) {
            return false;
        }
    }
    return true;
}

int cluster_ring_attach(struct cluster_view *v, struct cluster_ring *prev)
{
    size_t cap = v->n ? v->n : 1, n = 0, i;
    struct entry *e = malloc(cap * sizeof(*e));
    struct cluster_ring_input *in = malloc(cap * sizeof(*in));
    uint32_t *order = malloc(cap * sizeof(*order));
    struct cluster_ring *r;

    v->ring = NULL;
    v->ring_n = 0;
    v->ring_member = NULL;
    if (e == NULL || in == NULL || order == NULL) {
        goto fail;
    }
    for (i = 0; i < v->n; i++) {
        const struct cluster_member *m = &v->members[i];

        v->members[i].ring_points = 0;
        if (m->state != GOSSIP_ALIVE && m->state != GOSSIP_SUSPECT) {
            continue;
        }
        memcpy(e[n].in.host, m->host, sizeof(e[n].in.host));
        e[n].in.port = m->port;
        e[n].in.weight = m->weight ? m->weight : 1;
        e[n].member = (uint32_t)i;
        n++;
    }
    qsort(e, n, sizeof(*e), entry_cmp);
    for (i = 0; i < n; i++) {
        in[i] = e[i].in;
        order[i] = e[i].member;
    }
    if (same_inputs(prev, in, n)) {
        r = prev;
        __atomic_add_fetch(&r->refs, 1, __ATOMIC_RELAXED);
    } else if ((r = build(in, n)) == NULL) {
        goto fail;
    }
    for (i = 0; i < n; i++) {
        v->members[order[i]].ring_points = r->ring->server_points[i];
    }
    free(e);
    free(in);
    v->ring = r;
    v->ring_n = n;
    v->ring_member = order;
    return 0;
fail:
    free(e);
    free(in);
    free(order);
    return -1;
}

void cluster_ring_detach(struct cluster_view *v)
{
    struct cluster_ring *r = v->ring;

    free(v->ring_member);
    v->ring_member = NULL;
    v->ring = NULL;
    if (r != NULL && __atomic_sub_fetch(&r->refs, 1, __ATOMIC_ACQ_REL) == 0) {
        ring_free(r->ring);
        free(r->inputs);
        free(r);
    }
}

const struct cluster_member *cluster_owner(const struct cluster_view *v,
                                           const void *key, size_t nkey)
{
    size_t i;

    if (v == NULL || v->ring == NULL) {
        return NULL;
    }
    i = ring_owner(v->ring->ring, key, nkey);
    return i == RING_NONE ? NULL : &v->members[v->ring_member[i]];
}

size_t cluster_owners(const struct cluster_view *v, const void *key,
                      size_t nkey, size_t want,
                      const struct cluster_member **out)
{
    size_t idx[16], n, i;

    if (v == NULL || v->ring == NULL) {
        return 0;
    }
    want = want > 16 ? 16 : want;
    n = ring_owners(v->ring->ring, key, nkey, want, idx);
    for (i = 0; i < n; i++) {
        out[i] = &v->members[v->ring_member[idx[i]]];
    }
    return n;
}
