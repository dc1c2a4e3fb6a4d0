/*
 * cluster_addr: conversions between the core's struct gossip_addr and
 * socket addresses, for the gossip thread's UDP and TCP code
 * (cluster.c, cluster_stream.c), and parsing of the address options.
 */
#include "config.h"
#include "cluster/cluster_addr.h"

#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "util/hostport.h"

void cluster_addr_from_sockaddr(const struct sockaddr *sa,
                                struct gossip_addr *a)
{
    memset(a, 0, sizeof(*a));
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;

        a->family = 6;
        a->port = ntohs(in6->sin6_port);
        memcpy(a->ip, &in6->sin6_addr, 16);
    } else {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;

        a->family = 4;
        a->port = ntohs(in->sin_port);
        memcpy(a->ip, &in->sin_addr, 4);
    }
}

socklen_t cluster_addr_to_sockaddr(const struct gossip_addr *a,
                                   struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof(*ss));
    if (a->family == 6) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(a->port);
        memcpy(&in6->sin6_addr, a->ip, 16);
        return sizeof(*in6);
    } else {
        struct sockaddr_in *in = (struct sockaddr_in *)ss;

        in->sin_family = AF_INET;
        in->sin_port = htons(a->port);
        memcpy(&in->sin_addr, a->ip, 4);
        return sizeof(*in);
    }
}

void cluster_addr_format(const struct gossip_addr *a, char *out, size_t cap)
{
    char host[INET6_ADDRSTRLEN] = "?";

    inet_ntop(a->family == 6 ? AF_INET6 : AF_INET, a->ip, host,
              sizeof(host));
    snprintf(out, cap, a->family == 6 ? "[%s]:%u" : "%s:%u", host,
             (unsigned)a->port);
}

int cluster_addr_resolve(const char *spec, int default_port,
                         struct gossip_addr *out)
{
    char host[256], portstr[16];
    struct addrinfo hints, *res;
    int port = default_port;

    if (hostport_split(spec, strlen(spec), host, sizeof(host), &port) != 0) {
        return -1;
    }
    if (port <= 0 || port > 65535 || host[0] == '\0') {
        return -1;
    }
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_DGRAM;
    snprintf(portstr, sizeof(portstr), "%d", port);
    if (getaddrinfo(host, portstr, &hints, &res) != 0) {
        return -1;
    }
    cluster_addr_from_sockaddr(res->ai_addr, out);
    freeaddrinfo(res);
    return 0;
}
