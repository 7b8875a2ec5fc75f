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
  s.handlers.on_open();
  EXPECT_TRUE(connected);
  EXPECT_TRUE(client.is_open());
}

TEST(Client, ConnectTimesOut) {
  FakeTransport::State s;
  kpg::sdk::Client client(std::make_unique<FakeTransport>(s), {500, 1000});
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
  kpg::sdk::Client client(std::make_unique<FakeTransport>(s), {500, 2000});
  client.connect("ws://h/", [](auto) {});
  s.handlers.on_open();
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
  s.handlers.on_open();
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
  s.handlers.on_open();
  std::optional<ErrorCode> code;
  client->list_offsets("t", 0, -1, [&](auto r) { code = r.error().code; });
  client.reset();
  EXPECT_EQ(code, ErrorCode::closed);
  EXPECT_TRUE(s.closed);
}

}  // namespace
