/*
 * log: verbosity-gated messages to stderr, as memcached's -v/-vv/-vvv.
 * The level is read with a relaxed atomic so `verbosity` can change it live.
 */
#ifndef RC_UTIL_LOG_H
#define RC_UTIL_LOG_H

#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

extern int log_level;             /* atomic: 0 quiet .. 3 most verbose */

#define LOG_AT(lvl, ...)                                                  \
    do {                                                                  \
        if (__atomic_load_n(&log_level, __ATOMIC_RELAXED) >= (lvl)) {     \
            fprintf(stderr, __VA_ARGS__);                                 \
        }                                                                 \
    } while (0)

#ifdef __cplusplus
}
#endif
#endif
