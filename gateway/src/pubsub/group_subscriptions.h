// Consumer-group subscriptions of one connection (docs/protocol.md, "Consumer groups"): the
// gateway joins a Kafka group on the client's behalf (kafka::GroupMember), pushes its
// assignments and records under credit, and commits what the client says it processed. No I/O;
// runs on the connection's thread, like Connection, which dispatches the group commands here.
#pragma once

#include "config/route.h"
#include "kafka/group_consumer.h"
#include "pubsub/frames.h"
#include "pubsub/observer.h"
#include "pubsub/pubsub_handler.h"

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace kpg::pubsub {

class CmdKafkaGroupSubscribe;
class CmdKafkaCommit;

/// What a connection needs to offer groups: its route's settings and who the client is.
struct GroupContext {
  kafka::GroupService* service = nullptr;         ///< nullptr: groups not offered
  std::optional<config::GroupSettings> settings;  ///< the route's; absent: not offered
  config::ClusterSettings cluster;                ///< how members reach Kafka
  std::string route_id;
  std::string consumer;  ///< the authenticated consumer; empty when the route has no auth
};

/// Longest group name a client may give.
inline constexpr std::size_t kMaxGroupNameLength = 200;
/// Most topics one group subscription may name.
inline constexpr std::size_t kMaxGroupTopics = 64;

/// Why `name` is not a valid group name (1-200 bytes, no control characters), or nothing.
std::optional<std::string> group_name_error(std::string_view name);

/// The Kafka group id for a client's group: "kpg.<route>.<consumer>.<group>", each part
/// percent-encoded outside [A-Za-z0-9_-], so that different routes, consumers or names never
/// map to the same id (and none can forge another's by embedding dots).
std::string kafka_group_id(std::string_view route_id, std::string_view consumer,
                           std::string_view group);

/// AUTO commit bookkeeping: frames delivered, in order, and the k oldest not yet acknowledged
/// are acknowledged by the next k credits granted back.
class AckLedger {
 public:
  using Key = std::pair<std::string, std::int32_t>;
  /// A frame of `key` ending before `next_offset` was delivered.
  void delivered(const Key& key, std::int64_t next_offset);
  /// Acknowledges the `frames` oldest frames; returns, per partition, the offset after the last
  /// record acknowledged (what to commit). Acknowledging more frames than are waiting
  /// acknowledges all of them.
  std::map<Key, std::int64_t> acknowledge(std::uint32_t frames);
  std::size_t waiting() const { return frames_.size(); }

 private:
  std::deque<std::pair<Key, std::int64_t>> frames_;
};

class GroupSubscriptions {
 public:
  struct Hooks {
    std::function<void(Frame)> push;  ///< an unsolicited frame
    /// The answer to a pending command (counted as that command).
    std::function<void(Command, std::string)> reply;
    std::function<void(std::function<void()>)> post;    ///< onto the connection's thread
    std::function<std::shared_ptr<void>()> keep_alive;  ///< may be empty
  };

  /// `last_id`: the connection's subscription id counter (group and push subscriptions share
  /// one id space, so that cmd_credit and cmd_unsubscribe name either).
  GroupSubscriptions(kafka::RecordSource& source, const Limits& limits, GroupContext context,
                     Hooks hooks, TopicAccess topics, std::int64_t& last_id);
  ~GroupSubscriptions();
  GroupSubscriptions(const GroupSubscriptions&) = delete;
  GroupSubscriptions& operator=(const GroupSubscriptions&) = delete;

  /// Group subscriptions a connection may hold (hello_resp); 0 when the route offers none.
  std::uint32_t max_subscriptions() const;

  Outcome subscribe(std::int64_t sequence, const CmdKafkaGroupSubscribe& cmd);
  Outcome commit(std::int64_t sequence, const CmdKafkaCommit& cmd);
  /// nullopt when `id` is no group subscription of this connection.
  std::optional<Outcome> credit(std::int64_t sequence, std::int64_t id, std::uint32_t credit,
                                std::uint32_t max_credit);
  std::optional<Outcome> unsubscribe(std::int64_t sequence, std::int64_t id);
  /// Leaves every group; nothing is sent afterwards.
  void shutdown();

 private:
  using Key = AckLedger::Key;
  struct Subscription {
    std::int64_t id = 0;
    std::int64_t sequence = 0;
    bool auto_commit = false;
    std::uint32_t credit = 0;
    std::unique_ptr<kafka::GroupMember> member;
    struct Owned {
      std::int64_t next = -1;  // where reading started, then the offset after the last delivery
      bool delivered = false;  // a record of it was delivered
    };
    std::map<Key, Owned> owned;  // the partitions the group gives this member
    AckLedger ledger;
  };

  Outcome error(std::int64_t sequence, int code, std::string_view message) const;
  void on_event(std::int64_t id, kafka::GroupEvent event);
  void end(Subscription& sub, int code, const std::string& message);

  kafka::RecordSource& source_;
  const Limits& limits_;
  GroupContext context_;
  Hooks hooks_;
  TopicAccess topics_;
  std::int64_t& last_id_;
  std::shared_ptr<kafka::Cancellation> cancel_ = std::make_shared<kafka::Cancellation>();
  std::map<std::int64_t, Subscription> subscriptions_;
  std::uint32_t starting_ = 0;
  bool shut_down_ = false;
};

}  // namespace kpg::pubsub
