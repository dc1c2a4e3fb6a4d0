/*
 * crawler: the maintenance thread. It reclaims the memory of expired and
 * flushed items that nobody reads (lazy expiry alone would leave them until
 * evicted), grows the hash table as items accumulate, and hands its own
 * retired items to RCU. -o no_lru_crawler turns the reclaiming off; table
 * growth always runs.
 */
#ifndef RC_CACHE_CRAWLER_H
#define RC_CACHE_CRAWLER_H

#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

struct crawler_options {
    bool reclaim;                 /* !-o no_lru_crawler */
    unsigned sleep_us;            /* -o lru_crawler_sleep: pause per batch */
};

int crawler_start(const struct crawler_options *opts);
void crawler_stop(void);

#ifdef __cplusplus
}
#endif
#endif
