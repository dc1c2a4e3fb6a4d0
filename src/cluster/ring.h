/*
 * ring: libmemcached's weighted ketama continuum, bit for bit, so that a
 * libmemcached client configured with MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED
 * and the same server list (same strings, same order, same weights) sends
 * every key to the node this ring names.
 *
 * Pure: no I/O, no globals but a per-thread MD5 context. A ring is built
 * once (by the gossip thread, on every change of the ring's members),
 * never changed, and read by any number of threads with no lock; whoever
 * publishes it (cluster.c, by RCU) decides when it is freed.
 *
 * Servers are named by their index in the array given to ring_build; the
 * caller maps indexes back to members.
 */
#ifndef RC_CLUSTER_RING_H
#define RC_CLUSTER_RING_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RING_NONE SIZE_MAX        /* "no server": the ring is empty */
#define RING_DEFAULT_PORT 11211   /* the port libmemcached leaves unhashed */
#define RING_POINTS_PER_SERVER 160  /* MEMCACHED_POINTS_PER_SERVER_KETAMA */

/* One server as a libmemcached client would be configured with it. */
struct ring_server {
    const char *host;             /* the host string, hashed verbatim */
    size_t host_len;
    uint16_t port;
    uint32_t weight;              /* >= 1 */
};

struct ring_point {
    uint32_t value;
    uint32_t index;               /* server index */
};

struct ring {
    size_t nservers;
    size_t npoints;
    uint32_t *server_points;      /* points each server has (156, 160, ...) */
    struct ring_point *points;    /* sorted by value, then index */
};

/* Builds the continuum of n servers (n may be 0). NULL when out of
 * memory. The host strings are only read during the call. */
struct ring *ring_build(const struct ring_server *servers, size_t n);
void ring_free(struct ring *r);

/* libmemcached's MD5 key hash: the first 4 bytes of MD5(key), little
 * endian. Any thread. */
uint32_t ring_hash(const void *key, size_t nkey);

/* The server that owns key: the first point >= its hash, wrapping to the
 * first point; with one server, that server without hashing (as
 * libmemcached). RING_NONE when the ring is empty. */
size_t ring_owner(const struct ring *r, const void *key, size_t nkey);
size_t ring_owner_of_hash(const struct ring *r, uint32_t hash);

/* The first `want` distinct servers clockwise from key's hash, owner
 * first, into out[]; returns how many were found (fewer than want when
 * the ring has fewer servers). */
size_t ring_owners(const struct ring *r, const void *key, size_t nkey,
                   size_t want, size_t *out);

/* The libmemcached configuration string (memcached(3)) for the same
 * servers in the same order. Its grammar cannot select weighted ketama,
 * but libmemcached switches to it when a server with a weight above 1 is
 * added under consistent distribution, so the string sets the
 * distribution first and gives every weight doubled: each server's share
 * w/W is the same number, hence the same float, hence the same points.
 * Returns the length it needs (like snprintf); out holds what fits. */
size_t ring_libmemcached_config(const struct ring_server *servers, size_t n,
                                char *out, size_t cap);

#ifdef __cplusplus
}
#endif
#endif
