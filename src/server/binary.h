/*
 * binary: executes memcached binary-protocol requests against the cache;
 * the conn_handler for binary connections (-B binary, or -B auto when the
 * first byte is the request magic 0x80).
 */
#ifndef RC_SERVER_BINARY_H
#define RC_SERVER_BINARY_H

#include "net/conn.h"
#include "server/settings.h"

#ifdef __cplusplus
extern "C" {
#endif

void binary_setup(const struct settings *s);
const struct conn_handler *binary_handler_get(void);

#ifdef __cplusplus
}
#endif
#endif
