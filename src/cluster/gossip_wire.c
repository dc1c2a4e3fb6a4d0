/*
 * gossip_wire: the message codec (layouts in gossip_wire.h).
 *
 * Decoding is a cursor over [p, end) whose every read checks the remaining
 * length first; a failed read poisons the cursor, and the caller checks the
 * poison once at the end, together with "consumed everything". Names must
 * not contain NUL, so a decoded name is a C string of exactly its length.
 */
#include "cluster/gossip_wire.h"

#include <string.h>

struct rd {
    const uint8_t *p;
    const uint8_t *end;
    bool bad;
};

static bool rd_need(struct rd *r, size_t n)
{
    if (r->bad || (size_t)(r->end - r->p) < n) {
        r->bad = true;
        return false;
    }
    return true;
}

static uint8_t rd_u8(struct rd *r)
{
    if (!rd_need(r, 1)) {
        return 0;
    }
    return *r->p++;
}

static uint16_t rd_u16(struct rd *r)
{
    uint16_t v;

    if (!rd_need(r, 2)) {
        return 0;
    }
    v = (uint16_t)(r->p[0] << 8 | r->p[1]);
    r->p += 2;
    return v;
}

static uint32_t rd_u32(struct rd *r)
{
    uint32_t v;

    if (!rd_need(r, 4)) {
        return 0;
    }
    v = (uint32_t)r->p[0] << 24 | (uint32_t)r->p[1] << 16 |
        (uint32_t)r->p[2] << 8 | r->p[3];
    r->p += 4;
    return v;
}

static uint64_t rd_u64(struct rd *r)
{
    uint64_t hi = rd_u32(r);

    return hi << 32 | rd_u32(r);
}

static void rd_name(struct rd *r, char out[GOSSIP_NAME_MAX + 1])
{
    uint8_t n = rd_u8(r);

    out[0] = '\0';
    if (r->bad) {
        return;
    }
    if (n == 0 || n > GOSSIP_NAME_MAX || !rd_need(r, n) ||
        !gossip_name_valid((const char *)r->p, n)) {
        r->bad = true;
        return;
    }
    memcpy(out, r->p, n);
    out[n] = '\0';
    r->p += n;
}

static void rd_addr(struct rd *r, struct gossip_addr *a)
{
    memset(a, 0, sizeof(*a));
    a->family = rd_u8(r);
    if (r->bad) {
        return;
    }
    if (a->family != 4 && a->family != 6) {
        r->bad = true;
        return;
    }
    size_t n = a->family == 4 ? 4 : 16;
    if (!rd_need(r, n)) {
        return;
    }
    memcpy(a->ip, r->p, n);
    r->p += n;
    a->port = rd_u16(r);
}

static const uint8_t *rd_meta(struct rd *r, uint8_t *len)
{
    const uint8_t *p;

    *len = rd_u8(r);
    if (r->bad) {
        return NULL;
    }
    if (*len > GOSSIP_META_MAX || !rd_need(r, *len)) {
        r->bad = true;
        return NULL;
    }
    p = *len ? r->p : NULL;
    r->p += *len;
    return p;
}

void gossip_wbuf_init(struct gossip_wbuf *w, uint8_t *p, size_t cap)
{
    w->p = p;
    w->len = 0;
    w->cap = cap;
    w->overflow = false;
}

static void wr_bytes(struct gossip_wbuf *w, const void *src, size_t n)
{
    if (w->overflow || w->cap - w->len < n) {
        w->overflow = true;
        return;
    }
    memcpy(w->p + w->len, src, n);
    w->len += n;
}

static void wr_u8(struct gossip_wbuf *w, uint8_t v)
{
    wr_bytes(w, &v, 1);
}

static void wr_u16(struct gossip_wbuf *w, uint16_t v)
{
    uint8_t b[2] = { (uint8_t)(v >> 8), (uint8_t)v };

    wr_bytes(w, b, 2);
}

static void wr_u32(struct gossip_wbuf *w, uint32_t v)
{
    uint8_t b[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16),
                     (uint8_t)(v >> 8), (uint8_t)v };

    wr_bytes(w, b, 4);
}

static void wr_u64(struct gossip_wbuf *w, uint64_t v)
{
    wr_u32(w, (uint32_t)(v >> 32));
    wr_u32(w, (uint32_t)v);
}

/* An encoder must not emit what the decoder would refuse: invalid names,
 * families or meta lengths poison the buffer instead. */
