/*
 * stats: per-thread command counters and the `stats` command's replies.
 *
 * Each worker counts into its own struct (relaxed atomic stores, no
 * read-modify-write across threads); `stats` sums them. Names and order
 * follow memcached's, so tools that scrape memcached's stats work.
 */
#ifndef RC_SERVER_STATS_H
#define RC_SERVER_STATS_H

#include <stdint.h>

#include "server/settings.h"
#include "util/tally.h"

#ifdef __cplusplus
extern "C" {
#endif

struct conn;

struct cmd_stats {
    uint64_t get_cmds;
    uint64_t get_hits;
    uint64_t get_misses;
    uint64_t set_cmds;
    uint64_t flush_cmds;
    uint64_t touch_cmds;
    uint64_t touch_hits;
    uint64_t touch_misses;
    uint64_t meta_cmds;           /* `me` (memcached's cmd_meta) */
    uint64_t delete_hits;
    uint64_t delete_misses;
    uint64_t incr_hits;
    uint64_t incr_misses;
    uint64_t decr_hits;
    uint64_t decr_misses;
    uint64_t cas_hits;
    uint64_t cas_misses;
    uint64_t cas_badval;
    uint64_t store_too_large;
    uint64_t store_no_memory;
};

/* This thread's counters; valid after stats_thread_init(). */
extern __thread struct cmd_stats *stats_self;

#define STATS_INC(field) TALLY_ADD(stats_self, field, 1)

void stats_setup(const struct settings *s);
void stats_thread_init(void);
void stats_thread_fini(void);

/* Where stats go: text lines or binary packets. */
struct stats_sink {
    void (*emit)(struct stats_sink *s, const char *name, const char *value);
    struct conn *c;
};

/* Emits the stats of group (NULL: the general ones): settings, slabs,
 * items, sizes. -1 if the group is unknown. */
int stats_emit_group(struct stats_sink *sink, const char *group);
/* `stats reset`. */
void stats_reset_all(void);

/* Answers `stats [group [arg]]` on c. Returns 0, or -1 for an unknown group
 * (the caller answers ERROR). */
int stats_reply(struct conn *c, const char *group, const char *arg);

#ifdef __cplusplus
}
#endif
#endif
