// Subscriptions: every record of one or more partitions of a topic, in order per partition, from
// a starting point on, with no gaps and no duplicates, across reconnects.
//
// Two ways to get them, chosen by the client on each (re)connect from what hello negotiated:
//  - kpg mode (the gateway offers "push"): one cmd_kafka_subscribe; the gateway pushes record
//    frames as they are written, each costing one credit that the client grants as the
//    application consumes (so buffering is bounded by window x ServerLimits::max_batch_bytes);
//  - APISIX mode: list_offset + one fetch loop per partition (any APISIX gateway serves it).
// The guarantees and the API are the same in both.
//
// Filters (SubscribeOptions::filter) and snapshots (StartAt::snapshot()) are kpg features the
// gateway evaluates: a subscription asking for one fails on a gateway that does not offer it
// (APISIX mode included) instead of delivering something else. A filtered subscription receives
// only matching records; its next offsets still move past the records that did not match.
#pragma once

#include <kpg/sdk/filter.h>
#include <kpg/sdk/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <vector>

namespace kpg::sdk {

/// Where a subscription starts.
struct StartAt {
  enum class Kind { earliest, latest, offset, timestamp, snapshot };
  Kind kind = Kind::latest;
  std::int64_t value = 0;  ///< the offset, or the timestamp in ms

  static StartAt earliest() { return {Kind::earliest, 0}; }
  static StartAt latest() { return {Kind::latest, 0}; }
  /// The same offset in every partition subscribed (partitions must be named).
  static StartAt offset(std::int64_t o) { return {Kind::offset, o}; }
  /// The first record with timestamp >= ms; when there is none yet, the end of the log.
  static StartAt timestamp(std::int64_t ms) { return {Kind::timestamp, ms}; }
  /// Snapshot, then tail: first, per partition, the latest record of each key from the earliest
  /// offset up to the partition's end at subscribe time (keys whose latest record is a tombstone,
  /// an empty value, are left out), delivered as batches of Record::snapshot records and closed by
  /// SubscriptionHandlers::on_snapshot_end; then every later record, live, with no gap and no
  /// duplicate. The filter applies to the snapshot too. Needs a gateway offering "push" and
  /// "snapshot" (otherwise the subscription fails, see SubscribeOptions::filter).
  ///
  /// Across reconnects: a partition whose snapshot was complete resumes live from its next
  /// offset (the snapshot is not sent again); a partition whose snapshot was interrupted starts
  /// its snapshot again from the beginning, so some of its snapshot records may be delivered
  /// twice (applying snapshot records as "latest value of this key" makes that harmless).
  static StartAt snapshot() { return {Kind::snapshot, 0}; }
};

struct SubscriptionHandlers {
  /// Called with each non-empty batch: records of one partition (Record::partition), in offset
  /// order. Batches of different partitions interleave in no particular order.
  std::function<void(const std::vector<Record>& batch)> on_records;
  /// Called once when the subscription stops because of an error (it is then inactive). A
  /// gateway error carries Error::server_code. Retryable codes (unavailable, overloaded) and lost
  /// connections (while the client reconnects) do not end a subscription: it resumes by itself.
  std::function<void(const Error& error)> on_error;
  /// Snapshot subscriptions only (StartAt::snapshot()): called once per partition when its
  /// snapshot is complete, after on_records got that partition's snapshot records (Record::
  /// snapshot) and before any of its live records. Also for a partition with nothing to
  /// snapshot (no record, or none matching the filter). Once, even when the snapshot restarted
  /// after a reconnect.
  std::function<void(std::int32_t partition)> on_snapshot_end = nullptr;
  /// Snapshot subscriptions only: called once, right after the on_snapshot_end of the last
  /// partition of the subscription (as the gateway's subscribe answer listed them): from then
  /// on, everything delivered is live.
  std::function<void()> on_snapshot_complete = nullptr;
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
  /// Only records matching it are delivered (evaluated by the gateway). Empty (the default):
  /// every record. A non-empty filter needs a gateway offering "filters": in APISIX mode, or on
  /// a kpg gateway without it, the subscription fails (on_error, ErrorCode::server,
  /// ServerCode::unknown_command) rather than deliver unfiltered records; one the gateway's limits
  /// refuse fails before anything is sent (Filter::validate). The client checks again on every
  /// reconnect and resumes with the same filter from where the gateway last read, matching or
  /// not (a filtered subscription's next offsets advance past records that did not match).
  Filter filter{};
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
