// How the gateway obtains Kafka data: the one interface between the PubSub protocol layer and
// Kafka. The implementation is ReadEngine (read_engine.h) over librdkafka (rdkafka_source.h);
// tests substitute fakes.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace kpg::kafka {

enum class ErrorKind {
  unknown_topic,
  unknown_partition,
  offset_out_of_range,
  unreachable,       ///< no broker answered in time
  rejected,          ///< the broker refused us (authentication, TLS certificate, authorization)
  invalid_request,   ///< the request itself is malformed (topic name, partition, offset)
  overloaded,        ///< too much work is queued for this Kafka cluster; try again later
  record_too_large,  ///< a produced record is larger than the broker (or producer) accepts
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

struct Header {
  std::string key;
  std::string value;
  friend bool operator==(const Header&, const Header&) = default;
};

struct Record {
  std::int64_t offset = 0;
  std::int64_t timestamp = 0;
  std::string key;
  std::string value;
  std::vector<Header> headers = {};
};

/// What a record counts against byte limits (fetch sizes, windows, snapshots): its key, value and
/// headers.
inline std::size_t record_bytes(const Record& r) noexcept {
  std::size_t bytes = r.key.size() + r.value.size();
  for (const auto& h : r.headers) bytes += h.key.size() + h.value.size();
  return bytes;
}

/// Consecutive records of one partition, encoded once for the wire and then shared, immutable, by
/// every reader of that stretch (every push subscriber and pull fetch at the head of a hot
/// partition gets the same bytes).
struct RecordBatch {
  std::int64_t first_offset = 0;    ///< offset of the first record
  std::int64_t next_offset = 0;     ///< offset after the last record
  std::int64_t high_watermark = 0;  ///< the partition's next offset when the batch was made
  std::size_t records = 0;
  std::string body;  ///< the records as the encoder made them
};
using BatchPtr = std::shared_ptr<const RecordBatch>;

/// Turns records into a batch body. Supplied by the protocol layer (the source does not know the
/// wire format); must be thread-safe and must not throw.
using BatchEncoder = std::function<std::string(const std::vector<Record>&)>;

struct BatchResult {
  std::optional<KafkaError> error;
  BatchPtr batch;  ///< nullptr with no error: no records (the end of the partition was reached)
};

/// Set by a requester when it no longer wants an answer (its connection closed, its subscription
/// ended). Work for it that has not started is dropped, waits are ended, and its callback is
/// destroyed without being called. Thread-safe.
class Cancellation {
 public:
  void cancel() noexcept { cancelled_.store(true, std::memory_order_relaxed); }
  bool cancelled() const noexcept { return cancelled_.load(std::memory_order_relaxed); }

 private:
  std::atomic<bool> cancelled_{false};
};
using CancelToken = std::shared_ptr<const Cancellation>;  ///< nullptr: never cancelled

inline bool is_cancelled(const CancelToken& token) noexcept {
  return token && token->cancelled();
}

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
  /// kWaitForever: until records arrive or the request is cancelled (push subscriptions).
  std::chrono::milliseconds max_wait{100};
  static constexpr std::chrono::milliseconds kWaitForever = std::chrono::milliseconds::max();
};

using TopicPartitionCounts = std::map<std::string, int, std::less<>>;  ///< name -> partitions

struct TopicsResult {
  std::optional<KafkaError> error;
  TopicPartitionCounts topics;
};

/// A standing read of one partition, as a push subscription follows it: asked for one batch at a
/// time, answered through the callback it was opened with. Each request reuses what the first one
/// set up (the partition checked, the read registered), so following a partition costs one
/// answer per batch and nothing per request.
/// Threading: next() may be called from any thread, with at most one request outstanding (call
/// it again only once the previous one was answered). The callback runs on an internal Kafka
/// thread; after the stream's CancelToken is cancelled it is no longer called, and destroying the
/// stream releases it (it may still run once if it is running at that moment).
class BatchStream {
 public:
  virtual ~BatchStream() = default;
  /// Asks for the records from `offset` on, as fetch_batch would.
  virtual void next(std::int64_t offset) = 0;
};
using BatchStreamPtr = std::unique_ptr<BatchStream>;

/// Threading: every method may be called from any thread and returns without blocking. The
/// callback runs exactly once, on an internal Kafka thread (never inline in the call), unless the
/// source is destroyed first or `cancel` is cancelled: then it is destroyed without being called.
/// Implementations never throw. Topic names are checked against Kafka's rules (topic_name.h)
/// before anything else.
class RecordSource {
 public:
  virtual ~RecordSource() = default;

  /// timestamp: -2 earliest, -1 next offset to be written, >= 0 first offset with timestamp >= it
  /// (-1 when none).
  virtual void list_offset(std::string topic, std::int32_t partition, std::int64_t timestamp,
                           CancelToken cancel, std::function<void(OffsetResult)> done) = 0;

  /// Records with offset >= `offset`, in order, bounded by `limits`.
  virtual void fetch(std::string topic, std::int32_t partition, std::int64_t offset,
                     FetchLimits limits, CancelToken cancel,
                     std::function<void(FetchResult)> done) = 0;

  /// Like fetch, but the records come encoded by the source's BatchEncoder and shared with every
  /// other request for the same stretch of the partition.
  virtual void fetch_batch(std::string topic, std::int32_t partition, std::int64_t offset,
                           FetchLimits limits, CancelToken cancel,
                           std::function<void(BatchResult)> done) = 0;

  /// A standing read of `partition` (see BatchStream). This default asks fetch_batch for every
  /// batch; sources that can keep the read registered do better.
  virtual BatchStreamPtr open_stream(std::string topic, std::int32_t partition, FetchLimits limits,
                                     CancelToken cancel, std::function<void(BatchResult)> on_batch);

  /// The partition counts of the topics `names` (empty: of every topic), from a list kept for a
  /// while; a name missing from it is looked up again, at most once a second. Names that do not
  /// exist are left out of the result (not an error).
  virtual void topics(std::vector<std::string> names, CancelToken cancel,
                      std::function<void(TopicsResult)> done) = 0;
};

namespace detail {

class FetchBatchStream final : public BatchStream {
 public:
  FetchBatchStream(RecordSource& source, std::string topic, std::int32_t partition,
                   FetchLimits limits, CancelToken cancel,
                   std::function<void(BatchResult)> on_batch)
      : source_(source),
        topic_(std::move(topic)),
        partition_(partition),
        limits_(limits),
        cancel_(std::move(cancel)),
        on_batch_(std::make_shared<std::function<void(BatchResult)>>(std::move(on_batch))) {}
  void next(std::int64_t offset) override {
    // The callback is shared, not copied, per request; a request answered after the stream is
    // gone finds it released.
    std::weak_ptr<std::function<void(BatchResult)>> callback = on_batch_;
    source_.fetch_batch(topic_, partition_, offset, limits_, cancel_,
                        [callback](BatchResult result) {
                          if (auto f = callback.lock()) (*f)(std::move(result));
                        });
  }

 private:
  RecordSource& source_;
  std::string topic_;
  std::int32_t partition_;
  FetchLimits limits_;
  CancelToken cancel_;
  std::shared_ptr<std::function<void(BatchResult)>> on_batch_;
};

}  // namespace detail

inline BatchStreamPtr RecordSource::open_stream(std::string topic, std::int32_t partition,
                                                FetchLimits limits, CancelToken cancel,
                                                std::function<void(BatchResult)> on_batch) {
  return std::make_unique<detail::FetchBatchStream>(*this, std::move(topic), partition, limits,
                                                    std::move(cancel), std::move(on_batch));
}

}  // namespace kpg::kafka
