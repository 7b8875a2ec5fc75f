#include "config/gateway_config.h"
#include "config/route.h"
#include "kafka/rdkafka_client.h"
#include "server/route_table.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

namespace {

using nlohmann::json;

json good_route() {
  return json::parse(R"({"uri": "/kafka", "upstream": {"scheme": "kafka", "type": "none",
                         "nodes": {"127.0.0.1:9092": 1}}})");
}

std::string error_of(const json& j) {
  auto r = kpg::config::parse_route(j, "1");
  auto* e = std::get_if<std::string>(&r);
  return e ? *e : "";
}

TEST(RouteParse, AcceptsTheApisixShape) {
  auto j = good_route();
  j["upstream"]["tls"] = {{"verify", true}};
  j["plugins"] = {{"kafka-proxy", {{"sasl", {{"username", "u"}, {"password", "p"}}}}}};
  auto r = kpg::config::parse_route(j, "1");
  ASSERT_TRUE(std::holds_alternative<kpg::config::Route>(r)) << std::get<std::string>(r);
  const auto& route = std::get<kpg::config::Route>(r);
  EXPECT_EQ(route.uris, std::vector<std::string>{"/kafka"});
  ASSERT_EQ(route.nodes.size(), 1u);
  EXPECT_EQ(route.nodes[0].to_string(), "127.0.0.1:9092");
  ASSERT_TRUE(route.tls);
  EXPECT_TRUE(route.tls->verify);
  ASSERT_TRUE(route.sasl);
  EXPECT_EQ(route.sasl->mechanism, "PLAIN");
}

TEST(RouteParse, NamesTheFieldAndTheRule) {
  auto j = good_route();
  j["upstream"]["scheme"] = "http";
  EXPECT_NE(error_of(j).find("upstream.scheme"), std::string::npos) << error_of(j);
  EXPECT_NE(error_of(j).find("unknown scheme"), std::string::npos);

  j = good_route();
  j["upstream"]["nodes"] = json::object();
  EXPECT_NE(error_of(j).find("expect at least 1 node"), std::string::npos) << error_of(j);

  j = good_route();
  j["upstream"]["nodes"] = {{"no-port", 1}};
  EXPECT_NE(error_of(j).find("not a valid host:port"), std::string::npos) << error_of(j);

  j = good_route();
  j.erase("uri");
  EXPECT_NE(error_of(j).find("\"uri\""), std::string::npos) << error_of(j);

  j = good_route();
  j["plugins"] = {{"kafka-proxy", {{"sasl", {{"username", "u"}}}}}};
  EXPECT_EQ(error_of(j),
            "invalid configuration: property \"sasl\" validation failed: property \"password\" "
            "is required");

  j = good_route();
  j["upstream"]["tls"] = {{"verify", "yes"}};
  EXPECT_NE(error_of(j).find("expected boolean"), std::string::npos) << error_of(j);
}

TEST(HostPort, ParsesAndRejects) {
  EXPECT_TRUE(kpg::config::parse_host_port("broker:9092"));
  EXPECT_TRUE(kpg::config::parse_host_port("[::1]:9092"));
  EXPECT_FALSE(kpg::config::parse_host_port("broker"));
  EXPECT_FALSE(kpg::config::parse_host_port("broker:0"));
  EXPECT_TRUE(kpg::config::parse_host_port("0.0.0.0:0", true));
  EXPECT_FALSE(kpg::config::parse_host_port("broker:70000"));
  EXPECT_FALSE(kpg::config::parse_host_port(":9092"));
}

TEST(RouteTable, ExactBeatsPrefixAndLongestPrefixWins) {
  auto make = [](const std::string& id, const std::string& uri) {
    auto j = good_route();
    j["uri"] = uri;
    auto r = std::get<kpg::config::Route>(kpg::config::parse_route(j, id));
    return kpg::server::ActiveRoute{std::make_shared<const kpg::config::Route>(r), nullptr,
                                    nullptr};
  };
  kpg::server::RouteTable table({make("a", "/k/*"), make("b", "/k/x"), make("c", "/k/x/*")});
  EXPECT_EQ(table.match("/k/x")->route->id, "b");
  EXPECT_EQ(table.match("/k/y")->route->id, "a");
  EXPECT_EQ(table.match("/k/x/1")->route->id, "c");
  EXPECT_EQ(table.match("/other"), nullptr);
}

