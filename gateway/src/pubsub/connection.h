// One client connection's PubSub state: the APISIX commands (through handle_frame) plus kpg's
// extensions — hello, metadata, and push subscriptions with credit flow control. No I/O: frames
// come in through on_frame and leave through the callbacks; the server layer owns the socket.
//
// Push: a subscription keeps one read outstanding per partition while it has credit; each answer
// is a batch shared with every other reader of that stretch of the partition, sent as a frame of a
// few bytes of its own plus the shared body. Without credit (or while the session's write queue is
// congested) nothing is sent and nothing more is read: a batch that arrives then is held (one per
// partition at most) until credit comes.
#pragma once

#include "config/route.h"
#include "kafka/record_sink.h"
#include "kafka/record_source.h"
#include "pubsub/frames.h"
#include "pubsub/group_subscriptions.h"
#include "pubsub/memory_budget.h"
#include "pubsub/observer.h"
#include "pubsub/pubsub_handler.h"
#include "pubsub/record_filter.h"
#include "pubsub/token_bucket.h"
#include "pubsub/topic_set.h"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace kpg::pubsub {

class CmdHello;
class CmdKafkaMetadata;
class CmdKafkaSubscribe;
class CmdCredit;
class CmdUnsubscribe;
class CmdKafkaProduce;
class CmdKafkaProduceBatch;

/// Records of one cmd_kafka_produce_batch at most, and of one connection awaiting acknowledgement
/// (announced in hello_resp).
inline constexpr std::uint32_t kMaxProduceBatchRecords = 10'000;

/// One cmd_kafka_produce_batch on its way (connection_produce.cpp).
struct ProduceBatch;

/// What a connection may write: its route's produce policy, evaluated with the connection's
/// verified JWT claims, and the cluster's shared producer. No policy or no sink: nothing.
struct ProduceAccess {
  kafka::RecordSink* sink = nullptr;
  const config::ProducePolicy* policy = nullptr;
  const nlohmann::json* claims = nullptr;
  bool enabled() const noexcept { return sink != nullptr && policy != nullptr; }
  bool allowed(std::string_view topic) const {
    return enabled() && policy->topics.allowed(topic, claims);
  }
};

/// What a connection's reads share with the gateway: the route's pinned conditions, resolved
/// with the connection's verified JWT claims; the registry that lets equal filters share
/// evaluations; the memory that every connection's snapshots hold together. What they point to
/// must outlive the Connection.
struct ReadContext {
  FilterRegistry* registry = nullptr;            ///< nullptr: filters are not shared
  const config::PinnedFilter* pinned = nullptr;  ///< the route's `filter`; nullptr: none
  const nlohmann::json* claims = nullptr;        ///< nullptr: none
  /// Bytes held by the snapshots of all connections (a snapshot that takes it past its limit
  /// ends with OVERLOADED); nullptr: only the connection's own max_snapshot_bytes bounds them.
  MemoryBudget* snapshot_memory = nullptr;
};

/// Threading: every method, and every callback, runs on the connection's thread (one strand);
/// Kafka answers come back to it through `post`. Lifetime: pending Kafka work holds the owner
/// through `keep_alive`; `shutdown()` cancels it all, so the owner must call it when the
/// connection ends (not only from its destructor, which that work would otherwise delay).
class Connection {
 public:
  struct Callbacks {
    /// Answers a request for which on_frame returned Outcome::Kind::pending.
    std::function<void(Frame)> reply;
    /// A frame nobody asked for at that moment: pushed records, a subscription's end.
    std::function<void(Frame)> push;
    /// Runs a task on the connection's thread; called from Kafka threads.
    std::function<void(std::function<void()>)> post;
    /// A reference that keeps the owner (and so this Connection) alive; every pending Kafka
    /// callback holds one until it has run or been dropped (cancelled work is dropped soon after
    /// shutdown()). May be empty when the owner outlives all Kafka work by other means.
    std::function<std::shared_ptr<void>()> keep_alive;
    /// Optional: true while frames already pushed are still waiting for the socket. A partition
    /// then asks Kafka for its next batch only once they have gone (on_written()), so that the
    /// records that arrive meanwhile leave together in one frame instead of one frame each: under
    /// load, frames grow instead of multiplying. Unset: the next batch is asked for at once.
    std::function<bool()> write_pending;
    /// Optional: runs a task on the connection's thread after a delay, unless the owner is gone
    /// by then. Filtered subscriptions use it to say, a moment later, how far a partition was
    /// read when nothing matched; unset, they say it only with their next frame.
    std::function<void(std::chrono::milliseconds, std::function<void()>)> schedule;
    /// Optional: told about commands, deliveries and lag (metrics); must outlive the Connection.
    ConnectionObserver* observer = nullptr;
  };

