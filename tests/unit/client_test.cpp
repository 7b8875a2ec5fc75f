// Client behaviour over a scripted in-memory transport (no network).
#include <kpg/pubsub.pb.h>
#include <kpg/sdk/client.h>

#include <gtest/gtest.h>

namespace {

using kpg::sdk::ErrorCode;

struct FakeTransport : kpg::sdk::Transport {
  struct State {
    std::string url;
    Handlers handlers;
    std::vector<std::string> sent;
    std::int64_t now = 1000;
    std::int64_t timer_at = -1;
    std::function<void()> timer;
    bool closed = false;
  };
  explicit FakeTransport(State& s) : state(s) {}
  void open(const std::string& url, Handlers h) override {
    state.url = url;
    state.handlers = std::move(h);
  }
  void send(std::string frame) override { state.sent.push_back(std::move(frame)); }
  void close() override { state.closed = true; }
  void set_timer(std::int64_t delay, std::function<void()> cb) override {
    state.timer_at = delay < 0 ? -1 : state.now + delay;
    state.timer = delay < 0 ? nullptr : std::move(cb);
  }
  std::int64_t now_ms() override { return state.now; }
  State& state;
};

void advance(FakeTransport::State& s, std::int64_t ms) {
  s.now += ms;
  if (s.timer && s.timer_at >= 0 && s.timer_at <= s.now) {
    auto cb = std::move(s.timer);
    s.timer = nullptr;
    s.timer_at = -1;
    cb();
  }
}

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
