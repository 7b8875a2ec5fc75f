// Consumer groups: N members (connections, anywhere) share the partitions of some topics; the
// gateway joins the group on each member's behalf, pushes assignment changes and the records of
// the member's partitions, and commits offsets so that a member taking a partition over resumes
// where the previous owner's commits stopped.
#pragma once

#include <kpg/sdk/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace kpg::sdk {

struct GroupOptions {
  /// Where a partition without a committed offset starts (earliest or latest only).
  enum class Start { latest, earliest };
  Start start = Start::latest;
  /// Record frames the gateway may push ahead of the application (credit; capped by
  /// ServerLimits::max_credit). A frame is granted back when on_records returned.
  std::uint32_t window = 8;
  /// explicit_only: only GroupSubscription::commit commits. automatic: the gateway commits a
  /// frame's records when the client grants credit after it, i.e. after on_records for that
  /// frame returned — so a record is committed only once the application has handled it, and a
  /// member that dies mid-frame has that frame delivered again to the next owner.
  enum class Commit { explicit_only, automatic };
  Commit commit = Commit::explicit_only;
};

struct GroupHandlers {
  /// Records of one partition of `topic`, in offset order.
  std::function<void(const std::string& topic, std::int32_t partition,
                     const std::vector<Record>& records)>
      on_records;
  /// Partitions this member now owns; offset: where reading starts.
  std::function<void(const std::vector<TopicPartitionOffset>& partitions)> on_assigned;
  /// Partitions taken away after their last record was delivered: commit what was processed
  /// (explicit mode) from within this callback or before.
  std::function<void(const std::vector<TopicPartitionOffset>& partitions)> on_revoked;
  /// Partitions lost without a clean handover (their commits fail with rebalanced).
  std::function<void(const std::vector<TopicPartitionOffset>& partitions)> on_lost;
  /// Called once when the subscription ends on an error (not for a lost connection while the
  /// client reconnects: the member then rejoins by itself).
  std::function<void(const Error& error)> on_error;
};

/// Control of a group membership. Threading: same as the Client that made it.
class GroupSubscription {
 public:
  using CommitHandler = std::function<void(Result<std::vector<TopicPartitionOffset>>)>;
  virtual ~GroupSubscription() = default;
  /// Commits `offsets` (the next offsets to read: last record processed + 1); empty: everything
  /// delivered so far. Completes with what the gateway committed, or an Error (rebalanced when
  /// a partition is no longer this member's; closed before the membership was established).
  virtual void commit(std::vector<TopicPartitionOffset> offsets, CommitHandler handler) = 0;
  /// Leaves the group; no callback runs afterwards. Idempotent.
  virtual void cancel() = 0;
  virtual bool active() const = 0;
  /// Partitions currently assigned to this member (topic, partition -> start offset).
  virtual std::vector<TopicPartitionOffset> assignment() const = 0;
  /// Per topic and partition: the offset after the last record delivered to on_records.
  virtual std::map<std::pair<std::string, std::int32_t>, std::int64_t> delivered() const = 0;
};

}  // namespace kpg::sdk
