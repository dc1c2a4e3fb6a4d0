/*
 * main: options, then the setup of every module in dependency order,
 * signals, the main thread's loop (listener and the one-second clock), and
 * teardown on SIGTERM/SIGINT.
 *
 *   clock -> cache (slab, table, evict) -> crawler -> conn, the executors, stats
 *   -> workers -> listener -> loop ... signal -> reverse order
 */
#include "config.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/resource.h>

#include <event2/event.h>

#include "cache/cache.h"
#include "cache/crawler.h"
#include "cache/tombstone.h"
#include "cluster/cluster.h"
#include "cluster/peer.h"
#include "cluster/peer_auth.h"
#include "cluster/rebalance.h"
#include "cluster/replica.h"
#include "cluster/router.h"
#include "net/conn.h"
#include "net/listener.h"
#include "net/worker.h"
#include "server/auth.h"
#include "server/exec_binary.h"
#include "server/exec_text.h"
#include "server/options.h"
#include "server/protocol.h"
#include "server/settings.h"
#include "server/stats.h"
#include "util/clock.h"
#include "util/hostport.h"
#include "util/log.h"

#define CLUSTER_LEAVE_MS 2000     /* longest wait for a graceful leave */

#define CLOCK_TICK_MS 100         /* clock re-read period */
#define MAX_MULTIGET_LINE (4 * 1024 * 1024)

static struct event_base *main_base;

static void on_clock(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    clock_update();
    cache_tick();
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    (void)arg;
    LOG_AT(0, "Signal handled: %s.\n", strsignal((int)sig));
    event_base_loopbreak(main_base);
}

static int raise_fd_limit(unsigned maxconns)
{
    struct rlimit rl;
    rlim_t want = (rlim_t)maxconns + 64;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
        return -1;
    }
    if (rl.rlim_cur >= want) {
        return 0;
    }
    rl.rlim_cur = want;
    if (rl.rlim_max < want) {
        rl.rlim_max = want;
    }
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
        fprintf(stderr, "failed to set rlimit for open files. Try starting "
                "as root or requesting smaller maxconns value.\n");
        return -1;
    }
    return 0;
}

/* Checks -u before anything that hides errors (-d); *pw is NULL when no
 * identity change is needed. */
static int check_user(const char *user, struct passwd **pw)
{
    *pw = NULL;
    if (getuid() != 0 && geteuid() != 0) {
        return 0;                 /* -u only matters to root */
    }
    if (user == NULL) {
        fprintf(stderr, "can't run as root without the -u switch\n");
        return -1;
    }
    *pw = getpwnam(user);
    if (*pw == NULL) {
        fprintf(stderr, "can't find the user %s to switch to\n", user);
        return -1;
    }
    if ((*pw)->pw_uid == 0) {
        *pw = NULL;               /* -u root: stay root, as asked */
    }
    return 0;
}

static int drop_privileges(const struct passwd *pw)
{
    if (pw == NULL) {
        return 0;
    }
    if (setgroups(0, NULL) != 0 || setgid(pw->pw_gid) != 0 ||
        setuid(pw->pw_uid) != 0) {
        fprintf(stderr, "failed to assume identity of user %s\n",
                pw->pw_name);
        return -1;
    }
    return 0;
}

static void write_pidfile(const char *path)
{
    FILE *f = fopen(path, "w");

    if (f == NULL) {
        fprintf(stderr, "Could not open the pid file %s for writing: %s\n",
                path, strerror(errno));
        return;
    }
    fprintf(f, "%ld\n", (long)getpid());
    if (fclose(f) != 0) {
        fprintf(stderr, "Could not write the pid file %s: %s\n", path,
                strerror(errno));
    }
}

/* Last thing each worker thread does: its connections to peers close
 * (failing what waits on them), then its stats and cache state go. */
static void worker_thread_init(void)
{
    stats_thread_init();
    rebalance_thread_init();
}

/* Peer links first: failing them answers the rebalance's sends. */
static void worker_thread_fini(void)
{
    peer_thread_fini();
    rebalance_thread_fini();
    stats_thread_fini();
}

static int setup_cache(const struct settings *s)
{
    struct cache_options co;
    struct crawler_options cr;

    memset(&co, 0, sizeof(co));
    co.slab.mem_limit = s->maxbytes;
    co.slab.page_size = s->slab_page_size;
    co.slab.chunk_max = s->slab_chunk_max;
    co.slab.min_space = s->chunk_size;
    co.slab.factor = s->factor;
    co.use_cas = s->use_cas;
    co.evict = s->evict;
    co.hashpower = s->hashpower;
    co.item_size_max = s->item_size_max;
    co.versions = s->cluster;     /* a CAS is a version other nodes order */
    if (cache_setup(&co) != 0) {
        return -1;
    }
    cr.reclaim = s->lru_crawler;
    cr.sleep_us = s->lru_crawler_sleep;
    return crawler_start(&cr);
}

/* Starts the gossip layer on -l's first interface and -p. */
static int start_cluster(struct settings *s)
{
    char host[256] = "";

    if (s->interfaces != NULL) {
        int port = s->port;

        if (hostport_split(s->interfaces, strcspn(s->interfaces, ", "), host,
                           sizeof(host), &port) != 0) {
            fprintf(stderr, "bad listen address %s\n", s->interfaces);
            return -1;
        }
    }
    s->gossip.bind_host = host[0] != '\0' ? host : NULL;
    s->gossip.client_port = s->port;
    return cluster_start(&s->gossip);
}

