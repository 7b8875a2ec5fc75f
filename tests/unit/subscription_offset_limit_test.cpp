// A server that sends a record at the largest int64 offset (no offset can follow it) ends the
// subscription with a protocol error instead of overflowing the next offset (found by
// fuzz_sdk_reply under UBSan).
#include <kpg/pubsub.pb.h>
#include <kpg/sdk/client.h>

#include <gtest/gtest.h>

#include <limits>

#include "fake_transport.h"

namespace {

using kpg::testing::FakeTransport;

TEST(SubscriptionOffsetLimit, ARecordAtTheLargestOffsetIsAProtocolErrorNotAnOverflow) {
  FakeTransport::State s;
  std::vector<std::int64_t> seen;  // before the client, whose destructor may report to them
  std::vector<kpg::sdk::Error> errors;
  kpg::sdk::Client client(std::make_unique<FakeTransport>(s), kpg::testing::options(1000, 5000));
  client.connect("ws://h/kafka", [](auto) {});
  kpg::testing::open_apisix(s);
  constexpr auto kMax = std::numeric_limits<std::int64_t>::max();
  auto sub = client.subscribe("t", 0, kpg::sdk::StartAt::offset(kMax - 1),
                              {[&](const std::vector<kpg::sdk::Record>& batch) {
                                 for (const auto& r : batch) seen.push_back(r.offset);
                               },
                               [&](const kpg::sdk::Error& e) { errors.push_back(e); }});
  ASSERT_EQ(s.sent.size(), 1u);

  kpg::pubsub::PubSubReq request;
  ASSERT_TRUE(request.ParseFromString(s.sent.back()));
  kpg::pubsub::PubSubResp reply;
  reply.set_sequence(request.sequence());
  reply.mutable_kafka_fetch_resp()->add_messages()->set_offset(kMax - 1);
  reply.mutable_kafka_fetch_resp()->add_messages()->set_offset(kMax);
  s.handlers.on_binary(reply.SerializeAsString());

  EXPECT_EQ(seen, (std::vector<std::int64_t>{kMax - 1})) << "records before it are delivered";
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].code, kpg::sdk::ErrorCode::protocol);
  EXPECT_NE(errors[0].message.find(std::to_string(kMax)), std::string::npos) << errors[0].message;
  EXPECT_FALSE(sub->active());
  EXPECT_EQ(s.sent.size(), 1u) << "no fetch after it (the next offset does not exist)";
}

}  // namespace
