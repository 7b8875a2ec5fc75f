// The SDK core's kpg extensions over the in-memory transport: hello and the APISIX fallback,
// typed server codes, record headers, metadata, and push subscriptions with credit (accounting,
// pause, pull mode, resubscribe from the next offsets after a reconnect or a retryable error).
#include <kpg/pubsub.pb.h>
#include <kpg/sdk/client.h>

#include "fake_transport.h"

#include <gtest/gtest.h>

#include <map>
#include <optional>

namespace {

using kpg::pubsub::PubSubReq;
using kpg::pubsub::PubSubResp;
using kpg::sdk::ErrorCode;
using kpg::sdk::Record;
using kpg::sdk::ServerCode;
using kpg::sdk::StartAt;
using kpg::testing::advance;
using kpg::testing::FakeTransport;

struct Push : ::testing::Test {
  void SetUp() override { make_client(); }

  void make_client() {
    client = std::make_unique<kpg::sdk::Client>(std::make_unique<FakeTransport>(s),
                                                kpg::testing::options(1000, 5000, 100));
    client->connect("ws://h/kafka", [this](auto r) { connected = r.ok(); });
  }

  // Every request sent since the last call, decoded.
  std::vector<PubSubReq> take_sent() {
    std::vector<PubSubReq> out;
    for (const auto& frame : s.sent) {
      PubSubReq req;
      EXPECT_TRUE(req.ParseFromString(frame));
      out.push_back(req);
    }
    s.sent.clear();
    return out;
  }
  PubSubReq only_sent() {
    auto sent = take_sent();
    EXPECT_EQ(sent.size(), 1u);
    return sent.empty() ? PubSubReq{} : sent[0];
  }
  void reply(PubSubResp resp) { s.handlers.on_binary(resp.SerializeAsString()); }
  void ack(const PubSubReq& subscribe, std::int64_t id,
           std::vector<std::pair<std::int32_t, std::int64_t>> starts) {
    PubSubResp resp;
    resp.set_sequence(subscribe.sequence());
    resp.mutable_kafka_subscribe_resp()->set_subscription_id(id);
    for (auto [p, o] : starts) {
      auto* start = resp.mutable_kafka_subscribe_resp()->add_start();
      start->set_partition(p);
      start->set_offset(o);
    }
    reply(resp);
  }
  void push(const PubSubReq& subscribe, std::int64_t id, std::int32_t partition,
            std::vector<std::int64_t> offsets) {
    PubSubResp resp;
    resp.set_sequence(subscribe.sequence());
    auto* records = resp.mutable_kafka_records();
    records->set_subscription_id(id);
    records->set_partition(partition);
    for (auto o : offsets) {
      auto* m = records->add_messages();
      m->set_offset(o);
      m->set_value("v" + std::to_string(o));
    }
    reply(resp);
  }
  void error(std::int64_t sequence, kpg::pubsub::ErrorCode code, std::string message) {
    PubSubResp resp;
    resp.set_sequence(sequence);
    resp.mutable_error_resp()->set_code(code);
    resp.mutable_error_resp()->set_message(std::move(message));
    reply(resp);
  }
  // Total credit granted by cmd_credit frames in `sent`.
  static std::uint64_t credit_in(const std::vector<PubSubReq>& sent) {
    std::uint64_t total = 0;
    for (const auto& r : sent) total += r.has_cmd_credit() ? r.cmd_credit().credit() : 0;
    return total;
  }
  std::shared_ptr<kpg::sdk::Subscription> subscribe_topic(std::vector<std::int32_t> partitions,
                                                          StartAt from,
                                                          kpg::sdk::SubscribeOptions options = {}) {
    return client->subscribe_topic("t", std::move(partitions), from,
                                   {[this](const std::vector<Record>& batch) {
                                      for (const auto& r : batch) {
                                        seen.emplace_back(r.partition, r.offset);
                                      }
                                      if (on_batch) on_batch();
                                    },
                                    [this](const kpg::sdk::Error& e) { errors.push_back(e); }},
                                   options);
  }

