// kpg's `plugins.kafka-proxy.filter`: conditions a route imposes on every record its connections
// read (subscriptions and fetches, snapshots included), each comparing a part of the record with
// a fixed value or with a claim of the connection's verified JWT:
//   "filter": [{"header": "tenant", "equals": {"claim": "tenant"}},
//              {"key_prefix": {"claim": "sub"}},
//              {"json": "/region", "equals": "eu"}]
// A client's own filter only adds conditions to these: it can narrow its view, never widen it.
// Pure data; parsed and validated with the route (route.cpp), resolved per connection by the
// protocol layer (pubsub/record_filter.h).
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace kpg::config {

struct PinnedFilter {
  enum class Kind {
    key_equals,     ///< the key is exactly the value
    key_prefix,     ///< the key starts with the value
    header_equals,  ///< header `field` has exactly the value
    json_equals,    ///< the value is JSON and its member at pointer `field` equals the value
  };
  struct Condition {
    Kind kind = Kind::key_equals;
    std::string field;  ///< header key, or JSON Pointer (json_equals)
    std::string value;  ///< the fixed value, when `claim` is empty
    std::string claim;  ///< the claim whose value the part must equal ("": the fixed value)
  };
  /// Conditions of one route's filter at most (a client's filter adds its own, up to the
  /// protocol's limit in all).
  static constexpr std::size_t kMaxConditions = 8;

  std::vector<Condition> conditions;

  bool uses_claims() const noexcept {
    for (const auto& c : conditions) {
      if (!c.claim.empty()) return true;
    }
    return false;
  }
};

}  // namespace kpg::config
