/*
 * options: command line parsing (see options.h).
 *
 * Only options that really work are accepted and listed by -h; a memcached
 * option ringcached does not implement yet is rejected with a message, not
 * silently ignored, so a deployment never runs without something it asked
 * for.
 */
#include "config.h"
#include "server/options.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache/tombstone.h"
#include "cluster/rebalance.h"
#include "cluster/replica.h"
#include "util/numparse.h"

#define SLAB_PAGE_SIZE (1024 * 1024)  /* memcached's slab_page_size */
#define SLAB_CHUNK_MAX_MIN 1024

void options_defaults(struct settings *s)
{
    memset(s, 0, sizeof(*s));
    s->port = 11211;
    s->udp_port = 0;
    s->unix_mask = 0700;
    s->maxbytes = 64 * 1024 * 1024;
    s->evict = true;
    s->maxconns = 1024;
    s->threads = 4;
    s->reqs_per_event = 20;
    s->use_cas = true;
    s->backlog = 1024;
    s->protocol = "auto-negotiate";
    s->item_size_max = 1024 * 1024;
    s->factor = 1.25;
    s->chunk_size = 48;
    s->flush_enabled = true;
    s->route_proxy = true;
    s->hashpower = 16;
    s->lru_crawler = true;
    s->lru_crawler_sleep = 100;
    s->peer_timeout_ms = 1000;
    s->replicas = 1;
    s->write_acks = 1;
    s->tombstones = TOMBSTONE_DEFAULT_SLOTS;
    s->tombstone_ttl = TOMBSTONE_DEFAULT_TTL;
    s->rebalance_rate = REBALANCE_DEFAULT_RATE;
    s->leave_timeout = 30;
}

