/*
 * listener: the listening sockets (TCP on -l/-p, or a unix socket with -s),
 * accepting on the main thread's event loop and handing each connection to
 * a worker; with -U, a UDP socket on the same interfaces that every worker
 * reads. Over -c connections, a new client gets memcached's
 * "ERROR Too many open connections" and is closed.
 */
#ifndef RC_NET_LISTENER_H
#define RC_NET_LISTENER_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct event_base;

struct listener_options {
    const char *interfaces;       /* -l list, NULL = all interfaces */
    int port;                     /* -p */
    int udp_port;                 /* -U, 0 = off */
    const char *unix_path;        /* -s: replaces TCP when set */
    int unix_mask;                /* -a */
    int backlog;                  /* -b */
    unsigned max_conns;           /* -c */
};

/* Binds and listens; 0, or -1 with a message on stderr. */
int listener_setup(struct event_base *base, const struct listener_options *o);
void listener_teardown(void);

extern uint64_t listener_rejected_conns;  /* atomic */

#ifdef __cplusplus
}
#endif
#endif
