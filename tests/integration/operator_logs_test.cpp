// What an operator reads on the real gateway process: one access line per WebSocket session when
// it ends (route, client, consumer, topics, records, bytes, duration, who closed and why), the
// client address behind trusted proxies only (X-Forwarded-For from anyone else is ignored, in
// the log and in limit-conn's remote_addr key), the JSON log format, and the 404 that tells a
// request for /apisix/admin/ on the data port where the admin API listens.
#include "admin_fixture.h"

#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <memory>
#include <sstream>

namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using verb = boost::beast::http::verb;
using kpg::testing::field;

using Client = kpg::testing::Upgrade;

class OperatorLogsTest : public kpg::testing::AdminFixture {
 protected:
  void restart_trusting(const std::string& cidrs) {
    gateway_.process.reset();
    gateway_ =
        kpg::testing::start_gateway(dir_, std::string("admin_key: ") + kpg::testing::kAdminTestKey +
                                              "\ntrusted_proxies: " + cidrs + "\n");
    ASSERT_FALSE(gateway_.port.empty());
  }
  std::string access_line() {
    auto line = gateway_.process->wait_for_line("event=access ", 10s);
    EXPECT_TRUE(line) << gateway_.process->transcript();
    return line.value_or("");
  }
  static json limit_conn_1() {
    return {{"limit-conn",
             {{"conn", 1}, {"burst", 0}, {"default_conn_delay", 0.1}, {"key", "remote_addr"}}}};
  }
};

TEST_F(OperatorLogsTest, AnAccessLineSaysWhoReadWhatHowMuchAndWhoClosed) {
  put_route("r1", "/r1", {});
  {
    Client client(gateway_.port, "/r1");
    ASSERT_TRUE(client.open());
    const auto reply = client.request(kpg::testing::fetch_frame(1, "orders", 0, 0));
    ASSERT_EQ(reply.kafka_fetch_resp().messages_size(), 3) << reply.DebugString();
    const auto peer = client.peer();
    client.close(1000, "done");
    const auto line = access_line();
    EXPECT_EQ(field(line, "route"), "r1") << line;
    EXPECT_EQ(field(line, "client"), peer) << line;
    EXPECT_EQ(field(line, "consumer"), "-") << line;
    EXPECT_EQ(field(line, "topics"), "\"orders\"") << line;
    EXPECT_EQ(field(line, "records"), "3") << line;
    EXPECT_GT(std::stoll(field(line, "bytes")), 3 * 2) << line;  // 3 records "k"/"v" and framing
    EXPECT_GE(std::stoll(field(line, "duration_ms")), 0) << line;
    EXPECT_EQ(field(line, "closed_by"), "client") << line;
    EXPECT_EQ(field(line, "code"), "1000") << line;
    EXPECT_EQ(field(line, "reason"), "\"done\"") << line;
  }
  {
    // Closed by the gateway: the route is deleted under the session.
    Client client(gateway_.port, "/r1");
    ASSERT_TRUE(client.open());
    ASSERT_EQ(admin(verb::delete_, "/apisix/admin/routes/r1").status, 200);
    EXPECT_EQ(client.wait_closed(), 1001);
    const auto line = access_line();
    EXPECT_EQ(field(line, "closed_by"), "gateway") << line;
    EXPECT_EQ(field(line, "code"), "1001") << line;
    EXPECT_NE(line.find("reason=\"route deleted\""), std::string::npos) << line;
    EXPECT_EQ(field(line, "records"), "0") << line;
    EXPECT_EQ(field(line, "topics"), "\"\"") << line;
  }
}

