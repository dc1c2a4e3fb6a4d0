// Helpers for the suites that speak memcached's UDP framing (udp_test,
// route_udp_test): a free port, a client that sends one framed request and
// collects the datagrams that come back, and a printable form of them to
// compare with memcached's.
#ifndef RC_T_DAEMON_UDP_UTIL_H
#define RC_T_DAEMON_UDP_UTIL_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "harness.h"

namespace rc_udp {

// A UDP port on 127.0.0.1 that was free a moment ago.
inline int FreeUdpPort() {
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, (sockaddr*)&a, sizeof(a));
  socklen_t len = sizeof(a);
  getsockname(fd, (sockaddr*)&a, &len);
  close(fd);
  return ntohs(a.sin_port);
}

struct Datagram {
  uint16_t id, seq, total, reserved;
  std::string payload;
};

class UdpClient {
 public:
  explicit UdpClient(int port) : port_(port) {
    fd_ = socket(AF_INET, SOCK_DGRAM, 0);
    // Room for a few hundred small replies (each costs a kernel buffer).
    int size = 4 << 20;
    setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
  }
  ~UdpClient() { close(fd_); }

  // Sends one framed request and collects the datagrams that come back:
  // the first within first_ms, the next ones until none arrives for
  // idle_ms.
  std::vector<Datagram> Ask(const std::string& payload, uint16_t id = 0x1234, uint16_t seq = 0,
                            uint16_t total = 1, uint16_t reserved = 0, int idle_ms = 150,
                            int first_ms = 150) {
    Send(payload, id, seq, total, reserved);
    return Collect(first_ms, idle_ms);
  }

  void Send(const std::string& payload, uint16_t id = 0x1234, uint16_t seq = 0,
            uint16_t total = 1, uint16_t reserved = 0) {
    std::string d(8, '\0');
    uint16_t f[4] = {id, seq, total, reserved};
    for (int i = 0; i < 4; i++) {
      d[2 * i] = (char)(f[i] >> 8);
      d[2 * i + 1] = (char)f[i];
    }
    d += payload;
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port_);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ((ssize_t)d.size(), sendto(fd_, d.data(), d.size(), 0, (sockaddr*)&a, sizeof(a)));
  }

  // The datagrams that arrive: the first within first_ms, the next ones
  // until none arrives for idle_ms.
  std::vector<Datagram> Collect(int first_ms = 150, int idle_ms = 150) {
    std::vector<Datagram> out;
    pollfd p{fd_, POLLIN, 0};
    while (poll(&p, 1, out.empty() ? first_ms : idle_ms) == 1) {
      char buf[70000];
      ssize_t n = recv(fd_, buf, sizeof(buf), 0);
      if (n < 8) break;
      auto u16 = [&](int at) { return (uint16_t)((uint8_t)buf[at] << 8 | (uint8_t)buf[at + 1]); };
      out.push_back({u16(0), u16(2), u16(4), u16(6), std::string(buf + 8, (size_t)n - 8)});
    }
    return out;
  }

 private:
  int fd_;
  int port_;
};

inline std::string Show(const std::vector<Datagram>& ds) {
  std::string s;
  for (const auto& d : ds) {
    std::string p = d.payload;
    size_t v = p.find("VERSION ");
    if (v != std::string::npos) p = p.substr(0, v) + "VERSION <v>\r\n";
    s += "[" + std::to_string(d.id) + " " + std::to_string(d.seq) + "/" +
         std::to_string(d.total) + " " + std::to_string(d.reserved) + "] " +
         rc_test::escape_bytes(p) + "\n";
  }
  return s;
}

}  // namespace rc_udp

#endif
