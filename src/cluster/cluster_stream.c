/*
 * cluster_stream: the gossip core's reliable transport (cluster_stream.h).
 *
 * A stream is one TCP connection carrying one length-prefixed message
 * each way. Connecting, reading and writing never block; a stream that
 * stalls is closed after the core's stream timeout, measured over the
 * whole exchange (a peer trickling a byte at a time cannot keep one open).
 * Inbound streams are bounded in number (the oldest gives way) and in the
 * input they may buffer between them, which grows only as bytes arrive.
 *
 * Thread safety: none; everything runs on the gossip thread's loop.
 */
#include "config.h"
#include "cluster/cluster_stream.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "cluster/cluster.h"
#include "cluster/cluster_addr.h"

#define STREAM_MAX ((16u << 20) + 30) /* the core's largest message, sealed */
#define STREAM_CHUNK 65536        /* input buffers grow as bytes arrive */
#define INBOUND_MAX 32            /* concurrent inbound streams */
#define INBOUND_BYTES (64u << 20) /* input buffered by them, in all */
#define ACCEPT_PAUSE_MS 100       /* out of descriptors: retry after */

struct stream {
    struct stream *next;
    int fd;
    struct event *ev;
    bool outbound;
    uint64_t id;                  /* outbound: the core's stream id */
    struct gossip_addr peer;
    uint64_t deadline_ns;         /* the whole exchange, not idle time */
    uint8_t *out;                 /* length prefix + message */
    size_t out_len, out_off;
    bool writing;
    uint8_t hdr[4];
    size_t hdr_got;
    uint8_t *in;
    size_t in_len, in_got, in_cap;
};

static struct {
    struct gossip *g;
    struct event_base *base;
    struct event *accept_ev;
    uint64_t timeout_ns;
    void (*after_core)(void);
    struct stream *streams;
    unsigned inbound;             /* open inbound streams */
    size_t inbound_bytes;         /* their input buffers */
} st;

static void stream_close(struct stream *s)
{
    struct stream **pp;

    for (pp = &st.streams; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == s) {
            *pp = s->next;
            break;
        }
    }
    if (!s->outbound) {
        st.inbound--;
        st.inbound_bytes -= s->in_cap;
    }
    event_free(s->ev);
    close(s->fd);
    free(s->out);
    free(s->in);
    free(s);
}

static void stream_failed(struct stream *s)
{
    if (s->outbound) {
        gossip_on_stream_failed(st.g, s->id, cluster_now_ns());
    }
    stream_close(s);
    st.after_core();
}

static int set_output(struct stream *s, const uint8_t *buf, size_t len)
{
    s->out = malloc(4 + len);
    if (s->out == NULL) {
        return -1;
    }
    s->out[0] = (uint8_t)(len >> 24);
    s->out[1] = (uint8_t)(len >> 16);
    s->out[2] = (uint8_t)(len >> 8);
    s->out[3] = (uint8_t)len;
    memcpy(s->out + 4, buf, len);
    s->out_len = 4 + len;
    s->out_off = 0;
    s->writing = true;
    return 0;
}

static void rearm(struct stream *s);

static void reply_inbound(void *arg, const uint8_t *buf, size_t len)
{
    struct stream *s = arg;

    if (set_output(s, buf, len) != 0) {
        s->writing = false;
    }
}

/* A whole message arrived on s. */
static void stream_message(struct stream *s)
{
    uint64_t now = cluster_now_ns();

    if (s->outbound) {
        gossip_on_stream_reply(st.g, s->id, s->in, s->in_len, now);
        stream_close(s);
        st.after_core();
        return;
    }
    gossip_on_stream(st.g, &s->peer, s->in, s->in_len, now, reply_inbound, s);
    st.after_core();
    if (!s->writing) {
        stream_close(s);          /* the core had nothing to say */
        return;
    }
    rearm(s);
}

static void on_stream(evutil_socket_t fd, short what, void *arg)
{
    struct stream *s = arg;
    ssize_t n;

    /* A peer trickling a byte at a time would restart an idle timeout
     * forever: the exchange as a whole has a deadline. */
    if ((what & EV_TIMEOUT) || cluster_now_ns() > s->deadline_ns) {
        stream_failed(s);
        return;
    }
    if (s->writing) {
        n = write(fd, s->out + s->out_off, s->out_len - s->out_off);
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            return;
        }
        if (n <= 0) {
            stream_failed(s);
            return;
        }
        s->out_off += (size_t)n;
        if (s->out_off < s->out_len) {
            return;
        }
        s->writing = false;
        if (!s->outbound) {
            stream_close(s);      /* reply sent: done */
            return;
        }
        rearm(s);                 /* now wait for the reply */
        return;
    }
    if (s->hdr_got < 4) {
        n = read(fd, s->hdr + s->hdr_got, 4 - s->hdr_got);
    } else {
        /* Memory follows the bytes actually received, so announcing a
         * large message costs a peer as much as sending it. */
        if (s->in_got == s->in_cap) {
            size_t cap = s->in_cap * 2 < s->in_len ? s->in_cap * 2 : s->in_len;
            uint8_t *grown;

            if (!s->outbound &&
                st.inbound_bytes + (cap - s->in_cap) > INBOUND_BYTES) {
                stream_failed(s); /* inbound input is bounded in all */
                return;
            }
            grown = realloc(s->in, cap);
            if (grown == NULL) {
                stream_failed(s);
                return;
            }
            if (!s->outbound) {
                st.inbound_bytes += cap - s->in_cap;
            }
            s->in = grown;
            s->in_cap = cap;
        }
        n = read(fd, s->in + s->in_got, s->in_cap - s->in_got);
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        return;
    }
    if (n <= 0) {
        stream_failed(s);
        return;
    }
    if (s->hdr_got < 4) {
        s->hdr_got += (size_t)n;
        if (s->hdr_got < 4) {
            return;
        }
        s->in_len = (size_t)s->hdr[0] << 24 | (size_t)s->hdr[1] << 16 |
                    (size_t)s->hdr[2] << 8 | s->hdr[3];
        if (s->in_len == 0 || s->in_len > STREAM_MAX ||
            (s->in = malloc(s->in_len < STREAM_CHUNK ? s->in_len
                                                     : STREAM_CHUNK)) == NULL) {
            stream_failed(s);
            return;
        }
        s->in_cap = s->in_len < STREAM_CHUNK ? s->in_len : STREAM_CHUNK;
        if (!s->outbound) {
            st.inbound_bytes += s->in_cap;
        }
        return;
    }
    s->in_got += (size_t)n;
    if (s->in_got == s->in_len) {
        stream_message(s);
    }
}

