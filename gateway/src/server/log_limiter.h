// Rate limit for log lines about events a client (or the operating system) can repeat at will:
// refused connections, accept errors, skipped frames. Without it one client sending text frames
// in a loop writes a log line per frame.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace kpg::server {

/// Per key (a client address, an error kind): the first event is logged, later ones only once per
/// interval, with how many happened since the last line. Thread-safe; holds at most `max_keys`
/// keys (beyond that, new keys share one bucket), so a flood of addresses cannot grow it.
class LogLimiter {
 public:
  using Clock = std::chrono::steady_clock;

  explicit LogLimiter(Clock::duration interval = std::chrono::seconds(1),
                      std::size_t max_keys = 1024)
      : interval_(interval), max_keys_(max_keys) {}

  /// Counts one event under `key`. Returns the number of events to report (this one and those
  /// suppressed since the last line) when a line is due, nullopt when it is not.
  std::optional<std::uint64_t> admit(std::string_view key, Clock::time_point now = Clock::now()) {
    std::lock_guard lock(mutex_);
    std::string name(key);
    if (!buckets_.count(name) && buckets_.size() >= max_keys_) {
      forget_quiet(now);
      if (buckets_.size() >= max_keys_) name = kOverflowKey;
    }
    auto [it, inserted] = buckets_.try_emplace(std::move(name));
    if (inserted) {
      it->second.last_line = now;
      return 1;
    }
    Bucket& b = it->second;
    ++b.count;
    if (now - b.last_line < interval_) return std::nullopt;
    const std::uint64_t events = b.count;
    b.count = 0;
    b.last_line = now;
    return events;
  }

 private:
  static constexpr std::string_view kOverflowKey = "\x01overflow";

  struct Bucket {
    Clock::time_point last_line{};
    std::uint64_t count = 0;  ///< events not yet reported
  };

  // Drops keys whose last line is more than an interval old and that have nothing unreported.
  void forget_quiet(Clock::time_point now) {
    for (auto it = buckets_.begin(); it != buckets_.end();) {
      if (it->second.count == 0 && now - it->second.last_line >= interval_) {
        it = buckets_.erase(it);
      } else {
        ++it;
      }
    }
  }

  std::mutex mutex_;
  const Clock::duration interval_;
  const std::size_t max_keys_;
  std::unordered_map<std::string, Bucket> buckets_;
};

}  // namespace kpg::server
