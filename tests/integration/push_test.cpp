// Push subscriptions (cmd_hello, cmd_kafka_subscribe, cmd_credit, cmd_unsubscribe) on the real
// kpg-gateway process and a real Kafka-protocol broker (kpg-devkafka), spoken frame by frame with
// a raw WebSocket client: what every frame holds, in which order, and what never arrives. Every
// wait is bounded by a receive timeout; no assertion is about speed.
#include "child_process.h"
#include "gateway_process.h"
#include "kafka/producer.h"
#include "test_clients.h"

#include <kpg/pubsub.pb.h>

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <map>
#include <set>
#include <thread>

namespace {

using namespace std::chrono_literals;
using kpg::pubsub::CmdKafkaSubscribe;
using kpg::pubsub::ErrorCode;
using kpg::pubsub::PubSubReq;
using kpg::pubsub::PubSubResp;
using kpg::testing::ChildProcess;
using kpg::testing::Gateway;

constexpr const char* kAdminKey = "push-test-admin-key-0123456789";
constexpr int kEventsPartitions = 3;

std::string key_of(std::int32_t partition, std::int64_t offset) {
  return "p" + std::to_string(partition) + "-" + std::to_string(offset);
}

// A raw PubSub connection with a receive timeout: a frame that does not come fails the test
// instead of hanging it.
class PushClient {
 public:
  explicit PushClient(const std::string& port, int receive_buffer_bytes = 0)
      : socket_(port, "/kafka", receive_buffer_bytes) {}

  PubSubResp request(const PubSubReq& req) {
    send(req);
    return next();
  }
  void send(const PubSubReq& req) { socket_.send_binary(req.SerializeAsString()); }
  int native_handle() { return socket_.native_handle(); }
  PubSubResp next() {
    auto resp = socket_.receive();
    if (!resp) {
      ADD_FAILURE() << "no frame within the timeout (or the connection closed: \""
                    << socket_.close_reason() << "\")";
      return {};
    }
    return *resp;
  }

  PubSubResp hello(std::int64_t sequence = 1) {
    PubSubReq req;
    req.set_sequence(sequence);
    req.mutable_cmd_hello()->set_protocol_version(1);
    req.mutable_cmd_hello()->set_client("push_test");
    return request(req);
  }

  /// Nothing was pushed before this point: a ping's pong is the very next frame.
  void expect_nothing_pushed(const std::string& why) {
    PubSubReq ping;
    ping.set_sequence(99999);
    ping.mutable_cmd_ping()->set_state(why);
    const auto resp = request(ping);
    EXPECT_TRUE(resp.has_pong_resp() && resp.pong_resp().state() == why)
        << why << ": got another frame first: " << resp.ShortDebugString().substr(0, 300);
  }

  void credit(std::int64_t id, std::uint32_t credit) {
    PubSubReq req;
    req.set_sequence(7);
    req.mutable_cmd_credit()->set_subscription_id(id);
    req.mutable_cmd_credit()->set_credit(credit);
    send(req);
  }

 private:
  kpg::testing::RawSocket socket_;
};

// What a frame that is not the one expected is (protobuf-lite has no DebugString).
std::string describe(const PubSubResp& frame) {
  if (frame.has_error_resp()) {
    return "error_resp{sequence " + std::to_string(frame.sequence()) + ", code " +
           std::to_string(frame.error_resp().code()) + ", \"" + frame.error_resp().message() +
           "\"}";
  }
  return "a frame of kind " + std::to_string(frame.resp_case()) + ", sequence " +
         std::to_string(frame.sequence());
}

PubSubReq subscribe_req(std::int64_t sequence, const std::string& topic,
                        CmdKafkaSubscribe::Start start, std::uint32_t credit) {
  PubSubReq req;
  req.set_sequence(sequence);
  auto* cmd = req.mutable_cmd_kafka_subscribe();
  cmd->set_topic(topic);
  cmd->set_start(start);
  cmd->set_credit(credit);
  return req;
}

class PushTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    broker_ = new ChildProcess({KPG_DEVKAFKA_BIN, "mock", "--topic",
                                "events:" + std::to_string(kEventsPartitions), "--topic", "quiet:1",
                                "--topic", "headers:1", "--topic", "big:1"});
    auto line = broker_->wait_for_line("bootstrap=", 15s);
    ASSERT_TRUE(line) << "mock broker did not start: " << broker_->transcript();
    bootstrap_ = kpg::testing::field(*line, "bootstrap");
    producer_ = new kpg::kafka::Producer(bootstrap_);
    // Two records in "quiet" before anyone subscribes.
    for (int i = 0; i < 2; ++i) {
      ASSERT_EQ(producer_->produce("quiet", 0, "q" + std::to_string(i), "v").error, "");
    }
  }
  static void TearDownTestSuite() {
    delete producer_;
    delete broker_;
  }

  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("kpg-push-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  Gateway start(const std::string& extra = "") {
    return kpg::testing::start_gateway(
        dir_, std::string("admin_key: ") + kAdminKey + "\n" + extra +
                  "routes:\n  - id: kafka\n    uri: /kafka\n    upstream: {scheme: kafka, "
                  "nodes: {\"" +
                  bootstrap_ + "\": 1}}\n");
  }

  static inline ChildProcess* broker_ = nullptr;
  static inline kpg::kafka::Producer* producer_ = nullptr;
  static inline std::string bootstrap_;
  std::filesystem::path dir_;
};

