// Group subscriptions in the protocol layer (pubsub/group_subscriptions.*, through Connection)
// against a scripted group member: the group id it asks for, frames in the order the member
// reports, AUTO commits of exactly the acknowledged frames, explicit commit checks, and leaving.
#include "pubsub/connection.h"

#include <kpg/pubsub.pb.h>

#include <gtest/gtest.h>

#include <deque>

namespace {

using kpg::kafka::GroupEvent;
using kpg::kafka::GroupPartition;
using kpg::pubsub::Connection;
using kpg::pubsub::ErrorCode;
using kpg::pubsub::Frame;
using kpg::pubsub::KafkaGroupAssignment;
using kpg::pubsub::Outcome;
using kpg::pubsub::PubSubReq;
using kpg::pubsub::PubSubResp;

struct TopicsOnly : kpg::kafka::RecordSource {
  void list_offset(std::string, std::int32_t, std::int64_t, kpg::kafka::CancelToken,
                   std::function<void(kpg::kafka::OffsetResult)>) override {}
  void fetch(std::string, std::int32_t, std::int64_t, kpg::kafka::FetchLimits,
             kpg::kafka::CancelToken, std::function<void(kpg::kafka::FetchResult)>) override {}
  void fetch_batch(std::string, std::int32_t, std::int64_t, kpg::kafka::FetchLimits,
                   kpg::kafka::CancelToken, std::function<void(kpg::kafka::BatchResult)>) override {
  }
  void topics(std::vector<std::string>, kpg::kafka::CancelToken,
              std::function<void(kpg::kafka::TopicsResult)> done) override {
    kpg::kafka::TopicsResult r;
    r.topics.emplace("t", 3);
    done(std::move(r));
  }
};

struct ScriptedMember : kpg::kafka::GroupMember {
  explicit ScriptedMember(bool& left_flag) : left(left_flag) {}
  void grant(std::uint32_t frames) override { granted += frames; }
  void commit(std::vector<GroupPartition> offsets, CommitDone done) override {
    commits.push_back({std::move(offsets), std::move(done)});
  }
  void leave() override { left = true; }
  std::uint32_t granted = 0;
  std::deque<std::pair<std::vector<GroupPartition>, CommitDone>> commits;
  bool& left;  // the service's: the member is gone once its subscription ended
};

struct ScriptedService : kpg::kafka::GroupService {
  std::unique_ptr<kpg::kafka::GroupMember> join(const kpg::config::ClusterSettings&,
                                                kpg::kafka::GroupOptions o, Sink s,
                                                std::string*) override {
    options = std::move(o);
    sink = std::move(s);
    auto m = std::make_unique<ScriptedMember>(left);
    member = m.get();
    return m;
  }
  kpg::kafka::GroupOptions options;
  Sink sink;
  ScriptedMember* member = nullptr;
  bool left = false;
};

PubSubResp decode(const std::string& bytes) {
  PubSubResp resp;
  EXPECT_TRUE(resp.ParseFromString(bytes));
  return resp;
}

GroupEvent partitions(GroupEvent::Kind kind, std::vector<GroupPartition> ps) {
  GroupEvent e;
  e.kind = kind;
  e.partitions = std::move(ps);
  return e;
}

GroupEvent records(std::int32_t partition, std::int64_t from, int n) {
  GroupEvent e;
  e.topic = "t";
  e.partition = partition;
  e.high_watermark = from + n + 10;
  for (int i = 0; i < n; ++i) e.records.push_back({from + i, 0, "k", "v"});
  return e;
}

struct GroupConnection : ::testing::Test {
  explicit GroupConnection(bool enabled = true)
      : connection(source, limits, callbacks(), "kpg-gateway/test", {},
                   enabled ? kpg::pubsub::GroupContext{&service,
                                                       kpg::config::GroupSettings{},
                                                       {},
                                                       "route",
                                                       "alice"}
                           : kpg::pubsub::GroupContext{}) {}

