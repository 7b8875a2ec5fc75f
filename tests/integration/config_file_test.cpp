// The gateway's --config file against the real process: documents that YAML allows but a
// configuration cannot be (found by fuzz_config_yaml) stop start-up with exit status 2 and a
// message naming the file, never with an uncaught exception or unbounded work.
#include "child_process.h"
#include "gateway_process.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace {

using namespace std::chrono_literals;
using kpg::testing::ChildProcess;

class ConfigFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("kpg-config-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Starts the gateway on `yaml` and expects it to refuse with exit status 2 and `message`
  // (after the file name) in its output.
  void expect_refused(const std::string& yaml, const std::string& message) {
    const auto path = (dir_ / "gateway.yaml").string();
    std::ofstream(path) << yaml;
    ChildProcess gateway({kpg::testing::gateway_binary(), "--config", path});
    const auto line = gateway.wait_for_line(path + ": ", 10s);
    ASSERT_TRUE(line) << gateway.transcript();
    EXPECT_NE(line->find(message), std::string::npos) << *line;
    EXPECT_EQ(gateway.stop(0, 10s), 2) << gateway.transcript();
  }

  std::filesystem::path dir_;
};

TEST_F(ConfigFileTest, AListAsATopLevelKeyIsAConfigurationError) {
  expect_refused("listen: 127.0.0.1:0\n? [admin_listen]\n: 127.0.0.1:0\n",
                 "line 2: a mapping key must be a plain value, not a list or a mapping");
}

TEST_F(ConfigFileTest, AMappingAsAKeyInsideARouteIsAConfigurationError) {
  expect_refused("routes:\n  - id: a\n    uri: /a\n    ? {nodes: 1}\n    : x\n",
                 "routes[0]: line 4: a mapping key must be a plain value");
}

TEST_F(ConfigFileTest, AliasesThatExpandToAMillionValuesAreRefused) {
  // Six levels of ten aliases each: 36 short lines that stand for 10^6 values.
  std::string yaml =
      "routes:\n  - id: bomb\n    uri: /bomb\n    l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n";
  for (int level = 1; level <= 5; ++level) {
    const std::string prev = "*l" + std::to_string(level - 1);
    yaml += "    l" + std::to_string(level) + ": &l" + std::to_string(level) + " [";
    for (int i = 0; i < 10; ++i) yaml += (i ? ", " : "") + prev;
    yaml += "]\n";
  }
  expect_refused(yaml,
                 "routes[0]: the routes hold more than 100000 values once aliases are expanded");
}

// Reading pauses at half the write queue, so a whole reply must fit in the other half: a queue
// smaller than two replies would close clients for keeping up.
TEST_F(ConfigFileTest, AWriteQueueSmallerThanTwoRepliesIsAConfigurationError) {
  const auto path = (dir_ / "gateway.yaml").string();
  std::ofstream(path) << "max_write_queue_bytes: 1048576\nfetch_max_bytes: 1048576\n";
  ChildProcess gateway({KPG_GATEWAY_BIN, "--config", path});
  const auto line = gateway.wait_for_line("must be at least twice", 10s);
  ASSERT_TRUE(line) << gateway.transcript();
  EXPECT_NE(line->find("max_write_queue_bytes (1048576) must be at least twice fetch_max_bytes "
                       "(1048576)"),
            std::string::npos)
      << *line;
  EXPECT_EQ(gateway.stop(0, 10s), 2) << gateway.transcript();
}

// Each APISIX fetch-loop client keeps a request queued per Kafka cluster: the bound is a setting,
// and a value outside its range stops start-up naming the key rather than being clamped quietly.
TEST_F(ConfigFileTest, TheQueuedRequestBoundIsASettingWithARange) {
  const auto started =
      kpg::testing::start_gateway(dir_ / "ok", "kafka_max_queued_requests: 20000\n");
  EXPECT_FALSE(started.port.empty());

  const auto path = (dir_ / "gateway.yaml").string();
  std::ofstream(path) << "kafka_max_queued_requests: 15\n";
  ChildProcess gateway({kpg::testing::gateway_binary(), "--config", path});
  const auto line = gateway.wait_for_line("kafka_max_queued_requests", 10s);
  ASSERT_TRUE(line) << gateway.transcript();
  EXPECT_NE(line->find("kafka_max_queued_requests: 15 is outside 16..1000000"), std::string::npos)
      << *line;
  EXPECT_EQ(gateway.stop(0, 10s), 2) << gateway.transcript();
}

}  // namespace
