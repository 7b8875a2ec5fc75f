// The native SDK's filters and snapshot subscriptions against the real gateway and a
// Kafka-protocol broker, on the same records and with the same expectations as the WASM build's
// tests/wasm/sdk_filter.test.mjs (both builds give identical results): a filtered subscription
// gets only matching records and its next offset still reaches the end; a filtered fetch says
// where to go on; a malformed filter is refused before anything is sent; a snapshot delivers the
// latest record per key (tombstones drop keys), reports each partition's end, then goes live.
#include "child_process.h"
#include "gateway_process.h"

#include <kpg/sdk/native_client.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;
using kpg::sdk::Filter;
using kpg::testing::ChildProcess;

class SdkFilterTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    broker_ = new ChildProcess(
        {KPG_DEVKAFKA_BIN, "mock", "--topic", "native-filter:1", "--topic", "native-state:2"});
    auto line = broker_->wait_for_line("bootstrap=", 15s);
    ASSERT_TRUE(line) << "mock broker did not start: " << broker_->transcript();
    const auto bootstrap = kpg::testing::field(*line, "bootstrap");
    dir_ =
        std::filesystem::temp_directory_path() / ("kpg-sdk-filter-" + std::to_string(::getpid()));
    gateway_ = new kpg::testing::Gateway(kpg::testing::start_gateway(
        dir_,
        "routes:\n  - id: rw\n    uri: /rw\n    upstream:\n      scheme: kafka\n"
        "      nodes:\n        \"" +
            bootstrap +
            "\": 1\n    plugins:\n      kafka-proxy:\n        produce:\n"
            "          topics: [\"*\"]\n"));
    kpg::sdk::NativeClient writer;
    ASSERT_TRUE(writer.connect(url()));
    auto put = [&](const std::string& topic, int partition, const std::string& key,
                   const std::string& value, std::vector<kpg::sdk::Header> headers = {}) {
      kpg::sdk::ProduceOptions options;
      options.key = key;
      options.partition = partition;
      options.headers = std::move(headers);
      auto written = writer.produce(topic, value, options);
      ASSERT_TRUE(written) << written.error().message;
    };
    put("native-filter", 0, "eu-1", R"({"status":"paid","total":10})", {{"region", "eu"}});
    put("native-filter", 0, "na-1", R"({"status":"open","total":50})", {{"region", "na"}});
    put("native-filter", 0, "eu-2", R"({"status":"open","total":70})", {{"region", "eu"}});
    put("native-state", 0, "k1", "v1");
    put("native-state", 0, "k2", "v2");
    put("native-state", 0, "k1", "v3");
    put("native-state", 0, "k2", "");  // a tombstone: k2 is gone
  }
  static void TearDownTestSuite() {
    delete gateway_;
    delete broker_;
    std::filesystem::remove_all(dir_);
  }

  static std::string url() { return "ws://127.0.0.1:" + gateway_->port + "/rw"; }

  static bool wait_until(const std::function<bool()>& done, std::chrono::milliseconds limit = 10s) {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (!done()) {
      if (std::chrono::steady_clock::now() > end) return false;
      std::this_thread::sleep_for(20ms);
    }
    return true;
  }

  static inline ChildProcess* broker_ = nullptr;
  static inline kpg::testing::Gateway* gateway_ = nullptr;
  static inline std::filesystem::path dir_;
};

TEST_F(SdkFilterTest, TheGatewayAnnouncesFiltersAndSnapshotsWithTheirLimits) {
  kpg::sdk::NativeClient client;
  ASSERT_TRUE(client.connect(url()));
  const auto info = client.server_info();
  EXPECT_TRUE(info.has("filters"));
  EXPECT_TRUE(info.has("snapshot"));
  EXPECT_EQ(info.limits.max_filter_conditions, 16u);
  EXPECT_EQ(info.limits.max_filter_values, 256u);
  EXPECT_GT(info.limits.max_snapshot_bytes, 0u);
}

TEST_F(SdkFilterTest, AFilteredSubscriptionGetsOnlyMatchesAndItsNextOffsetReachesTheEnd) {
  kpg::sdk::NativeClient client;
  ASSERT_TRUE(client.connect(url()));
  std::mutex mutex;
  std::vector<std::string> keys;
  kpg::sdk::SubscriptionHandlers handlers;
  handlers.on_records = [&](const std::vector<kpg::sdk::Record>& batch) {
    std::lock_guard lock(mutex);
    for (const auto& r : batch) keys.push_back(r.key);
  };
  kpg::sdk::SubscribeOptions options;
  options.filter =
      Filter::header_equals("region", "eu") && Filter::json_compare("/total", Filter::Op::ge, 50);
  auto sub = client.subscribe("native-filter", 0, kpg::sdk::StartAt::earliest(), handlers, options);
  ASSERT_TRUE(wait_until([&] { return sub->next_offset() == 3; }))
      << "next offset " << sub->next_offset();
  std::lock_guard lock(mutex);
  EXPECT_EQ(keys, std::vector<std::string>{"eu-2"});
  sub->cancel();
}