TEST_F(PushTest, HelloAnnouncesTheExtensionsAndApisixClientsSeeExactlyApisix) {
  auto gw = start();
  ASSERT_FALSE(gw.port.empty());
  PushClient kpg_client(gw.port);
  const auto hello = kpg_client.hello(5);
  ASSERT_TRUE(hello.has_hello_resp()) << hello.ShortDebugString();
  EXPECT_EQ(hello.sequence(), 5);
  EXPECT_EQ(hello.hello_resp().protocol_version(), 1u);
  const auto& features = hello.hello_resp().features();
  EXPECT_NE(std::find(features.begin(), features.end(), "push"), features.end());
  EXPECT_EQ(hello.hello_resp().limits().max_credit(), 1024u);
  EXPECT_EQ(hello.hello_resp().limits().max_subscriptions(), 64u);
  EXPECT_EQ(hello.hello_resp().server().rfind("kpg-gateway/", 0), 0u);

  // Without hello: kpg's commands do not exist and errors carry APISIX's code 0.
  PushClient apisix_client(gw.port);
  const auto refused =
      apisix_client.request(subscribe_req(3, "quiet", CmdKafkaSubscribe::EARLIEST, 1));
  ASSERT_TRUE(refused.has_error_resp()) << refused.ShortDebugString();
  EXPECT_EQ(refused.error_resp().code(), 0);
  EXPECT_EQ(refused.error_resp().message(), "unknown command");
  const auto missing = apisix_client.request([] {
    PubSubReq req;
    req.set_sequence(4);
    req.mutable_cmd_kafka_fetch()->set_topic("no-such-topic");
    return req;
  }());
  ASSERT_TRUE(missing.has_error_resp());
  EXPECT_EQ(missing.error_resp().code(), 0);
  // After hello the same error has its code.
  PubSubReq fetch;
  fetch.set_sequence(6);
  fetch.mutable_cmd_kafka_fetch()->set_topic("no-such-topic");
  const auto coded = kpg_client.request(fetch);
  ASSERT_TRUE(coded.has_error_resp());
  EXPECT_EQ(coded.error_resp().code(), ErrorCode::UNKNOWN_TOPIC);
}

