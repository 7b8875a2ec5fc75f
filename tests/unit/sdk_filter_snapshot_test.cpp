// The SDK core's filters and snapshot subscriptions over the in-memory transport: every filter
// kind encoded into subscribe and fetch frames, local validation, refusal where the gateway does
// not offer them, next_offset moving past records that did not match (empty frames are not
// delivered but their credit goes back), snapshot records and ends, and resuming after a
// reconnect with the same filter, from next_offset, without redoing a completed snapshot.
#include <kpg/pubsub.pb.h>
#include <kpg/sdk/client.h>
#include <kpg/sdk/filter.h>

#include "fake_transport.h"

#include <gtest/gtest.h>

#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace {

using kpg::pubsub::PubSubReq;
using kpg::pubsub::PubSubResp;
using kpg::sdk::ErrorCode;
using kpg::sdk::Filter;
using kpg::sdk::JsonValue;
using kpg::sdk::Record;
using kpg::sdk::ServerCode;
using kpg::sdk::StartAt;
using kpg::testing::FakeTransport;

struct Gateway {
  std::vector<std::string> features{"push",        "metadata", "headers",
                                    "error_codes", "filters",  "snapshot"};
  std::uint32_t max_credit = 64;
  std::uint32_t max_filter_conditions = 8;
  std::uint32_t max_filter_values = 4;
};

struct FilterSnapshot : ::testing::Test {
  void SetUp() override {
    client = std::make_unique<kpg::sdk::Client>(std::make_unique<FakeTransport>(s),
                                                kpg::testing::options(1000, 5000, 100));
    client->connect("ws://h/kafka", [](auto) {});
  }

  // Opens the connection (again) on a gateway like `g`; an empty feature list answers hello as
  // Apache APISIX does.
  void open(const Gateway& g) {
    s.handlers.on_open();
    PubSubReq hello;
    ASSERT_TRUE(hello.ParseFromString(s.sent.back()));
    ASSERT_TRUE(hello.has_cmd_hello());
    s.sent.pop_back();
    PubSubResp resp;
    resp.set_sequence(hello.sequence());
    if (g.features.empty()) {
      resp.mutable_error_resp()->set_message("unknown command");
    } else {
      auto* h = resp.mutable_hello_resp();
      h->set_protocol_version(1);
      for (const auto& f : g.features) h->add_features(f);
      h->mutable_limits()->set_max_credit(g.max_credit);
      h->mutable_limits()->set_max_filter_conditions(g.max_filter_conditions);
      h->mutable_limits()->set_max_filter_values(g.max_filter_values);
      h->mutable_limits()->set_max_snapshot_bytes(1 << 20);
    }
    reply(resp);
  }

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
  static std::uint64_t credit_in(const std::vector<PubSubReq>& sent) {
    std::uint64_t total = 0;
    for (const auto& r : sent) total += r.has_cmd_credit() ? r.cmd_credit().credit() : 0;
    return total;
  }
  void reply(const PubSubResp& resp) { s.handlers.on_binary(resp.SerializeAsString()); }
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
  struct Frame {
    std::int32_t partition = 0;
    std::vector<std::int64_t> offsets;
    std::int64_t next_offset = 0;
    bool snapshot = false;
    bool snapshot_end = false;
  };
  void push(const PubSubReq& subscribe, std::int64_t id, const Frame& f) {
    PubSubResp resp;
    resp.set_sequence(subscribe.sequence());
    auto* records = resp.mutable_kafka_records();
    records->set_subscription_id(id);
    records->set_partition(f.partition);
    for (auto o : f.offsets) {
      auto* m = records->add_messages();
      m->set_offset(o);
      m->set_key("k" + std::to_string(o));
      m->set_value("v" + std::to_string(o));
    }
    records->set_next_offset(f.next_offset);
    records->set_snapshot(f.snapshot);
    records->set_snapshot_end(f.snapshot_end);
    reply(resp);
  }

