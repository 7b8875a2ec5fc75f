// Cluster mode against a real etcd (Debian's etcd-server) and real gateway processes: a change
// made through one gateway's admin API is served by the others, a deletion closes the sessions
// of the route on every gateway, an etcd outage leaves the last configuration serving, and a
// watch whose revision was compacted away reads everything again.
#include "admin_fixture.h"
#include "etcd_process.h"
#include "local_net.h"
#include "store/etcd_codec.h"

#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <deque>
#include <thread>

namespace {

using namespace std::chrono_literals;
using kpg::testing::EtcdProcess;
using kpg::testing::Gateway;
using kpg::testing::http_request;
using kpg::testing::RawSocket;
using kpg::testing::start_gateway;
using nlohmann::json;
using verb = boost::beast::http::verb;

constexpr const char* kKey = kpg::testing::kAdminTestKey;

// True when `condition` holds before `timeout` passes (checked every 20 ms).
template <class Condition>
bool eventually(Condition condition, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  do {
    if (condition()) return true;
    std::this_thread::sleep_for(20ms);
  } while (std::chrono::steady_clock::now() < deadline);
  return condition();
}

// Whether `path` on the gateway at `port` is a route that reads the suite's broker: the
// WebSocket opens and a list-offsets request is answered with topic "orders"' end.
bool serves(const std::string& port, const std::string& path) {
  try {
    RawSocket socket(port, path);
    kpg::pubsub::PubSubReq req;
    req.set_sequence(1);
    req.mutable_cmd_kafka_list_offset()->set_topic("orders");
    req.mutable_cmd_kafka_list_offset()->set_partition(0);
    req.mutable_cmd_kafka_list_offset()->set_timestamp(-1);
    socket.send_binary(req.SerializeAsString());
    const auto resp = socket.receive();
    return resp && resp->has_kafka_list_offset_resp() &&
           resp->kafka_list_offset_resp().offset() == 3;
  } catch (const std::exception&) {
    return false;  // refused upgrade (404), connection refused
  }
}

class ClusterTest : public kpg::testing::AdminFixture {
 protected:
  void SetUp() override {
    AdminFixture::SetUp();  // a file-mode gateway_ (unused here) and the per-test dir_
    etcd_ = std::make_unique<EtcdProcess>(dir_ / "etcd-node");
    ASSERT_TRUE(etcd_->start());
  }
  void TearDown() override {
    for (auto& g : gateways_) g.process.reset();
    etcd_.reset();
    AdminFixture::TearDown();
  }

  std::string cluster_config(const std::string& extra = "") const {
    return std::string("admin_key: ") + kKey + "\netcd:\n  host: [\"" + etcd_->url() +
           "\"]\n  prefix: /kpg-test\n  timeout_ms: 2000\n" + extra;
  }
  // Starts gateway `name` in cluster mode on the test's etcd.
  Gateway& start_member(const std::string& name, const std::string& extra = "") {
    gateways_.push_back(start_gateway(dir_ / name, cluster_config(extra)));
    return gateways_.back();
  }
  kpg::testing::HttpResult admin_of(const Gateway& g, verb method, const std::string& target,
                                    const std::string& body = "") const {
    return http_request(g.admin_port, method, target, std::string(kKey), body);
  }
  // A request to etcd's JSON API.
  json etcd_call(const std::string& path, const json& body) const {
    auto r =
        http_request(std::to_string(etcd_->port()), verb::post, path, std::nullopt, body.dump());
    EXPECT_EQ(r.status, 200) << path << ": " << r.body;
    return r.json();
  }
  json etcd_put(const std::string& key, const json& value) const {
    return etcd_call("/v3/kv/put", {{"key", kpg::store::base64_encode(key)},
                                    {"value", kpg::store::base64_encode(value.dump())}});
  }

