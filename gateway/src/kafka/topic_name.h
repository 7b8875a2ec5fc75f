// Kafka's rules for topic names, checked before a name reaches librdkafka or a map key: a name
// Kafka would refuse must never become a topic handle, a reader or part of a request.
#pragma once

#include <algorithm>
#include <cstddef>
#include <string_view>

namespace kpg::kafka {

/// Kafka's own limit (Topic.MAX_NAME_LENGTH): longer names cannot exist on any broker.
inline constexpr std::size_t kMaxTopicNameLength = 249;

/// True when `name` is a topic name Kafka accepts: 1-249 characters of [a-zA-Z0-9._-], and not
/// "." or "..". Anything else (NUL bytes, spaces, slashes, 32 KiB strings) is refused.
inline bool is_valid_topic_name(std::string_view name) {
  if (name.empty() || name.size() > kMaxTopicNameLength || name == "." || name == "..") {
    return false;
  }
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
  });
}

}  // namespace kpg::kafka
