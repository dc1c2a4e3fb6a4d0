/*
 * rcload - small closed-loop load generator for memcached's protocols.
 *
 * Used by contrib/bench/bench.sh to compare ringcached with memcached.
 * T client threads each drive an epoll loop over their share of C
 * connections.  Every connection sends a *batch* of P requests in one
 * write(), waits for all P replies, records the batch latency and sends the
 * next batch (P=1 is the ordinary unpipelined request/reply case).
 *
 * Modes (-M):
 *   run    random keys in [0,K), 1:R set:get mix (-R), fixed value size -v,
 *          for -d seconds.  -g sends the gets of a batch as one multi-key get.
 *   fill   store keys 0..n-1 (-n) with -v byte values, P sets per batch.
 *   zipf   cache-aside on ONE connection: P gets of Zipf(-z) keys out of K,
 *          then a set for every miss (value size 100..1000 bytes, fixed per
 *          key); -w warm-up requests, then -n measured gets.  Deterministic
 *          for a given seed (-S), so every server sees the same key sequence.
 *   sizes  sets of random keys in [0,K) with log-uniform value sizes
 *          1..-x bytes, for -d seconds.
 *
 * Wire protocol (-p): text (default), binary (GET/SET packets, one reply
 * each, as memtier's memcache_binary sends them) or meta (mg <key> v /
 * ms <key> <len>).  -g (multi-key get) is text only.
 *
 * Output: "name=value" lines on stdout, for scripts.
 * Build:  cc -O2 -Wall -Wextra -pthread -o rcload rcload.c -lm
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAXP 256                    /* max requests per batch */
#define NBUCKET (64 + 60 * 32)      /* log-linear latency histogram */

enum { M_RUN, M_FILL, M_ZIPF, M_SIZES };
enum { P_TEXT, P_BINARY, P_META };

/* ---- options (read-only after main() parsed them) ---- */
static int mode = M_RUN, nconn = 4, nthr = 1, depth = 1, multiget, proto = P_TEXT;
static double duration = 10, set_frac = 1.0 / 11, theta = 0.99;
static uint64_t keyspace = 100000, nitems = 1000000, warmup = 1000000;
static uint64_t seed = 42;
static size_t vsize = 100, vmin = 100, vmax = 1000, xmax = 500 * 1024;
static struct sockaddr_storage srv;
static socklen_t srvlen;
static char *valbuf;                /* filler for value payloads */

/* ---- per-connection state ---- */
struct conn {
    int fd, want_out;
    char *obuf; size_t olen, ooff, ocap;
    char *ibuf; size_t ilen, icap;
    /* the batch in flight: nreq keyed requests, answered by nrep replies
     * (nrep < nreq when the gets went out as one multi-key get) */
    int nreq, nrep, ndone;
    int phase;                      /* zipf: 0 = gets in flight, 1 = sets */
    uint64_t keys[MAXP];
    char isget[MAXP], hit[MAXP];
    char repget[MAXP], repfirst[MAXP]; /* per reply: is a get; first request */
    uint64_t t0, rng, next_key;     /* batch start, PRNG state, fill cursor */
    int done;
};

/* ---- per-thread state and counters ---- */
struct thr {
    pthread_t tid;
    int ep, nc;
    struct conn *c;
    uint64_t gets, sets, hits, errors, batches, hist[NBUCKET];
};

static uint64_t t_end;              /* run/sizes deadline, ns */
static double zeta_n, zeta_eta, zeta_alpha, zeta_half; /* Zipf constants */
static uint64_t zipf_reqs;          /* zipf: gets issued so far */

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + ts.tv_nsec;
}

static void die(const char *msg)
{
    fprintf(stderr, "rcload: %s: %s\n", msg, errno ? strerror(errno) : "error");
    exit(1);
}