static void wr_name(struct gossip_wbuf *w, const char *name)
{
    size_t n = strnlen(name, GOSSIP_NAME_MAX + 1);

    if (n == 0 || n > GOSSIP_NAME_MAX) {
        w->overflow = true;
        return;
    }
    wr_u8(w, (uint8_t)n);
    wr_bytes(w, name, n);
}

static void wr_addr(struct gossip_wbuf *w, const struct gossip_addr *a)
{
    if (a->family != 4 && a->family != 6) {
        w->overflow = true;
        return;
    }
    wr_u8(w, a->family);
    wr_bytes(w, a->ip, a->family == 4 ? 4 : 16);
    wr_u16(w, a->port);
}

static void wr_meta(struct gossip_wbuf *w, const uint8_t *meta, size_t len)
{
    if (len > GOSSIP_META_MAX) {
        w->overflow = true;
        return;
    }
    wr_u8(w, (uint8_t)len);
    if (len) {
        wr_bytes(w, meta, len);
    }
}

static size_t name_size(const char *name)
{
    return 1 + strnlen(name, GOSSIP_NAME_MAX + 1);
}

static size_t addr_size(const struct gossip_addr *a)
{
    return a->family == 6 ? 19 : 7;
}

size_t gossip_wire_msg_size(const struct gossip_msg *m)
{
    switch (m->type) {
    case GOSSIP_MSG_PING:
    case GOSSIP_MSG_ACK:
    case GOSSIP_MSG_NACK:
        return 9 + name_size(m->node);
    case GOSSIP_MSG_PING_REQ:
        return 10 + name_size(m->node) + addr_size(&m->addr);
    case GOSSIP_MSG_ALIVE:
        return 5 + name_size(m->node) + addr_size(&m->addr) +
               addr_size(&m->client_addr) + 3 + m->meta_len;
    case GOSSIP_MSG_SUSPECT:
    case GOSSIP_MSG_DEAD:
        return 5 + name_size(m->node) + name_size(m->from);
    default:
        return 0;
    }
}

bool gossip_wire_put_msg(struct gossip_wbuf *w, const struct gossip_msg *m)
{
    size_t mark = w->len;

    if (w->overflow) {
        return false;
    }
    wr_u8(w, m->type);
    switch (m->type) {
    case GOSSIP_MSG_PING:
    case GOSSIP_MSG_ACK:
    case GOSSIP_MSG_NACK:
        wr_u64(w, m->seq);
        wr_name(w, m->node);
        break;
    case GOSSIP_MSG_PING_REQ:
        wr_u64(w, m->seq);
        wr_u8(w, m->want_nack ? 1 : 0);
        wr_name(w, m->node);
        wr_addr(w, &m->addr);
        break;
    case GOSSIP_MSG_ALIVE:
        wr_u32(w, m->incarnation);
        wr_name(w, m->node);
        wr_addr(w, &m->addr);
        wr_addr(w, &m->client_addr);
        wr_u16(w, m->weight);
        wr_meta(w, m->meta, m->meta_len);
        break;
    case GOSSIP_MSG_SUSPECT:
    case GOSSIP_MSG_DEAD:
        wr_u32(w, m->incarnation);
        wr_name(w, m->node);
        wr_name(w, m->from);
        break;
    default:
        w->overflow = true;
        break;
    }
    if (w->overflow) {
        w->len = mark;
        w->overflow = false;
        return false;
    }
    return true;
}

bool gossip_wire_put_pp_header(struct gossip_wbuf *w, bool join,
                               uint32_t count)
{
    if (count > GOSSIP_WIRE_MAX_STATES) {
        w->overflow = true;
    }
    wr_u8(w, GOSSIP_MSG_PUSH_PULL);
    wr_u8(w, join ? 1 : 0);
    wr_u32(w, count);
    return !w->overflow;
}

bool gossip_wire_put_state(struct gossip_wbuf *w,
                           const struct gossip_wire_state *s)
{
    if (s->state >= GOSSIP_NSTATES) {
        w->overflow = true;
    }
    wr_name(w, s->node);
    wr_u8(w, s->state);
    wr_u32(w, s->incarnation);
    wr_addr(w, &s->gossip_addr);
    wr_addr(w, &s->client_addr);
    wr_u16(w, s->weight);
    wr_meta(w, s->meta, s->meta_len);
    return !w->overflow;
}

