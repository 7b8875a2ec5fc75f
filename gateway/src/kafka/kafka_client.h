// The thin seam between kpg's read path and a Kafka client library. ReadEngine (read_engine.h)
// is written against these interfaces only; rdkafka_client.* implements them over librdkafka and
// tests implement them over an in-memory model of a partition.
#pragma once

#include "kafka/record_source.h"

#include <compare>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace kpg::kafka {

struct TopicPartition {
  std::string topic;
  std::int32_t partition = 0;
  friend auto operator<=>(const TopicPartition&, const TopicPartition&) = default;
};

template <class T>
struct Expected {
  std::optional<KafkaError> error;
  T value{};
};

struct Watermarks {
  std::int64_t low = 0;   ///< first offset still in the log
  std::int64_t high = 0;  ///< offset the next record written will get
};

/// What a lane hands over: one record, or an error that ended reading one partition.
struct LaneEvent {
  std::string_view topic;  ///< valid during the sink call only
  std::int32_t partition = 0;
  std::uint64_t generation = 0;  ///< the start() call this was read for
  std::optional<KafkaError> error;
  Record record;
};

/// One Kafka consumer connection that can hold one read cursor per partition (with librdkafka:
/// one rd_kafka_t). Several lanes give one partition several independent cursors.
///
/// Threading: start/stop/close block (bounded by the cluster's request timeout) and must run off
/// the I/O threads, one at a time per lane; poll and pause never block and may run on any one
/// thread concurrently with them.
class ConsumerLane {
 public:
  virtual ~ConsumerLane() = default;

  /// Starts reading `tp` at `offset`, or moves its existing cursor there. Every event read from
  /// then on carries `generation`; none read for an earlier start does, even if poll() hands it
  /// over while this call is still under way.
  virtual std::optional<KafkaError> start(const TopicPartition& tp, std::int64_t offset,
                                          std::uint64_t generation) = 0;
  /// Stops reading `tp` and drops what was prefetched for it.
  virtual void stop(const TopicPartition& tp) = 0;
  /// Stops everything and releases the connection; start() opens it again.
  virtual void close() = 0;
  /// Stops or resumes fetching `tp` from the broker (what is prefetched still arrives).
  virtual void pause(const TopicPartition& tp, bool paused) = 0;
  /// Hands at most `max` events to `sink` without waiting; returns how many. After a poll that
  /// returned fewer than `max`, the lane's wake function is called when more arrives.
  virtual std::size_t poll(std::size_t max, const std::function<void(LaneEvent&)>& sink) = 0;
};

/// One Kafka cluster, as reached with one route's settings.
///
/// Threading: the blocking calls must run off the I/O threads; all methods are thread-safe.
class KafkaCluster {
 public:
  virtual ~KafkaCluster() = default;

  using TopicMap = TopicPartitionCounts;
  /// Blocking: every topic of the cluster.
  virtual Expected<TopicMap> topics() = 0;
  /// Blocking: the partition's first and next offsets.
  virtual Expected<Watermarks> watermarks(const TopicPartition& tp) = 0;
  /// Blocking: the first offset whose timestamp is >= `timestamp` (-1 when none).
  virtual Expected<std::int64_t> offset_for_time(const TopicPartition& tp,
                                                 std::int64_t timestamp) = 0;
  /// Non-blocking: a lane that connects on first use. `wake` is called from a client thread and
  /// must only schedule work (never call back into the lane).
  virtual std::unique_ptr<ConsumerLane> new_lane(int index, std::function<void()> wake) = 0;
  /// Non-blocking: whether the client has lost its brokers since the last call that succeeded
  /// (then an empty wait at the end of a partition is checked before it is answered).
  virtual bool brokers_in_doubt() const = 0;
};

}  // namespace kpg::kafka
