// Bytes that many connections hold together, against one limit: what keeps the gateway's memory
// bounded where each connection's own bound, times the number of connections, would not.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>

namespace kpg::pubsub {

/// Threading: every method may be called from any thread. Holders add what they take and give
/// back exactly that (the count never goes below zero, a holder's mistake aside); over_limit()
/// tells whether the total is past the limit, so the holder that took last can give up.
class MemoryBudget {
 public:
  explicit MemoryBudget(std::size_t limit) : limit_(limit) {}
  MemoryBudget(const MemoryBudget&) = delete;
  MemoryBudget& operator=(const MemoryBudget&) = delete;

  /// Set before anything is taken (configuration).
  void set_limit(std::size_t limit) { limit_.store(limit, std::memory_order_relaxed); }
  std::size_t limit() const { return limit_.load(std::memory_order_relaxed); }

  void take(std::size_t bytes) { used_.fetch_add(bytes, std::memory_order_relaxed); }
  void give_back(std::size_t bytes) {
    std::size_t now = used_.load(std::memory_order_relaxed);
    while (
        !used_.compare_exchange_weak(now, now - std::min(now, bytes), std::memory_order_relaxed)) {
    }
  }
  std::size_t used() const { return used_.load(std::memory_order_relaxed); }
  bool over_limit() const { return used() > limit(); }

 private:
  std::atomic<std::size_t> limit_;
  std::atomic<std::size_t> used_{0};
};

}  // namespace kpg::pubsub
