/*
 * forward_binary: binary packets rebuilt for the owner (see
 * forward_binary.h).
 */
#include "server/forward_binary.h"

#include <stdlib.h>
#include <string.h>

#include "cluster/router.h"

#define FAIL_TEXT "Temporary failure"
#define EXT_MAX 20                /* INCR/DECR: delta, initial, exptime */

/* A request header: the client's, with the loud opcode and the body the
 * owner is sent. */
static void request_header(uint8_t *out, const struct bin_header *h,
                           uint32_t bodylen)
{
    out[0] = BIN_REQ_MAGIC;
    out[1] = bin_loud_opcode(h->opcode);
    out[2] = (uint8_t)(h->keylen >> 8);
    out[3] = (uint8_t)h->keylen;
    out[4] = h->extlen;
    out[5] = h->datatype;
    out[6] = (uint8_t)(h->vbucket >> 8);
    out[7] = (uint8_t)h->vbucket;
    bin_put32(out + 8, bodylen);
    memcpy(out + 12, &h->opaque, 4);          /* as received */
    bin_put64(out + 16, h->cas);
}

/* The client's reply when the owner cannot answer: a miss for a read
 * (GETK's carries the key; quiet ones say nothing), else ETMPFAIL. */
static size_t fail_packet(const struct bin_header *h, const char *key,
                          char *out)
{
    uint8_t op = bin_loud_opcode(h->opcode);
    bool read = op == BIN_GET || op == BIN_GETK || op == BIN_GAT ||
                op == BIN_GATK || op == BIN_TOUCH;
    const char *body = FAIL_TEXT;
    size_t n = sizeof(FAIL_TEXT) - 1;
    uint16_t status = PEER_UNAVAILABLE_STATUS, klen = 0;

    if (read && bin_is_quiet(h->opcode)) {
        return 0;
    }
    if (read && (op == BIN_GETK || op == BIN_GATK)) {
        status = BIN_KEY_ENOENT;
        body = key;
        n = klen = h->keylen;
    } else if (read) {
        status = BIN_KEY_ENOENT;
        body = "Not found";
        n = 9;
    }
    bin_encode_header((uint8_t *)out, h, status, 0, klen, (uint32_t)n, 0);
    memcpy(out + BIN_HEADER_SIZE, body, n);
    return BIN_HEADER_SIZE + n;
}

static void send(struct conn *c, const char *addr, const struct bin_header *h,
                 const char *key, const char *req, size_t n,
                 const char *value, size_t vlen)
{
    char fail[BIN_HEADER_SIZE + KEY_MAX_LENGTH + sizeof(FAIL_TEXT)];
    struct peer_request q = { 0 };

    q.addr = addr;
    q.binary = true;
    q.req = req;
    q.n = n;
    q.value = value;
    q.vlen = vlen;
    q.kind = PEER_REPLY_BINARY;
    q.opcode = h->opcode;
    q.fail = fail;
    q.fail_len = fail_packet(h, key, fail);
    /* With --replicas, another owner can answer a get, and take a write
     * this one never got (peer.h unsent_only). */
    q.key = h->keylen > 0 ? key : NULL;
    q.nkey = h->keylen;
    q.unsent_only = bin_loud_opcode(h->opcode) != BIN_GET &&
                    bin_loud_opcode(h->opcode) != BIN_GETK;
    router_forward(c, &q);
}

void forward_binary(struct conn *c, const char *addr,
                    const struct bin_header *h, const uint8_t *ext,
                    const char *key)
{
    char req[BIN_HEADER_SIZE + EXT_MAX + KEY_MAX_LENGTH];
    size_t body = (size_t)h->extlen + h->keylen;

    if (h->extlen > EXT_MAX || h->keylen > KEY_MAX_LENGTH ||
        h->bodylen != body) {
        return;                   /* bin_check let no such request through */
    }
    request_header((uint8_t *)req, h, (uint32_t)body);
    memcpy(req + BIN_HEADER_SIZE, ext, h->extlen);
    memcpy(req + BIN_HEADER_SIZE + h->extlen, key, h->keylen);
    send(c, addr, h, key, req, BIN_HEADER_SIZE + body, NULL, 0);
}

void forward_binary_store(struct conn *c, const char *addr,
                          const struct bin_header *h, uint32_t exptime,
                          const struct item *it)
{
    uint8_t op = bin_loud_opcode(h->opcode);
    bool concat = op == BIN_APPEND || op == BIN_PREPEND;
    uint8_t ext = concat ? 0 : 8;
    size_t vlen = (size_t)it->nbytes;
    char req[BIN_HEADER_SIZE + 8 + KEY_MAX_LENGTH];
    struct bin_header fh = *h;
    char *value = malloc(vlen > 0 ? vlen : 1);

    if (value == NULL) {
        static const char oom[] = "Out of memory allocating item";

        /* In order: nothing of this request has been queued. */
        bin_encode_header((uint8_t *)req, h, BIN_ENOMEM, 0, 0,
                          sizeof(oom) - 1, 0);
        conn_out(c, req, BIN_HEADER_SIZE);
        conn_out(c, oom, sizeof(oom) - 1);
        return;
    }
    fh.extlen = ext;
    fh.keylen = (uint16_t)it->nkey;
    request_header((uint8_t *)req, &fh, (uint32_t)(ext + it->nkey + vlen));
    if (!concat) {
        bin_put32((uint8_t *)req + BIN_HEADER_SIZE, item_cflags(it));
        bin_put32((uint8_t *)req + BIN_HEADER_SIZE + 4, exptime);
    }
    memcpy(req + BIN_HEADER_SIZE + ext, item_key(it), it->nkey);
    item_copy_out(it, 0, value, vlen);
    send(c, addr, &fh, item_key(it), req, BIN_HEADER_SIZE + ext + it->nkey,
         value, vlen);
    free(value);
}
