// Typed values and errors shared by every kpg SDK build (native and WebAssembly).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace kpg::sdk {

/// Why a call failed. Stable across builds; the WASM module exposes the same names as strings.
enum class ErrorCode {
  transport,  ///< the WebSocket could not be opened or broke (network, TLS, HTTP upgrade refused)
  timeout,    ///< no response within the request timeout
  closed,     ///< the client was closed (by the user or the server) while the call was pending
  server,     ///< the gateway answered with an error_resp; message is the server's text
  protocol,   ///< the peer sent something that is not a valid PubSub response
  /// The gateway refused the credential (HTTP 401 on the upgrade); message is the gateway's
  /// reason, e.g. "Missing API key found in request" or "failed to verify jwt: token expired".
  unauthorized,
  /// The gateway refused the client (HTTP 403 on the upgrade), e.g. "origin not allowed on this
  /// route"; another credential does not help.
  forbidden,
};

/// Lower-case name of an error code ("transport", "timeout", ...).
const char* to_string(ErrorCode code) noexcept;

/// The kpg gateway's reason for an error_resp (proto ErrorCode), so that applications never parse
/// message texts. Only a kpg gateway that received hello sends one; APISIX (and kpg before hello)
/// always sends `unspecified`. A value the SDK does not know yet keeps its number.
enum class ServerCode : std::int32_t {
  unspecified = 0,
  unknown_command = 1,  ///< also: the SDK needs a kpg feature this gateway does not offer
  bad_request = 2,      ///< undecodable frame, or an argument out of its range
  unknown_topic = 3,
  unknown_partition = 4,
  offset_out_of_range = 5,  ///< the offset is not (or no longer) in the log
  unavailable = 6,          ///< no broker answered in time; retry later
  rejected = 7,             ///< the broker refused the gateway (authentication, TLS, ACL)
  overloaded = 8,           ///< the gateway is busy; retry later
  unknown_subscription = 9,
  limit_exceeded = 10,  ///< a limit announced in ServerInfo::limits would be exceeded
  internal = 11,
  not_allowed = 12,  ///< the route does not allow this topic (its topic ACL)
  /// A produced record is larger than the route or the broker accepts (the SDK also answers it
  /// without sending, for a record over ServerLimits::max_record_bytes).
  record_too_large = 13,
  rebalanced = 14,  ///< a commit named a partition this group member no longer owns
};

/// Lower-case name of a server code ("unknown_topic", ...); "unknown" for a number not listed.
const char* to_string(ServerCode code) noexcept;

/// True for the codes that mean "try again later" (unavailable, overloaded).
constexpr bool retryable(ServerCode code) noexcept {
  return code == ServerCode::unavailable || code == ServerCode::overloaded;
}

struct Error {
  ErrorCode code;
  std::string message;
  /// With code == ErrorCode::server: the gateway's code (unspecified from an APISIX gateway).
  ServerCode server_code = ServerCode::unspecified;
  /// Produce only: true when the record may have been written although no acknowledgement came
  /// (the gateway's ErrorResp.possibly_written, or the connection was lost / the request timed
  /// out after the record was sent); false when it certainly was not written.
  bool possibly_written = false;
};

/// The Error for an HTTP refusal of the WebSocket upgrade: 401 is ErrorCode::unauthorized, 403
/// ErrorCode::forbidden (anything else ErrorCode::transport), with the reason the gateway gave in
/// its body ({"message": "..."}, as kpg and APISIX send it; else the body's text, else the
/// status). Never throws on any body.
Error http_refusal(int status, std::string_view body);

/// A Kafka record header. key and value are raw bytes (keys are UTF-8 by Kafka convention).
struct Header {
  std::string key;
  std::string value;
  bool operator==(const Header&) const = default;
};

/// One Kafka record as the gateway returns it. key and value are raw bytes.
struct Record {
  std::int64_t offset = 0;
  std::int64_t timestamp = 0;  ///< milliseconds since the epoch (CreateTime or LogAppendTime)
  std::string key;
  std::string value;
  /// Only a kpg gateway sends headers (after hello); empty from APISIX.
  std::vector<Header> headers;
  std::int32_t partition = 0;  ///< the partition the record belongs to
  /// A snapshot subscription's snapshot record (StartAt::snapshot()): the latest record of its
  /// key up to the end of the partition at subscribe time. False for live records.
  bool snapshot = false;
};

