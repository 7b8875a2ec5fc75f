// Untrusted route configuration: bounded JSON nesting, refusal of every field and plugin kpg
// does not implement, `status` and `host`/`hosts`, and the route manager's order of work
// (validate, build, persist, publish) so a refused change is never stored.
#include "config/route.h"
#include "server/route_manager.h"
#include "server/route_table.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace {

using kpg::config::parse_json_bounded;
using kpg::config::parse_route;
using kpg::config::Route;
using nlohmann::json;

json good_route() {
  return json::parse(R"({"uri": "/kafka", "upstream": {"scheme": "kafka", "type": "none",
                         "nodes": {"127.0.0.1:9092": 1}}})");
}

std::string error_of(const json& j) {
  auto r = parse_route(j, "1");
  auto* e = std::get_if<std::string>(&r);
  return e ? *e : "";
}

std::string nested(std::size_t depth) {
  return std::string(depth, '[') + std::string(depth, ']');
}

TEST(BoundedJson, AcceptsTheLimitAndRefusesDeeperNamingIt) {
  EXPECT_TRUE(std::holds_alternative<json>(parse_json_bounded(nested(32))));
  auto deeper = parse_json_bounded(nested(33));
  ASSERT_TRUE(std::holds_alternative<std::string>(deeper));
  EXPECT_NE(std::get<std::string>(deeper).find("deeper than 32 levels"), std::string::npos)
      << std::get<std::string>(deeper);
  // Hostile depth: refused while reading, no recursion, no tree.
  auto hostile = parse_json_bounded(nested(1000000));
  ASSERT_TRUE(std::holds_alternative<std::string>(hostile));
  EXPECT_NE(std::get<std::string>(hostile).find("deeper than 32"), std::string::npos);
  auto objects = parse_json_bounded(std::string(200000, '{'));
  EXPECT_TRUE(std::holds_alternative<std::string>(objects));
  auto malformed = parse_json_bounded("{\"a\": ");
  ASSERT_TRUE(std::holds_alternative<std::string>(malformed));
  EXPECT_NE(std::get<std::string>(malformed).find("parse error"), std::string::npos);
}

TEST(RouteRefusals, UnsupportedPluginsAreRefusedByName) {
  for (const std::string plugin : {"basic-auth", "limit-req", "ip-restriction", "proxy-rewrite"}) {
    auto j = good_route();
    j["plugins"] = {{plugin, json::object()}};
    EXPECT_EQ(error_of(j),
              "invalid configuration: plugin \"" + plugin + "\" is not supported by kpg");
  }
}

TEST(RouteRefusals, UnsupportedFieldsAreRefusedByTheirPath) {
  struct Case {
    std::function<void(json&)> change;
    std::string field;
  };
  const std::vector<Case> cases = {
      {[](json& j) { j["methods"] = {"GET"}; }, "methods"},
      {[](json& j) { j["remote_addrs"] = {"10.0.0.1"}; }, "remote_addrs"},
      {[](json& j) { j["vars"] = json::array(); }, "vars"},
      {[](json& j) { j["enable_websocket"] = true; }, "enable_websocket"},
      {[](json& j) { j["upstream_id"] = "1"; }, "upstream_id"},
      {[](json& j) {
         j["timeout"] = {{"connect", 1}};
       },
       "timeout"},
      {[](json& j) { j["upstream"]["retries"] = 3; }, "upstream.retries"},
      {[](json& j) { j["upstream"]["pass_host"] = "node"; }, "upstream.pass_host"},
      {[](json& j) {
         j["upstream"]["tls"] = {{"client_cert", "PEM"}};
       },
       "upstream.tls.client_cert"},
      {[](json& j) {
         j["upstream"]["nodes"] = {{{"host", "h"}, {"port", 1}, {"weight", 1}, {"metadata", 1}}};
       },
       "upstream.nodes.metadata"},
      {[](json& j) {
         j["plugins"] = {{"kafka-proxy", {{"_meta", {{"disable", true}}}}}};
       },
       "plugins.kafka-proxy._meta"},
      {[](json& j) {
         j["plugins"] = {
             {"kafka-proxy", {{"sasl", {{"username", "u"}, {"password", "p"}, {"x", 1}}}}}};
       },
       "plugins.kafka-proxy.sasl.x"},
  };
  for (const auto& c : cases) {
    auto j = good_route();
    c.change(j);
    EXPECT_EQ(error_of(j),
              "invalid configuration: property \"" + c.field + "\" is not supported by kpg")
        << j.dump();
  }
}

