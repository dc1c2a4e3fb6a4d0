/*
 * auth: client authentication, as memcached 1.6 does it.
 *
 * -S: SASL on the binary protocol through Cyrus SASL (libsasl2), with the
 * application name "memcached" so an existing /etc/sasl2/memcached.conf
 * (or $SASL_CONF_PATH/memcached.conf) and its sasldb work unchanged.
 * Until a connection authenticates, only VERSION and the SASL opcodes run.
 *
 * -Y <file>: memcached's ASCII authentication. The file holds up to eight
 * `user:password` lines; a text connection's first request must be
 * `set <any key> <flags> <exptime> <n>` whose n-byte value is
 * `user password`.
 */
#ifndef RC_SERVER_AUTH_H
#define RC_SERVER_AUTH_H

#include <stdbool.h>
#include <stdint.h>

#include "net/conn.h"
#include "proto/binary.h"
#include "server/settings.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Loads the -Y file and starts SASL for -S. Prints memcached's message
 * and returns -1 on failure. */
int auth_setup(const struct settings *s);
void auth_teardown(void);

bool auth_sasl_enabled(void);
/* -S or -Y: clients must authenticate before anything else. */
bool auth_required(void);
/* Whether c may run opcode now. */
bool auth_sasl_allows(struct conn *c, uint8_t opcode);
/* Serves SASL_LIST_MECHS/AUTH/STEP; the whole body is in key[0..). */
void auth_sasl_request(struct conn *c, const struct bin_header *h,
                       const char *key);

/* With -Y, the handler text connections start with; it hands over to
 * `next` once authenticated. NULL without -Y. */
const struct conn_handler *auth_ascii_handler(
    const struct conn_handler *next);

/* auth_cmds / auth_errors for `stats`. */
void auth_stats(uint64_t *cmds, uint64_t *errors);

#ifdef __cplusplus
}
#endif
#endif
