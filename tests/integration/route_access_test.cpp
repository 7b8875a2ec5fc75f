// A route's topic ACL (plugins.kafka-proxy.topics) and origin allow-list (plugins.cors) on the
// real kpg-gateway and a real Kafka-protocol broker (kpg-devkafka): routes created through the
// admin API, spoken to with raw WebSockets (APISIX clients and clients that said hello) and raw
// HTTP upgrades. Exact statuses, codes and messages are asserted.
#include "child_process.h"
#include "gateway_process.h"
#include "jwt_tokens.h"
#include "kafka/producer.h"
#include "test_clients.h"

#include <kpg/pubsub.pb.h>

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <set>
#include <thread>

namespace {

using namespace std::chrono_literals;
using kpg::pubsub::ErrorCode;
using kpg::pubsub::PubSubReq;
using kpg::pubsub::PubSubResp;
using kpg::testing::http_request;
using nlohmann::json;
using verb = boost::beast::http::verb;

constexpr const char* kAdminKey = "route-access-admin-key-0123456789";

// One broker and one gateway for the suite: topics orders (2 records), metrics.cpu (1 record),
// metrics (a name the pattern "metrics.*" does not cover), secret and tenant-a.
class RouteAccess : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    broker_ = new kpg::testing::ChildProcess({KPG_DEVKAFKA_BIN, "mock", "--topic", "orders:1",
                                              "--topic", "metrics.cpu:1", "--topic", "metrics:1",
                                              "--topic", "secret:1", "--topic", "tenant-a:1"});
    auto line = broker_->wait_for_line("bootstrap=", 15s);
    ASSERT_TRUE(line) << broker_->transcript();
    bootstrap_ = kpg::testing::field(*line, "bootstrap");
    kpg::kafka::Producer producer(bootstrap_);
    for (const char* value : {"o1", "o2"}) {
      ASSERT_EQ(producer.produce("orders", 0, "k", value).error, "");
    }
    ASSERT_EQ(producer.produce("metrics.cpu", 0, "k", "c1").error, "");
    ASSERT_EQ(producer.produce("secret", 0, "k", "s1").error, "");
    dir_ =
        std::filesystem::temp_directory_path() / ("kpg-route-access-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir_);
    gateway_ = new kpg::testing::Gateway(
        kpg::testing::start_gateway(dir_, std::string("admin_key: ") + kAdminKey + "\n"));
    ASSERT_FALSE(gateway_->port.empty());
    put_route("acl", route("/acl", {{"kafka-proxy", {{"topics", {"orders", "metrics.*"}}}}}));
    put_route("open", route("/open", json::object()));
    put_route("web",
              route("/web",
                    {{"cors", {{"allow_origins", "https://app.example,http://localhost:8080"}}}}));
    put_route("strict",
              route("/strict",
                    {{"cors",
                      {{"allow_origins", "https://app.example"}, {"kpg_require_origin", true}}}}));
  }
  static void TearDownTestSuite() {
    delete gateway_;
    gateway_ = nullptr;
    delete broker_;
    broker_ = nullptr;
    std::filesystem::remove_all(dir_);
  }

  static json route(const std::string& uri, const json& plugins) {
    json r = {{"uri", uri},
              {"upstream", {{"scheme", "kafka"}, {"type", "none"}, {"nodes", {{bootstrap_, 1}}}}}};
    if (!plugins.empty()) r["plugins"] = plugins;
    return r;
  }
  static kpg::testing::HttpResult put(const std::string& id, const json& body) {
    return http_request(gateway_->admin_port, verb::put, "/apisix/admin/routes/" + id,
                        std::string(kAdminKey), body.dump());
  }
  static void put_route(const std::string& id, const json& body) {
    const auto res = put(id, body);
    ASSERT_EQ(res.status, 201) << res.body;
  }

