// The SDK needs nothing beyond what Apache APISIX serves: against kpg-apisix-double (an
// independent server with APISIX's four commands and its quirks: fetch replies that start before
// the requested offset, no waiting at the end of the log), subscriptions still deliver every
// record exactly once, in order, from every kind of start.
#include "child_process.h"
#include "record_collector.h"

#include <kpg/sdk/native_client.h>

#include <gtest/gtest.h>

namespace {

using namespace std::chrono_literals;
using kpg::testing::ChildProcess;

constexpr std::int64_t kBaseTimestamp = 1'700'000'000'000;
constexpr std::int64_t kMax = 200;

class ApisixDoubleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<ChildProcess>(std::vector<std::string>{
        KPG_APISIX_DOUBLE_BIN, "--records", "100", "--max", std::to_string(kMax), "--grow-every-ms",
        "10", "--base-timestamp", std::to_string(kBaseTimestamp)});
    auto line = server_->wait_for_line("listening port=", 10s);
    ASSERT_TRUE(line) << server_->transcript();
    url_ = "ws://127.0.0.1:" + kpg::testing::field(*line, "port") + "/kafka";
  }

  // Subscribes and waits until the log's last record arrived (or 20 s).
  std::vector<kpg::sdk::Record> subscribe_to_end(kpg::sdk::StartAt from) {
    kpg::sdk::NativeClient client;
    EXPECT_TRUE(client.connect(url_));
    kpg::testing::RecordCollector seen;
    auto sub = client.subscribe("apisix", 0, from, seen.handlers());
    seen.wait_until(
        [](const auto& records) { return !records.empty() && records.back().offset >= kMax - 1; });
    EXPECT_FALSE(seen.failure()) << seen.failure()->message;
    sub->cancel();
    return seen.records();
  }

  static void expect_consecutive(const std::vector<kpg::sdk::Record>& seen, std::int64_t first) {
    ASSERT_EQ(seen.size(), static_cast<std::size_t>(kMax - first));
    for (std::size_t i = 0; i < seen.size(); ++i) {
      const std::int64_t n = first + static_cast<std::int64_t>(i);
      ASSERT_EQ(seen[i].offset, n) << "no gap, no duplicate";
      EXPECT_EQ(seen[i].value, "apisix-" + std::to_string(n));
      EXPECT_EQ(seen[i].timestamp, kBaseTimestamp + n * 1000);
    }
  }

  std::unique_ptr<ChildProcess> server_;
  std::string url_;
};

TEST_F(ApisixDoubleTest, TheDoubleReallyBehavesLikeApisix) {
  kpg::sdk::NativeClient client;
  ASSERT_TRUE(client.connect(url_));
  auto fetched = client.fetch("apisix", 0, 13);
  ASSERT_TRUE(fetched) << fetched.error().message;
  ASSERT_FALSE(fetched.value().empty());
  EXPECT_EQ(fetched.value().front().offset, 8) << "a reply starts at the batch, before 13";
  auto at_time = client.list_offsets("apisix", 0, kBaseTimestamp + 50'500);
  ASSERT_TRUE(at_time);
  EXPECT_EQ(at_time.value(), 51);
}

TEST_F(ApisixDoubleTest, SubscribeFromEarliestSeesEveryRecordOnceWhileTheLogGrows) {
  expect_consecutive(subscribe_to_end(kpg::sdk::StartAt::earliest()), 0);
}

TEST_F(ApisixDoubleTest, SubscribeFromAnOffsetInsideABatchSkipsTheRecordsBeforeIt) {
  expect_consecutive(subscribe_to_end(kpg::sdk::StartAt::offset(13)), 13);
}

TEST_F(ApisixDoubleTest, SubscribeFromATimestampStartsAtTheFirstRecordAtOrAfterIt) {
  expect_consecutive(subscribe_to_end(kpg::sdk::StartAt::timestamp(kBaseTimestamp + 50'500)), 51);
}

TEST_F(ApisixDoubleTest, SubscribeFromLatestSeesOnlyNewRecords) {
  auto seen = subscribe_to_end(kpg::sdk::StartAt::latest());
  ASSERT_FALSE(seen.empty());
  EXPECT_GE(seen.front().offset, 100);
  expect_consecutive(seen, seen.front().offset);
}

}  // namespace
