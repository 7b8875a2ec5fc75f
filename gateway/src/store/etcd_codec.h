// etcd v3's JSON gateway (the HTTP/JSON mapping of its gRPC API that APISIX also speaks):
// request bodies and response parsing. Pure functions, no I/O: keys and values travel base64
// encoded, 64-bit numbers as strings, and a watch streams one JSON object per line.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace kpg::store {

enum class EtcdErrc {
  unavailable,   ///< no endpoint answered (connect, TLS or I/O failure, timeout)
  unauthorized,  ///< etcd refused the user/password or the token
  compacted,     ///< a watch asked for a revision etcd has compacted away
  bad_response,  ///< etcd answered something that is not its API's shape
  refused,       ///< etcd answered with an error (message from etcd)
};

struct EtcdError {
  EtcdErrc code;
  std::string message;
};

template <class T>
using EtcdResult = std::variant<T, EtcdError>;

struct KeyValue {
  std::string key;
  std::string value;
  std::int64_t mod_revision = 0;
};

struct RangeResult {
  std::int64_t revision = 0;  ///< the store's revision the read saw
  std::vector<KeyValue> kvs;
};

struct WatchEvent {
  bool deleted = false;
  KeyValue kv;
};

struct WatchResponse {
  std::int64_t revision = 0;
  bool created = false;
  bool canceled = false;
  std::int64_t compact_revision = 0;  ///< > 0: the start revision was compacted away
  std::string cancel_reason;
  std::vector<WatchEvent> events;
};

std::string base64_encode(std::string_view bytes);
/// nullopt when `text` is not valid base64.
std::optional<std::string> base64_decode(std::string_view text);

/// The range end that selects every key starting with `prefix` (etcd's "prefix" option).
std::string prefix_range_end(std::string prefix);

std::string range_request(const std::string& prefix);
std::string put_request(const std::string& key, const std::string& value);
std::string delete_request(const std::string& key);
std::string watch_request(const std::string& prefix, std::int64_t start_revision);
std::string authenticate_request(const std::string& user, const std::string& password);

/// Responses (the HTTP body of a 200). An etcd error body ({"error", "code", ...}) or another
/// HTTP status is turned into an EtcdError by error_of().
EtcdResult<RangeResult> parse_range(std::string_view body);
/// The header revision of a put or delete.
EtcdResult<std::int64_t> parse_revision(std::string_view body);
EtcdResult<std::string> parse_token(std::string_view body);
/// One line of a watch stream.
EtcdResult<WatchResponse> parse_watch_line(std::string_view line);
/// The error an etcd error body (or a non-JSON body) stands for.
EtcdError error_of(int http_status, std::string_view body);

}  // namespace kpg::store
