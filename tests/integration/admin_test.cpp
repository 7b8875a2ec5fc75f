// The admin API against the real gateway process: authentication, validation messages, live
// route changes (no restart), sessions closed on change, persistence across a real restart.
#include "admin_fixture.h"

#include <kpg/sdk/native_client.h>

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

namespace {

using namespace std::chrono_literals;
using kpg::testing::ChildProcess;
using kpg::testing::http_request;
using nlohmann::json;
using verb = boost::beast::http::verb;

constexpr const char* kKey = kpg::testing::kAdminTestKey;
using kpg::testing::start_gateway;

class AdminTest : public kpg::testing::AdminFixture {};

TEST_F(AdminTest, RequestsWithoutTheRightKeyAre401) {
  auto none = admin(verb::get, "/apisix/admin/routes", "", std::nullopt);
  EXPECT_EQ(none.status, 401);
  EXPECT_NE(none.json().value("error_msg", "").find("X-API-KEY"), std::string::npos);
  EXPECT_EQ(admin(verb::get, "/apisix/admin/routes", "", std::string("wrong")).status, 401);
  EXPECT_EQ(admin(verb::put, "/apisix/admin/routes/1", route("/a").dump(), std::string("")).status,
            401);
}

TEST_F(AdminTest, PutTakesEffectAtOnceAndGetListDeleteFollowApisixShapes) {
  kpg::sdk::NativeClient before;
  EXPECT_FALSE(before.connect(url("/live")));  // no such route yet

  auto created = admin(verb::put, "/apisix/admin/routes/live", route("/live").dump());
  ASSERT_EQ(created.status, 201) << created.body;
  EXPECT_EQ(created.json()["key"], "/apisix/routes/live");
  EXPECT_EQ(created.json()["value"]["uri"], "/live");

  kpg::sdk::NativeClient client;
  ASSERT_TRUE(client.connect(url("/live")));
  auto latest = client.list_offsets("orders", 0, kpg::sdk::kLatest);
  ASSERT_TRUE(latest) << latest.error().message;
  EXPECT_EQ(latest.value(), 3);

  EXPECT_EQ(admin(verb::put, "/apisix/admin/routes/live", route("/live").dump()).status, 200);
  auto got = admin(verb::get, "/apisix/admin/routes/live");
  EXPECT_EQ(got.status, 200);
  EXPECT_EQ(got.json()["value"]["id"], "live");
  auto list = admin(verb::get, "/apisix/admin/routes");
  EXPECT_EQ(list.json()["total"], 1);
  EXPECT_EQ(list.json()["list"][0]["key"], "/apisix/routes/live");

  auto posted = admin(verb::post, "/apisix/admin/routes", route("/posted").dump());
  ASSERT_EQ(posted.status, 201) << posted.body;
  const std::string id = posted.json()["value"]["id"];
  EXPECT_EQ(id.size(), 20u);
  EXPECT_EQ(admin(verb::delete_, "/apisix/admin/routes/" + id).status, 200);
  EXPECT_EQ(admin(verb::get, "/apisix/admin/routes/" + id).status, 404);
  EXPECT_EQ(admin(verb::delete_, "/apisix/admin/routes/" + id).status, 404);
}

TEST_F(AdminTest, InvalidConfigurationsAre400NamingFieldAndRule) {
  struct Case {
    std::string body;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"{not json", "invalid request body"},
      {R"({"upstream": {"scheme": "kafka", "nodes": {"h:1": 1}}})", "\"uri\""},
      {R"({"uri": "/a"})", "property \"upstream\" is required"},
      {R"({"uri": "/a", "upstream": {"scheme": "http", "nodes": {"h:1": 1}}})",
       "property \"upstream.scheme\" validation failed: unknown scheme \"http\""},
      {R"({"uri": "/a", "upstream": {"scheme": "kafka", "nodes": {}}})",
       "property \"upstream.nodes\" validation failed: expect at least 1 node"},
      {R"({"uri": "/a", "upstream": {"scheme": "kafka", "nodes": {"nohost": 1}}})",
       "\"nohost\" is not a valid host:port"},
      {R"({"uri": "/a", "upstream": {"scheme": "kafka", "nodes": {"h:99999": 1}}})",
       "\"h:99999\" is not a valid host:port"},
      {R"({"uri": 5, "upstream": {"scheme": "kafka", "nodes": {"h:1": 1}}})",
       "property \"uri\" validation failed: wrong type: expected string, got number"},
      {R"({"uri": "/a", "upstream": {"scheme": "kafka", "nodes": {"h:1": 1}, "tls": {"verify": 1}}})",
       "property \"upstream.tls.verify\" validation failed: wrong type: expected boolean"},
      {R"({"uri": "/a", "upstream": {"scheme": "kafka", "nodes": {"h:1": 1},
           "tls": {"verify": true, "ca_file": "/nonexistent/ca.pem"}}})",
       "invalid configuration: property \"upstream.tls.ca_file\" validation failed: cannot read "
       "'/nonexistent/ca.pem': No such file or directory"},
      {R"({"uri": "/a", "upstream": {"scheme": "kafka", "nodes": {"h:1": 1}},
           "plugins": {"kafka-proxy": {"sasl": {"username": "u"}}}})",
       "invalid configuration: property \"sasl\" validation failed: property \"password\" is "
       "required"},
  };
  for (const auto& c : cases) {
    auto r = admin(verb::put, "/apisix/admin/routes/bad", c.body);
    EXPECT_EQ(r.status, 400) << c.body;
    EXPECT_NE(r.json().value("error_msg", "").find(c.message), std::string::npos)
        << c.body << " -> " << r.body;
  }
  EXPECT_EQ(admin(verb::get, "/apisix/admin/routes").json()["total"], 0);
}

