// The native SDK's credentials against the real gateway: an API key or a token opens a key-auth /
// jwt-auth route, a refusal is ErrorCode::unauthorized / forbidden with the gateway's reason, a
// token provider is asked again when the gateway closes a connection at its token's expiry (the
// subscription carries on), and a refused reconnect ends the client instead of retrying.
#include "admin_fixture.h"
#include "jwt_tokens.h"
#include "record_collector.h"

#include <kpg/sdk/native_client.h>

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <thread>

namespace {

using namespace std::chrono_literals;
using kpg::sdk::ErrorCode;
using kpg::testing::sign_jwt;
using kpg::testing::unix_now;
using nlohmann::json;

class SdkAuthTest : public kpg::testing::AdminFixture {
 protected:
  void SetUp() override {
    AdminFixture::SetUp();
    put_consumer({{"username", "alice"}, {"plugins", {{"key-auth", {{"key", "alice key/1"}}}}}});
    put_consumer({{"username", "bob"},
                  {"plugins", {{"jwt-auth", {{"key", "bob-key"}, {"secret", "bob-secret"}}}}}});
    put_route("keyed", "/keyed", {{"key-auth", json::object()}});
    put_route("jwt", "/jwt", {{"jwt-auth", json::object()}});
  }
  static std::string bob_token(std::int64_t exp) {
    return sign_jwt("HS256", "bob-secret", {{"key", "bob-key"}, {"exp", exp}});
  }
  static kpg::sdk::ClientOptions fast_reconnect() {
    kpg::sdk::ClientOptions o;
    o.reconnect.initial_delay_ms = 100;
    o.reconnect.jitter = 0;
    return o;
  }
  // Connects with `options` and expects the gateway's refusal.
  void expect_refused(const std::string& path, kpg::sdk::ClientOptions options, ErrorCode code,
                      const std::string& message) {
    kpg::sdk::NativeClient client(std::move(options));
    auto r = client.connect(url(path));
    ASSERT_FALSE(r) << path;
    EXPECT_EQ(r.error().code, code) << r.error().message;
    EXPECT_EQ(r.error().message, message);
  }
};

TEST_F(SdkAuthTest, ApiKeyOpensTheRouteAndAWrongOneIsUnauthorized) {
  kpg::sdk::ClientOptions o;
  o.api_key = "alice key/1";
  kpg::sdk::NativeClient client(o);
  auto connected = client.connect(url("/keyed"));
  ASSERT_TRUE(connected) << connected.error().message;
  auto records = client.fetch("orders", 0, 0);
  ASSERT_TRUE(records) << records.error().message;
  EXPECT_EQ(records.value().size(), 3u);

  o.api_key = "mallory";
  expect_refused("/keyed", o, ErrorCode::unauthorized, "Invalid API key in request");
  expect_refused("/keyed", {}, ErrorCode::unauthorized, "Missing API key found in request");
}

TEST_F(SdkAuthTest, TokenOpensTheRouteAndABadOneIsUnauthorized) {
  kpg::sdk::ClientOptions o;
  o.token = bob_token(unix_now() + 600);
  kpg::sdk::NativeClient client(o);
  auto connected = client.connect(url("/jwt"));
  ASSERT_TRUE(connected) << connected.error().message;
  EXPECT_TRUE(client.ping("hi"));

  o.token = sign_jwt("HS256", "not-bobs-secret", {{"key", "bob-key"}});
  expect_refused("/jwt", o, ErrorCode::unauthorized, "failed to verify jwt: signature mismatch");
  o.token = bob_token(unix_now() - 10);
  expect_refused("/jwt", o, ErrorCode::unauthorized, "failed to verify jwt: token expired");
  expect_refused("/jwt", {}, ErrorCode::unauthorized, "Missing JWT token in request");
}

TEST_F(SdkAuthTest, TokenProviderErrorFailsTheConnect) {
  auto o = fast_reconnect();
  o.token_provider = [](kpg::sdk::ClientOptions::TokenCallback done) {
    // From another thread, as an application's token refresh would.
    std::thread([done] {
      done(kpg::sdk::Error{ErrorCode::unauthorized, "not logged in"});
    }).detach();
  };
  expect_refused("/jwt", o, ErrorCode::unauthorized, "not logged in");
}

TEST_F(SdkAuthTest, ExpiredTokenIsReplacedOnReconnectAndTheSubscriptionCarriesOn) {
  std::atomic<int> asked{0};
  auto o = fast_reconnect();
  o.token_provider = [&asked](kpg::sdk::ClientOptions::TokenCallback done) {
    // The first token expires in 2 s: the gateway closes the connection then (1008).
    const int n = ++asked;
    done(bob_token(unix_now() + (n == 1 ? 2 : 600)));
  };
  // Declared before the client, so it outlives it: destroying the client ends the subscription
  // through the collector's handlers.
  kpg::testing::RecordCollector seen;
  kpg::sdk::NativeClient client(o);
  std::promise<void> reconnected;
  std::atomic<bool> once{false};
  client.on_reconnect([&] {
    if (!once.exchange(true)) reconnected.set_value();
  });
  std::promise<kpg::sdk::Error> dropped;
  std::atomic<bool> dropped_once{false};
  client.on_disconnect([&](const kpg::sdk::Error& e) {
    if (!dropped_once.exchange(true)) dropped.set_value(e);
  });
  auto connected = client.connect(url("/jwt"));
  ASSERT_TRUE(connected) << connected.error().message;
  EXPECT_EQ(asked.load(), 1);

  auto sub = client.subscribe("orders", 0, kpg::sdk::StartAt::earliest(), seen.handlers());
  ASSERT_TRUE(seen.wait_for_count(3));

  auto drop = dropped.get_future();
  ASSERT_EQ(drop.wait_for(10s), std::future_status::ready);
  EXPECT_NE(drop.get().message.find("token expired"), std::string::npos);
  ASSERT_EQ(reconnected.get_future().wait_for(10s), std::future_status::ready);
  EXPECT_EQ(asked.load(), 2);

  // Records written after the reconnect arrive on the same subscription, without duplicates.
  kpg::kafka::Producer producer(bootstrap_);
  ASSERT_EQ(producer.produce("orders", 0, "k", "after").error, "");
  ASSERT_TRUE(seen.wait_for_count(4));
  const auto records = seen.records();
  ASSERT_EQ(records.size(), 4u);
  for (std::size_t i = 0; i < records.size(); ++i) EXPECT_EQ(records[i].offset, std::int64_t(i));
  EXPECT_EQ(records.back().value, "after");
  EXPECT_TRUE(sub->active());
}

TEST_F(SdkAuthTest, ReconnectRefusedWithoutProviderEndsTheClient) {
  auto o = fast_reconnect();
  o.token = bob_token(unix_now() + 2);  // nothing can replace it
  kpg::testing::RecordCollector seen;   // outlives the client (see above)
  kpg::sdk::NativeClient client(o);
  std::promise<kpg::sdk::Error> closed;
  client.on_close([&](const kpg::sdk::Error& e) { closed.set_value(e); });
  auto connected = client.connect(url("/jwt"));
  ASSERT_TRUE(connected) << connected.error().message;
  auto sub = client.subscribe("orders", 0, kpg::sdk::StartAt::earliest(), seen.handlers());

  auto end = closed.get_future();
  ASSERT_EQ(end.wait_for(10s), std::future_status::ready);
  const auto error = end.get();
  EXPECT_EQ(error.code, ErrorCode::unauthorized);
  EXPECT_EQ(error.message, "failed to verify jwt: token expired");
  ASSERT_TRUE(seen.failure());
  EXPECT_EQ(seen.failure()->code, ErrorCode::unauthorized);
}

TEST_F(SdkAuthTest, RouteRequiringAnOriginIsForbidden) {
  // Native clients send no Origin: a route that requires one refuses them, whatever the key.
  put_route("strict", "/strict",
            {{"key-auth", json::object()},
             {"cors", {{"allow_origins", "https://app.example"}, {"kpg_require_origin", true}}}});
  kpg::sdk::ClientOptions o;
  o.api_key = "alice key/1";
  expect_refused("/strict", o, ErrorCode::forbidden, "an Origin header is required on this route");
}

}  // namespace