static void rearm(struct stream *s)
{
    struct timeval tv;

    tv.tv_sec = (time_t)(st.timeout_ns / 1000000000u);
    tv.tv_usec = (suseconds_t)(st.timeout_ns % 1000000000u / 1000);
    event_del(s->ev);
    event_assign(s->ev, st.base, s->fd,
                 (short)((s->writing ? EV_WRITE : EV_READ) | EV_PERSIST),
                 on_stream, s);
    event_add(s->ev, &tv);
}

static struct stream *stream_create(int fd, bool outbound)
{
    struct stream *s = calloc(1, sizeof(*s));

    if (s == NULL) {
        return NULL;
    }
    s->fd = fd;
    s->outbound = outbound;
    s->deadline_ns = cluster_now_ns() + st.timeout_ns;
    s->ev = event_new(st.base, fd, EV_READ, on_stream, s);
    if (s->ev == NULL) {
        free(s);
        return NULL;
    }
    s->next = st.streams;
    st.streams = s;
    return s;
}

/* A stream the core opened could not even start: tell it from the loop,
 * not from inside the callback (the core must not be re-entered). */
struct failed_open {
    uint64_t id;
};

static void report_failed_open(evutil_socket_t fd, short what, void *arg)
{
    struct failed_open *f = arg;

    (void)fd;
    (void)what;
    gossip_on_stream_failed(st.g, f->id, cluster_now_ns());
    free(f);
    st.after_core();
}

void cluster_stream_open(void *ctx, uint64_t id, const struct gossip_addr *to,
                         const uint8_t *buf, size_t len)
{
    struct sockaddr_storage ss;
    socklen_t sl = cluster_addr_to_sockaddr(to, &ss);
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
                    0);
    struct stream *s = NULL;

    (void)ctx;
    if (fd >= 0 && (connect(fd, (struct sockaddr *)&ss, sl) == 0 ||
                    errno == EINPROGRESS)) {
        s = stream_create(fd, true);
    }
    if (s != NULL && set_output(s, buf, len) == 0) {
        s->id = id;
        s->peer = *to;
        rearm(s);
        return;
    }
    if (s != NULL) {
        stream_close(s);
    } else if (fd >= 0) {
        close(fd);
    }
    {
        struct failed_open *f = malloc(sizeof(*f));
        struct timeval now = { 0, 0 };

        if (f != NULL) {
            f->id = id;
            event_base_once(st.base, -1, EV_TIMEOUT, report_failed_open, f,
                            &now);
        }
    }
}

static void resume_accept(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    event_add(st.accept_ev, NULL);
}

/* The inbound stream that has been open longest. */
static struct stream *oldest_inbound(void)
{
    struct stream *s, *old = NULL;

    for (s = st.streams; s != NULL; s = s->next) {
        if (!s->outbound && (old == NULL || s->deadline_ns < old->deadline_ns)) {
            old = s;
        }
    }
    return old;
}

static void on_accept(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    (void)arg;
    for (;;) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        int c = accept4(fd, (struct sockaddr *)&ss, &sl,
                        SOCK_NONBLOCK | SOCK_CLOEXEC);
        struct stream *s;

        if (c < 0) {
            if (errno == EMFILE || errno == ENFILE) {
                /* The listener stays readable: pause instead of spinning. */
                struct timeval tv = { 0, ACCEPT_PAUSE_MS * 1000 };

                event_del(st.accept_ev);
                event_base_once(st.base, -1, EV_TIMEOUT, resume_accept, NULL,
                                &tv);
            }
            return;
        }
        if (st.inbound >= INBOUND_MAX) {
            /* Full: the oldest goes. A real exchange takes milliseconds,
             * so connections held open to fill the slots are the ones
             * that lose them, not the next join. */
            stream_close(oldest_inbound());
        }
        s = stream_create(c, false);
        if (s == NULL) {
            close(c);
            continue;
        }
        st.inbound++;
        cluster_addr_from_sockaddr((struct sockaddr *)&ss, &s->peer);
        rearm(s);
    }
}

int cluster_stream_setup(struct event_base *base, struct gossip *g,
                         int listen_fd, uint64_t timeout_ns,
                         void (*after_core)(void))
{
    st.g = g;
    st.base = base;
    st.timeout_ns = timeout_ns;
    st.after_core = after_core;
    st.accept_ev = event_new(base, listen_fd, EV_READ | EV_PERSIST,
                             on_accept, NULL);
    if (st.accept_ev == NULL) {
        return -1;
    }
    return event_add(st.accept_ev, NULL);
}

void cluster_stream_teardown(void)
{
    while (st.streams != NULL) {
        stream_close(st.streams);
    }
    if (st.accept_ev != NULL) {
        event_free(st.accept_ev);
    }
    memset(&st, 0, sizeof(st));
}
