// The SDK core's produce, batching producer and consumer-group handling over a scripted
// transport: request encoding, pairing by sequence, local limits and queueing, typed errors,
// group assignment / records / credit / commit frames.
#include <kpg/pubsub.pb.h>
#include <kpg/sdk/client.h>
#include <kpg/sdk/producer.h>

#include "fake_transport.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

namespace {

using kpg::sdk::ErrorCode;
using kpg::sdk::Produced;
using kpg::sdk::ProduceOptions;
using kpg::sdk::Result;
using kpg::sdk::ServerCode;
using kpg::sdk::TopicPartitionOffset;
using kpg::testing::advance;
using kpg::testing::FakeTransport;

struct Limits {
  std::uint32_t inflight_requests = 0;
  std::uint32_t record_bytes = 0;
  std::uint32_t inflight_bytes = 0;
  std::uint32_t records_per_second = 0;
  std::uint32_t max_credit = 64;
  std::uint32_t batch_records = 0;
  std::uint32_t frame_bytes = 0;
};

// Opens the connection on a kpg gateway announcing `features` and `limits`.
void open_with(FakeTransport::State& s, std::vector<std::string> features, Limits limits = {}) {
  s.handlers.on_open();
  kpg::pubsub::PubSubReq req;
  ASSERT_TRUE(req.ParseFromString(s.sent.back()));
  ASSERT_TRUE(req.has_cmd_hello());
  s.sent.pop_back();
  kpg::pubsub::PubSubResp resp;
  resp.set_sequence(req.sequence());
  auto* hello = resp.mutable_hello_resp();
  hello->set_protocol_version(1);
  for (const auto& f : features) hello->add_features(f);
  auto* l = hello->mutable_limits();
  l->set_max_inflight_requests(limits.inflight_requests);
  l->set_max_record_bytes(limits.record_bytes);
  l->set_max_produce_inflight_bytes(limits.inflight_bytes);
  l->set_max_produce_records_per_second(limits.records_per_second);
  l->set_max_credit(limits.max_credit);
  l->set_max_group_subscriptions(4);
  l->set_max_produce_batch_records(limits.batch_records);
  l->set_max_frame_bytes(limits.frame_bytes);
  s.handlers.on_binary(resp.SerializeAsString());
}

kpg::pubsub::PubSubReq sent(const FakeTransport::State& s, std::size_t i) {
  kpg::pubsub::PubSubReq req;
  EXPECT_LT(i, s.sent.size());
  if (i < s.sent.size()) {
    EXPECT_TRUE(req.ParseFromString(s.sent[i]));
  }
  return req;
}

void deliver(FakeTransport::State& s, const kpg::pubsub::PubSubResp& resp) {
  s.handlers.on_binary(resp.SerializeAsString());
}

void answer_produce(FakeTransport::State& s, std::int64_t sequence, std::int32_t partition,
                    std::int64_t offset) {
  kpg::pubsub::PubSubResp resp;
  resp.set_sequence(sequence);
  auto* r = resp.mutable_kafka_produce_resp();
  r->set_partition(partition);
  r->set_offset(offset);
  r->set_timestamp(1700000000000 + offset);
  deliver(s, resp);
}

TEST(SdkProduce, EncodesEveryFieldAndKeepsNullDistinctFromEmpty) {
  kpg::sdk::ProtocolSession session;
  ProduceOptions o;
  o.key = std::string("k\0", 2);
  o.headers = {{"h1", "v1"}, {"h2", ""}};
  o.partition = 2;
  o.timestamp = 1700000000123;
  const auto full = session.produce({"orders", std::string("value"), o}, 100, nullptr);
  kpg::pubsub::PubSubReq req;
  ASSERT_TRUE(req.ParseFromString(full.frame));
  ASSERT_TRUE(req.has_cmd_kafka_produce());
  const auto& p = req.cmd_kafka_produce();
  EXPECT_EQ(req.sequence(), full.sequence);
  EXPECT_EQ(p.topic(), "orders");
  ASSERT_TRUE(p.has_partition());
  EXPECT_EQ(p.partition(), 2);
  ASSERT_TRUE(p.has_key());
  EXPECT_EQ(p.key(), std::string("k\0", 2));
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p.value(), "value");
  ASSERT_EQ(p.headers_size(), 2);
  EXPECT_EQ(p.headers(1).key(), "h2");
  ASSERT_TRUE(p.has_timestamp());
  EXPECT_EQ(p.timestamp(), 1700000000123);

