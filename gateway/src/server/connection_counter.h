// Counts the data plane's open connections, in total and per client address, so that limits can
// refuse new ones before they cost a file descriptor's worth of work (or the process its last
// descriptors).
#pragma once

#include "server/log_limiter.h"

#include <atomic>
#include <cstddef>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <variant>

namespace kpg::server {

struct ConnectionLimits {
  std::size_t max_connections = 10'000;
  std::size_t max_connections_per_address = 1'000;
};

class ConnectionCounter;

/// One counted connection; gives its place back when destroyed. Move-only; travels with the
/// connection from the HTTP session to the WebSocket session.
class ConnectionSlot {
 public:
  ConnectionSlot() = default;
  ConnectionSlot(ConnectionCounter* counter, std::string address)
      : counter_(counter), address_(std::move(address)) {}
  ConnectionSlot(ConnectionSlot&& other) noexcept
      : counter_(std::exchange(other.counter_, nullptr)), address_(std::move(other.address_)) {}
  ConnectionSlot& operator=(ConnectionSlot&& other) noexcept {
    if (this != &other) {
      release();
      counter_ = std::exchange(other.counter_, nullptr);
      address_ = std::move(other.address_);
    }
    return *this;
  }
  ConnectionSlot(const ConnectionSlot&) = delete;
  ConnectionSlot& operator=(const ConnectionSlot&) = delete;
  ~ConnectionSlot() { release(); }

 private:
  inline void release();

  ConnectionCounter* counter_ = nullptr;
  std::string address_;
};

/// Thread-safe. `limits` is set before the listener starts.
class ConnectionCounter {
 public:
  /// A slot for a new connection from `address` (an IP address), or the reason it is refused.
  std::variant<ConnectionSlot, const char*> try_acquire(const std::string& address) {
    std::lock_guard lock(mutex_);
    if (total_ >= limits.max_connections) return "the server is at its connection limit";
    auto& from_address = per_address_[address];  // limits are >= 1: a new entry is never refused
    if (from_address >= limits.max_connections_per_address) {
      return "too many connections from your address";
    }
    ++from_address;
    ++total_;
    return ConnectionSlot(this, address);
  }

  std::size_t open() const {
    std::lock_guard lock(mutex_);
    return total_;
  }

  /// Refused connections currently being answered with a 503; bounded so that refusing stays
  /// cheaper than serving. False when the caller should close the connection at once instead.
  bool begin_refusal() {
    if (refusals_in_progress_.fetch_add(1) < kMaxRefusalsInProgress) return true;
    refusals_in_progress_.fetch_sub(1);
    return false;
  }
  void end_refusal() { refusals_in_progress_.fetch_sub(1); }

  ConnectionLimits limits;
  /// One log line per interval per refused address.
  LogLimiter refusal_log;

 private:
  friend class ConnectionSlot;
  static constexpr int kMaxRefusalsInProgress = 64;

  void release(const std::string& address) {
    std::lock_guard lock(mutex_);
    --total_;
    if (auto it = per_address_.find(address); it != per_address_.end() && --it->second == 0) {
      per_address_.erase(it);
    }
  }

  mutable std::mutex mutex_;
  std::size_t total_ = 0;
  std::unordered_map<std::string, std::size_t> per_address_;
  std::atomic<int> refusals_in_progress_{0};
};

inline void ConnectionSlot::release() {
  if (counter_) std::exchange(counter_, nullptr)->release(address_);
}

}  // namespace kpg::server
