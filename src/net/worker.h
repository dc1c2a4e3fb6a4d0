/*
 * worker: the -t worker threads. Each runs its own libevent loop and owns
 * the connections handed to it; the listener hands over accepted sockets
 * round robin through a queue and an eventfd. A worker also runs a short
 * periodic timer that releases retired cache items (cache_quiesce) and
 * closes idle connections (-o idle_timeout).
 */
#ifndef RC_NET_WORKER_H
#define RC_NET_WORKER_H

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct event_base;
struct worker;

/* Network counters, memcached's names; summed over workers. */
struct net_stats {
    uint64_t bytes_read;
    uint64_t bytes_written;
    uint64_t conn_yields;
};

struct worker_options {
    unsigned nthreads;            /* -t */
    void (*thread_init)(void);    /* run first in each worker thread */
    void (*thread_fini)(void);    /* run last in each worker thread */
};

int worker_setup(const struct worker_options *opts);
/* Stops every worker (closing its connections) and joins it. */
void worker_teardown(void);

/* Hands an accepted socket to the next worker (listener thread). */
void worker_dispatch(int fd, bool is_unix);
/* Gives every worker a reader of the UDP socket fd (a copy of it; the
 * caller keeps fd). 0, or -1 if descriptors ran out. */
int worker_add_udp(int fd);

/* Adds n to a counter of the calling worker's own net_stats (a relaxed
 * atomic store: other threads only read it). */
static inline void worker_stat_add(uint64_t *counter, uint64_t n)
{
    __atomic_store_n(counter, __atomic_load_n(counter, __ATOMIC_RELAXED) + n,
                     __ATOMIC_RELAXED);
}

struct event_base *worker_base(struct worker *w);
/* The calling thread's worker; NULL on any other thread. */
struct worker *worker_self(void);
struct net_stats *worker_net_stats(struct worker *w);
void worker_net_stats_sum(struct net_stats *out);
void worker_net_stats_reset(void);

/* Connection counts (atomic), maintained by conn.c. */
extern uint64_t worker_curr_conns;
extern uint64_t worker_total_conns;

#ifdef __cplusplus
}
#endif
#endif
