/*
 * worker: worker threads and hand-off of accepted sockets (see worker.h).
 *
 * Note that the hand-off queue is the only lock a worker takes in normal
 * operation, once per new connection; an eventfd wakes the worker's loop.
 */
#include "net/worker.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/eventfd.h>

#include <event2/event.h>

#include "cache/cache.h"
#include "net/conn.h"
#include "util/log.h"

#define WORKER_TICK_MS 50         /* retire batches and idle checks */

struct handoff {
    struct handoff *next;
    int fd;
    enum conn_kind kind;
};

struct worker {
    pthread_t thread;
    struct event_base *base;
    int wake_fd;                  /* eventfd */
    struct event *wake_ev;
    struct event *tick_ev;
    pthread_mutex_t lock;         /* guards queue */
    struct handoff *queue;
    struct net_stats stats;       /* written by this worker only */
    unsigned ticks;
};

uint64_t worker_curr_conns;
uint64_t worker_total_conns;

static struct worker_options wopts;
static struct worker *workers;
static unsigned next_worker;      /* listener thread only */
static pthread_barrier_t started;
static bool stopping;             /* atomic: teardown requested */
/* `stats reset`: sums are reported from this baseline (guarded). */
static pthread_mutex_t net_reset_lock = PTHREAD_MUTEX_INITIALIZER;
static struct net_stats net_baseline;

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
    struct worker *w = arg;
    struct handoff *q, *next;
    uint64_t v;

    (void)what;
    if (read(fd, &v, sizeof(v)) < 0 && errno != EAGAIN) {
        LOG_AT(1, "worker wake read failed: %s\n", strerror(errno));
    }
    if (__atomic_load_n(&stopping, __ATOMIC_ACQUIRE)) {
        event_base_loopbreak(w->base);
        return;
    }
    pthread_mutex_lock(&w->lock);
    q = w->queue;
    w->queue = NULL;
    pthread_mutex_unlock(&w->lock);
    for (; q != NULL; q = next) {
        next = q->next;
        if (conn_create(q->fd, w, q->kind) == NULL) {
            close(q->fd);
            __atomic_sub_fetch(&worker_curr_conns, 1, __ATOMIC_RELAXED);
        }
        free(q);
    }
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    struct worker *w = arg;

    (void)fd;
    (void)what;
    cache_quiesce();
    if (++w->ticks % (1000 / WORKER_TICK_MS) == 0) {
        conn_close_idle(w);
    }
}

static __thread struct worker *self;

struct worker *worker_self(void)
{
    return self;
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;

    self = w;
    if (wopts.thread_init != NULL) {
        wopts.thread_init();
    }
    pthread_barrier_wait(&started);
    event_base_dispatch(w->base);
    if (wopts.thread_fini != NULL) {
        wopts.thread_fini();
    }
    return NULL;
}

int worker_setup(const struct worker_options *o)
{
    struct timeval tick = { 0, WORKER_TICK_MS * 1000 };
    unsigned i;

    wopts = *o;
    workers = calloc(o->nthreads, sizeof(*workers));
    if (workers == NULL) {
        return -1;
    }
    pthread_barrier_init(&started, NULL, o->nthreads + 1);
    for (i = 0; i < o->nthreads; i++) {
        struct worker *w = &workers[i];

        pthread_mutex_init(&w->lock, NULL);
        w->base = event_base_new();
        w->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (w->base == NULL || w->wake_fd < 0) {
            return -1;
        }
        w->wake_ev = event_new(w->base, w->wake_fd, EV_READ | EV_PERSIST,
                               on_wake, w);
        w->tick_ev = event_new(w->base, -1, EV_PERSIST, on_tick, w);
        event_add(w->wake_ev, NULL);
        event_add(w->tick_ev, &tick);
        if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
            return -1;
        }
    }
    pthread_barrier_wait(&started);
    return 0;
}

void worker_teardown(void)
{
    unsigned i;

    __atomic_store_n(&stopping, true, __ATOMIC_RELEASE);
    for (i = 0; i < wopts.nthreads; i++) {
        uint64_t one = 1;

        if (write(workers[i].wake_fd, &one, sizeof(one)) < 0) {
            LOG_AT(1, "worker wake failed: %s\n", strerror(errno));
        }
    }
    for (i = 0; i < wopts.nthreads; i++) {
        pthread_join(workers[i].thread, NULL);
    }
}

static void hand_over(struct worker *w, int fd, enum conn_kind kind);

void worker_dispatch(int fd, bool is_unix)
{
    hand_over(&workers[next_worker++ % wopts.nthreads], fd,
              is_unix ? CONN_UNIX : CONN_TCP);
}

int worker_add_udp(int fd)
{
    unsigned i;

    /* Every worker reads the socket through its own descriptor, so that
     * closing one conn never closes another's. */
    for (i = 0; i < wopts.nthreads; i++) {
        int copy = fcntl(fd, F_DUPFD_CLOEXEC, 0);

        if (copy < 0) {
            return -1;
        }
        hand_over(&workers[i], copy, CONN_UDP);
    }
    return 0;
}

static void hand_over(struct worker *w, int fd, enum conn_kind kind)
{
    struct handoff *h = malloc(sizeof(*h));
    uint64_t one = 1;

    if (h == NULL) {
        close(fd);
        return;
    }
    h->fd = fd;
    h->kind = kind;
    __atomic_add_fetch(&worker_curr_conns, 1, __ATOMIC_RELAXED);
    __atomic_add_fetch(&worker_total_conns, 1, __ATOMIC_RELAXED);
    pthread_mutex_lock(&w->lock);
    h->next = w->queue;
    w->queue = h;
    pthread_mutex_unlock(&w->lock);
    if (write(w->wake_fd, &one, sizeof(one)) < 0) {
        LOG_AT(1, "worker wake failed: %s\n", strerror(errno));
    }
}

struct event_base *worker_base(struct worker *w)
{
    return w->base;
}

struct net_stats *worker_net_stats(struct worker *w)
{
    return &w->stats;
}

/* Sums every worker's own counters. */
static void net_stats_raw(struct net_stats *out)
{
    unsigned i;

    memset(out, 0, sizeof(*out));
    for (i = 0; i < wopts.nthreads; i++) {
        struct net_stats *s = &workers[i].stats;

        out->bytes_read += __atomic_load_n(&s->bytes_read, __ATOMIC_RELAXED);
        out->bytes_written += __atomic_load_n(&s->bytes_written,
                                              __ATOMIC_RELAXED);
        out->conn_yields += __atomic_load_n(&s->conn_yields,
                                            __ATOMIC_RELAXED);
    }
}

void worker_net_stats_sum(struct net_stats *out)
{
    pthread_mutex_lock(&net_reset_lock);
    net_stats_raw(out);
    out->bytes_read -= net_baseline.bytes_read;
    out->bytes_written -= net_baseline.bytes_written;
    out->conn_yields -= net_baseline.conn_yields;
    pthread_mutex_unlock(&net_reset_lock);
}

void worker_net_stats_reset(void)
{
    /* Counters have one writer each, their worker; `stats reset` only
     * moves the baseline that sums are reported from (as util/tally.c
     * does for the command counters), so it writes nothing they own. */
    pthread_mutex_lock(&net_reset_lock);
    net_stats_raw(&net_baseline);
    pthread_mutex_unlock(&net_reset_lock);
}