int main(int argc, char **argv)
{
    static struct settings s;     /* read by stats and the executors */
    struct conn_options cno;
    struct worker_options wo;
    struct listener_options lo;
    struct timeval tick = { 0, CLOCK_TICK_MS * 1000 };
    struct event *clock_ev, *sigterm_ev, *sigint_ev;
    char *pidpath = NULL;
    struct passwd *pw;
    int rc;

    options_defaults(&s);
    rc = options_parse(argc, argv, &s);
    if (rc >= 0) {
        return rc;
    }
    log_level = s.verbose;
    signal(SIGPIPE, SIG_IGN);
    if (raise_fd_limit(s.maxconns) != 0 || check_user(s.user, &pw) != 0) {
        return OPTIONS_EXIT_USAGE;
    }
    if (s.pidfile != NULL) {
        pidpath = realpath(".", NULL);
        if (pidpath != NULL && s.pidfile[0] != '/') {
            size_t n = strlen(pidpath) + strlen(s.pidfile) + 2;
            char *full = malloc(n);

            snprintf(full, n, "%s/%s", pidpath, s.pidfile);
            free(pidpath);
            pidpath = full;
        } else {
            free(pidpath);
            pidpath = strdup(s.pidfile);
        }
    }
    /* Before daemonizing, so a bad auth file is reported on the terminal,
     * and while root, so the file may be readable by root only. */
    if (auth_setup(&s) != 0) {
        return 1;
    }
    if (s.daemonize && daemon(0, s.verbose > 0) != 0) {
        fprintf(stderr, "failed to daemon() in order to daemonize\n");
        return 1;
    }
    /* The pid file is written while still root, so it may live in a
     * directory the -u user cannot write; like memcached, failing to write
     * it is only a warning. */
    if (pidpath != NULL) {
        write_pidfile(pidpath);
    }
    if (drop_privileges(pw) != 0) {
        return OPTIONS_EXIT_USAGE;
    }

    clock_setup();
    if (setup_cache(&s) != 0) {
        return 1;
    }
    cno.reqs_per_event = s.reqs_per_event;
    cno.max_line = MAX_MULTIGET_LINE;
    cno.idle_timeout = s.idle_timeout;
    cno.out_limit = CONN_OUT_LIMIT_DEFAULT;
    conn_setup(&cno);
    exec_text_setup(&s);
    router_setup(s.route_proxy ? ROUTER_PROXY : ROUTER_LOCAL);
    if (s.cluster) {
        if (tombstone_setup(s.tombstones, s.tombstone_ttl) != 0) {
            fprintf(stderr, "cannot allocate %u tombstones\n", s.tombstones);
            return 1;
        }
        replica_setup(s.replicas, s.write_acks);
        rebalance_setup(s.rebalance_rate);
    }
    {
        struct peer_options po = { s.peer_timeout_ms };

        peer_setup(&po);
    }
    exec_binary_setup(&s);
    stats_setup(&s);
    conn_set_handler(protocol_handler(&s));

    wo.nthreads = s.threads;
    wo.thread_init = worker_thread_init;
    wo.thread_fini = worker_thread_fini;
    if (worker_setup(&wo) != 0) {
        fprintf(stderr, "failed to start worker threads\n");
        return 1;
    }

    /* Before the listener: a bad cluster option must stop the daemon before
     * it accepts anyone. */
    if (s.cluster && start_cluster(&s) != 0) {
        return 1;
    }
    main_base = event_base_new();
    lo.interfaces = s.interfaces;
    lo.port = s.port;
    lo.udp_port = s.udp_port;
    lo.unix_path = s.unix_path;
    lo.unix_mask = s.unix_mask;
    lo.backlog = s.backlog;
    lo.max_conns = s.maxconns;
    if (main_base == NULL || listener_setup(main_base, &lo) != 0) {
        return 1;                 /* EX_OSERR in memcached; message above */
    }
    clock_ev = event_new(main_base, -1, EV_PERSIST, on_clock, NULL);
    event_add(clock_ev, &tick);
    sigterm_ev = evsignal_new(main_base, SIGTERM, on_signal, NULL);
    sigint_ev = evsignal_new(main_base, SIGINT, on_signal, NULL);
    event_add(sigterm_ev, NULL);
    event_add(sigint_ev, NULL);


    event_base_dispatch(main_base);

    /* Hand our keys to their owners without us, then leave the cluster,
     * so members see `left` while we still answer; both bounded so a stop
     * never hangs. */
    rebalance_leave(s.leave_timeout * 1000);
    cluster_stop(CLUSTER_LEAVE_MS);
    /* Then stop every thread that retires items before the cache goes
     * (doc/threads.md, "Shutdown"): no new connections, workers joined
     * (each flushes its retired items to call_rcu in cache_thread_fini),
     * the crawler joined likewise. cache_teardown waits for those batches
     * (rcu_barrier) before it frees the slabs' state. */
    listener_teardown();
    worker_teardown();
    peer_auth_teardown();
    crawler_stop();
    cache_teardown();
    auth_teardown();
    event_free(clock_ev);
    event_free(sigterm_ev);
    event_free(sigint_ev);
    event_base_free(main_base);
    if (pidpath != NULL) {
        unlink(pidpath);
        free(pidpath);
    }
    return 0;
}
