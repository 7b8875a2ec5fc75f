// Client behaviour over a scripted in-memory transport (no network).
#include <kpg/pubsub.pb.h>
#include <kpg/sdk/client.h>

#include "fake_transport.h"

#include <gtest/gtest.h>

namespace {

using kpg::sdk::ErrorCode;
using kpg::testing::advance;
using kpg::testing::FakeTransport;

TEST(Client, ConnectsAndRejectsCallsBeforeOpen) {
  FakeTransport::State s;
  kpg::sdk::Client client(std::make_unique<FakeTransport>(s));
  std::optional<kpg::sdk::ErrorCode> early;
  client.ping("x", [&](auto r) { early = r.error().code; });
  EXPECT_EQ(early, ErrorCode::closed);
  bool connected = false;
  client.connect("ws://h/kafka", [&](auto r) { connected = r.ok(); });
  EXPECT_EQ(s.url, "ws://h/kafka");
  kpg::testing::open_apisix(s);
  EXPECT_TRUE(connected);
  EXPECT_TRUE(client.is_open());
}

TEST(Client, ConnectTimesOut) {
  FakeTransport::State s;
  kpg::sdk::Client client(std::make_unique<FakeTransport>(s), kpg::testing::options(500, 1000));
  std::optional<kpg::sdk::Error> error;
  client.connect("ws://h/", [&](auto r) { error = r.error(); });
  advance(s, 499);
  EXPECT_FALSE(error);
  advance(s, 1);
  ASSERT_TRUE(error);
  EXPECT_EQ(error->code, ErrorCode::timeout);
  EXPECT_TRUE(s.closed);
}

TEST(Client, RequestTimesOutAndLateReplyIsIgnored) {
  FakeTransport::State s;
  kpg::sdk::Client client(std::make_unique<FakeTransport>(s), kpg::testing::options(500, 2000));
  client.connect("ws://h/", [](auto) {});
  kpg::testing::open_apisix(s);
  int calls = 0;
  std::optional<ErrorCode> code;
  client.ping("a", [&](auto r) {
    ++calls;
    code = r.ok() ? std::nullopt : std::optional(r.error().code);
  });
  ASSERT_EQ(s.sent.size(), 1u);
  advance(s, 1999);
  EXPECT_EQ(calls, 0);
  advance(s, 1);
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(code, ErrorCode::timeout);
  kpg::pubsub::PubSubReq req;
  ASSERT_TRUE(req.ParseFromString(s.sent[0]));
  kpg::pubsub::PubSubResp resp;
  resp.set_sequence(req.sequence());
  resp.mutable_pong_resp()->set_state("a");
  s.handlers.on_binary(resp.SerializeAsString());
  EXPECT_EQ(calls, 1);
}

TEST(Client, DisconnectFailsEveryPendingRequestAndNotifies) {
  FakeTransport::State s;
  kpg::sdk::Client client(std::make_unique<FakeTransport>(s));
  client.connect("ws://h/", [](auto) {});
  kpg::testing::open_apisix(s);
  std::vector<ErrorCode> codes;
  client.ping("a", [&](auto r) { codes.push_back(r.error().code); });
  client.fetch("t", 0, 0, [&](auto r) { codes.push_back(r.error().code); });
  std::string disconnect_reason;
  client.on_disconnect([&](const kpg::sdk::Error& e) { disconnect_reason = e.message; });
  s.handlers.on_close({ErrorCode::transport, "connection reset"});
  EXPECT_EQ(codes, (std::vector<ErrorCode>{ErrorCode::closed, ErrorCode::closed}));
  EXPECT_EQ(disconnect_reason, "connection reset");
  EXPECT_FALSE(client.is_open());
}

TEST(Client, CloseFailsPendingWithClosed) {
  FakeTransport::State s;
  auto client = std::make_unique<kpg::sdk::Client>(std::make_unique<FakeTransport>(s));
  client->connect("ws://h/", [](auto) {});
  kpg::testing::open_apisix(s);
  std::optional<ErrorCode> code;
  client->list_offsets("t", 0, -1, [&](auto r) { code = r.error().code; });
  client.reset();
  EXPECT_EQ(code, ErrorCode::closed);
  EXPECT_TRUE(s.closed);
}

TEST(Client, ReconnectsWithBackoffAndSubscriptionsResumeAtTheNextOffset) {
  FakeTransport::State s;
  // Declared before the client: its destructor ends the subscription, which reports to them.
  std::vector<std::int64_t> seen;
  std::vector<kpg::sdk::Error> errors;
  kpg::sdk::Client client(std::make_unique<FakeTransport>(s), kpg::testing::options(500, 2000));
  client.connect("ws://h/k", [](auto) {});
  kpg::testing::open_apisix(s);
  int reconnects = 0;
  client.on_reconnect([&] { ++reconnects; });
  client.subscribe("t", 0, kpg::sdk::StartAt::offset(7),
                   {[&](const auto& batch) {
                      for (const auto& r : batch) seen.push_back(r.offset);
                    },
                    [&](const kpg::sdk::Error& e) { errors.push_back(e); }});
  auto answer_last_fetch = [&](std::vector<std::int64_t> offsets) {
    kpg::pubsub::PubSubReq req;
    ASSERT_TRUE(req.ParseFromString(s.sent.back()));
    ASSERT_TRUE(req.has_cmd_kafka_fetch());
    kpg::pubsub::PubSubResp resp;
    resp.set_sequence(req.sequence());
    for (auto o : offsets) resp.mutable_kafka_fetch_resp()->add_messages()->set_offset(o);
    s.handlers.on_binary(resp.SerializeAsString());
  };
  answer_last_fetch({7, 8});
  EXPECT_EQ(seen, (std::vector<std::int64_t>{7, 8}));

  s.handlers.on_close({ErrorCode::transport, "gateway restarted"});  // fetch(9) was in flight
  EXPECT_TRUE(client.reconnecting());
  EXPECT_TRUE(errors.empty()) << "a subscription survives a reconnect";
  EXPECT_EQ(s.opens, 1);
  advance(s, 199);
  EXPECT_EQ(s.opens, 1);
  advance(s, 1);  // first attempt after 200 ms
  EXPECT_EQ(s.opens, 2);
  s.handlers.on_close({ErrorCode::transport, "refused"});
  advance(s, 399);
  EXPECT_EQ(s.opens, 2);
  advance(s, 1);  // then 400 ms
  EXPECT_EQ(s.opens, 3);
  kpg::testing::open_apisix(s);
  EXPECT_EQ(reconnects, 1);
  EXPECT_TRUE(client.is_open());
  kpg::pubsub::PubSubReq resumed;
  ASSERT_TRUE(resumed.ParseFromString(s.sent.back()));
  EXPECT_EQ(resumed.cmd_kafka_fetch().offset(), 9);  // no gap, no repeat
  answer_last_fetch({9});
  EXPECT_EQ(seen, (std::vector<std::int64_t>{7, 8, 9}));

  // A subscription made while reconnecting waits for the connection instead of failing.
  s.handlers.on_close({ErrorCode::transport, "again"});
  const auto sent_before = s.sent.size();
  auto later = client.subscribe("t", 1, kpg::sdk::StartAt::offset(3), {nullptr, nullptr});
  EXPECT_TRUE(later->active());
  EXPECT_EQ(s.sent.size(), sent_before);
  advance(s, 200);
  kpg::testing::open_apisix(s);
  bool asked_for_3 = false;
  for (auto i = sent_before; i < s.sent.size(); ++i) {
    kpg::pubsub::PubSubReq req;
    ASSERT_TRUE(req.ParseFromString(s.sent[i]));
    if (req.cmd_kafka_fetch().partition() == 1 && req.cmd_kafka_fetch().offset() == 3) {
      asked_for_3 = true;
    }
  }
  EXPECT_TRUE(asked_for_3);
}

TEST(Client, WithoutReconnectOrAfterMaxAttemptsSubscriptionsEnd) {
  FakeTransport::State s;
  auto opts = kpg::testing::options(500, 2000);
  opts.reconnect.max_attempts = 2;
  kpg::sdk::Client client(std::make_unique<FakeTransport>(s), opts);
  client.connect("ws://h/k", [](auto) {});
  kpg::testing::open_apisix(s);
  std::vector<kpg::sdk::Error> errors;
  std::vector<kpg::sdk::Error> closes;
  client.on_close([&](const kpg::sdk::Error& e) { closes.push_back(e); });
  client.subscribe("t", 0, kpg::sdk::StartAt::offset(0),
                   {nullptr, [&](const kpg::sdk::Error& e) { errors.push_back(e); }});
  s.handlers.on_close({ErrorCode::transport, "down"});
  EXPECT_TRUE(closes.empty()) << "a drop is not the end while reconnecting";
  std::optional<kpg::sdk::Error> rejected;
  client.ping("x", [&](auto r) { rejected = r.error(); });
  ASSERT_TRUE(rejected);
  EXPECT_EQ(rejected->message, "connection lost; reconnecting");
  advance(s, 200);
  s.handlers.on_close({ErrorCode::transport, "refused"});
  advance(s, 400);
  s.handlers.on_close({ErrorCode::transport, "refused"});
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].code, ErrorCode::transport);
  EXPECT_NE(errors[0].message.find("gave up reconnecting after 2 attempts"), std::string::npos)
      << errors[0].message;
  EXPECT_FALSE(client.reconnecting());
  ASSERT_EQ(closes.size(), 1u);
  EXPECT_EQ(closes[0].message, errors[0].message);

  FakeTransport::State s2;
  auto no_reconnect = kpg::testing::options(500, 2000);
  no_reconnect.reconnect.enabled = false;
  kpg::sdk::Client plain(std::make_unique<FakeTransport>(s2), no_reconnect);
  plain.connect("ws://h/k", [](auto) {});
  kpg::testing::open_apisix(s2);
  std::vector<kpg::sdk::Error> ended;
  plain.subscribe("t", 0, kpg::sdk::StartAt::offset(0),
                  {nullptr, [&](const kpg::sdk::Error& e) { ended.push_back(e); }});
  int plain_closes = 0;
  plain.on_close([&](const kpg::sdk::Error&) { ++plain_closes; });
  s2.handlers.on_close({ErrorCode::transport, "down"});
  EXPECT_EQ(plain_closes, 1);
  ASSERT_EQ(ended.size(), 1u);
  EXPECT_EQ(ended[0].code, ErrorCode::closed);
  advance(s2, 60'000);
  EXPECT_EQ(s2.opens, 1);
}

}  // namespace