  FakeTransport::State s;
  std::vector<std::pair<std::int32_t, std::int64_t>> seen;
  std::vector<kpg::sdk::Error> errors;
  std::function<void()> on_batch;
  bool connected = false;
  std::unique_ptr<kpg::sdk::Client> client;
};

TEST_F(Push, HelloComesFirstAndConnectWaitsForItsAnswer) {
  s.handlers.on_open();
  EXPECT_FALSE(connected) << "connect completes once the gateway's mode is known";
  const auto hello = only_sent();
  ASSERT_TRUE(hello.has_cmd_hello());
  EXPECT_EQ(hello.cmd_hello().protocol_version(), 1u);
  EXPECT_EQ(hello.cmd_hello().client().rfind("kpg-sdk/", 0), 0u) << hello.cmd_hello().client();
  std::optional<kpg::sdk::Error> early;
  client->ping("x", [&](auto r) { early = r.error(); });
  ASSERT_TRUE(early);
  EXPECT_EQ(early->message, "not connected yet");

  PubSubResp resp;
  resp.set_sequence(hello.sequence());
  auto* h = resp.mutable_hello_resp();
  h->set_protocol_version(1);
  h->add_features("push");
  h->add_features("metadata");
  h->mutable_limits()->set_max_credit(32);
  h->mutable_limits()->set_max_subscriptions(7);
  h->set_server("kpg-gateway/9");
  reply(resp);
  EXPECT_TRUE(connected);
  const auto& info = client->server_info();
  EXPECT_TRUE(info.kpg());
  EXPECT_TRUE(info.has("push"));
  EXPECT_FALSE(info.has("headers"));
  EXPECT_EQ(info.limits.max_credit, 32u);
  EXPECT_EQ(info.limits.max_subscriptions, 7u);
  EXPECT_EQ(info.server, "kpg-gateway/9");
}

TEST_F(Push, AnApisixGatewayMeansTheApisixSubset) {
  kpg::testing::open_apisix(s);
  EXPECT_TRUE(connected);
  EXPECT_FALSE(client->server_info().kpg());
  EXPECT_TRUE(client->server_info().features.empty());

  std::optional<kpg::sdk::Error> failure;
  client->metadata({"t"}, [&](auto r) { failure = r.error(); });
  ASSERT_TRUE(failure);
  EXPECT_EQ(failure->code, ErrorCode::server);
  EXPECT_EQ(failure->server_code, ServerCode::unknown_command);
  EXPECT_NE(failure->message.find("does not offer metadata"), std::string::npos);
  EXPECT_TRUE(s.sent.empty()) << "nothing is asked of a gateway that cannot answer";

  auto all = subscribe_topic({}, StartAt::earliest());
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].message.find("name the partitions"), std::string::npos);
  EXPECT_FALSE(all->active());

  // Named partitions: one list_offset + fetch loop each, records tagged with their partition.
  subscribe_topic({2, 1}, StartAt::offset(5));
  auto fetches = take_sent();
  ASSERT_EQ(fetches.size(), 2u);
  for (const auto& f : fetches) {
    ASSERT_TRUE(f.has_cmd_kafka_fetch());
    EXPECT_EQ(f.cmd_kafka_fetch().offset(), 5);
  }
  PubSubResp resp;
  resp.set_sequence(fetches[1].sequence());
  resp.mutable_kafka_fetch_resp()->add_messages()->set_offset(5);
  reply(resp);
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0], std::make_pair(fetches[1].cmd_kafka_fetch().partition(), std::int64_t{5}));
}