TEST(KafkaProperties, TlsAndSaslMapToLibrdkafkaSettings) {
  auto j = good_route();
  j["upstream"]["tls"] = {{"verify", true}, {"ca_file", "/ca.pem"}};
  j["plugins"] = {
      {"kafka-proxy",
       {{"sasl", {{"username", "u"}, {"password", "p"}, {"mechanism", "SCRAM-SHA-256"}}}}}};
  auto route = std::get<kpg::config::Route>(kpg::config::parse_route(j, "1"));
  auto props = kpg::kafka::kafka_properties(route.cluster());
  auto get = [&](const std::string& key) {
    for (auto& [k, v] : props)
      if (k == key) return v;
    return std::string("<unset>");
  };
  EXPECT_EQ(get("security.protocol"), "sasl_ssl");
  EXPECT_EQ(get("sasl.mechanisms"), "SCRAM-SHA-256");
  EXPECT_EQ(get("sasl.username"), "u");
  EXPECT_EQ(get("enable.ssl.certificate.verification"), "true");
  EXPECT_EQ(get("ssl.ca.location"), "/ca.pem");
  EXPECT_EQ(get("bootstrap.servers"), "127.0.0.1:9092");
}

TEST(GatewayConfigFile, LoadsRoutesAndRejectsUnknownKeysNamingTheFile) {
  const auto dir = std::filesystem::temp_directory_path() / "kpg-config-test";
  std::filesystem::create_directories(dir);
  const auto path = (dir / "g.yaml").string();
  std::ofstream(path) << "listen: 127.0.0.1:1234\nroutes:\n  - id: r1\n    uri: /k\n"
                         "    upstream: {scheme: kafka, nodes: {\"h:1\": 1}}\n";
  kpg::config::GatewayConfig c;
  kpg::config::load_yaml_file(path, c);
  EXPECT_EQ(c.listen, "127.0.0.1:1234");
  ASSERT_EQ(c.routes.size(), 1u);
  EXPECT_EQ(c.routes[0].id, "r1");
  kpg::config::validate(c);

  std::ofstream(path) << "lisen: 1\n";
  kpg::config::GatewayConfig bad;
  try {
    kpg::config::load_yaml_file(path, bad);
    FAIL() << "expected ConfigError";
  } catch (const kpg::config::ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("unknown key 'lisen'"), std::string::npos);
  }
  std::filesystem::remove_all(dir);
}

// The wait the broker may hold a read at a partition's end: taken from the gateway's config,
// bounded, and what the gateway's Kafka clients are given.
TEST(GatewayConfigFile, KafkaFetchWaitIsBoundedAndReachesTheKafkaClient) {
  const auto dir = std::filesystem::temp_directory_path() / "kpg-config-fetch-wait-test";
  std::filesystem::create_directories(dir);
  const auto path = (dir / "g.yaml").string();
  std::ofstream(path) << "kafka_fetch_wait_ms: 5\n";
  kpg::config::GatewayConfig c;
  kpg::config::load_yaml_file(path, c);
  EXPECT_EQ(c.kafka_fetch_wait_ms, 5);
  kpg::config::validate(c);
  for (const int bad : {0, 10'001}) {
    c.kafka_fetch_wait_ms = bad;
    try {
      kpg::config::validate(c);
      FAIL() << "expected ConfigError for " << bad;
    } catch (const kpg::config::ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find("kafka_fetch_wait_ms"), std::string::npos) << e.what();
    }
  }
  std::filesystem::remove_all(dir);

  auto route = std::get<kpg::config::Route>(kpg::config::parse_route(good_route(), "1"));
  auto settings = route.cluster();
  auto wait_of = [](const kpg::config::ClusterSettings& s) {
    for (auto& [k, v] : kpg::kafka::kafka_properties(s))
      if (k == "fetch.wait.max.ms") return v;
    return std::string("<unset>");
  };
  EXPECT_EQ(wait_of(settings), "50") << "the default";
  settings.fetch_wait_ms = 5;
  EXPECT_EQ(wait_of(settings), "5");
}

