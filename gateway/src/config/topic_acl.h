// A route's topic ACL (kpg's `plugins.kafka-proxy.topics`): which topics the connections of the
// route may name. Entries are exact topic names, prefix patterns ("metrics.*", "tenant-*"; a lone
// "*" is every topic), and claim entries ({"claim": "topics"}): the names and patterns listed in
// that claim of the connection's verified JWT. Pure logic, no I/O; immutable once built.
#pragma once

#include <nlohmann/json.hpp>

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace kpg::config {

class TopicAcl {
 public:
  /// Most entries of a route's list, and most entries of a claim that are looked at (a claim's
  /// further entries allow nothing).
  static constexpr std::size_t kMaxEntries = 1000;
  /// Longest claim name of a claim entry.
  static constexpr std::size_t kMaxClaimNameLength = 128;

  /// True when `entry` is a topic name or a prefix pattern: a lone "*", or 1-249 topic-name
  /// characters followed by one '*'.
  static bool is_valid_entry(std::string_view entry);
  /// True when `name` can name a claim: 1-128 printable ASCII characters.
  static bool is_valid_claim_name(std::string_view name);

  /// Adds a name or pattern (is_valid_entry); returns false, adding nothing, when it is neither.
  bool add(std::string_view entry);
  /// Adds a claim entry (is_valid_claim_name); returns false, adding nothing, when invalid.
  bool add_claim(std::string_view claim);

  /// True when `topic` is allowed. `claims` is the connection's verified JWT claims (an object),
  /// or nullptr when it has none: then claim entries allow nothing. A claim's value is a name or
  /// pattern, or an array of them; anything else in it (other types, invalid entries) allows
  /// nothing.
  bool allowed(std::string_view topic, const nlohmann::json* claims) const;

  /// True when some entry is a claim entry (the route then needs jwt-auth).
  bool uses_claims() const noexcept { return !claims_.empty(); }
  std::size_t size() const noexcept;

 private:
  bool all_ = false;                   // "*"
  std::vector<std::string> exact_;     // sorted, unique
  std::vector<std::string> prefixes_;  // what precedes the '*'
  std::vector<std::string> claims_;    // claim names
};

}  // namespace kpg::config