bool gossip_wire_decode(const uint8_t *buf, size_t len, struct gossip_msg *m)
{
    struct rd r = { buf, buf + len, false };
    uint8_t flags;

    memset(m, 0, sizeof(*m));
    m->type = rd_u8(&r);
    switch (m->type) {
    case GOSSIP_MSG_PING:
    case GOSSIP_MSG_ACK:
    case GOSSIP_MSG_NACK:
        m->seq = rd_u64(&r);
        rd_name(&r, m->node);
        break;
    case GOSSIP_MSG_PING_REQ:
        m->seq = rd_u64(&r);
        flags = rd_u8(&r);
        if (flags & ~1u) {
            r.bad = true;  /* unknown flags: reserved for a later version */
        }
        m->want_nack = flags & 1;
        rd_name(&r, m->node);
        rd_addr(&r, &m->addr);
        break;
    case GOSSIP_MSG_ALIVE:
        m->incarnation = rd_u32(&r);
        rd_name(&r, m->node);
        rd_addr(&r, &m->addr);
        rd_addr(&r, &m->client_addr);
        m->weight = rd_u16(&r);
        m->meta = rd_meta(&r, &m->meta_len);
        break;
    case GOSSIP_MSG_SUSPECT:
    case GOSSIP_MSG_DEAD:
        m->incarnation = rd_u32(&r);
        rd_name(&r, m->node);
        rd_name(&r, m->from);
        break;
    default:
        return false;
    }
    return !r.bad && r.p == r.end;
}

int gossip_wire_split(const uint8_t *buf, size_t len,
                      const uint8_t *parts[GOSSIP_WIRE_MAX_PARTS],
                      size_t lens[GOSSIP_WIRE_MAX_PARTS])
{
    struct rd r = { buf, buf + len, false };
    unsigned count, i;

    if (len == 0) {
        return -1;
    }
    if (buf[0] != GOSSIP_MSG_COMPOUND) {
        parts[0] = buf;
        lens[0] = len;
        return 1;
    }
    rd_u8(&r);
    count = rd_u8(&r);
    if (r.bad || count == 0 || count > GOSSIP_WIRE_MAX_PARTS) {
        return -1;
    }
    for (i = 0; i < count; i++) {
        uint16_t n = rd_u16(&r);

        if (n == 0 || !rd_need(&r, n) || r.p[0] == GOSSIP_MSG_COMPOUND) {
            return -1;
        }
        parts[i] = r.p;
        lens[i] = n;
        r.p += n;
    }
    return r.bad || r.p != r.end ? -1 : (int)count;
}

bool gossip_wire_pp_begin(const uint8_t *buf, size_t len, bool *join,
                          struct gossip_wire_cursor *c)
{
    struct rd r = { buf, buf + len, false };
    uint8_t flags;

    if (len > GOSSIP_WIRE_STREAM_MAX || rd_u8(&r) != GOSSIP_MSG_PUSH_PULL) {
        return false;
    }
    flags = rd_u8(&r);
    c->remaining = rd_u32(&r);
    if (r.bad || (flags & ~1u) || c->remaining > GOSSIP_WIRE_MAX_STATES) {
        return false;
    }
    *join = flags & 1;
    c->p = r.p;
    c->end = r.end;
    return true;
}

bool gossip_wire_pp_next(struct gossip_wire_cursor *c,
                         struct gossip_wire_state *s)
{
    struct rd r = { c->p, c->end, false };

    if (c->remaining == 0) {
        return false;
    }
    memset(s, 0, sizeof(*s));
    rd_name(&r, s->node);
    s->state = rd_u8(&r);
    s->incarnation = rd_u32(&r);
    rd_addr(&r, &s->gossip_addr);
    rd_addr(&r, &s->client_addr);
    s->weight = rd_u16(&r);
    s->meta = rd_meta(&r, &s->meta_len);
    if (r.bad || s->state >= GOSSIP_NSTATES) {
        return false;
    }
    c->p = r.p;
    c->remaining--;
    return true;
}

bool gossip_wire_pp_check(const uint8_t *buf, size_t len)
{
    struct gossip_wire_cursor c;
    struct gossip_wire_state s;
    bool join;

    if (!gossip_wire_pp_begin(buf, len, &join, &c)) {
        return false;
    }
    while (c.remaining > 0) {
        if (!gossip_wire_pp_next(&c, &s)) {
            return false;
        }
    }
    return c.p == c.end;
}
