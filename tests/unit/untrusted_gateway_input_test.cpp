// The gateway's protocol layer never throws on what a client sends: 200,000 mutated requests,
// each answered with a well-formed reply, nothing, or a Kafka command (never anything else).
#include "pubsub/pubsub_handler.h"

#include <kpg/pubsub.pb.h>

#include "mutated_frames.h"

#include "fake_sources.h"

#include <gtest/gtest.h>

namespace {

struct CountingSource : kpg::testing::PullOnlySource {
  void list_offset(std::string, std::int32_t, std::int64_t, kpg::kafka::CancelToken,
                   std::function<void(kpg::kafka::OffsetResult)> done) override {
    done({});
  }
  void fetch(std::string, std::int32_t, std::int64_t, kpg::kafka::FetchLimits,
             kpg::kafka::CancelToken, std::function<void(kpg::kafka::FetchResult)> done) override {
    done({});
  }
};

std::vector<std::string> valid_requests() {
  std::vector<std::string> out;
  kpg::pubsub::PubSubReq ping;
  ping.set_sequence(1);
  ping.mutable_cmd_ping()->set_state("hello");
  out.push_back(ping.SerializeAsString());
  kpg::pubsub::PubSubReq list;
  list.set_sequence(2);
  list.mutable_cmd_kafka_list_offset()->set_topic("orders");
  list.mutable_cmd_kafka_list_offset()->set_partition(3);
  list.mutable_cmd_kafka_list_offset()->set_timestamp(-2);
  out.push_back(list.SerializeAsString());
  kpg::pubsub::PubSubReq fetch;
  fetch.set_sequence(3);
  fetch.mutable_cmd_kafka_fetch()->set_topic("orders");
  fetch.mutable_cmd_kafka_fetch()->set_partition(1);
  fetch.mutable_cmd_kafka_fetch()->set_offset(123456789);
  out.push_back(fetch.SerializeAsString());
  kpg::pubsub::PubSubReq empty;
  empty.set_sequence(4);
  empty.mutable_cmd_empty();
  out.push_back(empty.SerializeAsString());
  return out;
}

TEST(UntrustedClientInput, MutatedRequestsNeverThrowAndEveryReplyDecodes) {
  const kpg::testing::QuietProtobufLog quiet;  // invalid UTF-8 in strings is expected here
  kpg::testing::FrameMutator mutator(valid_requests());
  CountingSource source;
  kpg::pubsub::Limits limits;
  int replies = 0;
  int async_replies = 0;
  for (int i = 0; i < 200'000; ++i) {
    const std::string frame = mutator.next();
    kpg::pubsub::Outcome outcome;
    ASSERT_NO_THROW(outcome = kpg::pubsub::handle_frame(frame, source, limits,
                                                        [&](std::string reply) {
                                                          kpg::pubsub::PubSubResp r;
                                                          ASSERT_TRUE(r.ParseFromString(reply));
                                                          ++async_replies;
                                                        }))
        << "iteration " << i;
    if (outcome.kind == kpg::pubsub::Outcome::Kind::reply) {
      kpg::pubsub::PubSubResp r;
      ASSERT_TRUE(r.ParseFromString(outcome.reply)) << "iteration " << i;
      ++replies;
    }
  }
  // The mutations reach every path: immediate replies and Kafka commands.
  EXPECT_GT(replies, 1000);
  EXPECT_GT(async_replies, 1000);
}

}  // namespace
