/*
 * udp: datagram framing (see udp.h). Payloads are copied into one
 * datagram-sized buffer each: a datagram is at most 1400 bytes, so the copy
 * costs less than the extra iovec bookkeeping would.
 */
#include "net/udp.h"

#include <errno.h>
#include <string.h>

static void put_header(char *out, uint16_t id, uint16_t seq, uint16_t total)
{
    out[0] = (char)(id >> 8);
    out[1] = (char)id;
    out[2] = (char)(seq >> 8);
    out[3] = (char)seq;
    out[4] = (char)(total >> 8);
    out[5] = (char)total;
    out[6] = 0;
    out[7] = 0;
}

bool udp_request_ok(const char *buf, size_t len, uint16_t *id)
{
    if (len <= UDP_HEADER_SIZE || buf[4] != 0 || buf[5] != 1) {
        return false;
    }
    *id = (uint16_t)((unsigned char)buf[0] << 8 | (unsigned char)buf[1]);
    return true;
}

static void send_one(int fd, const struct sockaddr *peer, socklen_t peerlen,
                     const char *buf, size_t len)
{
    /* UDP is lossy by contract: a full socket buffer drops the datagram. */
    while (sendto(fd, buf, len, 0, peer, peerlen) < 0 && errno == EINTR) {
    }
}

/* Sends iov[first..last) as one response. */
static size_t send_response(int fd, const struct sockaddr *peer,
                            socklen_t peerlen, uint16_t id,
                            const struct iovec *iov, size_t first,
                            size_t last)
{
    const size_t room = UDP_MAX_PAYLOAD - UDP_HEADER_SIZE;
    char dgram[UDP_MAX_PAYLOAD];
    size_t total = 0, i, off = 0, seq, count, sent = 0;

    for (i = first; i < last; i++) {
        total += iov[i].iov_len;
    }
    if (total == 0) {
        return 0;
    }
    count = (total + room - 1) / room;
    if (count > UINT16_MAX) {
        return 0;                 /* its datagrams could not be numbered */
    }
    i = first;
    for (seq = 0; seq < count; seq++) {
        size_t fill = 0;

        put_header(dgram, id, (uint16_t)seq, (uint16_t)count);
        while (fill < room && i < last) {
            size_t take = iov[i].iov_len - off;

            if (take > room - fill) {
                take = room - fill;
            }
            memcpy(dgram + UDP_HEADER_SIZE + fill,
                   (const char *)iov[i].iov_base + off, take);
            fill += take;
            off += take;
            if (off == iov[i].iov_len) {
                i++;
                off = 0;
            }
        }
        send_one(fd, peer, peerlen, dgram, UDP_HEADER_SIZE + fill);
        sent += UDP_HEADER_SIZE + fill;
    }
    return sent;
}

size_t udp_send_responses(int fd, const struct sockaddr *peer,
                          socklen_t peerlen, uint16_t id,
                          const struct iovec *iov, size_t niov,
                          const size_t *starts, const uint8_t *keep,
                          size_t nstarts)
{
    size_t r, sent = 0, one;

    for (r = 0; r < nstarts; r++) {
        size_t last = r + 1 < nstarts ? starts[r + 1] : niov;

        one = send_response(fd, peer, peerlen, id, iov, starts[r], last);
        if (one == 0 && keep != NULL && keep[r]) {
            udp_send_close(fd, peer, peerlen, id);   /* the same header */
            one = UDP_HEADER_SIZE;
        }
        sent += one;
    }
    return sent;
}

void udp_send_close(int fd, const struct sockaddr *peer, socklen_t peerlen,
                    uint16_t id)
{
    char hdr[UDP_HEADER_SIZE];

    put_header(hdr, id, 0, 0);
    send_one(fd, peer, peerlen, hdr, sizeof(hdr));
}
