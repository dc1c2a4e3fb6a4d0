/*
 * hostport: splits the address forms the options take ("host",
 * "host:port", "[v6]", "[v6]:port"; a bare IPv6 address with several
 * colons is a host), so -l, --join and --advertise read them alike.
 */
#ifndef RC_UTIL_HOSTPORT_H
#define RC_UTIL_HOSTPORT_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Copies the host part of spec[0..len) to host (NUL-terminated) and sets
 * *port from it, or leaves *port alone when spec has none. -1 if the form
 * is malformed or the host does not fit in cap. */
int hostport_split(const char *spec, size_t len, char *host, size_t cap,
                   int *port);

#ifdef __cplusplus
}
#endif
#endif