  const auto nulls = session.produce({"orders", std::nullopt, {}}, 100, nullptr);
  ASSERT_TRUE(req.ParseFromString(nulls.frame));
  EXPECT_FALSE(req.cmd_kafka_produce().has_key());
  EXPECT_FALSE(req.cmd_kafka_produce().has_value());
  EXPECT_FALSE(req.cmd_kafka_produce().has_partition());
  EXPECT_FALSE(req.cmd_kafka_produce().has_timestamp());

  ProduceOptions empty_key;
  empty_key.key = "";
  const auto empties = session.produce({"orders", std::string(), empty_key}, 100, nullptr);
  ASSERT_TRUE(req.ParseFromString(empties.frame));
  EXPECT_TRUE(req.cmd_kafka_produce().has_key());
  EXPECT_TRUE(req.cmd_kafka_produce().has_value());
  EXPECT_EQ(req.cmd_kafka_produce().value(), "");
}

TEST(SdkProduce, PairsAnswersBySequenceAndTypesErrors) {
  kpg::sdk::ProtocolSession session;
  std::vector<std::string> got;
  auto record = [&](const char* name) {
    return [&got, name](Result<Produced> r) {
      if (r) {
        got.push_back(std::string(name) + ":" + std::to_string(r.value().partition) + "/" +
                      std::to_string(r.value().offset) + "@" + std::to_string(r.value().timestamp));
      } else {
        got.push_back(std::string(name) + ":" + kpg::sdk::to_string(r.error().server_code) +
                      (r.error().possibly_written ? ":maybe" : ":no"));
      }
    };
  };
  const auto a = session.produce({"t", std::string("a"), {}}, 100, record("a"));
  const auto b = session.produce({"t", std::string("b"), {}}, 100, record("b"));
  const auto c = session.produce({"t", std::string("c"), {}}, 100, record("c"));
  const auto d = session.produce({"t", std::string("d"), {}}, 100, record("d"));
  kpg::pubsub::PubSubResp resp;
  resp.set_sequence(c.sequence);
  resp.mutable_error_resp()->set_code(kpg::pubsub::RECORD_TOO_LARGE);
  resp.mutable_error_resp()->set_message("too large");
  session.on_frame(resp.SerializeAsString());
  resp.set_sequence(d.sequence);
  resp.mutable_error_resp()->set_code(kpg::pubsub::UNAVAILABLE);
  resp.mutable_error_resp()->set_possibly_written(true);
  session.on_frame(resp.SerializeAsString());
  kpg::pubsub::PubSubResp ok;
  ok.set_sequence(b.sequence);
  ok.mutable_kafka_produce_resp()->set_partition(1);
  ok.mutable_kafka_produce_resp()->set_offset(7);
  ok.mutable_kafka_produce_resp()->set_timestamp(99);
  session.on_frame(ok.SerializeAsString());
  EXPECT_EQ(session.pending(), 1u);
  session.expire(100);  // `a` was sent and never answered: it may have been written
  EXPECT_EQ(got, (std::vector<std::string>{"c:record_too_large:no", "d:unavailable:maybe",
                                           "b:1/7@99", "a:unspecified:maybe"}));
  (void)a;
}

TEST(SdkProduce, FailsClearlyWhenTheGatewayDoesNotOfferProduce) {
  FakeTransport::State s;
  kpg::sdk::Client client(std::make_unique<FakeTransport>(s));
  client.connect("ws://h/", [](auto) {});
  kpg::testing::open_apisix(s);
  std::optional<kpg::sdk::Error> error;
  client.produce("t", std::string("v"), {}, [&](Result<Produced> r) { error = r.error(); });
  ASSERT_TRUE(error);
  EXPECT_EQ(error->code, ErrorCode::server);
  EXPECT_EQ(error->server_code, ServerCode::unknown_command);
  EXPECT_NE(error->message.find("APISIX"), std::string::npos) << error->message;
  EXPECT_FALSE(error->possibly_written);
  EXPECT_TRUE(s.sent.empty());
}

TEST(SdkProduce, KpgRouteWithoutProduceSaysSo) {
  FakeTransport::State s;
  kpg::sdk::Client client(std::make_unique<FakeTransport>(s));
  client.connect("ws://h/", [](auto) {});
  open_with(s, {"push", "metadata"});
  std::optional<kpg::sdk::Error> error;
  client.produce("t", std::string("v"), {}, [&](Result<Produced> r) { error = r.error(); });
  ASSERT_TRUE(error);
  EXPECT_EQ(error->server_code, ServerCode::unknown_command);
  EXPECT_NE(error->message.find("plugins.kafka-proxy.produce"), std::string::npos);
  EXPECT_TRUE(s.sent.empty());
}

