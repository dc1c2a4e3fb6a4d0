/*
 * forward_meta: meta requests rebuilt for the owner (see forward_meta.h).
 */
#include "server/forward_meta.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/router.h"

/* Command, a 250-byte wire key, a length and up to 20 flag tokens of at
 * most 32 bytes (O) or a number each, then "\r\nmn\r\n". */
#define META_FWD_MAX 1024
#define MN "mn\r\n"

static const char *verb(enum meta_cmd cmd)
{
    switch (cmd) {
    case META_GET: return "mg";
    case META_SET: return "ms";
    case META_DELETE: return "md";
    case META_ARITHMETIC: return "ma";
    default: return "me";
    }
}

/* "<verb> <wire key>[ <vlen>] <flags...>\r\n" into buf; 0 if too long. */
static size_t build(const struct meta_request *r, char *buf, size_t cap)
{
    char key[META_B64_KEY_MAX];
    size_t n, i;
    int w;

    if (r->key_binary) {
        n = meta_base64_encode(r->key, r->nkey, key);
    } else {
        n = r->nkey < sizeof(key) ? r->nkey : sizeof(key) - 1;
        memcpy(key, r->key, n);
    }
    key[n] = '\0';
    if (r->cmd == META_SET) {
        w = snprintf(buf, cap, "ms %s %d", key, (int)r->vlen);
    } else {
        w = snprintf(buf, cap, "%s %s", verb(r->cmd), key);
    }
    if (w < 0 || (size_t)w >= cap) {
        return 0;
    }
    n = (size_t)w;
    for (i = 0; i < r->nflags; i++) {
        const struct text_token *t = &r->flags[i];

        if (n + 1 + t->length + 2 >= cap) {
            return 0;
        }
        buf[n++] = ' ';
        memcpy(buf + n, t->value, t->length);
        n += t->length;
    }
    memcpy(buf + n, "\r\n", 2);
    return n + 2;
}

/* With --replicas, another owner can answer an mg, and take a write
 * this one never got (peer.h unsent_only). */
static void send(struct conn *c, const char *addr, const char *line,
                 size_t n, const char *value, size_t vlen, const char *miss,
                 size_t miss_len, const char *key, size_t nkey, bool write)
{
    struct peer_request q = { 0 };

    q.key = key;
    q.nkey = nkey;
    q.unsent_only = write;
    q.addr = addr;
    q.req = line;
    q.n = n;
    q.value = value;
    q.vlen = vlen;
    q.kind = PEER_REPLY_META;
    if (miss != NULL && miss_len == 0) {
        q.fail = "";              /* q hides a miss */
        q.fail_static = true;
    } else if (miss != NULL) {
        q.fail = miss;
        q.fail_len = miss_len;
    } else {
        q.fail = PEER_UNAVAILABLE;
        q.fail_len = sizeof(PEER_UNAVAILABLE) - 1;
        q.fail_static = true;
    }
    router_forward(c, &q);
}

void forward_meta(struct conn *c, const char *addr,
                  const struct meta_request *r, const char *miss,
                  size_t miss_len)
{
    char line[META_FWD_MAX + sizeof(MN)];
    size_t n = build(r, line, META_FWD_MAX);

    if (n == 0) {
        conn_out_line(c, "SERVER_ERROR request too long to forward");
        return;
    }
    memcpy(line + n, MN, sizeof(MN) - 1);
    send(c, addr, line, n + sizeof(MN) - 1, NULL, 0, miss, miss_len,
         r->key, r->nkey, r->cmd != META_GET);
}

char *forward_meta_set_line(const struct meta_request *r)
{
    char line[META_FWD_MAX];
    size_t n = build(r, line, sizeof(line));
    char *copy = n > 0 ? malloc(n + 1) : NULL;

    if (copy != NULL) {
        memcpy(copy, line, n);
        copy[n] = '\0';
    }
    return copy;
}

void forward_meta_set(struct conn *c, const char *addr, char *line,
                      const struct item *it)
{
    size_t vlen = (size_t)it->nbytes;
    /* The value may be chunked in item memory: one contiguous copy with
     * its \r\n and the mn behind it. */
    char *value = malloc(vlen + 2 + sizeof(MN) - 1);

    if (value == NULL) {
        conn_out_line(c, "SERVER_ERROR out of memory storing object");
    } else {
        item_copy_out(it, 0, value, vlen);
        memcpy(value + vlen, "\r\n" MN, 2 + sizeof(MN) - 1);
        send(c, addr, line, strlen(line), value, vlen + 2 + sizeof(MN) - 1,
             NULL, 0, item_key(it), it->nkey, true);
    }
    free(value);
    free(line);
}
