#include "config/route_groups.h"

#include "config/validation.h"

#include <string>

namespace kpg::config {

using nlohmann::json;
using validation::integer;
using validation::invalid;

namespace {

const std::string kPrefix = "plugins.kafka-proxy.groups.";

}  // namespace

GroupSettings parse_groups(const json& groups) {
  if (!groups.is_object()) {
    invalid("plugins.kafka-proxy.groups", "validation failed: wrong type: expected object");
  }
  validation::only_known(groups, {"max_per_connection", "session_timeout_ms", "idle_timeout_ms"},
                         kPrefix);
  GroupSettings s;
  if (groups.contains("max_per_connection")) {
    s.max_per_connection = static_cast<std::uint32_t>(
        integer(groups, "max_per_connection", kPrefix, 1, GroupSettings::kMaxPerConnection));
  }
  if (groups.contains("session_timeout_ms")) {
    s.session_timeout_ms =
        integer(groups, "session_timeout_ms", kPrefix, GroupSettings::kMinSessionTimeoutMs,
                GroupSettings::kMaxSessionTimeoutMs);
  }
  if (groups.contains("idle_timeout_ms")) {
    s.idle_timeout_ms = integer(groups, "idle_timeout_ms", kPrefix,
                                GroupSettings::kMinIdleTimeoutMs, GroupSettings::kMaxIdleTimeoutMs);
  }
  return s;
}

}  // namespace kpg::config