TEST(SdkProduce, RecordOverMaxRecordBytesIsRefusedWithoutSending) {
  FakeTransport::State s;
  kpg::sdk::Client client(std::make_unique<FakeTransport>(s));
  client.connect("ws://h/", [](auto) {});
  open_with(s, {"produce"}, {.record_bytes = 10});
  std::optional<kpg::sdk::Error> error;
  ProduceOptions o;
  o.key = "kk";
  o.headers = {{"h", "1"}};
  // 2 (key) + 7 (value) + 2 (header) = 11 bytes > 10
  client.produce("t", std::string("1234567"), o, [&](Result<Produced> r) { error = r.error(); });
  ASSERT_TRUE(error);
  EXPECT_EQ(error->server_code, ServerCode::record_too_large);
  EXPECT_FALSE(error->possibly_written);
  EXPECT_TRUE(s.sent.empty());
  bool sent_ok = false;
  client.produce("t", std::string("123456"), o, [&](Result<Produced> r) { sent_ok = r.ok(); });
  ASSERT_EQ(s.sent.size(), 1u);  // exactly 10 bytes: allowed
  answer_produce(s, sent(s, 0).sequence(), 0, 1);
  EXPECT_TRUE(sent_ok);
}

TEST(SdkProduce, QueuesBeyondTheInflightLimitsAndSendsInOrderAsAnswersArrive) {
  FakeTransport::State s;
  kpg::sdk::Client client(std::make_unique<FakeTransport>(s));
  client.connect("ws://h/", [](auto) {});
  // 4 requests (one slot kept free: 3 produce), and 25 bytes in flight.
  open_with(s, {"produce"}, {.inflight_requests = 4, .inflight_bytes = 25});
  std::vector<std::int64_t> offsets;
  for (int i = 0; i < 6; ++i) {
    client.produce("t", std::string(10, static_cast<char>('a' + i)), {}, [&](Result<Produced> r) {
      ASSERT_TRUE(r);
      offsets.push_back(r.value().offset);
    });
  }
  // 10 + 10 bytes fit, a third 10 would make 30 > 25.
  ASSERT_EQ(s.sent.size(), 2u);
  EXPECT_EQ(client.produce_pending(), 6u);
  answer_produce(s, sent(s, 0).sequence(), 0, 0);
  ASSERT_EQ(s.sent.size(), 3u);
  EXPECT_EQ(sent(s, 2).cmd_kafka_produce().value(), std::string(10, 'c'));
  answer_produce(s, sent(s, 1).sequence(), 0, 1);
  answer_produce(s, sent(s, 2).sequence(), 0, 2);
  ASSERT_EQ(s.sent.size(), 5u);
  answer_produce(s, sent(s, 3).sequence(), 0, 3);
  answer_produce(s, sent(s, 4).sequence(), 0, 4);
  ASSERT_EQ(s.sent.size(), 6u);
  EXPECT_EQ(sent(s, 5).cmd_kafka_produce().value(), std::string(10, 'f'));
  answer_produce(s, sent(s, 5).sequence(), 0, 5);
  EXPECT_EQ(offsets, (std::vector<std::int64_t>{0, 1, 2, 3, 4, 5}));
  EXPECT_EQ(client.produce_pending(), 0u);
}

TEST(SdkProduce, InflightRequestLimitKeepsOneSlotFree) {
  FakeTransport::State s;
  kpg::sdk::Client client(std::make_unique<FakeTransport>(s));
  client.connect("ws://h/", [](auto) {});
  open_with(s, {"produce"}, {.inflight_requests = 3});
  for (int i = 0; i < 5; ++i) client.produce("t", std::string("v"), {}, nullptr);
  EXPECT_EQ(s.sent.size(), 2u);
  client.ping("p", [](auto) {});  // the free slot
  EXPECT_EQ(s.sent.size(), 3u);
}

