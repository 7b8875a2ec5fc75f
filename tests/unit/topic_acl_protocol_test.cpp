// The route's topic ACL enforced by the protocol layer: every command that names a topic
// (fetch, list_offset, subscribe, metadata with names) is refused before anything reaches the
// RecordSource, with NOT_ALLOWED after hello and APISIX's code 0 and wording before; metadata
// without names lists only the allowed topics.
#include "pubsub/connection.h"

#include <kpg/pubsub.pb.h>
#include <kpg/sdk/types.h>

#include <gtest/gtest.h>

#include <deque>
#include <string>
#include <vector>

namespace {

using kpg::pubsub::Connection;
using kpg::pubsub::ErrorCode;
using kpg::pubsub::Frame;
using kpg::pubsub::Outcome;
using kpg::pubsub::PubSubReq;
using kpg::pubsub::PubSubResp;
using nlohmann::json;

// Answers everything, and records every call: a refused request must leave `calls` empty.
struct RecordingSource : kpg::kafka::RecordSource {
  void list_offset(std::string topic, std::int32_t, std::int64_t, kpg::kafka::CancelToken,
                   std::function<void(kpg::kafka::OffsetResult)> done) override {
    calls.push_back("list_offset " + topic);
    done({std::nullopt, 0});
  }
  void fetch(std::string topic, std::int32_t, std::int64_t, kpg::kafka::FetchLimits,
             kpg::kafka::CancelToken, std::function<void(kpg::kafka::FetchResult)> done) override {
    calls.push_back("fetch " + topic);
    done({std::nullopt, {kpg::kafka::Record{0, 1, "k", "v"}}});
  }
  void fetch_batch(std::string topic, std::int32_t, std::int64_t, kpg::kafka::FetchLimits,
                   kpg::kafka::CancelToken, std::function<void(kpg::kafka::BatchResult)>) override {
    calls.push_back("fetch_batch " + topic);  // left unanswered: a subscription's read
  }
  void topics(std::vector<std::string> names, kpg::kafka::CancelToken,
              std::function<void(kpg::kafka::TopicsResult)> done) override {
    std::string call = "topics";
    for (const auto& n : names) call += " " + n;
    calls.push_back(call);
    kpg::kafka::TopicsResult r;
    for (const auto& [name, count] : all) {
      if (names.empty() || std::find(names.begin(), names.end(), name) != names.end()) {
        r.topics.emplace(name, count);
      }
    }
    done(std::move(r));
  }
  kpg::kafka::TopicPartitionCounts all{
      {"orders", 1}, {"metrics.cpu", 1}, {"metrics.mem", 1}, {"secret", 1}, {"__internal", 1}};
  std::vector<std::string> calls;
};

kpg::config::TopicAcl route_acl() {
  kpg::config::TopicAcl acl;
  acl.add("orders");
  acl.add("metrics.*");
  acl.add_claim("topics");
  return acl;
}

struct TopicAclProtocol : ::testing::Test {
  explicit TopicAclProtocol(const json* claims = nullptr)
      : acl(route_acl()),
        connection(source, limits, callbacks(), "kpg-gateway/test",
                   kpg::pubsub::TopicAccess{&acl, claims}) {}

  Connection::Callbacks callbacks() {
    Connection::Callbacks c;
    c.reply = [this](Frame f) { replies.push_back(decode(f)); };
    c.push = [](Frame) {};
    c.post = [](std::function<void()> task) { task(); };
    return c;
  }
  static PubSubResp decode(const Frame& frame) {
    PubSubResp resp;
    EXPECT_TRUE(resp.ParseFromString(frame.head + (frame.body ? frame.body->body : "")));
    return resp;
  }
  PubSubResp send(const PubSubReq& req) {
    const auto out = connection.on_frame(req.SerializeAsString());
    if (out.kind == Outcome::Kind::reply) return decode(Frame{out.reply, nullptr});
    EXPECT_EQ(out.kind, Outcome::Kind::pending);
    EXPECT_EQ(replies.size(), 1u);
    if (replies.empty()) return {};
    auto r = replies.front();
    replies.pop_front();
    return r;
  }
  // A request that must be refused at once, before the source: its error_resp.
  kpg::pubsub::ErrorResp refusal(const PubSubReq& req) {
    source.calls.clear();
    const auto out = connection.on_frame(req.SerializeAsString());
    EXPECT_EQ(out.kind, Outcome::Kind::reply) << "refused at once, not after a Kafka look-up";
    EXPECT_TRUE(source.calls.empty()) << "reached the source: " << source.calls.front();
    PubSubResp resp;
    EXPECT_TRUE(resp.ParseFromString(out.reply));
    EXPECT_EQ(resp.sequence(), req.sequence());
    EXPECT_TRUE(resp.has_error_resp()) << resp.ShortDebugString();
    return resp.error_resp();
  }
  void hello() {
    PubSubReq req;
    req.mutable_cmd_hello()->set_protocol_version(1);
    ASSERT_TRUE(send(req).has_hello_resp());
  }
  static PubSubReq fetch(const std::string& topic) {
    PubSubReq req;
    req.set_sequence(11);
    req.mutable_cmd_kafka_fetch()->set_topic(topic);
    req.mutable_cmd_kafka_fetch()->set_partition(0);
    return req;
  }
  static PubSubReq list_offset(const std::string& topic) {
    PubSubReq req;
    req.set_sequence(12);
    req.mutable_cmd_kafka_list_offset()->set_topic(topic);
    req.mutable_cmd_kafka_list_offset()->set_partition(2);
    req.mutable_cmd_kafka_list_offset()->set_timestamp(-1);
    return req;
  }
  static PubSubReq subscribe(const std::string& topic) {
    PubSubReq req;
    req.set_sequence(13);
    req.mutable_cmd_kafka_subscribe()->set_topic(topic);
    req.mutable_cmd_kafka_subscribe()->set_credit(1);
    return req;
  }
  static PubSubReq metadata(std::vector<std::string> names) {
    PubSubReq req;
    req.set_sequence(14);
    auto* cmd = req.mutable_cmd_kafka_metadata();
    for (const auto& n : names) cmd->add_topics(n);
    return req;
  }

