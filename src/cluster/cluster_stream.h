/*
 * cluster_stream: the TCP side of the gossip transport in the daemon
 * (push-pull, join, the TCP-fallback ping): accepting inbound streams on
 * the gossip port and opening outbound ones for the core, framed as one
 * 4-byte big-endian length plus message each way per connection.
 *
 * Runs entirely on the gossip thread's event loop (cluster.c); after
 * every call into the core it calls the after_core hook given at setup,
 * which publishes the view and re-arms the core's timer.
 */
#ifndef RC_CLUSTER_CLUSTER_STREAM_H
#define RC_CLUSTER_CLUSTER_STREAM_H

#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

#include "cluster/gossip.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Starts accepting on listen_fd (a listening, non-blocking TCP socket,
 * still owned by the caller). timeout_ns bounds every exchange. */
int cluster_stream_setup(struct event_base *base, struct gossip *g,
                         int listen_fd, uint64_t timeout_ns,
                         void (*after_core)(void));
/* Closes every stream and stops accepting. */
void cluster_stream_teardown(void);
/* The core's gossip_transport.stream_open. */
void cluster_stream_open(void *ctx, uint64_t id, const struct gossip_addr *to,
                         const uint8_t *buf, size_t len);

#ifdef __cplusplus
}
#endif
#endif