TEST(SdkProduce, PacesBelowTheRecordsPerSecondBound) {
  FakeTransport::State s;
  kpg::sdk::Client client(std::make_unique<FakeTransport>(s));
  client.connect("ws://h/", [](auto) {});
  open_with(s, {"produce"}, {.records_per_second = 10});
  int answered = 0;
  for (int i = 0; i < 8; ++i) {
    client.produce("t", std::string("v"), {}, [&](Result<Produced> r) { answered += r.ok(); });
  }
  EXPECT_EQ(s.sent.size(), 5u);  // a burst of half the rate
  advance(s, 100);
  EXPECT_EQ(s.sent.size(), 6u);  // then one per 100 ms
  advance(s, 200);
  EXPECT_EQ(s.sent.size(), 8u);
  for (std::size_t i = 0; i < 8; ++i) answer_produce(s, sent(s, i).sequence(), 0, 0);
  EXPECT_EQ(answered, 8);
}

TEST(SdkProduce, LostConnectionFailsQueuedAsNotWrittenAndSentAsPossiblyWritten) {
  FakeTransport::State s;
  auto options = kpg::testing::options(500, 2000);
  options.reconnect.enabled = false;
  kpg::sdk::Client client(std::make_unique<FakeTransport>(s), options);
  client.connect("ws://h/", [](auto) {});
  open_with(s, {"produce"}, {.inflight_requests = 2});
  std::vector<kpg::sdk::Error> errors;
  for (int i = 0; i < 2; ++i) {
    client.produce("t", std::string("v"), {},
                   [&](Result<Produced> r) { errors.push_back(r.error()); });
  }
  ASSERT_EQ(s.sent.size(), 1u);
  s.handlers.on_close(kpg::sdk::Error{ErrorCode::transport, "reset"});
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_EQ(errors[0].code, ErrorCode::closed);
  EXPECT_FALSE(errors[0].possibly_written);  // the queued one: never sent
  EXPECT_EQ(errors[1].code, ErrorCode::closed);
  EXPECT_TRUE(errors[1].possibly_written);  // the sent one
}

TEST(SdkProduce, BatchEncodesEveryRecordInOrder) {
  kpg::sdk::ProtocolSession session;
  ProduceOptions keyed;
  keyed.key = "k";
  keyed.partition = 1;
  const kpg::sdk::ProtocolSession::ProduceRequest a{"orders", std::string("a"), keyed};
  const kpg::sdk::ProtocolSession::ProduceRequest b{"audit", std::nullopt, {}};
  const auto out = session.produce_batch({&a, &b}, 100, nullptr);
  kpg::pubsub::PubSubReq req;
  ASSERT_TRUE(req.ParseFromString(out.frame));
  ASSERT_TRUE(req.has_cmd_kafka_produce_batch());
  const auto& records = req.cmd_kafka_produce_batch().records();
  ASSERT_EQ(records.size(), 2);
  EXPECT_EQ(records[0].topic(), "orders");
  EXPECT_EQ(records[0].key(), "k");
  EXPECT_EQ(records[0].partition(), 1);
  EXPECT_EQ(records[1].topic(), "audit");
  EXPECT_FALSE(records[1].has_value());
}

TEST(SdkProduce, RecordsQueuedTogetherLeaveInBatchesAnsweredOnEachHandler) {
  FakeTransport::State s;
  kpg::sdk::Client client(std::make_unique<FakeTransport>(s));
  client.connect("ws://h/", [](auto) {});
  open_with(s, {"produce"}, {.batch_records = 3});
  std::vector<std::optional<Result<Produced>>> results(5);
  std::vector<kpg::sdk::Client::ProduceItem> items;
  for (int i = 0; i < 5; ++i) {
    items.push_back({"t", std::to_string(i), {}, [&results, i](Result<Produced> r) {
                       results[static_cast<std::size_t>(i)] = std::move(r);
                     }});
  }
  client.produce_many(std::move(items));
  // At most max_produce_batch_records per request, and as many awaiting acknowledgement.
  ASSERT_EQ(s.sent.size(), 1u);
  ASSERT_EQ(sent(s, 0).cmd_kafka_produce_batch().records_size(), 3);
  EXPECT_EQ(client.produce_pending(), 5u);

  kpg::pubsub::PubSubResp resp;
  resp.set_sequence(sent(s, 0).sequence());
  auto* batch = resp.mutable_kafka_produce_batch_resp();
  batch->add_results()->mutable_written()->set_offset(10);
  auto* failed = batch->add_results()->mutable_error();
  failed->set_code(kpg::pubsub::UNKNOWN_TOPIC);
  failed->set_message("not found topic");
  batch->add_results()->mutable_written()->set_offset(11);
  deliver(s, resp);
  ASSERT_TRUE(results[0] && results[0]->ok());
  EXPECT_EQ(results[0]->value().offset, 10);
  ASSERT_TRUE(results[1] && !results[1]->ok());
  EXPECT_EQ(results[1]->error().server_code, ServerCode::unknown_topic);
  EXPECT_FALSE(results[1]->error().possibly_written);
  ASSERT_TRUE(results[2] && results[2]->ok());
  EXPECT_EQ(results[2]->value().offset, 11);
  EXPECT_FALSE(results[3]);
  ASSERT_EQ(s.sent.size(), 2u) << "the rest, once the first batch was answered";
  ASSERT_EQ(sent(s, 1).cmd_kafka_produce_batch().records_size(), 2);
  EXPECT_EQ(sent(s, 1).cmd_kafka_produce_batch().records(1).value(), "4");

  // A batch refused whole: every record of it fails with that error.
  kpg::pubsub::PubSubResp refused;
  refused.set_sequence(sent(s, 1).sequence());
  refused.mutable_error_resp()->set_code(kpg::pubsub::LIMIT_EXCEEDED);
  refused.mutable_error_resp()->set_message("failed to produce a batch, err: ...");
  deliver(s, refused);
  for (std::size_t i = 3; i < 5; ++i) {
    ASSERT_TRUE(results[i] && !results[i]->ok());
    EXPECT_EQ(results[i]->error().server_code, ServerCode::limit_exceeded);
  }
  EXPECT_EQ(client.produce_pending(), 0u);
}