static void usage(void)
{
    printf(PACKAGE_NAME " " PACKAGE_VERSION
           " (memcached 1.6 compatible)\n"
           "-p, --port=<num>          TCP port to listen on (default: 11211)\n"
           "-U, --udp-port=<num>      UDP port to listen on (default: 0, "
           "off)\n"
           "-s, --unix-socket=<file>  UNIX socket to listen on (disables "
           "network support)\n"
           "-a, --unix-mask=<mask>    access mask for UNIX socket, in octal "
           "(default: 700)\n"
           "-l, --listen=<addr>       interface to listen on (default: "
           "INADDR_ANY);\n"
           "                          a comma separated list of "
           "host[:port] is accepted\n"
           "-d, --daemon              run as a daemon\n"
           "-u, --user=<user>         assume identity of <username> (only "
           "when run as root)\n"
           "-m, --memory-limit=<num>  item memory in megabytes "
           "(default: 64)\n"
           "-M, --disable-evictions   return error on memory exhausted "
           "instead of evicting\n"
           "-c, --conn-limit=<num>    max simultaneous connections "
           "(default: 1024)\n"
           "-v, --verbose             verbose (print errors/warnings while "
           "in event loop)\n"
           "-vv                       very verbose (also print client "
           "commands/responses)\n"
           "-vvv                      extremely verbose\n"
           "-h, --help                print this help and exit\n"
           "-V, --version             print version and exit\n"
           "-P, --pidfile=<file>      save PID in <file>, only used with -d "
           "option\n"
           "-f, --slab-growth-factor=<num> chunk size growth factor "
           "(default: 1.25)\n"
           "-n, --slab-min-size=<bytes> min space used for key+value+flags "
           "(default: 48)\n"
           "-t, --threads=<num>       number of threads to use "
           "(default: 4)\n"
           "-R, --max-reqs-per-event  maximum number of requests per event, "
           "limits the\n"
           "                          requests processed per connection to "
           "prevent\n"
           "                          starvation (default: 20)\n"
           "-C, --disable-cas         disable use of CAS\n"
           "-b, --listen-backlog=<num> set the backlog queue limit "
           "(default: 1024)\n"
           "-B, --protocol=<name>     protocol: ascii, binary, or auto "
           "(default: auto-negotiate)\n"
           "-S, --enable-sasl         turn on Sasl authentication\n"
           "-Y, --auth-file=<file>    enable ASCII protocol authentication. "
           "format:\n"
           "                          user:pass\\nuser2:pass2\\n\n"
           "-I, --max-item-size=<num> adjusts max item size "
           "(default: 1m, min: 1k, max: 1024m)\n"
           "-F, --disable-flush-all   disable flush_all command\n"
           "-A, --enable-shutdown     enable ascii \"shutdown\" command\n"
           "cluster (off unless --join or --gossip-port is given):\n"
           "--join=<host:port,...>    gossip seeds to join through\n"
           "--gossip-port=<num>       gossip UDP and TCP port (default: 7946)\n"
           "--node-name=<name>        unique name (default: the advertised "
           "host:port)\n"
           "--advertise=<host:port>   address clients reach this node at "
           "(default: -l's\n"
           "                          first address and -p)\n"
           "                          (clients must configure this host "
           "string: it is hashed)\n"
           "--weight=<n>              this node's share of the ring, 1 to "
           "65535 (1)\n"
           "--route=<proxy|local>     proxy: forward keys other nodes own "
           "to them\n"
           "                          (default); local: serve everything "
           "here\n"
           "--peer-timeout=<ms>       a forwarded request fails after this "
           "(1000)\n"
           "--replicas=<n>            copies of every key, on the first n "
           "members\n"
           "                          clockwise, 1 to 8 (1)\n"
           "--write-acks=<n>          a write is answered once n owners "
           "hold it,\n"
           "                          1 to --replicas (1)\n"
           "--tombstones=<n>          deleted keys remembered, so older "
           "copies stay\n"
           "                          deleted (262144, 40 bytes each and "
           "the key)\n"
           "--tombstone-ttl=<s>       how long a delete is remembered "
           "(3600)\n"
           "--rebalance-rate=<KiB/s>  how fast keys move to new owners "
           "after a\n"
           "                          ring change; 0: no limit (32768)\n"
           "--leave-timeout=<s>       on SIGTERM, hand keys to their new "
           "owners for\n"
           "                          at most this long (30)\n"
           "--cluster-name=<name>     nodes of other clusters are ignored\n"
           "--cluster-key-file=<file> AES-256 keys, 64 hex digits a line, "
           "first primary:\n"
           "                          every gossip message is encrypted and "
           "authenticated\n"
           "--gossip-probe-interval=<ms> (1000), --gossip-probe-timeout=<ms> "
           "(500),\n"
           "--gossip-interval=<ms> (200), --gossip-nodes=<n> (3),\n"
           "--gossip-indirect-checks=<n> (3), --gossip-push-pull-interval=<ms> "
           "(30000),\n"
           "--gossip-suspicion-mult=<n> (4), --gossip-dead-retention=<ms> "
           "(60000)\n"
           "--cluster-max-members=<n> members this node tracks, 2 to 65536 "
           "(16384);\n"
           "                          names beyond are refused "
           "(members_refused)\n"
           "-o, --extended            comma separated list of extended "
           "options:\n"
           "   - hashpower:           an integer multiplier for how large "
           "the hash\n"
           "                          table should be at start (12-32, "
           "default 16)\n"
           "   - idle_timeout:        timeout for idle connections, seconds "
           "(default: 0)\n"
           "   - slab_chunk_max:      largest slab chunk in bytes; larger items "
           "are chunked\n"
           "                          (default: 524288, half a slab page)\n"
           "   - no_lru_crawler:      do not reclaim expired items in the "
           "background\n"
           "   - lru_crawler_sleep:   microseconds to sleep between crawler "
           "batches\n"
           "                          (default: 100)\n"
           "   - modern:              accepted for compatibility; the "
           "defaults are modern\n");
}

