/*
 * protocol: which protocol a new connection speaks (-B).
 *
 * ascii and binary connections get their handler at once; with auto, the
 * first byte decides, as in memcached: the binary request magic (0x80)
 * picks binary, anything else text. -Y puts its authentication handler in
 * front of text, -S requires binary (options.c enforces both).
 */
#ifndef RC_SERVER_PROTOCOL_H
#define RC_SERVER_PROTOCOL_H

#include "net/conn.h"
#include "server/settings.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The handler new connections start with; call after exec_text_setup(),
 * exec_binary_setup() and auth_setup(). */
const struct conn_handler *protocol_handler(const struct settings *s);

#ifdef __cplusplus
}
#endif
#endif