  Connection::Callbacks callbacks() {
    Connection::Callbacks c;
    c.reply = [this](Frame f) { replies.push_back(decode(f.head)); };
    c.push = [this](Frame f) { pushed.push_back(decode(f.head)); };
    c.post = [this](std::function<void()> task) { tasks.push_back(std::move(task)); };
    return c;
  }
  void run() {
    while (!tasks.empty()) {
      auto task = std::move(tasks.front());
      tasks.pop_front();
      task();
    }
  }
  PubSubResp send(const PubSubReq& req) {
    const auto out = connection.on_frame(req.SerializeAsString());
    if (out.kind == Outcome::Kind::reply) return decode(out.reply);
    run();
    if (replies.empty()) return {};
    auto r = replies.front();
    replies.pop_front();
    return r;
  }
  PubSubResp hello() {
    PubSubReq req;
    req.mutable_cmd_hello()->set_protocol_version(1);
    return send(req);
  }
  PubSubResp subscribe(kpg::pubsub::CmdKafkaGroupSubscribe::Commit mode) {
    PubSubReq req;
    req.set_sequence(5);
    auto* cmd = req.mutable_cmd_kafka_group_subscribe();
    cmd->set_group("workers");
    cmd->add_topics("t");
    cmd->set_credit(4);
    cmd->set_commit(mode);
    return send(req);
  }
  void event(GroupEvent e) {
    service.sink(std::move(e));
    run();
  }
  void credit(std::int64_t id, std::uint32_t n) {
    PubSubReq req;
    req.mutable_cmd_credit()->set_subscription_id(id);
    req.mutable_cmd_credit()->set_credit(n);
    EXPECT_EQ(connection.on_frame(req.SerializeAsString()).kind, Outcome::Kind::none);
  }
  PubSubResp commit(std::int64_t id, std::vector<GroupPartition> offsets) {
    PubSubReq req;
    req.set_sequence(9);
    req.mutable_cmd_kafka_commit()->set_subscription_id(id);
    for (const auto& o : offsets) {
      auto* tp = req.mutable_cmd_kafka_commit()->add_offsets();
      tp->set_topic(o.topic);
      tp->set_partition(o.partition);
      tp->set_offset(o.offset);
    }
    return send(req);
  }

