// Kafka command arguments that Kafka can never accept (topic names outside Kafka's rules,
// negative partitions or offsets) are refused by the protocol layer with an APISIX-style error
// and never reach the RecordSource.
#include "pubsub/pubsub_handler.h"

#include <kpg/pubsub.pb.h>

#include "fake_sources.h"

#include <gtest/gtest.h>

#include <string>

namespace {

using kpg::pubsub::Outcome;

// Fails the test on any call: every request here must be refused before Kafka.
struct UntouchableSource : kpg::testing::PullOnlySource {
  void list_offset(std::string topic, std::int32_t, std::int64_t, kpg::kafka::CancelToken,
                   std::function<void(kpg::kafka::OffsetResult)>) override {
    ADD_FAILURE() << "list_offset reached the source, topic of " << topic.size() << " bytes";
  }
  void fetch(std::string topic, std::int32_t, std::int64_t, kpg::kafka::FetchLimits,
             kpg::kafka::CancelToken, std::function<void(kpg::kafka::FetchResult)>) override {
    ADD_FAILURE() << "fetch reached the source, topic of " << topic.size() << " bytes";
  }
};

std::string fetch_frame(const std::string& topic, std::int32_t partition, std::int64_t offset) {
  kpg::pubsub::PubSubReq req;
  req.set_sequence(42);
  req.mutable_cmd_kafka_fetch()->set_topic(topic);
  req.mutable_cmd_kafka_fetch()->set_partition(partition);
  req.mutable_cmd_kafka_fetch()->set_offset(offset);
  return req.SerializeAsString();
}

std::string list_offset_frame(const std::string& topic, std::int32_t partition) {
  kpg::pubsub::PubSubReq req;
  req.set_sequence(43);
  req.mutable_cmd_kafka_list_offset()->set_topic(topic);
  req.mutable_cmd_kafka_list_offset()->set_partition(partition);
  req.mutable_cmd_kafka_list_offset()->set_timestamp(-1);
  return req.SerializeAsString();
}

struct ArgumentCheck : ::testing::Test {
  // The error text of a request that must be answered at once, without the source.
  std::string refusal(const std::string& frame) {
    const Outcome out = kpg::pubsub::handle_frame(frame, source, limits, [](std::string) {
      ADD_FAILURE() << "a refused request has no asynchronous reply";
    });
    EXPECT_EQ(out.kind, Outcome::Kind::reply);
    kpg::pubsub::PubSubResp resp;
    EXPECT_TRUE(resp.ParseFromString(out.reply));
    EXPECT_TRUE(resp.has_error_resp());
    return resp.error_resp().message();
  }
  UntouchableSource source;
  kpg::pubsub::Limits limits;
};

TEST_F(ArgumentCheck, TopicNamesKafkaCannotHaveAreRefusedBeforeTheSource) {
  EXPECT_EQ(refusal(fetch_frame("", 0, 0)),
            "failed to fetch message, topic: , partition: 0, err: invalid topic name");
  EXPECT_EQ(refusal(fetch_frame("a/b", 1, 0)),
            "failed to fetch message, topic: a/b, partition: 1, err: invalid topic name");
  EXPECT_EQ(refusal(fetch_frame(std::string("many\0x", 6), 0, 0)),
            "failed to fetch message, topic: many\\x00x, partition: 0, err: invalid topic name");
  EXPECT_EQ(refusal(fetch_frame("..", 0, 0)),
            "failed to fetch message, topic: .., partition: 0, err: invalid topic name");
  EXPECT_EQ(refusal(list_offset_frame("a b", 0)),
            "failed to list offset, topic: a b, partition: 0, err: invalid topic name");
  EXPECT_EQ(refusal(list_offset_frame(std::string(250, 't'), 0)),
            "failed to list offset, topic: " + std::string(64, 't') +
                "...(250 bytes), partition: 0, err: invalid topic name");
}

TEST_F(ArgumentCheck, TheEchoedNameIsShortAndPrintableWhateverWasSent) {
  std::string hostile(40'000, '\x01');
  hostile.replace(0, 3, "ab\\");
  const std::string message = refusal(fetch_frame(hostile, 0, 0));
  EXPECT_LT(message.size(), 400u) << "the reply must not grow with the name";
  EXPECT_NE(message.find("topic: ab\\x5c\\x01\\x01"), std::string::npos) << message;
  EXPECT_NE(message.find("...(40000 bytes)"), std::string::npos) << message;
  for (const char c : message) {
    EXPECT_TRUE(c >= 0x20 && c < 0x7f) << "byte " << static_cast<int>(c);
  }
}

TEST_F(ArgumentCheck, NegativePartitionsAndOffsetsAreRefused) {
  EXPECT_EQ(refusal(fetch_frame("orders", -1, 0)),
            "failed to fetch message, topic: orders, partition: -1, err: invalid partition");
  EXPECT_EQ(refusal(list_offset_frame("orders", -7)),
            "failed to list offset, topic: orders, partition: -7, err: invalid partition");
  EXPECT_EQ(refusal(fetch_frame("orders", 0, -1)),
            "failed to fetch message, topic: orders, partition: 0, err: invalid offset");
}

}  // namespace
