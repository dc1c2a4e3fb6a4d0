/*
 * gossip-flood: what a flood of fresh member names costs one gossip core
 * (doc/cluster.md, "Member cap"). Feeds a node -r push-pulls of -n fresh
 * names each (65,536: the most one push-pull may carry, about 2.3 MB) over
 * the stream entry point, the way an unauthenticated peer on a keyless
 * cluster can, and reports for each the wall time the call took (the
 * gossip thread's time: it does nothing else meanwhile), the members left
 * in the table and the process's peak RSS.
 *
 * Usage: gossip-flood [-n names] [-r rounds] [-c max-members] [-d]
 * (-c 0: the core's default cap; -d: every round after the first repeats
 * the first round's names as dead, which makes each of them suspect: the
 * cost of that many suspicions at once).
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/resource.h>

#include "cluster/gossip.h"
#include "cluster/gossip_crypto.h"
#include "cluster/gossip_wire.h"

static void no_send(void *ctx, const struct gossip_addr *to,
                    const uint8_t *buf, size_t len)
{
    (void)ctx;
    (void)to;
    (void)buf;
    (void)len;
}

static void no_stream(void *ctx, uint64_t id, const struct gossip_addr *to,
                      const uint8_t *buf, size_t len)
{
    (void)ctx;
    (void)id;
    (void)to;
    (void)buf;
    (void)len;
}

static size_t reply_bytes;

static void on_reply(void *arg, const uint8_t *buf, size_t len)
{
    (void)arg;
    (void)buf;
    reply_bytes = len;
}

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A plain push-pull of n alive members named flood-<round>-<i>. */
static uint8_t *flood_message(unsigned round, size_t n, bool dead,
                              size_t *len)
{
    size_t cap = 16 + n * 64, blen;
    uint8_t *body = malloc(cap), *out = malloc(cap + 64);
    struct gossip_wbuf w;
    size_t i;

    gossip_wbuf_init(&w, body, cap);
    gossip_wire_put_pp_header(&w, false, (uint32_t)n);
    for (i = 0; i < n; i++) {
        struct gossip_wire_state s;

        memset(&s, 0, sizeof(s));
        snprintf(s.node, sizeof(s.node), "flood-%u-%zu", dead ? 0 : round, i);
        s.state = dead ? GOSSIP_DEAD : GOSSIP_ALIVE;
        s.incarnation = 1;
        s.gossip_addr.family = 4;
        s.gossip_addr.ip[0] = 10;
        s.gossip_addr.ip[1] = (uint8_t)round;
        s.gossip_addr.ip[2] = (uint8_t)(i >> 8);
        s.gossip_addr.ip[3] = (uint8_t)i;
        s.gossip_addr.port = 7946;
        s.client_addr = s.gossip_addr;
        s.weight = 1;
        gossip_wire_put_state(&w, &s);
    }
    blen = w.len;
    *len = gossip_seal(NULL, "", body, blen, out, cap + 64);
    free(body);
    return out;
}

int main(int argc, char **argv)
{
    static const struct gossip_transport t = { no_send, no_stream, NULL };
    struct gossip_addr from = { 4, 0, 7946, { 10, 255, 0, 1 } };
    struct gossip_config c;
    struct gossip *g;
    struct rusage ru;
    size_t n = 65536, len;
    unsigned rounds = 4, r;
    long cap = -1;
    uint64_t now = 1000000000ull;
    bool dead = false;
    int opt;

    while ((opt = getopt(argc, argv, "n:r:c:d")) != -1) {
        switch (opt) {
        case 'n': n = strtoul(optarg, NULL, 10); break;
        case 'r': rounds = (unsigned)strtoul(optarg, NULL, 10); break;
        case 'c': cap = strtol(optarg, NULL, 10); break;
        case 'd': dead = true; break;
        default:
            fprintf(stderr, "usage: gossip-flood [-n names] [-r rounds] "
                    "[-c max-members] [-d]\n");
            return 2;
        }
    }
    gossip_config_defaults(&c);
    c.name = "victim";
    c.gossip_addr.family = 4;
    c.gossip_addr.ip[0] = 10;
    c.gossip_addr.ip[3] = 1;
    c.gossip_addr.port = 7946;
    c.client_addr = c.gossip_addr;
    if (cap > 0) {
        c.max_members = (size_t)cap;
    }
    g = gossip_create(&c, &t, NULL, 1);
    if (g == NULL) {
        fprintf(stderr, "gossip_create failed\n");
        return 1;
    }
    gossip_start(g, now);
    printf("%-6s %10s %12s %12s %12s\n", "round", "names", "seconds",
           "members", "reply bytes");
    for (r = 0; r < rounds; r++) {
        uint8_t *msg = flood_message(r, n, dead && r > 0, &len);
        double t0 = now_s(), t1;

        reply_bytes = 0;
        gossip_on_stream(g, &from, msg, len, now, on_reply, NULL);
        t1 = now_s();
        printf("%-6u %10zu %12.4f %12zu %12zu\n", r + 1, n, t1 - t0,
               gossip_member_count(g), reply_bytes);
        free(msg);
        now += 1000000ull;
    }
    getrusage(RUSAGE_SELF, &ru);
    printf("peak RSS %ld MB\n", ru.ru_maxrss / 1024);
    gossip_destroy(&g);
    return 0;
}
