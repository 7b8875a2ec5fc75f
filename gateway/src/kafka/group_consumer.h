// Consumer groups: a Kafka group member that the gateway runs on a client's behalf (one
// librdkafka high-level consumer per member, on its own thread). The PubSub layer sees only these
// interfaces; group_consumer.cpp implements them over librdkafka (rdkafka_group.h makes it) and
// tests fake them.
#pragma once

#include "config/route.h"
#include "kafka/record_source.h"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace kpg::kafka {

struct GroupPartition {
  std::string topic;
  std::int32_t partition = 0;
  std::int64_t offset = -1;  ///< where reading starts (assigned) or the offset to commit
  friend bool operator==(const GroupPartition&, const GroupPartition&) = default;
};

/// What a member reports, in order: a partition's `assigned` comes before its records, its
/// `revoked` / `lost` after the last of them; `failed` is the last event of all.
struct GroupEvent {
  enum class Kind { assigned, revoked, lost, records, failed };
  Kind kind = Kind::records;
  std::vector<GroupPartition> partitions;  ///< assigned, revoked, lost
  // records: consecutive records of one partition (never empty), costing one credit.
  std::string topic;
  std::int32_t partition = 0;
  std::int64_t high_watermark = 0;
  std::vector<Record> records;
  std::optional<KafkaError> error;  ///< failed: why the member left the group
  bool idle = false;                ///< failed: because the client kept zero credit too long
};

struct GroupOptions {
  std::string group_id;  ///< the Kafka group id (already scoped by the caller)
  std::vector<std::string> topics;
  bool from_earliest = false;  ///< where partitions without a committed offset start
  std::chrono::milliseconds session_timeout{10'000};
  /// Zero credit for this long ends the member (a `failed` event) so that others get its
  /// partitions.
  std::chrono::milliseconds idle_timeout{30'000};
  std::size_t max_batch_bytes = 1024 * 1024;  ///< record bytes of one records event (>= 1 record)
  std::size_t max_buffered_records = 4096;    ///< read but not delivered; fetching pauses beyond
  std::uint32_t credit = 0;                   ///< records events it may send before grant()
  /// AUTO commit: commit() calls also store the offsets, so that a revocation commits them.
  bool store_commits = false;
};

/// One member of a group. Thread-safe; no method blocks. Destroying it leaves the group (like
/// leave()) without waiting.
class GroupMember {
 public:
  virtual ~GroupMember() = default;
  /// `frames` more records events may be sent.
  virtual void grant(std::uint32_t frames) = 0;
  /// `rebalanced`: the group no longer gives this member (some of) the partitions.
  using CommitDone = std::function<void(std::optional<KafkaError> error, bool rebalanced)>;
  /// Commits `offsets` (next offsets to read). `done` (may be empty: asynchronous, unanswered)
  /// runs on the member's thread, unless the member left first.
  virtual void commit(std::vector<GroupPartition> offsets, CommitDone done) = 0;
  /// Leaves the group (off the caller's thread); no event follows.
  virtual void leave() = 0;
};

/// Starts group members; the gateway has one, shared by every route.
class GroupService {
 public:
  virtual ~GroupService() = default;
  using Sink = std::function<void(GroupEvent)>;
  /// Starts a member that joins `options.group_id` with `cluster`'s settings. `sink` is called on
  /// the member's thread, one event at a time, and must only hand the event over. nullptr with
  /// `error` when the gateway runs as many members as it may.
  virtual std::unique_ptr<GroupMember> join(const config::ClusterSettings& cluster,
                                            GroupOptions options, Sink sink,
                                            std::string* error) = 0;
};

}  // namespace kpg::kafka
