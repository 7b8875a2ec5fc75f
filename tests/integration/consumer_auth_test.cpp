// Consumers in the admin API and the key-auth / jwt-auth route plugins, against the real gateway
// process: CRUD and validation, secrets never shown nor logged, upgrades accepted or refused
// with APISIX's status and message, and a connection closed when its token expires.
#include "admin_fixture.h"
#include "jwt_tokens.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <chrono>

namespace {

using namespace std::chrono_literals;
using kpg::testing::jwt_test_key;
using kpg::testing::sign_jwt;
using kpg::testing::unix_now;
using kpg::testing::unsigned_jwt;
using nlohmann::json;
using verb = boost::beast::http::verb;
using Headers = std::vector<std::pair<std::string, std::string>>;
namespace beast = boost::beast;
namespace websocket = beast::websocket;

// A WebSocket connection that sends extra upgrade headers (what key-auth / jwt-auth look at).
class AuthedSocket {
 public:
  AuthedSocket(const std::string& port, const std::string& target, const Headers& headers = {})
      : ws_(io_) {
    boost::asio::ip::tcp::resolver resolver(io_);
    boost::asio::connect(ws_.next_layer(), resolver.resolve("127.0.0.1", port));
    ws_.set_option(websocket::stream_base::decorator([headers](websocket::request_type& req) {
      for (const auto& [name, value] : headers) req.set(name, value);
    }));
    ws_.handshake("127.0.0.1:" + port, target, ec_);
  }
  bool open() const { return !ec_; }
  /// A ping answered: the connection serves PubSub commands.
  bool pings() {
    ws_.binary(true);
    ws_.write(boost::asio::buffer(kpg::testing::ping_frame(1, "hi")), ec_);
    beast::flat_buffer buffer;
    ec_ = kpg::testing::read_within(io_, ws_, buffer, std::chrono::seconds(30));
    kpg::pubsub::PubSubResp resp;
    return !ec_ && resp.ParseFromString(beast::buffers_to_string(buffer.data())) &&
           resp.has_pong_resp();
  }
  /// Reads until the server closes; the error (websocket::error::closed after a close frame).
  beast::error_code wait_closed() {
    beast::flat_buffer buffer;
    while (!ec_) ec_ = kpg::testing::read_within(io_, ws_, buffer, std::chrono::seconds(30));
    return ec_;
  }
  int close_code() const { return static_cast<int>(ws_.reason().code); }
  std::string close_reason() const { return std::string(ws_.reason().reason.c_str()); }