  // A raw PubSub connection whose reads time out instead of hanging the test.
  static std::unique_ptr<kpg::testing::RawSocket> connect(const std::string& path) {
    auto socket = std::make_unique<kpg::testing::RawSocket>(gateway_->port, path);
    return socket;
  }
  static PubSubResp request(kpg::testing::RawSocket& socket, const PubSubReq& req) {
    socket.send_binary(req.SerializeAsString());
    auto resp = socket.receive();
    EXPECT_TRUE(resp) << "no answer within the timeout";
    return resp.value_or(PubSubResp{});
  }
  static PubSubResp request(kpg::testing::RawSocket& socket, const std::string& frame) {
    PubSubReq req;
    EXPECT_TRUE(req.ParseFromString(frame));
    return request(socket, req);
  }
  static void hello(kpg::testing::RawSocket& socket) {
    PubSubReq req;
    req.set_sequence(1);
    req.mutable_cmd_hello()->set_protocol_version(1);
    ASSERT_TRUE(request(socket, req).has_hello_resp());
  }
  static PubSubReq subscribe(const std::string& topic) {
    PubSubReq req;
    req.set_sequence(5);
    req.mutable_cmd_kafka_subscribe()->set_topic(topic);
    req.mutable_cmd_kafka_subscribe()->set_start(kpg::pubsub::CmdKafkaSubscribe::EARLIEST);
    req.mutable_cmd_kafka_subscribe()->set_credit(1);
    return req;
  }
  static PubSubReq metadata(const std::vector<std::string>& names) {
    PubSubReq req;
    req.set_sequence(6);
    auto* cmd = req.mutable_cmd_kafka_metadata();  // set even without names: "every topic"
    for (const auto& n : names) cmd->add_topics(n);
    return req;
  }

  static inline kpg::testing::ChildProcess* broker_ = nullptr;
  static inline kpg::testing::Gateway* gateway_ = nullptr;
  static inline std::string bootstrap_;
  static inline std::filesystem::path dir_;
};

// ---- topic ACL -----------------------------------------------------------------------------

class TopicAclTest : public RouteAccess {};

TEST_F(TopicAclTest, AnAllowedTopicIsFetchedByAnApisixClient) {
  auto ws = connect("/acl");
  const auto fetched = request(*ws, kpg::testing::fetch_frame(3, "orders", 0, 0));
  ASSERT_TRUE(fetched.has_kafka_fetch_resp()) << fetched.ShortDebugString();
  ASSERT_EQ(fetched.kafka_fetch_resp().messages_size(), 2);
  EXPECT_EQ(fetched.kafka_fetch_resp().messages(0).value(), "o1");
  EXPECT_EQ(fetched.kafka_fetch_resp().messages(1).value(), "o2");
  const auto pattern = request(*ws, kpg::testing::fetch_frame(4, "metrics.cpu", 0, 0));
  ASSERT_TRUE(pattern.has_kafka_fetch_resp()) << pattern.ShortDebugString();
  ASSERT_EQ(pattern.kafka_fetch_resp().messages_size(), 1);
  EXPECT_EQ(pattern.kafka_fetch_resp().messages(0).value(), "c1");
  const auto latest = request(*ws, kpg::testing::list_offset_frame(5, "metrics.cpu", 0, -1));
  ASSERT_TRUE(latest.has_kafka_list_offset_resp()) << latest.ShortDebugString();
  EXPECT_EQ(latest.kafka_list_offset_resp().offset(), 1);
}

TEST_F(TopicAclTest, AnApisixClientIsRefusedWithCodeZeroAndApisixWording) {
  auto ws = connect("/acl");
  auto resp = request(*ws, kpg::testing::fetch_frame(7, "secret", 0, 0));
  ASSERT_TRUE(resp.has_error_resp()) << resp.ShortDebugString();
  EXPECT_EQ(resp.sequence(), 7);
  EXPECT_EQ(resp.error_resp().code(), 0);
  EXPECT_EQ(resp.error_resp().message(),
            "failed to fetch message, topic: secret, partition: 0, err: topic not allowed");
  // "metrics.*" covers "metrics.cpu", not "metrics".
  resp = request(*ws, kpg::testing::fetch_frame(8, "metrics", 0, 0));
  EXPECT_EQ(resp.error_resp().code(), 0);
  EXPECT_EQ(resp.error_resp().message(),
            "failed to fetch message, topic: metrics, partition: 0, err: topic not allowed");
  resp = request(*ws, kpg::testing::list_offset_frame(9, "tenant-a", 0, -2));
  EXPECT_EQ(resp.error_resp().code(), 0);
  EXPECT_EQ(resp.error_resp().message(),
            "failed to list offset, topic: tenant-a, partition: 0, err: topic not allowed");
  // The connection stays usable.
  EXPECT_TRUE(request(*ws, kpg::testing::fetch_frame(10, "orders", 0, 1)).has_kafka_fetch_resp());
}

