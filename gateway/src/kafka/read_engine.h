// The gateway's Kafka read path, as a RecordSource over a KafkaCluster (kafka_client.h).
//
// Each partition being read has up to `lanes` cursors (one per ConsumerLane), each with a window
// of the records it read last. A fetch is served from a window that holds its offset, or waits on
// a cursor that is about to read it (readers tailing a partition all wait on one cursor and are
// woken together when records arrive: no polling timers), or takes a cursor of its own that is
// positioned at its offset. Cursors far apart never seek each other back and forth: when all of a
// partition's cursors are busy, a fetch queues until one is free. Every wait is bounded; a fetch
// gets "no records" only at the end of the partition.
//
// Each engine has its own threads: one runs the read logic (never blocking), a small pool runs
// librdkafka's blocking calls for this cluster only, so a cluster that does not answer never holds
// up another. Idle cursors and connections are released; what clients can make the engine hold
// (cursors, queued requests, topic look-ups) is bounded.
#pragma once

#include "kafka/kafka_client.h"
#include "kafka/observer.h"
#include "kafka/record_source.h"

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

namespace kpg::kafka {

struct ReadOptions {
  std::chrono::milliseconds request_timeout{2500};  ///< bound on every wait for the broker
  std::size_t window_bytes = 2 * 1024 * 1024;       ///< recent records kept per cursor
  int lanes = 3;                                    ///< cursors per partition (Kafka connections)
  std::size_t max_readers = 256;                    ///< cursors per cluster, all partitions
  std::chrono::milliseconds reader_idle{30000};     ///< an unused cursor is released after this
  std::chrono::milliseconds lane_idle{60000};       ///< a connection with no cursor, likewise
  std::size_t max_waiting = 4096;                   ///< requests queued for look-ups or cursors
  std::chrono::milliseconds topic_refresh{
      1000};  ///< a missing topic is looked up at most this often
  std::chrono::milliseconds topic_max_age{30000};  ///< topic list refreshed at least this often
  int blocking_threads = 2;                        ///< for librdkafka's blocking calls
  /// Reads that wait at the end of a partition until records come (one per subscribed partition).
  std::size_t max_standing = 200'000;
  BatchEncoder encoder;          ///< makes the bodies of fetch_batch's shared batches
  Observer* observer = nullptr;  ///< told of requests and errors (metrics); outlives the engine
};

/// Threading: RecordSource's contract. The destructor blocks until the engine's threads are done
/// (bounded by request_timeout): never destroy it on an I/O thread or on its own threads.
class ReadEngine final : public RecordSource {
 public:
  ReadEngine(std::unique_ptr<KafkaCluster> cluster, ReadOptions options, std::string name);
  ~ReadEngine() override;
  ReadEngine(const ReadEngine&) = delete;
  ReadEngine& operator=(const ReadEngine&) = delete;

  void list_offset(std::string topic, std::int32_t partition, std::int64_t timestamp,
                   CancelToken cancel, std::function<void(OffsetResult)> done) override;
  void fetch(std::string topic, std::int32_t partition, std::int64_t offset, FetchLimits limits,
             CancelToken cancel, std::function<void(FetchResult)> done) override;
  void fetch_batch(std::string topic, std::int32_t partition, std::int64_t offset,
                   FetchLimits limits, CancelToken cancel,
                   std::function<void(BatchResult)> done) override;
  /// Keeps the read registered between batches: a stream's next request is queued with others
  /// and dispatched from its last position without being looked up again.
  BatchStreamPtr open_stream(std::string topic, std::int32_t partition, FetchLimits limits,
                             CancelToken cancel,
                             std::function<void(BatchResult)> on_batch) override;
  void topics(std::vector<std::string> names, CancelToken cancel,
              std::function<void(TopicsResult)> done) override;

  struct Stats {
    std::size_t readers = 0;     ///< partition cursors
    std::size_t open_lanes = 0;  ///< Kafka connections with cursors or not yet released
    std::size_t waiting = 0;     ///< requests waiting for a cursor, a look-up or records
    std::size_t standing = 0;    ///< push reads waiting at the end of a partition
  };
  /// A snapshot, for tests and metrics. Blocks briefly; not on the engine's own thread.
  Stats stats() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace kpg::kafka