TEST_F(OperatorLogsTest, TheAccessLineNamesTheConsumerAndQuotesWhatTheClientChose) {
  put_consumer({{"username", "alice"}, {"plugins", {{"key-auth", {{"key", "alice-key-1"}}}}}});
  put_route("auth", "/auth", {{"key-auth", json::object()}});
  Client client(gateway_.port, "/auth?apikey=alice-key-1");
  ASSERT_TRUE(client.open());
  client.close(4000, "bye \"now\" closed_by=gateway");
  const auto line = access_line();
  EXPECT_EQ(field(line, "consumer"), "alice") << line;
  EXPECT_EQ(field(line, "code"), "4000") << line;
  // The reason cannot end its quotes and add a field of its own.
  EXPECT_EQ(field(line, "closed_by"), "client") << line;
  EXPECT_NE(line.find(R"(reason="bye \"now\" closed_by=gateway")"), std::string::npos) << line;
}

TEST_F(OperatorLogsTest, XForwardedForFromAnUntrustedPeerIsIgnoredInTheLogAndInLimitConn) {
  put_route("lc", "/lc", limit_conn_1());
  Client first(gateway_.port, "/lc", {{"X-Forwarded-For", "198.51.100.7"}});
  ASSERT_TRUE(first.open());
  // Another forged address is the same client (127.0.0.1) to limit-conn: over its limit.
  Client second(gateway_.port, "/lc",
                {{"X-Forwarded-For", "198.51.100.8"}, {"X-Real-IP", "198.51.100.9"}});
  EXPECT_FALSE(second.open());
  EXPECT_EQ(second.status(), 503);
  const auto peer = first.peer();
  first.close(1000);
  const auto line = access_line();
  EXPECT_EQ(field(line, "client"), peer) << line;
  EXPECT_EQ(gateway_.process->transcript().find("198.51.100."), std::string::npos);
}

TEST_F(OperatorLogsTest, XForwardedForFromATrustedProxyNamesTheClient) {
  restart_trusting("[127.0.0.1/32]");
  put_route("lc", "/lc", limit_conn_1());
  // The right-most address that is not a trusted proxy: the left part is the client's own say.
  Client first(gateway_.port, "/lc", {{"X-Forwarded-For", "6.6.6.6, 198.51.100.7, 127.0.0.1"}});
  ASSERT_TRUE(first.open());
  // limit-conn counts per forwarded client: another one has its own place, the same one not.
  Client other(gateway_.port, "/lc", {{"X-Forwarded-For", "198.51.100.8"}});
  EXPECT_TRUE(other.open());
  Client again(gateway_.port, "/lc", {{"X-Forwarded-For", "198.51.100.7"}});
  EXPECT_FALSE(again.open());
  EXPECT_EQ(again.status(), 503);
  // X-Real-IP when there is no X-Forwarded-For.
  Client real_ip(gateway_.port, "/lc", {{"X-Real-IP", "198.51.100.9"}});
  EXPECT_TRUE(real_ip.open());
  // An entry that is not an address: the peer is the client.
  Client forged(gateway_.port, "/lc", {{"X-Forwarded-For", "198.51.100.10, not-an-ip"}});
  EXPECT_TRUE(forged.open());

  first.close(1000);
  auto line = access_line();
  EXPECT_EQ(field(line, "client"), "198.51.100.7") << line;
  forged.close(1000);
  line = access_line();
  EXPECT_EQ(field(line, "client"), forged.peer()) << line;
}

TEST_F(OperatorLogsTest, AMalformedTrustedProxyStopsStartUpNamingIt) {
  const auto config = dir_ / "bad.yaml";
  std::ofstream(config) << "trusted_proxies: [127.0.0.1/32, 10.0.0.0/40]\n";
  kpg::testing::ChildProcess gw({kpg::testing::gateway_binary(), "--config", config.string()});
  EXPECT_EQ(gw.stop(0, 10s), 2);
  EXPECT_NE(gw.transcript().find("trusted_proxies: '10.0.0.0/40' has a prefix length that is not "
                                 "0..32"),
            std::string::npos)
      << gw.transcript();
}

TEST_F(OperatorLogsTest, AdminPathsOnTheDataPortSayWhereTheAdminApiListens) {
  for (const auto method : {verb::get, verb::put, verb::post, verb::delete_, verb::patch}) {
    const auto r =
        kpg::testing::http_request(gateway_.port, method, "/apisix/admin/routes/1",
                                   std::string(kpg::testing::kAdminTestKey), R"({"uri":"/x"})");
    EXPECT_EQ(r.status, 404);
    EXPECT_EQ(r.header("Content-Type"), "application/json");
    EXPECT_EQ(r.json()["error_msg"],
              "the admin API is not served on this port: use http://127.0.0.1:" +
                  gateway_.admin_port + "/apisix/admin/...")
        << r.body;
    EXPECT_EQ(r.body.find(kpg::testing::kAdminTestKey), std::string::npos);
  }
  EXPECT_EQ(kpg::testing::http_request(gateway_.port, verb::get, "/apisix/admin").status, 404);
  // Elsewhere, the plain 404 as before.
  const auto other = kpg::testing::http_request(gateway_.port, verb::get, "/apisix/administrator");
  EXPECT_EQ(other.status, 404);
  EXPECT_EQ(other.body, "404 Not Found\n");
}

TEST_F(OperatorLogsTest, WithJsonFormatEveryLineIsOneJsonObject) {
  gateway_.process.reset();
  const auto config = dir_ / "json.yaml";
  std::ofstream(config) << "listen: 127.0.0.1:0\nadmin_listen: 127.0.0.1:0\n"
                        << "data_dir: " << (dir_ / "json-data").string() << "\n"
                        << "log_format: json\n";
  // No admin key configured: the line about the generated one is JSON too.
  kpg::testing::ChildProcess gw({kpg::testing::gateway_binary(), "--config", config.string()});
  auto port_of = [&](const std::string& event) {
    const auto line = gw.wait_for_line("\"event\":\"" + event + "\"", 15s);
    if (!line) return std::string();
    const std::string address = json::parse(*line)["address"];
    return address.substr(address.rfind(':') + 1);
  };
  const auto admin_port = port_of("admin_listening");
  const auto port = port_of("listening");
  ASSERT_FALSE(port.empty()) << gw.transcript();
  std::ifstream key_file(dir_ / "json-data" / "admin.key");
  std::string key;
  std::getline(key_file, key);
  auto body = route("/j");
  ASSERT_EQ(
      kpg::testing::http_request(admin_port, verb::put, "/apisix/admin/routes/j", key, body.dump())
          .status,
      201);
  const std::string reason = "a \"quoted\"\nline} {\\";
  {
    Client client(port, "/j");
    ASSERT_TRUE(client.open());
    client.request(kpg::testing::fetch_frame(1, "orders", 0, 1));
    client.close(4001, reason);
  }
  ASSERT_TRUE(gw.wait_for_line("event=access", 10s)) << gw.transcript();
  EXPECT_EQ(gw.stop(SIGTERM, 10s), 0);

  std::istringstream lines(gw.transcript());
  std::string line;
  int count = 0;
  json access;
  while (std::getline(lines, line)) {
    ++count;
    const auto object = json::parse(line, nullptr, false);
    ASSERT_TRUE(object.is_object()) << line;
    EXPECT_TRUE(object["time"].is_string()) << line;
    EXPECT_TRUE(object["level"].is_string()) << line;
    EXPECT_TRUE(object["message"].is_string()) << line;
    if (object.value("event", "") == "access") access = object;
  }
  EXPECT_GE(count, 5);
  ASSERT_TRUE(access.is_object()) << gw.transcript();
  EXPECT_EQ(access["route"], "j");
  EXPECT_EQ(access["topics"], "orders");
  EXPECT_EQ(access["records"], 2);
  EXPECT_EQ(access["code"], 4001);
  EXPECT_EQ(access["closed_by"], "client");
  EXPECT_EQ(access["reason"], reason);
  EXPECT_NE(gw.transcript().find("generated an admin API key in"), std::string::npos);
  EXPECT_EQ(gw.transcript().find(key), std::string::npos);
}

TEST_F(OperatorLogsTest, AnUnknownLogFormatIsRefused) {
  kpg::testing::ChildProcess gw({kpg::testing::gateway_binary(), "--log-format", "xml"});
  EXPECT_EQ(gw.stop(0, 10s), 2);
  EXPECT_NE(gw.transcript().find("--log-format: 'xml' is not one of text, json"), std::string::npos)
      << gw.transcript();
}

}  // namespace
