// How the gateway obtains Kafka data: the one interface between the PubSub protocol layer and
// Kafka. The librdkafka implementation lives in rdkafka_source.*; tests substitute fakes; a
// future fan-out reader (one read of a hot partition shared by many sessions) replaces the
// implementation without touching callers.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace kpg::kafka {

enum class ErrorKind {
  unknown_topic,
  unknown_partition,
  offset_out_of_range,
  unreachable,      ///< no broker answered in time
  rejected,         ///< the broker refused us (authentication, TLS certificate, authorization)
  invalid_request,  ///< the request itself is malformed (topic name, partition, offset)
  overloaded,       ///< too much work is queued for this Kafka cluster; try again later
  other,
};

struct KafkaError {
  ErrorKind kind;
  /// The "err: ..." part of the client-visible message: short, fixed wording, never broker
  /// addresses nor librdkafka's own text (clients are untrusted).
  std::string text;
  /// What operators need (broker addresses, librdkafka's words): for logs only.
  std::string detail = {};
};

struct Record {
  std::int64_t offset = 0;
  std::int64_t timestamp = 0;
  std::string key;
  std::string value;
};

struct FetchResult {
  std::optional<KafkaError> error;
  std::vector<Record> records;
};

struct OffsetResult {
  std::optional<KafkaError> error;
  std::int64_t offset = -1;
};

struct FetchLimits {
  /// Upper bound on the key+value bytes of one reply; at least one record is always returned so
  /// that a client can make progress past a large record.
  std::size_t max_bytes = 1024 * 1024;
  /// How long a fetch at the end of the log waits for new records before returning none.
  std::chrono::milliseconds max_wait{100};
};

/// Threading: every method may be called from any thread and returns without blocking. The
/// callback runs exactly once, on an internal Kafka thread (never inline in the call), unless the
/// source is destroyed first: then it is destroyed without being called. Implementations never
/// throw. Topic names are checked against Kafka's rules (topic_name.h) before anything else.
class RecordSource {
 public:
  virtual ~RecordSource() = default;

  /// timestamp: -2 earliest, -1 next offset to be written, >= 0 first offset with timestamp >= it
  /// (-1 when none).
  virtual void list_offset(std::string topic, std::int32_t partition, std::int64_t timestamp,
                           std::function<void(OffsetResult)> done) = 0;

  /// Records with offset >= `offset`, in order, bounded by `limits`.
  virtual void fetch(std::string topic, std::int32_t partition, std::int64_t offset,
                     FetchLimits limits, std::function<void(FetchResult)> done) = 0;
};

}  // namespace kpg::kafka
