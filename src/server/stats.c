/*
 * stats: command counters and `stats` output (see stats.h).
 *
 * Note that `stats reset` cannot zero another thread's counters without a
 * race, so it records a baseline and reports differences from it.
 */
#include "config.h"
#include "server/stats.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/resource.h>

#include <event2/event.h>

#include "cache/cache.h"
#include "cache/slab.h"
#include "cache/tombstone.h"
#include "cluster/cluster.h"
#include "cluster/peer.h"
#include "cluster/rebalance.h"
#include "cluster/replica.h"
#include "cluster/router.h"
#include "net/conn.h"
#include "net/listener.h"
#include "net/worker.h"
#include "server/auth.h"
#include "server/peer_accept.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/numparse.h"
#include "util/tally.h"

#define STATS_VERSION "1.6.18-ringcached-" PACKAGE_VERSION

__thread struct cmd_stats *stats_self;

#define CMD_COUNTERS (sizeof(struct cmd_stats) / sizeof(uint64_t))

static const struct settings *cfg;
static struct tally counters;     /* struct cmd_stats per worker */

void stats_setup(const struct settings *s)
{
    cfg = s;
    tally_init(&counters, CMD_COUNTERS);
}

void stats_thread_init(void)
{
    cache_thread_init();
    stats_self = (struct cmd_stats *)tally_register(&counters);
}

void stats_thread_fini(void)
{
    tally_unregister(&counters, (uint64_t *)stats_self);
    stats_self = NULL;
    cache_thread_fini();
}

static void sum(struct cmd_stats *out)
{
    tally_sum(&counters, (uint64_t *)out);
}

static void reset(void)
{
    tally_reset(&counters, 0, CMD_COUNTERS);
    cache_stats_reset();
    worker_net_stats_reset();
}

static void stat_u64(struct stats_sink *c, const char *name, uint64_t v)
{
    char num[24];

    num_format_u64(v, num);
    c->emit(c, name, num);
}

static void stat_str(struct stats_sink *c, const char *name, const char *v)
{
    c->emit(c, name, v);
}

static void text_emit(struct stats_sink *s, const char *name,
                      const char *value)
{
    char line[320];
    int n = snprintf(line, sizeof(line), "STAT %s %s\r\n", name, value);

    conn_out(s->c, line, n < (int)sizeof(line) ? (size_t)n
                                               : sizeof(line) - 1);
}

