/*
 * gossip_lifeguard: the arithmetic of Lifeguard and of memberlist's
 * scaling with cluster size, kept apart from the state machine so each
 * formula can be tested against memberlist's numbers on its own.
 *
 *   suspicion min   = mult * max(1, log10(max(1, n))) * probe interval
 *   suspicion max   = max_mult * min
 *   timeout(c)      = max - (max - min) * log(c + 1) / log(k + 1), >= min
 *                     where c = independent confirmations so far and
 *                     k = mult - 2 expected ones (0 in tiny clusters)
 *   retransmits     = retransmit mult * ceil(log10(n + 1))
 *   push-pull       = interval * (ceil(log2 n - log2 32) + 1) above 32 nodes
 *
 * The awareness score (Lifeguard's local health) is 0 when healthy and
 * grows by one for every probe that failed without the nacks that would
 * show the network around us works; a success lowers it. Timeouts and the
 * probe interval are multiplied by (score + 1), so a node that is slow
 * itself stretches its own deadlines rather than accuse healthy peers.
 */
#ifndef RC_CLUSTER_GOSSIP_LIFEGUARD_H
#define RC_CLUSTER_GOSSIP_LIFEGUARD_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

uint64_t gossip_suspicion_min_ns(unsigned mult, size_t n,
                                 uint64_t probe_interval_ns);
/* Expected independent confirmations before the timeout reaches min. */
unsigned gossip_suspicion_k(unsigned mult, size_t n);
/* Total timeout (from the start of the suspicion) after c confirmations. */
uint64_t gossip_suspicion_timeout_ns(unsigned c, unsigned k, uint64_t min_ns,
                                     uint64_t max_ns);
unsigned gossip_retransmit_limit(unsigned mult, size_t n);
uint64_t gossip_push_pull_interval_ns(uint64_t interval_ns, size_t n);

struct gossip_awareness {
    unsigned score;               /* 0 .. max - 1 */
    unsigned max;                 /* awareness_max_multiplier */
};

void gossip_awareness_init(struct gossip_awareness *a, unsigned max);
void gossip_awareness_apply(struct gossip_awareness *a, int delta);
uint64_t gossip_awareness_scale(const struct gossip_awareness *a,
                                uint64_t ns);

#ifdef __cplusplus
}
#endif

#endif
