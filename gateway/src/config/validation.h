// What the configuration parsers (routes, consumers, route plugins) share to refuse bad input:
// an error thrown deep in a parse with the message the admin API returns, caught at the parser's
// entry point (it never leaves the config library).
#pragma once

#include "config/route.h"

#include <nlohmann/json.hpp>

#include <initializer_list>
#include <string>
#include <string_view>

namespace kpg::config::validation {

struct Invalid {
  std::string message;
};

/// Throws Invalid: `invalid configuration: property "<field>" <rule>`.
[[noreturn]] inline void invalid(const std::string& field, const std::string& rule) {
  throw Invalid{"invalid configuration: property \"" + field + "\" " + rule};
}

/// `conf[key]` as an integer in [min, max]; throws Invalid naming `<prefix><key>` (APISIX's
/// schema wording) otherwise.
inline int integer(const nlohmann::json& conf, const char* key, const std::string& prefix,
                   long long min, long long max) {
  const nlohmann::json& value = conf.at(key);
  if (!value.is_number_integer()) {
    invalid(prefix + key, std::string("validation failed: wrong type: expected integer, got ") +
                              value.type_name());
  }
  const auto n = value.get<long long>();
  if (n < min || n > max) {
    invalid(prefix + key, "validation failed: expected " + std::to_string(min) + ".." +
                              std::to_string(max) + ", got " + std::to_string(n));
  }
  return static_cast<int>(n);
}

/// Refuses every key of `object` not in `known` by name: kpg never stores a setting it would
/// ignore (a "key-auth" plugin or "hosts" that nobody enforces would be a silent security hole).
inline void only_known(const nlohmann::json& object, std::initializer_list<std::string_view> known,
                       const std::string& prefix) {
  if (auto error = unsupported_property(object, known, prefix)) throw Invalid{*error};
}

}  // namespace kpg::config::validation