TEST_F(TopicAclTest, AHelloClientIsRefusedWithNotAllowed) {
  auto ws = connect("/acl");
  hello(*ws);
  auto resp = request(*ws, kpg::testing::fetch_frame(7, "secret", 0, 0));
  EXPECT_EQ(resp.error_resp().code(), ErrorCode::NOT_ALLOWED);
  EXPECT_EQ(resp.error_resp().code(), 12);
  EXPECT_EQ(resp.error_resp().message(),
            "failed to fetch message, topic: secret, partition: 0, err: topic not allowed");
  resp = request(*ws, kpg::testing::list_offset_frame(8, "metrics", 0, -1));
  EXPECT_EQ(resp.error_resp().code(), ErrorCode::NOT_ALLOWED);
  resp = request(*ws, subscribe("secret"));
  EXPECT_EQ(resp.error_resp().code(), ErrorCode::NOT_ALLOWED);
  EXPECT_EQ(resp.error_resp().message(),
            "failed to subscribe, topic: secret, err: topic not allowed");
  resp = request(*ws, metadata({"orders", "tenant-a"}));
  EXPECT_EQ(resp.error_resp().code(), ErrorCode::NOT_ALLOWED);
  EXPECT_EQ(resp.error_resp().message(),
            "failed to describe topics, topic: tenant-a, err: topic not allowed");
  resp = request(*ws, subscribe("orders"));
  ASSERT_TRUE(resp.has_kafka_subscribe_resp()) << resp.ShortDebugString();
  const auto pushed = ws->receive();
  ASSERT_TRUE(pushed && pushed->has_kafka_records());
  EXPECT_EQ(pushed->kafka_records().messages(0).value(), "o1");
}

TEST_F(TopicAclTest, MetadataListsOnlyAllowedTopics) {
  auto ws = connect("/acl");
  hello(*ws);
  const auto resp = request(*ws, metadata({}));
  ASSERT_TRUE(resp.has_kafka_metadata_resp()) << resp.ShortDebugString();
  std::vector<std::string> names;
  for (const auto& t : resp.kafka_metadata_resp().topics()) names.push_back(t.name());
  EXPECT_EQ(names, (std::vector<std::string>{"metrics.cpu", "orders"}));

  auto open = connect("/open");
  hello(*open);
  const auto all = request(*open, metadata({}));
  std::set<std::string> every;
  for (const auto& t : all.kafka_metadata_resp().topics()) every.insert(t.name());
  EXPECT_TRUE(every.count("secret") && every.count("metrics") && every.count("tenant-a"))
      << "a route without topics serves every topic: " << all.ShortDebugString();
}

TEST_F(TopicAclTest, ARouteWithoutTopicsServesEveryTopic) {
  auto ws = connect("/open");
  const auto resp = request(*ws, kpg::testing::fetch_frame(3, "secret", 0, 0));
  ASSERT_TRUE(resp.has_kafka_fetch_resp()) << resp.ShortDebugString();
  EXPECT_EQ(resp.kafka_fetch_resp().messages(0).value(), "s1");
}

TEST_F(TopicAclTest, InvalidAclsAreRefusedAtRouteCreation) {
  auto res = put("bad", route("/bad", {{"kafka-proxy", {{"topics", {"orders", "a*b"}}}}}));
  EXPECT_EQ(res.status, 400);
  EXPECT_EQ(res.json().value("error_msg", ""),
            "invalid configuration: property \"plugins.kafka-proxy.topics\" validation failed: "
            "entry 2 \"a*b\" is neither a topic name ([a-zA-Z0-9._-], 1-249 characters) nor a "
            "prefix pattern (such a name's beginning then '*', or \"*\")");

  res = put("bad", route("/bad", {{"kafka-proxy", {{"topics", {{{"claim", "topics"}}}}}}}));
  EXPECT_EQ(res.status, 400);
  EXPECT_EQ(res.json().value("error_msg", ""),
            "invalid configuration: property \"plugins.kafka-proxy.topics\" validation failed: a "
            "{\"claim\": ...} entry requires jwt-auth on the route (the claims of a verified "
            "token)");

  res = put("bad", route("/bad", {{"kafka-proxy", {{"topics", "orders"}}}}));
  EXPECT_EQ(res.status, 400);
  EXPECT_NE(res.body.find("plugins.kafka-proxy.topics"), std::string::npos) << res.body;

  json many = json::array();
  for (int i = 0; i <= 1000; ++i) many.push_back("t" + std::to_string(i));
  res = put("bad", route("/bad", {{"kafka-proxy", {{"topics", many}}}}));
  EXPECT_EQ(res.status, 400);
  EXPECT_NE(res.body.find("more than 1000 entries"), std::string::npos) << res.body;

  EXPECT_EQ(http_request(gateway_->admin_port, verb::get, "/apisix/admin/routes/bad",
                         std::string(kAdminKey))
                .status,
            404)
      << "nothing refused is stored";
}