TEST_F(Push, AnUnansweredHelloMeansTheApisixSubset) {
  // A kpg gateway older than hello ignores it; the client waits hello_timeout_ms, no longer.
  auto opts = kpg::testing::options(1000, 20'000);
  opts.hello_timeout_ms = 3000;
  client = std::make_unique<kpg::sdk::Client>(std::make_unique<FakeTransport>(s), opts);
  connected = false;
  client->connect("ws://h/", [&](auto r) { connected = r.ok(); });
  s.handlers.on_open();
  ASSERT_TRUE(only_sent().has_cmd_hello());
  advance(s, 2999);
  EXPECT_FALSE(connected);
  advance(s, 1);
  EXPECT_TRUE(connected);
  EXPECT_FALSE(s.closed);
  EXPECT_FALSE(client->server_info().kpg());
  subscribe_topic({0}, StartAt::offset(4));
  EXPECT_EQ(only_sent().cmd_kafka_fetch().offset(), 4) << "the APISIX subset";
}

TEST_F(Push, HelloIsSentAgainOnEveryReconnect) {
  kpg::testing::open_kpg(s);
  int reconnects = 0;
  client->on_reconnect([&] { ++reconnects; });
  s.handlers.on_close({ErrorCode::transport, "reset"});
  advance(s, 200);
  ASSERT_EQ(s.opens, 2);
  s.handlers.on_open();
  ASSERT_TRUE(only_sent().has_cmd_hello());
  EXPECT_FALSE(client->is_open()) << "not open before the gateway's mode is known";
  s.handlers.on_close({ErrorCode::transport, "reset during hello"});
  EXPECT_EQ(reconnects, 0);
  advance(s, 400);  // the next attempt, after the doubled backoff
  ASSERT_EQ(s.opens, 3);
  kpg::testing::open_apisix(s);
  EXPECT_EQ(reconnects, 1);
  EXPECT_TRUE(client->is_open());
  EXPECT_FALSE(client->server_info().kpg()) << "negotiated again: now an APISIX gateway";
  s.handlers.on_close({ErrorCode::transport, "reset"});
  advance(s, 200);
  kpg::testing::open_kpg(s);
  EXPECT_EQ(reconnects, 2);
  EXPECT_TRUE(client->server_info().has("push"));
}

TEST_F(Push, ServerErrorsCarryTheirCodeAndRecordsTheirHeaders) {
  kpg::testing::open_kpg(s);
  std::optional<kpg::sdk::Error> failure;
  client->list_offsets("missing", 0, kpg::sdk::kLatest, [&](auto r) { failure = r.error(); });
  error(only_sent().sequence(), kpg::pubsub::UNKNOWN_TOPIC,
        "failed to list offset, topic: missing, partition: 0, err: unknown topic");
  ASSERT_TRUE(failure);
  EXPECT_EQ(failure->code, ErrorCode::server);
  EXPECT_EQ(failure->server_code, ServerCode::unknown_topic);
  EXPECT_STREQ(kpg::sdk::to_string(failure->server_code), "unknown_topic");
  EXPECT_STREQ(kpg::sdk::to_string(static_cast<ServerCode>(99)), "unknown");
  EXPECT_TRUE(kpg::sdk::retryable(ServerCode::unavailable));
  EXPECT_FALSE(kpg::sdk::retryable(ServerCode::offset_out_of_range));

  std::vector<Record> records;
  client->fetch("t", 3, 0, [&](auto r) { records = r.value(); });
  PubSubResp resp;
  resp.set_sequence(only_sent().sequence());
  auto* m = resp.mutable_kafka_fetch_resp()->add_messages();
  m->set_offset(0);
  auto* h = m->add_headers();
  h->set_key("trace");
  h->set_value(std::string("\0\1", 2));
  m->add_headers()->set_key("empty");
  reply(resp);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].partition, 3);
  EXPECT_EQ(records[0].headers,
            (std::vector<kpg::sdk::Header>{{"trace", std::string("\0\1", 2)}, {"empty", ""}}));
}

TEST_F(Push, MetadataListsTopicsWithTheirPartitions) {
  kpg::testing::open_kpg(s);
  std::vector<kpg::sdk::TopicInfo> topics;
  client->metadata({"a"}, [&](auto r) { topics = r.value(); });
  const auto req = only_sent();
  ASSERT_TRUE(req.has_cmd_kafka_metadata());
  ASSERT_EQ(req.cmd_kafka_metadata().topics_size(), 1);
  PubSubResp resp;
  resp.set_sequence(req.sequence());
  auto* t = resp.mutable_kafka_metadata_resp()->add_topics();
  t->set_name("a");
  for (int p = 0; p < 2; ++p) {
    auto* info = t->add_partitions();
    info->set_partition(p);
    info->set_earliest(p * 10);
    info->set_latest(p * 10 + 5);
  }
  reply(resp);
  ASSERT_EQ(topics.size(), 1u);
  EXPECT_EQ(topics[0].name, "a");
  ASSERT_EQ(topics[0].partitions.size(), 2u);
  EXPECT_EQ(topics[0].partitions[1].earliest, 10);
  EXPECT_EQ(topics[0].partitions[1].latest, 15);
}

