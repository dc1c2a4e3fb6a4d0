/*
 * cluster_addr: struct gossip_addr <-> socket addresses, and the address
 * options ("host", "host:port", "[v6]", "[v6]:port") resolved to one
 * address. Used by the gossip thread only; no state.
 */
#ifndef RC_CLUSTER_CLUSTER_ADDR_H
#define RC_CLUSTER_CLUSTER_ADDR_H

#include <stddef.h>
#include <sys/socket.h>

#include "cluster/gossip.h"

#ifdef __cplusplus
extern "C" {
#endif

void cluster_addr_from_sockaddr(const struct sockaddr *sa,
                                struct gossip_addr *a);
/* Fills ss; returns the length to pass to bind/connect/sendto. */
socklen_t cluster_addr_to_sockaddr(const struct gossip_addr *a,
                                   struct sockaddr_storage *ss);
/* host:port or [v6]:port. */
void cluster_addr_format(const struct gossip_addr *a, char *out, size_t cap);
/* Resolves spec (the first address getaddrinfo gives) with default_port
 * when spec has none; -1 if malformed or unresolvable. */
int cluster_addr_resolve(const char *spec, int default_port,
                         struct gossip_addr *out);

#ifdef __cplusplus
}
#endif
#endif
