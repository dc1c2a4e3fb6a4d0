/*
 * exec_meta: executes memcached's meta commands (mg ms md ma mn me)
 * parsed by proto/meta.c, on behalf of the text handler in exec_text.c.
 *
 * exec_text.c calls exec_meta_run() for every line meta_is_command() accepts,
 * and hands a value to exec_meta_on_value() when exec_meta_owns_value() says the
 * value belongs to an `ms`. Everything runs on the connection's worker.
 */
#ifndef RC_SERVER_EXEC_META_H
#define RC_SERVER_EXEC_META_H

#include <stdbool.h>
#include <stddef.h>

#include "cache/item.h"
#include "net/conn.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Runs one meta request line (NUL-terminated, without \r\n). */
void exec_meta_run(struct conn *c, char *line, size_t len);

/* Whether the value conn_read_value() is delivering was announced by ms. */
bool exec_meta_owns_value(struct conn *c);

/* Completes an ms: stores it (valid: the value ended in \r\n) and replies.
 * The caller keeps and later drops its reference, as for text sets. */
void exec_meta_on_value(struct conn *c, struct item *it, bool valid);

#ifdef __cplusplus
}
#endif
#endif