  /// `topics`: which topics this connection may name; `produce`: what it may write. What they
  /// point to must outlive the Connection. `groups`: consumer groups (not offered without a
  /// service and settings).
  Connection(kafka::RecordSource& source, const Limits& limits, Callbacks callbacks,
             std::string server_name, TopicAccess topics = {}, ProduceAccess produce = {},
             GroupContext groups = {}, ReadContext reads = {});
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  /// Handles one binary frame. Never throws on untrusted input. Replies that are ready at once are
  /// returned; pending ones arrive through Callbacks::reply.
  Outcome on_frame(std::string_view frame);

  /// While congested (the session's write queue is filling up) no push frame is sent and no
  /// further read is started; clearing it resumes every subscription.
  void set_congested(bool congested);

  /// Everything pushed so far has been written (see Callbacks::write_pending).
  void on_written();

  /// Ends every subscription and cancels all pending Kafka work; nothing is sent afterwards.
  void shutdown();

  bool said_hello() const noexcept { return hello_; }
  /// Requests refused so far for going over Limits::max_requests_per_second (for the owner's
  /// log: the protocol layer does not log).
  std::uint64_t rate_refusals() const noexcept { return rate_refusals_; }
  std::size_t subscriptions() const noexcept { return subscriptions_.size(); }
  /// Records this connection wrote (acknowledged by the broker).
  std::uint64_t records_produced() const noexcept { return records_produced_; }
  /// For the owner's access log: records sent (in fetch replies and pushed batches) and the topics
  /// the client asked to read (fetch, subscribe) that its route allows.
  std::uint64_t records_sent() const noexcept {
    return pushed_records_ + fetched_records_.load(std::memory_order_relaxed);
  }
  const TopicSet& topics_read() const noexcept { return topics_read_; }

  /// APISIX's error text: "failed to <what>, topic: T[, partition: P], err: E" (no partition when
  /// it is negative).
  static std::string failure(std::string_view what, std::string_view topic, std::int32_t partition,
                             std::string_view error);

 private:
  // A partition's snapshot (start SNAPSHOT; connection_snapshot.cpp): the latest record of each
  // key up to `end`, gathered with fetches, then sent as frames before live reading starts.
  struct Snapshot {
    std::int64_t end = 0;  // the partition's end when subscribing: live reading starts here
    std::int64_t at = -1;  // the next offset to fetch (-1: the earliest is not known yet)
    bool loading = false;  // a look-up or fetch is outstanding
    bool loaded = false;   // `frames` made: nothing more to fetch
    std::map<std::string, kafka::Record, std::less<>> latest;  // by key; tombstones erase
    std::size_t bytes = 0;  // of `latest`, then of `frames`: counted in snapshot_bytes_
    std::deque<kafka::BatchPtr> frames;  // the last one ends the snapshot
  };
  struct PartitionStream {
    std::int32_t partition = 0;
    std::int64_t next = 0;               // offset of the next record to send
    bool reading = false;                // a read is outstanding
    kafka::BatchPtr held;                // read, not sent yet (no credit or congested)
    kafka::BatchStreamPtr reader;        // opened by the first read
    std::unique_ptr<Snapshot> snapshot;  // until the snapshot's last frame is sent
    // Filtered subscriptions: when a frame was last sent (progress frames are rationed), the
    // next_offset it told, the partition's high watermark last seen, and whether a progress
    // frame is scheduled.
    std::chrono::steady_clock::time_point last_frame = {};
    std::int64_t told = -1;
    std::int64_t high = 0;
    bool progress_scheduled = false;
  };
  struct Subscription {
    std::int64_t id = 0;
    std::int64_t sequence = 0;  // of the subscribe request: carried by every frame
    std::string topic;
    std::vector<PartitionStream> partitions;
    std::uint32_t credit = 0;
    std::size_t turn = 0;  // where the next round of held batches starts (fairness)
    std::shared_ptr<kafka::Cancellation> cancel = std::make_shared<kafka::Cancellation>();
    FilterPtr filter;  // nullptr: every record
    // Frames say where the partition continues (next_offset): filtered or snapshot
    // subscriptions, whose frames do not end at their last record's offset.
    bool tells_next = false;
  };