TEST(RouteRefusals, ApisixMetadataIsAcceptedAndChecked) {
  auto j = good_route();
  j["name"] = "orders";
  j["desc"] = "the orders topic";
  j["labels"] = {{"team", "billing"}};
  j["upstream"]["name"] = "kafka-1";
  j["upstream"]["nodes"] = {{{"host", "h"}, {"port", 1}, {"weight", 1}}};
  EXPECT_EQ(error_of(j), "");
  j["labels"] = {{"team", {{"nested", "x"}}}};
  EXPECT_NE(error_of(j).find("property \"labels.team\" validation failed: wrong type"),
            std::string::npos)
      << error_of(j);
  j = good_route();
  j["name"] = std::string(101, 'n');
  EXPECT_NE(error_of(j).find("property \"name\""), std::string::npos) << error_of(j);
}

TEST(RouteRefusals, DeepValuesAreRefusedBeforeAnyCopy) {
  // What a YAML config file can hand over: nesting that no route field allows.
  json deep = "leaf";
  for (int i = 0; i < 5000; ++i) deep = json::array({std::move(deep)});
  auto j = good_route();
  j["desc"] = std::move(deep);
  EXPECT_NE(error_of(j).find("nested deeper than 32 levels"), std::string::npos) << error_of(j);
}

TEST(RouteStatus, DefaultsToEnabledAndTakesOnlyZeroOrOne) {
  auto j = good_route();
  EXPECT_TRUE(std::get<Route>(parse_route(j, "1")).enabled);
  j["status"] = 0;
  EXPECT_FALSE(std::get<Route>(parse_route(j, "1")).enabled);
  j["status"] = 1;
  EXPECT_TRUE(std::get<Route>(parse_route(j, "1")).enabled);
  for (const json& bad : {json(2), json("0"), json(true)}) {
    j["status"] = bad;
    EXPECT_NE(error_of(j).find("property \"status\" validation failed"), std::string::npos)
        << bad.dump();
  }
}

TEST(RouteHosts, ParsedFromHostOrHostsAndValidated) {
  auto j = good_route();
  j["host"] = "api.example.com";
  EXPECT_EQ(std::get<Route>(parse_route(j, "1")).hosts,
            std::vector<std::string>{"api.example.com"});
  j["hosts"] = {"a.example.com"};
  EXPECT_NE(error_of(j).find("cannot both be given"), std::string::npos) << error_of(j);
  j.erase("host");
  EXPECT_EQ(error_of(j), "");
  for (const json& bad : {json::array(), json("a.com"), json::array({"bad host"}),
                          json::array({"*example.com"}), json::array({""})}) {
    j["hosts"] = bad;
    EXPECT_NE(error_of(j).find("property \"hosts\""), std::string::npos) << bad.dump();
  }
}

TEST(RouteHosts, MatchLikeApisixPortStrippedAnyCaseWildcardSuffix) {
  auto j = good_route();
  j["hosts"] = {"api.example.com", "*.internal.example", "[::1]"};
  const auto route = std::get<Route>(parse_route(j, "1"));
  EXPECT_TRUE(route.matches_host("api.example.com"));
  EXPECT_TRUE(route.matches_host("API.Example.COM:9080"));
  EXPECT_TRUE(route.matches_host("a.internal.example"));
  EXPECT_TRUE(route.matches_host("a.b.internal.example:1"));
  EXPECT_TRUE(route.matches_host("[::1]:9080"));
  EXPECT_FALSE(route.matches_host("internal.example"));
  EXPECT_FALSE(route.matches_host("xinternal.example"));
  EXPECT_FALSE(route.matches_host("other.example.com"));
  EXPECT_FALSE(route.matches_host("api.example.com.evil"));
  EXPECT_FALSE(route.matches_host(""));
  EXPECT_TRUE(std::get<Route>(parse_route(good_route(), "2")).matches_host("anything"));
}