static void general(struct stats_sink *c)
{
    struct cmd_stats s;
    struct cache_stats cs;
    struct net_stats ns;
    struct rusage ru;
    uint64_t auth_cmds, auth_errors;
    char buf[64];
    rel_time_t now = clock_now();

    sum(&s);
    cache_stats_sum(&cs);
    worker_net_stats_sum(&ns);
    getrusage(RUSAGE_SELF, &ru);
    stat_u64(c, "pid", (uint64_t)getpid());
    stat_u64(c, "uptime", now);
    stat_u64(c, "time", (uint64_t)(clock_started() + now));
    stat_str(c, "version", STATS_VERSION);
    stat_str(c, "libevent", event_get_version());
    stat_u64(c, "pointer_size", 8 * sizeof(void *));
    snprintf(buf, sizeof(buf), "%ld.%06ld", (long)ru.ru_utime.tv_sec,
             (long)ru.ru_utime.tv_usec);
    stat_str(c, "rusage_user", buf);
    snprintf(buf, sizeof(buf), "%ld.%06ld", (long)ru.ru_stime.tv_sec,
             (long)ru.ru_stime.tv_usec);
    stat_str(c, "rusage_system", buf);
    stat_u64(c, "max_connections", cfg->maxconns);
    stat_u64(c, "curr_connections",
             __atomic_load_n(&worker_curr_conns, __ATOMIC_RELAXED));
    stat_u64(c, "total_connections",
             __atomic_load_n(&worker_total_conns, __ATOMIC_RELAXED));
    stat_u64(c, "rejected_connections",
             __atomic_load_n(&listener_rejected_conns, __ATOMIC_RELAXED));
    stat_u64(c, "connection_structures",
             __atomic_load_n(&worker_curr_conns, __ATOMIC_RELAXED));
    stat_u64(c, "cmd_get", s.get_cmds);
    stat_u64(c, "cmd_set", s.set_cmds);
    stat_u64(c, "cmd_flush", s.flush_cmds);
    stat_u64(c, "cmd_touch", s.touch_cmds);
    stat_u64(c, "cmd_meta", s.meta_cmds);
    stat_u64(c, "get_hits", s.get_hits);
    stat_u64(c, "get_misses", s.get_misses);
    stat_u64(c, "get_expired", cs.get_expired);
    stat_u64(c, "get_flushed", cs.get_flushed);
    stat_u64(c, "delete_misses", s.delete_misses);
    stat_u64(c, "delete_hits", s.delete_hits);
    stat_u64(c, "incr_misses", s.incr_misses);
    stat_u64(c, "incr_hits", s.incr_hits);
    stat_u64(c, "decr_misses", s.decr_misses);
    stat_u64(c, "decr_hits", s.decr_hits);
    stat_u64(c, "cas_misses", s.cas_misses);
    stat_u64(c, "cas_hits", s.cas_hits);
    stat_u64(c, "cas_badval", s.cas_badval);
    stat_u64(c, "touch_hits", s.touch_hits);
    stat_u64(c, "touch_misses", s.touch_misses);
    stat_u64(c, "store_too_large", s.store_too_large);
    stat_u64(c, "store_no_memory", s.store_no_memory);
    auth_stats(&auth_cmds, &auth_errors);
    stat_u64(c, "auth_cmds", auth_cmds);
    stat_u64(c, "auth_errors", auth_errors);
    stat_u64(c, "bytes_read", ns.bytes_read);
    stat_u64(c, "bytes_written", ns.bytes_written);
    stat_u64(c, "limit_maxbytes", cfg->maxbytes);
    stat_u64(c, "accepting_conns", 1);
    stat_u64(c, "threads", cfg->threads);
    stat_u64(c, "conn_yields", ns.conn_yields);
    stat_u64(c, "hash_power_level", cs.hash_power);
    stat_u64(c, "hash_bytes", cs.hash_bytes);
    stat_u64(c, "hash_is_expanding", 0);
    stat_u64(c, "bytes", cs.bytes > 0 ? (uint64_t)cs.bytes : 0);
    stat_u64(c, "curr_items", cs.curr_items > 0 ? (uint64_t)cs.curr_items : 0);
    stat_u64(c, "total_items", cs.total_items);
    stat_u64(c, "expired_unfetched", cs.expired_unfetched);
    stat_u64(c, "evicted_unfetched", cs.evicted_unfetched);
    stat_u64(c, "evictions", cs.evictions);
    stat_u64(c, "reclaimed", cs.reclaimed);
    stat_u64(c, "crawler_reclaimed", cs.crawler_reclaimed);
    stat_u64(c, "malloc_fails", 0);
}

