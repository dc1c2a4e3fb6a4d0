/*
 * rebalance_resync: the shared set of owners that missed replica copies
 * (see rebalance_resync.h, and rebalance.h for what a resync pass does).
 */
#include "cluster/rebalance_resync.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "cluster/rebalance.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct resync_set wanted;  /* under lock; seq: every request */

bool resync_has(const struct resync_set *set, const char *addr)
{
    size_t i;

    if (set->all) {
        return true;
    }
    for (i = 0; i < set->n; i++) {
        if (strncmp(set->addr[i], addr, RESYNC_ADDR_MAX) == 0) {
            return true;
        }
    }
    return false;
}

void rebalance_resync(const char *addr)
{
    pthread_mutex_lock(&lock);
    wanted.seq++;
    if (!resync_has(&wanted, addr)) {
        if (wanted.n < RESYNC_MAX) {
            snprintf(wanted.addr[wanted.n++], RESYNC_ADDR_MAX, "%s", addr);
        } else {
            wanted.all = true;
        }
    }
    pthread_mutex_unlock(&lock);
}

bool resync_take(struct resync_set *set, bool *fresh)
{
    bool pending;
    size_t i;

    *fresh = false;
    pthread_mutex_lock(&lock);
    pending = wanted.seq != set->seq;
    for (i = 0; i < wanted.n; i++) {
        if (resync_has(set, wanted.addr[i])) {
            continue;
        }
        *fresh = true;
        if (set->n < RESYNC_MAX) {
            memcpy(set->addr[set->n++], wanted.addr[i], RESYNC_ADDR_MAX);
        } else {
            set->all = true;
        }
    }
    if (wanted.all && !set->all) {
        set->all = *fresh = true;
    }
    wanted.n = 0;
    wanted.all = false;
    set->seq = wanted.seq;
    pthread_mutex_unlock(&lock);
    return pending;
}

bool resync_quiet(const struct resync_set *set)
{
    bool quiet;

    pthread_mutex_lock(&lock);
    quiet = wanted.seq == set->seq;
    pthread_mutex_unlock(&lock);
    return quiet;
}
