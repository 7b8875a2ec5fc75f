// How the gateway writes to Kafka: the one interface between the PubSub protocol layer and a
// Kafka producer. The implementation is rdkafka_sink.* (one idempotent producer per cluster,
// shared by every connection of the routes that reach it); tests substitute fakes.
#pragma once

#include "kafka/record_source.h"

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace kpg::kafka {

/// One record to write. Absent key / value are written as null (a null value is a tombstone).
struct ProduceRecord {
  std::string topic;
  std::optional<std::int32_t> partition;  ///< absent: the default partitioner (by key)
  std::optional<std::string> key;
  std::optional<std::string> value;
  std::vector<Header> headers;
  std::optional<std::int64_t> timestamp;  ///< ms since the epoch; absent: the time of sending

  /// Key, value and header bytes: what limits on record size count.
  std::size_t payload_bytes() const noexcept {
    std::size_t n = (key ? key->size() : 0) + (value ? value->size() : 0);
    for (const auto& h : headers) n += h.key.size() + h.value.size();
    return n;
  }
};

struct ProduceResult {
  std::optional<KafkaError> error;
  /// With an error: true when the record may have been written although no acknowledgement came
  /// (it was sent, then the answer timed out); false when it certainly was not.
  bool possibly_written = false;
  std::int32_t partition = -1;
  std::int64_t offset = -1;
  std::int64_t timestamp = -1;  ///< the record's timestamp as written (ms)
};

/// Threading: produce() may be called from any thread and never blocks (a full local queue is an
/// `overloaded` error at once). `done` runs exactly once, on an internal Kafka thread (never
/// inline), when the broker has acknowledged the record (acks=all) or it has failed; when the sink
/// is destroyed first, records still queued are given a last chance to be delivered, then fail.
/// Never throws.
class RecordSink {
 public:
  virtual ~RecordSink() = default;
  virtual void produce(ProduceRecord record, std::function<void(ProduceResult)> done) = 0;
};

}  // namespace kpg::kafka