 private:
  boost::asio::io_context io_;
  websocket::stream<boost::asio::ip::tcp::socket> ws_;
  beast::error_code ec_;
};

class ConsumerAuthTest : public kpg::testing::AdminFixture {
 protected:
  // The upgrade request alone, to read a refusal's status and body.
  kpg::testing::HttpResult upgrade(const std::string& target, Headers headers = {}) const {
    headers.insert(headers.begin(), {{"Connection", "Upgrade"},
                                     {"Upgrade", "websocket"},
                                     {"Sec-WebSocket-Version", "13"},
                                     {"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="}});
    return kpg::testing::http_request(gateway_.port, verb::get, target, std::nullopt, "", headers);
  }
  static json message(const std::string& text) { return json{{"message", text}}; }
};

TEST_F(ConsumerAuthTest, ConsumerCrudFollowsApisixShapesAndPersists) {
  auto created = admin(verb::put, "/apisix/admin/consumers",
                       R"({"username":"alice","plugins":{"key-auth":{"key":"alice-key-1"}}})");
  ASSERT_EQ(created.status, 201) << created.body;
  EXPECT_EQ(created.json()["key"], "/apisix/consumers/alice");
  EXPECT_EQ(created.json()["value"]["username"], "alice");
  EXPECT_EQ(created.json()["value"]["plugins"]["key-auth"]["key"], "******");

  auto replaced = admin(verb::put, "/apisix/admin/consumers/alice",
                        R"({"desc":"the first","plugins":{"key-auth":{"key":"alice-key-2"}}})");
  ASSERT_EQ(replaced.status, 200) << replaced.body;
  auto got = admin(verb::get, "/apisix/admin/consumers/alice");
  ASSERT_EQ(got.status, 200) << got.body;
  EXPECT_EQ(got.json()["value"]["desc"], "the first");
  EXPECT_EQ(got.json()["value"]["plugins"]["key-auth"]["key"], "******");
  EXPECT_TRUE(got.json()["value"].contains("create_time"));
  auto list = admin(verb::get, "/apisix/admin/consumers");
  ASSERT_EQ(list.status, 200);
  EXPECT_EQ(list.json()["total"], 1);
  EXPECT_EQ(list.json()["list"][0]["key"], "/apisix/consumers/alice");

  // Stored in the data dir: a restarted gateway still knows alice, and her new key works.
  put_route("secure", "/secure", {{"key-auth", json::object()}});
  gateway_.process->stop(SIGTERM, 5s);
  gateway_ = kpg::testing::start_gateway(
      dir_, std::string("admin_key: ") + kpg::testing::kAdminTestKey + "\n");
  EXPECT_EQ(admin(verb::get, "/apisix/admin/consumers/alice").status, 200);
  EXPECT_TRUE(AuthedSocket(gateway_.port, "/secure?apikey=alice-key-2").pings());
  EXPECT_EQ(upgrade("/secure?apikey=alice-key-1").status, 401);

  auto deleted = admin(verb::delete_, "/apisix/admin/consumers/alice");
  ASSERT_EQ(deleted.status, 200) << deleted.body;
  EXPECT_EQ(deleted.json(), (json{{"key", "/apisix/consumers/alice"}, {"deleted", "1"}}));
  EXPECT_EQ(admin(verb::get, "/apisix/admin/consumers/alice").status, 404);
  EXPECT_EQ(admin(verb::delete_, "/apisix/admin/consumers/alice").status, 404);
  // Applied live: the deleted consumer's key no longer opens the route.
  auto refused = upgrade("/secure?apikey=alice-key-2");
  EXPECT_EQ(refused.status, 401);
  EXPECT_EQ(refused.json(), message("Invalid API key in request"));
}

TEST_F(ConsumerAuthTest, InvalidConsumersAre400NamingWhatIsWrong) {
  put_consumer({{"username", "alice"}, {"plugins", {{"key-auth", {{"key", "taken"}}}}}});
  struct Case {
    std::string target;
    std::string body;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"/apisix/admin/consumers", R"({"plugins":{}})", "property \"username\" is required"},
      {"/apisix/admin/consumers/bad.name", "{}", "property \"username\" validation failed"},
      {"/apisix/admin/consumers", R"({"username":")" + std::string(101, 'a') + R"("})",
       "property \"username\" validation failed"},
      {"/apisix/admin/consumers", R"({"username":"b","color":"red"})",
       "property \"color\" is not supported by kpg"},
      {"/apisix/admin/consumers", R"({"username":"b","plugins":{"hmac-auth":{}}})",
       "plugin \"hmac-auth\" is not supported by kpg"},
      {"/apisix/admin/consumers", R"({"username":"b","plugins":{"key-auth":{"key":""}}})",
       "property \"plugins.key-auth.key\" validation failed"},
      {"/apisix/admin/consumers", R"({"username":"b","plugins":{"key-auth":{"key":"taken"}}})",
       "property \"plugins.key-auth.key\" is already used by consumer alice"},
      {"/apisix/admin/consumers",
       R"({"username":"b","plugins":{"jwt-auth":{"key":"k","secret":"s","algorithm":"none"}}})",
       "property \"plugins.jwt-auth.algorithm\" validation failed"},
      {"/apisix/admin/consumers", R"({"username":"b","plugins":{"jwt-auth":{"key":"k"}}})",
       "property \"plugins.jwt-auth.secret\" is required for HS256"},
      {"/apisix/admin/consumers/b", R"({"username":"c"})", "does not match the username"},
      {"/apisix/admin/consumers", "[1,", "invalid request body"},
  };
  for (const auto& c : cases) {
    auto r = admin(verb::put, c.target, c.body);
    EXPECT_EQ(r.status, 400) << c.body << " -> " << r.body;
    EXPECT_NE(r.json().value("error_msg", "").find(c.message), std::string::npos)
        << c.body << " -> " << r.body;
  }
  EXPECT_EQ(admin(verb::get, "/apisix/admin/consumers").json()["total"], 1);
  EXPECT_EQ(admin(verb::post, "/apisix/admin/consumers", "{}").status, 405);

  auto bad_route = route("/r");
  bad_route["plugins"] = {{"key-auth", {{"hide_credentials", true}}}};
  auto r = admin(verb::put, "/apisix/admin/routes/r", bad_route.dump());
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("property \\\"plugins.key-auth.hide_credentials\\\" is not supported"),
            std::string::npos)
      << r.body;
}