TEST_F(Push, RecordsArePushedInOrderAndCreditReturnsAsBatchesAreConsumed) {
  kpg::testing::open_kpg(s);
  kpg::sdk::SubscribeOptions options;
  options.window = 3;
  auto sub = subscribe_topic({}, StartAt::earliest(), options);
  const auto req = only_sent();
  ASSERT_TRUE(req.has_cmd_kafka_subscribe());
  EXPECT_EQ(req.cmd_kafka_subscribe().topic(), "t");
  EXPECT_EQ(req.cmd_kafka_subscribe().partitions_size(), 0) << "every partition";
  EXPECT_EQ(req.cmd_kafka_subscribe().start(), kpg::pubsub::CmdKafkaSubscribe::EARLIEST);
  EXPECT_EQ(req.cmd_kafka_subscribe().credit(), 3u);
  ack(req, 1, {{0, 10}, {1, 0}});
  EXPECT_TRUE(take_sent().empty()) << "all the window was granted with the subscribe";
  EXPECT_EQ(sub->next_offsets(), (std::map<std::int32_t, std::int64_t>{{0, 10}, {1, 0}}));

  push(req, 1, 0, {10, 11});
  push(req, 1, 1, {0});
  push(req, 1, 0, {11, 12});  // an overlap is never delivered twice
  EXPECT_EQ(seen, (std::vector<std::pair<std::int32_t, std::int64_t>>{
                      {0, 10}, {0, 11}, {1, 0}, {0, 12}}));
  EXPECT_EQ(credit_in(take_sent()), 3u) << "one credit back per consumed batch";
  EXPECT_EQ(sub->next_offsets(), (std::map<std::int32_t, std::int64_t>{{0, 13}, {1, 1}}));
  EXPECT_EQ(sub->next_offset(), -1) << "several partitions";
}

TEST_F(Push, NeverMoreFramesOutstandingThanGrantedAndPauseStopsGranting) {
  kpg::testing::open_kpg(s);
  kpg::sdk::SubscribeOptions options;
  options.window = 4;
  auto sub = client->subscribe("t", 0, StartAt::offset(0),
                               {[&](const auto& batch) {
                                  for (const auto& r : batch) {
                                    seen.emplace_back(0, r.offset);
                                  }
                                },
                                nullptr},
                               options);
  const auto req = only_sent();
  ASSERT_EQ(req.cmd_kafka_subscribe().offsets_size(), 1);
  EXPECT_EQ(req.cmd_kafka_subscribe().offsets(0).offset(), 0);
  ack(req, 5, {{0, 0}});
  // A gateway that pushes whenever it has credit, one record per frame, 20 frames in all.
  std::int64_t credit = req.cmd_kafka_subscribe().credit();
  std::int64_t next = 0;
  while (credit > 0 && next < 20) {
    --credit;
    push(req, 5, 0, {next++});
    for (const auto& r : take_sent()) {
      ASSERT_TRUE(r.has_cmd_credit());
      EXPECT_EQ(r.cmd_credit().subscription_id(), 5);
      credit += r.cmd_credit().credit();
    }
    ASSERT_LE(credit, 4) << "never more than the window outstanding";
  }
  EXPECT_EQ(seen.size(), 20u);
  EXPECT_EQ(credit, 4);

  sub->pause();
  // What is on its way when pausing (the credit left) arrives and is held; nothing is granted.
  while (credit > 0) {
    --credit;
    push(req, 5, 0, {next++});
  }
  EXPECT_EQ(seen.size(), 20u);
  EXPECT_TRUE(take_sent().empty()) << "paused: no credit";
  advance(s, 10'000);
  EXPECT_TRUE(take_sent().empty());

  sub->resume();
  EXPECT_EQ(seen.size(), 24u);
  EXPECT_EQ(credit_in(take_sent()), 4u) << "resume grants the window back";
  EXPECT_EQ(sub->next_offset(), next);
}

TEST_F(Push, PullModeGrantsOnlyWhatTheApplicationAsksFor) {
  kpg::testing::open_kpg(s);
  kpg::sdk::SubscribeOptions options;
  options.pull = true;
  auto sub = subscribe_topic({0}, StartAt::latest(), options);
  const auto req = only_sent();
  EXPECT_EQ(req.cmd_kafka_subscribe().credit(), 0u) << "zero credit: nothing until asked";
  ack(req, 2, {{0, 100}});
  EXPECT_TRUE(take_sent().empty());
  sub->request(2);
  EXPECT_EQ(credit_in(take_sent()), 2u);
  push(req, 2, 0, {100});
  EXPECT_EQ(seen.size(), 1u);
  EXPECT_TRUE(take_sent().empty()) << "a consumed batch is not granted back in pull mode";
  push(req, 2, 0, {101});
  EXPECT_EQ(seen.size(), 2u);
  push(req, 2, 0, {102});  // beyond the credit
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].code, ErrorCode::protocol);
  EXPECT_EQ(seen.size(), 2u);
  const auto after = take_sent();
  ASSERT_EQ(after.size(), 1u);
  EXPECT_EQ(after[0].cmd_unsubscribe().subscription_id(), 2) << "the gateway is told to stop";
}

