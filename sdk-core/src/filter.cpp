#include <kpg/sdk/filter.h>

#include <cmath>
#include <utility>

namespace kpg::sdk {

Filter Filter::key_equals(std::string key) {
  FilterCondition c;
  c.kind = FilterCondition::Kind::key_equals;
  c.bytes = std::move(key);
  return Filter(std::move(c));
}

Filter Filter::key_prefix(std::string prefix) {
  FilterCondition c;
  c.kind = FilterCondition::Kind::key_prefix;
  c.bytes = std::move(prefix);
  return Filter(std::move(c));
}

Filter Filter::header_equals(std::string key, std::string value) {
  FilterCondition c;
  c.kind = FilterCondition::Kind::header_equals;
  c.bytes = std::move(key);
  c.header_value = std::move(value);
  return Filter(std::move(c));
}

Filter Filter::json_in(std::string path, std::vector<JsonValue> values) {
  FilterCondition c;
  c.kind = FilterCondition::Kind::json_in;
  c.path = std::move(path);
  c.values = std::move(values);
  return Filter(std::move(c));
}

Filter Filter::json_compare(std::string path, Op op, double value) {
  FilterCondition c;
  c.kind = FilterCondition::Kind::json_compare;
  c.path = std::move(path);
  c.op = op;
  c.number = value;
  return Filter(std::move(c));
}

Filter Filter::and_(const Filter& other) const {
  Filter out = *this;
  out.conditions_.insert(out.conditions_.end(), other.conditions_.begin(), other.conditions_.end());
  return out;
}

std::optional<Error> Filter::validate(const ServerLimits& limits) const {
  auto refused = [](ServerCode code, std::string message) {
    return Error{ErrorCode::server, "invalid filter: " + std::move(message), code};
  };
  if (limits.max_filter_conditions > 0 && conditions_.size() > limits.max_filter_conditions) {
    return refused(ServerCode::limit_exceeded, std::to_string(conditions_.size()) +
                                                   " conditions, the gateway allows at most " +
                                                   std::to_string(limits.max_filter_conditions));
  }
  for (std::size_t i = 0; i < conditions_.size(); ++i) {
    const auto& c = conditions_[i];
    const std::string which = "condition " + std::to_string(i) + ": ";
    if (c.kind == FilterCondition::Kind::key_prefix && c.bytes.empty()) {
      return refused(ServerCode::bad_request, which + "an empty key prefix matches everything");
    }
    if (c.kind == FilterCondition::Kind::header_equals && c.bytes.empty()) {
      return refused(ServerCode::bad_request, which + "the header key is empty");
    }
    const bool json =
        c.kind == FilterCondition::Kind::json_in || c.kind == FilterCondition::Kind::json_compare;
    if (json && !c.path.empty() && c.path.front() != '/') {
      return refused(ServerCode::bad_request,
                     which + "JSON path '" + c.path +
                         "' is not a JSON Pointer (it must be empty or start with '/')");
    }
    if (c.kind == FilterCondition::Kind::json_in) {
      if (c.values.empty()) {
        return refused(ServerCode::bad_request, which + "json_in needs at least one value");
      }
      if (limits.max_filter_values > 0 && c.values.size() > limits.max_filter_values) {
        return refused(ServerCode::limit_exceeded, which + std::to_string(c.values.size()) +
                                                       " values, the gateway allows at most " +
                                                       std::to_string(limits.max_filter_values));
      }
      for (const auto& v : c.values) {
        if (v.kind() == JsonValue::Kind::number && !std::isfinite(v.number())) {
          return refused(ServerCode::bad_request, which + "a JSON number must be finite");
        }
      }
    }
    if (c.kind == FilterCondition::Kind::json_compare && !std::isfinite(c.number)) {
      return refused(ServerCode::bad_request, which + "the compared value must be finite");
    }
  }
  return std::nullopt;
}

}  // namespace kpg::sdk
