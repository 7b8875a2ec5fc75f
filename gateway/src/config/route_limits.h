// The route plugins that bound how clients use a route, in APISIX's shapes: `limit-conn`
// (WebSocket connections open at once per client) and `limit-count` (upgrades per client in a
// fixed time window). Parsing only; the counting lives in the server layer (RouteLimiter).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>

namespace kpg::config {

/// Whose connections a limit counts together (APISIX's `key` with `key_type: "var"`).
enum class LimitKey {
  remote_addr,    ///< the client's IP address
  consumer_name,  ///< the consumer the upgrade authenticated as (needs key-auth or jwt-auth)
};

/// What a refused upgrade is answered (APISIX's `rejected_code`, `rejected_msg`).
struct LimitRejection {
  int status = 503;
  std::optional<std::string> message;  ///< sent as {"error_msg": message}
  bool operator==(const LimitRejection&) const = default;
};

/// `plugins.limit-conn`: at most `conn` connections open at once per key. APISIX's `burst` (extra
/// connections delayed by `default_conn_delay`) must be 0: kpg does not hold upgrades back.
struct LimitConnPlugin {
  int conn = 1;
  LimitKey key = LimitKey::remote_addr;
  LimitRejection rejection;
  bool operator==(const LimitConnPlugin&) const = default;
};

/// `plugins.limit-count`: at most `count` upgrades per key in each window of `time_window`
/// seconds (a fixed window, as APISIX's local policy).
struct LimitCountPlugin {
  int count = 1;
  int time_window = 60;  ///< seconds
  LimitKey key = LimitKey::remote_addr;
  LimitRejection rejection;
  /// X-RateLimit-Limit / -Remaining / -Reset on the upgrade's answer (101 or refusal).
  bool show_limit_quota_header = true;
  bool operator==(const LimitCountPlugin&) const = default;
};

struct RouteLimits {
  std::optional<LimitConnPlugin> limit_conn;
  std::optional<LimitCountPlugin> limit_count;
  bool any() const { return limit_conn || limit_count; }
  bool operator==(const RouteLimits&) const = default;
};

/// True for the route plugins parsed by parse_limit_plugin.
bool is_limit_plugin(const std::string& name);

/// Parses the route plugin `name` into `limits`. `authenticated`: the route has key-auth or
/// jwt-auth (a consumer_name key needs one). Returns the error message ("invalid configuration:
/// ...") or nothing.
std::optional<std::string> parse_limit_plugin(const std::string& name, const nlohmann::json& conf,
                                              bool authenticated, RouteLimits& limits);

}  // namespace kpg::config