// One route for every tenant: the topics come from a claim of the connection's verified token.
TEST_F(TopicAclTest, ATokensClaimDecidesWhichTopicsItsConnectionReads) {
  const auto consumer = http_request(
      gateway_->admin_port, verb::put, "/apisix/admin/consumers/tenants", std::string(kAdminKey),
      json{{"plugins", {{"jwt-auth", {{"key", "tenants-key"}, {"secret", "tenants-secret"}}}}}}
          .dump());
  ASSERT_EQ(consumer.status, 201) << consumer.body;
  put_route("tenants", route("/tenants", {{"jwt-auth", json::object()},
                                          {"kafka-proxy", {{"topics", {{{"claim", "topics"}}}}}}}));
  const auto token = [](const json& topics) {
    json claims = {{"key", "tenants-key"}, {"exp", kpg::testing::unix_now() + 600}};
    if (!topics.is_null()) claims["topics"] = topics;
    return kpg::testing::sign_jwt("HS256", "tenants-secret", claims);
  };
  const auto fetch_code = [](kpg::testing::RawSocket& ws, const std::string& topic) {
    auto resp = request(ws, kpg::testing::fetch_frame(7, topic, 0, 0));
    if (resp.has_kafka_fetch_resp()) return std::string("fetched");
    return resp.error_resp().code() == ErrorCode::NOT_ALLOWED ? std::string("not allowed")
                                                              : resp.ShortDebugString();
  };

  // Tenant one: "orders" and the "metrics." prefix.
  auto one = connect("/tenants?jwt=" + token({"orders", "metrics.*"}));
  hello(*one);
  EXPECT_EQ(fetch_code(*one, "orders"), "fetched");
  EXPECT_EQ(fetch_code(*one, "metrics.cpu"), "fetched");
  EXPECT_EQ(fetch_code(*one, "secret"), "not allowed");
  EXPECT_EQ(fetch_code(*one, "tenant-a"), "not allowed");
  const auto listed = request(*one, metadata({}));
  std::vector<std::string> names;
  for (const auto& t : listed.kafka_metadata_resp().topics()) names.push_back(t.name());
  EXPECT_EQ(names, (std::vector<std::string>{"metrics.cpu", "orders"}));

  // Tenant two, on the same route at the same time: only "secret".
  auto two = connect("/tenants?jwt=" + token({"secret"}));
  hello(*two);
  EXPECT_EQ(fetch_code(*two, "secret"), "fetched");
  EXPECT_EQ(fetch_code(*two, "orders"), "not allowed");
  EXPECT_EQ(fetch_code(*one, "secret"), "not allowed")
      << "one client's token never widens another's";

  // A single name is one entry; a token without the claim, or with entries of the wrong shape,
  // allows nothing.
  auto single = connect("/tenants?jwt=" + token("orders"));
  hello(*single);
  EXPECT_EQ(fetch_code(*single, "orders"), "fetched");
  for (const json& topics : {json(), json(42), json("o*s"), json::array({json::array()})}) {
    auto none = connect("/tenants?jwt=" + token(topics));
    hello(*none);
    EXPECT_EQ(fetch_code(*none, "orders"), "not allowed") << topics.dump();
  }
}

// ---- origin allow-list ---------------------------------------------------------------------

