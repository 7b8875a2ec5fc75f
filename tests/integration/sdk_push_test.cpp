// The native SDK's push subscriptions against the real gateway (kpg-devkafka <- kpg-gateway):
// every record exactly once on a multi-partition topic while a producer writes, and zero credit
// delivers nothing until granted. A gateway that does not offer "push" in hello skips them (the
// SDK would fall back to fetch loops, which sdk_fallback_test covers).
#include "child_process.h"
#include "gateway_process.h"
#include "kafka/producer.h"
#include "record_collector.h"

#include <kpg/sdk/native_client.h>

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <map>
#include <set>
#include <thread>

namespace {

using namespace std::chrono_literals;
using kpg::testing::ChildProcess;

constexpr int kPartitions = 3;

class SdkPushTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    broker_ = new ChildProcess({KPG_DEVKAFKA_BIN, "mock", "--topic",
                                "push:" + std::to_string(kPartitions), "--topic", "credit:1",
                                "--topic", "headers:2"});
    auto line = broker_->wait_for_line("bootstrap=", 15s);
    ASSERT_TRUE(line) << "mock broker did not start: " << broker_->transcript();
    bootstrap_ = kpg::testing::field(*line, "bootstrap");
    dir_ = std::filesystem::temp_directory_path() / ("kpg-sdk-push-" + std::to_string(::getpid()));
    gateway_ = new kpg::testing::Gateway(kpg::testing::start_gateway(
        dir_,
        "routes:\n  - id: mock\n    uri: /kafka\n    upstream:\n      scheme: kafka\n"
        "      nodes:\n        \"" +
            bootstrap_ + "\": 1\n"));
  }
  static void TearDownTestSuite() {
    delete gateway_;
    delete broker_;
    std::filesystem::remove_all(dir_);
  }

  void SetUp() override {
    ASSERT_FALSE(gateway_->port.empty());
    auto connected = client_.connect("ws://127.0.0.1:" + gateway_->port + "/kafka");
    ASSERT_TRUE(connected) << connected.error().message;
    if (!client_.server_info().has("push")) GTEST_SKIP() << "the gateway does not offer push";
  }

  static inline ChildProcess* broker_ = nullptr;
  static inline kpg::testing::Gateway* gateway_ = nullptr;
  static inline std::string bootstrap_;
  static inline std::filesystem::path dir_;
  kpg::sdk::NativeClient client_;
};

TEST_F(SdkPushTest, EveryRecordExactlyOnceOnAMultiPartitionTopicWhileAProducerWrites) {
  constexpr int kPerPartition = 200;
  kpg::testing::RecordCollector seen;
  kpg::sdk::SubscribeOptions options;
  options.window = 2;  // small: credit runs out often while the producer writes
  auto sub =
      client_.subscribe_topic("push", {}, kpg::sdk::StartAt::earliest(), seen.handlers(), options);
  std::thread producer([] {
    kpg::kafka::Producer p(bootstrap_);
    for (int i = 0; i < kPerPartition; ++i) {
      for (int partition = 0; partition < kPartitions; ++partition) {
        ASSERT_EQ(p.produce("push", partition, std::nullopt,
                            std::to_string(partition) + "-" + std::to_string(i))
                      .error,
                  "");
      }
    }
  });
  producer.join();
  EXPECT_TRUE(seen.wait_for_count(kPerPartition * kPartitions, 30s))
      << seen.size() << (seen.failure() ? " " + seen.failure()->message : "");
  std::this_thread::sleep_for(200ms);  // nothing more may come
  sub->cancel();
  std::map<std::int32_t, std::int64_t> next;
  for (const auto& r : seen.records()) {
    ASSERT_EQ(r.offset, next[r.partition]) << "partition " << r.partition << ": no gap, no dup";
    EXPECT_EQ(r.value, std::to_string(r.partition) + "-" + std::to_string(r.offset));
    ++next[r.partition];
  }
  EXPECT_EQ(seen.size(), static_cast<std::size_t>(kPerPartition * kPartitions));
  for (int partition = 0; partition < kPartitions; ++partition) {
    EXPECT_EQ(next[partition], kPerPartition);
  }
}

TEST_F(SdkPushTest, ZeroCreditDeliversNothingUntilGranted) {
  kpg::kafka::Producer p(bootstrap_);
  for (int i = 0; i < 5; ++i) ASSERT_EQ(p.produce("credit", 0, std::nullopt, "c").error, "");
  kpg::testing::RecordCollector seen;
  kpg::sdk::SubscribeOptions pull;
  pull.pull = true;
  auto sub = client_.subscribe("credit", 0, kpg::sdk::StartAt::earliest(), seen.handlers(), pull);
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(seen.batches(), 0u) << "no credit, no records";
  sub->request(1);
  EXPECT_TRUE(seen.wait_for_batches(1, 10s));
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(seen.batches(), 1u) << "one credit, one frame";
  sub->cancel();
}

TEST_F(SdkPushTest, MetadataHeadersAndServerCodesFromTheRealGateway) {
  const auto info = client_.server_info();
  EXPECT_EQ(info.protocol_version, 1u);
  EXPECT_TRUE(info.has("metadata"));
  EXPECT_GT(info.limits.max_credit, 0u);

  kpg::kafka::Producer p(bootstrap_);
  ASSERT_EQ(p.produce("headers", 1, std::string("k"), "with headers", 5000,
                      {{"trace", "abc"}, {"bin", std::string("\0\xff", 2)}})
                .error,
            "");
  auto topics = client_.metadata({"headers"});
  ASSERT_TRUE(topics) << topics.error().message;
  ASSERT_EQ(topics.value().size(), 1u);
  ASSERT_EQ(topics.value()[0].partitions.size(), 2u);
  EXPECT_EQ(topics.value()[0].partitions[1].partition, 1);
  EXPECT_EQ(topics.value()[0].partitions[1].latest, 1);

  auto missing = client_.metadata({"no-such-topic"});
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().server_code, kpg::sdk::ServerCode::unknown_topic)
      << missing.error().message;

  kpg::testing::RecordCollector seen;
  auto sub = client_.subscribe_topic("headers", {}, kpg::sdk::StartAt::earliest(), seen.handlers());
  const bool got = seen.wait_for_count(1, 10s);
  sub->cancel();  // before any early return: the handlers use `seen`
  ASSERT_TRUE(got);
  const auto record = seen.records().front();
  EXPECT_EQ(record.partition, 1);
  EXPECT_EQ(record.value, "with headers");
  EXPECT_EQ(record.headers,
            (std::vector<kpg::sdk::Header>{{"trace", "abc"}, {"bin", std::string("\0\xff", 2)}}));
  // Fetch replies carry headers too once hello was said.
  auto fetched = client_.fetch("headers", 1, 0);
  ASSERT_TRUE(fetched) << fetched.error().message;
  ASSERT_EQ(fetched.value().size(), 1u);
  EXPECT_EQ(fetched.value()[0].headers, record.headers);
}

}  // namespace
