/*
 * ring: libmemcached's weighted ketama (see ring.h).
 *
 * What must match libmemcached 1.x exactly (update_continuum in hosts.cc
 * and the lookup in hash.cc), since any difference sends a smart client's
 * key to another node:
 *  - points per server: floor(w / W * 160 / 4 * n + 1e-10) * 4 computed
 *    in float, so equal weights give 160 points except at the sizes where
 *    float rounds the product just below 40 (n = 25, 47, 50, 55, 61, ...),
 *    which give 156;
 *  - the string hashed for point group j (from 0) is "host-j" when the
 *    port is 11211 and "host:port-j" otherwise, host as configured;
 *  - each MD5 digest gives four points, its 32-bit little-endian words;
 *  - points sort by value, ties to the lower server index;
 *  - a key's hash is the first word of MD5(key); its owner is the server
 *    of the first point >= the hash, or of the first point when none is.
 */
#include "cluster/ring.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#define HOST_STRING_MAX 300       /* host (<= 255) + ":65535-" + index */

/* ---- MD5 through libcrypto ------------------------------------------ */

/* EVP is libcrypto's non-deprecated interface; fetching the method and
 * making a context per call would cost more than the digest itself, so
 * the method is fetched once and each thread keeps a context. */
static pthread_once_t md5_once = PTHREAD_ONCE_INIT;
static EVP_MD *md5_method;
static pthread_key_t md5_ctx_key;
static __thread EVP_MD_CTX *md5_ctx;

static void md5_ctx_free(void *ctx)
{
    EVP_MD_CTX_free(ctx);
}

static void md5_init(void)
{
    md5_method = EVP_MD_fetch(NULL, "MD5", NULL);
    if (md5_method == NULL || pthread_key_create(&md5_ctx_key,
                                                 md5_ctx_free) != 0) {
        /* MD5 is in OpenSSL's default provider; without it there is no
         * ring that any client could agree with. */
        fprintf(stderr, "ring: libcrypto has no MD5\n");
        abort();
    }
}

static void md5(const void *data, size_t len, unsigned char out[16])
{
    unsigned int outlen = 0;

    if (md5_ctx == NULL) {
        pthread_once(&md5_once, md5_init);
        md5_ctx = EVP_MD_CTX_new();
        if (md5_ctx == NULL) {
            fprintf(stderr, "ring: out of memory for an MD5 context\n");
            abort();
        }
        pthread_setspecific(md5_ctx_key, md5_ctx);
    }
    if (EVP_DigestInit_ex2(md5_ctx, md5_method, NULL) != 1 ||
        EVP_DigestUpdate(md5_ctx, data, len) != 1 ||
        EVP_DigestFinal_ex(md5_ctx, out, &outlen) != 1 || outlen != 16) {
        fprintf(stderr, "ring: MD5 failed\n");
        abort();
    }
}