TEST_F(PushTest, EveryRecordOfEveryPartitionArrivesOnceInOrderWhileAProducerWrites) {
  auto gw = start();
  ASSERT_FALSE(gw.port.empty());
  // Some history first, then subscribe from the earliest offsets, then more while reading.
  constexpr int kBefore = 30;
  constexpr int kDuring = 150;
  std::map<std::int32_t, std::int64_t> produced;  // partition -> records
  auto produce = [&](int n) {
    for (int i = 0; i < n; ++i) {
      const std::int32_t p = i % kEventsPartitions;
      const auto d = producer_->produce("events", p, key_of(p, produced[p]), "v");
      ASSERT_EQ(d.error, "");
      ASSERT_EQ(d.offset, produced[p]);
      ++produced[p];
    }
  };
  produce(kBefore);

  PushClient client(gw.port);
  ASSERT_TRUE(client.hello().has_hello_resp());
  const auto sub = client.request(subscribe_req(42, "events", CmdKafkaSubscribe::EARLIEST, 4));
  ASSERT_TRUE(sub.has_kafka_subscribe_resp()) << sub.ShortDebugString();
  EXPECT_EQ(sub.sequence(), 42);
  const auto id = sub.kafka_subscribe_resp().subscription_id();
  ASSERT_EQ(sub.kafka_subscribe_resp().start_size(), kEventsPartitions);
  for (int p = 0; p < kEventsPartitions; ++p) {
    EXPECT_EQ(sub.kafka_subscribe_resp().start(p).partition(), p);
    EXPECT_EQ(sub.kafka_subscribe_resp().start(p).offset(), 0);
  }

  std::thread writer([&] { produce(kDuring); });
  std::map<std::int32_t, std::int64_t> next;  // partition -> next offset expected
  int received = 0;
  int frames = 0;
  while (received < kBefore + kDuring && !::testing::Test::HasFailure()) {
    const auto frame = client.next();
    ASSERT_TRUE(frame.has_kafka_records()) << frame.ShortDebugString().substr(0, 300);
    const auto& records = frame.kafka_records();
    EXPECT_EQ(frame.sequence(), 42);
    EXPECT_EQ(records.subscription_id(), id);
    ASSERT_GT(records.messages_size(), 0) << "a pushed frame is never empty";
    const std::int32_t p = records.partition();
    for (const auto& m : records.messages()) {
      ASSERT_EQ(m.offset(), next[p]) << "partition " << p << ": gap or duplicate";
      EXPECT_EQ(m.key(), key_of(p, m.offset()));
      ++next[p];
      ++received;
    }
    EXPECT_GE(records.high_watermark(), next[p]);
    ++frames;
    client.credit(id, 1);  // consumed: one more frame may come
  }
  writer.join();
  EXPECT_EQ(received, kBefore + kDuring);
  for (int p = 0; p < kEventsPartitions; ++p) EXPECT_EQ(next[p], produced[p]) << "partition " << p;
  // Nothing beyond what was produced.
  client.expect_nothing_pushed("after everything");
  std::cout << "[ push ] " << received << " records in " << frames << " frames\n";
}

TEST_F(PushTest, WithoutCreditNothingIsPushedAndEachCreditReleasesOneFrame) {
  auto gw = start();
  ASSERT_FALSE(gw.port.empty());
  PushClient client(gw.port);
  ASSERT_TRUE(client.hello().has_hello_resp());
  const auto sub = client.request(subscribe_req(8, "quiet", CmdKafkaSubscribe::EARLIEST, 0));
  ASSERT_TRUE(sub.has_kafka_subscribe_resp()) << sub.ShortDebugString();
  const auto id = sub.kafka_subscribe_resp().subscription_id();
  std::this_thread::sleep_for(300ms);  // time enough for a frame to be pushed if one would be
  client.expect_nothing_pushed("zero credit");

  // Two records are there: one credit, one frame (of at least one record), then silence.
  client.credit(id, 1);
  const auto frame = client.next();
  ASSERT_TRUE(frame.has_kafka_records()) << frame.ShortDebugString();
  EXPECT_EQ(frame.kafka_records().messages(0).offset(), 0);
  std::int64_t next = frame.kafka_records().messages_size();
  if (next < 2) {
    std::this_thread::sleep_for(300ms);
    client.expect_nothing_pushed("credit used up");
    client.credit(id, 1);
    const auto second = client.next();
    ASSERT_TRUE(second.has_kafka_records()) << second.ShortDebugString();
    EXPECT_EQ(second.kafka_records().messages(0).offset(), 1);
  }
}

