// /metrics, /healthz and /readyz on the real kpg-gateway process in front of a real
// Kafka-protocol broker (kpg-devkafka): traffic of known shape goes through the gateway, then the
// counters are read back and the whole exposition is checked by promtool, Prometheus' own parser.
#include "child_process.h"
#include "gateway_process.h"
#include "kafka/producer.h"
#include "prometheus_text.h"
#include "test_clients.h"

#include <kpg/pubsub.pb.h>

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

namespace {

using namespace std::chrono_literals;
using kpg::pubsub::CmdKafkaSubscribe;
using kpg::pubsub::PubSubReq;
using kpg::pubsub::PubSubResp;
using kpg::testing::ChildProcess;
using kpg::testing::Gateway;
using kpg::testing::http_request;
using kpg::testing::Labels;
using kpg::testing::sample;
namespace http = boost::beast::http;

constexpr const char* kAdminKey = "metrics-test-admin-key-0123456789";

// A raw PubSub connection whose reads give up after 10 s instead of hanging the test.
class Client {
 public:
  explicit Client(const std::string& port, const std::string& path, int receive_buffer = 0)
      : socket_(port, path, receive_buffer) {}
  PubSubResp request(const PubSubReq& req) {
    socket_.send_binary(req.SerializeAsString());
    return next();
  }
  PubSubResp next() {
    auto resp = socket_.receive();
    if (!resp) ADD_FAILURE() << "no frame within the timeout (or the connection closed)";
    return resp.value_or(PubSubResp{});
  }
  void send(const PubSubReq& req) { socket_.send_binary(req.SerializeAsString()); }

 private:
  kpg::testing::RawSocket socket_;
};

PubSubReq hello_req() {
  PubSubReq req;
  req.set_sequence(1);
  req.mutable_cmd_hello()->set_protocol_version(1);
  return req;
}

PubSubReq fetch_req(std::int64_t sequence, const std::string& topic) {
  PubSubReq req;
  req.set_sequence(sequence);
  req.mutable_cmd_kafka_fetch()->set_topic(topic);
  return req;
}

PubSubReq subscribe_req(std::int64_t sequence, const std::string& topic, std::uint32_t credit) {
  PubSubReq req;
  req.set_sequence(sequence);
  auto* cmd = req.mutable_cmd_kafka_subscribe();
  cmd->set_topic(topic);
  cmd->set_start(CmdKafkaSubscribe::EARLIEST);
  cmd->set_credit(credit);
  return req;
}

class MetricsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    broker_ = new ChildProcess({KPG_DEVKAFKA_BIN, "mock", "--topic", "orders:1", "--topic",
                                "flood:2", "--topic", "pairs:2"});
    auto line = broker_->wait_for_line("bootstrap=", 15s);
    ASSERT_TRUE(line) << broker_->transcript();
    bootstrap_ = kpg::testing::field(*line, "bootstrap");
    producer_ = new kpg::kafka::Producer(bootstrap_);
    for (int i = 0; i < 3; ++i) ASSERT_EQ(producer_->produce("orders", 0, "k", "v").error, "");
    for (int p = 0; p < 2; ++p) ASSERT_EQ(producer_->produce("pairs", p, "k", "v").error, "");
  }
  static void TearDownTestSuite() {
    delete producer_;
    delete broker_;
  }
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("kpg-metrics-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  Gateway start(const std::string& extra = "") {
    return kpg::testing::start_gateway(
        dir_, std::string("admin_key: ") + kAdminKey + "\n" + extra +
                  "routes:\n  - id: shop\n    uri: /shop\n    upstream: {scheme: kafka, "
                  "nodes: {\"" +
                  bootstrap_ + "\": 1}}\n");
  }

  // GET /metrics with no admin key: 200 and the text format.
  static std::string scrape(const std::string& port) {
    const auto r = http_request(port, http::verb::get, "/metrics");
    EXPECT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.header("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
    return r.body;
  }

  // Scrapes until `name{labels}` reaches `at_least` (what the gateway counts after answering, e.g.
  // a session's end, lands a moment later); returns the last scrape.
  static std::string scrape_until(const std::string& port, const std::string& name,
                                  const Labels& labels, double at_least) {
    std::string text;
    for (int i = 0; i < 100; ++i) {
      text = scrape(port);
      if (sample(text, name, labels).value_or(-1) >= at_least) return text;
      std::this_thread::sleep_for(50ms);
    }
    ADD_FAILURE() << name << " never reached " << at_least << ":\n" << text;
    return text;
  }

  // promtool's verdict on `text`: "" when it parses and passes its lint, else what it said.
  std::string promtool_check(const std::string& text) const {
    const auto file = dir_ / "metrics.txt";
    const auto out = dir_ / "promtool.out";
    std::ofstream(file) << text;
    const std::string command = std::string(KPG_PROMTOOL_BIN) + " check metrics < " +
                                file.string() + " > " + out.string() + " 2>&1";
    const int rc = std::system(command.c_str());
    std::ifstream in(out);
    const std::string said((std::istreambuf_iterator<char>(in)), {});
    return rc == 0 ? "" : "exit " + std::to_string(rc) + ": " + said;
  }

  static inline ChildProcess* broker_ = nullptr;
  static inline kpg::kafka::Producer* producer_ = nullptr;
  static inline std::string bootstrap_;
  std::filesystem::path dir_;
};

