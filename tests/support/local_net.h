// Loopback helpers for tests that start servers of their own (TLS fronts, brokers).
#pragma once

#include <chrono>
#include <string>

namespace kpg::testing {

/// True when something accepts TCP connections on 127.0.0.1:port.
bool port_open(int port);

/// Waits (polling) until 127.0.0.1:port accepts connections; false after `timeout`.
bool wait_for_port(int port, std::chrono::milliseconds timeout);

/// A loopback socket bound to a free port and never listening: connections to `*port` are
/// refused for as long as the returned descriptor stays open. -1 on failure.
int bind_refusing_port(int* port);

/// A port that was free a moment ago (for servers that cannot be told to pick one themselves).
int free_port();

/// Runs a shell command with its output discarded; true when it exited 0.
bool run_quietly(const std::string& command);

}  // namespace kpg::testing
