/*
 * peer_stats: the peer channel's counters (see peer_stats.h).
 */
#include "cluster/peer_stats.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

struct peer_stats peer_totals;
static struct peer_counters table[PEER_STATS_MAX + 1];  /* last: "other" */
static size_t table_n;
static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;

void peer_stats_get(struct peer_stats *out)
{
    const uint64_t *from = (const uint64_t *)&peer_totals;
    uint64_t *to = (uint64_t *)out;
    size_t f;

    for (f = 0; f < sizeof(*out) / sizeof(uint64_t); f++) {
        to[f] = __atomic_load_n(&from[f], __ATOMIC_RELAXED);
    }
}

struct peer_counters *peer_counters_of(const char *addr)
{
    size_t n = __atomic_load_n(&table_n, __ATOMIC_ACQUIRE), i;
    struct peer_counters *pc = NULL;

    for (i = 0; i < n; i++) {
        if (strcmp(table[i].addr, addr) == 0) {
            return &table[i];
        }
    }
    pthread_mutex_lock(&table_lock);
    n = table_n;
    for (i = 0; i < n && pc == NULL; i++) {
        if (strcmp(table[i].addr, addr) == 0) {
            pc = &table[i];
        }
    }
    if (pc == NULL && n < PEER_STATS_MAX) {
        pc = &table[n];
        snprintf(pc->addr, sizeof(pc->addr), "%s", addr);
        __atomic_store_n(&table_n, n + 1, __ATOMIC_RELEASE);
    } else if (pc == NULL) {
        pc = &table[PEER_STATS_MAX];
    }
    pthread_mutex_unlock(&table_lock);
    return pc;
}

static void emit(void (*fn)(void *arg, const char *addr,
                            const struct peer_link_stats *s),
                 void *arg, const struct peer_counters *pc, const char *name)
{
    const uint64_t *from = (const uint64_t *)&pc->s;
    struct peer_link_stats s;
    uint64_t *to = (uint64_t *)&s;
    size_t f;

    for (f = 0; f < sizeof(s) / sizeof(uint64_t); f++) {
        to[f] = __atomic_load_n(&from[f], __ATOMIC_RELAXED);
    }
    fn(arg, name, &s);
}

void peer_stats_each(void (*fn)(void *arg, const char *addr,
                                const struct peer_link_stats *s),
                     void *arg)
{
    size_t n = __atomic_load_n(&table_n, __ATOMIC_ACQUIRE), i;

    for (i = 0; i < n; i++) {
        emit(fn, arg, &table[i], table[i].addr);
    }
    if (__atomic_load_n(&table[PEER_STATS_MAX].s.forwarded,
                        __ATOMIC_RELAXED) != 0) {
        emit(fn, arg, &table[PEER_STATS_MAX], "other");
    }
}