TEST_F(MetricsTest, HealthAndReadinessAnswerWithoutTheAdminKey) {
  auto gw = start();
  ASSERT_FALSE(gw.admin_port.empty());
  const auto health = http_request(gw.admin_port, http::verb::get, "/healthz");
  EXPECT_EQ(health.status, 200);
  EXPECT_EQ(health.body, "ok\n");
  const auto ready = http_request(gw.admin_port, http::verb::get, "/readyz");
  EXPECT_EQ(ready.status, 200);
  EXPECT_EQ(ready.body, "ready\n");
  // The rest of the admin API still wants the key.
  EXPECT_EQ(http_request(gw.admin_port, http::verb::get, "/apisix/admin/routes").status, 401);
  EXPECT_EQ(http_request(gw.admin_port, http::verb::post, "/metrics").status, 405);
  // The data port does not serve them: its paths are routes.
  EXPECT_EQ(http_request(gw.port, http::verb::get, "/metrics").status, 404);
}

TEST_F(MetricsTest, CountersMatchTheTrafficAndPromtoolAcceptsTheOutput) {
  auto gw = start();
  ASSERT_FALSE(gw.port.empty());
  const Labels shop{{"route", "shop"}};
  auto with = [](Labels labels, const std::string& key, const std::string& value) {
    labels[key] = value;
    return labels;
  };
  auto command = [&](const std::string& name, const std::string& outcome) {
    return with(with(shop, "command", name), "outcome", outcome);
  };

  // Refused before any session: a path with no route, and an upgrade on one.
  EXPECT_EQ(http_request(gw.port, http::verb::get, "/nowhere").status, 404);
  EXPECT_EQ(http_request(gw.port, http::verb::get, "/shop").status, 400);

  {
    Client apisix(gw.port, "/shop");  // no hello: APISIX's commands only
    PubSubReq ping;
    ping.set_sequence(2);
    ping.mutable_cmd_ping()->set_state("x");
    ASSERT_TRUE(apisix.request(ping).has_pong_resp());
    const auto fetched = apisix.request(fetch_req(3, "orders"));
    ASSERT_TRUE(fetched.has_kafka_fetch_resp()) << fetched.ShortDebugString();
    ASSERT_EQ(fetched.kafka_fetch_resp().messages_size(), 3);
    ASSERT_TRUE(apisix.request(fetch_req(4, "missing")).has_error_resp());

    // One credit for two partitions with a record each: both are read at once, the first batch
    // takes the credit and the second is held.
    Client pusher(gw.port, "/shop");
    ASSERT_TRUE(pusher.request(hello_req()).has_hello_resp());
    const auto sub = pusher.request(subscribe_req(5, "pairs", 1));
    ASSERT_TRUE(sub.has_kafka_subscribe_resp()) << sub.ShortDebugString();
    const auto records = pusher.next();
    ASSERT_TRUE(records.has_kafka_records()) << records.ShortDebugString();
    ASSERT_EQ(records.kafka_records().messages_size(), 1);
    const std::string sent = std::to_string(records.kafka_records().partition());
    const std::string held = sent == "0" ? "1" : "0";

    const auto text = scrape_until(gw.admin_port, "kpg_credit_stalls_total", shop, 1);
    EXPECT_EQ(sample(text, "kpg_websocket_connections", shop), 2);
    EXPECT_EQ(sample(text, "kpg_commands_total", command("ping", "ok")), 1);
    EXPECT_EQ(sample(text, "kpg_commands_total", command("fetch", "ok")), 1);
    EXPECT_EQ(sample(text, "kpg_commands_total", command("fetch", "error")), 1);
    EXPECT_EQ(sample(text, "kpg_commands_total", command("hello", "ok")), 1);
    EXPECT_EQ(sample(text, "kpg_commands_total", command("subscribe", "ok")), 1);
    EXPECT_EQ(sample(text, "kpg_commands_total", command("subscribe", "error")), 0);
    EXPECT_EQ(sample(text, "kpg_records_delivered_total", with(shop, "mode", "fetch")), 3);
    EXPECT_EQ(sample(text, "kpg_records_delivered_total", with(shop, "mode", "push")), 1);
    EXPECT_GT(sample(text, "kpg_delivered_bytes_total", with(shop, "mode", "fetch")).value_or(0),
              3 * 2);
    EXPECT_GT(sample(text, "kpg_delivered_bytes_total", with(shop, "mode", "push")).value_or(0), 2);
    EXPECT_EQ(sample(text, "kpg_push_deliveries_total", shop), 1);
    EXPECT_EQ(sample(text, "kpg_credit_stalls_total", shop), 1);
    // The partition sent is read to its end; the held one is a record behind.
    EXPECT_EQ(sample(text, "kpg_consumer_lag_records",
                     {{"route", "shop"}, {"topic", "pairs"}, {"partition", sent}}),
              0);
    EXPECT_EQ(sample(text, "kpg_consumer_lag_records",
                     {{"route", "shop"}, {"topic", "pairs"}, {"partition", held}}),
              1);
    EXPECT_EQ(sample(text, "kpg_handshakes_refused_total", {{"reason", "not_found"}}), 1);
    EXPECT_EQ(sample(text, "kpg_handshakes_refused_total", {{"reason", "bad_request"}}), 1);
    EXPECT_EQ(sample(text, "kpg_handshakes_refused_total", {{"reason", "unauthorized"}}), 0);
    EXPECT_GE(sample(text, "kpg_kafka_request_duration_seconds_count", {{"request", "metadata"}})
                  .value_or(0),
              1);
    EXPECT_GE(sample(text, "kpg_kafka_request_duration_seconds_count", {{"request", "position"}})
                  .value_or(0),
              1);
    EXPECT_EQ(sample(text, "kpg_kafka_errors_total", {{"kind", "unreachable"}}), 0);
    EXPECT_EQ(sample(text, "kpg_config_store_up"), 1);
    EXPECT_EQ(sample(text, "kpg_config_revision"), 0);
    EXPECT_EQ(promtool_check(text), "");
  }

  // The sessions are gone: no connection left, and no lag for a partition nobody reads.
  auto text = scrape(gw.admin_port);
  for (int i = 0; i < 100 && sample(text, "kpg_websocket_connections", shop) != 0; ++i) {
    std::this_thread::sleep_for(50ms);
    text = scrape(gw.admin_port);
  }
  EXPECT_EQ(sample(text, "kpg_websocket_connections", shop), 0);
  EXPECT_EQ(text.find("kpg_consumer_lag_records{"), std::string::npos) << text;

  // An admin change moves the file store's revision.
  const auto put = http_request(gw.admin_port, http::verb::put, "/apisix/admin/routes/more",
                                std::string(kAdminKey),
                                R"({"uri":"/more","upstream":{"scheme":"kafka","type":"none",)"
                                R"("nodes":{")" +
                                    bootstrap_ + R"(":1}}})");
  ASSERT_EQ(put.status, 201) << put.body;
  text = scrape(gw.admin_port);
  EXPECT_EQ(sample(text, "kpg_config_revision"), 1);
  EXPECT_EQ(promtool_check(text), "");
}

