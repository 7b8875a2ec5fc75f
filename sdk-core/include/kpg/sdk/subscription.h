// Subscriptions: every record of one or more partitions of a topic, in order per partition, from
// a starting point on, with no gaps and no duplicates, across reconnects.
//
// Two ways to get them, chosen by the client on each (re)connect from what hello negotiated:
//  - kpg mode (the gateway offers "push"): one cmd_kafka_subscribe; the gateway pushes record
//    frames as they are written, each costing one credit that the client grants as the
//    application consumes (so buffering is bounded by window x ServerLimits::max_batch_bytes);
//  - APISIX mode: list_offset + one fetch loop per partition (any APISIX gateway serves it).
// The guarantees and the API are the same in both.
#pragma once

#include <kpg/sdk/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <vector>

namespace kpg::sdk {

/// Where a subscription starts.
struct StartAt {
  enum class Kind { earliest, latest, offset, timestamp };
  Kind kind = Kind::latest;
  std::int64_t value = 0;  ///< the offset, or the timestamp in ms

  static StartAt earliest() { return {Kind::earliest, 0}; }
  static StartAt latest() { return {Kind::latest, 0}; }
  /// The same offset in every partition subscribed (partitions must be named).
  static StartAt offset(std::int64_t o) { return {Kind::offset, o}; }
  /// The first record with timestamp >= ms; when there is none yet, the end of the log.
  static StartAt timestamp(std::int64_t ms) { return {Kind::timestamp, ms}; }
};

struct SubscriptionHandlers {
  /// Called with each non-empty batch: records of one partition (Record::partition), in offset
  /// order. Batches of different partitions interleave in no particular order.
  std::function<void(const std::vector<Record>& batch)> on_records;
  /// Called once when the subscription stops because of an error (it is then inactive). A
  /// gateway error carries Error::server_code. Retryable codes (unavailable, overloaded) and lost
  /// connections (while the client reconnects) do not end a subscription: it resumes by itself.
  std::function<void(const Error& error)> on_error;
};

struct SubscribeOptions {
  /// Batches the gateway may push ahead of the application in kpg mode (the initial and
  /// outstanding credit; capped by ServerLimits::max_credit). Received but undelivered batches
  /// count against it, so a paused subscription buffers at most this many.
  std::uint32_t window = 8;
  /// Pull mode: no batch is delivered beyond those asked for with Subscription::request(n) (the
  /// application pulls; credit is granted as it asks). Default: a batch is granted back as soon
  /// as on_records returns.
  bool pull = false;
};

/// Control of a running subscription. Threading: same as the Client that made it. Lifetime: the
/// client keeps a running subscription alive; the handle stays valid after it ended.
class Subscription {
 public:
  virtual ~Subscription() = default;
  /// No more on_records calls until resume(); batches already on their way are held back (at
  /// most the window in kpg mode, one per partition in APISIX mode) and no credit is granted.
  virtual void pause() = 0;
  virtual void resume() = 0;
  /// Pull mode: allows `batches` more on_records calls. No effect otherwise.
  virtual void request(std::uint32_t batches) = 0;
  /// Stops for good; no callback runs afterwards. Idempotent.
  virtual void cancel() = 0;
  virtual bool active() const = 0;
  virtual bool paused() const = 0;
  /// For a subscription of one partition: the offset of the next record to receive (-1 until the
  /// start was resolved). -1 for several partitions; see next_offsets().
  virtual std::int64_t next_offset() const = 0;
  /// Next offset to receive, per partition whose start is known.
  virtual std::map<std::int32_t, std::int64_t> next_offsets() const = 0;
};

}  // namespace kpg::sdk