  std::unique_ptr<EtcdProcess> etcd_;
  std::deque<Gateway> gateways_;
};

TEST_F(ClusterTest, ARouteCreatedThroughOneGatewayIsServedByTheOthersWithinASecond) {
  auto& a = start_member("a");
  auto& b = start_member("b");
  auto& c = start_member("c");
  ASSERT_FALSE(a.port.empty() || b.port.empty() || c.port.empty());
  EXPECT_FALSE(serves(b.port, "/shared"));

  auto created = admin_of(a, verb::put, "/apisix/admin/routes/shared", route("/shared").dump());
  ASSERT_EQ(created.status, 201) << created.body;
  EXPECT_EQ(created.json()["key"], "/apisix/routes/shared");
  EXPECT_TRUE(serves(a.port, "/shared")) << "the gateway that made the change serves it at once";
  EXPECT_TRUE(eventually([&] { return serves(b.port, "/shared"); }, 1s));
  EXPECT_TRUE(eventually([&] { return serves(c.port, "/shared"); }, 1s));

  // Stored under APISIX's key layout with the configured prefix, as the admin API shows it.
  auto stored =
      etcd_call("/v3/kv/range", {{"key", kpg::store::base64_encode("/kpg-test/routes/shared")}});
  ASSERT_EQ(stored["kvs"].size(), 1u) << stored;
  auto value =
      json::parse(*kpg::store::base64_decode(stored["kvs"][0]["value"].get<std::string>()));
  EXPECT_EQ(value["uri"], "/shared");
  EXPECT_EQ(value["id"], "shared");

  // Every gateway's admin API shows it; consumers travel the same way.
  EXPECT_EQ(admin_of(c, verb::get, "/apisix/admin/routes/shared").status, 200);
  auto consumer = admin_of(
      b, verb::put, "/apisix/admin/consumers",
      json{{"username", "alice"}, {"plugins", {{"key-auth", {{"key", "alice-key-123"}}}}}}.dump());
  ASSERT_EQ(consumer.status, 201) << consumer.body;
  EXPECT_TRUE(eventually(
      [&] { return admin_of(a, verb::get, "/apisix/admin/consumers/alice").status == 200; }, 1s));
}

TEST_F(ClusterTest, DeletingARouteOnOneGatewayClosesItsSessionsOnAnother) {
  auto& a = start_member("a");
  auto& b = start_member("b");
  ASSERT_FALSE(a.port.empty() || b.port.empty());
  ASSERT_EQ(admin_of(b, verb::put, "/apisix/admin/routes/r", route("/r").dump()).status, 201);
  ASSERT_TRUE(eventually([&] { return serves(a.port, "/r"); }, 1s));

  RawSocket session(a.port, "/r");
  auto deleted = admin_of(b, verb::delete_, "/apisix/admin/routes/r");
  ASSERT_EQ(deleted.status, 200) << deleted.body;
  EXPECT_FALSE(session.receive()) << "the session on the other gateway was closed";
  EXPECT_EQ(session.close_code(), 1001);
  EXPECT_EQ(session.close_reason(), "route deleted");
  EXPECT_FALSE(serves(a.port, "/r"));
  EXPECT_EQ(admin_of(a, verb::get, "/apisix/admin/routes/r").status, 404);
}

TEST_F(ClusterTest, WhileEtcdIsDownEveryGatewayServesTheLastConfigAndCatchesUpWhenItReturns) {
  auto& a = start_member("a");
  auto& b = start_member("b");
  ASSERT_FALSE(a.port.empty() || b.port.empty());
  ASSERT_EQ(admin_of(a, verb::put, "/apisix/admin/routes/kept", route("/kept").dump()).status, 201);
  ASSERT_TRUE(eventually([&] { return serves(b.port, "/kept"); }, 1s));

  // Metrics: the watch is up, and the revision is etcd's of the last change applied.
  auto metric = [](const Gateway& g, const std::string& name) {
    const auto text = http_request(g.admin_port, verb::get, "/metrics").body;
    const auto at = text.find("\n" + name + " ");
    return at == std::string::npos ? -1.0 : std::stod(text.substr(at + name.size() + 2));
  };
  const auto stored =
      etcd_call("/v3/kv/range", {{"key", kpg::store::base64_encode("/kpg-test/routes/kept")}});
  const double kept_revision = std::stod(stored["kvs"][0]["mod_revision"].get<std::string>());
  EXPECT_EQ(metric(a, "kpg_config_store_up"), 1);
  EXPECT_TRUE(eventually([&] { return metric(a, "kpg_config_revision") == kept_revision; }, 1s));
  EXPECT_TRUE(eventually([&] { return metric(b, "kpg_config_revision") == kept_revision; }, 1s));

  etcd_->stop();
  ASSERT_TRUE(a.process->wait_for_line("event=config_store_down", 10s)) << a.process->transcript();
  EXPECT_EQ(metric(a, "kpg_config_store_up"), 0);
  ASSERT_TRUE(b.process->wait_for_line("event=config_store_down", 10s)) << b.process->transcript();
  EXPECT_TRUE(serves(a.port, "/kept"));
  EXPECT_TRUE(serves(b.port, "/kept"));
  // A change cannot be stored: refused with the reason, and nothing changes locally.
  auto refused = admin_of(a, verb::put, "/apisix/admin/routes/new", route("/new").dump());
  EXPECT_EQ(refused.status, 503) << refused.body;
  EXPECT_NE(refused.json().value("error_msg", "").find("configuration store is unavailable"),
            std::string::npos)
      << refused.body;
  EXPECT_EQ(admin_of(a, verb::get, "/apisix/admin/routes/new").status, 404);

  ASSERT_TRUE(etcd_->start());
  // A change made in etcd before the gateways have reconnected is applied once they have.
  etcd_put("/kpg-test/routes/later", [&] {
    auto r = route("/later");
    r["id"] = "later";
    return r;
  }());
  EXPECT_TRUE(eventually([&] { return serves(a.port, "/later"); }, 15s));
  EXPECT_TRUE(eventually([&] { return serves(b.port, "/later"); }, 15s));
  EXPECT_TRUE(serves(b.port, "/kept"));
  ASSERT_EQ(admin_of(b, verb::put, "/apisix/admin/routes/new", route("/new").dump()).status, 201);
  EXPECT_TRUE(eventually([&] { return serves(a.port, "/new"); }, 1s));
}

TEST_F(ClusterTest, AWatchWhoseRevisionWasCompactedReadsEverythingAgain) {
  auto& a = start_member("a");
  ASSERT_FALSE(a.port.empty());
  ASSERT_EQ(admin_of(a, verb::put, "/apisix/admin/routes/old", route("/old").dump()).status, 201);
  etcd_->stop();
  ASSERT_TRUE(a.process->wait_for_line("event=config_store_down", 10s)) << a.process->transcript();
  // The gateway is frozen while etcd returns, changes and compacts: when it resumes, the revision
  // it would watch from is gone, however long each step took.
  ASSERT_EQ(::kill(a.process->pid(), SIGSTOP), 0);
  const bool restarted = etcd_->start();
  auto fresh = route("/fresh");
  fresh["id"] = "fresh";
  if (restarted) {
    etcd_put("/kpg-test/routes/fresh", fresh);
    etcd_call("/v3/kv/deleterange", {{"key", kpg::store::base64_encode("/kpg-test/routes/old")}});
    const auto last = etcd_put("/kpg-test/unrelated", json{{"x", 1}});
    etcd_call("/v3/kv/compaction", {{"revision", last["header"]["revision"]}, {"physical", true}});
  }
  ASSERT_EQ(::kill(a.process->pid(), SIGCONT), 0);
  ASSERT_TRUE(restarted);

  ASSERT_TRUE(a.process->wait_for_line("event=config_store_compacted", 20s))
      << a.process->transcript();
  EXPECT_TRUE(eventually([&] { return serves(a.port, "/fresh"); }, 5s));
  EXPECT_FALSE(serves(a.port, "/old"));
  EXPECT_EQ(admin_of(a, verb::get, "/apisix/admin/routes/old").status, 404);
}

TEST_F(ClusterTest, InvalidValuesWrittenToEtcdByHandAreSkippedAndTheLastGoodOneKept) {
  auto& a = start_member("a");
  ASSERT_FALSE(a.port.empty());
  ASSERT_EQ(admin_of(a, verb::put, "/apisix/admin/routes/r", route("/r").dump()).status, 201);
  etcd_put("/kpg-test/routes/r",
           json{{"uri", "/r"}, {"plugins", {{"no-such-plugin", json::object()}}}});
  ASSERT_TRUE(a.process->wait_for_line("event=stored_route_invalid route=r", 5s))
      << a.process->transcript();
  EXPECT_TRUE(serves(a.port, "/r"));
  // The next good value applies.
  auto moved = route("/moved");
  moved["id"] = "r";
  etcd_put("/kpg-test/routes/r", moved);
  EXPECT_TRUE(eventually([&] { return serves(a.port, "/moved"); }, 1s));
  EXPECT_FALSE(serves(a.port, "/r"));
}

TEST_F(ClusterTest, EtcdAuthenticationWithUserAndPassword) {
  // Enable etcd's authentication: a root user with a password.
  etcd_call("/v3/auth/user/add", {{"name", "root"}, {"password", "root-secret"}});
  etcd_call("/v3/auth/user/grant", {{"user", "root"}, {"role", "root"}});
  etcd_call("/v3/auth/enable", json::object());

  auto& a = start_member("a", "  user: root\n  password: root-secret\n");
  ASSERT_FALSE(a.port.empty());
  ASSERT_EQ(admin_of(a, verb::put, "/apisix/admin/routes/r", route("/r").dump()).status, 201);
  EXPECT_TRUE(serves(a.port, "/r"));

  // A wrong password: the gateway does not start, and says why.
  std::filesystem::create_directories(dir_ / "bad");
  std::ofstream(dir_ / "bad" / "gateway.yaml")
      << "listen: 127.0.0.1:0\nadmin_listen: 127.0.0.1:0\ndata_dir: " << (dir_ / "bad").string()
      << "\n"
      << cluster_config("  user: root\n  password: wrong\n");
  kpg::testing::ChildProcess bad(
      {kpg::testing::gateway_binary(), "--config", (dir_ / "bad" / "gateway.yaml").string()});
  const auto line = bad.wait_for_line("etcd refused user 'root'", 10s);
  EXPECT_TRUE(line) << bad.transcript();
  EXPECT_EQ(bad.stop(0, 10s), 1) << bad.transcript();
}

TEST_F(ClusterTest, RoutesOfTheConfigFileCannotBeChangedThroughTheAdminApi) {
  auto file_route = route("/from-file");
  auto& a = start_member("a",
                         "routes:\n  - id: fixed\n    uri: /from-file\n    upstream: {scheme: "
                         "kafka, type: none, nodes: {\"" +
                             bootstrap_ + "\": 1}}\n");
  ASSERT_FALSE(a.port.empty());
  EXPECT_TRUE(serves(a.port, "/from-file"));
  auto put = admin_of(a, verb::put, "/apisix/admin/routes/fixed", route("/elsewhere").dump());
  EXPECT_EQ(put.status, 400);
  EXPECT_NE(put.json().value("error_msg", "").find("defined in the gateway's config file"),
            std::string::npos)
      << put.body;
  EXPECT_EQ(admin_of(a, verb::delete_, "/apisix/admin/routes/fixed").status, 400);
  EXPECT_TRUE(serves(a.port, "/from-file"));
  // A value another tool wrote to etcd under that id does not shadow the file's route.
  auto other = route("/shadow");
  other["id"] = "fixed";
  etcd_put("/kpg-test/routes/fixed", other);
  ASSERT_TRUE(a.process->wait_for_line("event=stored_route_skipped route=fixed", 5s));
  EXPECT_TRUE(serves(a.port, "/from-file"));
  EXPECT_FALSE(serves(a.port, "/shadow"));
}

TEST_F(ClusterTest, EtcdOverTlsIsVerifiedAgainstTheConfiguredCa) {
  const auto d = (dir_ / "pki").string();
  std::filesystem::create_directories(d);
  std::ofstream(d + "/san.cnf") << "subjectAltName=IP:127.0.0.1\n";
  for (const std::string& command :
       {"openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=etcd-ca -keyout " + d +
            "/ca.key -out " + d + "/ca.pem",
        "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=other-ca -keyout " + d +
            "/other.key -out " + d + "/other.pem",
        "openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout " + d +
            "/server.key -out " + d + "/server.csr",
        "openssl x509 -req -days 2 -in " + d + "/server.csr -CA " + d + "/ca.pem -CAkey " + d +
            "/ca.key -CAcreateserial -extfile " + d + "/san.cnf -out " + d + "/server.pem"}) {
    ASSERT_TRUE(kpg::testing::run_quietly(command)) << command;
  }
  EtcdProcess secure(dir_ / "secure-node");
  secure.use_tls(d + "/server.pem", d + "/server.key");
  ASSERT_TRUE(secure.start());
  auto config = [&](const std::string& ca) {
    return std::string("admin_key: ") + kKey + "\netcd:\n  host: [\"" + secure.url() +
           "\"]\n  tls: {ca_file: " + ca + "}\n";
  };
  auto good = start_gateway(dir_ / "tls-good", config(d + "/ca.pem"));
  ASSERT_FALSE(good.port.empty());
  ASSERT_EQ(http_request(good.admin_port, verb::put, "/apisix/admin/routes/r", std::string(kKey),
                         route("/r").dump())
                .status,
            201);
  EXPECT_TRUE(serves(good.port, "/r"));
  good.process.reset();

  // etcd's certificate is not signed by the CA given: the gateway does not start, and says why.
  std::filesystem::create_directories(dir_ / "tls-bad");
  std::ofstream(dir_ / "tls-bad" / "gateway.yaml")
      << "listen: 127.0.0.1:0\nadmin_listen: 127.0.0.1:0\ndata_dir: " << (dir_ / "tls-bad").string()
      << "\n"
      << config(d + "/other.pem");
  kpg::testing::ChildProcess bad(
      {kpg::testing::gateway_binary(), "--config", (dir_ / "tls-bad" / "gateway.yaml").string()});
  EXPECT_TRUE(bad.wait_for_line("TLS handshake failed", 10s)) << bad.transcript();
  EXPECT_EQ(bad.stop(0, 10s), 1) << bad.transcript();
}

}  // namespace
