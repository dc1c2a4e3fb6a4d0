/*
 * gossip_rand: the per-instance PRNG (xoshiro256**, seeded by splitmix64).
 *
 * Protocol randomness (probe order, gossip targets, jitter) must be
 * reproducible from a seed so the simulator can replay a run; it needs to
 * be unpredictable to nobody, so a small non-cryptographic generator is the
 * right tool. Nonces do not come from here (gossip_crypto.c).
 */
#ifndef RC_CLUSTER_GOSSIP_RAND_H
#define RC_CLUSTER_GOSSIP_RAND_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct gossip_rand {
    uint64_t s[4];
};

static inline uint64_t gossip_rand_splitmix(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static inline void gossip_rand_seed(struct gossip_rand *r, uint64_t seed)
{
    int i;

    for (i = 0; i < 4; i++) {
        r->s[i] = gossip_rand_splitmix(&seed);
    }
}

static inline uint64_t gossip_rand_rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static inline uint64_t gossip_rand_next(struct gossip_rand *r)
{
    uint64_t *s = r->s;
    uint64_t result = gossip_rand_rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;

    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = gossip_rand_rotl(s[3], 45);
    return result;
}

/* Uniform in [0, n) (n > 0), by multiply-shift; the bias is below 2^-32
 * for any n a cluster has. */
static inline uint64_t gossip_rand_below(struct gossip_rand *r, uint64_t n)
{
    return (uint64_t)(((unsigned __int128)gossip_rand_next(r) * n) >> 64);
}

/* Uniform double in [0, 1). */
static inline double gossip_rand_unit(struct gossip_rand *r)
{
    return (double)(gossip_rand_next(r) >> 11) * 0x1.0p-53;
}

#ifdef __cplusplus
}
#endif

#endif
