// Kafka's rules for topic names. They live in the config layer because route settings (a route's
// topic ACL) are checked against them as well as every name a client sends (kafka/topic_name.h).
#pragma once

#include <algorithm>
#include <cstddef>
#include <string_view>

namespace kpg::config {

/// Kafka's own limit (Topic.MAX_NAME_LENGTH): longer names cannot exist on any broker.
inline constexpr std::size_t kMaxTopicNameLength = 249;

/// True when every character of `text` may appear in a Kafka topic name ([a-zA-Z0-9._-]).
inline bool has_only_topic_characters(std::string_view text) {
  return std::all_of(text.begin(), text.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
  });
}

/// True when `name` is a topic name Kafka accepts: 1-249 characters of [a-zA-Z0-9._-], and not
/// "." or "..". Anything else (NUL bytes, spaces, slashes, 32 KiB strings) is refused.
inline bool is_valid_topic_name(std::string_view name) {
  return !name.empty() && name.size() <= kMaxTopicNameLength && name != "." && name != ".." &&
         has_only_topic_characters(name);
}

}  // namespace kpg::config