/* Prints msg, with arg after it when given, and returns the usage exit. */
static int bad(const char *msg, const char *arg)
{
    fputs(msg, stderr);
    if (arg[0] != '\0') {
        fprintf(stderr, "%s\n", arg);
    }
    return OPTIONS_EXIT_USAGE;
}

/* -o a,b=c,... */
static int parse_extended(char *list, struct settings *s)
{
    char *save = NULL, *opt;

    for (opt = strtok_r(list, ",", &save); opt != NULL;
         opt = strtok_r(NULL, ",", &save)) {
        char *val = strchr(opt, '=');
        uint32_t n;

        if (val != NULL) {
            *val++ = '\0';
        }
        if (strcmp(opt, "hashpower") == 0) {
            if (val == NULL || !num_parse_u32(val, &n)) {
                return bad("Missing numeric argument for hashpower\n", "");
            }
            if (n < 12) {
                fprintf(stderr, "Initial hashtable multiplier of %u is too "
                        "low\n", n);
                return OPTIONS_EXIT_USAGE;
            }
            if (n > 32) {
                fprintf(stderr, "Initial hashtable multiplier of %u is too "
                        "high\nChoose a value based on \"STAT "
                        "hash_power_level\" from a running instance\n", n);
                return OPTIONS_EXIT_USAGE;
            }
            s->hashpower = n;
        } else if (strcmp(opt, "idle_timeout") == 0) {
            if (val == NULL || !num_parse_u32(val, &n)) {
                return bad("Invalid numeric argument for idle_timeout\n", "");
            }
            s->idle_timeout = n;
        } else if (strcmp(opt, "slab_chunk_max") == 0) {
            /* Plain bytes, as memcached parses it. */
            if (val == NULL || !num_parse_u32(val, &n) || n == 0) {
                return bad("could not parse argument to slab_chunk_max\n",
                           "");
            }
            s->slab_chunk_max = n;
        } else if (strcmp(opt, "no_lru_crawler") == 0) {
            s->lru_crawler = false;
        } else if (strcmp(opt, "lru_crawler") == 0) {
            s->lru_crawler = true;
        } else if (strcmp(opt, "lru_crawler_sleep") == 0) {
            if (val == NULL || !num_parse_u32(val, &n) || n > 1000000) {
                return bad("Invalid numeric argument for lru_crawler_sleep\n",
                           "");
            }
            s->lru_crawler_sleep = n;
        } else if (strcmp(opt, "modern") == 0) {
            /* memcached 1.5's "modern" defaults are ours already. */
        } else {
            fprintf(stderr, "Illegal suboption \"%s\"\n", opt);
            return OPTIONS_EXIT_USAGE;
        }
    }
    return -1;
}

enum {                            /* long options without a letter */
    OPT_JOIN = 256, OPT_GOSSIP_PORT, OPT_NODE_NAME, OPT_ADVERTISE,
    OPT_CLUSTER_NAME, OPT_KEY_FILE, OPT_ROUTE,
    /* numeric from here on */
    OPT_PROBE_INTERVAL, OPT_PROBE_TIMEOUT, OPT_GOSSIP_INTERVAL,
    OPT_GOSSIP_NODES, OPT_INDIRECT, OPT_PUSH_PULL, OPT_SUSPICION,
    OPT_RETENTION, OPT_MAX_MEMBERS, OPT_WEIGHT, OPT_PEER_TIMEOUT,
    OPT_REPLICAS, OPT_WRITE_ACKS, OPT_TOMBSTONES, OPT_TOMBSTONE_TTL, OPT_LEAVE_TIMEOUT,
    OPT_REBALANCE_RATE,           /* the last: may be 0 */
};