TEST_F(ConsumerAuthTest, KeyAuthByHeaderOrQueryElse401) {
  put_route("secure", "/secure", {{"key-auth", json::object()}});
  put_consumer({{"username", "alice"}, {"plugins", {{"key-auth", {{"key", "alice key/1"}}}}}});

  EXPECT_TRUE(AuthedSocket(gateway_.port, "/secure", {{"apikey", "alice key/1"}}).pings());
  // Browsers cannot set headers on a WebSocket: the query parameter, percent-encoded.
  EXPECT_TRUE(AuthedSocket(gateway_.port, "/secure?apikey=alice%20key%2F1").pings());

  auto missing = upgrade("/secure");
  EXPECT_EQ(missing.status, 401);
  EXPECT_EQ(missing.json(), message("Missing API key found in request"));
  auto wrong = upgrade("/secure", {{"apikey", "mallory"}});
  EXPECT_EQ(wrong.status, 401);
  EXPECT_EQ(wrong.json(), message("Invalid API key in request"));
  EXPECT_FALSE(AuthedSocket(gateway_.port, "/secure?apikey=mallory").open());
}

TEST_F(ConsumerAuthTest, ChangingOrDeletingAConsumerClosesItsConnections) {
  put_route("secure", "/secure", {{"key-auth", json::object()}});
  const auto consumer = [](const std::string& name, const std::string& key) {
    return json{{"username", name}, {"plugins", {{"key-auth", {{"key", key}}}}}};
  };
  put_consumer(consumer("alice", "alice-key-1"));
  put_consumer(consumer("bob", "bob-key-1"));
  AuthedSocket alice(gateway_.port, "/secure?apikey=alice-key-1");
  AuthedSocket bob(gateway_.port, "/secure?apikey=bob-key-1");
  ASSERT_TRUE(alice.pings() && bob.pings());

  put_consumer(consumer("alice", "alice-key-1"));  // the same definition again: nothing changes
  EXPECT_TRUE(alice.pings()) << "an unchanged consumer keeps its connections";

  put_consumer(consumer("alice", "alice-key-2"));  // a new key: the old one no longer holds
  EXPECT_EQ(alice.wait_closed(), websocket::error::closed);
  EXPECT_EQ(alice.close_code(), 1008);
  EXPECT_EQ(alice.close_reason(), "consumer changed");
  EXPECT_TRUE(bob.pings()) << "other consumers' connections stay";

  ASSERT_EQ(admin(verb::delete_, "/apisix/admin/consumers/bob").status, 200);
  EXPECT_EQ(bob.wait_closed(), websocket::error::closed);
  EXPECT_EQ(bob.close_code(), 1008);
  EXPECT_EQ(bob.close_reason(), "consumer deleted");
  EXPECT_FALSE(AuthedSocket(gateway_.port, "/secure?apikey=bob-key-1").open());
}

class JwtAuthTest : public ConsumerAuthTest {
 protected:
  void SetUp() override {
    ConsumerAuthTest::SetUp();
    put_route("jwt", "/jwt", {{"jwt-auth", json::object()}});
    put_consumer({{"username", "hs"},
                  {"plugins", {{"jwt-auth", {{"key", "hs-key"}, {"secret", "hs-secret-value"}}}}}});
    put_consumer({{"username", "rs"},
                  {"plugins",
                   {{"jwt-auth",
                     {{"key", "rs-key"},
                      {"algorithm", "RS256"},
                      {"public_key", jwt_test_key("rs256-public.pem")}}}}}});
  }
  static std::string hs(json claims) {
    if (!claims.contains("key")) claims["key"] = "hs-key";
    return sign_jwt("HS256", "hs-secret-value", claims);
  }
  void expect_refused(const std::string& token, const std::string& text) {
    auto r = upgrade("/jwt", {{"Authorization", "Bearer " + token}});
    EXPECT_EQ(r.status, 401) << text;
    EXPECT_EQ(r.json(), message(text)) << r.body;
  }
};

