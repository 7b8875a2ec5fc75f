// Subscription logic of the SDK core over the in-memory transport: start resolution, ordering,
// de-duplication, idle pacing, pause/resume, cancel, and ending on disconnect.
#include <kpg/pubsub.pb.h>
#include <kpg/sdk/client.h>

#include <gtest/gtest.h>

#include "fake_transport.h"

namespace {

using kpg::sdk::ErrorCode;
using kpg::sdk::Record;
using kpg::sdk::StartAt;
using kpg::testing::advance;
using kpg::testing::FakeTransport;

struct Subscribe : ::testing::Test {
  void SetUp() override {
    client = std::make_unique<kpg::sdk::Client>(std::make_unique<FakeTransport>(s),
                                                kpg::testing::options(1000, 5000, 100));
    client->connect("ws://h/kafka", [](auto) {});
    kpg::testing::open_apisix(s);
  }

  kpg::pubsub::PubSubReq last_request() {
    kpg::pubsub::PubSubReq req;
    EXPECT_FALSE(s.sent.empty());
    EXPECT_TRUE(req.ParseFromString(s.sent.back()));
    return req;
  }
  void reply_offset(std::int64_t offset) {
    kpg::pubsub::PubSubResp resp;
    resp.set_sequence(last_request().sequence());
    resp.mutable_kafka_list_offset_resp()->set_offset(offset);
    s.handlers.on_binary(resp.SerializeAsString());
  }
  void reply_records(std::vector<std::int64_t> offsets) {
    kpg::pubsub::PubSubResp resp;
    resp.set_sequence(last_request().sequence());
    auto* fetch = resp.mutable_kafka_fetch_resp();
    for (auto o : offsets) {
      auto* m = fetch->add_messages();
      m->set_offset(o);
      m->set_value("v" + std::to_string(o));
    }
    s.handlers.on_binary(resp.SerializeAsString());
  }
  std::shared_ptr<kpg::sdk::Subscription> subscribe(StartAt from) {
    return client->subscribe("t", 0, from,
                             {[this](const std::vector<Record>& batch) {
                                for (const auto& r : batch) seen.push_back(r.offset);
                              },
                              [this](const kpg::sdk::Error& e) { errors.push_back(e); }});
  }

  FakeTransport::State s;
  // Before the client: its destructor ends the subscriptions, which report to them.
  std::vector<std::int64_t> seen;
  std::vector<kpg::sdk::Error> errors;
  std::unique_ptr<kpg::sdk::Client> client;
};

TEST_F(Subscribe, ResolvesEarliestThenFetchesInOrderWithoutDuplicates) {
  auto sub = subscribe(StartAt::earliest());
  auto req = last_request();
  ASSERT_TRUE(req.has_cmd_kafka_list_offset());
  EXPECT_EQ(req.cmd_kafka_list_offset().timestamp(), -2);
  reply_offset(5);
  ASSERT_TRUE(last_request().has_cmd_kafka_fetch());
  EXPECT_EQ(last_request().cmd_kafka_fetch().offset(), 5);
  reply_records({4, 5, 6});  // 4 is before the requested offset: dropped
  EXPECT_EQ(seen, (std::vector<std::int64_t>{5, 6}));
  EXPECT_EQ(last_request().cmd_kafka_fetch().offset(), 7);  // continues at once
  reply_records({6, 7});                                    // 6 again: not delivered twice
  EXPECT_EQ(seen, (std::vector<std::int64_t>{5, 6, 7}));
  EXPECT_EQ(sub->next_offset(), 8);
}

TEST_F(Subscribe, AnEmptyQuickReplyWaitsTheIdleIntervalBeforeTheNextFetch) {
  subscribe(StartAt::offset(3));
  ASSERT_EQ(last_request().cmd_kafka_fetch().offset(), 3);
  const auto sent = s.sent.size();
  advance(s, 10);
  reply_records({});
  EXPECT_EQ(s.sent.size(), sent);  // no busy loop
  advance(s, 89);
  EXPECT_EQ(s.sent.size(), sent);
  advance(s, 1);
  EXPECT_EQ(s.sent.size(), sent + 1);
  EXPECT_EQ(last_request().cmd_kafka_fetch().offset(), 3);
}

TEST_F(Subscribe, TimestampWithNoRecordThatLateStartsAtTheEnd) {
  subscribe(StartAt::timestamp(1700000000000));
  EXPECT_EQ(last_request().cmd_kafka_list_offset().timestamp(), 1700000000000);
  reply_offset(-1);
  EXPECT_EQ(last_request().cmd_kafka_list_offset().timestamp(), -1);
  reply_offset(42);
  EXPECT_EQ(last_request().cmd_kafka_fetch().offset(), 42);
}

TEST_F(Subscribe, PauseHoldsRecordsAndResumeDeliversThem) {
  auto sub = subscribe(StartAt::offset(0));
  sub->pause();
  reply_records({0, 1});
  EXPECT_TRUE(seen.empty());
  const auto sent = s.sent.size();
  advance(s, 1000);
  EXPECT_EQ(s.sent.size(), sent);  // paused: no new fetch
  sub->resume();
  EXPECT_EQ(seen, (std::vector<std::int64_t>{0, 1}));
  EXPECT_EQ(last_request().cmd_kafka_fetch().offset(), 2);
}

TEST_F(Subscribe, CancelStopsEverything) {
  auto sub = subscribe(StartAt::offset(0));
  sub->cancel();
  reply_records({0});
  EXPECT_TRUE(seen.empty());
  EXPECT_FALSE(sub->active());
  EXPECT_TRUE(errors.empty());
}

TEST_F(Subscribe, ServerErrorEndsTheSubscriptionAndADisconnectDoesNot) {
  auto sub = subscribe(StartAt::offset(99));
  kpg::pubsub::PubSubResp resp;
  resp.set_sequence(last_request().sequence());
  resp.mutable_error_resp()->set_message("failed to fetch message, ... err: OFFSET_OUT_OF_RANGE");
  s.handlers.on_binary(resp.SerializeAsString());
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].code, ErrorCode::server);
  EXPECT_FALSE(sub->active());

  auto waiting = subscribe(StartAt::offset(0));
  reply_records({});  // now idling between fetches
  s.handlers.on_close({ErrorCode::transport, "reset"});
  EXPECT_EQ(errors.size(), 1u) << "the client reconnects; the subscription waits for it";
  EXPECT_TRUE(waiting->active());
  client->close();
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_EQ(errors[1].code, ErrorCode::closed);
  EXPECT_FALSE(waiting->active());
}

}  // namespace