static void settings_group(struct stats_sink *c)
{
    char buf[64];

    stat_u64(c, "maxbytes", cfg->maxbytes);
    stat_u64(c, "maxconns", cfg->maxconns);
    stat_u64(c, "tcpport", (uint64_t)cfg->port);
    stat_u64(c, "udpport", (uint64_t)cfg->udp_port);
    stat_str(c, "inter", cfg->interfaces ? cfg->interfaces : "NULL");
    stat_u64(c, "verbosity",
             (uint64_t)__atomic_load_n(&log_level, __ATOMIC_RELAXED));
    stat_u64(c, "oldest", 0);
    stat_str(c, "evictions", cfg->evict ? "on" : "off");
    stat_str(c, "domain_socket", cfg->unix_path ? cfg->unix_path : "NULL");
    snprintf(buf, sizeof(buf), "%o", (unsigned)cfg->unix_mask);
    stat_str(c, "umask", buf);
    snprintf(buf, sizeof(buf), "%.2f", cfg->factor);
    stat_str(c, "growth_factor", buf);
    stat_u64(c, "chunk_size", cfg->chunk_size);
    stat_u64(c, "num_threads", cfg->threads);
    stat_str(c, "stat_key_prefix", ":");
    stat_str(c, "detail_enabled", "no");
    stat_u64(c, "reqs_per_event", cfg->reqs_per_event);
    stat_str(c, "cas_enabled", cfg->use_cas ? "yes" : "no");
    stat_u64(c, "tcp_backlog", (uint64_t)cfg->backlog);
    stat_str(c, "binding_protocol", cfg->protocol);
    stat_str(c, "auth_enabled_sasl", cfg->sasl ? "yes" : "no");
    stat_str(c, "auth_enabled_ascii", cfg->auth_file ? cfg->auth_file : "no");
    stat_u64(c, "item_size_max", cfg->item_size_max);
    stat_str(c, "maxconns_fast", "yes");
    stat_u64(c, "hashpower_init", cfg->hashpower);
    stat_str(c, "slab_reassign", "no");
    stat_u64(c, "slab_automove", 0);
    stat_u64(c, "slab_chunk_max", cfg->slab_chunk_max);
    stat_str(c, "lru_crawler", cfg->lru_crawler ? "yes" : "no");
    stat_u64(c, "lru_crawler_sleep", cfg->lru_crawler_sleep);
    stat_u64(c, "idle_timeout", cfg->idle_timeout);
    stat_str(c, "flush_enabled", cfg->flush_enabled ? "yes" : "no");
}

static void slabs_group(struct stats_sink *c, bool items)
{
    unsigned cls, active = 0;
    char name[64];

    for (cls = 1; cls <= slab_largest_class(); cls++) {
        struct slab_class_stats st;
        size_t used;

        slab_stats(cls, &st);
        if (st.total_pages == 0) {
            continue;
        }
        active++;
        used = st.total_chunks - st.free_chunks;
        if (items) {
            snprintf(name, sizeof(name), "items:%u:number", cls);
            stat_u64(c, name, used);
            continue;
        }
#define SLAB_STAT(field, v)                                             \
        snprintf(name, sizeof(name), "%u:" field, cls);                 \
        stat_u64(c, name, (uint64_t)(v))
        SLAB_STAT("chunk_size", st.chunk_size);
        SLAB_STAT("chunks_per_page", st.chunks_per_page);
        SLAB_STAT("total_pages", st.total_pages);
        SLAB_STAT("total_chunks", st.total_chunks);
        SLAB_STAT("used_chunks", used);
        SLAB_STAT("free_chunks", st.free_chunks);
        SLAB_STAT("free_chunks_end", 0);
#undef SLAB_STAT
    }
    if (!items) {
        stat_u64(c, "active_slabs", active);
        stat_u64(c, "total_malloced", slab_mem_malloced());
    }
}

static void conns_visit(void *arg, int fd, const char *addr,
                        const char *state, unsigned idle)
{
    struct stats_sink *c = arg;
    char name[64];

    snprintf(name, sizeof(name), "%d:addr", fd);
    stat_str(c, name, addr);
    snprintf(name, sizeof(name), "%d:state", fd);
    stat_str(c, name, state);
    snprintf(name, sizeof(name), "%d:secs_since_last_cmd", fd);
    stat_u64(c, name, idle);
}

void stats_reset_all(void)
{
    reset();
}

/* One peer's counters: "peer:<addr>:<counter>", as memcached names its
 * per-slab-class stats. */