TEST_F(AdminTest, PasswordsAreMaskedInResponsesAndNeverLogged) {
  auto body = route("/sasl");
  body["plugins"] = {{"kafka-proxy", {{"sasl", {{"username", "u"}, {"password", "s3cr3t-pw"}}}}}};
  auto put = admin(verb::put, "/apisix/admin/routes/sasl", body.dump());
  ASSERT_EQ(put.status, 201) << put.body;
  EXPECT_EQ(put.json()["value"]["plugins"]["kafka-proxy"]["sasl"]["password"], "******");
  auto got = admin(verb::get, "/apisix/admin/routes/sasl");
  EXPECT_EQ(got.body.find("s3cr3t-pw"), std::string::npos);
  EXPECT_NE(got.body.find("******"), std::string::npos);
  gateway_.process->stop(SIGTERM, 5s);
  EXPECT_EQ(gateway_.process->transcript().find("s3cr3t-pw"), std::string::npos);
}

TEST_F(AdminTest, ChangingOrDeletingARouteClosesItsSessionsWith1001) {
  ASSERT_EQ(admin(verb::put, "/apisix/admin/routes/r", route("/r").dump()).status, 201);
  ASSERT_EQ(admin(verb::put, "/apisix/admin/routes/other", route("/other").dump()).status, 201);
  kpg::testing::RawSocket changed(gateway_.port, "/r");
  kpg::testing::RawSocket untouched(gateway_.port, "/other");

  auto moved = route("/r");
  moved["uris"] = json::array({"/r", "/r2"});
  moved.erase("uri");
  ASSERT_EQ(admin(verb::put, "/apisix/admin/routes/r", moved.dump()).status, 200);
  EXPECT_FALSE(changed.receive());
  EXPECT_EQ(changed.close_code(), 1001);
  EXPECT_EQ(changed.close_reason(), "route changed");

  untouched.send_binary(kpg::testing::ping_frame(1, "alive"));
  auto pong = untouched.receive();
  ASSERT_TRUE(pong && pong->has_pong_resp()) << "a session of another route must stay open";

  kpg::testing::RawSocket doomed(gateway_.port, "/r2");
  ASSERT_EQ(admin(verb::delete_, "/apisix/admin/routes/r").status, 200);
  EXPECT_FALSE(doomed.receive());
  EXPECT_EQ(doomed.close_code(), 1001);
  EXPECT_EQ(doomed.close_reason(), "route deleted");
  EXPECT_EQ(http_request(gateway_.port, verb::get, "/r2").status, 404);
}