static uint32_t word_le(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

uint32_t ring_hash(const void *key, size_t nkey)
{
    unsigned char d[16];

    md5(key, nkey, d);
    return word_le(d);
}

/* ---- building ------------------------------------------------------- */

/* libmemcached's arithmetic, in float on purpose: the rounding is what
 * makes 156 at some sizes, and clients do it this way. */
static uint32_t points_for(uint32_t weight, uint64_t total_weight,
                           size_t nservers)
{
    float pct = (float)weight / (float)total_weight;
    float groups = (float)(pct * RING_POINTS_PER_SERVER / 4 *
                           (float)nservers + 0.0000000001F);

    return (uint32_t)floorf(groups) * 4;
}

static int point_cmp(const void *a, const void *b)
{
    const struct ring_point *x = a, *y = b;

    if (x->value != y->value) {
        return x->value < y->value ? -1 : 1;
    }
    return x->index < y->index ? -1 : x->index > y->index;
}

struct ring *ring_build(const struct ring_server *servers, size_t n)
{
    struct ring *r = calloc(1, sizeof(*r));
    uint64_t total_weight = 0;
    size_t i, cap = 0;

    if (r == NULL) {
        return NULL;
    }
    for (i = 0; i < n; i++) {
        total_weight += servers[i].weight;
    }
    r->nservers = n;
    r->server_points = calloc(n ? n : 1, sizeof(*r->server_points));
    if (r->server_points == NULL) {
        ring_free(r);
        return NULL;
    }
    for (i = 0; i < n; i++) {
        r->server_points[i] = points_for(servers[i].weight, total_weight, n);
        cap += r->server_points[i];
    }
    r->points = malloc((cap ? cap : 1) * sizeof(*r->points));
    if (r->points == NULL) {
        ring_free(r);
        return NULL;
    }
    for (i = 0; i < n; i++) {
        const struct ring_server *s = &servers[i];
        uint32_t groups = r->server_points[i] / 4, j;
        size_t hl = s->host_len > 255 ? 255 : s->host_len;

        for (j = 0; j < groups; j++) {
            char str[HOST_STRING_MAX];
            unsigned char d[16];
            int len, k;

            if (s->port == RING_DEFAULT_PORT) {
                len = snprintf(str, sizeof(str), "%.*s-%u", (int)hl,
                               s->host, (unsigned)j);
            } else {
                len = snprintf(str, sizeof(str), "%.*s:%u-%u", (int)hl,
                               s->host, (unsigned)s->port, (unsigned)j);
            }
            md5(str, (size_t)len, d);
            for (k = 0; k < 4; k++) {
                r->points[r->npoints].value = word_le(d + 4 * k);
                r->points[r->npoints].index = (uint32_t)i;
                r->npoints++;
            }
        }
    }
    qsort(r->points, r->npoints, sizeof(*r->points), point_cmp);
    return r;
}

void ring_free(struct ring *r)
{
    if (r == NULL) {
        return;
    }
    free(r->points);
    free(r->server_points);
    free(r);
}

/* ---- lookup --------------------------------------------------------- */

/* Position of the first point >= hash, wrapping to 0. */
static size_t first_at_or_after(const struct ring *r, uint32_t hash)
{
    size_t lo = 0, hi = r->npoints;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (r->points[mid].value < hash) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo == r->npoints ? 0 : lo;
}

size_t ring_owner_of_hash(const struct ring *r, uint32_t hash)
{
    if (r == NULL || r->npoints == 0) {
        return r != NULL && r->nservers == 1 ? 0 : RING_NONE;
    }
    return r->points[first_at_or_after(r, hash)].index;
}

size_t ring_owner(const struct ring *r, const void *key, size_t nkey)
{
    if (r == NULL || r->nservers == 0) {
        return RING_NONE;
    }
    if (r->nservers == 1) {
        return 0;                 /* libmemcached does not hash then */
    }
    return ring_owner_of_hash(r, ring_hash(key, nkey));
}

size_t ring_owners(const struct ring *r, const void *key, size_t nkey,
                   size_t want, size_t *out)
{
    size_t found = 0, pos, seen;

    if (r == NULL || r->nservers == 0 || want == 0) {
        return 0;
    }
    if (r->nservers == 1 || r->npoints == 0) {
        out[0] = 0;
        return 1;
    }
    pos = first_at_or_after(r, ring_hash(key, nkey));
    for (seen = 0; seen < r->npoints && found < want; seen++) {
        uint32_t idx = r->points[pos].index;
        size_t k;

        for (k = 0; k < found && out[k] != idx; k++) {
        }
        if (k == found) {
            out[found++] = idx;
        }
        pos = pos + 1 == r->npoints ? 0 : pos + 1;
    }
    return found;
}

/* ---- client configuration ------------------------------------------- */

size_t ring_libmemcached_config(const struct ring_server *servers, size_t n,
                                char *out, size_t cap)
{
    size_t len = 0, i;
    int w;

    w = snprintf(out, cap, "--DISTRIBUTION=consistent --HASH=MD5");
    len += (size_t)w;
    for (i = 0; i < n; i++) {
        const struct ring_server *s = &servers[i];

        w = snprintf(len < cap ? out + len : NULL, len < cap ? cap - len : 0,
                     " --SERVER=%.*s:%u/?%llu", (int)s->host_len, s->host,
                     (unsigned)s->port,
                     (unsigned long long)s->weight * 2);
        len += (size_t)w;
    }
    return len;
}
