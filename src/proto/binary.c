/*
 * binary: header coding and memcached's per-opcode length rules (see
 * binary.h).
 *
 * The rules are memcached's, including its looseness: TOUCH and GAT do not
 * check the body length (extra bytes become the next request), APPEND does
 * not require a value, and an unknown opcode's body is swallowed counted
 * from the end of its key. Clients can observe all of it, so it is kept.
 */
#include "proto/binary.h"

uint32_t bin_get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
           (uint32_t)p[2] << 8 | p[3];
}

uint64_t bin_get64(const uint8_t *p)
{
    return (uint64_t)bin_get32(p) << 32 | bin_get32(p + 4);
}

void bin_put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

void bin_put64(uint8_t *p, uint64_t v)
{
    bin_put32(p, (uint32_t)(v >> 32));
    bin_put32(p + 4, (uint32_t)v);
}

void bin_decode_header(const uint8_t *buf, struct bin_header *h)
{
    h->magic = buf[0];
    h->opcode = buf[1];
    h->keylen = (uint16_t)(buf[2] << 8 | buf[3]);
    h->extlen = buf[4];
    h->datatype = buf[5];
    h->vbucket = (uint16_t)(buf[6] << 8 | buf[7]);
    h->bodylen = bin_get32(buf + 8);
    /* The opaque is the client's cookie: it goes back byte for byte. */
    h->opaque = (uint32_t)buf[12] | (uint32_t)buf[13] << 8 |
                (uint32_t)buf[14] << 16 | (uint32_t)buf[15] << 24;
    h->cas = bin_get64(buf + 16);
}

void bin_encode_header(uint8_t *out, const struct bin_header *h,
                       uint16_t status, uint8_t extlen, uint16_t keylen,
                       uint32_t bodylen, uint64_t cas)
{
    out[0] = BIN_RES_MAGIC;
    out[1] = h->opcode;
    out[2] = (uint8_t)(keylen >> 8);
    out[3] = (uint8_t)keylen;
    out[4] = extlen;
    out[5] = 0;                   /* raw bytes */
    out[6] = (uint8_t)(status >> 8);
    out[7] = (uint8_t)status;
    bin_put32(out + 8, bodylen);
    out[12] = (uint8_t)h->opaque;
    out[13] = (uint8_t)(h->opaque >> 8);
    out[14] = (uint8_t)(h->opaque >> 16);
    out[15] = (uint8_t)(h->opaque >> 24);
    bin_put64(out + 16, cas);
}

bool bin_is_quiet(uint8_t opcode)
{
    return bin_loud_opcode(opcode) != opcode;
}

uint8_t bin_loud_opcode(uint8_t opcode)
{
    switch (opcode) {
    case BIN_SETQ: return BIN_SET;
    case BIN_ADDQ: return BIN_ADD;
    case BIN_REPLACEQ: return BIN_REPLACE;
    case BIN_DELETEQ: return BIN_DELETE;
    case BIN_INCREMENTQ: return BIN_INCREMENT;
    case BIN_DECREMENTQ: return BIN_DECREMENT;
    case BIN_QUITQ: return BIN_QUIT;
    case BIN_FLUSHQ: return BIN_FLUSH;
    case BIN_APPENDQ: return BIN_APPEND;
    case BIN_PREPENDQ: return BIN_PREPEND;
    case BIN_GETQ: return BIN_GET;
    case BIN_GETKQ: return BIN_GETK;
    case BIN_GATQ: return BIN_GAT;
    case BIN_GATKQ: return BIN_GATK;
    default: return opcode;
    }
}

bool bin_lengths_fit(const struct bin_header *h)
{
    return h->keylen <= h->bodylen &&
           (uint64_t)h->keylen + h->extlen <= h->bodylen;
}

enum bin_verdict bin_check(const struct bin_header *h, size_t key_max)
{
    uint32_t key = h->keylen, ext = h->extlen, body = h->bodylen;
    bool ok;

    if (key > key_max) {
        return BIN_PROTOCOL_ERROR;
    }
    switch (bin_loud_opcode(h->opcode)) {
    case BIN_VERSION:
    case BIN_NOOP:
    case BIN_QUIT:
    case BIN_SASL_LIST_MECHS:
        ok = ext == 0 && key == 0 && body == 0;
        break;
    case BIN_FLUSH:
        ok = key == 0 && body == ext && (ext == 0 || ext == 4);
        break;
    case BIN_SET:
    case BIN_ADD:
    case BIN_REPLACE:
        ok = ext == 8 && key != 0 && body >= key + 8;
        break;
    case BIN_GET:
    case BIN_GETK:
    case BIN_DELETE:
        ok = ext == 0 && key > 0 && body == key;
        break;
    case BIN_INCREMENT:
    case BIN_DECREMENT:
        ok = key > 0 && ext == 20 && body == key + ext;
        break;
    case BIN_APPEND:
    case BIN_PREPEND:
        ok = key > 0 && ext == 0;
        break;
    case BIN_STAT:
        ok = ext == 0;
        break;
    case BIN_SASL_AUTH:
    case BIN_SASL_STEP:
        ok = ext == 0 && key != 0;
        break;
    case BIN_TOUCH:
    case BIN_GAT:
    case BIN_GATK:
        ok = ext == 4 && key != 0;
        break;
    default:
        return BIN_UNKNOWN;
    }
    return ok ? BIN_RUN : BIN_PROTOCOL_ERROR;
}