class OriginTest : public RouteAccess {
 protected:
  // A WebSocket upgrade request; its HTTP status (101 when the upgrade went through).
  static kpg::testing::HttpResult upgrade(const std::string& path,
                                          const std::optional<std::string>& origin) {
    std::vector<std::pair<std::string, std::string>> headers = {
        {"Connection", "Upgrade"},
        {"Upgrade", "websocket"},
        {"Sec-WebSocket-Version", "13"},
        {"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="}};
    if (origin) headers.emplace_back("Origin", *origin);
    return http_request(gateway_->port, verb::get, path, std::nullopt, "", headers);
  }
};

TEST_F(OriginTest, AnAllowedOriginUpgrades) {
  EXPECT_EQ(upgrade("/web", "https://app.example").status, 101);
  EXPECT_EQ(upgrade("/web", "http://localhost:8080").status, 101);
  EXPECT_EQ(upgrade("/web", "HTTPS://App.Example").status, 101) << "scheme and host: any case";
}

TEST_F(OriginTest, ADisallowedOriginIs403BeforeTheUpgrade) {
  for (const std::string& origin : std::vector<std::string>{
           "https://evil.example", "http://app.example", "https://app.example:8443",
           "http://localhost:8081", "null", "https://app.example.evil.example",
           "https://" + std::string(3000, 'a') + ".example"}) {
    const auto res = upgrade("/web", origin);
    EXPECT_EQ(res.status, 403) << origin.substr(0, 60);
    EXPECT_EQ(res.json(), json({{"message", "origin not allowed on this route"}})) << res.body;
  }
}

TEST_F(OriginTest, NoOriginUpgradesUnlessTheRouteRequiresOne) {
  EXPECT_EQ(upgrade("/web", std::nullopt).status, 101) << "native clients send no Origin";
  const auto res = upgrade("/strict", std::nullopt);
  EXPECT_EQ(res.status, 403);
  EXPECT_EQ(res.json(), json({{"message", "an Origin header is required on this route"}}));
  EXPECT_EQ(upgrade("/strict", "https://app.example").status, 101);
  EXPECT_EQ(upgrade("/strict", "https://evil.example").status, 403);
}

TEST_F(OriginTest, ARouteWithoutCorsTakesAnyOrigin) {
  EXPECT_EQ(upgrade("/open", "https://evil.example").status, 101);
  EXPECT_EQ(upgrade("/open", std::nullopt).status, 101);
}

TEST_F(OriginTest, AnAllowedUpgradeServesPubSub) {
  // Beast's client sends no Origin: the route's allow-list leaves native clients alone.
  auto ws = connect("/web");
  const auto resp = request(*ws, kpg::testing::ping_frame(1, "still here"));
  EXPECT_EQ(resp.pong_resp().state(), "still here");
}

TEST_F(OriginTest, RefusalsAreLoggedAtMostOncePerSecondPerAddress) {
  // The log so far (earlier tests' lines) is read first: only the burst's lines are counted.
  while (gateway_->process->read_line(300ms)) {
  }
  std::this_thread::sleep_for(1100ms);  // earlier refusals' interval is over: the next is logged
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 30; ++i) ASSERT_EQ(upgrade("/web", "https://evil.example").status, 403);
  const auto seconds =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - start)
          .count();
  std::vector<std::string> lines;
  while (auto line = gateway_->process->read_line(500ms)) {
    if (line->find("event=origin_refused") != std::string::npos) lines.push_back(*line);
  }
  ASSERT_GE(lines.size(), 1u);
  EXPECT_LE(lines.size(), static_cast<std::size_t>(seconds) + 2)
      << "30 refusals in about " << seconds << " s";
  EXPECT_NE(lines.front().find("route=web"), std::string::npos) << lines.front();
  EXPECT_NE(lines.front().find("origin=https://evil.example"), std::string::npos) << lines.front();
}

TEST_F(OriginTest, CorsFieldsKpgDoesNotImplementAreRefused) {
  auto res = put("cors-bad", route("/cors-bad", {{"cors", {{"allow_methods", "GET"}}}}));
  EXPECT_EQ(res.status, 400);
  EXPECT_EQ(res.json().value("error_msg", ""),
            "invalid configuration: property \"plugins.cors.allow_methods\" is not supported by "
            "kpg");
  res = put("cors-bad", route("/cors-bad", {{"cors", {{"allow_origins", "https://a.example/"}}}}));
  EXPECT_EQ(res.status, 400);
  EXPECT_NE(res.body.find("plugins.cors.allow_origins"), std::string::npos) << res.body;
}

}  // namespace
