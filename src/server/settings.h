/*
 * settings: every option the daemon takes, filled once by options_parse()
 * in main and then only read. Modules are handed the parts they need at
 * setup; only main and the stats reporter see the whole struct.
 */
#ifndef RC_SERVER_SETTINGS_H
#define RC_SERVER_SETTINGS_H

#include <stdbool.h>
#include <stddef.h>

#include "cluster/cluster.h"

#ifdef __cplusplus
extern "C" {
#endif

struct settings {
    int port;                     /* -p, default 11211 */
    int udp_port;                 /* -U, default 0 (off) */
    const char *unix_path;        /* -s */
    int unix_mask;                /* -a, default 0700 */
    const char *interfaces;       /* -l, NULL = all */
    bool daemonize;               /* -d */
    const char *user;             /* -u */
    size_t maxbytes;              /* -m, default 64 MiB */
    bool evict;                   /* !-M */
    unsigned maxconns;            /* -c, default 1024 */
    int verbose;                  /* -v count */
    unsigned threads;             /* -t, default 4 */
    unsigned reqs_per_event;      /* -R, default 20 */
    bool use_cas;                 /* !-C */
    int backlog;                  /* -b, default 1024 */
    const char *protocol;         /* -B: ascii, binary or auto-negotiate */
    bool sasl;                    /* -S */
    const char *auth_file;        /* -Y */
    size_t item_size_max;         /* -I, default 1 MiB */
    double factor;                /* -f, default 1.25 */
    size_t chunk_size;            /* -n, default 48 */
    const char *pidfile;          /* -P */
    bool flush_enabled;           /* !-F */
    bool shutdown_enabled;        /* -A */
    unsigned hashpower;           /* -o hashpower, default 16 */
    unsigned idle_timeout;        /* -o idle_timeout, default 0 */
    size_t slab_chunk_max;        /* -o slab_chunk_max, default page/2 */
    size_t slab_page_size;        /* 1 MiB, as memcached */
    bool lru_crawler;             /* !-o no_lru_crawler */
    unsigned lru_crawler_sleep;   /* -o lru_crawler_sleep, microseconds */
    bool cluster;                 /* --join or --gossip-port given */
    struct cluster_options gossip;    /* the cluster options */
    bool route_proxy;             /* --route proxy (else local) */
    unsigned peer_timeout_ms;     /* --peer-timeout, default 1000 */
    unsigned replicas;            /* --replicas, default 1 */
    unsigned write_acks;          /* --write-acks, 1..replicas */
    unsigned tombstones;          /* --tombstones: slots */
    unsigned tombstone_ttl;       /* --tombstone-ttl, seconds */
    unsigned rebalance_rate;      /* --rebalance-rate, KiB/s, 0: no limit */
    unsigned leave_timeout;       /* --leave-timeout, seconds */
};

#ifdef __cplusplus
}
#endif
#endif