  RequestContext context() const;
  Outcome dispatch(std::string_view frame, Command& command);
  // Sends the answer to a pending `command`, counting it.
  void answer(Command command, std::string reply);
  // Sends `batch` (one credit), counting what it delivers.
  // (`extras`: the snapshot marks; next_offset is filled in for the subscriptions that tell it.)
  void deliver(Subscription& sub, PartitionStream& stream, kafka::BatchPtr batch,
               RecordsFrameExtras extras = {});
  // In connection_snapshot.cpp.
  void load_snapshot(Subscription& sub, PartitionStream& stream);
  void on_snapshot_records(std::int64_t id, std::int32_t partition, kafka::FetchResult result);
  void make_snapshot_frames(PartitionStream& stream);
  void deliver_snapshot_frame(Subscription& sub, PartitionStream& stream);
  // Counts `bytes` more (or fewer) as held by `snap`, in this connection and in the gateway.
  void hold_snapshot_bytes(Snapshot& snap, std::size_t bytes);
  void drop_snapshot_bytes(Snapshot& snap, std::size_t bytes);
  void release_snapshot(PartitionStream& stream);
  // The stream of `partition` in subscription `id` (and the subscription), or nullptr when the
  // subscription ended meanwhile.
  PartitionStream* find_stream(std::int64_t id, std::int32_t partition, Subscription** sub);
  Outcome hello(std::int64_t sequence, const CmdHello& cmd);
  Outcome metadata(std::int64_t sequence, const CmdKafkaMetadata& cmd);
  Outcome subscribe(std::int64_t sequence, const CmdKafkaSubscribe& cmd);
  Outcome credit(std::int64_t sequence, const CmdCredit& cmd);
  Outcome unsubscribe(std::int64_t sequence, const CmdUnsubscribe& cmd);
  // In connection_produce.cpp.
  Outcome produce(std::int64_t sequence, const CmdKafkaProduce& cmd);
  Outcome produce_batch(std::int64_t sequence, const CmdKafkaProduceBatch& cmd);
  // Checks one record of a request (policy, name, partition, timestamp, headers, size) and makes
  // it; a refusal is returned as its error code and reason instead.
  struct RecordRefusal {
    int code;
    std::string why;
  };
  std::variant<std::shared_ptr<kafka::ProduceRecord>, RecordRefusal> accept_record(
      const CmdKafkaProduce& cmd) const;
  // The filter of a subscribe or fetch request (the client's, with the route's pinned
  // conditions), interned; a refusal instead when it is invalid or the route refuses reads.
  std::variant<FilterPtr, RecordRefusal> read_filter(const KafkaFilter* requested) const;
  // Sends the waiting records, in request order, as far as their topics are known; the records at
  // the head for `failed_topic` fail with `failure`.
  void drain_produce(const std::string* failed_topic, const kafka::KafkaError* failure);
  struct WaitingRecord;
  void send_produce(WaitingRecord& waiting);
  // A record of `waiting` failed or was written: answers it (alone) or settles it in its batch.
  void settle_produce(WaitingRecord& waiting, kafka::ProduceResult result);
  // Answers a cmd_kafka_produce (its record written or failed), releasing what it held.
  void produced(std::int64_t sequence, std::size_t bytes, const std::string& topic,
                const kafka::ProduceResult& result);
  void batch_produced(const ProduceBatch& batch);
  // The connection's bounds on what awaits acknowledgement (records, bytes) and its records per
  // second; when `records` (of `bytes`) fit, they are counted and nothing is returned.
  std::optional<RecordRefusal> admit(std::uint32_t records, std::size_t bytes);
  Outcome error(std::int64_t sequence, int code, std::string_view message) const;