TEST(SdkProduce, ABatchStaysWithinTheInflightBytesAndTheFrameSize) {
  FakeTransport::State s;
  kpg::sdk::Client client(std::make_unique<FakeTransport>(s));
  client.connect("ws://h/", [](auto) {});
  open_with(s, {"produce"}, {.inflight_bytes = 250, .batch_records = 100, .frame_bytes = 1000});
  std::vector<kpg::sdk::Client::ProduceItem> items;
  for (int i = 0; i < 4; ++i) items.push_back({"t", std::string(100, 'x'), {}, nullptr});
  client.produce_many(std::move(items));
  ASSERT_EQ(s.sent.size(), 1u);
  EXPECT_EQ(sent(s, 0).cmd_kafka_produce_batch().records_size(), 2) << "250 bytes: two of 100";

  FakeTransport::State f;
  kpg::sdk::Client framed(std::make_unique<FakeTransport>(f));
  framed.connect("ws://h/", [](auto) {});
  open_with(f, {"produce"}, {.batch_records = 100, .frame_bytes = 1000});
  items.clear();
  for (int i = 0; i < 12; ++i) items.push_back({"t", std::string(100, 'x'), {}, nullptr});
  framed.produce_many(std::move(items));
  ASSERT_GE(f.sent.size(), 2u);
  for (const auto& frame : f.sent) EXPECT_LE(frame.size(), 1000u);
}