// The per-cluster bound on queued requests: read from YAML, defaulting to 4096, and a value out
// of range is refused with the key's name (an operator sizing it for 10k fetch-loop clients must
// learn of a typo at start-up, not from "gateway busy" replies).
TEST(GatewayConfigFile, QueuedRequestBoundIsReadAndRangeChecked) {
  kpg::config::GatewayConfig defaults;
  EXPECT_EQ(defaults.kafka_max_queued_requests, 4096);

  for (const int value : {16, 20000, 1'000'000}) {
    kpg::config::GatewayConfig c;
    kpg::config::load_yaml_string("kafka_max_queued_requests: " + std::to_string(value) + "\n",
                                  "g.yaml", c);
    EXPECT_EQ(c.kafka_max_queued_requests, value);
    EXPECT_NO_THROW(kpg::config::validate(c));
  }
  for (const auto* text : {"15", "1000001", "-1"}) {
    kpg::config::GatewayConfig c;
    kpg::config::load_yaml_string(std::string("kafka_max_queued_requests: ") + text + "\n",
                                  "g.yaml", c);
    try {
      kpg::config::validate(c);
      FAIL() << "expected ConfigError for " << text;
    } catch (const kpg::config::ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find("kafka_max_queued_requests: " + std::string(text) +
                                           " is outside 16..1000000"),
                std::string::npos)
          << e.what();
    }
  }
  kpg::config::GatewayConfig c;
  try {
    kpg::config::load_yaml_string("kafka_max_queued_requests: many\n", "g.yaml", c);
    FAIL() << "expected ConfigError";
  } catch (const kpg::config::ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("'kafka_max_queued_requests' has the wrong type"),
              std::string::npos)
        << e.what();
  }
}

// The snapshot memory bounds (per connection, all connections): read from YAML with their
// defaults, and refused with the key's name out of range (the per-connection one is announced in
// hello_resp as a 32-bit count).
TEST(GatewayConfigFile, SnapshotBoundsAreReadAndRangeChecked) {
  kpg::config::GatewayConfig defaults;
  EXPECT_EQ(defaults.max_snapshot_bytes, 64u * 1024 * 1024);
  EXPECT_EQ(defaults.max_total_snapshot_bytes, 512u * 1024 * 1024);

  kpg::config::GatewayConfig c;
  kpg::config::load_yaml_string("max_snapshot_bytes: 65536\nmax_total_snapshot_bytes: 1048576\n",
                                "g.yaml", c);
  EXPECT_EQ(c.max_snapshot_bytes, 65536u);
  EXPECT_EQ(c.max_total_snapshot_bytes, 1048576u);
  EXPECT_NO_THROW(kpg::config::validate(c));

  const std::vector<std::pair<std::string, std::string>> bad = {
      {"max_snapshot_bytes: 65535", "max_snapshot_bytes: 65535 is outside 65536..4294967295"},
      {"max_snapshot_bytes: 4294967296",
       "max_snapshot_bytes: 4294967296 is outside 65536..4294967295"},
      {"max_total_snapshot_bytes: 1000", "max_total_snapshot_bytes: 1000 is outside 65536.."},
  };
  for (const auto& [text, message] : bad) {
    kpg::config::GatewayConfig b;
    kpg::config::load_yaml_string(text + "\n", "g.yaml", b);
    try {
      kpg::config::validate(b);
      FAIL() << "expected ConfigError for " << text;
    } catch (const kpg::config::ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find(message), std::string::npos) << e.what();
    }
  }
}

}  // namespace