static void peer_line(void *arg, const char *addr,
                      const struct peer_link_stats *s)
{
    struct stats_sink *c = arg;
    char name[96];

    snprintf(name, sizeof(name), "peer:%s:forwarded", addr);
    stat_u64(c, name, s->forwarded);
    snprintf(name, sizeof(name), "peer:%s:in_flight", addr);
    stat_u64(c, name, s->in_flight);
    snprintf(name, sizeof(name), "peer:%s:errors", addr);
    stat_u64(c, name, s->errors);
    snprintf(name, sizeof(name), "peer:%s:timeouts", addr);
    stat_u64(c, name, s->timeouts);
    snprintf(name, sizeof(name), "peer:%s:avg_latency_us", addr);
    stat_u64(c, name, s->answered ? s->latency_us / s->answered : 0);
}

/* The data plane's counters: requests forwarded to owners and what went
 * wrong with them (in all and per peer), multi-key requests split over
 * owners, flush_all broadcasts, refused peer handshakes, and keys served
 * here that the ring gives elsewhere. */
static void routing_stats(struct stats_sink *c)
{
    struct peer_stats ps;
    struct router_stats rs;

    peer_stats_get(&ps);
    router_stats_get(&rs);
    stat_str(c, "route", router_get_mode() == ROUTER_PROXY ? "proxy"
                                                           : "local");
    stat_u64(c, "forwarded", ps.forwarded);
    stat_u64(c, "peer_errors", ps.errors);
    stat_u64(c, "peer_timeouts", ps.timeouts);
    stat_u64(c, "peer_connects", ps.connects);
    stat_u64(c, "failovers", ps.failovers);
    stat_u64(c, "not_mine", rs.not_mine);
    stat_u64(c, "fanouts", rs.fanouts);
    stat_u64(c, "broadcasts", rs.broadcasts);
    stat_u64(c, "peer_auth_refused", peer_accept_refused());
    peer_stats_each(peer_line, c);
}

/* Replication (cluster/replica.h) and tombstones (cache/tombstone.h). */
static void replica_stats(struct stats_sink *c)
{
    struct replica_stats rs;
    struct tombstone_stats ts;
    struct peer_stats ps;

    replica_stats_get(&rs);
    tombstone_stats(&ts);
    peer_stats_get(&ps);
    stat_u64(c, "replicas", replica_count());
    stat_u64(c, "replica_sets_sent", rs.sets_sent);
    stat_u64(c, "replica_deletes_sent", rs.deletes_sent);
    stat_u64(c, "replica_send_failed", ps.send_failed);
    stat_u64(c, "replica_applied", rs.applied);
    stat_u64(c, "replica_older", rs.older);
    stat_u64(c, "replica_deleted", rs.deleted);
    stat_u64(c, "write_acks_failed", rs.acks_failed);
    stat_u64(c, "replica_conflicts", rs.conflicts);
    stat_u64(c, "replica_adopted", rs.adopted);
    stat_u64(c, "tombstones", ts.live);
    stat_u64(c, "tombstone_slots", ts.slots);
    stat_u64(c, "tombstones_recorded", ts.recorded);
    stat_u64(c, "tombstones_dropped", ts.dropped);
}

/* Rebalance passes (cluster/rebalance.h); to_move, rate and eta are
 * estimates from the current pass's progress. */
static void rebalance_stats(struct stats_sink *c)
{
    struct rebalance_stats r;

    rebalance_stats_get(&r);
    stat_u64(c, "rebalance_passes", r.passes);
    stat_u64(c, "rebalance_running", r.running);
    stat_u64(c, "rebalance_progress_pct", r.progress_pct);
    stat_u64(c, "rebalance_keys_moved", r.keys_moved);
    stat_u64(c, "rebalance_deletes_moved", r.deletes_moved);
    stat_u64(c, "rebalance_bytes_sent", r.bytes_moved);
    stat_u64(c, "rebalance_failed", r.failed);
    stat_u64(c, "rebalance_keys_to_move", r.keys_to_move);
    stat_u64(c, "rebalance_bytes_to_move", r.bytes_to_move);
    stat_u64(c, "rebalance_rate", r.rate);
    stat_u64(c, "rebalance_eta", r.eta_s);
    stat_u64(c, "rebalance_resyncs", r.resyncs);
}

