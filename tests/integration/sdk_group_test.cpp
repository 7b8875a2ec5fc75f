// The native SDK's consumer groups against the real gateway and kpg-devkafka: a member gets the
// topic's partitions, receives their records, commits; a member joining later resumes after the
// committed offsets.
#include "admin_fixture.h"
#include "kafka/producer.h"

#include <kpg/sdk/native_client.h>

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

namespace {

using namespace std::chrono_literals;
using nlohmann::json;

// What a member's handlers saw, readable from the test thread.
struct Seen {
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<std::string> values;
  std::size_t assigned = 0;

  kpg::sdk::GroupHandlers handlers() {
    kpg::sdk::GroupHandlers h;
    h.on_assigned = [this](const std::vector<kpg::sdk::TopicPartitionOffset>& ps) {
      std::lock_guard lock(mutex);
      assigned += ps.size();
      changed.notify_all();
    };
    h.on_records = [this](const std::string&, std::int32_t,
                          const std::vector<kpg::sdk::Record>& records) {
      std::lock_guard lock(mutex);
      for (const auto& r : records) values.push_back(r.value);
      changed.notify_all();
    };
    return h;
  }
  bool wait_for(std::size_t count) {
    std::unique_lock lock(mutex);
    return changed.wait_for(lock, 30s, [&] { return values.size() >= count; });
  }
};

class SdkGroupTest : public kpg::testing::AdminFixture {
 protected:
  static void SetUpTestSuite() {
    broker_ = new kpg::testing::ChildProcess({KPG_DEVKAFKA_BIN, "mock", "--topic", "work:2"});
    auto line = broker_->wait_for_line("bootstrap=", 15s);
    ASSERT_TRUE(line) << broker_->transcript();
    bootstrap_ = kpg::testing::field(*line, "bootstrap");
  }
  void SetUp() override {
    AdminFixture::SetUp();
    put_route("g", "/g",
              {{"kafka-proxy",
                {{"groups", {{"session_timeout_ms", 6000}, {"idle_timeout_ms", 20000}}}}}});
  }
  void produce(const std::string& value) const {
    kpg::kafka::Producer producer(bootstrap_);
    for (int p = 0; p < 2; ++p)
      ASSERT_EQ(producer.produce("work", p, std::nullopt, value).error, "");
  }
};

TEST_F(SdkGroupTest, MemberReceivesCommitsAndALaterMemberResumesAfterTheCommit) {
  produce("before");
  {
    Seen seen;
    kpg::sdk::NativeClient client;
    ASSERT_TRUE(client.connect(url("/g")));
    ASSERT_TRUE(client.server_info().has("groups"));
    auto member = client.subscribe_group("workers", {"work"}, seen.handlers(),
                                         {.start = kpg::sdk::GroupOptions::Start::earliest});
    ASSERT_TRUE(seen.wait_for(2)) << "records of both partitions";
    {
      std::lock_guard lock(seen.mutex);
      EXPECT_EQ(seen.assigned, 2u);
      EXPECT_EQ(seen.values, (std::vector<std::string>{"before", "before"}));
    }
    auto committed = member->commit();  // everything delivered
    ASSERT_TRUE(committed) << committed.error().message;
    EXPECT_EQ(committed.value().size(), 2u);
    for (const auto& c : committed.value()) EXPECT_EQ(c.offset, 1) << c.partition;
    member->cancel();
  }
  produce("after");
  Seen later;
  kpg::sdk::NativeClient client;
  ASSERT_TRUE(client.connect(url("/g")));
  auto member = client.subscribe_group("workers", {"work"}, later.handlers(),
                                       {.start = kpg::sdk::GroupOptions::Start::earliest});
  ASSERT_TRUE(later.wait_for(2));
  std::this_thread::sleep_for(200ms);  // nothing before the commit follows
  std::lock_guard lock(later.mutex);
  EXPECT_EQ(later.values, (std::vector<std::string>{"after", "after"}));
}

}  // namespace
