// A real kpg-gateway process per test (own data dir, admin key kAdminTestKey) in front of one
// kpg-devkafka broker per suite with topic "orders" (1 partition, 3 records). For integration
// tests of the admin API and of what it configures.
#pragma once

#include "child_process.h"
#include "gateway_process.h"
#include "kafka/producer.h"
#include "test_clients.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>

namespace kpg::testing {

inline constexpr const char* kAdminTestKey = "test-admin-key-0123456789";

class AdminFixture : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    using namespace std::chrono_literals;
    broker_ = new ChildProcess({KPG_DEVKAFKA_BIN, "mock", "--topic", "orders:1"});
    auto line = broker_->wait_for_line("bootstrap=", 15s);
    ASSERT_TRUE(line) << broker_->transcript();
    bootstrap_ = field(*line, "bootstrap");
    kafka::Producer producer(bootstrap_);
    for (int i = 0; i < 3; ++i) ASSERT_EQ(producer.produce("orders", 0, "k", "v").error, "");
  }
  static void TearDownTestSuite() {
    delete broker_;
    broker_ = nullptr;
  }

  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = std::filesystem::temp_directory_path() /
           ("kpg-admin-test-" + std::to_string(::getpid()) + "-" + info->test_suite_name() + "-" +
            info->name());
    std::filesystem::remove_all(dir_);
    gateway_ = start_gateway(dir_, std::string("admin_key: ") + kAdminTestKey + "\n");
  }
  void TearDown() override {
    gateway_.process.reset();
    std::filesystem::remove_all(dir_);
  }

  nlohmann::json route(const std::string& uri, const std::string& nodes = "") const {
    return nlohmann::json{{"uri", uri},
                          {"upstream",
                           {{"scheme", "kafka"},
                            {"type", "none"},
                            {"nodes", {{nodes.empty() ? bootstrap_ : nodes, 1}}}}}};
  }
  HttpResult admin(boost::beast::http::verb method, const std::string& target,
                   const std::string& body = "",
                   std::optional<std::string> key = std::string(kAdminTestKey)) const {
    return http_request(gateway_.admin_port, method, target, key, body);
  }
  /// Creates (or replaces) a consumer through the admin API.
  void put_consumer(const nlohmann::json& body) const {
    auto r = admin(boost::beast::http::verb::put, "/apisix/admin/consumers", body.dump());
    ASSERT_TRUE(r.status == 201 || r.status == 200) << r.body;
  }
  /// Creates route `id` at `uri` to the suite's broker, with `plugins` (none when empty).
  void put_route(const std::string& id, const std::string& uri,
                 const nlohmann::json& plugins) const {
    auto body = route(uri);
    if (!plugins.empty()) body["plugins"] = plugins;
    auto r = admin(boost::beast::http::verb::put, "/apisix/admin/routes/" + id, body.dump());
    ASSERT_EQ(r.status, 201) << r.body;
  }
  std::string url(const std::string& path) const {
    return "ws://127.0.0.1:" + gateway_.port + path;
  }

  static inline ChildProcess* broker_ = nullptr;
  static inline std::string bootstrap_;
  std::filesystem::path dir_;
  Gateway gateway_;
};

}  // namespace kpg::testing