  RecordingSource source;
  kpg::pubsub::Limits limits;
  kpg::config::TopicAcl acl;
  std::deque<PubSubResp> replies;
  Connection connection;
};

TEST_F(TopicAclProtocol, ApisixClientsGetCodeZeroAndApisixWording) {
  auto e = refusal(fetch("secret"));
  EXPECT_EQ(e.code(), 0);
  EXPECT_EQ(e.message(),
            "failed to fetch message, topic: secret, partition: 0, err: topic not "
            "allowed");
  e = refusal(list_offset("metrics"));
  EXPECT_EQ(e.code(), 0);
  EXPECT_EQ(e.message(),
            "failed to list offset, topic: metrics, partition: 2, err: topic not "
            "allowed");
}

TEST_F(TopicAclProtocol, AfterHelloTheCodeIsNotAllowed) {
  hello();
  for (const auto& req : {fetch("secret"), list_offset("orders-2"), subscribe("secret"),
                          metadata({"orders", "secret"})}) {
    EXPECT_EQ(refusal(req).code(), ErrorCode::NOT_ALLOWED) << req.ShortDebugString();
  }
  EXPECT_EQ(refusal(subscribe("secret")).message(),
            "failed to subscribe, topic: secret, err: topic not allowed");
  EXPECT_EQ(refusal(metadata({"orders", "metrics.cpu", "secret"})).message(),
            "failed to describe topics, topic: secret, err: topic not allowed");
}

TEST_F(TopicAclProtocol, InvalidNamesAreStillBadRequestsNotAclRefusals) {
  hello();
  const auto e = refusal(fetch("a/b"));
  EXPECT_EQ(e.code(), ErrorCode::BAD_REQUEST);
  EXPECT_EQ(e.message(),
            "failed to fetch message, topic: a/b, partition: 0, err: invalid topic "
            "name");
}

TEST_F(TopicAclProtocol, AllowedTopicsReachTheSource) {
  EXPECT_TRUE(send(fetch("orders")).has_kafka_fetch_resp());
  EXPECT_TRUE(send(list_offset("metrics.cpu")).has_kafka_list_offset_resp());
  hello();
  EXPECT_TRUE(send(fetch("metrics.mem")).has_kafka_fetch_resp());
  EXPECT_TRUE(send(subscribe("orders")).has_kafka_subscribe_resp());
  const auto meta = send(metadata({"metrics.cpu", "orders"}));
  ASSERT_TRUE(meta.has_kafka_metadata_resp()) << meta.ShortDebugString();
  EXPECT_EQ(meta.kafka_metadata_resp().topics_size(), 2);
  EXPECT_EQ(source.calls.front(), "fetch orders");
}

TEST_F(TopicAclProtocol, MetadataWithoutNamesListsOnlyAllowedTopics) {
  hello();
  const auto meta = send(metadata({}));
  ASSERT_TRUE(meta.has_kafka_metadata_resp()) << meta.ShortDebugString();
  std::vector<std::string> names;
  for (const auto& t : meta.kafka_metadata_resp().topics()) names.push_back(t.name());
  EXPECT_EQ(names, (std::vector<std::string>{"metrics.cpu", "metrics.mem", "orders"}));
  for (const auto& call : source.calls) {
    EXPECT_EQ(call.find("secret"), std::string::npos) << "no look-up of a hidden topic: " << call;
  }
}

TEST_F(TopicAclProtocol, WithoutClaimsTheClaimEntryAllowsNothing) {
  hello();
  EXPECT_EQ(refusal(fetch("alice.orders")).code(), ErrorCode::NOT_ALLOWED);
}

const json kAliceClaims = {{"sub", "alice"}, {"topics", {"alice.*"}}};

struct TopicAclWithClaims : TopicAclProtocol {
  TopicAclWithClaims() : TopicAclProtocol(&kAliceClaims) {}
};

TEST_F(TopicAclWithClaims, TheConnectionsClaimsAllowTheirTopics) {
  source.all.emplace("alice.orders", 1);
  source.all.emplace("bob.orders", 1);
  hello();
  EXPECT_TRUE(send(fetch("alice.orders")).has_kafka_fetch_resp());
  EXPECT_TRUE(send(fetch("orders")).has_kafka_fetch_resp()) << "the route's entries still apply";
  EXPECT_EQ(refusal(fetch("bob.orders")).code(), ErrorCode::NOT_ALLOWED);
  const auto meta = send(metadata({}));
  std::vector<std::string> names;
  for (const auto& t : meta.kafka_metadata_resp().topics()) names.push_back(t.name());
  EXPECT_EQ(names,
            (std::vector<std::string>{"alice.orders", "metrics.cpu", "metrics.mem", "orders"}));
}

TEST(NotAllowedCode, TheSdkNamesIt) {
  const auto code = static_cast<kpg::sdk::ServerCode>(ErrorCode::NOT_ALLOWED);
  EXPECT_EQ(code, kpg::sdk::ServerCode::not_allowed);
  EXPECT_STREQ(kpg::sdk::to_string(code), "not_allowed");
  EXPECT_FALSE(kpg::sdk::retryable(code)) << "retrying does not grant access";
}

}  // namespace