static const struct option long_opts[] = {
    { "port", required_argument, NULL, 'p' },
    { "udp-port", required_argument, NULL, 'U' },
    { "unix-socket", required_argument, NULL, 's' },
    { "unix-mask", required_argument, NULL, 'a' },
    { "listen", required_argument, NULL, 'l' },
    { "daemon", no_argument, NULL, 'd' },
    { "user", required_argument, NULL, 'u' },
    { "memory-limit", required_argument, NULL, 'm' },
    { "disable-evictions", no_argument, NULL, 'M' },
    { "conn-limit", required_argument, NULL, 'c' },
    { "verbose", optional_argument, NULL, 'v' },
    { "help", no_argument, NULL, 'h' },
    { "version", no_argument, NULL, 'V' },
    { "pidfile", required_argument, NULL, 'P' },
    { "slab-growth-factor", required_argument, NULL, 'f' },
    { "slab-min-size", required_argument, NULL, 'n' },
    { "threads", required_argument, NULL, 't' },
    { "max-reqs-per-event", required_argument, NULL, 'R' },
    { "disable-cas", no_argument, NULL, 'C' },
    { "listen-backlog", required_argument, NULL, 'b' },
    { "protocol", required_argument, NULL, 'B' },
    { "max-item-size", required_argument, NULL, 'I' },
    { "disable-flush-all", no_argument, NULL, 'F' },
    { "enable-shutdown", no_argument, NULL, 'A' },
    { "extended", required_argument, NULL, 'o' },
    { "enable-sasl", no_argument, NULL, 'S' },
    { "auth-file", required_argument, NULL, 'Y' },
    { "join", required_argument, NULL, OPT_JOIN },
    { "gossip-port", required_argument, NULL, OPT_GOSSIP_PORT },
    { "node-name", required_argument, NULL, OPT_NODE_NAME },
    { "advertise", required_argument, NULL, OPT_ADVERTISE },
    { "cluster-name", required_argument, NULL, OPT_CLUSTER_NAME },
    { "cluster-key-file", required_argument, NULL, OPT_KEY_FILE },
    { "gossip-probe-interval", required_argument, NULL, OPT_PROBE_INTERVAL },
    { "gossip-probe-timeout", required_argument, NULL, OPT_PROBE_TIMEOUT },
    { "gossip-interval", required_argument, NULL, OPT_GOSSIP_INTERVAL },
    { "gossip-nodes", required_argument, NULL, OPT_GOSSIP_NODES },
    { "gossip-indirect-checks", required_argument, NULL, OPT_INDIRECT },
    { "gossip-push-pull-interval", required_argument, NULL, OPT_PUSH_PULL },
    { "gossip-suspicion-mult", required_argument, NULL, OPT_SUSPICION },
    { "gossip-dead-retention", required_argument, NULL, OPT_RETENTION },
    { "cluster-max-members", required_argument, NULL, OPT_MAX_MEMBERS },
    { "weight", required_argument, NULL, OPT_WEIGHT },
    { "route", required_argument, NULL, OPT_ROUTE },
    { "peer-timeout", required_argument, NULL, OPT_PEER_TIMEOUT },
    { "replicas", required_argument, NULL, OPT_REPLICAS },
    { "write-acks", required_argument, NULL, OPT_WRITE_ACKS },
    { "tombstones", required_argument, NULL, OPT_TOMBSTONES },
    { "tombstone-ttl", required_argument, NULL, OPT_TOMBSTONE_TTL },
    { "rebalance-rate", required_argument, NULL, OPT_REBALANCE_RATE },
    { "leave-timeout", required_argument, NULL, OPT_LEAVE_TIMEOUT },
    { NULL, 0, NULL, 0 },
};

static const char *long_name(int val)
{
    const struct option *o;

    for (o = long_opts; o->name != NULL; o++) {
        if (o->val == val) {
            return o->name;
        }
    }
    return "?";
}

/* The cluster options (long only). Numbers are milliseconds or counts,
 * all positive. */
