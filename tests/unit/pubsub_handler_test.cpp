// The protocol layer against a fake RecordSource: every APISIX connection behaviour that does
// not need a broker.
#include "pubsub/pubsub_handler.h"

#include <kpg/pubsub.pb.h>

#include "fake_sources.h"

#include <gtest/gtest.h>

namespace {

using kpg::pubsub::Outcome;

struct FakeSource : kpg::testing::PullOnlySource {
  void list_offset(std::string topic, std::int32_t partition, std::int64_t timestamp,
                   kpg::kafka::CancelToken,
                   std::function<void(kpg::kafka::OffsetResult)> done) override {
    last = topic + "/" + std::to_string(partition) + "@" + std::to_string(timestamp);
    done(offset_result);
  }
  void fetch(std::string topic, std::int32_t partition, std::int64_t offset,
             kpg::kafka::FetchLimits limits, kpg::kafka::CancelToken,
             std::function<void(kpg::kafka::FetchResult)> done) override {
    last = topic + "/" + std::to_string(partition) + "#" + std::to_string(offset);
    last_limits = limits;
    done(fetch_result);
  }
  std::string last;
  kpg::kafka::FetchLimits last_limits;
  kpg::kafka::OffsetResult offset_result;
  kpg::kafka::FetchResult fetch_result;
};

kpg::pubsub::PubSubResp decode(const std::string& bytes) {
  kpg::pubsub::PubSubResp resp;
  EXPECT_TRUE(resp.ParseFromString(bytes));
  return resp;
}

struct Handler : ::testing::Test {
  Outcome run(const std::string& frame) {
    return kpg::pubsub::handle_frame(frame, source, limits,
                                     [this](std::string reply) { async.push_back(reply); });
  }
  FakeSource source;
  kpg::pubsub::Limits limits;
  std::vector<std::string> async;
};

TEST_F(Handler, UndecodableFrameIsWrongCommandWithSequenceZero) {
  auto out = run(std::string("\x0a\xff\xff", 3));
  ASSERT_EQ(out.kind, Outcome::Kind::reply);
  auto resp = decode(out.reply);
  EXPECT_EQ(resp.sequence(), 0);
  EXPECT_EQ(resp.error_resp().code(), 0);
  EXPECT_EQ(resp.error_resp().message(), "wrong command");
}

TEST_F(Handler, FrameWithoutCommandGetsNoReply) {
  kpg::pubsub::PubSubReq req;
  req.set_sequence(9);
  EXPECT_EQ(run(req.SerializeAsString()).kind, Outcome::Kind::none);
  EXPECT_EQ(run("").kind, Outcome::Kind::none);
}

TEST_F(Handler, CmdEmptyIsUnknownCommandAndPingEchoes) {
  kpg::pubsub::PubSubReq req;
  req.set_sequence(7);
  req.mutable_cmd_empty();
  auto resp = decode(run(req.SerializeAsString()).reply);
  EXPECT_EQ(resp.sequence(), 7);
  EXPECT_EQ(resp.error_resp().message(), "unknown command");
  req.mutable_cmd_ping()->set_state(std::string("\0\1", 2));
  resp = decode(run(req.SerializeAsString()).reply);
  EXPECT_EQ(resp.sequence(), 7);
  EXPECT_EQ(resp.pong_resp().state(), std::string("\0\1", 2));
}

TEST_F(Handler, ListOffsetIsDispatchedAndAnswered) {
  kpg::pubsub::PubSubReq req;
  req.set_sequence(11);
  auto* cmd = req.mutable_cmd_kafka_list_offset();
  cmd->set_topic("orders");
  cmd->set_partition(2);
  cmd->set_timestamp(-2);
  source.offset_result.offset = 30;
  EXPECT_EQ(run(req.SerializeAsString()).kind, Outcome::Kind::pending);
  EXPECT_EQ(source.last, "orders/2@-2");
  ASSERT_EQ(async.size(), 1u);
  auto resp = decode(async[0]);
  EXPECT_EQ(resp.sequence(), 11);
  EXPECT_EQ(resp.kafka_list_offset_resp().offset(), 30);
}

TEST_F(Handler, TimestampLookupsPassThroughAndNoneFoundIsMinusOne) {
  // The mock broker cannot look offsets up by time, so the semantics are checked here, at the
  // Kafka boundary: the timestamp reaches the source unchanged and its answer goes back as is.
  kpg::pubsub::PubSubReq req;
  req.set_sequence(31);
  req.mutable_cmd_kafka_list_offset()->set_topic("t");
  req.mutable_cmd_kafka_list_offset()->set_timestamp(1700000000000);
  source.offset_result.offset = 17;  // first offset with timestamp >= 1700000000000
  run(req.SerializeAsString());
  EXPECT_EQ(source.last, "t/0@1700000000000");
  EXPECT_EQ(decode(async.back()).kafka_list_offset_resp().offset(), 17);
  source.offset_result.offset = -1;  // no record that late
  run(req.SerializeAsString());
  EXPECT_EQ(decode(async.back()).kafka_list_offset_resp().offset(), -1);
}

TEST_F(Handler, KafkaErrorsUseApisixMessageFormat) {
  kpg::pubsub::PubSubReq req;
  req.set_sequence(12);
  req.mutable_cmd_kafka_list_offset()->set_topic("t");
  req.mutable_cmd_kafka_list_offset()->set_partition(1);
  source.offset_result.error =
      kpg::kafka::KafkaError{kpg::kafka::ErrorKind::unknown_topic, "not found topic"};
  run(req.SerializeAsString());
  EXPECT_EQ(decode(async.back()).error_resp().message(),
            "failed to list offset, topic: t, partition: 1, err: not found topic");

  kpg::pubsub::PubSubReq fetch;
  fetch.set_sequence(13);
  fetch.mutable_cmd_kafka_fetch()->set_topic("t");
  fetch.mutable_cmd_kafka_fetch()->set_partition(0);
  fetch.mutable_cmd_kafka_fetch()->set_offset(99);
  source.fetch_result.error =
      kpg::kafka::KafkaError{kpg::kafka::ErrorKind::offset_out_of_range, "OFFSET_OUT_OF_RANGE"};
  run(fetch.SerializeAsString());
  auto resp = decode(async.back());
  EXPECT_EQ(resp.sequence(), 13);
  EXPECT_EQ(resp.error_resp().message(),
            "failed to fetch message, topic: t, partition: 0, err: OFFSET_OUT_OF_RANGE");
}

TEST_F(Handler, FetchCarriesRecordsAndLimits) {
  limits.fetch.max_bytes = 4096;
  kpg::pubsub::PubSubReq req;
  req.set_sequence(21);
  req.mutable_cmd_kafka_fetch()->set_topic("t");
  req.mutable_cmd_kafka_fetch()->set_offset(5);
  source.fetch_result.records = {{5, 1000, "k5", "v5"}, {6, 1001, "", "v6"}};
  run(req.SerializeAsString());
  EXPECT_EQ(source.last, "t/0#5");
  EXPECT_EQ(source.last_limits.max_bytes, 4096u);
  auto resp = decode(async.back());
  ASSERT_EQ(resp.kafka_fetch_resp().messages_size(), 2);
  EXPECT_EQ(resp.kafka_fetch_resp().messages(1).offset(), 6);
  EXPECT_EQ(resp.kafka_fetch_resp().messages(0).key(), "k5");
  EXPECT_EQ(resp.kafka_fetch_resp().messages(1).timestamp(), 1001);
}

}  // namespace
