/*
 * listener: listening sockets and accept (see listener.h).
 *
 * Note that, like memcached, a few descriptors are held back from -c for the
 * listeners and standard streams, so the effective client limit is a little
 * below -c; and the reject reply is written straight to the new socket from
 * the listener thread, as it is tiny and the socket's buffer is empty.
 */
#define _GNU_SOURCE
#include "net/listener.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <event2/event.h>

#include "net/worker.h"
#include "util/hostport.h"
#include "util/log.h"

#define LISTENER_MAX 16
#define RESERVED_FDS 5            /* std streams, listeners, spare */

struct listen_sock {
    int fd;
    bool is_unix;
    struct event *ev;
};

uint64_t listener_rejected_conns;

static struct listener_options lopts;
static struct listen_sock socks[LISTENER_MAX];
static int nsocks;

static void on_accept(evutil_socket_t fd, short what, void *arg)
{
    struct listen_sock *ls = arg;

    (void)what;
    for (;;) {
        int c = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        uint64_t cur;

        if (c < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno != EAGAIN && errno != EWOULDBLOCK) {
                LOG_AT(1, "accept failed: %s\n", strerror(errno));
            }
            return;
        }
        cur = __atomic_load_n(&worker_curr_conns, __ATOMIC_RELAXED);
        if (cur + RESERVED_FDS >= lopts.max_conns) {
            static const char msg[] = "ERROR Too many open connections\r\n";

            if (write(c, msg, sizeof(msg) - 1) < 0) {
                LOG_AT(2, "reject write failed\n");
            }
            close(c);
            __atomic_add_fetch(&listener_rejected_conns, 1, __ATOMIC_RELAXED);
            continue;
        }
        if (!ls->is_unix) {
            int one = 1;

            setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        }
        worker_dispatch(c, ls->is_unix);
    }
}

/* Keeps fd to close at teardown. A stream socket is accepted on here; a
 * UDP socket (base NULL) is read by the workers instead. */
static int add_socket(struct event_base *base, int fd, bool is_unix)
{
    struct listen_sock *ls;

    if (nsocks == LISTENER_MAX) {
        close(fd);
        fprintf(stderr, "too many listening sockets\n");
        return -1;
    }
    ls = &socks[nsocks++];
    ls->fd = fd;
    ls->is_unix = is_unix;
    if (base == NULL) {
        ls->ev = NULL;
        if (worker_add_udp(fd) != 0) {
            fprintf(stderr, "failed to hand the UDP socket to the workers\n");
            return -1;
        }
        return 0;
    }
    ls->ev = event_new(base, fd, EV_READ | EV_PERSIST, on_accept, ls);
    return event_add(ls->ev, NULL);
}

static int listen_inet(struct event_base *base, const char *host, int port,
                       int socktype)
{
    const char *proto = socktype == SOCK_DGRAM ? "UDP" : "TCP";
    struct addrinfo hints, *res, *ai;
    char portstr[16];
    int err, bound = 0;

    memset(&hints, 0, sizeof(hints));
    hints.ai_flags = AI_PASSIVE;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = socktype;
    snprintf(portstr, sizeof(portstr), "%d", port);
    err = getaddrinfo(host, portstr, &hints, &res);
    if (err != 0) {
        fprintf(stderr, "getaddrinfo(): %s\n", gai_strerror(err));
        return -1;
    }
    for (ai = res; ai != NULL; ai = ai->ai_next) {
        int one = 1;
        int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
                        SOCK_CLOEXEC, ai->ai_protocol);

        if (fd < 0) {
            continue;             /* e.g. no IPv6 on this host */
        }
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (ai->ai_family == AF_INET6) {
            setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
        }
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
            if (errno == EADDRINUSE) {
                fprintf(stderr, "failed to listen on %s port %d: %s\n",
                        proto, port, strerror(errno));
                close(fd);
                freeaddrinfo(res);
                return -1;
            }
            close(fd);
            continue;
        }
        if (socktype == SOCK_DGRAM) {
            if (add_socket(NULL, fd, false) != 0) {
                freeaddrinfo(res);
                return -1;
            }
            bound++;
            continue;
        }
        if (listen(fd, lopts.backlog) != 0) {
            perror("listen()");
            close(fd);
            continue;
        }
        if (add_socket(base, fd, false) != 0) {
            freeaddrinfo(res);
            return -1;
        }
        bound++;
    }
    freeaddrinfo(res);
    if (bound == 0) {
        fprintf(stderr, "failed to listen on %s port %d\n", proto, port);
        return -1;
    }
    return 0;
}

/* TCP on port and UDP on udp_port (either 0 = off) on one interface. */
static int listen_host(struct event_base *base, const char *host, int port,
                       int udp_port)
{
    if (port != 0 && listen_inet(base, host, port, SOCK_STREAM) != 0) {
        return -1;
    }
    if (udp_port != 0 && listen_inet(base, host, udp_port, SOCK_DGRAM) != 0) {
        return -1;
    }
    return 0;
}

static int listen_unix(struct event_base *base, const char *path, int mask)
{
    struct sockaddr_un addr;
    int fd;
    mode_t old;

    if (strlen(path) >= sizeof(addr.sun_path)) {
        fprintf(stderr, "unix socket path too long: %s\n", path);
        return -1;
    }
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        perror("socket()");
        return -1;
    }
    unlink(path);                 /* a stale socket from a previous run */
    memset(&addr, 0, sizeof(addr));
    addr.sun_family = AF_UNIX;
    strcpy(addr.sun_path, path);
    old = umask((mode_t)(~mask & 0777));
    if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
        perror("bind()");
        umask(old);
        close(fd);
        return -1;
    }
    umask(old);
    if (listen(fd, lopts.backlog) != 0) {
        perror("listen()");
        close(fd);
        return -1;
    }
    return add_socket(base, fd, true);
}

int listener_setup(struct event_base *base, const struct listener_options *o)
{
    char *list, *save = NULL, *tok;
    int rc = 0;

    lopts = *o;
    if (o->unix_path != NULL) {
        return listen_unix(base, o->unix_path, o->unix_mask);
    }
    if (o->port == 0 && o->udp_port == 0) {
        return 0;                 /* -p 0: no TCP, as memcached */
    }
    if (o->interfaces == NULL) {
        return listen_host(base, NULL, o->port, o->udp_port);
    }
    list = strdup(o->interfaces);
    for (tok = strtok_r(list, ", ", &save); tok != NULL && rc == 0;
         tok = strtok_r(NULL, ", ", &save)) {
        char host[256];
        int port = o->port;

        if (hostport_split(tok, strlen(tok), host, sizeof(host), &port) != 0) {
            fprintf(stderr, "bad listen address %s\n", tok);
            rc = -1;
            break;
        }
        rc = listen_host(base, host, o->port != 0 ? port : 0, o->udp_port);
    }
    free(list);
    return rc;
}

void listener_teardown(void)
{
    int i;

    for (i = 0; i < nsocks; i++) {
        if (socks[i].ev != NULL) {
            event_free(socks[i].ev);
        }
        close(socks[i].fd);
    }
    nsocks = 0;
    if (lopts.unix_path != NULL) {
        unlink(lopts.unix_path);
    }
}
