// Lets the mock cluster listen on another loopback address while advertising 127.0.0.1, so that
// a TLS front (stunnel) can take 127.0.0.1:PORT and forward to the mock: librdkafka's mock has
// no TLS listener and no way to change what it advertises.
#pragma once

#include <string>

namespace kpg::devkafka {

/// From now on, sockets this process binds to 127.0.0.1 are bound to `address` instead (an
/// IPv4 loopback such as 127.0.0.2), and getsockname() reports them as 127.0.0.1.
/// Returns false when `address` is not an IPv4 loopback address.
bool redirect_loopback_listeners(const std::string& address);

/// The next listener this process binds to 127.0.0.1 with port 0 gets `port` instead (with
/// SO_REUSEADDR), so that a broker restarted by a test comes back where its clients look for it.
/// Returns false when `port` is not 1-65535.
bool fix_first_listener_port(int port);

}  // namespace kpg::devkafka
