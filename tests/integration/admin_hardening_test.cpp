// The admin API against hostile or mistaken input, on the real gateway process: refused routes
// are never stored (the next start works), hostile JSON nesting, fields and plugins kpg would
// silently ignore, `status` and `hosts` enforced on the data plane, crash-safe start-up.
#include "admin_fixture.h"

#include <kpg/sdk/native_client.h>

#include <gtest/gtest.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <thread>

namespace {

using namespace std::chrono_literals;
using kpg::testing::http_request;
using kpg::testing::start_gateway;
using nlohmann::json;
using verb = boost::beast::http::verb;

class AdminHardening : public kpg::testing::AdminFixture {
 protected:
  void restart() {
    ASSERT_EQ(gateway_.process->stop(SIGTERM, 10s), 0);
    gateway_ = start_gateway(dir_, std::string("admin_key: ") + kpg::testing::kAdminTestKey + "\n");
    ASSERT_FALSE(gateway_.port.empty()) << "the gateway must start again on the same data dir";
  }
  std::filesystem::path store() const { return dir_ / "data" / "routes.json"; }

  // Status of a WebSocket upgrade of `path` with this Host header: 101, or 404 when no route
  // matches.
  int upgrade_status(const std::string& path, const std::string& host) const {
    return http_request(gateway_.port, verb::get, path, std::nullopt, "",
                        {{"Host", host},
                         {"Upgrade", "websocket"},
                         {"Connection", "Upgrade"},
                         {"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="},
                         {"Sec-WebSocket-Version", "13"}})
        .status;
  }
  // The data plane still answers: a full session on `path`.
  void expect_serving(const std::string& path) const {
    kpg::sdk::NativeClient client;
    ASSERT_TRUE(client.connect(url(path)));
    auto latest = client.list_offsets("orders", 0, kpg::sdk::kLatest);
    ASSERT_TRUE(latest) << latest.error().message;
    EXPECT_EQ(latest.value(), 3);
  }
};

std::string nested_arrays(std::size_t depth) {
  return std::string(depth, '[') + std::string(depth, ']');
}

TEST_F(AdminHardening, ARefusedRouteIsNotStoredAndTheNextStartKeepsTheGoodOnes) {
  ASSERT_EQ(admin(verb::put, "/apisix/admin/routes/good", route("/good").dump()).status, 201);
  auto bad = route("/bad");
  bad["upstream"]["tls"] = {{"verify", true}, {"ca_file", "/nonexistent/ca.pem"}};
  auto put = admin(verb::put, "/apisix/admin/routes/bad", bad.dump());
  EXPECT_EQ(put.status, 400) << put.body;
  EXPECT_NE(put.body.find("upstream.tls.ca_file"), std::string::npos) << put.body;
  EXPECT_EQ(admin(verb::post, "/apisix/admin/routes", bad.dump()).status, 400);
  // Replacing a good route by a bad one leaves the good one, live and stored.
  auto worse = route("/good");
  worse["upstream"]["tls"] = bad["upstream"]["tls"];
  EXPECT_EQ(admin(verb::put, "/apisix/admin/routes/good", worse.dump()).status, 400);
  EXPECT_EQ(admin(verb::get, "/apisix/admin/routes").json()["total"], 1);

  restart();
  EXPECT_EQ(admin(verb::get, "/apisix/admin/routes/bad").status, 404);
  auto good = admin(verb::get, "/apisix/admin/routes/good");
  ASSERT_EQ(good.status, 200) << good.body;
  EXPECT_FALSE(good.json()["value"]["upstream"].contains("tls"));
  expect_serving("/good");
}

TEST_F(AdminHardening, DeeplyNestedBodiesAre400NamingTheLimitAndNothingIsStored) {
  ASSERT_EQ(admin(verb::put, "/apisix/admin/routes/keep", route("/keep").dump()).status, 201);
  const auto stored_size = std::filesystem::file_size(store());

  // 200 KB of '[': a stack overflow if anything recursed on it.
  auto hostile = admin(verb::put, "/apisix/admin/routes/deep", nested_arrays(100000));
  EXPECT_EQ(hostile.status, 400) << hostile.body;
  EXPECT_NE(hostile.json().value("error_msg", "").find("deeper than 32 levels"), std::string::npos)
      << hostile.body;

  // 20 KB nested inside an otherwise valid route (it used to be stored, pretty-printed to
  // hundreds of MB).
  auto inside = route("/deep");
  const std::string body = inside.dump();
  const std::string deep =
      body.substr(0, body.size() - 1) + ", \"desc\": " + nested_arrays(10000) + "}";
  for (const auto method : {verb::put, verb::post}) {
    auto r = admin(
        method, method == verb::put ? "/apisix/admin/routes/deep" : "/apisix/admin/routes", deep);
    EXPECT_EQ(r.status, 400) << r.body;
    EXPECT_NE(r.json().value("error_msg", "").find("deeper than 32 levels"), std::string::npos)
        << r.body;
  }
  EXPECT_EQ(std::filesystem::file_size(store()), stored_size);
  EXPECT_EQ(admin(verb::get, "/apisix/admin/routes").json()["total"], 1);
  expect_serving("/keep");
}

TEST_F(AdminHardening, BodiesOverTheLimitAre413) {
  auto r = http_request(gateway_.admin_port, verb::put, "/apisix/admin/routes/big",
                        std::string(kpg::testing::kAdminTestKey), "",
                        {{"Content-Type", "application/json"}, {"Content-Length", "2000000"}});
  EXPECT_EQ(r.status, 413);
  EXPECT_NE(r.body.find("larger than 1 MiB"), std::string::npos) << r.body;
  EXPECT_EQ(admin(verb::get, "/apisix/admin/routes").status, 200);
}

// Found by fuzz_admin_route: an error message quoting invalid UTF-8 (from a malformed body or a
// route id) made the reply's JSON encoding throw, and one request stopped the gateway.
TEST_F(AdminHardening, InvalidUtf8InABodyOrARouteIdIsAnErrorNotACrash) {
  auto body = admin(verb::put, "/apisix/admin/routes/r1", "{\"uri\": \xd2\xff}");
  EXPECT_EQ(body.status, 400) << body.body;
  auto id = admin(verb::get, "/apisix/admin/routes/\xd2");
  EXPECT_GE(id.status, 400) << id.body;
  EXPECT_LT(id.status, 500) << id.body;
  EXPECT_EQ(admin(verb::get, "/apisix/admin/routes").status, 200) << "the gateway still serves";
}

TEST_F(AdminHardening, PluginsAndFieldsKpgWouldIgnoreAre400NamingThem) {
  struct Case {
    json change;  // merged into a valid route
    std::string message;
  };
  const std::vector<Case> cases = {
      {{{"plugins", {{"basic-auth", json::object()}}}},
       "invalid configuration: plugin \"basic-auth\" is not supported by kpg"},
      {{{"plugins", {{"ip-restriction", json::object()}, {"kafka-proxy", json::object()}}}},
       "invalid configuration: plugin \"ip-restriction\" is not supported by kpg"},
      {{{"plugins", {{"cors", {{"allow_methods", "GET"}}}}}},
       "invalid configuration: property \"plugins.cors.allow_methods\" is not supported by kpg"},
      {{{"methods", {"GET"}}}, "invalid configuration: property \"methods\" is not supported"},
      {{{"remote_addrs", {"10.0.0.1"}}}, "property \"remote_addrs\" is not supported by kpg"},
      {{{"upstream", {{"retries", 2}}}}, "property \"upstream.retries\" is not supported by kpg"},
      {{{"upstream", {{"tls", {{"client_cert", "PEM"}}}}}},
       "property \"upstream.tls.client_cert\" is not supported by kpg"},
      {{{"plugins",
         {{"kafka-proxy", {{"sasl", {{"username", "u"}, {"password", "p"}, {"x", 1}}}}}}}},
       "property \"plugins.kafka-proxy.sasl.x\" is not supported by kpg"},
      {{{"plugins", {{"kafka-proxy", {{"_meta", {{"disable", true}}}}}}}},
       "property \"plugins.kafka-proxy._meta\" is not supported by kpg"},
      {{{"status", 2}}, "property \"status\" validation failed"},
      {{{"hosts", json::array()}}, "property \"hosts\" validation failed"},
  };
  for (const auto& c : cases) {
    auto body = route("/refused");
    body.merge_patch(c.change);
    auto r = admin(verb::put, "/apisix/admin/routes/refused", body.dump());
    EXPECT_EQ(r.status, 400) << body.dump();
    EXPECT_NE(r.json().value("error_msg", "").find(c.message), std::string::npos)
        << body.dump() << " -> " << r.body;
  }
  EXPECT_EQ(admin(verb::get, "/apisix/admin/routes").json()["total"], 0);

  // APISIX's metadata is kept and shown.
  auto labelled = route("/labelled");
  labelled["name"] = "orders";
  labelled["desc"] = "orders for billing";
  labelled["labels"] = {{"team", "billing"}};
  auto ok = admin(verb::put, "/apisix/admin/routes/labelled", labelled.dump());
  ASSERT_EQ(ok.status, 201) << ok.body;
  EXPECT_EQ(ok.json()["value"]["labels"]["team"], "billing");
}

TEST_F(AdminHardening, StatusZeroStopsServingTheRouteAndClosesItsSessions) {
  auto off = route("/s");
  off["status"] = 0;
  ASSERT_EQ(admin(verb::put, "/apisix/admin/routes/s", off.dump()).status, 201);
  EXPECT_EQ(upgrade_status("/s", "127.0.0.1"), 404);

  auto on = route("/s");
  on["status"] = 1;
  ASSERT_EQ(admin(verb::put, "/apisix/admin/routes/s", on.dump()).status, 200);
  EXPECT_EQ(upgrade_status("/s", "127.0.0.1"), 101);
  kpg::testing::RawSocket session(gateway_.port, "/s");
  session.send_binary(kpg::testing::ping_frame(1, "x"));
  ASSERT_TRUE(session.receive());

  ASSERT_EQ(admin(verb::put, "/apisix/admin/routes/s", off.dump()).status, 200);
  EXPECT_FALSE(session.receive());
  EXPECT_EQ(session.close_code(), 1001);
  EXPECT_EQ(session.close_reason(), "route disabled");
  EXPECT_EQ(upgrade_status("/s", "127.0.0.1"), 404);

  restart();  // disabled survives a restart too
  EXPECT_EQ(upgrade_status("/s", "127.0.0.1"), 404);
  EXPECT_EQ(admin(verb::get, "/apisix/admin/routes/s").json()["value"]["status"], 0);
}

TEST_F(AdminHardening, HostsAreMatchedAgainstTheUpgradesHostHeader) {
  auto r = route("/h");
  r["hosts"] = {"api.example.com", "*.internal.example"};
  ASSERT_EQ(admin(verb::put, "/apisix/admin/routes/h", r.dump()).status, 201);
  EXPECT_EQ(upgrade_status("/h", "api.example.com"), 101);
  EXPECT_EQ(upgrade_status("/h", "API.example.com:9080"), 101);
  EXPECT_EQ(upgrade_status("/h", "kafka.internal.example"), 101);
  EXPECT_EQ(upgrade_status("/h", "other.example.com"), 404);
  EXPECT_EQ(upgrade_status("/h", "internal.example"), 404);
  EXPECT_EQ(upgrade_status("/h", "127.0.0.1"), 404);

  // A full session through a route restricted to the name the client uses.
  auto local = route("/local");
  local["host"] = "127.0.0.1";
  ASSERT_EQ(admin(verb::put, "/apisix/admin/routes/local", local.dump()).status, 201);
  expect_serving("/local");
}

TEST_F(AdminHardening, AStaleTemporaryStoreIsRemovedAtStartup) {
  ASSERT_EQ(admin(verb::put, "/apisix/admin/routes/keep", route("/keep").dump()).status, 201);
  EXPECT_EQ(gateway_.process->stop(SIGKILL, 10s), -1);
  const auto tmp = store().string() + ".tmp";
  std::ofstream(tmp) << "{\"routes\": [ {\"id\": \"half";  // a write cut short
  gateway_ = start_gateway(dir_, std::string("admin_key: ") + kpg::testing::kAdminTestKey + "\n");
  EXPECT_FALSE(std::filesystem::exists(tmp));
  EXPECT_EQ(admin(verb::get, "/apisix/admin/routes/keep").status, 200);
  expect_serving("/keep");
}

TEST_F(AdminHardening, KilledWhileWritingTheStoreAlwaysStartsAgain) {
  for (int round = 0; round < 3; ++round) {
    std::atomic<bool> stop{false};
    std::thread writer([&, port = gateway_.admin_port] {
      for (int i = 0; !stop; ++i) {
        try {
          http_request(port, verb::put, "/apisix/admin/routes/r" + std::to_string(i % 20),
                       std::string(kpg::testing::kAdminTestKey),
                       route("/r" + std::to_string(i % 20)).dump());
        } catch (const std::exception&) {
          return;  // the gateway is gone
        }
      }
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(50 + 70 * round));
    gateway_.process->stop(SIGKILL, 10s);
    stop = true;
    writer.join();
    gateway_ = start_gateway(dir_, std::string("admin_key: ") + kpg::testing::kAdminTestKey + "\n");
    ASSERT_FALSE(gateway_.port.empty()) << "round " << round;
    EXPECT_EQ(admin(verb::get, "/apisix/admin/routes").status, 200);
  }
}

}  // namespace