TEST_F(Push, AReconnectResubscribesFromTheNextOffsetOfEachPartition) {
  kpg::testing::open_kpg(s);
  auto sub = subscribe_topic({0, 1}, StartAt::earliest());
  auto req = only_sent();
  EXPECT_EQ(req.cmd_kafka_subscribe().partitions_size(), 2);
  ack(req, 1, {{0, 0}, {1, 7}});
  push(req, 1, 0, {0, 1, 2});
  push(req, 1, 1, {7});
  take_sent();
  s.handlers.on_close({ErrorCode::transport, "gateway restarted"});
  EXPECT_TRUE(errors.empty());
  push(req, 1, 0, {3});  // a stray frame of the old connection changes nothing
  advance(s, 200);
  kpg::testing::open_kpg(s);
  req = only_sent();
  ASSERT_TRUE(req.has_cmd_kafka_subscribe());
  std::map<std::int32_t, std::int64_t> offsets;
  for (const auto& o : req.cmd_kafka_subscribe().offsets()) offsets[o.partition()] = o.offset();
  EXPECT_EQ(offsets, (std::map<std::int32_t, std::int64_t>{{0, 3}, {1, 8}}));
  EXPECT_EQ(req.cmd_kafka_subscribe().credit(), 8u) << "a new subscription, a new window";
  ack(req, 1, {{0, 3}, {1, 8}});
  push(req, 1, 0, {3});
  EXPECT_EQ(seen.back(), std::make_pair(std::int32_t{0}, std::int64_t{3}));
  EXPECT_EQ(credit_in(take_sent()), 1u);

  // Back on an APISIX gateway: the same subscription carries on with fetch loops.
  s.handlers.on_close({ErrorCode::transport, "replaced"});
  advance(s, 200);
  kpg::testing::open_apisix(s);
  auto fetches = take_sent();
  ASSERT_EQ(fetches.size(), 2u);
  EXPECT_EQ(fetches[0].cmd_kafka_fetch().offset(), 4);
  EXPECT_EQ(fetches[1].cmd_kafka_fetch().offset(), 8);
  EXPECT_TRUE(errors.empty());
}