/* splitmix64: tiny, fast, fully deterministic PRNG */
static uint64_t rnd(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static double rnd01(uint64_t *s) { return (rnd(s) >> 11) * (1.0 / 9007199254740992.0); }

/* Zipf over [0,n) after Gray et al. (as in YCSB); needs 0 < theta < 1 */
static void zipf_init(uint64_t n)
{
    double z = 0;
    for (uint64_t i = 1; i <= n; i++) z += pow((double)i, -theta);
    zeta_n = z;
    zeta_alpha = 1.0 / (1.0 - theta);
    zeta_half = 1.0 + pow(0.5, theta);
    zeta_eta = (1 - pow(2.0 / n, 1 - theta)) / (1 - zeta_half / z);
}
static uint64_t zipf_next(uint64_t *s)
{
    double u = rnd01(s), uz = u * zeta_n;
    if (uz < 1.0) return 0;
    if (uz < zeta_half) return 1;
    uint64_t k = (uint64_t)(keyspace * pow(zeta_eta * u - zeta_eta + 1, zeta_alpha));
    return k < keyspace ? k : keyspace - 1;
}

/* latency histogram: exact below 64 ns, then 32 sub-buckets per power of 2 */
static int hidx(uint64_t v)
{
    if (v < 64) return (int)v;
    int sh = 63 - __builtin_clzll(v) - 5;
    int i = 64 + (sh - 1) * 32 + (int)((v >> sh) & 31);
    return i < NBUCKET ? i : NBUCKET - 1;
}
static double hval(int i)           /* bucket midpoint, ns */
{
    if (i < 64) return i;
    int sh = (i - 64) / 32 + 1, sub = (i - 64) % 32;
    return ((32.0 + sub) + 0.5) * (double)(1ull << sh);
}

/* ---- output buffer ---- */
static void out_reserve(struct conn *c, size_t n)
{
    if (c->olen + n <= c->ocap) return;
    while (c->olen + n > c->ocap) c->ocap = c->ocap ? c->ocap * 2 : 65536;
    if (!(c->obuf = realloc(c->obuf, c->ocap))) die("realloc");
}
/* A binary request header (magic, opcode, lengths; opaque and CAS 0). */
static void put_bin_header(struct conn *c, int op, size_t klen, size_t elen, size_t blen)
{
    unsigned char *h = (unsigned char *)c->obuf + c->olen;
    memset(h, 0, 24);
    h[0] = 0x80; h[1] = (unsigned char)op;
    h[2] = (unsigned char)(klen >> 8); h[3] = (unsigned char)klen;
    h[4] = (unsigned char)elen;
    h[8] = (unsigned char)(blen >> 24); h[9] = (unsigned char)(blen >> 16);
    h[10] = (unsigned char)(blen >> 8); h[11] = (unsigned char)blen;
    c->olen += 24;
}
static void put_get(struct conn *c, uint64_t key)
{
    out_reserve(c, 48);
    if (proto == P_BINARY) {
        put_bin_header(c, 0x00, 16, 0, 16);
        c->olen += sprintf(c->obuf + c->olen, "k%015llu", (unsigned long long)key);
    } else {
        c->olen += sprintf(c->obuf + c->olen, proto == P_META ? "mg k%015llu v\r\n"
                                                              : "get k%015llu\r\n",
                           (unsigned long long)key);
    }
}
static void put_set(struct conn *c, uint64_t key, size_t len)
{
    out_reserve(c, 64 + len + 2);
    if (proto == P_BINARY) {
        put_bin_header(c, 0x01, 16, 8, 16 + 8 + len);
        memset(c->obuf + c->olen, 0, 8);          /* flags 0, exptime 0 */
        c->olen += 8;
        c->olen += sprintf(c->obuf + c->olen, "k%015llu", (unsigned long long)key);
        memcpy(c->obuf + c->olen, valbuf, len);
        c->olen += len;
        return;
    }
    c->olen += sprintf(c->obuf + c->olen, proto == P_META ? "ms k%015llu %zu\r\n"
                                                          : "set k%015llu 0 0 %zu\r\n",
                       (unsigned long long)key, len);
    memcpy(c->obuf + c->olen, valbuf, len);
    memcpy(c->obuf + c->olen + len, "\r\n", 2);
    c->olen += len + 2;
}
/* Note a keyed request; reply says whether it gets its own reply (0 for all
 * but the first key of a multi-key get). */
static void add_req(struct conn *c, uint64_t key, int isget, int reply)
{
    c->keys[c->nreq] = key; c->isget[c->nreq] = (char)isget; c->hit[c->nreq] = 0;
    if (reply) { c->repget[c->nrep] = (char)isget; c->repfirst[c->nrep++] = (char)c->nreq; }
    c->nreq++;
}

/* Put P gets into the batch: P "get" lines, or one "get k1 k2 ...". */
static void put_gets(struct conn *c, const uint64_t *k, int n)
{
    if (!multiget) {
        for (int j = 0; j < n; j++) { put_get(c, k[j]); add_req(c, k[j], 1, 1); }
        return;
    }
    out_reserve(c, 8 + 18 * (size_t)n);
    c->olen += sprintf(c->obuf + c->olen, "get");
    for (int j = 0; j < n; j++) {
        c->olen += sprintf(c->obuf + c->olen, " k%015llu", (unsigned long long)k[j]);
        add_req(c, k[j], 1, j == 0);
    }
    c->olen += sprintf(c->obuf + c->olen, "\r\n");
}

/* Value size of a key in zipf mode: a fixed function of the key. */
static size_t zipf_vsize(uint64_t key)
{
    uint64_t s = key ^ 0x5bd1e995u;
    return vmin + rnd(&s) % (vmax - vmin + 1);
}

/* Compose the next batch into c->obuf.  Returns 0 if there is nothing left
 * to send (end of run). */
static int build_batch(struct conn *c)
{
    uint64_t gk[MAXP];
    int ng = 0;
    c->olen = c->ooff = 0; c->nreq = c->nrep = c->ndone = 0;
    switch (mode) {
    case M_RUN:     /* sets go out as drawn, the gets (if any) after them */
        if (now_ns() >= t_end) return 0;
        for (int j = 0; j < depth; j++) {
            uint64_t key = rnd(&c->rng) % keyspace;
            if (rnd01(&c->rng) < set_frac) { put_set(c, key, vsize); add_req(c, key, 0, 1); }
            else gk[ng++] = key;
        }
        put_gets(c, gk, ng);
        break;
    case M_FILL:
        for (int j = 0; j < depth && c->next_key < nitems; j++) {
            put_set(c, c->next_key, vsize); add_req(c, c->next_key, 0, 1);
            c->next_key += nconn;
        }
        if (!c->nreq) return 0;
        break;
    case M_ZIPF:
        for (; ng < depth && zipf_reqs < warmup + nitems; zipf_reqs++)
            gk[ng++] = zipf_next(&c->rng);
        if (!ng) return 0;
        put_gets(c, gk, ng);
        c->phase = 0;
        break;
    case M_SIZES: {
        if (now_ns() >= t_end) return 0;
        uint64_t key = rnd(&c->rng) % keyspace;
        size_t len = (size_t)exp(rnd01(&c->rng) * log((double)xmax + 1));
        if (len < 1) len = 1;
        if (len > xmax) len = xmax;
        put_set(c, key, len); add_req(c, key, 0, 1);
        break;
    }
    }
    c->t0 = now_ns();
    return 1;
}

/* Write as much of obuf as the socket takes; arm EPOLLOUT if it is full. */
static void flush_out(struct thr *t, struct conn *c)
{
    while (c->ooff < c->olen) {
        ssize_t n = write(c->fd, c->obuf + c->ooff, c->olen - c->ooff);
        if (n > 0) { c->ooff += n; continue; }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) break;
        die("write");
    }
    int want = c->ooff < c->olen;
    if (want != c->want_out) {
        struct epoll_event ev = { .events = EPOLLIN | (want ? EPOLLOUT : 0), .data.ptr = c };
        if (epoll_ctl(t->ep, EPOLL_CTL_MOD, c->fd, &ev) < 0) die("epoll_ctl");
        c->want_out = want;
    }
}

