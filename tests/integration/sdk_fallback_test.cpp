// The native SDK on a gateway that does not know the kpg extensions (kpg-apisix-double answers
// hello with "unknown command", as Apache APISIX does): the client falls back to the APISIX
// subset, subscriptions (also the whole-topic form, with partitions named) still deliver every
// record exactly once, in every delivery mode, and what the subset cannot do fails clearly.
#include "child_process.h"
#include "record_collector.h"

#include <kpg/sdk/native_client.h>

#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <thread>

namespace {

using namespace std::chrono_literals;
using kpg::testing::ChildProcess;

constexpr std::int64_t kMax = 150;

class SdkFallbackTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<ChildProcess>(
        std::vector<std::string>{KPG_APISIX_DOUBLE_BIN, "--records", "60", "--max",
                                 std::to_string(kMax), "--grow-every-ms", "10"});
    auto line = server_->wait_for_line("listening port=", 10s);
    ASSERT_TRUE(line) << server_->transcript();
    url_ = "ws://127.0.0.1:" + kpg::testing::field(*line, "port") + "/kafka";
    auto connected = client_.connect(url_);
    ASSERT_TRUE(connected) << connected.error().message;
  }

  static void expect_every_record_once(const std::vector<kpg::sdk::Record>& seen) {
    ASSERT_EQ(seen.size(), static_cast<std::size_t>(kMax));
    for (std::size_t i = 0; i < seen.size(); ++i) {
      ASSERT_EQ(seen[i].offset, static_cast<std::int64_t>(i)) << "no gap, no duplicate";
      EXPECT_EQ(seen[i].partition, 0);
      EXPECT_TRUE(seen[i].headers.empty());
    }
  }

  std::unique_ptr<ChildProcess> server_;
  std::string url_;
  kpg::sdk::NativeClient client_;
};

TEST_F(SdkFallbackTest, HelloFallsBackToTheApisixSubset) {
  const auto info = client_.server_info();
  EXPECT_FALSE(info.kpg());
  EXPECT_EQ(info.protocol_version, 0u);
  EXPECT_TRUE(info.features.empty());
  // The connection is usable as before: the hello did not disturb it.
  auto pong = client_.ping("still here");
  ASSERT_TRUE(pong) << pong.error().message;
  EXPECT_EQ(pong.value(), "still here");
}

TEST_F(SdkFallbackTest, MetadataFailsSayingTheGatewayDoesNotOfferIt) {
  auto topics = client_.metadata({"apisix"});
  ASSERT_FALSE(topics);
  EXPECT_EQ(topics.error().code, kpg::sdk::ErrorCode::server);
  EXPECT_EQ(topics.error().server_code, kpg::sdk::ServerCode::unknown_command);
  EXPECT_NE(topics.error().message.find("does not offer metadata"), std::string::npos)
      << topics.error().message;
}

TEST_F(SdkFallbackTest, SubscribeDeliversEveryRecordOnce) {
  kpg::testing::RecordCollector seen;
  auto sub = client_.subscribe("apisix", 0, kpg::sdk::StartAt::earliest(), seen.handlers());
  EXPECT_TRUE(seen.wait_for_count(kMax)) << (seen.failure() ? seen.failure()->message : "");
  sub->cancel();
  expect_every_record_once(seen.records());
  EXPECT_EQ(sub->next_offset(), kMax);
}

TEST_F(SdkFallbackTest, WholeTopicSubscribeNeedsNamedPartitions) {
  kpg::testing::RecordCollector all;
  auto sub = client_.subscribe_topic("apisix", {}, kpg::sdk::StartAt::earliest(), all.handlers());
  EXPECT_FALSE(all.wait_for_count(1, 5s));
  ASSERT_TRUE(all.failure());
  EXPECT_NE(all.failure()->message.find("name the partitions"), std::string::npos)
      << all.failure()->message;

  kpg::testing::RecordCollector named;
  auto ok = client_.subscribe_topic("apisix", {0}, kpg::sdk::StartAt::earliest(), named.handlers());
  EXPECT_TRUE(named.wait_for_count(kMax)) << (named.failure() ? named.failure()->message : "");
  ok->cancel();
  expect_every_record_once(named.records());
  EXPECT_EQ(ok->next_offsets(), (std::map<std::int32_t, std::int64_t>{{0, kMax}}));
}

TEST_F(SdkFallbackTest, PullModeDeliversOnlyWhatIsAskedFor) {
  kpg::testing::RecordCollector seen;
  kpg::sdk::SubscribeOptions options;
  options.pull = true;
  auto sub =
      client_.subscribe("apisix", 0, kpg::sdk::StartAt::earliest(), seen.handlers(), options);
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(seen.batches(), 0u) << "nothing asked for, nothing delivered";
  sub->request(2);
  EXPECT_TRUE(seen.wait_for_batches(2, 10s));
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(seen.batches(), 2u);
  while (seen.size() < static_cast<std::size_t>(kMax) && !seen.failure()) {
    const auto before = seen.batches();  // counted before asking: the batch may come at once
    sub->request(1);
    if (!seen.wait_for_batches(before + 1, 10s)) {
      ADD_FAILURE() << "no batch within 10 s of request(1), after " << before;
      break;  // (cancel first: the handlers use `seen`, which this scope owns)
    }
  }
  sub->cancel();
  expect_every_record_once(seen.records());
}

}  // namespace