TEST_F(Push, APartitionWithoutProgressStartsAtTheStartWhenTheOthersResume) {
  // On APISIX, partition 0's start was resolved; partition 1's lookup was lost with the
  // connection. Back on a kpg gateway: 0 resumes at its offset, 1 still starts at "earliest".
  kpg::testing::open_apisix(s);
  subscribe_topic({0, 1}, StartAt::earliest());
  auto lookups = take_sent();
  ASSERT_EQ(lookups.size(), 2u);
  PubSubResp resolved;
  resolved.set_sequence(lookups[0].sequence());
  resolved.mutable_kafka_list_offset_resp()->set_offset(40);
  reply(resolved);
  take_sent();  // the fetch from 40
  s.handlers.on_close({ErrorCode::transport, "reset"});
  advance(s, 200);
  kpg::testing::open_kpg(s);
  const auto req = only_sent().cmd_kafka_subscribe();
  ASSERT_EQ(req.offsets_size(), 1);
  EXPECT_EQ(req.offsets(0).partition(), lookups[0].cmd_kafka_list_offset().partition());
  EXPECT_EQ(req.offsets(0).offset(), 40);
  ASSERT_EQ(req.partitions_size(), 1);
  EXPECT_EQ(req.partitions(0), lookups[1].cmd_kafka_list_offset().partition());
  EXPECT_EQ(req.start(), kpg::pubsub::CmdKafkaSubscribe::EARLIEST);
}

TEST_F(Push, RetryableErrorsResubscribeAfterABackoffOthersEndTheSubscription) {
  kpg::testing::open_kpg(s);
  auto sub = subscribe_topic({0}, StartAt::earliest());
  auto req = only_sent();
  ack(req, 1, {{0, 0}});
  push(req, 1, 0, {0, 1});
  take_sent();
  error(req.sequence(), kpg::pubsub::UNAVAILABLE,
        "failed to fetch message, topic: t, partition: 0, err: broker down");
  EXPECT_TRUE(errors.empty());
  EXPECT_TRUE(sub->active());
  EXPECT_TRUE(take_sent().empty());
  advance(s, 200);
  req = only_sent();
  ASSERT_TRUE(req.has_cmd_kafka_subscribe());
  ASSERT_EQ(req.cmd_kafka_subscribe().offsets_size(), 1);
  EXPECT_EQ(req.cmd_kafka_subscribe().offsets(0).offset(), 2);
  error(req.sequence(), kpg::pubsub::OVERLOADED, "busy");  // the subscribe itself
  advance(s, 399);
  EXPECT_TRUE(take_sent().empty()) << "the backoff doubles";
  advance(s, 1);
  req = only_sent();
  ack(req, 2, {{0, 2}});
  error(req.sequence(), kpg::pubsub::OFFSET_OUT_OF_RANGE, "gone after retention");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].server_code, ServerCode::offset_out_of_range);
  EXPECT_FALSE(sub->active());
}

TEST_F(Push, CancelUnsubscribesAndLaterFramesAreDropped) {
  kpg::testing::open_kpg(s);
  auto sub = subscribe_topic({0}, StartAt::earliest());
  auto req = only_sent();
  ack(req, 4, {{0, 0}});
  sub->cancel();
  const auto unsubscribe = only_sent();
  ASSERT_TRUE(unsubscribe.has_cmd_unsubscribe());
  EXPECT_EQ(unsubscribe.cmd_unsubscribe().subscription_id(), 4);
  push(req, 4, 0, {0});
  EXPECT_TRUE(seen.empty());
  EXPECT_TRUE(errors.empty());

  // Cancelled before the answer: the answer's subscription is ended on the gateway.
  auto early = subscribe_topic({1}, StartAt::earliest());
  req = only_sent();
  early->cancel();
  EXPECT_TRUE(take_sent().empty());
  ack(req, 5, {{1, 0}});
  EXPECT_EQ(only_sent().cmd_unsubscribe().subscription_id(), 5);
}

TEST_F(Push, RecordsOfAPartitionNotSubscribedAreAProtocolError) {
  kpg::testing::open_kpg(s);
  auto sub = subscribe_topic({0}, StartAt::earliest());
  auto req = only_sent();
  ack(req, 1, {{0, 0}});
  push(req, 1, 4, {0});
  EXPECT_TRUE(seen.empty());
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].code, ErrorCode::protocol);
  EXPECT_NE(errors[0].message.find("partition 4"), std::string::npos) << errors[0].message;
  EXPECT_EQ(only_sent().cmd_unsubscribe().subscription_id(), 1);
}

