// Client::GroupMember: one consumer-group membership over the client's connection (private to
// the core: applications see GroupSubscription).
#pragma once

#include <kpg/sdk/client.h>
#include <kpg/sdk/group.h>

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace kpg::sdk {

// Flow control as for push subscriptions: the gateway may push only the credit granted; each
// record frame is granted back once on_records returned (which is also the point an automatic
// commit keys on). A lost connection ends the membership at the gateway: after a reconnect the
// member joins again and the group hands out partitions anew.
class Client::GroupMember final : public GroupSubscription,
                                  public std::enable_shared_from_this<GroupMember> {
 public:
  GroupMember(Client& client, std::string group, std::vector<std::string> topics,
              GroupHandlers handlers, GroupOptions options);

  /// The connection is open (first time or again): join.
  void start();
  /// Ends the membership with `error`.
  void stop(const Error& error);
  void detach() { client_ = nullptr; }

  void commit(std::vector<TopicPartitionOffset> offsets, CommitHandler handler) override;
  void cancel() override;
  bool active() const override { return active_; }
  std::vector<TopicPartitionOffset> assignment() const override;
  std::map<std::pair<std::string, std::int32_t>, std::int64_t> delivered() const override {
    return delivered_;
  }

 private:
  using Key = std::pair<std::string, std::int32_t>;
  void on_subscribed(Result<ProtocolSession::GroupSubscribeAck> result);
  void on_event(Result<ProtocolSession::GroupEvent> event);
  void on_records(ProtocolSession::PushedRecords&& pushed);
  void on_assignment(const ProtocolSession::GroupAssignment& assignment);
  void ended(const Error& error);
  void grant();
  void leave();
  std::uint32_t window() const;

  Client* client_;
  std::string group_;
  std::vector<std::string> topics_;
  GroupHandlers handlers_;
  GroupOptions options_;
  bool active_ = true;
  std::int64_t sequence_ = 0;  // the group subscribe's, while it is (being) made
  std::int64_t subscription_id_ = 0;
  std::uint64_t granted_ = 0;
  int retries_ = 0;
  std::map<Key, std::int64_t> assigned_;   // -> start offset
  std::map<Key, std::int64_t> delivered_;  // -> offset after the last record delivered
};

}  // namespace kpg::sdk
