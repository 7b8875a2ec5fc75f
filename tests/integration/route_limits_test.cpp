// The route plugins limit-conn and limit-count (APISIX's shapes) on the real gateway process:
// upgrades beyond a limit are refused with the configured status and {"error_msg"}, places are
// given back when connections close, windows reset, quota headers are sent, and every setting
// kpg would not enforce is refused with 400 naming it.
#include "admin_fixture.h"

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <thread>

namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using verb = boost::beast::http::verb;

using kpg::testing::Upgrade;

class RouteLimitsTest : public kpg::testing::AdminFixture {
 protected:
  kpg::testing::HttpResult put_route(const std::string& id, const std::string& uri,
                                     const json& plugins) {
    auto body = route(uri);
    body["plugins"] = plugins;
    return admin(verb::put, "/apisix/admin/routes/" + id, body.dump());
  }
  // Retries for up to 5 s: a closed connection's place is given back once the gateway sees it.
  std::unique_ptr<Upgrade> upgrade_eventually(const std::string& target) {
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    for (;;) {
      auto u = std::make_unique<Upgrade>(gateway_.port, target);
      if (u->open() || std::chrono::steady_clock::now() > deadline) return u;
      std::this_thread::sleep_for(50ms);
    }
  }
  static json limit_conn(int conn) {
    return {{"conn", conn}, {"burst", 0}, {"default_conn_delay", 0.1}, {"key", "remote_addr"}};
  }
};

TEST_F(RouteLimitsTest, LimitConnRefusesBeyondConnAndGivesPlacesBackOnClose) {
  ASSERT_EQ(put_route("lc", "/lc", {{"limit-conn", limit_conn(2)}}).status, 201);
  ASSERT_EQ(put_route("open", "/open", json::object()).status, 201);
  auto first = std::make_unique<Upgrade>(gateway_.port, "/lc");
  Upgrade second(gateway_.port, "/lc");
  ASSERT_TRUE(first->open() && second.open());

  Upgrade third(gateway_.port, "/lc");
  EXPECT_FALSE(third.open());
  EXPECT_EQ(third.status(), 503);
  EXPECT_EQ(third.body(),
            json({{"error_msg", "too many connections: at most 2 open at once on this route"}}));
  EXPECT_TRUE(Upgrade(gateway_.port, "/open").open()) << "another route is not counted";

  // An unrelated change of the route table keeps the count.
  ASSERT_EQ(put_route("other", "/other", json::object()).status, 201);
  EXPECT_EQ(Upgrade(gateway_.port, "/lc").status(), 503);

  first.reset();
  EXPECT_TRUE(upgrade_eventually("/lc")->open()) << "the closed connection's place came back";
}

TEST_F(RouteLimitsTest, LimitConnTakesApisixsRejectedCodeAndMessage) {
  auto conf = limit_conn(1);
  conf["rejected_code"] = 429;
  conf["rejected_msg"] = "one at a time, please";
  ASSERT_EQ(put_route("lc", "/lc", {{"limit-conn", conf}}).status, 201);
  Upgrade first(gateway_.port, "/lc");
  ASSERT_TRUE(first.open());
  Upgrade refused(gateway_.port, "/lc");
  EXPECT_EQ(refused.status(), 429);
  EXPECT_EQ(refused.body(), json({{"error_msg", "one at a time, please"}}));
}

TEST_F(RouteLimitsTest, LimitConnByConsumerNameCountsEachConsumerApart) {
  for (const auto& [name, key] : {std::pair{"alice", "alice-key-1"}, {"bob", "bob-key-1"}}) {
    auto r = admin(verb::put, "/apisix/admin/consumers",
                   json{{"username", name}, {"plugins", {{"key-auth", {{"key", key}}}}}}.dump());
    ASSERT_EQ(r.status, 201) << r.body;
  }
  auto conf = limit_conn(1);
  conf["key"] = "consumer_name";
  ASSERT_EQ(put_route("lc", "/lc", {{"key-auth", json::object()}, {"limit-conn", conf}}).status,
            201);
  Upgrade alice(gateway_.port, "/lc?apikey=alice-key-1");
  ASSERT_TRUE(alice.open());
  EXPECT_EQ(Upgrade(gateway_.port, "/lc?apikey=alice-key-1").status(), 503);
  EXPECT_TRUE(Upgrade(gateway_.port, "/lc?apikey=bob-key-1").open());
  EXPECT_EQ(Upgrade(gateway_.port, "/lc").status(), 401) << "authentication comes first";
}