  kpg::sdk::SubscriptionHandlers handlers() {
    kpg::sdk::SubscriptionHandlers h;
    h.on_records = [this](const std::vector<Record>& batch) {
      ++batches;
      for (const auto& r : batch) {
        events.push_back((r.snapshot ? "S" : "L") + std::to_string(r.partition) + "@" +
                         std::to_string(r.offset));
      }
    };
    h.on_error = [this](const kpg::sdk::Error& e) { errors.push_back(e); };
    h.on_snapshot_end = [this](std::int32_t p) { events.push_back("end" + std::to_string(p)); };
    h.on_snapshot_complete = [this] { events.push_back("complete"); };
    return h;
  }
  std::shared_ptr<kpg::sdk::Subscription> subscribe(std::vector<std::int32_t> partitions,
                                                    StartAt from, Filter filter = {}) {
    kpg::sdk::SubscribeOptions options;
    options.filter = std::move(filter);
    return client->subscribe_topic("t", std::move(partitions), from, handlers(), options);
  }

  FakeTransport::State s;
  // Before the client: its destructor ends the subscriptions, which report to them.
  std::vector<std::string> events;
  int batches = 0;
  std::vector<kpg::sdk::Error> errors;
  std::unique_ptr<kpg::sdk::Client> client;
};

// One filter with every kind of condition and every kind of JSON value.
Filter every_kind() {
  return Filter::key_equals(std::string("k\0ey", 4)) && Filter::key_prefix("eu-") &&
         Filter::header_equals("region", "eu-west") &&
         Filter::json_in("/status", {"open", 2.5, true, nullptr}) &&
         Filter::json_compare("/amount", Filter::Op::ge, 100);
}

void expect_every_kind(const kpg::pubsub::KafkaFilter& f) {
  ASSERT_EQ(f.all_size(), 5);
  EXPECT_EQ(f.all(0).key_equals(), std::string("k\0ey", 4));
  EXPECT_EQ(f.all(1).key_prefix(), "eu-");
  EXPECT_EQ(f.all(2).header().key(), "region");
  EXPECT_EQ(f.all(2).header().value(), "eu-west");
  const auto& in = f.all(3).json_in();
  EXPECT_EQ(in.path(), "/status");
  ASSERT_EQ(in.values_size(), 4);
  EXPECT_EQ(in.values(0).string_value(), "open");
  EXPECT_EQ(in.values(1).number_value(), 2.5);
  EXPECT_TRUE(in.values(2).has_bool_value());
  EXPECT_TRUE(in.values(2).bool_value());
  EXPECT_TRUE(in.values(3).has_null_value());
  EXPECT_EQ(f.all(4).json_compare().path(), "/amount");
  EXPECT_EQ(f.all(4).json_compare().op(), kpg::pubsub::JsonFieldCompare::GE);
  EXPECT_EQ(f.all(4).json_compare().value(), 100.0);
}

TEST(Filter, BuildsConjunctionsAndEveryComparison) {
  EXPECT_TRUE(Filter().empty());
  const auto f = Filter::key_prefix("a").and_(Filter::key_prefix("b") && Filter());
  ASSERT_EQ(f.conditions().size(), 2u);
  EXPECT_EQ(f.conditions()[1].bytes, "b");
  EXPECT_EQ(JsonValue().kind(), JsonValue::Kind::null);
  EXPECT_EQ(JsonValue(std::int64_t{7}).number(), 7.0);
  EXPECT_EQ(JsonValue(false).kind(), JsonValue::Kind::boolean);
  for (auto op : {Filter::Op::lt, Filter::Op::le, Filter::Op::gt, Filter::Op::ge}) {
    EXPECT_EQ(Filter::json_compare("/x", op, 1).conditions()[0].op, op);
  }
}

TEST(Filter, ValidateRefusesWhatTheGatewayWould) {
  kpg::sdk::ServerLimits limits;
  limits.max_filter_conditions = 2;
  limits.max_filter_values = 2;
  EXPECT_FALSE(Filter().validate(limits));
  EXPECT_FALSE((Filter::key_prefix("a") && Filter::json_in("", {1, 2})).validate(limits));

  auto three = Filter::key_prefix("a") && Filter::key_prefix("b") && Filter::key_prefix("c");
  auto e = three.validate(limits);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code, ErrorCode::server);
  EXPECT_EQ(e->server_code, ServerCode::limit_exceeded);
  EXPECT_EQ(e->message, "invalid filter: 3 conditions, the gateway allows at most 2");
  EXPECT_FALSE(three.validate({})) << "limits not announced are not checked";

  e = Filter::json_in("/a", {1, 2, 3}).validate(limits);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->server_code, ServerCode::limit_exceeded);
  e = Filter::json_in("/a", {}).validate(limits);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->server_code, ServerCode::bad_request);
  e = (Filter::key_prefix("a") && Filter::json_compare("status", Filter::Op::lt, 1))
          .validate(limits);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->server_code, ServerCode::bad_request);
  EXPECT_NE(e->message.find("condition 1: JSON path 'status'"), std::string::npos) << e->message;
  e = Filter::key_prefix("").validate(limits);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->server_code, ServerCode::bad_request);
  e = Filter::header_equals("", "v").validate(limits);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->server_code, ServerCode::bad_request);
  e = Filter::json_compare("/a", Filter::Op::lt, std::numeric_limits<double>::infinity())
          .validate(limits);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->server_code, ServerCode::bad_request);
}