/* All replies of a batch are in: account, then start the next batch. */
static void batch_done(struct thr *t, struct conn *c)
{
    uint64_t lat = now_ns() - c->t0;
    if (mode == M_ZIPF && c->phase == 1) {
        t->sets += c->nreq;         /* cache-aside fills: not timed */
    } else {
        /* zipf: count only after the warm-up; gets are numbered in issue order */
        uint64_t first = zipf_reqs - c->nreq;
        for (int j = 0; j < c->nreq; j++) {
            if (!c->isget[j]) t->sets++;
            else if (mode != M_ZIPF || first + j >= warmup) {
                t->gets++;
                t->hits += c->hit[j];
            }
        }
        t->batches++;
        t->hist[hidx(lat)]++;
    }
    if (mode == M_ZIPF && c->phase == 0) {
        uint64_t miss[MAXP];        /* cache-aside: set what missed, once */
        int n = 0;
        for (int j = 0; j < c->nreq; j++) {
            int dup = 0;
            for (int i = 0; i < n && !dup; i++) dup = miss[i] == c->keys[j];
            if (!c->hit[j] && !dup) miss[n++] = c->keys[j];
        }
        if (n) {
            c->olen = c->ooff = 0; c->nreq = c->nrep = c->ndone = 0; c->phase = 1;
            for (int j = 0; j < n; j++) {
                put_set(c, miss[j], zipf_vsize(miss[j])); add_req(c, miss[j], 0, 1);
            }
            c->t0 = now_ns();
            flush_out(t, c);
            return;
        }
    }
    c->phase = 0;
    if (build_batch(c)) flush_out(t, c);
    else c->done = 1;
}