TEST_F(AdminTest, SigtermDrainsSessionsWith1001AndExitsZero) {
  ASSERT_EQ(admin(verb::put, "/apisix/admin/routes/d", route("/d").dump()).status, 201);
  kpg::testing::RawSocket session(gateway_.port, "/d");
  session.send_binary(kpg::testing::ping_frame(1, "x"));
  ASSERT_TRUE(session.receive());
  const auto started = std::chrono::steady_clock::now();
  EXPECT_EQ(gateway_.process->stop(SIGTERM, 10s), 0);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 5s);  // bounded drain (3 s at most)
  EXPECT_FALSE(session.receive());
  EXPECT_EQ(session.close_code(), 1001);
  EXPECT_EQ(session.close_reason(), "server shutting down");
  EXPECT_NE(gateway_.process->transcript().find("event=shutdown signal=15 sessions=1"),
            std::string::npos)
      << gateway_.process->transcript();
}

TEST_F(AdminTest, RoutesSurviveARestart) {
  ASSERT_EQ(admin(verb::put, "/apisix/admin/routes/keep", route("/keep").dump()).status, 201);
  const auto store = dir_ / "data" / "routes.json";
  ASSERT_TRUE(std::filesystem::exists(store));
  struct stat st {};
  ASSERT_EQ(::stat(store.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  EXPECT_EQ(gateway_.process->stop(SIGTERM, 10s), 0);
  gateway_ = start_gateway(dir_, std::string("admin_key: ") + kKey + "\n");
  EXPECT_EQ(admin(verb::get, "/apisix/admin/routes/keep").status, 200);
  kpg::sdk::NativeClient client;
  ASSERT_TRUE(client.connect(url("/keep")));
  EXPECT_TRUE(client.list_offsets("orders", 0, kpg::sdk::kEarliest));
}

TEST_F(AdminTest, ACorruptStoreStopsStartupNamingTheFile) {
  gateway_.process->stop(SIGTERM, 10s);
  const auto store = dir_ / "data" / "routes.json";
  std::ofstream(store) << "{\"routes\": [ {\"id\": \"x\", \"uri\": ";
  ChildProcess gw({kpg::testing::gateway_binary(), "--config", (dir_ / "gateway.yaml").string()});
  auto line = gw.wait_for_line("startup_failed", 15s);
  ASSERT_TRUE(line) << gw.transcript();
  EXPECT_NE(line->find(store.string()), std::string::npos) << *line;
  EXPECT_NE(line->find("corrupt"), std::string::npos) << *line;
  EXPECT_EQ(gw.stop(0, 10s), 1);  // signal 0: only wait for it to exit by itself
  // Never silently replaced.
  std::ifstream in(store);
  std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(content, "{\"routes\": [ {\"id\": \"x\", \"uri\": ");
}

TEST_F(AdminTest, WithoutAConfiguredKeyOneIsGeneratedStoredPrivatelyAndNeverPrinted) {
  const auto other = dir_ / "generated";
  auto first = start_gateway(other);
  const auto key_file = other / "data" / "admin.key";
  std::ifstream in(key_file);
  std::string key;
  std::getline(in, key);
  EXPECT_GE(key.size(), 32u);
  struct stat st {};
  ASSERT_EQ(::stat(key_file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(http_request(first.admin_port, verb::get, "/apisix/admin/routes", key).status, 200);
  first.process->stop(SIGTERM, 10s);
  // The output (which ends up in logs) says where the key is, never the key itself.
  const auto printed = first.process->transcript();
  EXPECT_NE(printed.find("generated an admin API key in " + key_file.string()), std::string::npos)
      << printed;
  EXPECT_EQ(printed.find(key), std::string::npos) << printed;
  EXPECT_FALSE(std::filesystem::exists(key_file.string() + ".tmp"));

  auto second = start_gateway(other);
  EXPECT_EQ(second.process->transcript().find("generated an admin API key"), std::string::npos);
  EXPECT_EQ(http_request(second.admin_port, verb::get, "/apisix/admin/routes", key).status, 200);
}

}  // namespace