/// The gateway's limits (ServerInfo::limits); 0 = not announced.
struct ServerLimits {
  std::uint32_t max_frame_bytes = 0;
  std::uint32_t max_batch_bytes = 0;
  std::uint32_t max_inflight_requests = 0;
  std::uint32_t max_subscriptions = 0;
  std::uint32_t max_credit = 0;
  std::uint32_t max_metadata_partitions = 0;
  std::uint32_t max_requests_per_second = 0;
  /// Produce (0 when the route does not allow it).
  std::uint32_t max_record_bytes = 0;            ///< key + value + headers of one record
  std::uint32_t max_produce_inflight_bytes = 0;  ///< record bytes awaiting acknowledgement
  std::uint32_t max_produce_records_per_second = 0;
  std::uint32_t max_group_subscriptions = 0;  ///< per connection (0: groups not offered)
  /// Records of one produce batch (0: the gateway takes one record per request).
  std::uint32_t max_produce_batch_records = 0;
  /// Filters and snapshots (0 when the gateway does not offer them, or does not say).
  std::uint32_t max_filter_conditions = 0;  ///< conditions of one Filter
  std::uint32_t max_filter_values = 0;      ///< values of one Filter::json_in
  std::uint32_t max_snapshot_bytes = 0;     ///< latest-record bytes a connection's snapshots hold
};

/// What the client negotiated with hello on the current connection. A gateway that does not know
/// hello (Apache APISIX) leaves it empty: protocol_version 0, no features ("APISIX mode").
struct ServerInfo {
  std::uint32_t protocol_version = 0;
  /// "push", "metadata", "headers", "error_codes", "produce", "groups", "filters", "snapshot"
  std::vector<std::string> features;
  ServerLimits limits;
  std::string server;  ///< e.g. "kpg-gateway/0.2.0"

  /// True when the gateway speaks the kpg extensions.
  bool kpg() const noexcept { return protocol_version > 0; }
  bool has(std::string_view feature) const noexcept {
    for (const auto& f : features) {
      if (f == feature) return true;
    }
    return false;
  }
};

/// A partition and the offsets it offers at the time of the request.
struct PartitionInfo {
  std::int32_t partition = 0;
  std::int64_t earliest = 0;  ///< first offset still in the log
  std::int64_t latest = 0;    ///< offset the next record written gets (high watermark)
};

struct TopicInfo {
  std::string name;
  std::vector<PartitionInfo> partitions;  ///< ascending
};

/// The optional parts of a produced record. std::nullopt (a null key, the default partitioner,
/// the time of sending) is distinct from an empty value.
struct ProduceOptions {
  std::optional<std::string> key;  ///< nullopt: a null key
  std::vector<Header> headers;
  std::optional<std::int32_t> partition;  ///< nullopt: Kafka's default partitioner on the key
  std::optional<std::int64_t> timestamp;  ///< ms since the epoch; nullopt: the time of sending
};

/// Where a produced record was written (the broker acknowledged it: acks=all).
struct Produced {
  std::int32_t partition = 0;
  std::int64_t offset = 0;
  std::int64_t timestamp = 0;  ///< the record's timestamp (ms), as written
};

/// A position in a partition of a topic: for consumer groups, which may span several topics.
struct TopicPartitionOffset {
  std::string topic;
  std::int32_t partition = 0;
  std::int64_t offset = 0;
  bool operator==(const TopicPartitionOffset&) const = default;
};

/// Special `at` values for listOffsets (the Kafka ListOffsets convention).
inline constexpr std::int64_t kEarliest = -2;
inline constexpr std::int64_t kLatest = -1;

/// Either a value or an Error. Small by design: no exceptions cross the SDK boundary.
template <class T>
class Result {
 public:
  Result(T value) : state_(std::move(value)) {}      // NOLINT(google-explicit-constructor)
  Result(Error error) : state_(std::move(error)) {}  // NOLINT(google-explicit-constructor)

  bool ok() const noexcept { return state_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }
  /// Precondition: ok().
  const T& value() const& { return std::get<0>(state_); }
  T&& value() && { return std::get<0>(std::move(state_)); }
  /// Precondition: !ok().
  const Error& error() const& { return std::get<1>(state_); }

 private:
  std::variant<T, Error> state_;
};

}  // namespace kpg::sdk
