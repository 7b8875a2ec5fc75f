#include "listen_redirect.h"

#include <arpa/inet.h>
#include <dlfcn.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <atomic>
#include <cstring>

namespace {

std::atomic<in_addr_t> g_redirect{0};  // network order; 0 = off

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

}  // namespace kpg::devkafka

// Interposes libc's bind/getsockname for this executable and the libraries it loads (the
// executable's definitions come first in symbol lookup). Off unless redirect_loopback_listeners
// was called; then only IPv4 127.0.0.1 addresses are touched.
extern "C" int bind(int fd, const sockaddr* addr, socklen_t len) {
  using BindFn = int (*)(int, const sockaddr*, socklen_t);
  static const auto real_bind = reinterpret_cast<BindFn>(dlsym(RTLD_NEXT, "bind"));
  const in_addr_t target = g_redirect.load();
  if (target != 0 && addr && addr->sa_family == AF_INET && len >= sizeof(sockaddr_in)) {
    sockaddr_in copy;
    std::memcpy(&copy, addr, sizeof copy);
    if (copy.sin_addr.s_addr == loopback()) {
      copy.sin_addr.s_addr = target;
      return real_bind(fd, reinterpret_cast<const sockaddr*>(&copy), sizeof copy);
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
