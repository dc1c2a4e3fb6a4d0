/*
 * ring-bench: what a ring lookup costs (doc/performance.md). Builds the
 * ketama ring of N equal servers (default 1,000), then times ring_owner
 * (MD5 of the key plus the binary search), the hash alone and the search
 * alone over 1M
 * keys, five rounds, and prints the median ns per key. Also the build
 * time, which the gossip thread pays on every change of the ring.
 *
 *   contrib/bench/ring-bench [N] [keys]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cluster/ring.h"

#define ROUNDS 5

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), cmp_double);
    return v[n / 2];
}

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 1000;
    size_t nkeys = argc > 2 ? strtoul(argv[2], NULL, 10) : 1000000;
    struct ring_server *servers = calloc(n, sizeof(*servers));
    char (*hosts)[32] = calloc(n, sizeof(*hosts));
    char (*keys)[48] = calloc(nkeys, sizeof(*keys));
    uint32_t *hashes = calloc(nkeys, sizeof(*hashes));
    double build[ROUNDS], full[ROUNDS], search[ROUNDS], hash[ROUNDS];
    size_t i, sink = 0;
    struct ring *r = NULL;
    int round;

    if (n == 0 || servers == NULL || hosts == NULL || keys == NULL ||
        hashes == NULL) {
        fprintf(stderr, "usage: ring-bench [N>0] [keys]\n");
        return 2;
    }
    for (i = 0; i < n; i++) {
        snprintf(hosts[i], sizeof(hosts[i]), "10.%zu.%zu.%zu", i >> 16,
                 (i >> 8) & 255, i & 255);
        servers[i].host = hosts[i];
        servers[i].host_len = strlen(hosts[i]);
        servers[i].port = 11211;
        servers[i].weight = 1;
    }
    srand(1);
    for (i = 0; i < nkeys; i++) {
        snprintf(keys[i], sizeof(keys[i]), "key:%d:%zu", rand(), i);
    }
    for (round = 0; round < ROUNDS; round++) {
        double t0 = now_s(), t1, t2, t3;

        ring_free(r);
        r = ring_build(servers, n);
        t1 = now_s();
        for (i = 0; i < nkeys; i++) {
            sink += ring_owner(r, keys[i], strlen(keys[i]));
        }
        t2 = now_s();
        for (i = 0; i < nkeys; i++) {
            hashes[i] = ring_hash(keys[i], strlen(keys[i]));
        }
        t3 = now_s();
        hash[round] = (t3 - t2) * 1e9 / (double)nkeys;
        for (i = 0; i < nkeys; i++) {
            sink += ring_owner_of_hash(r, hashes[i]);
        }
        search[round] = (now_s() - t3) * 1e9 / (double)nkeys;
        build[round] = (t1 - t0) * 1e3;
        full[round] = (t2 - t1) * 1e9 / (double)nkeys;
    }
    printf("servers %zu points %zu keys %zu (median of %d rounds)\n", n,
           r->npoints, nkeys, ROUNDS);
    printf("build            %8.2f ms\n", median(build, ROUNDS));
    printf("ring_owner       %8.1f ns/key (MD5 + search)\n",
           median(full, ROUNDS));
    printf("ring_hash only   %8.1f ns/key\n", median(hash, ROUNDS));
    printf("search only      %8.1f ns/key\n", median(search, ROUNDS));
    printf("(checksum %zu)\n", sink);
    ring_free(r);
    free(servers);
    free(hosts);
    free(keys);
    free(hashes);
    return 0;
}
