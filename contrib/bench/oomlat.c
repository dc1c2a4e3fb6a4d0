/*
 * oomlat - latency of a bystander connection while others hammer a full
 * cache with stores that fail (issue 12).
 *
 * 1. fill: pipelined sets of fresh keys until the server answers
 *    "SERVER_ERROR out of memory storing object" (start it with -M), or
 *    until -n keys are stored.
 * 2. -H hammer connections send batches of 16 sets of fresh keys (each one
 *    refused when the cache is full) for -d seconds;
 * 3. meanwhile one bystander connection times unpipelined round trips,
 *    alternating `get fill0` and `version`, and prints their percentiles.
 *
 * Output: name=value lines. Build: cc -O2 -pthread -o oomlat oomlat.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 16                  /* sets per hammer write */
#define VLEN 100                  /* value bytes */
#define MAXLAT 2000000            /* bystander samples kept */

static int port = 11211, hammers = 1;
static double duration = 5;
static long max_fill = 2000000;
static volatile int stop;
static long hammer_sets, hammer_errors; /* atomic */

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int conn(void)
{
    struct sockaddr_in sa;
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        perror("connect");
        exit(1);
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

static void send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);

        if (w <= 0) {
            perror("write");
            exit(1);
        }
        p += w;
        n -= (size_t)w;
    }
}

/* Reads until `lines` reply lines have arrived; counts SERVER_ERROR ones. */
static long read_lines(int fd, int lines, char *buf, size_t cap)
{
    long errors = 0;
    size_t have = 0;

    while (lines > 0) {
        char *nl;
        ssize_t r = read(fd, buf + have, cap - have);

        if (r <= 0) {
            perror("read");
            exit(1);
        }
        have += (size_t)r;
        while (lines > 0 && (nl = memchr(buf, '\n', have)) != NULL) {
            size_t len = (size_t)(nl - buf) + 1;

            errors += strncmp(buf, "SERVER_ERROR", 12) == 0;
            memmove(buf, nl + 1, have - len);
            have -= len;
            lines--;
        }
    }
    return errors;
}

/* Reads one whole reply that ends with suffix (unpipelined: nothing
 * follows it). */
static void read_reply(int fd, const char *suffix, char *buf, size_t cap)
{
    size_t have = 0, sl = strlen(suffix);

    for (;;) {
        ssize_t r = read(fd, buf + have, cap - have - 1);

        if (r <= 0) {
            perror("read");
            exit(1);
        }
        have += (size_t)r;
        if (have >= sl && memcmp(buf + have - sl, suffix, sl) == 0) {
            return;
        }
    }
}

static size_t make_sets(char *out, const char *prefix, long *next, int n)
{
    static char value[VLEN + 1];
    size_t off = 0;
    int i;

    memset(value, 'v', VLEN);
    for (i = 0; i < n; i++) {
        off += (size_t)sprintf(out + off, "set %s%ld 0 0 %d\r\n%s\r\n",
                               prefix, (*next)++, VLEN, value);
    }
    return off;
}

static long fill(void)
{
    char out[BATCH * 256], in[65536];
    int fd = conn();
    long next = 0;

    while (next < max_fill) {
        size_t n = make_sets(out, "fill", &next, BATCH);

        send_all(fd, out, n);
        if (read_lines(fd, BATCH, in, sizeof(in)) > 0) {
            break;
        }
    }
    close(fd);
    return next;
}

static void *hammer(void *arg)
{
    char out[BATCH * 256], in[65536], prefix[32];
    int fd = conn();
    long next = 0;

    snprintf(prefix, sizeof(prefix), "miss%ld-", (long)(intptr_t)arg);
    while (!stop) {
        size_t n = make_sets(out, prefix, &next, BATCH);

        send_all(fd, out, n);
        __atomic_add_fetch(&hammer_errors,
                           read_lines(fd, BATCH, in, sizeof(in)),
                           __ATOMIC_RELAXED);
        __atomic_add_fetch(&hammer_sets, BATCH, __ATOMIC_RELAXED);
    }
    close(fd);
    return NULL;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    static double lat[MAXLAT];
    pthread_t th[64];
    char in[65536];
    long stored, n = 0, i;
    double end;
    int opt, fd;

    while ((opt = getopt(argc, argv, "p:H:d:n:")) != -1) {
        switch (opt) {
        case 'p': port = atoi(optarg); break;
        case 'H': hammers = atoi(optarg); break;
        case 'd': duration = atof(optarg); break;
        case 'n': max_fill = atol(optarg); break;
        default:
            fprintf(stderr, "usage: oomlat [-p port] [-H hammers] "
                    "[-d seconds] [-n max fill]\n");
            return 2;
        }
    }
    if (hammers > 64) {
        hammers = 64;
    }
    stored = fill();
    printf("filled=%ld\n", stored);
    fd = conn();
    for (i = 0; i < hammers; i++) {
        pthread_create(&th[i], NULL, hammer, (void *)(intptr_t)i);
    }
    usleep(200000);               /* let the hammers get going */
    end = now_s() + duration;
    while (now_s() < end && n < MAXLAT) {
        double t0 = now_s();

        if (n % 2 == 0) {
            send_all(fd, "get fill0\r\n", 11);  /* stored first */
            read_reply(fd, "END\r\n", in, sizeof(in));
        } else {
            send_all(fd, "version\r\n", 9);
            read_reply(fd, "\r\n", in, sizeof(in));
        }
        lat[n++] = (now_s() - t0) * 1e6;
    }
    stop = 1;
    for (i = 0; i < hammers; i++) {
        pthread_join(th[i], NULL);
    }
    qsort(lat, (size_t)n, sizeof(lat[0]), cmp);
    printf("hammers=%d\nhammer_sets_per_sec=%.0f\nhammer_errors=%ld\n",
           hammers, hammer_sets / duration, hammer_errors);
    printf("samples=%ld\np50_us=%.1f\np99_us=%.1f\np999_us=%.1f\n"
           "max_us=%.1f\n", n, lat[n / 2], lat[n * 99 / 100],
           lat[n * 999 / 1000], lat[n - 1]);
    return 0;
}