// A client that takes no data is closed after write_timeout_ms, and counted as a slow client.
TEST_F(MetricsTest, ASlowClientCloseIsCounted) {
  const std::vector<std::string> values(40, std::string(100 * 1024, 'f'));
  for (int p = 0; p < 2; ++p) ASSERT_EQ(producer_->produce_many("flood", p, values), "");
  auto gw =
      start("write_timeout_ms: 500\nmax_write_queue_bytes: 1048576\nfetch_max_bytes: 262144\n");
  ASSERT_FALSE(gw.port.empty());
  Client stalled(gw.port, "/shop", 4096);
  ASSERT_TRUE(stalled.request(hello_req()).has_hello_resp());
  ASSERT_TRUE(stalled.request(subscribe_req(2, "flood", 1000)).has_kafka_subscribe_resp());
  // From here on it reads nothing.
  ASSERT_TRUE(gw.process->wait_for_line("event=write_timeout", 20s)) << "never closed";
  const auto text = scrape_until(gw.admin_port, "kpg_slow_client_closes_total",
                                 {{"route", "shop"}, {"reason", "write_timeout"}}, 1);
  EXPECT_EQ(sample(text, "kpg_slow_client_closes_total",
                   {{"route", "shop"}, {"reason", "write_timeout"}}),
            1);
  EXPECT_EQ(sample(text, "kpg_slow_client_closes_total",
                   {{"route", "shop"}, {"reason", "queue_overflow"}}),
            0);
}

// status_listen serves the three status endpoints on a port of its own, and nothing else.
TEST_F(MetricsTest, TheStatusListenerServesOnlyTheStatusEndpoints) {
  auto gw = start("status_listen: 127.0.0.1:0\n");
  ASSERT_FALSE(gw.port.empty());
  const auto& log = gw.process->transcript();
  const auto at = log.find("event=status_listening");
  ASSERT_NE(at, std::string::npos) << log;
  const auto line = log.substr(at, log.find('\n', at) - at);
  const auto address = kpg::testing::field(line, "address");
  const auto port = address.substr(address.rfind(':') + 1);

  EXPECT_EQ(http_request(port, http::verb::get, "/healthz").body, "ok\n");
  EXPECT_EQ(http_request(port, http::verb::get, "/readyz").status, 200);
  const auto text = scrape(port);
  EXPECT_EQ(sample(text, "kpg_config_store_up"), 1);
  EXPECT_EQ(promtool_check(text), "");
  const auto admin =
      http_request(port, http::verb::get, "/apisix/admin/routes", std::string(kAdminKey));
  EXPECT_EQ(admin.status, 404);
  EXPECT_NE(admin.body.find("/metrics, /healthz and /readyz only"), std::string::npos)
      << admin.body;
}

}  // namespace