TEST_F(PushTest, AfterUnsubscribeNoFrameOfTheSubscriptionFollows) {
  auto gw = start();
  ASSERT_FALSE(gw.port.empty());
  PushClient client(gw.port);
  ASSERT_TRUE(client.hello().has_hello_resp());
  const auto sub = client.request(subscribe_req(9, "quiet", CmdKafkaSubscribe::LATEST, 10));
  ASSERT_TRUE(sub.has_kafka_subscribe_resp()) << sub.ShortDebugString();
  const auto id = sub.kafka_subscribe_resp().subscription_id();
  PubSubReq unsubscribe;
  unsubscribe.set_sequence(10);
  unsubscribe.mutable_cmd_unsubscribe()->set_subscription_id(id);
  const auto done = client.request(unsubscribe);
  ASSERT_TRUE(done.has_unsubscribe_resp()) << done.ShortDebugString();
  EXPECT_EQ(done.unsubscribe_resp().subscription_id(), id);
  ASSERT_EQ(producer_->produce("quiet", 0, "after", "v").error, "");
  std::this_thread::sleep_for(300ms);
  client.expect_nothing_pushed("after unsubscribe");
  // The id is gone: a second unsubscribe is an error with its code; credit for it is ignored.
  client.credit(id, 1);
  unsubscribe.set_sequence(11);
  const auto again = client.request(unsubscribe);
  ASSERT_TRUE(again.has_error_resp()) << again.ShortDebugString();
  EXPECT_EQ(again.sequence(), 11);
  EXPECT_EQ(again.error_resp().code(), ErrorCode::UNKNOWN_SUBSCRIPTION);
}

TEST_F(PushTest, SubscribersOfOnePartitionReceiveIdenticalFramesWithHeaders) {
  auto gw = start();
  ASSERT_FALSE(gw.port.empty());
  constexpr int kSubscribers = 12;
  constexpr int kRecords = 40;
  std::vector<std::unique_ptr<PushClient>> clients;
  std::vector<std::int64_t> ids;
  for (int i = 0; i < kSubscribers; ++i) {
    clients.push_back(std::make_unique<PushClient>(gw.port));
    ASSERT_TRUE(clients.back()->hello().has_hello_resp());
    const auto sub =
        clients.back()->request(subscribe_req(100 + i, "headers", CmdKafkaSubscribe::LATEST, 100));
    ASSERT_TRUE(sub.has_kafka_subscribe_resp()) << sub.ShortDebugString();
    ids.push_back(sub.kafka_subscribe_resp().subscription_id());
  }
  for (int i = 0; i < kRecords; ++i) {
    const auto d = producer_->produce("headers", 0, "k" + std::to_string(i), "v", 10'000,
                                      {{"trace-id", "t" + std::to_string(i)}, {"empty", ""}});
    ASSERT_EQ(d.error, "");
  }
  std::vector<std::string> seen(kSubscribers);
  for (int i = 0; i < kSubscribers; ++i) {
    int got = 0;
    while (got < kRecords && !::testing::Test::HasFailure()) {
      const auto frame = clients[i]->next();
      ASSERT_TRUE(frame.has_kafka_records()) << frame.ShortDebugString();
      EXPECT_EQ(frame.sequence(), 100 + i);
      for (const auto& m : frame.kafka_records().messages()) {
        ASSERT_EQ(m.headers_size(), 2);
        EXPECT_EQ(m.headers(0).key(), "trace-id");
        EXPECT_EQ(m.headers(0).value(), "t" + std::to_string(got));
        EXPECT_EQ(m.headers(1).key(), "empty");
        seen[i] += m.SerializeAsString();
        ++got;
      }
    }
  }
  for (int i = 1; i < kSubscribers; ++i) EXPECT_EQ(seen[i], seen[0]) << "subscriber " << i;
}

