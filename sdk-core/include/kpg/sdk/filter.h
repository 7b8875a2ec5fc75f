// kpg::sdk::Filter — which records a subscription or a fetch receives, evaluated by the gateway
// (kpg gateways announcing the "filters" feature; docs/protocol.md, "Filters").
//
// A Filter is a conjunction of conditions: a record is delivered when every condition holds. The
// default-constructed Filter has no condition and matches every record (it is not even sent).
//
//   using kpg::sdk::Filter;
//   auto f = Filter::key_prefix("eu-") && Filter::header_equals("region", "eu-west") &&
//            Filter::json_in("/status", {"open", "paid"}) &&
//            Filter::json_compare("/amount", Filter::Op::ge, 100);
//
// Threading: a plain value type (copy it freely, share const copies between threads).
// Errors: building never fails; validate() reports what the gateway would refuse, and
// Client::subscribe / subscribe_topic / fetch call it before sending anything.
#pragma once

#include <kpg/sdk/types.h>

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <vector>

namespace kpg::sdk {

/// A JSON scalar that a JSON field may equal (Filter::json_in): a string, a number, a boolean or
/// null. A string matches only a JSON string, a number only a JSON number of equal value, and so
/// on: "1" does not match 1.
class JsonValue {
 public:
  enum class Kind { string, number, boolean, null };

  JsonValue() = default;        ///< null
  JsonValue(std::nullptr_t) {}  // NOLINT(google-explicit-constructor): json_in("/x", {nullptr})
  JsonValue(std::string s)      // NOLINT(google-explicit-constructor)
      : kind_(Kind::string), string_(std::move(s)) {}
  JsonValue(const char* s) : JsonValue(std::string(s)) {}   // NOLINT(google-explicit-constructor)
  JsonValue(double n) : kind_(Kind::number), number_(n) {}  // NOLINT(google-explicit-constructor)
  JsonValue(int n)  // NOLINT(google-explicit-constructor): json_in("/n", {1, 2}) is not ambiguous
      : kind_(Kind::number), number_(n) {}
  JsonValue(std::int64_t n)  // NOLINT(google-explicit-constructor)
      : kind_(Kind::number), number_(static_cast<double>(n)) {}
  JsonValue(bool b) : kind_(Kind::boolean), boolean_(b) {}  // NOLINT(google-explicit-constructor)

  static JsonValue null() { return {}; }

  Kind kind() const noexcept { return kind_; }
  /// Preconditions: the matching kind().
  const std::string& string() const noexcept { return string_; }
  double number() const noexcept { return number_; }
  bool boolean() const noexcept { return boolean_; }

  bool operator==(const JsonValue&) const = default;

 private:
  Kind kind_ = Kind::null;
  std::string string_;
  double number_ = 0;
  bool boolean_ = false;
};

/// One condition of a Filter. Built through Filter's factories; read by the SDK's encoder.
struct FilterCondition {
  enum class Kind { key_equals, key_prefix, header_equals, json_in, json_compare };
  /// json_compare: field <op> value.
  enum class Op { lt, le, gt, ge };

  Kind kind = Kind::key_equals;
  /// key_equals / key_prefix: the key bytes; header_equals: the header key.
  std::string bytes;
  /// header_equals: the header value (exact bytes).
  std::string header_value;
  /// json_in / json_compare: a JSON Pointer (RFC 6901): "" is the whole value, "/a/b" a member
  /// of a member, "/items/0" an array element.
  std::string path;
  std::vector<JsonValue> values;  ///< json_in: the field equals one of them (1 or more)
  Op op = Op::lt;                 ///< json_compare
  double number = 0;              ///< json_compare: compared with the field (a JSON number)

  bool operator==(const FilterCondition&) const = default;
};

class Filter {
 public:
  using Op = FilterCondition::Op;

  /// No condition: every record matches.
  Filter() = default;

  /// The record's key is exactly `key` (bytes; a null key equals only "").
  static Filter key_equals(std::string key);
  /// The record's key starts with `prefix`.
  static Filter key_prefix(std::string prefix);
  /// Some header of the record has key `key` and exactly the value `value`.
  static Filter header_equals(std::string key, std::string value);
  /// The value is JSON and the field at `path` (JSON Pointer) equals one of `values`.
  static Filter json_in(std::string path, std::vector<JsonValue> values);
  /// The value is JSON and the field at `path` is a number with field <op> `value`.
  static Filter json_compare(std::string path, Op op, double value);

  /// Both this filter's conditions and `other`'s (a conjunction).
  Filter and_(const Filter& other) const;
  friend Filter operator&&(const Filter& a, const Filter& b) { return a.and_(b); }

  /// True when there is no condition (every record matches).
  bool empty() const noexcept { return conditions_.empty(); }
  const std::vector<FilterCondition>& conditions() const noexcept { return conditions_; }

  /// What the gateway would refuse, checked here so that nothing is sent: an empty key prefix or
  /// header key, a JSON path that is neither "" nor starts with '/', a json_in without values, a
  /// number that is not finite (ServerCode::bad_request); more conditions than
  /// limits.max_filter_conditions or json_in values than limits.max_filter_values
  /// (ServerCode::limit_exceeded; a limit of 0, not announced, is not checked). The Error has
  /// ErrorCode::server and a message naming the condition (by its index, from 0).
  std::optional<Error> validate(const ServerLimits& limits) const;

  bool operator==(const Filter&) const = default;

 private:
  explicit Filter(FilterCondition condition) { conditions_.push_back(std::move(condition)); }
  std::vector<FilterCondition> conditions_;
};

}  // namespace kpg::sdk
