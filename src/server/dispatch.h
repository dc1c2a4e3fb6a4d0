/*
 * dispatch: executes text-protocol requests against the cache and composes
 * the replies; the conn_handler that main installs. One request at a time,
 * on the connection's worker thread.
 */
#ifndef RC_SERVER_DISPATCH_H
#define RC_SERVER_DISPATCH_H

#include "net/conn.h"
#include "server/settings.h"

#ifdef __cplusplus
extern "C" {
#endif

void dispatch_setup(const struct settings *s);
const struct conn_handler *dispatch_text_handler(void);

#ifdef __cplusplus
}
#endif
#endif
