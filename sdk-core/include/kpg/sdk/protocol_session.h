// The I/O-free heart of the SDK: encodes PubSub requests, numbers them, pairs responses to
// requests by sequence, decodes typed results and tracks per-request deadlines.
//
// It never touches a socket or a clock: the caller feeds it received frames and the current time
// and sends the frames it returns. This is what makes it identical in the native and WASM builds
// and testable without a network.
//
// Threading: not thread-safe; use it from one thread (or strand) at a time.
// Handlers are invoked synchronously from on_frame / expire / fail_all, at most once each.
#pragma once

#include <kpg/sdk/filter.h>
#include <kpg/sdk/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace kpg::sdk {

class ProtocolSession {
 public:
  using PingHandler = std::function<void(Result<std::string>)>;
  using OffsetHandler = std::function<void(Result<std::int64_t>)>;
  using FetchHandler = std::function<void(Result<std::vector<Record>>)>;
  using HelloHandler = std::function<void(Result<ServerInfo>)>;
  using MetadataHandler = std::function<void(Result<std::vector<TopicInfo>>)>;
  /// A filtered fetch's answer: the matching records, and where to fetch from next.
  struct FetchPage {
    std::vector<Record> records;
    /// The offset after the last record the gateway read, matching or not: fetch from here next
    /// (also when no record matched). Without the gateway's next_offset: after the last record,
    /// or the offset asked for when there is none.
    std::int64_t next_offset = 0;
  };
  using FilteredFetchHandler = std::function<void(Result<FetchPage>)>;

  /// cmd_kafka_subscribe (kpg extension; proto/kpg/pubsub.proto).
  struct SubscribeRequest {
    enum class Start { latest = 0, earliest = 1, timestamp = 2, snapshot = 3 };
    std::string topic;
    std::vector<std::int32_t> partitions;  ///< empty (with no offsets): every partition
    Start start = Start::latest;           ///< for partitions not in `offsets`
    std::int64_t timestamp = 0;            ///< with Start::timestamp
    std::vector<std::pair<std::int32_t, std::int64_t>> offsets;  ///< explicit first offsets
    std::uint32_t credit = 0;                                    ///< initial credit, in frames
    Filter filter{};                                             ///< empty: not sent (every record)
  };
  struct SubscribeAck {
    std::int64_t subscription_id = 0;
    std::vector<std::pair<std::int32_t, std::int64_t>> start;  ///< by partition, ascending
  };
  /// One kafka_records frame: consecutive records of one partition, in offset order.
  struct PushedRecords {
    std::int64_t subscription_id = 0;
    std::int32_t partition = 0;
    std::int64_t high_watermark = 0;
    std::vector<Record> records;
    std::string topic;  ///< group subscriptions only (they may span several topics)
    /// Filtered and snapshot subscriptions: the offset after the last record read for this frame,
    /// matching or not (0: not sent). The frame may then have no records.
    std::int64_t next_offset = 0;
    bool snapshot = false;      ///< the records are the snapshot's
    bool snapshot_end = false;  ///< the partition's snapshot is complete (records may be none)
  };
  struct Unsubscribed {
    std::int64_t subscription_id = 0;
  };
  using SubscribeHandler = std::function<void(Result<SubscribeAck>)>;
  /// Called for each pushed frame; an Error (the gateway ended the subscription, or fail_all)
  /// is the last call.
  using PushHandler = std::function<void(Result<PushedRecords>)>;
  using UnsubscribeHandler = std::function<void(Result<Unsubscribed>)>;

  /// cmd_kafka_produce. Completes with where the record was written, or the gateway's error
  /// (Error::possibly_written set from the reply; a timeout or lost connection after sending
  /// also sets it, since the record may have reached the broker).
  struct ProduceRequest {
    std::string topic;
    std::optional<std::string> value;  ///< nullopt: a null value (a tombstone)
    ProduceOptions options;
  };
  using ProduceHandler = std::function<void(Result<Produced>)>;
  /// cmd_kafka_produce_batch: one result per record, in request order; an Error when the
  /// gateway refused the batch whole (nothing written) or no answer came.
  using ProduceBatchHandler = std::function<void(Result<std::vector<Result<Produced>>>)>;

  /// cmd_kafka_group_subscribe.
  struct GroupSubscribeRequest {
    enum class Start { latest = 0, earliest = 1 };
    enum class Commit { explicit_only = 0, automatic = 1 };
    std::string group;
    std::vector<std::string> topics;
    Start start = Start::latest;  ///< for partitions without a committed offset
    std::uint32_t credit = 0;
    Commit commit = Commit::explicit_only;
  };
  struct GroupSubscribeAck {
    std::int64_t subscription_id = 0;
  };
  /// kafka_group_assignment: partitions given to (assigned), taken from (revoked) or lost by
  /// this member. For assigned, `offset` is where reading starts.
  struct GroupAssignment {
    enum class Kind { assigned = 0, revoked = 1, lost = 2 };
    std::int64_t subscription_id = 0;
    Kind kind = Kind::assigned;
    std::vector<TopicPartitionOffset> partitions;
  };
  /// What a group subscription's stream carries: record frames (with their topic) and
  /// assignment changes, in the gateway's order.
  using GroupEvent = std::variant<PushedRecords, GroupAssignment>;
  using GroupSubscribeHandler = std::function<void(Result<GroupSubscribeAck>)>;
  using GroupPushHandler = std::function<void(Result<GroupEvent>)>;
  /// Completes with the offsets the gateway committed.
  using CommitHandler = std::function<void(Result<std::vector<TopicPartitionOffset>>)>;