TEST(RouteHosts, ARouteWhoseHostsDoNotMatchIsSkippedByTheTable) {
  auto make = [](const std::string& id, const std::string& uri, json hosts) {
    auto j = good_route();
    j["uri"] = uri;
    if (!hosts.is_null()) j["hosts"] = std::move(hosts);
    auto r = std::get<Route>(parse_route(j, id));
    return kpg::server::ActiveRoute{std::make_shared<const Route>(r), nullptr, nullptr};
  };
  kpg::server::RouteTable table(
      {make("exact", "/k", json::array({"a.example.com"})), make("prefix", "/*", nullptr)});
  EXPECT_EQ(table.match("/k", "a.example.com")->route->id, "exact");
  EXPECT_EQ(table.match("/k", "b.example.com")->route->id, "prefix");
  EXPECT_EQ(table.match("/k")->route->id, "prefix");
}

class RouteManagerOrder : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("kpg-route-manager-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string store() const { return (dir_ / "routes.json").string(); }

  // Every Kafka client creation fails, like a route whose CA file cannot be read.
  kpg::server::RouteManager manager(int* factory_calls) {
    return kpg::server::RouteManager(
        holder_,
        [factory_calls](const Route&, std::string* error) {
          ++*factory_calls;
          *error = "invalid configuration: property \"upstream.tls.ca_file\" cannot be read";
          return std::shared_ptr<kpg::kafka::RecordSource>();
        },
        store(), nullptr);
  }

  std::filesystem::path dir_;
  kpg::server::RouteTableHolder holder_;
};

TEST_F(RouteManagerOrder, ARouteThatCannotBeBuiltIsNeitherStoredNorLive) {
  int calls = 0;
  auto routes = manager(&calls);
  routes.load({});
  auto put = routes.put("bad", good_route());
  EXPECT_EQ(put.status, 400);
  EXPECT_EQ(put.body.value("error_msg", ""),
            "invalid configuration: property \"upstream.tls.ca_file\" cannot be read");
  EXPECT_EQ(calls, 1);
  EXPECT_FALSE(std::filesystem::exists(store())) << "a refused route must not be stored";
  EXPECT_EQ(routes.get("bad").status, 404);
  EXPECT_EQ(routes.create(good_route()).status, 400);
  EXPECT_FALSE(std::filesystem::exists(store()));
  EXPECT_EQ(routes.list().body["total"], 0);
}

TEST_F(RouteManagerOrder, ADisabledRouteIsStoredButNotServedAndEnablingItIsBuiltFirst) {
  int calls = 0;
  auto routes = manager(&calls);
  routes.load({});
  auto disabled = good_route();
  disabled["status"] = 0;
  ASSERT_EQ(routes.put("off", disabled).status, 201);
  EXPECT_EQ(calls, 0) << "a disabled route needs no Kafka client";
  EXPECT_TRUE(holder_.get()->routes().empty());
  EXPECT_EQ(holder_.get()->match("/kafka"), nullptr);
  std::ifstream in(store());
  const std::string stored((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());

  EXPECT_EQ(routes.put("off", good_route()).status, 400);  // enabling it: build fails
  std::ifstream again(store());
  EXPECT_EQ(std::string((std::istreambuf_iterator<char>(again)), std::istreambuf_iterator<char>()),
            stored);
  EXPECT_EQ(routes.get("off").body["value"]["status"], 0);
}

TEST_F(RouteManagerOrder, LoadRemovesATemporaryFileLeftByAnInterruptedWrite) {
  std::ofstream(store() + ".tmp") << "{\"routes\": [ {\"id\": ";
  int calls = 0;
  auto routes = manager(&calls);
  routes.load({});
  EXPECT_FALSE(std::filesystem::exists(store() + ".tmp"));
}

TEST_F(RouteManagerOrder, AStoreNestedBeyondTheLimitIsCorruptNotACrash) {
  std::ofstream(store()) << "{\"routes\": " << nested(100000) << "}";
  int calls = 0;
  auto routes = manager(&calls);
  try {
    routes.load({});
    FAIL() << "expected StoreError";
  } catch (const kpg::server::StoreError& e) {
    EXPECT_NE(std::string(e.what()).find("corrupt route store"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("deeper than"), std::string::npos) << e.what();
  }
}

}  // namespace