TEST_F(RouteLimitsTest, LimitCountRefusesBeyondCountUntilTheWindowEnds) {
  ASSERT_EQ(put_route("lc", "/lc", {{"limit-count", {{"count", 2}, {"time_window", 2}}}}).status,
            201);
  Upgrade one(gateway_.port, "/lc");
  ASSERT_TRUE(one.open());
  EXPECT_EQ(one.header("X-RateLimit-Limit"), "2");
  EXPECT_EQ(one.header("X-RateLimit-Remaining"), "1");
  Upgrade two(gateway_.port, "/lc");
  ASSERT_TRUE(two.open());
  EXPECT_EQ(two.header("X-RateLimit-Remaining"), "0");

  Upgrade three(gateway_.port, "/lc");
  EXPECT_FALSE(three.open());
  EXPECT_EQ(three.status(), 503);
  EXPECT_EQ(three.body(),
            json({{"error_msg", "too many connection attempts: at most 2 per 2 s on this route"}}));
  EXPECT_EQ(three.header("X-RateLimit-Remaining"), "0");
  const int reset = std::stoi(three.header("X-RateLimit-Reset"));
  EXPECT_GE(reset, 1);
  EXPECT_LE(reset, 2);

  // Counting attempts, not open connections: closing one gives nothing back; the window does.
  std::this_thread::sleep_for(std::chrono::seconds(reset) + 100ms);
  Upgrade next(gateway_.port, "/lc");
  EXPECT_TRUE(next.open());
  EXPECT_EQ(next.header("X-RateLimit-Remaining"), "1");
}

TEST_F(RouteLimitsTest, LimitCountWithoutQuotaHeadersSendsNone) {
  ASSERT_EQ(put_route("lc", "/lc",
                      {{"limit-count",
                        {{"count", 1},
                         {"time_window", 60},
                         {"show_limit_quota_header", false},
                         {"rejected_code", 429}}}})
                .status,
            201);
  Upgrade one(gateway_.port, "/lc");
  ASSERT_TRUE(one.open());
  EXPECT_EQ(one.header("X-RateLimit-Remaining"), "(none)");
  Upgrade two(gateway_.port, "/lc");
  EXPECT_EQ(two.status(), 429);
  EXPECT_EQ(two.header("X-RateLimit-Remaining"), "(none)");
}

TEST_F(RouteLimitsTest, SettingsKpgWouldNotEnforceAre400NamingThem) {
  struct Case {
    json plugins;
    std::string message;
  };
  auto burst = limit_conn(1);
  burst["burst"] = 5;
  auto header_key = limit_conn(1);
  header_key["key"] = "http_x_user";
  auto consumer_key = limit_conn(1);
  consumer_key["key"] = "consumer_name";
  auto no_conn = limit_conn(1);
  no_conn.erase("conn");
  const std::vector<Case> cases = {
      {{{"limit-conn", burst}},
       "invalid configuration: property \"plugins.limit-conn.burst\" validation failed: kpg "
       "refuses connections beyond conn at once, so burst must be 0"},
      {{{"limit-conn", header_key}},
       "invalid configuration: property \"plugins.limit-conn.key\" validation failed: kpg counts "
       "by \"remote_addr\" or \"consumer_name\" only"},
      {{{"limit-conn", consumer_key}},
       "invalid configuration: property \"plugins.limit-conn.key\" validation failed: "
       "\"consumer_name\" needs key-auth or jwt-auth on the route"},
      {{{"limit-conn", no_conn}},
       "invalid configuration: property \"plugins.limit-conn\" validation failed: property "
       "\"conn\" is required"},
      {{{"limit-count", {{"count", 1}, {"time_window", 1}, {"policy", "redis"}}}},
       "invalid configuration: property \"plugins.limit-count.policy\" validation failed: kpg "
       "counts in the gateway: \"local\" only"},
      {{{"limit-count", {{"count", 1}, {"time_window", 1}, {"allow_degradation", true}}}},
       "invalid configuration: property \"plugins.limit-count.allow_degradation\" is not "
       "supported by kpg"},
      {{{"limit-count", {{"count", 0}, {"time_window", 1}}}},
       "invalid configuration: property \"plugins.limit-count.count\" validation failed: "
       "expected 1..1000000000, got 0"},
      {{{"limit-count", {{"count", 1}, {"time_window", 1}, {"rejected_code", 700}}}},
       "invalid configuration: property \"plugins.limit-count.rejected_code\" validation failed: "
       "expected 200..599, got 700"},
  };
  for (const auto& c : cases) {
    const auto r = put_route("bad", "/bad", c.plugins);
    EXPECT_EQ(r.status, 400) << c.plugins.dump();
    EXPECT_EQ(r.json().value("error_msg", ""), c.message) << c.plugins.dump();
  }
  EXPECT_EQ(admin(verb::get, "/apisix/admin/routes/bad").status, 404) << "nothing was stored";
}

}  // namespace
