// kpg's `plugins.kafka-proxy.groups`: consumer groups on a route (docs/protocol.md, "Consumer
// groups"). Absent: the route offers no groups.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>

namespace kpg::config {

struct GroupSettings {
  /// Group subscriptions one connection may hold at once.
  std::uint32_t max_per_connection = 4;
  /// Kafka's session.timeout.ms for the gateway's group members: how long the group waits for a
  /// member whose gateway stopped heartbeating before it hands its partitions to others.
  int session_timeout_ms = 10'000;
  /// A member whose client keeps zero credit this long leaves the group (its partitions go to
  /// others); kept below max.poll.interval.ms.
  int idle_timeout_ms = 30'000;

  static constexpr std::uint32_t kMaxPerConnection = 64;
  static constexpr int kMinSessionTimeoutMs = 1'000;
  static constexpr int kMaxSessionTimeoutMs = 300'000;
  static constexpr int kMinIdleTimeoutMs = 100;
  static constexpr int kMaxIdleTimeoutMs = 240'000;  // below max.poll.interval.ms (300 s)

  friend bool operator==(const GroupSettings&, const GroupSettings&) = default;
};

/// Parses `plugins.kafka-proxy.groups`; throws validation::Invalid naming the field.
GroupSettings parse_groups(const nlohmann::json& groups);

}  // namespace kpg::config
