#include "listen_redirect.h"

#include <arpa/inet.h>
#include <dlfcn.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <atomic>
#include <cstdint>
#include <cstring>

namespace {

std::atomic<in_addr_t> g_redirect{0};  // network order; 0 = off
std::atomic<int> g_fixed_port{0};      // host order; 0 = off; taken by the first listener

in_addr_t loopback() {
  return htonl(INADDR_LOOPBACK);
}

}  // namespace

namespace kpg::devkafka {

bool redirect_loopback_listeners(const std::string& address) {
  in_addr parsed{};
  if (inet_pton(AF_INET, address.c_str(), &parsed) != 1) return false;
  if ((ntohl(parsed.s_addr) >> 24) != 127) return false;
  g_redirect = parsed.s_addr;
  return true;
}

bool fix_first_listener_port(int port) {
  if (port < 1 || port > 65535) return false;
  g_fixed_port = port;
  return true;
}

}  // namespace kpg::devkafka

// Interposes libc's bind/getsockname for this executable and the libraries it loads (the
// executable's definitions come first in symbol lookup). Off unless redirect_loopback_listeners
// was called; then only IPv4 127.0.0.1 addresses are touched.
extern "C" int bind(int fd, const sockaddr* addr, socklen_t len) {
  using BindFn = int (*)(int, const sockaddr*, socklen_t);
  static const auto real_bind = reinterpret_cast<BindFn>(dlsym(RTLD_NEXT, "bind"));
  const in_addr_t target = g_redirect.load();
  if (addr && addr->sa_family == AF_INET && len >= sizeof(sockaddr_in)) {
    sockaddr_in copy;
    std::memcpy(&copy, addr, sizeof copy);
    if (copy.sin_addr.s_addr == loopback()) {
      bool changed = false;
      if (target != 0) {
        copy.sin_addr.s_addr = target;
        changed = true;
      }
      if (copy.sin_port == 0) {
        if (const int port = g_fixed_port.exchange(0); port != 0) {
          // A restarted broker takes its predecessor's port at once (TIME_WAIT notwithstanding).
          const int on = 1;
          ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
          copy.sin_port = htons(static_cast<std::uint16_t>(port));
          changed = true;
        }
      }
      if (changed) return real_bind(fd, reinterpret_cast<const sockaddr*>(&copy), sizeof copy);
    }
  }
  return real_bind(fd, addr, len);
}

extern "C" int getsockname(int fd, sockaddr* addr, socklen_t* len) {
  using GetsocknameFn = int (*)(int, sockaddr*, socklen_t*);
  static const auto real_getsockname =
      reinterpret_cast<GetsocknameFn>(dlsym(RTLD_NEXT, "getsockname"));
  const int rc = real_getsockname(fd, addr, len);
  const in_addr_t target = g_redirect.load();
  if (rc == 0 && target != 0 && addr && addr->sa_family == AF_INET && *len >= sizeof(sockaddr_in)) {
    auto* in = reinterpret_cast<sockaddr_in*>(addr);
    if (in->sin_addr.s_addr == target) in->sin_addr.s_addr = loopback();
  }
  return rc;
}