  TopicsOnly source;
  kpg::pubsub::Limits limits;
  ScriptedService service;
  std::deque<std::function<void()>> tasks;
  std::deque<PubSubResp> replies;
  std::deque<PubSubResp> pushed;
  Connection connection;
};

TEST_F(GroupConnection, AutoCommitsWhatTheGrantedBackCreditAcknowledges) {
  const auto h = hello();
  EXPECT_EQ(h.hello_resp().limits().max_group_subscriptions(), 4u);
  EXPECT_EQ(h.hello_resp().features(h.hello_resp().features_size() - 1), "groups");
  const auto resp = subscribe(kpg::pubsub::CmdKafkaGroupSubscribe::AUTO);
  ASSERT_TRUE(resp.has_kafka_group_subscribe_resp()) << resp.ShortDebugString();
  const auto id = resp.kafka_group_subscribe_resp().subscription_id();
  EXPECT_EQ(service.options.group_id, "kpg.route.alice.workers");
  EXPECT_TRUE(service.options.store_commits);
  EXPECT_EQ(service.options.credit, 4u);

  // (-1001: librdkafka's "not known", sent as -1)
  event(partitions(GroupEvent::Kind::assigned, {{"t", 0, 0}, {"t", 1, 5}, {"t", 2, -1001}}));
  event(records(0, 0, 3));  // 0..2
  event(records(1, 5, 1));  // 5
  event(records(0, 3, 2));  // 3..4
  ASSERT_EQ(pushed.size(), 4u);
  EXPECT_EQ(pushed[0].kafka_group_assignment().kind(), KafkaGroupAssignment::ASSIGNED);
  EXPECT_EQ(pushed[0].kafka_group_assignment().partitions(1).offset(), 5);
  EXPECT_EQ(pushed[0].kafka_group_assignment().partitions(2).offset(), -1);
  EXPECT_EQ(pushed[1].kafka_records().topic(), "t");
  EXPECT_EQ(pushed[1].kafka_records().messages_size(), 3);
  EXPECT_EQ(pushed[1].sequence(), 5);

  // Two credits back: the two oldest frames (partition 0 to 3, partition 1 to 6).
  credit(id, 2);
  EXPECT_EQ(service.member->granted, 2u);
  ASSERT_EQ(service.member->commits.size(), 1u);
  EXPECT_EQ(service.member->commits[0].first,
            (std::vector<GroupPartition>{{"t", 0, 3}, {"t", 1, 6}}));
  EXPECT_FALSE(service.member->commits[0].second);  // asynchronous, unanswered
  service.member->commits.clear();

  // Partition 0 is revoked: acknowledging its last frame commits nothing.
  event(partitions(GroupEvent::Kind::revoked, {{"t", 0, -1}}));
  EXPECT_EQ(pushed.back().kafka_group_assignment().kind(), KafkaGroupAssignment::REVOKED);
  credit(id, 1);
  EXPECT_TRUE(service.member->commits.empty());
}

TEST_F(GroupConnection, ExplicitCommitsAreCheckedAndAnswered) {
  hello();
  const auto id = subscribe(kpg::pubsub::CmdKafkaGroupSubscribe::EXPLICIT)
                      .kafka_group_subscribe_resp()
                      .subscription_id();
  EXPECT_FALSE(service.options.store_commits);
  event(partitions(GroupEvent::Kind::assigned, {{"t", 0, 0}, {"t", 1, 5}}));
  event(records(0, 0, 3));
  credit(id, 1);
  EXPECT_TRUE(service.member->commits.empty());  // EXPLICIT: credit commits nothing

  EXPECT_EQ(commit(id, {{"t", 0, 4}}).error_resp().code(), ErrorCode::BAD_REQUEST);
  EXPECT_EQ(commit(id, {{"t", 0, -1}}).error_resp().code(), ErrorCode::BAD_REQUEST);
  EXPECT_EQ(commit(id, {{"t", 2, 0}}).error_resp().code(), ErrorCode::REBALANCED);
  EXPECT_EQ(commit(id + 1, {}).error_resp().code(), ErrorCode::UNKNOWN_SUBSCRIPTION);
  EXPECT_TRUE(service.member->commits.empty());

  // Empty: what was delivered (partition 1 had nothing delivered yet).
  EXPECT_EQ(connection
                .on_frame([&] {
                  PubSubReq req;
                  req.set_sequence(9);
                  req.mutable_cmd_kafka_commit()->set_subscription_id(id);
                  return req.SerializeAsString();
                }())
                .kind,
            Outcome::Kind::pending);
  ASSERT_EQ(service.member->commits.size(), 1u);
  EXPECT_EQ(service.member->commits[0].first, (std::vector<GroupPartition>{{"t", 0, 3}}));
  service.member->commits[0].second(std::nullopt, false);
  run();
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_EQ(replies[0].kafka_commit_resp().committed(0).offset(), 3);

  // The coordinator says the group moved on.
  EXPECT_EQ(connection
                .on_frame([&] {
                  PubSubReq req;
                  req.set_sequence(10);
                  req.mutable_cmd_kafka_commit()->set_subscription_id(id);
                  auto* o = req.mutable_cmd_kafka_commit()->add_offsets();
                  o->set_topic("t");
                  o->set_partition(1);
                  o->set_offset(5);
                  return req.SerializeAsString();
                }())
                .kind,
            Outcome::Kind::pending);
  service.member->commits[1].second(std::nullopt, true);
  run();
  EXPECT_EQ(replies.back().error_resp().code(), ErrorCode::REBALANCED);

  // Unsubscribing leaves the group; a member's failure ends nothing more.
  PubSubReq unsubscribe;
  unsubscribe.set_sequence(11);
  unsubscribe.mutable_cmd_unsubscribe()->set_subscription_id(id);
  EXPECT_EQ(send(unsubscribe).unsubscribe_resp().subscription_id(), id);
  EXPECT_TRUE(service.left);
}

TEST_F(GroupConnection, AnIdleMemberEndsTheSubscriptionWithLimitExceeded) {
  hello();
  subscribe(kpg::pubsub::CmdKafkaGroupSubscribe::EXPLICIT);
  GroupEvent failed;
  failed.kind = GroupEvent::Kind::failed;
  failed.idle = true;
  failed.error = kpg::kafka::KafkaError{kpg::kafka::ErrorKind::other, "no credit for 10 ms"};
  event(std::move(failed));
  ASSERT_EQ(pushed.size(), 1u);
  EXPECT_EQ(pushed[0].sequence(), 5);
  EXPECT_EQ(pushed[0].error_resp().code(), ErrorCode::LIMIT_EXCEEDED);
  EXPECT_EQ(pushed[0].error_resp().message(), "group subscription ended, err: no credit for 10 ms");
  EXPECT_TRUE(service.left);
}

struct NoGroups : GroupConnection {
  NoGroups() : GroupConnection(false) {}
};

TEST_F(NoGroups, GroupCommandsAreNotAllowed) {
  const auto h = hello();
  EXPECT_EQ(h.hello_resp().limits().max_group_subscriptions(), 0u);
  const auto resp = subscribe(kpg::pubsub::CmdKafkaGroupSubscribe::EXPLICIT);
  EXPECT_EQ(resp.error_resp().code(), ErrorCode::NOT_ALLOWED);
  EXPECT_EQ(resp.error_resp().message(),
            "failed to subscribe to group, err: consumer groups are not enabled on this route");
}

}  // namespace