TEST_F(FilterSnapshot, HelloLimitsAndSubscribeCarryTheFilter) {
  open({});
  const auto& limits = client->server_info().limits;
  EXPECT_EQ(limits.max_filter_conditions, 8u);
  EXPECT_EQ(limits.max_filter_values, 4u);
  EXPECT_EQ(limits.max_snapshot_bytes, 1u << 20);

  subscribe({0, 1}, StartAt::earliest(), every_kind());
  const auto req = only_sent();
  ASSERT_TRUE(req.has_cmd_kafka_subscribe());
  ASSERT_TRUE(req.cmd_kafka_subscribe().has_filter());
  expect_every_kind(req.cmd_kafka_subscribe().filter());
  EXPECT_EQ(req.cmd_kafka_subscribe().start(), kpg::pubsub::CmdKafkaSubscribe::EARLIEST);
}

TEST_F(FilterSnapshot, AnEmptyFilterIsNotSentAndNeedsNoFeature) {
  Gateway g;
  g.features = {"push"};
  open(g);
  subscribe({0}, StartAt::latest());
  const auto req = only_sent();
  ASSERT_TRUE(req.has_cmd_kafka_subscribe());
  EXPECT_FALSE(req.cmd_kafka_subscribe().has_filter());
  EXPECT_TRUE(errors.empty());
}

TEST_F(FilterSnapshot, FilteredFetchCarriesTheFilterAndSaysWhereToGoOn) {
  open({});
  std::optional<kpg::sdk::Result<kpg::sdk::ProtocolSession::FetchPage>> got;
  client->fetch("t", 3, 40, every_kind(), [&](auto r) { got = std::move(r); });
  const auto req = only_sent();
  ASSERT_TRUE(req.has_cmd_kafka_fetch());
  EXPECT_EQ(req.cmd_kafka_fetch().offset(), 40);
  expect_every_kind(req.cmd_kafka_fetch().filter());

  PubSubResp resp;
  resp.set_sequence(req.sequence());
  resp.mutable_kafka_fetch_resp()->set_next_offset(95);  // read 55 records, none matched
  reply(resp);
  ASSERT_TRUE(got && got->ok());
  EXPECT_TRUE(got->value().records.empty());
  EXPECT_EQ(got->value().next_offset, 95);

  // A matching record, and a gateway that leaves next_offset out: after the last record.
  got.reset();
  client->fetch("t", 3, 95, Filter::key_prefix("k"), [&](auto r) { got = std::move(r); });
  resp.set_sequence(only_sent().sequence());
  resp.mutable_kafka_fetch_resp()->set_next_offset(0);
  auto* m = resp.mutable_kafka_fetch_resp()->add_messages();
  m->set_offset(97);
  reply(resp);
  ASSERT_TRUE(got && got->ok());
  ASSERT_EQ(got->value().records.size(), 1u);
  EXPECT_EQ(got->value().records[0].partition, 3);
  EXPECT_EQ(got->value().next_offset, 98);
}

TEST_F(FilterSnapshot, FilterOverTheAnnouncedLimitsFailsBeforeSending) {
  Gateway g;
  g.max_filter_conditions = 2;
  open(g);
  auto sub = subscribe({0}, StartAt::latest(), every_kind());
  EXPECT_TRUE(s.sent.empty());
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].server_code, ServerCode::limit_exceeded);
  EXPECT_FALSE(sub->active());

  std::optional<kpg::sdk::Error> failed;
  client->fetch("t", 0, 0, every_kind(), [&](auto r) { failed = r.error(); });
  EXPECT_TRUE(s.sent.empty());
  ASSERT_TRUE(failed);
  EXPECT_EQ(failed->server_code, ServerCode::limit_exceeded);
}