TEST_F(SdkFilterTest, AFilteredFetchReturnsTheMatchesAndWhereToFetchNext) {
  kpg::sdk::NativeClient client;
  ASSERT_TRUE(client.connect(url()));
  auto page = client.fetch("native-filter", 0, 0, Filter::json_in("/status", {"open"}));
  ASSERT_TRUE(page) << page.error().message;
  std::vector<std::string> keys;
  for (const auto& r : page.value().records) keys.push_back(r.key);
  EXPECT_EQ(keys, (std::vector<std::string>{"na-1", "eu-2"}));
  EXPECT_EQ(page.value().next_offset, 3);
  auto none = client.fetch("native-filter", 0, 0, Filter::key_equals("nobody"));
  ASSERT_TRUE(none) << none.error().message;
  EXPECT_TRUE(none.value().records.empty());
  EXPECT_EQ(none.value().next_offset, 3) << "past the records that did not match";
}

TEST_F(SdkFilterTest, AMalformedFilterIsRefusedBeforeAnythingIsSent) {
  kpg::sdk::NativeClient client;
  ASSERT_TRUE(client.connect(url()));
  auto page = client.fetch("native-filter", 0, 0, Filter::json_in("status", {"open"}));
  ASSERT_FALSE(page);
  EXPECT_EQ(page.error().server_code, kpg::sdk::ServerCode::bad_request) << page.error().message;
  const auto error = Filter::json_in("status", {"open"}).validate(client.server_info().limits);
  ASSERT_TRUE(error);
  EXPECT_EQ(error->server_code, kpg::sdk::ServerCode::bad_request);
}

TEST_F(SdkFilterTest, ASnapshotDeliversTheLatestPerKeyEachPartitionsEndThenLiveRecords) {
  kpg::sdk::NativeClient client;
  ASSERT_TRUE(client.connect(url()));
  std::mutex mutex;
  std::vector<std::string> events;
  auto note = [&](std::string e) {
    std::lock_guard lock(mutex);
    events.push_back(std::move(e));
  };
  auto has = [&](const std::string& e) {
    std::lock_guard lock(mutex);
    return std::find(events.begin(), events.end(), e) != events.end();
  };
  kpg::sdk::SubscriptionHandlers handlers;
  handlers.on_records = [&](const std::vector<kpg::sdk::Record>& batch) {
    for (const auto& r : batch) note((r.snapshot ? "S " : "L ") + r.key + "=" + r.value);
  };
  handlers.on_error = [&](const kpg::sdk::Error& e) { note("error " + e.message); };
  handlers.on_snapshot_end = [&](std::int32_t partition) {
    note("end " + std::to_string(partition));
  };
  handlers.on_snapshot_complete = [&] { note("complete"); };
  auto sub = client.subscribe_topic("native-state", {}, kpg::sdk::StartAt::snapshot(), handlers);
  auto seen = [&] {
    std::lock_guard lock(mutex);
    std::string all;
    for (const auto& e : events) all += e + "; ";
    return all;
  };
  ASSERT_TRUE(wait_until([&] { return has("complete"); }))
      << "the snapshot did not complete; got: " << seen();
  {
    std::lock_guard lock(mutex);
    std::vector<std::string> snapshot;
    std::vector<std::string> ends;
    for (const auto& e : events) {
      if (e.rfind("S ", 0) == 0) snapshot.push_back(e);
      if (e.rfind("end ", 0) == 0) ends.push_back(e);
    }
    std::sort(ends.begin(), ends.end());
    EXPECT_EQ(snapshot, std::vector<std::string>{"S k1=v3"});
    EXPECT_EQ(ends, (std::vector<std::string>{"end 0", "end 1"}));
    EXPECT_EQ(events.back(), "complete");
  }
  // Where each partition continues: its end when the snapshot was taken, not after the snapshot
  // records (which are older).
  EXPECT_EQ(sub->next_offsets(), (std::map<std::int32_t, std::int64_t>{{0, 4}, {1, 0}}));
  kpg::sdk::NativeClient writer;
  ASSERT_TRUE(writer.connect(url()));
  kpg::sdk::ProduceOptions options;
  options.key = std::string("k3");
  options.partition = 1;
  ASSERT_TRUE(writer.produce("native-state", std::string("v4"), options));
  EXPECT_TRUE(wait_until([&] { return has("L k3=v4"); })) << "the live record; got: " << seen();
  sub->cancel();
}

}  // namespace