/* A VALUE arrived for the get reply being parsed: mark its request a hit. */
static void mark_hit(struct conn *c, const char *line)
{
    int r = c->ndone, first = c->repfirst[r];
    int last = r + 1 < c->nrep ? c->repfirst[r + 1] : c->nreq;
    if (last - first == 1) { c->hit[first] = 1; return; }
    /* multi-key get: match "VALUE k<id> ..." to the first request not yet hit */
    uint64_t id = strtoull(line + 7, NULL, 10);
    for (int j = first; j < last; j++)
        if (c->keys[j] == id && !c->hit[j]) { c->hit[j] = 1; return; }
}

/* One reply to request ndone is in: account it; 1 when the batch is done. */
static int reply_done(struct thr *t, struct conn *c, int ok, int hit)
{
    if (!ok) t->errors++;
    if (hit) c->hit[(int)c->repfirst[c->ndone]] = 1;
    if (++c->ndone == c->nrep) {
        batch_done(t, c);
        return 1;
    }
    return 0;
}

/* Binary replies: a 24-byte header and its body; status 0 is a hit or a
 * stored value, 1 (not found) an expected miss. */
static size_t parse_binary(struct thr *t, struct conn *c)
{
    size_t pos = 0;
    while (c->ilen - pos >= 24 && c->ndone < c->nrep) {
        const unsigned char *h = (const unsigned char *)c->ibuf + pos;
        size_t body = (size_t)h[8] << 24 | (size_t)h[9] << 16 | (size_t)h[10] << 8 | h[11];
        int status = h[6] << 8 | h[7];
        if (c->ilen - pos < 24 + body) break;
        pos += 24 + body;
        int isget = c->repget[c->ndone];
        if (reply_done(t, c, status == 0 || (isget && status == 1), isget && status == 0)) {
            if (c->done) break;
        }
    }
    return pos;
}

/* Meta replies: "VA <len> ...\r\n<data>\r\n", "EN\r\n" or "HD\r\n". */
static size_t parse_meta(struct thr *t, struct conn *c)
{
    size_t pos = 0;
    while (pos < c->ilen && c->ndone < c->nrep) {
        char *line = c->ibuf + pos;
        char *eol = memmem(line, c->ilen - pos, "\r\n", 2);
        if (!eol) break;
        size_t ll = eol - line + 2, data = 0;
        int isget = c->repget[c->ndone], hit = 0, ok;
        if (ll > 4 && !memcmp(line, "VA ", 3)) {
            data = strtoull(line + 3, NULL, 10) + 2;
            if (pos + ll + data > c->ilen) break;
            hit = 1;
        }
        ok = isget ? (hit || (ll == 4 && !memcmp(line, "EN", 2)))
                   : (ll == 4 && !memcmp(line, "HD", 2));
        pos += ll + data;
        if (reply_done(t, c, ok, hit) && c->done) break;
    }
    return pos;
}

/* Parse complete replies in ibuf.  A get reply is any number of
 * "VALUE <key> <flags> <bytes>\r\n<data>\r\n" blocks and "END\r\n"; anything
 * else is a one-line reply (STORED, NOT_STORED, *ERROR ...). */
static void parse(struct thr *t, struct conn *c)
{
    size_t pos = 0;
    if (proto != P_TEXT) {
        pos = proto == P_BINARY ? parse_binary(t, c) : parse_meta(t, c);
        memmove(c->ibuf, c->ibuf + pos, c->ilen - pos);
        c->ilen -= pos;
        return;
    }
    while (pos < c->ilen && c->ndone < c->nrep) {
        char *line = c->ibuf + pos;
        char *eol = memmem(line, c->ilen - pos, "\r\n", 2);
        if (!eol) break;
        size_t ll = eol - line + 2;
        if (ll > 8 && !memcmp(line, "VALUE k", 7)) {
            char *sp = memrchr(line, ' ', eol - line);  /* last field: bytes */
            size_t bytes = strtoull(sp + 1, NULL, 10);
            if (pos + ll + bytes + 2 > c->ilen) break;   /* data incomplete */
            pos += ll + bytes + 2;
            mark_hit(c, line);
            continue;
        }
        pos += ll;
        if (c->repget[c->ndone] ? (ll != 5 || memcmp(line, "END", 3))
                                : (ll != 8 || memcmp(line, "STORED", 6)))
            t->errors++;            /* SERVER_ERROR, NOT_STORED, ... */
        if (++c->ndone == c->nrep) {
            batch_done(t, c);
            if (c->done) break;
        }
    }
    memmove(c->ibuf, c->ibuf + pos, c->ilen - pos);
    c->ilen -= pos;
}