/* `stats cluster`: membership counts and the gossip layer's counters, as
 * of the last view the gossip thread published (at most a second old). */
static void cluster_group(struct stats_sink *c)
{
    const struct cluster_view *v;
    struct gossip_stats st;

    stat_str(c, "cluster_enabled", cluster_enabled() ? "yes" : "no");
    rcu_read_lock();
    v = cluster_view();
    if (v == NULL) {
        rcu_read_unlock_annotated();
        return;
    }
    st = v->stats;
    rcu_read_unlock_annotated();
    stat_u64(c, "members_alive", st.members[GOSSIP_ALIVE]);
    stat_u64(c, "members_suspect", st.members[GOSSIP_SUSPECT]);
    stat_u64(c, "members_dead", st.members[GOSSIP_DEAD]);
    stat_u64(c, "members_left", st.members[GOSSIP_LEFT]);
    stat_u64(c, "probes", st.probes);
    stat_u64(c, "probe_failures", st.probe_failures);
    stat_u64(c, "indirect_probes", st.indirect_probes);
    stat_u64(c, "fallback_probes", st.fallback_probes);
    stat_u64(c, "suspicions", st.suspicions);
    stat_u64(c, "deaths", st.deaths);
    stat_u64(c, "refutations", st.refutations);
    stat_u64(c, "push_pulls", st.push_pulls);
    stat_u64(c, "join_attempts", st.join_attempts);
    stat_u64(c, "msgs_in", st.msgs_in);
    stat_u64(c, "msgs_out", st.msgs_out);
    stat_u64(c, "packets_in", st.packets_in);
    stat_u64(c, "packets_out", st.packets_out);
    stat_u64(c, "bytes_in", st.bytes_in);
    stat_u64(c, "bytes_out", st.bytes_out);
    stat_u64(c, "auth_failures", st.auth_failures);
    stat_u64(c, "wrong_cluster", st.wrong_cluster);
    stat_u64(c, "decode_errors", st.decode_errors);
    stat_u64(c, "members_refused", st.members_refused);
    stat_u64(c, "awareness", st.awareness);
    routing_stats(c);
    replica_stats(c);
    rebalance_stats(c);
}

int stats_emit_group(struct stats_sink *sink, const char *group)
{
    if (group == NULL) {
        general(sink);
    } else if (strcmp(group, "settings") == 0) {
        settings_group(sink);
    } else if (strcmp(group, "slabs") == 0) {
        slabs_group(sink, false);
    } else if (strcmp(group, "items") == 0) {
        slabs_group(sink, true);
    } else if (strcmp(group, "sizes") == 0) {
        stat_str(sink, "sizes_status", "disabled");
    } else if (strcmp(group, "cluster") == 0) {
        cluster_group(sink);
    } else {
        return -1;
    }
    return 0;
}

int stats_reply(struct conn *c, const char *group, const char *arg)
{
    struct stats_sink sink = { text_emit, c };

    if (group != NULL && strcmp(group, "reset") == 0) {
        reset();
        conn_out_line(c, "RESET");
        return 0;
    }
    if (group != NULL && strcmp(group, "detail") == 0) {
        if (arg != NULL && (strcmp(arg, "on") == 0 ||
                            strcmp(arg, "off") == 0)) {
            conn_out_line(c, "OK");
        } else if (arg != NULL && strcmp(arg, "dump") == 0) {
            conn_out_line(c, "END");
        } else {
            conn_out_line(c, "CLIENT_ERROR usage: stats detail on|off|dump");
        }
        return 0;
    }
    if (group != NULL && strcmp(group, "conns") == 0) {
        conn_visit_all(conns_visit, &sink);
    } else if (stats_emit_group(&sink, group) != 0) {
        return -1;
    }
    conn_out(c, "END\r\n", 5);
    return 0;
}
