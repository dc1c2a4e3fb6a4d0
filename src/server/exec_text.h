/*
 * exec_text: executes text-protocol requests against the cache and composes
 * the replies; the conn_handler that main installs. One request at a time,
 * on the connection's worker thread.
 */
#ifndef RC_SERVER_EXEC_TEXT_H
#define RC_SERVER_EXEC_TEXT_H

#include "net/conn.h"
#include "server/settings.h"

#ifdef __cplusplus
extern "C" {
#endif

void exec_text_setup(const struct settings *s);
const struct conn_handler *exec_text_handler(void);

#ifdef __cplusplus
}
#endif
#endif