TEST_F(FilterSnapshot, ApisixModeRefusesFiltersAndSnapshotsInsteadOfDeliveringEverything) {
  Gateway apisix;
  apisix.features = {};
  open(apisix);
  auto filtered = subscribe({0}, StartAt::earliest(), Filter::key_equals("a"));
  auto snapshot = subscribe({0}, StartAt::snapshot());
  std::optional<kpg::sdk::Error> fetch_error;
  client->fetch("t", 0, 0, Filter::key_equals("a"), [&](auto r) { fetch_error = r.error(); });
  EXPECT_TRUE(s.sent.empty()) << "nothing is asked of the gateway";
  ASSERT_EQ(errors.size(), 2u);
  for (const auto& e : errors) {
    EXPECT_EQ(e.code, ErrorCode::server);
    EXPECT_EQ(e.server_code, ServerCode::unknown_command);
    EXPECT_NE(e.message.find("APISIX"), std::string::npos) << e.message;
  }
  EXPECT_NE(errors[0].message.find("filters"), std::string::npos) << errors[0].message;
  EXPECT_NE(errors[1].message.find("snapshot"), std::string::npos) << errors[1].message;
  EXPECT_FALSE(filtered->active());
  EXPECT_FALSE(snapshot->active());
  ASSERT_TRUE(fetch_error);
  EXPECT_EQ(fetch_error->server_code, ServerCode::unknown_command);

  // An empty filter is a plain fetch, which APISIX serves.
  std::optional<kpg::sdk::Result<kpg::sdk::ProtocolSession::FetchPage>> page;
  client->fetch("t", 0, 7, Filter(), [&](auto r) { page = std::move(r); });
  const auto req = only_sent();
  EXPECT_FALSE(req.cmd_kafka_fetch().has_filter());
  PubSubResp resp;
  resp.set_sequence(req.sequence());
  resp.mutable_kafka_fetch_resp();
  reply(resp);
  ASSERT_TRUE(page && page->ok());
  EXPECT_EQ(page->value().next_offset, 7);
}

TEST_F(FilterSnapshot, AKpgGatewayWithoutTheFeaturesRefusesThemToo) {
  Gateway g;
  g.features = {"push", "metadata"};
  open(g);
  subscribe({0}, StartAt::latest(), Filter::key_equals("a"));
  subscribe({0}, StartAt::snapshot());
  EXPECT_TRUE(s.sent.empty());
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_EQ(errors[0].message,
            "the gateway does not offer filters (\"filters\" is not among its hello features)");
  EXPECT_EQ(errors[1].message,
            "the gateway does not offer snapshot subscriptions (\"snapshot\" is not among its "
            "hello features)");
}

TEST_F(FilterSnapshot, EmptyFramesMoveNextOffsetWithoutADeliveryAndTheirCreditGoesBack) {
  open({});
  kpg::sdk::SubscribeOptions options;
  options.window = 2;
  options.filter = Filter::key_prefix("k1");
  auto sub = client->subscribe_topic("t", {0}, StartAt::earliest(), handlers(), options);
  const auto req = only_sent();
  EXPECT_EQ(req.cmd_kafka_subscribe().credit(), 2u);
  ack(req, 7, {{0, 0}});
  EXPECT_EQ(credit_in(take_sent()), 0u);

  push(req, 7, {0, {}, 500});  // read 0..499, nothing matched
  EXPECT_EQ(batches, 0) << "an empty frame is no batch";
  auto sent = take_sent();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].cmd_credit().subscription_id(), 7);
  EXPECT_EQ(sent[0].cmd_credit().credit(), 1u) << "its credit is granted back";
  EXPECT_EQ(sub->next_offsets().at(0), 500);

  push(req, 7, {0, {510, 512}, 600});  // matches among 500..599
  EXPECT_EQ(batches, 1);
  EXPECT_EQ(events, (std::vector<std::string>{"L0@510", "L0@512"}));
  EXPECT_EQ(sub->next_offsets().at(0), 600) << "past the records that did not match";
  EXPECT_EQ(credit_in(take_sent()), 1u);

  // A frame without next_offset (a gateway that does not send it) still moves past its records.
  push(req, 7, {0, {650}, 0});
  EXPECT_EQ(sub->next_offsets().at(0), 651);
  EXPECT_TRUE(errors.empty());
}