static void *worker(void *arg)
{
    struct thr *t = arg;
    struct epoll_event evs[64];
    int live = t->nc;
    for (int i = 0; i < t->nc; i++) {
        struct conn *c = &t->c[i];
        if (build_batch(c)) flush_out(t, c);
        else { c->done = 1; live--; }
    }
    while (live > 0) {
        int n = epoll_wait(t->ep, evs, 64, 100);
        if (n < 0 && errno != EINTR) die("epoll_wait");
        for (int i = 0; i < n; i++) {
            struct conn *c = evs[i].data.ptr;
            if (c->done) continue;
            if (evs[i].events & EPOLLOUT) flush_out(t, c);
            if (!(evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))) continue;
            if (c->icap - c->ilen < 4096) {
                c->icap *= 2;
                if (!(c->ibuf = realloc(c->ibuf, c->icap))) die("realloc");
            }
            ssize_t r = read(c->fd, c->ibuf + c->ilen, c->icap - c->ilen);
            if (r == 0) { errno = 0; die("server closed the connection"); }
            if (r < 0) { if (errno == EAGAIN || errno == EINTR) continue; die("read"); }
            c->ilen += r;
            parse(t, c);
            if (c->done) live--;
        }
    }
    return NULL;
}

static int connect_one(void)
{
    int fd = socket(srv.ss_family, SOCK_STREAM, 0), one = 1;
    if (fd < 0) die("socket");
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (struct sockaddr *)&srv, srvlen) < 0) die("connect");
    if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0) die("fcntl");
    return fd;
}

static void usage(void)
{
    fputs("usage: rcload -s HOST:PORT [-M run|fill|zipf|sizes] [-c conns] [-T threads]\n"
          "  [-P depth] [-d secs] [-k keyspace] [-v valsize] [-R sets:gets] [-g]\n"
          "  [-n items/requests] [-w warmup] [-z theta] [-V vmin:vmax] [-x maxsize] [-S seed]\n"
          "  [-p text|binary|meta]\n",
          stderr);
    exit(2);
}

