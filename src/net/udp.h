/*
 * udp: memcached's UDP framing (-U).
 *
 * Every datagram starts with 8 bytes: request id, sequence number, total
 * datagrams, reserved (big endian). A request must fit one datagram (the
 * total must be 1; memcached drops anything else without a word). Each
 * response is sent as its own run of datagrams, each at most 1400 bytes,
 * numbered 0..n-1 of n and carrying the request's id, exactly as memcached
 * 1.6 frames them.
 */
#ifndef RC_NET_UDP_H
#define RC_NET_UDP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define UDP_HEADER_SIZE 8
#define UDP_MAX_PAYLOAD 1400      /* header included */
#define UDP_READ_SIZE 65536

/* Whether a received datagram is a request to serve; its id if so. */
bool udp_request_ok(const char *buf, size_t len, uint16_t *id);

/* Sends the responses in iov[0..niov): response i starts at iov index
 * starts[i] (starts ascending, starts[0] == 0). An empty response sends
 * nothing, unless keep (NULL: none) says keep[i], when it is a header
 * announcing zero datagrams, as memcached sends. Returns bytes sent. */
size_t udp_send_responses(int fd, const struct sockaddr *peer,
                          socklen_t peerlen, uint16_t id,
                          const struct iovec *iov, size_t niov,
                          const size_t *starts, const uint8_t *keep,
                          size_t nstarts);

/* What memcached sends when a UDP request asks to close (quit): a header
 * announcing zero datagrams. */
void udp_send_close(int fd, const struct sockaddr *peer, socklen_t peerlen,
                    uint16_t id);

#ifdef __cplusplus
}
#endif
#endif