TEST_F(PushTest, BadSubscriptionsAreRefusedWithTheirCode) {
  auto gw = start("max_subscriptions: 2\nmax_credit: 50\n");
  ASSERT_FALSE(gw.port.empty());
  PushClient client(gw.port);
  ASSERT_TRUE(client.hello().has_hello_resp());
  auto code_of = [&](const PubSubReq& req) {
    const auto resp = client.request(req);
    EXPECT_TRUE(resp.has_error_resp()) << resp.ShortDebugString();
    EXPECT_EQ(resp.sequence(), req.sequence());
    return resp.error_resp().code();
  };
  EXPECT_EQ(code_of(subscribe_req(1, "no-such-topic", CmdKafkaSubscribe::LATEST, 1)),
            ErrorCode::UNKNOWN_TOPIC);
  EXPECT_EQ(code_of(subscribe_req(2, std::string(300, 'x'), CmdKafkaSubscribe::LATEST, 1)),
            ErrorCode::BAD_REQUEST);
  EXPECT_EQ(code_of(subscribe_req(3, "quiet", CmdKafkaSubscribe::LATEST, 51)),
            ErrorCode::LIMIT_EXCEEDED);
  auto beyond = subscribe_req(4, "quiet", CmdKafkaSubscribe::LATEST, 1);
  beyond.mutable_cmd_kafka_subscribe()->add_partitions(7);
  EXPECT_EQ(code_of(beyond), ErrorCode::UNKNOWN_PARTITION);
  auto out_of_range = subscribe_req(5, "quiet", CmdKafkaSubscribe::LATEST, 1);
  auto* at = out_of_range.mutable_cmd_kafka_subscribe()->add_offsets();
  at->set_partition(0);
  at->set_offset(1'000'000);
  EXPECT_EQ(code_of(out_of_range), ErrorCode::OFFSET_OUT_OF_RANGE);

  // Two subscriptions are allowed here; the third is refused, and credit beyond the limit too.
  std::int64_t first = 0;
  for (int i = 0; i < 2; ++i) {
    const auto ok = client.request(subscribe_req(10 + i, "quiet", CmdKafkaSubscribe::LATEST, 0));
    ASSERT_TRUE(ok.has_kafka_subscribe_resp()) << ok.ShortDebugString();
    first = ok.kafka_subscribe_resp().subscription_id();
  }
  EXPECT_EQ(code_of(subscribe_req(12, "quiet", CmdKafkaSubscribe::LATEST, 0)),
            ErrorCode::LIMIT_EXCEEDED);
  PubSubReq credit;
  credit.set_sequence(13);
  credit.mutable_cmd_credit()->set_subscription_id(first);
  credit.mutable_cmd_credit()->set_credit(51);
  EXPECT_EQ(code_of(credit), ErrorCode::LIMIT_EXCEEDED);
}

TEST_F(PushTest, ExplicitOffsetsResumeWhereAnEarlierConnectionStopped) {
  auto gw = start();
  ASSERT_FALSE(gw.port.empty());
  for (int i = 0; i < 10; ++i) ASSERT_EQ(producer_->produce("big", 0, "b", "v").error, "");
  std::int64_t next = 0;
  {
    PushClient first(gw.port);
    ASSERT_TRUE(first.hello().has_hello_resp());
    ASSERT_TRUE(first.request(subscribe_req(1, "big", CmdKafkaSubscribe::EARLIEST, 1))
                    .has_kafka_subscribe_resp());
    const auto frame = first.next();
    ASSERT_TRUE(frame.has_kafka_records());
    next = frame.kafka_records().messages(frame.kafka_records().messages_size() - 1).offset() + 1;
  }
  // The gateway restarts meanwhile: resuming depends only on the offsets the client kept.
  gw.process.reset();
  auto restarted = start();
  ASSERT_FALSE(restarted.port.empty());
  PushClient second(restarted.port);
  ASSERT_TRUE(second.hello().has_hello_resp());
  auto resume = subscribe_req(2, "big", CmdKafkaSubscribe::LATEST, 100);
  auto* at = resume.mutable_cmd_kafka_subscribe()->add_offsets();
  at->set_partition(0);
  at->set_offset(next);
  const auto sub = second.request(resume);
  ASSERT_TRUE(sub.has_kafka_subscribe_resp()) << sub.ShortDebugString();
  EXPECT_EQ(sub.kafka_subscribe_resp().start(0).offset(), next);
  if (next < 10) {
    std::int64_t expected = next;
    while (expected < 10 && !::testing::Test::HasFailure()) {
      const auto frame = second.next();
      ASSERT_TRUE(frame.has_kafka_records());
      for (const auto& m : frame.kafka_records().messages()) EXPECT_EQ(m.offset(), expected++);
    }
  }
}