int main(int argc, char **argv)
{
    char *server = NULL;
    int o;
    while ((o = getopt(argc, argv, "s:M:c:T:P:d:k:v:R:gn:w:z:V:x:S:p:h")) != -1) {
        switch (o) {
        case 's': server = optarg; break;
        case 'M': mode = !strcmp(optarg, "run") ? M_RUN : !strcmp(optarg, "fill") ? M_FILL
                       : !strcmp(optarg, "zipf") ? M_ZIPF : !strcmp(optarg, "sizes") ? M_SIZES : -1;
                  if (mode < 0) usage();
                  break;
        case 'c': nconn = atoi(optarg); break;
        case 'T': nthr = atoi(optarg); break;
        case 'P': depth = atoi(optarg); break;
        case 'd': duration = atof(optarg); break;
        case 'k': keyspace = strtoull(optarg, NULL, 10); break;
        case 'v': vsize = strtoull(optarg, NULL, 10); break;
        case 'R': { double s = 1, g = 10;
                    if (sscanf(optarg, "%lf:%lf", &s, &g) != 2 || s + g <= 0) usage();
                    set_frac = s / (s + g); break; }
        case 'g': multiget = 1; break;
        case 'n': nitems = strtoull(optarg, NULL, 10); break;
        case 'w': warmup = strtoull(optarg, NULL, 10); break;
        case 'z': theta = atof(optarg); break;
        case 'V': if (sscanf(optarg, "%zu:%zu", &vmin, &vmax) != 2 || vmin > vmax) usage(); break;
        case 'x': xmax = strtoull(optarg, NULL, 10); break;
        case 'S': seed = strtoull(optarg, NULL, 10); break;
        case 'p': proto = !strcmp(optarg, "text") ? P_TEXT : !strcmp(optarg, "binary") ? P_BINARY
                        : !strcmp(optarg, "meta") ? P_META : -1;
                  if (proto < 0) usage();
                  break;
        default: usage();
        }
    }
    if (!server || nconn < 1 || nthr < 1 || depth < 1 || depth > MAXP || !keyspace ||
        (mode == M_ZIPF && (theta <= 0 || theta >= 1)))
        usage();
    if (multiget && proto != P_TEXT) usage();
    if (mode == M_ZIPF) { nconn = nthr = 1; zipf_init(keyspace); }
    if (nthr > nconn) nthr = nconn;

    /* resolve HOST:PORT */
    char host[256], *colon = strrchr(server, ':');
    if (!colon || (size_t)(colon - server) >= sizeof host) usage();
    memcpy(host, server, colon - server); host[colon - server] = 0;
    struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai;
    if (getaddrinfo(host, colon + 1, &hints, &ai)) { errno = 0; die("cannot resolve server"); }
    memcpy(&srv, ai->ai_addr, ai->ai_addrlen); srvlen = ai->ai_addrlen;
    freeaddrinfo(ai);

    size_t vb = vsize > vmax ? vsize : vmax;
    if (xmax > vb) vb = xmax;
    if (!(valbuf = malloc(vb))) die("malloc");
    for (size_t i = 0; i < vb; i++) valbuf[i] = 'a' + i % 26;

    /* spread connections over threads round-robin */
    struct thr *th = calloc(nthr, sizeof *th);
    for (int i = 0; i < nthr; i++) {
        th[i].c = calloc(nconn / nthr + 1, sizeof(struct conn));
        if ((th[i].ep = epoll_create1(0)) < 0) die("epoll_create1");
    }
    for (int i = 0; i < nconn; i++) {
        struct thr *t = &th[i % nthr];
        struct conn *c = &t->c[t->nc++];
        c->fd = connect_one();
        c->icap = 65536; c->ibuf = malloc(c->icap);
        c->rng = seed * 1000003u + i; c->next_key = i;
        struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
        if (epoll_ctl(t->ep, EPOLL_CTL_ADD, c->fd, &ev) < 0) die("epoll_ctl");
    }

    uint64_t t0 = now_ns();
    t_end = t0 + (uint64_t)(duration * 1e9);
    for (int i = 0; i < nthr; i++) pthread_create(&th[i].tid, NULL, worker, &th[i]);
    for (int i = 0; i < nthr; i++) pthread_join(th[i].tid, NULL);
    double secs = (now_ns() - t0) / 1e9;

    /* merge counters and histograms */
    uint64_t gets = 0, sets = 0, hits = 0, errors = 0, batches = 0, hist[NBUCKET] = {0};
    for (int i = 0; i < nthr; i++) {
        gets += th[i].gets; sets += th[i].sets; hits += th[i].hits;
        errors += th[i].errors; batches += th[i].batches;
        for (int b = 0; b < NBUCKET; b++) hist[b] += th[i].hist[b];
    }
    double pct[] = { 50, 90, 99, 99.9 }, pv[4] = {0};
    const char *pn[] = { "p50_us", "p90_us", "p99_us", "p999_us" };
    for (int p = 0; p < 4; p++) {
        uint64_t need = (uint64_t)ceil(batches * pct[p] / 100.0), acc = 0;
        for (int b = 0; b < NBUCKET && batches; b++)
            if ((acc += hist[b]) >= need) { pv[p] = hval(b) / 1000.0; break; }
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu = ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
                 (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;

    uint64_t ops = (mode == M_ZIPF) ? gets : gets + sets;
    printf("mode=%s\nconns=%d\nclient_threads=%d\ndepth=%d\nsecs=%.3f\n",
           (const char *[]){ "run", "fill", "zipf", "sizes" }[mode], nconn, nthr, depth, secs);
    printf("ops=%llu\nops_per_sec=%.0f\ngets=%llu\nsets=%llu\nhits=%llu\nerrors=%llu\n",
           (unsigned long long)ops,     /* zipf: the warm-up gets count toward the rate */
           (gets + sets + (mode == M_ZIPF ? warmup : 0)) / secs, (unsigned long long)gets,
           (unsigned long long)sets, (unsigned long long)hits, (unsigned long long)errors);
    printf("hit_ratio=%.4f\n", gets ? (double)hits / gets : 0.0);
    printf("lat_unit=%s\nlat_samples=%llu\n", depth > 1 ? "batch" : "request",
           (unsigned long long)batches);
    for (int p = 0; p < 4; p++) printf("%s=%.1f\n", pn[p], pv[p]);
    printf("client_cpu_s=%.3f\n", cpu);
    return 0;
}
