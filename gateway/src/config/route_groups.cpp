#include "config/route_groups.h"

#include "config/validation.h"

#include <string>

namespace kpg::config {

using nlohmann::json;
using validation::invalid;

namespace {

const std::string kPrefix = "plugins.kafka-proxy.groups.";

long long bounded(const json& groups, const char* key, long long min, long long max) {
  const json& value = groups.at(key);
  if (!value.is_number_integer()) {
    invalid(kPrefix + key, std::string("validation failed: wrong type: expected integer, got ") +
                               value.type_name());
  }
  const auto n = value.get<long long>();
  if (n < min || n > max) {
    invalid(kPrefix + key, "validation failed: expected " + std::to_string(min) + ".." +
                               std::to_string(max) + ", got " + std::to_string(n));
  }
  return n;
}

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
        bounded(groups, "max_per_connection", 1, GroupSettings::kMaxPerConnection));
  }
  if (groups.contains("session_timeout_ms")) {
    s.session_timeout_ms =
        static_cast<int>(bounded(groups, "session_timeout_ms", GroupSettings::kMinSessionTimeoutMs,
                                 GroupSettings::kMaxSessionTimeoutMs));
  }
  if (groups.contains("idle_timeout_ms")) {
    s.idle_timeout_ms =
        static_cast<int>(bounded(groups, "idle_timeout_ms", GroupSettings::kMinIdleTimeoutMs,
                                 GroupSettings::kMaxIdleTimeoutMs));
  }
  return s;
}

}  // namespace kpg::config