TEST_F(Push, ARecordHandlerMayPauseAndResumeWithoutLosingOrder) {
  kpg::testing::open_kpg(s);
  std::shared_ptr<kpg::sdk::Subscription> sub;
  on_batch = [&] {
    if (seen.size() == 1) {
      sub->pause();
      sub->resume();
    }
  };
  sub = subscribe_topic({0}, StartAt::earliest());
  auto req = only_sent();
  ack(req, 1, {{0, 0}});
  push(req, 1, 0, {0});
  push(req, 1, 0, {1});
  EXPECT_EQ(seen, (std::vector<std::pair<std::int32_t, std::int64_t>>{{0, 0}, {0, 1}}));
}

// The push stream of one subscribe in ProtocolSession: frames after the answer go to the stream,
// an error_resp on its sequence ends it, and nothing follows an end.
TEST(PushStream, FramesFollowTheAnswerUntilAnErrorEndsTheStream) {
  kpg::sdk::ProtocolSession session;
  std::optional<std::int64_t> id;
  std::vector<std::int64_t> offsets;
  std::vector<kpg::sdk::Error> ends;
  auto out = session.subscribe(
      {"t", {0}, kpg::sdk::ProtocolSession::SubscribeRequest::Start::earliest, 0, {}, 2}, 1000,
      [&](auto r) { id = r.value().subscription_id; },
      [&](auto r) {
        if (!r) return ends.push_back(r.error());
        for (const auto& rec : r.value().records) offsets.push_back(rec.offset);
      });
  PubSubReq req;
  ASSERT_TRUE(req.ParseFromString(out.frame));
  EXPECT_EQ(req.cmd_kafka_subscribe().credit(), 2u);
  PubSubResp resp;
  resp.set_sequence(out.sequence);
  resp.mutable_kafka_subscribe_resp()->set_subscription_id(3);
  EXPECT_EQ(session.on_frame(resp.SerializeAsString()),
            kpg::sdk::ProtocolSession::FrameStatus::paired);
  EXPECT_EQ(id, 3);
  EXPECT_EQ(session.pending(), 0u);
  EXPECT_EQ(session.streams(), 1u);

  PubSubResp frame;
  frame.set_sequence(out.sequence);
  frame.mutable_kafka_records()->set_partition(0);
  frame.mutable_kafka_records()->add_messages()->set_offset(0);
  session.on_frame(frame.SerializeAsString());
  session.on_frame(frame.SerializeAsString());
  EXPECT_EQ(offsets, (std::vector<std::int64_t>{0, 0})) << "dedup is the subscription's job";

  PubSubResp end;
  end.set_sequence(out.sequence);
  end.mutable_error_resp()->set_code(kpg::pubsub::UNKNOWN_TOPIC);
  session.on_frame(end.SerializeAsString());
  ASSERT_EQ(ends.size(), 1u);
  EXPECT_EQ(ends[0].server_code, ServerCode::unknown_topic);
  EXPECT_EQ(session.streams(), 0u);
  EXPECT_EQ(session.on_frame(frame.SerializeAsString()),
            kpg::sdk::ProtocolSession::FrameStatus::unpaired);
  EXPECT_EQ(offsets.size(), 2u);
}

TEST(PushStream, FailAllEndsStreamsAndEndStreamForgetsOne) {
  kpg::sdk::ProtocolSession session;
  std::vector<ErrorCode> ends;
  auto subscribe_and_ack = [&] {
    auto out = session.subscribe({}, 1000, nullptr, [&](auto r) {
      if (!r) ends.push_back(r.error().code);
    });
    PubSubResp resp;
    resp.set_sequence(out.sequence);
    resp.mutable_kafka_subscribe_resp()->set_subscription_id(out.sequence);
    session.on_frame(resp.SerializeAsString());
    return out.sequence;
  };
  const auto first = subscribe_and_ack();
  subscribe_and_ack();
  session.end_stream(first);
  EXPECT_EQ(session.streams(), 1u);
  session.fail_all({ErrorCode::closed, "connection lost"});
  EXPECT_EQ(ends, (std::vector<ErrorCode>{ErrorCode::closed})) << "only the stream still open";
  EXPECT_EQ(session.streams(), 0u);
}

}  // namespace