TEST_F(FilterSnapshot, PullModeEmptyFramesUseNoDemand) {
  open({});
  kpg::sdk::SubscribeOptions options;
  options.pull = true;
  options.filter = Filter::key_prefix("k");
  auto sub = client->subscribe_topic("t", {0}, StartAt::earliest(), handlers(), options);
  const auto req = only_sent();
  ack(req, 3, {{0, 0}});
  sub->request(1);
  EXPECT_EQ(credit_in(take_sent()), 1u);
  push(req, 3, {0, {}, 100});
  EXPECT_EQ(batches, 0);
  EXPECT_EQ(credit_in(take_sent()), 1u) << "the demand is still there: asked again";
  push(req, 3, {0, {100}, 101});
  EXPECT_EQ(batches, 1);
  EXPECT_EQ(credit_in(take_sent()), 0u);
}

TEST_F(FilterSnapshot, ReconnectResumesFromNextOffsetWithTheSameFilter) {
  open({});
  const auto filter = Filter::header_equals("region", "eu") && Filter::json_in("/s", {"open"});
  auto sub = subscribe({0, 1}, StartAt::latest(), filter);
  const auto first = only_sent();
  ack(first, 1, {{0, 10}, {1, 20}});
  take_sent();
  push(first, 1, {0, {}, 300});
  push(first, 1, {1, {25}, 40});
  take_sent();

  s.handlers.on_close({ErrorCode::transport, "reset"});
  kpg::testing::advance(s, 10'000);
  open({});
  const auto again = only_sent();
  ASSERT_TRUE(again.has_cmd_kafka_subscribe());
  const auto& cmd = again.cmd_kafka_subscribe();
  EXPECT_EQ(cmd.partitions_size(), 0);
  ASSERT_EQ(cmd.offsets_size(), 2);
  EXPECT_EQ(cmd.offsets(0).partition(), 0);
  EXPECT_EQ(cmd.offsets(0).offset(), 300) << "where the gateway got to, not the last match";
  EXPECT_EQ(cmd.offsets(1).partition(), 1);
  EXPECT_EQ(cmd.offsets(1).offset(), 40);
  ASSERT_EQ(cmd.filter().all_size(), 2);
  EXPECT_EQ(cmd.filter().all(0).header().key(), "region");
  EXPECT_EQ(cmd.filter().all(1).json_in().values(0).string_value(), "open");
  EXPECT_TRUE(sub->active());
  EXPECT_TRUE(errors.empty());
}

TEST_F(FilterSnapshot, ReconnectToAGatewayWithoutFiltersEndsTheSubscription) {
  open({});
  auto sub = subscribe({0}, StartAt::latest(), Filter::key_equals("a"));
  ack(only_sent(), 1, {{0, 0}});
  take_sent();
  s.handlers.on_close({ErrorCode::transport, "reset"});
  kpg::testing::advance(s, 10'000);
  Gateway older;
  older.features = {"push"};
  open(older);
  EXPECT_TRUE(take_sent().empty()) << "no unfiltered subscribe";
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].server_code, ServerCode::unknown_command);
  EXPECT_FALSE(sub->active());
}

TEST_F(FilterSnapshot, SnapshotRecordsAreFlaggedAndEachPartitionsEndIsReportedInOrder) {
  open({});
  auto sub = subscribe({}, StartAt::snapshot(), Filter::key_prefix("k"));
  const auto req = only_sent();
  const auto& cmd = req.cmd_kafka_subscribe();
  EXPECT_EQ(cmd.start(), kpg::pubsub::CmdKafkaSubscribe::SNAPSHOT);
  EXPECT_EQ(cmd.partitions_size(), 0);
  EXPECT_EQ(cmd.filter().all(0).key_prefix(), "k");
  ack(req, 5, {{0, 100}, {1, 50}});  // live reading starts at the snapshot ends

  push(req, 5, {0, {3, 90}, 95, true, false});
  push(req, 5, {1, {}, 50, true, true});  // nothing to snapshot in partition 1
  push(req, 5, {0, {97}, 100, true, true});
  push(req, 5, {0, {100, 101}, 102});
  push(req, 5, {1, {49, 50}, 51});  // 49 is before the live start: not delivered again
  EXPECT_EQ(events, (std::vector<std::string>{"S0@3", "S0@90", "end1", "S0@97", "end0", "complete",
                                              "L0@100", "L0@101", "L1@50"}));
  EXPECT_EQ(sub->next_offsets().at(0), 102);
  EXPECT_EQ(sub->next_offsets().at(1), 51);
  EXPECT_EQ(credit_in(take_sent()), 5u) << "every frame's credit went back, empty ones too";
  EXPECT_TRUE(errors.empty());
}