TEST_F(JwtAuthTest, ValidTokensOpenTheRoute) {
  const auto token = hs({{"exp", unix_now() + 600}});
  EXPECT_TRUE(AuthedSocket(gateway_.port, "/jwt", {{"Authorization", "Bearer " + token}}).pings());
  EXPECT_TRUE(AuthedSocket(gateway_.port, "/jwt?jwt=" + token).pings());
  EXPECT_TRUE(AuthedSocket(gateway_.port, "/jwt", {{"Cookie", "jwt=" + token}}).pings());
  const auto rs = sign_jwt("RS256", jwt_test_key("rs256-private.pem"), {{"key", "rs-key"}});
  EXPECT_TRUE(AuthedSocket(gateway_.port, "/jwt", {{"Authorization", rs}}).pings());
}

TEST_F(JwtAuthTest, RefusedTokensAre401SayingWhy) {
  auto missing = upgrade("/jwt");
  EXPECT_EQ(missing.status, 401);
  EXPECT_EQ(missing.json(), message("Missing JWT token in request"));
  expect_refused(sign_jwt("HS256", "not-the-secret", {{"key", "hs-key"}}),
                 "failed to verify jwt: signature mismatch");
  expect_refused(sign_jwt("HS512", "hs-secret-value", {{"key", "hs-key"}}),
                 "failed to verify jwt: the token's algorithm is not the consumer's (HS256)");
  expect_refused(sign_jwt("HS256", jwt_test_key("rs256-public.pem"), {{"key", "rs-key"}}),
                 "failed to verify jwt: the token's algorithm is not the consumer's (RS256)");
  expect_refused(unsigned_jwt({{"key", "hs-key"}}),
                 "failed to verify jwt: unsigned tokens (alg none) are not accepted");
  expect_refused(hs({{"exp", unix_now() - 10}}), "failed to verify jwt: token expired");
  expect_refused(hs({{"nbf", unix_now() + 600}}), "failed to verify jwt: token not yet valid");
  expect_refused(hs({{"key", "nobody"}}), "Invalid user key in JWT token");
  expect_refused("garbage", "JWT token invalid");
}

TEST_F(JwtAuthTest, ConnectionClosesWith1008WhenItsTokenExpires) {
  const auto exp = unix_now() + 2;
  AuthedSocket socket(gateway_.port, "/jwt?jwt=" + hs({{"exp", exp}}));
  ASSERT_TRUE(socket.pings());
  EXPECT_EQ(socket.wait_closed(), websocket::error::closed);
  const auto closed_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
  EXPECT_EQ(socket.close_code(), 1008);
  EXPECT_EQ(socket.close_reason(), "token expired");
  EXPECT_GE(closed_ms, exp * 1000 - 100);   // not before exp...
  EXPECT_LE(closed_ms, exp * 1000 + 1500);  // ...and promptly at it
}

TEST_F(JwtAuthTest, SecretsAreNeitherShownNorLogged) {
  put_route("keyed", "/keyed", {{"key-auth", json::object()}});
  put_consumer({{"username", "both"},
                {"plugins",
                 {{"key-auth", {{"key", "kA-very-secret-1"}}},
                  {"jwt-auth", {{"key", "both-key"}, {"secret", "jS-very-secret-2"}}}}}});
  const auto token = sign_jwt("HS256", "jS-very-secret-2", {{"key", "both-key"}});
  const auto bad_token = sign_jwt("HS256", "wrong", {{"key", "both-key"}});
  EXPECT_TRUE(AuthedSocket(gateway_.port, "/keyed?apikey=kA-very-secret-1").pings());
  EXPECT_EQ(upgrade("/keyed?apikey=kA-wrong-secret-3").status, 401);
  EXPECT_TRUE(AuthedSocket(gateway_.port, "/jwt?jwt=" + token).pings());
  EXPECT_EQ(upgrade("/jwt?jwt=" + bad_token).status, 401);

  for (const auto& target : {"/apisix/admin/consumers/both", "/apisix/admin/consumers"}) {
    const auto shown = admin(verb::get, target).body;
    EXPECT_EQ(shown.find("kA-very-secret-1"), std::string::npos) << shown;
    EXPECT_EQ(shown.find("jS-very-secret-2"), std::string::npos) << shown;
  }
  gateway_.process->stop(SIGTERM, 5s);
  const auto& log = gateway_.process->transcript();
  EXPECT_NE(log.find("event=auth_refused"), std::string::npos) << log;
  for (const std::string secret : {"kA-very-secret-1", "jS-very-secret-2", "kA-wrong-secret-3",
                                   token.c_str(), bad_token.c_str()}) {
    EXPECT_EQ(log.find(secret), std::string::npos) << secret;
  }
}

}  // namespace
