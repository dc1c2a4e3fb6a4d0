/*
 * options: memcached 1.6's command line, short and long forms, with its
 * defaults and its messages for bad values.
 */
#ifndef RC_SERVER_OPTIONS_H
#define RC_SERVER_OPTIONS_H

#include "server/settings.h"

#ifdef __cplusplus
extern "C" {
#endif

#define OPTIONS_EXIT_USAGE 64     /* EX_USAGE, as memcached */

void options_defaults(struct settings *s);
/* Parses argv into s. Returns -1 to continue, or an exit status (0 after
 * -h/-V, non-zero after printing why the options are bad). */
int options_parse(int argc, char **argv, struct settings *s);

#ifdef __cplusplus
}
#endif
#endif