TEST(SdkProducer, LingeringRecordsLeaveAsOneBatch) {
  FakeTransport::State s;
  kpg::sdk::Client client(std::make_unique<FakeTransport>(s));
  client.connect("ws://h/", [](auto) {});
  open_with(s, {"produce"}, {.batch_records = 10'000});
  kpg::sdk::Producer producer(client, {.max_in_flight = 0, .linger_ms = 5});
  int ok = 0;
  for (int i = 0; i < 50; ++i) {
    producer.send("t", std::to_string(i), {}, [&](Result<Produced> r) { ok += r.ok(); });
  }
  advance(s, 5);
  ASSERT_EQ(s.sent.size(), 1u);
  const auto req = sent(s, 0);
  ASSERT_EQ(req.cmd_kafka_produce_batch().records_size(), 50);
  kpg::pubsub::PubSubResp resp;
  resp.set_sequence(req.sequence());
  for (int i = 0; i < 50; ++i) {
    resp.mutable_kafka_produce_batch_resp()->add_results()->mutable_written()->set_offset(i);
  }
  deliver(s, resp);
  EXPECT_EQ(ok, 50);
  EXPECT_EQ(producer.pending(), 0u);
}

TEST(SdkProducer, KeepsThePipeFullAndFlushWaitsForEveryRecord) {
  FakeTransport::State s;
  kpg::sdk::Client client(std::make_unique<FakeTransport>(s));
  client.connect("ws://h/", [](auto) {});
  open_with(s, {"produce"});
  kpg::sdk::Producer producer(client, {.max_in_flight = 3, .linger_ms = 0});
  int ok = 0;
  int failed = 0;
  for (int i = 0; i < 5; ++i) {
    producer.send("t", std::to_string(i), {}, [&](Result<Produced> r) { r ? ++ok : ++failed; });
  }
  EXPECT_EQ(s.sent.size(), 3u);
  bool flushed = false;
  producer.flush([&] { flushed = true; });
  answer_produce(s, sent(s, 0).sequence(), 0, 0);
  kpg::pubsub::PubSubResp err;
  err.set_sequence(sent(s, 1).sequence());
  err.mutable_error_resp()->set_code(kpg::pubsub::NOT_ALLOWED);
  deliver(s, err);
  ASSERT_EQ(s.sent.size(), 5u);
  EXPECT_EQ(sent(s, 4).cmd_kafka_produce().value(), "4");  // send() order
  answer_produce(s, sent(s, 2).sequence(), 0, 1);
  answer_produce(s, sent(s, 3).sequence(), 0, 2);
  EXPECT_FALSE(flushed);
  answer_produce(s, sent(s, 4).sequence(), 0, 3);
  EXPECT_TRUE(flushed);
  EXPECT_EQ(ok, 4);
  EXPECT_EQ(failed, 1);
  EXPECT_EQ(producer.failed(), 1u);
  bool again = false;
  producer.flush([&] { again = true; });
  EXPECT_TRUE(again);  // nothing pending
}

TEST(SdkProducer, LingerCoalescesRecordsUntilTheDelayOrAFlush) {
  FakeTransport::State s;
  kpg::sdk::Client client(std::make_unique<FakeTransport>(s));
  client.connect("ws://h/", [](auto) {});
  open_with(s, {"produce"});
  kpg::sdk::Producer producer(client, {.max_in_flight = 0, .linger_ms = 5});
  producer.send("t", std::string("a"), {}, nullptr);
  producer.send("t", std::string("b"), {}, nullptr);
  EXPECT_TRUE(s.sent.empty());
  advance(s, 5);
  EXPECT_EQ(s.sent.size(), 2u);
  producer.send("t", std::string("c"), {}, nullptr);
  EXPECT_EQ(s.sent.size(), 2u);
  producer.flush(nullptr);
  EXPECT_EQ(s.sent.size(), 3u);
}

// ---- consumer groups ------------------------------------------------------------------------

kpg::pubsub::PubSubResp assignment(std::int64_t sequence, std::int64_t id,
                                   kpg::pubsub::KafkaGroupAssignment::Kind kind,
                                   std::vector<TopicPartitionOffset> partitions) {
  kpg::pubsub::PubSubResp resp;
  resp.set_sequence(sequence);
  auto* a = resp.mutable_kafka_group_assignment();
  a->set_subscription_id(id);
  a->set_kind(kind);
  for (const auto& p : partitions) {
    auto* e = a->add_partitions();
    e->set_topic(p.topic);
    e->set_partition(p.partition);
    e->set_offset(p.offset);
  }
  return resp;
}

kpg::pubsub::PubSubResp records(std::int64_t sequence, std::int64_t id, const std::string& topic,
                                std::int32_t partition, std::vector<std::int64_t> offsets) {
  kpg::pubsub::PubSubResp resp;
  resp.set_sequence(sequence);
  auto* r = resp.mutable_kafka_records();
  r->set_subscription_id(id);
  r->set_topic(topic);
  r->set_partition(partition);
  for (auto o : offsets) {
    auto* m = r->add_messages();
    m->set_offset(o);
    m->set_value("v" + std::to_string(o));
  }
  return resp;
}

TEST(SdkGroup, JoinsGetsAssignmentsRecordsGrantsCreditAfterTheCallbackAndCommits) {
  FakeTransport::State s;
  kpg::sdk::Client client(std::make_unique<FakeTransport>(s));
  client.connect("ws://h/", [](auto) {});
  open_with(s, {"push", "groups"}, {.max_credit = 4});
  std::vector<std::string> log;
  kpg::sdk::GroupHandlers handlers;
  handlers.on_assigned = [&](const std::vector<TopicPartitionOffset>& ps) {
    for (const auto& p : ps) {
      log.push_back("assigned " + p.topic + "/" + std::to_string(p.partition) + "@" +
                    std::to_string(p.offset));
    }
  };
  handlers.on_revoked = [&](const std::vector<TopicPartitionOffset>& ps) {
    log.push_back("revoked " + ps.at(0).topic + "/" + std::to_string(ps.at(0).partition));
  };
  std::size_t sent_during_callback = 0;
  handlers.on_records = [&](const std::string& topic, std::int32_t partition,
                            const std::vector<kpg::sdk::Record>& rs) {
    sent_during_callback = s.sent.size();
    log.push_back("records " + topic + "/" + std::to_string(partition) + " " +
                  std::to_string(rs.front().offset) + ".." + std::to_string(rs.back().offset));
  };
  handlers.on_error = [&](const kpg::sdk::Error& e) { log.push_back("error " + e.message); };
  auto group = client.subscribe_group("workers", {"orders", "payments"}, handlers,
                                      {.start = kpg::sdk::GroupOptions::Start::earliest,
                                       .window = 8,
                                       .commit = kpg::sdk::GroupOptions::Commit::automatic});
  ASSERT_EQ(s.sent.size(), 1u);
  const auto join = sent(s, 0);
  ASSERT_TRUE(join.has_cmd_kafka_group_subscribe());
  const auto& g = join.cmd_kafka_group_subscribe();
  EXPECT_EQ(g.group(), "workers");
  ASSERT_EQ(g.topics_size(), 2);
  EXPECT_EQ(g.topics(1), "payments");
  EXPECT_EQ(g.start(), kpg::pubsub::CmdKafkaSubscribe::EARLIEST);
  EXPECT_EQ(g.commit(), kpg::pubsub::CmdKafkaGroupSubscribe::AUTO);
  EXPECT_EQ(g.credit(), 4u);  // capped by max_credit

  kpg::pubsub::PubSubResp ack;
  ack.set_sequence(join.sequence());
  ack.mutable_kafka_group_subscribe_resp()->set_subscription_id(77);
  deliver(s, ack);
  deliver(s, assignment(join.sequence(), 77, kpg::pubsub::KafkaGroupAssignment::ASSIGNED,
                        {{"orders", 0, 10}, {"payments", 3, 0}}));
  EXPECT_EQ(group->assignment().size(), 2u);
  deliver(s, records(join.sequence(), 77, "orders", 0, {10, 11}));
  // The credit for that frame goes out only after on_records returned.
  EXPECT_EQ(sent_during_callback, 1u);
  ASSERT_EQ(s.sent.size(), 2u);
  const auto credit = sent(s, 1);
  ASSERT_TRUE(credit.has_cmd_credit());
  EXPECT_EQ(credit.cmd_credit().subscription_id(), 77);
  EXPECT_EQ(credit.cmd_credit().credit(), 1u);
  EXPECT_EQ(group->delivered().at({"orders", 0}), 12);

  // Explicit commit of given offsets, answered with what was committed.
  std::vector<TopicPartitionOffset> committed;
  group->commit({{"orders", 0, 12}}, [&](Result<std::vector<TopicPartitionOffset>> r) {
    ASSERT_TRUE(r);
    committed = r.value();
  });
  const auto commit = sent(s, 2);
  ASSERT_TRUE(commit.has_cmd_kafka_commit());
  EXPECT_EQ(commit.cmd_kafka_commit().subscription_id(), 77);
  ASSERT_EQ(commit.cmd_kafka_commit().offsets_size(), 1);
  EXPECT_EQ(commit.cmd_kafka_commit().offsets(0).offset(), 12);
  kpg::pubsub::PubSubResp cr;
  cr.set_sequence(commit.sequence());
  auto* c = cr.mutable_kafka_commit_resp()->add_committed();
  c->set_topic("orders");
  c->set_partition(0);
  c->set_offset(12);
  deliver(s, cr);
  EXPECT_EQ(committed, (std::vector<TopicPartitionOffset>{{"orders", 0, 12}}));

  // Empty commit: everything delivered (the gateway decides); a rebalanced refusal is typed.
  std::optional<kpg::sdk::Error> refused;
  group->commit({}, [&](Result<std::vector<TopicPartitionOffset>> r) { refused = r.error(); });
  const auto empty = sent(s, 3);
  EXPECT_EQ(empty.cmd_kafka_commit().offsets_size(), 0);
  kpg::pubsub::PubSubResp rr;
  rr.set_sequence(empty.sequence());
  rr.mutable_error_resp()->set_code(kpg::pubsub::REBALANCED);
  deliver(s, rr);
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->server_code, ServerCode::rebalanced);

  deliver(s, assignment(join.sequence(), 77, kpg::pubsub::KafkaGroupAssignment::REVOKED,
                        {{"orders", 0, 0}}));
  EXPECT_EQ(group->assignment().size(), 1u);
  EXPECT_EQ(group->delivered().count({"orders", 0}), 0u);
  EXPECT_EQ(log, (std::vector<std::string>{"assigned orders/0@10", "assigned payments/3@0",
                                           "records orders/0 10..11", "revoked orders/0"}));

  group->cancel();
  const auto leave = sent(s, s.sent.size() - 1);
  ASSERT_TRUE(leave.has_cmd_unsubscribe());
  EXPECT_EQ(leave.cmd_unsubscribe().subscription_id(), 77);
  deliver(s, records(join.sequence(), 77, "orders", 1, {1}));  // in flight: dropped
  EXPECT_EQ(log.size(), 4u);
}

TEST(SdkGroup, RecordsBeyondCreditOrOfAnotherTopicEndTheSubscription) {
  FakeTransport::State s;
  kpg::sdk::Client client(std::make_unique<FakeTransport>(s));
  client.connect("ws://h/", [](auto) {});
  open_with(s, {"groups"});
  std::optional<kpg::sdk::Error> error;
  kpg::sdk::GroupHandlers handlers;
  handlers.on_error = [&](const kpg::sdk::Error& e) { error = e; };
  auto group = client.subscribe_group("g", {"orders"}, handlers);
  const auto join = sent(s, 0);
  kpg::pubsub::PubSubResp ack;
  ack.set_sequence(join.sequence());
  ack.mutable_kafka_group_subscribe_resp()->set_subscription_id(5);
  deliver(s, ack);
  deliver(s, records(join.sequence(), 5, "secrets", 0, {1}));
  ASSERT_TRUE(error);
  EXPECT_EQ(error->code, ErrorCode::protocol);
  EXPECT_NE(error->message.find("secrets"), std::string::npos);
  EXPECT_FALSE(group->active());
}

TEST(SdkGroup, WithoutTheGroupsFeatureFailsWithATypedError) {
  FakeTransport::State s;
  kpg::sdk::Client client(std::make_unique<FakeTransport>(s));
  client.connect("ws://h/", [](auto) {});
  open_with(s, {"push", "produce"});
  std::optional<kpg::sdk::Error> error;
  kpg::sdk::GroupHandlers handlers;
  handlers.on_error = [&](const kpg::sdk::Error& e) { error = e; };
  auto group = client.subscribe_group("g", {"orders"}, handlers);
  ASSERT_TRUE(error);
  EXPECT_EQ(error->server_code, ServerCode::unknown_command);
  EXPECT_NE(error->message.find("plugins.kafka-proxy.groups"), std::string::npos);
  EXPECT_TRUE(s.sent.empty());
  std::optional<kpg::sdk::Error> commit_error;
  group->commit({}, [&](auto r) { commit_error = r.error(); });
  ASSERT_TRUE(commit_error);
  EXPECT_EQ(commit_error->code, ErrorCode::closed);
}

TEST(SdkGroup, LostConnectionReportsLostPartitionsAndRejoinsAfterReconnect) {
  FakeTransport::State s;
  // What the handlers write is declared before the client: closing it (at the end) calls them.
  std::vector<TopicPartitionOffset> lost;
  bool failed = false;
  kpg::sdk::Client client(std::make_unique<FakeTransport>(s), kpg::testing::options(500, 2000));
  client.connect("ws://h/", [](auto) {});
  open_with(s, {"groups"});
  kpg::sdk::GroupHandlers handlers;
  handlers.on_lost = [&](const std::vector<TopicPartitionOffset>& ps) { lost = ps; };
  handlers.on_error = [&](const kpg::sdk::Error&) { failed = true; };
  auto group = client.subscribe_group("g", {"orders"}, handlers);
  const auto join = sent(s, 0);
  kpg::pubsub::PubSubResp ack;
  ack.set_sequence(join.sequence());
  ack.mutable_kafka_group_subscribe_resp()->set_subscription_id(5);
  deliver(s, ack);
  deliver(s, assignment(join.sequence(), 5, kpg::pubsub::KafkaGroupAssignment::ASSIGNED,
                        {{"orders", 1, 4}}));
  s.handlers.on_close(kpg::sdk::Error{ErrorCode::transport, "reset"});
  EXPECT_EQ(lost, (std::vector<TopicPartitionOffset>{{"orders", 1, 4}}));
  EXPECT_FALSE(failed);
  EXPECT_TRUE(group->active());
  s.sent.clear();
  advance(s, 1000);  // the reconnect attempt
  open_with(s, {"groups"});
  ASSERT_EQ(s.sent.size(), 1u);
  EXPECT_TRUE(sent(s, 0).has_cmd_kafka_group_subscribe());
}

}  // namespace
