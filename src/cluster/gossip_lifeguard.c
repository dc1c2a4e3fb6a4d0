/*
 * gossip_lifeguard: suspicion timeouts, retransmit and push-pull scaling,
 * the awareness score (formulas in gossip_lifeguard.h).
 *
 * Note that the suspicion timeout is rounded down to whole milliseconds
 * before the min clamp, exactly as memberlist's remainingSuspicionTime
 * does, so the unit tests can quote memberlist's values.
 */
#include "cluster/gossip_lifeguard.h"

#include <math.h>

uint64_t gossip_suspicion_min_ns(unsigned mult, size_t n,
                                 uint64_t probe_interval_ns)
{
    double scale = log10(n > 1 ? (double)n : 1.0);

    if (scale < 1.0) {
        scale = 1.0;
    }
    /* memberlist computes with milliseconds of node scale; so do we. */
    return (uint64_t)mult * (uint64_t)(scale * 1000.0) * probe_interval_ns /
           1000;
}

unsigned gossip_suspicion_k(unsigned mult, size_t n)
{
    unsigned k = mult > 2 ? mult - 2 : 0;

    /* Too few other members to ever send k confirmations: don't wait for
     * them (memberlist: n - 2 < k). */
    if (n < 2 || n - 2 < k) {
        return 0;
    }
    return k;
}

uint64_t gossip_suspicion_timeout_ns(unsigned c, unsigned k, uint64_t min_ns,
                                     uint64_t max_ns)
{
    double frac, raw_s;
    uint64_t t;

    if (k == 0 || max_ns <= min_ns) {
        return min_ns;
    }
    frac = log((double)c + 1.0) / log((double)k + 1.0);
    raw_s = (double)max_ns / 1e9 - frac * (double)(max_ns - min_ns) / 1e9;
    if (raw_s <= 0) {
        return min_ns;
    }
    t = (uint64_t)floor(1000.0 * raw_s) * 1000000ull;
    return t < min_ns ? min_ns : t;
}

unsigned gossip_retransmit_limit(unsigned mult, size_t n)
{
    return mult * (unsigned)ceil(log10((double)n + 1.0));
}

uint64_t gossip_push_pull_interval_ns(uint64_t interval_ns, size_t n)
{
    const double threshold = 32;
    double mult;

    if (n <= (size_t)threshold) {
        return interval_ns;
    }
    mult = ceil(log2((double)n) - log2(threshold)) + 1.0;
    return (uint64_t)mult * interval_ns;
}

void gossip_awareness_init(struct gossip_awareness *a, unsigned max)
{
    a->score = 0;
    a->max = max > 0 ? max : 1;
}

void gossip_awareness_apply(struct gossip_awareness *a, int delta)
{
    long s = (long)a->score + delta;

    if (s < 0) {
        s = 0;
    }
    if (s > (long)a->max - 1) {
        s = (long)a->max - 1;
    }
    a->score = (unsigned)s;
}

uint64_t gossip_awareness_scale(const struct gossip_awareness *a,
                                uint64_t ns)
{
    return ns * (a->score + 1);
}
