// Credentials in the SDK core: what the transport is given on each attempt, the token provider
// asked before every (re)connect, and refused credentials ending the client instead of being
// retried forever. Also the I/O-free helpers the transports use (query credentials, refusals).
#include <kpg/sdk/client.h>
#include <kpg/sdk/ws_url.h>

#include "fake_transport.h"

#include <gtest/gtest.h>

namespace {

using kpg::sdk::Error;
using kpg::sdk::ErrorCode;
using kpg::sdk::Result;
using kpg::testing::advance;
using kpg::testing::FakeTransport;

// The connection ends: an open one drops, or an attempt is refused.
void drop(FakeTransport::State& s, Error error) {
  s.handlers.on_close(std::move(error));
}

TEST(ClientCredentials, KeyAndTokenGoToTheTransportOnEveryAttempt) {
  FakeTransport::State s;
  auto o = kpg::testing::options(1000, 1000);
  o.api_key = "k";
  o.token = "t";
  kpg::sdk::Client client(std::make_unique<FakeTransport>(s), o);
  client.connect("ws://h/r", [](auto) {});
  EXPECT_EQ(s.credentials.api_key, "k");
  EXPECT_EQ(s.credentials.token, "t");
  kpg::testing::open_kpg(s);
  s.credentials = {};
  drop(s, {ErrorCode::transport, "closed by the server: token expired"});
  advance(s, 200);  // the first reconnect
  EXPECT_EQ(s.opens, 2);
  EXPECT_EQ(s.credentials.token, "t");
}

TEST(ClientCredentials, TokenProviderIsAskedBeforeEveryAttempt) {
  FakeTransport::State s;
  auto o = kpg::testing::options(1000, 1000);
  o.token = "static, replaced by the provider";
  int asked = 0;
  kpg::sdk::ClientOptions::TokenCallback pending;
  o.token_provider = [&](kpg::sdk::ClientOptions::TokenCallback done) {
    ++asked;
    pending = std::move(done);
  };
  kpg::sdk::Client client(std::make_unique<FakeTransport>(s), o);
  bool connected = false;
  client.connect("ws://h/r", [&](auto r) { connected = r.ok(); });
  EXPECT_EQ(asked, 1);
  EXPECT_EQ(s.opens, 0);  // not before the token is there
  pending(std::string("token-1"));
  pending(std::string("a second answer is ignored"));
  EXPECT_EQ(s.opens, 1);
  EXPECT_EQ(s.credentials.token, "token-1");
  kpg::testing::open_kpg(s);
  EXPECT_TRUE(connected);

  drop(s, {ErrorCode::transport, "closed by the server: token expired"});
  advance(s, 200);
  EXPECT_EQ(asked, 2);
  pending(std::string("token-2"));
  EXPECT_EQ(s.opens, 2);
  EXPECT_EQ(s.credentials.token, "token-2");
  kpg::testing::open_kpg(s);
  EXPECT_TRUE(client.is_open());

  // With a provider a 401 is retried, asking it again (the next token may be good).
  drop(s, {ErrorCode::transport, "closed by the server: token expired"});
  advance(s, 200);
  pending(std::string("stale"));
  drop(s, {ErrorCode::unauthorized, "failed to verify jwt: token expired"});
  EXPECT_TRUE(client.reconnecting());
  advance(s, 400);
  EXPECT_EQ(asked, 4);
}

TEST(ClientCredentials, ProviderErrorFailsTheConnect) {
  FakeTransport::State s;
  auto o = kpg::testing::options(1000, 1000);
  o.token_provider = [](kpg::sdk::ClientOptions::TokenCallback done) {
    done(Error{ErrorCode::unauthorized, "no session"});
  };
  kpg::sdk::Client client(std::make_unique<FakeTransport>(s), o);
  std::optional<Error> error;
  client.connect("ws://h/r", [&](auto r) { error = r.error(); });
  ASSERT_TRUE(error);
  EXPECT_EQ(error->code, ErrorCode::unauthorized);
  EXPECT_EQ(error->message, "no session");
  EXPECT_EQ(s.opens, 0);
}

TEST(ClientCredentials, ProviderThatNeverAnswersTimesOut) {
  FakeTransport::State s;
  auto o = kpg::testing::options(500, 1000);
  kpg::sdk::ClientOptions::TokenCallback pending;
  o.token_provider = [&](kpg::sdk::ClientOptions::TokenCallback done) { pending = done; };
  kpg::sdk::Client client(std::make_unique<FakeTransport>(s), o);
  std::optional<Error> error;
  client.connect("ws://h/r", [&](auto r) { error = r.error(); });
  advance(s, 500);
  ASSERT_TRUE(error);
  EXPECT_EQ(error->code, ErrorCode::timeout);
  pending(std::string("late"));  // nothing opens any more
  EXPECT_EQ(s.opens, 0);
}

TEST(ClientCredentials, RefusedReconnectWithoutProviderEndsTheClient) {
  for (const auto code : {ErrorCode::unauthorized, ErrorCode::forbidden}) {
    FakeTransport::State s;
    auto o = kpg::testing::options(1000, 1000);
    o.token = "t";
    kpg::sdk::Client client(std::make_unique<FakeTransport>(s), o);
    client.connect("ws://h/r", [](auto) {});
    kpg::testing::open_kpg(s);
    std::optional<Error> sub_error, closed;
    client.subscribe("t", 0, kpg::sdk::StartAt::latest(),
                     {[](const auto&) {}, [&](const Error& e) { sub_error = e; }});
    client.on_close([&](const Error& e) { closed = e; });
    drop(s, {ErrorCode::transport, "closed by the server: token expired"});
    advance(s, 200);
    drop(s, {code, "refused"});
    ASSERT_TRUE(closed);
    EXPECT_EQ(closed->code, code);
    EXPECT_EQ(closed->message, "refused");
    ASSERT_TRUE(sub_error);
    EXPECT_EQ(sub_error->code, code);
    EXPECT_FALSE(client.reconnecting());
    advance(s, 60'000);
    EXPECT_EQ(s.opens, 2);  // never tried again
  }
}

TEST(ClientCredentials, ForbiddenEndsTheClientEvenWithAProvider) {
  FakeTransport::State s;
  auto o = kpg::testing::options(1000, 1000);
  o.token_provider = [](kpg::sdk::ClientOptions::TokenCallback done) { done(std::string("t")); };
  kpg::sdk::Client client(std::make_unique<FakeTransport>(s), o);
  client.connect("ws://h/r", [](auto) {});
  kpg::testing::open_kpg(s);
  std::optional<Error> closed;
  client.on_close([&](const Error& e) { closed = e; });
  drop(s, {ErrorCode::transport, "gone"});
  advance(s, 200);
  drop(s, {ErrorCode::forbidden, "origin not allowed on this route"});
  ASSERT_TRUE(closed);
  EXPECT_EQ(closed->code, ErrorCode::forbidden);
}

TEST(ClientCredentials, ProviderAnsweringAfterTheClientIsGoneIsHarmless) {
  FakeTransport::State s;
  auto o = kpg::testing::options(1000, 1000);
  kpg::sdk::ClientOptions::TokenCallback pending;
  o.token_provider = [&](kpg::sdk::ClientOptions::TokenCallback done) { pending = done; };
  {
    kpg::sdk::Client client(std::make_unique<FakeTransport>(s), o);
    client.connect("ws://h/r", [](auto) {});
  }
  pending(std::string("late"));
  EXPECT_EQ(s.opens, 0);
}

TEST(QueryCredentials, AppendedPercentEncodedAfterAnyQuery) {
  using kpg::sdk::with_query_credentials;
  EXPECT_EQ(with_query_credentials("ws://h/r", "", ""), "ws://h/r");
  EXPECT_EQ(with_query_credentials("ws://h/r", "a key/1&x=é", ""),
            "ws://h/r?apikey=a%20key%2F1%26x%3D%C3%A9");
  EXPECT_EQ(with_query_credentials("ws://h/r?x=1", "", "h.p.s-_~"), "ws://h/r?x=1&jwt=h.p.s-_~");
  EXPECT_EQ(with_query_credentials("ws://h/r?", "k", "t"), "ws://h/r?apikey=k&jwt=t");
  EXPECT_EQ(kpg::sdk::http_url_of("wss://h:1/r?jwt=t"), "https://h:1/r?jwt=t");
  EXPECT_EQ(kpg::sdk::http_url_of("ws://h/r"), "http://h/r");
}

TEST(HttpRefusal, TypedWithTheGatewaysMessage) {
  using kpg::sdk::http_refusal;
  auto e = http_refusal(401, R"({"message":"Missing API key found in request"})");
  EXPECT_EQ(e.code, ErrorCode::unauthorized);
  EXPECT_EQ(e.message, "Missing API key found in request");
  e = http_refusal(403, "{ \"message\" : \"a \\\"quoted\\\" \\u00e9\\n\" }");
  EXPECT_EQ(e.code, ErrorCode::forbidden);
  EXPECT_EQ(e.message, "a \"quoted\" \xC3\xA9\n");
  e = http_refusal(403, "<html>Forbidden</html>\r\nmore");
  EXPECT_EQ(e.message, "<html>Forbidden</html>");
  EXPECT_EQ(http_refusal(401, "").message, "HTTP 401");
  e = http_refusal(502, "Bad Gateway");
  EXPECT_EQ(e.code, ErrorCode::transport);
  EXPECT_EQ(e.message, "HTTP 502: Bad Gateway");
  // Malformed bodies never throw and fall back to their text.
  for (const char* body : {"{\"message\":", "{\"message\":\"\\u12", "{\"message\":\"\\q\"}",
                           "{\"message\":\"unterminated", "{\"message\" 1}"}) {
    EXPECT_EQ(http_refusal(401, body).code, ErrorCode::unauthorized) << body;
  }
  EXPECT_STREQ(kpg::sdk::to_string(ErrorCode::unauthorized), "unauthorized");
  EXPECT_STREQ(kpg::sdk::to_string(ErrorCode::forbidden), "forbidden");
}

}  // namespace
