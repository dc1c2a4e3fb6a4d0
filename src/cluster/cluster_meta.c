/*
 * cluster_meta: member metadata encoding (see cluster_meta.h).
 */
#include "cluster/cluster_meta.h"

#include <string.h>

int cluster_meta_host_valid(const char *host, size_t len)
{
    size_t i;

    if (len == 0 || len > CLUSTER_HOST_MAX) {
        return 0;
    }
    for (i = 0; i < len; i++) {
        if (host[i] <= ' ' || host[i] > '~') {
            return 0;
        }
    }
    return 1;
}

size_t cluster_meta_encode(const struct cluster_meta *m, uint8_t *out)
{
    size_t hl = strlen(m->host), n = 0;

    if (hl > 0 && hl <= CLUSTER_HOST_MAX) {
        out[n++] = CLUSTER_META_HOST;
        out[n++] = (uint8_t)hl;
        memcpy(out + n, m->host, hl);
        n += hl;
    }
    if (m->boot != 0 && GOSSIP_META_MAX - n >= 10) {
        int i;

        out[n++] = CLUSTER_META_BOOT;
        out[n++] = 8;
        for (i = 0; i < 8; i++) {
            out[n++] = (uint8_t)(m->boot >> (8 * i));
        }
    }
    return n;
}

int cluster_meta_decode(const uint8_t *buf, size_t len,
                        struct cluster_meta *m)
{
    size_t off = 0;

    memset(m, 0, sizeof(*m));
    while (off < len) {
        uint8_t tag, vl;

        if (len - off < 2) {
            return -1;
        }
        tag = buf[off];
        vl = buf[off + 1];
        off += 2;
        if (vl > len - off) {
            return -1;
        }
        if (tag == CLUSTER_META_HOST) {
            if (!cluster_meta_host_valid((const char *)buf + off, vl)) {
                return -1;
            }
            memcpy(m->host, buf + off, vl);
            m->host[vl] = '\0';
        } else if (tag == CLUSTER_META_BOOT && vl == 8) {
            int i;

            for (i = 7; i >= 0; i--) {
                m->boot = m->boot << 8 | buf[off + (size_t)i];
            }
        }
        off += vl;
    }
    return 0;
}