  void pump(Subscription& sub);
  void read(Subscription& sub, PartitionStream& stream);
  void on_batch(std::int64_t id, std::int32_t partition, kafka::BatchResult result);
  void end(Subscription& sub, int code, const std::string& message);
  // A filtered partition read further than its last frame said and nothing matched: say so now,
  // at most once per kProgressInterval (sooner frames are deferred through Callbacks::schedule).
  void report_progress(Subscription& sub, PartitionStream& stream);
  void on_progress_due(std::int64_t id, std::int32_t partition);

  // Runs `task` on the connection's thread, unless the connection has shut down by then.
  template <class Task>
  auto on_thread(Task task);
  // Likewise for a callback that stays registered (a stream's): it holds the owner only while
  // each answer is on its way, so that it does not keep the owner alive for ever.
  template <class Task>
  auto on_thread_while_owned(Task task);

  kafka::RecordSource& source_;
  const Limits limits_;
  Callbacks callbacks_;
  std::string server_name_;
  TopicAccess topics_;
  std::shared_ptr<kafka::Cancellation> cancel_ = std::make_shared<kafka::Cancellation>();
  std::map<std::int64_t, Subscription> subscriptions_;
  // Partitions (subscription id, partition) whose next read waits for on_written().
  std::vector<std::pair<std::int64_t, std::int32_t>> after_write_;
  std::uint32_t starting_ = 0;  // subscribe requests being resolved
  std::int64_t last_id_ = 0;
  TokenBucket request_tokens_;  // max_requests_per_second
  ProduceAccess produce_;
  TokenBucket record_tokens_;                 // the produce policy's max_records_per_second
  std::size_t produce_inflight_bytes_ = 0;    // produced, not acknowledged yet
  std::size_t produce_inflight_records_ = 0;  // likewise
  // Partition counts of topics this connection wrote to recently, so that a stream of records to
  // one topic costs one look-up every kProduceTopicTtl, not one per record.
  struct KnownTopic {
    int partitions = 0;
    std::chrono::steady_clock::time_point until;
  };
  std::map<std::string, KnownTopic, std::less<>> produce_topics_;
  struct WaitingRecord {
    std::int64_t sequence;
    std::shared_ptr<kafka::ProduceRecord> record;
    std::size_t bytes;
    std::shared_ptr<ProduceBatch> batch;  // null for a cmd_kafka_produce
    std::size_t index = 0;                // in `batch`
  };
  std::deque<WaitingRecord> produce_waiting_;  // accepted, not handed to the sink yet
  std::string produce_lookup_;  // the topic whose look-up is under way ("" when none)
  std::uint64_t records_produced_ = 0;
  std::uint64_t rate_refusals_ = 0;
  std::uint64_t pushed_records_ = 0;
  // Counted by fetch answers on Kafka threads (RequestContext::records_sent).
  mutable std::atomic<std::uint64_t> fetched_records_{0};
  TopicSet topics_read_;
  FilterRegistry* filter_registry_;
  PinnedConditions pinned_;         // the route's filter, resolved with this connection's claims
  std::size_t snapshot_bytes_ = 0;  // held by this connection's snapshots (max_snapshot_bytes)
  MemoryBudget* snapshot_memory_;   // ... and by every connection's (nullptr: not bounded)
  bool hello_ = false;
  bool congested_ = false;
  bool shut_down_ = false;
  std::unique_ptr<GroupSubscriptions> groups_;  // consumer-group subscriptions
};

}  // namespace kpg::pubsub
