// A token bucket holding one second's worth of tokens: `rate` per second, with a burst of as many.
// Used for the per-connection request and produced-record allowances. Not thread-safe (one
// connection's thread).
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>

namespace kpg::pubsub {

class TokenBucket {
 public:
  /// rate 0: no bound (take() always succeeds).
  explicit TokenBucket(std::uint32_t rate)
      : rate_(rate), tokens_(rate), at_(std::chrono::steady_clock::now()) {}

  /// Takes `n` tokens; false (taking nothing) when fewer are left. More than `rate` are never
  /// there at once.
  bool take(std::uint32_t n = 1) {
    if (rate_ == 0) return true;
    const auto now = std::chrono::steady_clock::now();
    const std::chrono::duration<double> elapsed = now - at_;
    at_ = now;
    tokens_ = std::min<double>(rate_, tokens_ + elapsed.count() * rate_);
    if (tokens_ < n) return false;
    tokens_ -= n;
    return true;
  }
  std::uint32_t rate() const noexcept { return rate_; }

 private:
  std::uint32_t rate_;
  double tokens_;                             // the allowance left
  std::chrono::steady_clock::time_point at_;  // when tokens_ was last refilled
};

}  // namespace kpg::pubsub