TEST_F(FilterSnapshot, APausedSnapshotEndWaitsBehindItsRecords) {
  open({});
  auto sub = subscribe({0}, StartAt::snapshot());
  const auto req = only_sent();
  ack(req, 5, {{0, 10}});
  sub->pause();
  push(req, 5, {0, {4}, 10, true, true});
  EXPECT_TRUE(events.empty());
  sub->resume();
  EXPECT_EQ(events, (std::vector<std::string>{"S0@4", "end0", "complete"}));
}

TEST_F(FilterSnapshot, ReconnectKeepsACompletedSnapshotAndRestartsAnInterruptedOne) {
  open({});
  auto sub = subscribe({}, StartAt::snapshot());
  const auto first = only_sent();
  ack(first, 5, {{0, 100}, {1, 50}});
  push(first, 5, {0, {7}, 100, true, true});  // partition 0: complete
  push(first, 5, {0, {100}, 101});
  push(first, 5, {1, {2}, 20, true, false});  // partition 1: interrupted
  take_sent();

  s.handlers.on_close({ErrorCode::transport, "reset"});
  kpg::testing::advance(s, 10'000);
  open({});
  const auto again = only_sent();
  const auto& cmd = again.cmd_kafka_subscribe();
  EXPECT_EQ(cmd.start(), kpg::pubsub::CmdKafkaSubscribe::SNAPSHOT);
  ASSERT_EQ(cmd.offsets_size(), 1) << "partition 0 resumes live";
  EXPECT_EQ(cmd.offsets(0).partition(), 0);
  EXPECT_EQ(cmd.offsets(0).offset(), 101);
  ASSERT_EQ(cmd.partitions_size(), 1) << "partition 1 snapshots again";
  EXPECT_EQ(cmd.partitions(0), 1);

  ack(again, 6, {{0, 101}, {1, 60}});  // partition 1's log grew meanwhile
  push(again, 6, {1, {2, 55}, 60, true, true});
  push(again, 6, {1, {60}, 61});
  EXPECT_EQ(events, (std::vector<std::string>{"S0@7", "end0", "L0@100", "S1@2", "S1@2", "S1@55",
                                              "end1", "complete", "L1@60"}));
  EXPECT_EQ(sub->next_offsets().at(1), 61);
  take_sent();

  // Once complete, a later reconnect resumes every partition live.
  s.handlers.on_close({ErrorCode::transport, "reset"});
  kpg::testing::advance(s, 10'000);
  open({});
  const auto live = only_sent().cmd_kafka_subscribe();
  EXPECT_EQ(live.partitions_size(), 0);
  ASSERT_EQ(live.offsets_size(), 2);
  EXPECT_EQ(live.offsets(1).offset(), 61);
  EXPECT_TRUE(errors.empty());
}

TEST_F(FilterSnapshot, WithoutPushAFilteredSubscriptionFetchesWithTheFilter) {
  Gateway g;
  g.features = {"filters"};
  open(g);
  subscribe({2}, StartAt::offset(10), Filter::key_prefix("k"));
  auto req = only_sent();
  ASSERT_TRUE(req.has_cmd_kafka_fetch());
  EXPECT_EQ(req.cmd_kafka_fetch().offset(), 10);
  EXPECT_EQ(req.cmd_kafka_fetch().filter().all(0).key_prefix(), "k");
  PubSubResp resp;
  resp.set_sequence(req.sequence());
  resp.mutable_kafka_fetch_resp()->set_next_offset(80);  // nothing matched, but it read on
  reply(resp);
  req = only_sent();
  ASSERT_TRUE(req.has_cmd_kafka_fetch()) << "at once: not the end of the log";
  EXPECT_EQ(req.cmd_kafka_fetch().offset(), 80);
  EXPECT_EQ(batches, 0);
}

}  // namespace