  /// The protocol version this SDK speaks (cmd_hello.protocol_version).
  static constexpr std::uint32_t kProtocolVersion = 1;

  /// A request ready to be sent as one binary WebSocket frame.
  struct Outgoing {
    std::int64_t sequence;
    std::string frame;
  };

  /// What on_frame made of a received frame that paired with no pending request.
  enum class FrameStatus { paired, unpaired, undecodable };

  /// deadline_ms is on the caller's clock (any monotonic milliseconds); expire() compares with it.
  Outgoing ping(std::string state, std::int64_t deadline_ms, PingHandler handler);
  Outgoing list_offsets(std::string_view topic, std::int32_t partition, std::int64_t at,
                        std::int64_t deadline_ms, OffsetHandler handler);
  Outgoing fetch(std::string_view topic, std::int32_t partition, std::int64_t offset,
                 std::int64_t deadline_ms, FetchHandler handler);
  /// A fetch with a filter (cmd_kafka_fetch.filter; an empty filter is not sent).
  Outgoing fetch(std::string_view topic, std::int32_t partition, std::int64_t offset,
                 const Filter& filter, std::int64_t deadline_ms, FilteredFetchHandler handler);
  /// hello: completes with the negotiated ServerInfo, or with the server's error (an APISIX
  /// gateway answers "unknown command").
  Outgoing hello(std::string client, std::int64_t deadline_ms, HelloHandler handler);
  Outgoing metadata(const std::vector<std::string>& topics, std::int64_t deadline_ms,
                    MetadataHandler handler);
  /// `acked` completes once (subscribe_resp or error); after a successful ack, `pushed` receives
  /// the subscription's frames until the gateway ends it, fail_all() or end_stream().
  Outgoing subscribe(const SubscribeRequest& request, std::int64_t deadline_ms,
                     SubscribeHandler acked, PushHandler pushed);
  /// cmd_credit. Not answered unless invalid, so nothing is registered for it.
  Outgoing credit(std::int64_t subscription_id, std::uint32_t credit);
  Outgoing unsubscribe(std::int64_t subscription_id, std::int64_t deadline_ms,
                       UnsubscribeHandler handler);
  Outgoing produce(const ProduceRequest& request, std::int64_t deadline_ms, ProduceHandler handler);
  /// Several records in one request (the gateway announces max_produce_batch_records > 0).
  Outgoing produce_batch(const std::vector<const ProduceRequest*>& records,
                         std::int64_t deadline_ms, ProduceBatchHandler handler);
  /// Like subscribe: `acked` once, then `pushed` receives the group stream's events.
  Outgoing group_subscribe(const GroupSubscribeRequest& request, std::int64_t deadline_ms,
                           GroupSubscribeHandler acked, GroupPushHandler pushed);
  /// cmd_kafka_commit; empty `offsets`: everything delivered so far.
  Outgoing commit(std::int64_t subscription_id, const std::vector<TopicPartitionOffset>& offsets,
                  std::int64_t deadline_ms, CommitHandler handler);

  /// Forgets the push stream of the subscribe sent with `sequence`: its later frames are dropped
  /// as unpaired. No handler runs.
  void end_stream(std::int64_t sequence) { streams_.erase(sequence); }

  /// Feeds one received binary frame. Pairs it by sequence and completes that request.
  /// A server error_resp completes it with ErrorCode::server; a response of the wrong kind
  /// with ErrorCode::protocol. Never throws on malformed input.
  FrameStatus on_frame(std::string_view frame);

  /// Fails every request whose deadline is <= now_ms with ErrorCode::timeout.
  void expire(std::int64_t now_ms);
  /// Earliest pending deadline, or -1 when nothing is pending.
  std::int64_t next_deadline() const noexcept;
  /// Fails every pending request and ends every push stream with `error` (e.g. on disconnect).
  void fail_all(const Error& error);

  std::size_t pending() const noexcept { return pending_.size(); }
  std::size_t streams() const noexcept { return streams_.size(); }
  /// Text of the last error_resp that paired with no request (e.g. "wrong command").
  const std::string& last_unpaired_error() const noexcept { return last_unpaired_error_; }

 private:
  struct Pending {
    std::int64_t deadline_ms;
    std::variant<PingHandler, OffsetHandler, FetchHandler, HelloHandler, MetadataHandler,
                 SubscribeHandler, UnsubscribeHandler, ProduceHandler, GroupSubscribeHandler,
                 CommitHandler, ProduceBatchHandler, FilteredFetchHandler>
        handler;
    PushHandler pushed = nullptr;             // subscribe only
    std::int32_t partition = 0;               // fetch only: stamped on the records
    GroupPushHandler group_pushed = nullptr;  // group_subscribe only
    std::int64_t offset = 0;                  // filtered fetch only: the offset asked for
  };
  // A push stream: a subscription's (pushed) or a group subscription's (group).
  struct Stream {
    PushHandler pushed;
    GroupPushHandler group;
  };
  std::int64_t register_request(Pending pending);

  std::int64_t next_sequence_ = 1;
  std::map<std::int64_t, Pending> pending_;
  std::map<std::int64_t, Stream> streams_;  // by the subscribe's sequence
  std::string last_unpaired_error_;
};

}  // namespace kpg::sdk