static int parse_cluster_option(int c, const char *arg, struct settings *s)
{
    struct cluster_options *o = &s->gossip;
    uint32_t n = 0;

    if (c >= OPT_PROBE_INTERVAL || c == OPT_GOSSIP_PORT) {
        if (!num_parse_u32(arg, &n) || (n == 0 && c != OPT_REBALANCE_RATE) ||
            (c == OPT_GOSSIP_PORT && n > 65535)) {
            fprintf(stderr, "Invalid value for --%s: %s\n",
                    long_name(c), arg);
            return OPTIONS_EXIT_USAGE;
        }
    }
    /* Self plus one peer at least; at most what one push-pull carries. */
    if (c == OPT_MAX_MEMBERS && (n < 2 || n > GOSSIP_MAX_MEMBERS_LIMIT)) {
        fprintf(stderr, "--cluster-max-members must be 2 to %u\n",
                (unsigned)GOSSIP_MAX_MEMBERS_LIMIT);
        return OPTIONS_EXIT_USAGE;
    }
    if (c == OPT_REPLICAS && n > REPLICA_MAX) {
        fprintf(stderr, "--replicas must be 1 to %u\n", REPLICA_MAX);
        return OPTIONS_EXIT_USAGE;
    }
    if (c == OPT_TOMBSTONES && n < TOMBSTONE_WAYS) {
        fprintf(stderr, "--tombstones must be at least %u\n",
                TOMBSTONE_WAYS);
        return OPTIONS_EXIT_USAGE;
    }
    if (c == OPT_WEIGHT && n > UINT16_MAX) {
        fprintf(stderr, "--weight must be 1 to %u\n", (unsigned)UINT16_MAX);
        return OPTIONS_EXIT_USAGE;
    }
    switch (c) {
    case OPT_JOIN: o->join = arg; s->cluster = true; break;
    case OPT_GOSSIP_PORT: o->gossip_port = (int)n; s->cluster = true; break;
    case OPT_NODE_NAME: o->node_name = arg; break;
    case OPT_ADVERTISE: o->advertise = arg; break;
    case OPT_CLUSTER_NAME: o->cluster_name = arg; break;
    case OPT_KEY_FILE: o->key_file = arg; break;
    case OPT_PROBE_INTERVAL: o->probe_interval_ms = n; break;
    case OPT_PROBE_TIMEOUT: o->probe_timeout_ms = n; break;
    case OPT_GOSSIP_INTERVAL: o->gossip_interval_ms = n; break;
    case OPT_GOSSIP_NODES: o->gossip_nodes = n; break;
    case OPT_INDIRECT: o->indirect_checks = n; break;
    case OPT_PUSH_PULL: o->push_pull_interval_ms = n; break;
    case OPT_SUSPICION: o->suspicion_mult = n; break;
    case OPT_MAX_MEMBERS: o->max_members = n; break;
    case OPT_WEIGHT: o->weight = n; break;
    case OPT_PEER_TIMEOUT: s->peer_timeout_ms = n; break;
    case OPT_REPLICAS: s->replicas = n; break;
    case OPT_WRITE_ACKS: s->write_acks = n; break;
    case OPT_TOMBSTONES: s->tombstones = n; break;
    case OPT_TOMBSTONE_TTL: s->tombstone_ttl = n; break;
    case OPT_REBALANCE_RATE: s->rebalance_rate = n; break;
    case OPT_LEAVE_TIMEOUT: s->leave_timeout = n; break;
    case OPT_ROUTE:
        if (strcmp(arg, "proxy") == 0 || strcmp(arg, "local") == 0) {
            s->route_proxy = strcmp(arg, "proxy") == 0;
            break;
        }
        fprintf(stderr, "--route must be proxy or local\n");
        return OPTIONS_EXIT_USAGE;
    default: o->dead_retention_ms = n; break;
    }
    return -1;
}

