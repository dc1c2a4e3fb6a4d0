/*
 * binary: executes memcached binary-protocol requests against the cache;
 * the conn_handler for binary connections (-B binary, or -B auto when the
 * first byte is the request magic 0x80).
 */
#ifndef RC_SERVER_EXEC_BINARY_H
#define RC_SERVER_EXEC_BINARY_H

#include <stddef.h>
#include <stdint.h>

#include "net/conn.h"
#include "proto/binary.h"
#include "server/settings.h"

#ifdef __cplusplus
extern "C" {
#endif

void exec_binary_setup(const struct settings *s);
const struct conn_handler *exec_binary_handler(void);

/* A response to request h: status, then body (n bytes, no extras/key). */
void exec_binary_reply(struct conn *c, const struct bin_header *h,
                  uint16_t status, const void *body, size_t n);
/* An error response with memcached's text for status. */
void exec_binary_error(struct conn *c, const struct bin_header *h,
                  uint16_t status);

#ifdef __cplusplus
}
#endif
#endif
