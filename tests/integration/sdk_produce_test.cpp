// The native SDK's produce against the real gateway (kpg-gateway -> kpg-devkafka): a record
// produced through the gateway reads back whole (key, value, headers, timestamp), the batching
// producer writes many in order, and refusals carry their typed code.
#include "child_process.h"
#include "gateway_process.h"

#include <kpg/sdk/native_client.h>

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <mutex>
#include <vector>

namespace {

using namespace std::chrono_literals;
using kpg::sdk::ServerCode;
using kpg::testing::ChildProcess;

class SdkProduceTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    broker_ = new ChildProcess({KPG_DEVKAFKA_BIN, "mock", "--topic", "written:2", "--topic",
                                "batch:1", "--topic", "readonly:1"});
    auto line = broker_->wait_for_line("bootstrap=", 15s);
    ASSERT_TRUE(line) << "mock broker did not start: " << broker_->transcript();
    bootstrap_ = kpg::testing::field(*line, "bootstrap");
    dir_ =
        std::filesystem::temp_directory_path() / ("kpg-sdk-produce-" + std::to_string(::getpid()));
    const std::string upstream =
        "    upstream:\n      scheme: kafka\n      nodes:\n        \"" + bootstrap_ + "\": 1\n";
    gateway_ = new kpg::testing::Gateway(kpg::testing::start_gateway(
        dir_,
        "routes:\n"
        "  - id: writable\n    uri: /writable\n" +
            upstream +
            "    plugins:\n      kafka-proxy:\n        produce:\n"
            "          topics: [written, batch]\n          max_record_bytes: 1000\n"
            "  - id: readonly\n    uri: /readonly\n" +
            upstream));
  }
  static void TearDownTestSuite() {
    delete gateway_;
    delete broker_;
    std::filesystem::remove_all(dir_);
  }

  std::string url(const char* path) const { return "ws://127.0.0.1:" + gateway_->port + path; }

  static inline ChildProcess* broker_ = nullptr;
  static inline kpg::testing::Gateway* gateway_ = nullptr;
  static inline std::string bootstrap_;
  static inline std::filesystem::path dir_;
};

TEST_F(SdkProduceTest, ProducedRecordReadsBackWithKeyValueHeadersAndTimestamp) {
  kpg::sdk::NativeClient client;
  ASSERT_TRUE(client.connect(url("/writable")));
  ASSERT_TRUE(client.server_info().has("produce"));
  EXPECT_EQ(client.server_info().limits.max_record_bytes, 1000u);
  kpg::sdk::ProduceOptions options;
  options.key = std::string("k\0ey", 4);
  options.headers = {{"source", "native"}, {"bin", std::string("\x00\xff", 2)}};
  options.partition = 1;
  options.timestamp = 1767225600123;
  auto written = client.produce("written", std::string("value-1"), options);
  ASSERT_TRUE(written) << written.error().message;
  EXPECT_EQ(written.value().partition, 1);
  // Not written.value().timestamp: librdkafka's mock cluster acknowledges every record with a
  // made-up LogAppendTime (1234), which the gateway passes on; the record itself keeps its time.

  auto records = client.fetch("written", 1, written.value().offset);
  ASSERT_TRUE(records) << records.error().message;
  ASSERT_FALSE(records.value().empty());
  const auto& r = records.value().front();
  EXPECT_EQ(r.offset, written.value().offset);
  EXPECT_EQ(r.key, std::string("k\0ey", 4));
  EXPECT_EQ(r.value, "value-1");
  EXPECT_EQ(r.timestamp, 1767225600123);
  EXPECT_EQ(r.headers, options.headers);
}

TEST_F(SdkProduceTest, BatchingProducerWritesEveryRecordInSendOrder) {
  constexpr int kRecords = 500;
  std::mutex mutex;
  std::vector<std::int64_t> offsets(kRecords, -1);
  std::atomic<int> failures{0};
  kpg::sdk::NativeClient client;
  ASSERT_TRUE(client.connect(url("/writable")));
  auto producer = client.producer({.max_in_flight = 0, .linger_ms = 1});
  kpg::sdk::ProduceOptions options;
  options.partition = 0;
  for (int i = 0; i < kRecords; ++i) {
    producer->send("batch", "r" + std::to_string(i), options,
                   [&, i](kpg::sdk::Result<kpg::sdk::Produced> r) {
                     if (!r) {
                       ++failures;
                       return;
                     }
                     std::lock_guard lock(mutex);
                     offsets[static_cast<std::size_t>(i)] = r.value().offset;
                   });
  }
  producer->flush();
  EXPECT_EQ(failures.load(), 0);
  std::lock_guard lock(mutex);
  for (int i = 1; i < kRecords; ++i) {
    EXPECT_EQ(offsets[static_cast<std::size_t>(i)], offsets[0] + i) << "record " << i;
  }
  auto first = client.fetch("batch", 0, offsets[0]);
  ASSERT_TRUE(first);
  EXPECT_EQ(first.value().front().value, "r0");
}

TEST_F(SdkProduceTest, RefusalsAreTyped) {
  kpg::sdk::NativeClient readonly;
  ASSERT_TRUE(readonly.connect(url("/readonly")));
  auto none = readonly.produce("readonly", std::string("x"));
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().server_code, ServerCode::unknown_command);
  EXPECT_FALSE(none.error().possibly_written);

  kpg::sdk::NativeClient client;
  ASSERT_TRUE(client.connect(url("/writable")));
  auto denied = client.produce("readonly", std::string("x"));
  ASSERT_FALSE(denied);
  EXPECT_EQ(denied.error().server_code, ServerCode::not_allowed) << denied.error().message;
  EXPECT_FALSE(denied.error().possibly_written);
  auto large = client.produce("written", std::string(1001, 'x'));
  ASSERT_FALSE(large);
  EXPECT_EQ(large.error().server_code, ServerCode::record_too_large);
}

}  // namespace