int options_parse(int argc, char **argv, struct settings *s)
{
    bool protocol_given = false;
    int c, rc;
    uint32_t n;
    uint64_t size;
    char *end;

    opterr = 1;
    while ((c = getopt_long(argc, argv, "p:U:s:a:l:du:m:Mc:vhVP:f:n:t:R:Cb:"
                            "B:I:FAo:SY:", long_opts, NULL)) != -1) {
        switch (c) {
        case 'p':
            s->port = atoi(optarg);
            if (s->port < 0 || s->port > 65535) {
                fprintf(stderr, "ERROR: Invalid port number %d.\n", s->port);
                return OPTIONS_EXIT_USAGE;
            }
            break;
        case 'U':
            s->udp_port = atoi(optarg);
            if (s->udp_port < 0 || s->udp_port > 65535) {
                fprintf(stderr, "ERROR: Invalid port number %d.\n",
                        s->udp_port);
                return OPTIONS_EXIT_USAGE;
            }
            break;
        case 's':
            s->unix_path = optarg;
            break;
        case 'a':
            s->unix_mask = (int)strtol(optarg, &end, 8);
            if (*end != '\0' || s->unix_mask < 0 || s->unix_mask > 0777) {
                return bad("Invalid umask: ", optarg);
            }
            break;
        case 'l':
            s->interfaces = optarg;
            break;
        case 'd':
            s->daemonize = true;
            break;
        case 'u':
            s->user = optarg;
            break;
        case 'm':
            if (!num_parse_size(optarg, &size)) {
                return bad("Invalid value for -m: ", optarg);
            }
            /* A bare number is megabytes; a suffix gives the unit. */
            s->maxbytes = strspn(optarg, "0123456789") == strlen(optarg)
                          ? (size_t)size * 1024 * 1024 : (size_t)size;
            break;
        case 'M':
            s->evict = false;
            break;
        case 'c':
            if (!num_parse_u32(optarg, &n) || n == 0) {
                return bad("Number of max connections must be greater "
                           "than 0\n", "");
            }
            s->maxconns = n;
            break;
        case 'v':
            s->verbose++;
            break;
        case 'h':
            usage();
            return 0;
        case 'V':
            printf("ringcached " PACKAGE_VERSION "\n");
            return 0;
        case 'P':
            s->pidfile = optarg;
            break;
        case 'f':
            s->factor = strtod(optarg, &end);
            if (*end != '\0' || s->factor <= 1.0) {
                return bad("Factor must be greater than 1\n", "");
            }
            break;
        case 'n':
            if (!num_parse_u32(optarg, &n) || n == 0) {
                return bad("Chunk size must be greater than 0\n", "");
            }
            s->chunk_size = n;
            break;
        case 't':
            if (!num_parse_u32(optarg, &n) || n == 0) {
                return bad("Number of threads must be greater than 0\n", "");
            }
            if (n > 256) {
                return bad("Number of threads may not exceed 256\n", "");
            }
            s->threads = n;
            break;
        case 'R':
            if (!num_parse_u32(optarg, &n) || n == 0) {
                return bad("Number of requests per event must be greater "
                           "than 0\n", "");
            }
            s->reqs_per_event = n;
            break;
        case 'C':
            s->use_cas = false;
            break;
        case 'S':
            s->sasl = true;
            break;
        case 'Y':
            s->auth_file = optarg;
            break;
        case 'b':
            if (!num_parse_u32(optarg, &n) || n == 0) {
                return bad("Invalid backlog: ", optarg);
            }
            s->backlog = (int)n;
            break;
        case 'B':
            protocol_given = true;
            if (strcmp(optarg, "ascii") == 0) {
                s->protocol = "ascii";
            } else if (strcmp(optarg, "auto") == 0) {
                s->protocol = "auto-negotiate";
            } else if (strcmp(optarg, "binary") == 0) {
                s->protocol = "binary";
            } else {
                fprintf(stderr, "Invalid value for binding protocol: %s\n"
                        " -- should be one of auto, binary, or ascii\n",
                        optarg);
                return OPTIONS_EXIT_USAGE;
            }
            break;
        case 'I':
            if (!num_parse_size(optarg, &size)) {
                return bad("Invalid value for -I: ", optarg);
            }
            s->item_size_max = (size_t)size;
            break;
        case 'F':
            s->flush_enabled = false;
            break;
        case 'A':
            s->shutdown_enabled = true;
            break;
        case 'o':
            rc = parse_extended(optarg, s);
            if (rc >= 0) {
                return rc;
            }
            break;
        default:
            if (c >= OPT_JOIN) {
                rc = parse_cluster_option(c, optarg, s);
                if (rc >= 0) {
                    return rc;
                }
                break;
            }
            fprintf(stderr, "Illegal argument \"%c\"\n", optopt ? optopt : '?');
            return 1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "Illegal argument \"%s\"\n", argv[optind]);
        return 1;
    }
    if (s->item_size_max < 1024) {
        return bad("Item max size cannot be less than 1024 bytes.\n", "");
    }
    if (s->item_size_max > 1024ULL * 1024 * 1024) {
        return bad("Cannot set item size limit higher than 1 gigabyte.\n",
                   "");
    }
    if (s->item_size_max > s->maxbytes / 2) {
        return bad("Cannot set item size limit higher than 1/2 of memory "
                   "max.\n", "");
    }
    /* memcached's pages are 1 MiB whatever -I is; larger items are
     * chunked. */
    s->slab_page_size = SLAB_PAGE_SIZE;
    if (s->slab_chunk_max == 0) {
        s->slab_chunk_max = s->slab_page_size / 2;
    }
    if (s->slab_chunk_max > s->item_size_max) {
        fprintf(stderr, "slab_chunk_max (bytes: %zu) cannot be larger than "
                "-I (item_size_max %zu)\n", s->slab_chunk_max,
                s->item_size_max);
        return OPTIONS_EXIT_USAGE;
    }
    if (s->item_size_max % s->slab_chunk_max != 0) {
        fprintf(stderr, "-I (item_size_max: %zu) must be evenly divisible by "
                "slab_chunk_max (bytes: %zu)\n", s->item_size_max,
                s->slab_chunk_max);
        return OPTIONS_EXIT_USAGE;
    }
    if (s->slab_page_size % s->slab_chunk_max != 0) {
        fprintf(stderr, "slab_chunk_max (bytes: %zu) must divide the slab "
                "page size (%zu) evenly\n", s->slab_chunk_max,
                s->slab_page_size);
        return OPTIONS_EXIT_USAGE;
    }
    if (s->slab_chunk_max < SLAB_CHUNK_MAX_MIN) {
        /* memcached accepts smaller; our chunked items keep their header
         * and key in one largest-class chunk, which needs room. */
        return bad("slab_chunk_max must be at least 1024 bytes\n", "");
    }
    if (s->write_acks > s->replicas) {
        fprintf(stderr, "--write-acks must be 1 to --replicas (%u)\n",
                s->replicas);
        return OPTIONS_EXIT_USAGE;
    }
    /* memcached: no UDP with either kind of authentication. */
    if (s->udp_port != 0 && s->sasl) {
        return bad("ERROR: Cannot enable UDP while using binary SASL "
                   "authentication.\n", "");
    }
    if (s->udp_port != 0 && s->auth_file != NULL) {
        return bad("Cannot use UDP with ascii authentication enabled (-U 0 "
                   "to disable)\n", "");
    }
    /* memcached: SASL is binary-only, -Y tokens are text-only. */
    if (s->sasl) {
        if (!protocol_given) {
            s->protocol = "binary";
        } else if (strcmp(s->protocol, "binary") != 0) {
            return bad("ERROR: You cannot allow the ASCII protocol while "
                       "using SASL.\n", "");
        }
    }
    if (s->auth_file != NULL) {
        if (!protocol_given) {
            s->protocol = "ascii";
        } else if (strcmp(s->protocol, "ascii") != 0) {
            return bad("ERROR: You cannot allow the BINARY protocol while "
                       "using ascii authentication tokens.\n", "");
        }
    }
    return -1;
}