// The mock broker cannot look offsets up by timestamp (it answers -1 for every time): a start at
// a timestamp then begins at the end of the log, as a consumer would when no record is that
// recent. (Finding a real timestamp is covered against a fake source in the unit tests.)
TEST_F(PushTest, AStartAtATimestampWithNoRecordThatRecentBeginsAtTheEnd) {
  auto gw = start();
  ASSERT_FALSE(gw.port.empty());
  PushClient client(gw.port);
  ASSERT_TRUE(client.hello().has_hello_resp());
  auto req = subscribe_req(1, "quiet", CmdKafkaSubscribe::TIMESTAMP, 0);
  req.mutable_cmd_kafka_subscribe()->set_timestamp(4'000'000'000'000);
  const auto sub = client.request(req);
  ASSERT_TRUE(sub.has_kafka_subscribe_resp()) << sub.ShortDebugString();
  PubSubReq latest;
  latest.set_sequence(2);
  latest.mutable_cmd_kafka_list_offset()->set_topic("quiet");
  latest.mutable_cmd_kafka_list_offset()->set_timestamp(-1);
  const auto end = client.request(latest);
  ASSERT_TRUE(end.has_kafka_list_offset_resp());
  EXPECT_EQ(sub.kafka_subscribe_resp().start(0).offset(), end.kafka_list_offset_resp().offset());
}

// A client that stops reading its socket while it has plenty of credit: the gateway stops reading
// Kafka for it once half its write queue is taken, closes it with a reason when its writes make no
// progress, and meanwhile serves a subscriber of the same data and an APISIX client in full.
TEST_F(PushTest, AClientThatStopsReadingIsClosedWithAReasonWhileOthersAreServed) {
  constexpr int kPartitions = 4;
  constexpr int kPerPartition = 30;
  const std::vector<std::string> values(kPerPartition, std::string(100 * 1024, 'f'));
  for (int p = 0; p < kPartitions; ++p) ASSERT_EQ(producer_->produce_many("flood", p, values), "");
  auto gw =
      start("write_timeout_ms: 1000\nmax_write_queue_bytes: 1048576\nfetch_max_bytes: 262144\n");
  ASSERT_FALSE(gw.port.empty());

  PushClient stalled(gw.port, 4096);  // the kernel holds little for it: its writes stall early
  ASSERT_TRUE(stalled.hello().has_hello_resp());
  const auto stalled_sub =
      stalled.request(subscribe_req(1, "flood", CmdKafkaSubscribe::EARLIEST, 1000));
  ASSERT_TRUE(stalled_sub.has_kafka_subscribe_resp()) << stalled_sub.ShortDebugString();
  // From here on the stalled client reads nothing.

  PushClient reader(gw.port);
  ASSERT_TRUE(reader.hello().has_hello_resp());
  const auto sub = reader.request(subscribe_req(2, "flood", CmdKafkaSubscribe::EARLIEST, 16));
  ASSERT_TRUE(sub.has_kafka_subscribe_resp()) << sub.ShortDebugString();
  std::map<std::int32_t, std::int64_t> next;
  int received = 0;
  while (received < kPartitions * kPerPartition && !::testing::Test::HasFailure()) {
    const auto frame = reader.next();
    if (!frame.has_kafka_records()) gw.process->wait_for_line("(the log so far)", 1s);
    ASSERT_TRUE(frame.has_kafka_records())
        << describe(frame) << " after " << received << " records; the gateway's log:\n"
        << gw.process->transcript();
    for (const auto& m : frame.kafka_records().messages()) {
      ASSERT_EQ(m.offset(), next[frame.kafka_records().partition()]++);
      ++received;
    }
    reader.credit(sub.kafka_subscribe_resp().subscription_id(), 1);
  }
  EXPECT_EQ(received, kPartitions * kPerPartition);

  PushClient apisix(gw.port);  // no hello: plain APISIX on the same route
  const auto fetched = apisix.request([] {
    PubSubReq req;
    req.set_sequence(3);
    req.mutable_cmd_kafka_fetch()->set_topic("quiet");
    return req;
  }());
  ASSERT_TRUE(fetched.has_kafka_fetch_resp()) << fetched.ShortDebugString();
  ASSERT_GT(fetched.kafka_fetch_resp().messages_size(), 0);
  EXPECT_EQ(fetched.kafka_fetch_resp().messages(0).offset(), 0);
  EXPECT_EQ(fetched.kafka_fetch_resp().messages(0).headers_size(), 0) << "no headers before hello";

  const auto closed = gw.process->wait_for_line("event=write_timeout", 20s);
  ASSERT_TRUE(closed) << "the stalled client was never closed";
  EXPECT_NE(closed->find("timeout_ms=1000"), std::string::npos) << *closed;
  EXPECT_LE(std::stol(kpg::testing::field(*closed, "queued_bytes")), 1024 * 1024)
      << "what waited for it stayed within its write queue: " << *closed;
}

}  // namespace
