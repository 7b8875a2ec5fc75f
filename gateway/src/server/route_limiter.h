// The counting behind a route's limit-conn and limit-count plugins, checked on each WebSocket
// upgrade once the client is authenticated (a consumer_name key needs its consumer).
//
// Threading: admit() is called from any I/O thread; the state is behind one mutex per route.
// Lifetime: an Admission's hold keeps the limiter alive and gives the connection's place back
// when it is destroyed (with the WebSocket session that owns it).
#pragma once

#include "config/route_limits.h"

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

namespace kpg::server {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

class RouteLimiter : public std::enable_shared_from_this<RouteLimiter> {
 public:
  explicit RouteLimiter(config::RouteLimits limits) : limits_(std::move(limits)) {}

  const config::RouteLimits& limits() const noexcept { return limits_; }

  /// Admitted: `hold` counts the connection until destroyed; `headers` go on the 101 answer.
  struct Admission {
    std::shared_ptr<void> hold;
    HeaderList headers;
  };
  struct Refusal {
    int status = 503;
    std::string body;  ///< {"error_msg": ...}
    HeaderList headers;
    const char* plugin = "";  ///< for the log
  };
  /// `address`: the client's IP address; `consumer`: who it authenticated as (may be empty).
  std::variant<Admission, Refusal> admit(
      std::string_view address, std::string_view consumer,
      std::chrono::steady_clock::time_point now = std::chrono::steady_clock::now());

  /// Keys with open connections and keys with a live window (for tests and bounds).
  std::size_t tracked_keys() const;

 private:
  struct Window {
    std::chrono::steady_clock::time_point start;
    int used = 0;
  };
  // Windows are forgotten once over; beyond this many live ones (distinct clients within one
  // window) upgrades are refused rather than memory grown without bound.
  static constexpr std::size_t kMaxWindows = 1'000'000;

  void release(const std::string& key);

  const config::RouteLimits limits_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, int> open_;        // limit-conn: open connections per key
  std::unordered_map<std::string, Window> windows_;  // limit-count
  std::size_t sweep_at_ = 1024;  // windows_ size at which ended windows are swept
};

}  // namespace kpg::server
