// The protocol layer's push side (pubsub/connection.*, pubsub/frames.*) against a scripted
// RecordSource: frames of a shared body decode as plain encodes, credit decides every frame and
// every read, congestion holds batches back, and unsubscribing, errors and shutdown end things.
#include "pubsub/connection.h"
#include "pubsub/frames.h"

#include <kpg/pubsub.pb.h>

#include <gtest/gtest.h>

#include <deque>
#include <map>

namespace {

using kpg::kafka::BatchPtr;
using kpg::kafka::BatchResult;
using kpg::kafka::Record;
using kpg::pubsub::CmdKafkaSubscribe;
using kpg::pubsub::Connection;
using kpg::pubsub::ErrorCode;
using kpg::pubsub::Frame;
using kpg::pubsub::Outcome;
using kpg::pubsub::PubSubReq;
using kpg::pubsub::PubSubResp;

std::vector<Record> records(std::int64_t from, int n) {
  std::vector<Record> out;
  for (int i = 0; i < n; ++i) {
    out.push_back(Record{from + i,
                         1000 + from + i,
                         "k" + std::to_string(from + i),
                         "value",
                         {{"h", "x"}, {"", ""}}});
  }
  return out;
}

BatchPtr batch_of(std::int64_t from, int n, std::int64_t high) {
  auto b = std::make_shared<kpg::kafka::RecordBatch>();
  const auto rs = records(from, n);
  b->first_offset = from;
  b->next_offset = from + n;
  b->high_watermark = high;
  b->records = rs.size();
  b->body = kpg::pubsub::encode_messages(rs, true);
  return b;
}

PubSubResp decode(const Frame& frame) {
  std::string bytes = frame.head;
  if (frame.body) bytes += frame.body->body;
  PubSubResp resp;
  EXPECT_TRUE(resp.ParseFromString(bytes));
  return resp;
}

TEST(PushFrames, AHeadPlusTheSharedBodyDecodesAsTheSamePlainEncode) {
  for (const std::int64_t sequence : {std::int64_t{0}, std::int64_t{7}, std::int64_t{-3}}) {
    for (const std::int32_t partition : {0, 5}) {
      for (const int n : {1, 3}) {
        const auto batch = batch_of(40, n, 99);
        const auto frame = kpg::pubsub::records_frame(sequence, 12, partition, batch);
        PubSubResp plain;
        plain.set_sequence(sequence);
        auto* r = plain.mutable_kafka_records();
        r->set_subscription_id(12);
        r->set_partition(partition);
        r->set_high_watermark(99);
        for (const auto& rec : records(40, n)) {
          auto* m = r->add_messages();
          m->set_offset(rec.offset);
          m->set_timestamp(rec.timestamp);
          m->set_key(rec.key);
          m->set_value(rec.value);
          for (const auto& h : rec.headers) {
            auto* mh = m->add_headers();
            mh->set_key(h.key);
            mh->set_value(h.value);
          }
        }
        EXPECT_EQ(decode(frame).SerializeAsString(), plain.SerializeAsString())
            << "sequence " << sequence << " partition " << partition << " records " << n;
        EXPECT_EQ(frame.size(), plain.ByteSizeLong()) << "the same size as a plain encode";
        EXPECT_LT(frame.head.size(), 32u) << "per-subscriber bytes stay a small head";
      }
    }
  }
}

// Reads as the connection asks for them; offsets and topics from a small model.
struct ScriptedSource : kpg::kafka::RecordSource {
  struct Read {
    std::int32_t partition;
    std::int64_t offset;
    kpg::kafka::CancelToken cancel;
    std::function<void(BatchResult)> done;
  };
  void list_offset(std::string, std::int32_t partition, std::int64_t at, kpg::kafka::CancelToken,
                   std::function<void(kpg::kafka::OffsetResult)> done) override {
    const auto [low, high] = marks[partition];
    if (at == -2) return done({std::nullopt, low});
    if (at == -1) return done({std::nullopt, high});
    auto it = by_time.lower_bound(at);
    done({std::nullopt, it == by_time.end() ? -1 : it->second});
  }
  void fetch(std::string, std::int32_t, std::int64_t, kpg::kafka::FetchLimits,
             kpg::kafka::CancelToken, std::function<void(kpg::kafka::FetchResult)>) override {
    ADD_FAILURE() << "no pull fetch expected";
  }
  void fetch_batch(std::string, std::int32_t partition, std::int64_t offset,
                   kpg::kafka::FetchLimits limits, kpg::kafka::CancelToken cancel,
                   std::function<void(BatchResult)> done) override {
    EXPECT_EQ(limits.max_wait, kpg::kafka::FetchLimits::kWaitForever);
    reads.push_back({partition, offset, std::move(cancel), std::move(done)});
  }
  void topics(std::vector<std::string> names, kpg::kafka::CancelToken,
              std::function<void(kpg::kafka::TopicsResult)> done) override {
    kpg::kafka::TopicsResult r;
    for (const auto& [name, count] : all) {
      if (names.empty() || std::find(names.begin(), names.end(), name) != names.end()) {
        r.topics.emplace(name, count);
      }
    }
    done(std::move(r));
  }
  std::map<std::string, int, std::less<>> all{{"t", 2}, {"__internal", 1}};
  std::map<std::int32_t, std::pair<std::int64_t, std::int64_t>> marks{{0, {0, 10}}, {1, {5, 8}}};
  std::map<std::int64_t, std::int64_t> by_time{{1003, 3}};
  std::deque<Read> reads;
};

struct PushConnection : ::testing::Test {
  PushConnection() : connection(source, limits, callbacks(), "kpg-gateway/test") {}

  Connection::Callbacks callbacks() {
    Connection::Callbacks c;
    c.reply = [this](Frame f) { replies.push_back(decode(f)); };
    c.push = [this](Frame f) { pushed.push_back(decode(f)); };
    c.post = [this](std::function<void()> task) { tasks.push_back(std::move(task)); };
    c.write_pending = [this] { return socket_busy; };
    return c;
  }
  void run() {
    while (!tasks.empty()) {
      auto task = std::move(tasks.front());
      tasks.pop_front();
      task();
    }
  }
  PubSubResp send(const PubSubReq& req) {
    const auto out = connection.on_frame(req.SerializeAsString());
    if (out.kind == Outcome::Kind::reply) return decode(Frame{out.reply, nullptr});
    run();
    EXPECT_FALSE(replies.empty()) << "no reply";
    if (replies.empty()) return {};
    auto r = replies.front();
    replies.pop_front();
    return r;
  }
  void hello() {
    PubSubReq req;
    req.mutable_cmd_hello()->set_protocol_version(1);
    ASSERT_TRUE(send(req).has_hello_resp());
  }
  std::int64_t subscribe(CmdKafkaSubscribe::Start start, std::uint32_t credit,
                         std::int64_t timestamp = 0) {
    PubSubReq req;
    req.set_sequence(77);
    auto* cmd = req.mutable_cmd_kafka_subscribe();
    cmd->set_topic("t");
    cmd->set_start(start);
    cmd->set_timestamp(timestamp);
    cmd->set_credit(credit);
    const auto resp = send(req);
    EXPECT_TRUE(resp.has_kafka_subscribe_resp()) << resp.ShortDebugString();
    last_start = resp.kafka_subscribe_resp();
    return resp.kafka_subscribe_resp().subscription_id();
  }
  void credit(std::int64_t id, std::uint32_t n) {
    PubSubReq req;
    req.mutable_cmd_credit()->set_subscription_id(id);
    req.mutable_cmd_credit()->set_credit(n);
    EXPECT_EQ(connection.on_frame(req.SerializeAsString()).kind, Outcome::Kind::none);
  }
  // Answers the oldest outstanding read of `partition` with `n` records.
  void answer(std::int32_t partition, int n) {
    auto it = std::find_if(source.reads.begin(), source.reads.end(),
                           [&](const auto& r) { return r.partition == partition; });
    ASSERT_NE(it, source.reads.end()) << "no read of partition " << partition;
    auto read = std::move(*it);
    source.reads.erase(it);
    read.done(BatchResult{std::nullopt, batch_of(read.offset, n, read.offset + n)});
    run();
  }
  std::size_t reads_of(std::int32_t partition) const {
    return static_cast<std::size_t>(
        std::count_if(source.reads.begin(), source.reads.end(),
                      [&](const auto& r) { return r.partition == partition; }));
  }

  ScriptedSource source;
  kpg::pubsub::Limits limits;
  std::deque<std::function<void()>> tasks;
  std::deque<PubSubResp> replies;
  std::vector<PubSubResp> pushed;
  kpg::pubsub::KafkaSubscribeResp last_start;
  bool socket_busy = false;  // what write_pending answers
  Connection connection;
};

TEST_F(PushConnection, BeforeHelloTheExtensionsAreUnknownCommandsWithApisixCode) {
  PubSubReq req;
  req.set_sequence(3);
  req.mutable_cmd_kafka_subscribe()->set_topic("t");
  const auto resp = send(req);
  ASSERT_TRUE(resp.has_error_resp());
  EXPECT_EQ(resp.error_resp().code(), 0);
  EXPECT_EQ(resp.error_resp().message(), "unknown command");
  EXPECT_TRUE(source.reads.empty());
}

TEST_F(PushConnection, StartsResolveToEarliestLatestOrTheFirstRecordAtATimestamp) {
  hello();
  subscribe(CmdKafkaSubscribe::EARLIEST, 0);
  ASSERT_EQ(last_start.start_size(), 2);
  EXPECT_EQ(last_start.start(0).offset(), 0);
  EXPECT_EQ(last_start.start(1).offset(), 5);
  subscribe(CmdKafkaSubscribe::LATEST, 0);
  EXPECT_EQ(last_start.start(0).offset(), 10);
  EXPECT_EQ(last_start.start(1).offset(), 8);
  subscribe(CmdKafkaSubscribe::TIMESTAMP, 0, 1002);
  EXPECT_EQ(last_start.start(0).offset(), 3) << "the first record at or after the time";
  subscribe(CmdKafkaSubscribe::TIMESTAMP, 0, 5000);
  EXPECT_EQ(last_start.start(0).offset(), 10) << "none that recent: from the end";
}

TEST_F(PushConnection, CreditDecidesEveryReadAndEveryFrame) {
  hello();
  const auto id = subscribe(CmdKafkaSubscribe::EARLIEST, 0);
  EXPECT_TRUE(source.reads.empty()) << "no credit: not even a read (a cursor costs nothing)";
  credit(id, 1);
  EXPECT_EQ(reads_of(0), 1u);
  EXPECT_EQ(reads_of(1), 1u);
  answer(0, 3);
  ASSERT_EQ(pushed.size(), 1u);
  EXPECT_EQ(pushed[0].sequence(), 77);
  EXPECT_EQ(pushed[0].kafka_records().subscription_id(), id);
  EXPECT_EQ(pushed[0].kafka_records().messages_size(), 3);
  EXPECT_EQ(reads_of(0), 0u) << "credit used up: no further read";
  answer(1, 2);
  EXPECT_EQ(pushed.size(), 1u) << "read before the credit ran out: held, not sent";
  credit(id, 1);
  ASSERT_EQ(pushed.size(), 2u) << "the held batch goes with the next credit";
  EXPECT_EQ(pushed[1].kafka_records().partition(), 1);
  EXPECT_EQ(pushed[1].kafka_records().messages(0).offset(), 5);
  EXPECT_TRUE(source.reads.empty());
  credit(id, 2);
  ASSERT_EQ(source.reads.size(), 2u);
  EXPECT_EQ(source.reads[0].offset + source.reads[1].offset, 3 + 7) << "from each next offset";
}

// While the socket is still writing what was pushed, a partition's next read waits for it: the
// records arriving meanwhile then leave in one frame, not one frame each.
TEST_F(PushConnection, WhileTheSocketWritesTheNextReadWaitsForTheWrite) {
  hello();
  const auto id = subscribe(CmdKafkaSubscribe::EARLIEST, 8);
  ASSERT_EQ(reads_of(0), 1u);
  ASSERT_EQ(reads_of(1), 1u);
  socket_busy = true;
  answer(0, 3);
  ASSERT_EQ(pushed.size(), 1u);
  EXPECT_EQ(reads_of(0), 0u) << "the frame is not written yet: no read";
  answer(1, 1);
  EXPECT_EQ(reads_of(1), 0u);
  socket_busy = false;
  connection.on_written();
  ASSERT_EQ(reads_of(0), 1u);
  ASSERT_EQ(reads_of(1), 1u);
  EXPECT_EQ(source.reads.front().offset, 3) << "from where the frame ended";
  connection.on_written();
  EXPECT_EQ(source.reads.size(), 2u) << "one read per partition, however often it is told";
  answer(0, 2);
  EXPECT_EQ(reads_of(0), 1u) << "nothing waiting for the socket: the next read at once";
  // A partition waiting for the socket that loses its subscription is forgotten.
  socket_busy = true;
  answer(0, 1);
  PubSubReq req;
  req.mutable_cmd_unsubscribe()->set_subscription_id(id);
  ASSERT_TRUE(send(req).has_unsubscribe_resp());
  connection.on_written();
  EXPECT_EQ(reads_of(0), 0u);
}

TEST_F(PushConnection, ACongestedSessionHoldsBatchesAndResumesWhenItDrains) {
  hello();
  const auto id = subscribe(CmdKafkaSubscribe::EARLIEST, 10);
  connection.set_congested(true);
  answer(0, 1);
  EXPECT_TRUE(pushed.empty());
  EXPECT_EQ(reads_of(0), 0u);
  connection.set_congested(false);
  ASSERT_EQ(pushed.size(), 1u);
  EXPECT_EQ(reads_of(0), 1u);
  (void)id;
}

TEST_F(PushConnection, UnsubscribeCancelsTheReadsAndNothingFollows) {
  hello();
  const auto id = subscribe(CmdKafkaSubscribe::EARLIEST, 5);
  ASSERT_EQ(source.reads.size(), 2u);
  PubSubReq req;
  req.set_sequence(9);
  req.mutable_cmd_unsubscribe()->set_subscription_id(id);
  EXPECT_TRUE(send(req).has_unsubscribe_resp());
  for (const auto& r : source.reads) EXPECT_TRUE(kpg::kafka::is_cancelled(r.cancel));
  answer(0, 1);  // a late answer (a source drops these; this one does not)
  EXPECT_TRUE(pushed.empty());
}

TEST_F(PushConnection, AFailedReadEndsTheSubscriptionWithItsCode) {
  hello();
  const auto id = subscribe(CmdKafkaSubscribe::EARLIEST, 5);
  auto read = std::move(source.reads.front());
  source.reads.pop_front();
  read.done(BatchResult{
      kpg::kafka::KafkaError{kpg::kafka::ErrorKind::offset_out_of_range, "OFFSET_OUT_OF_RANGE"},
      nullptr});
  run();
  ASSERT_EQ(pushed.size(), 1u);
  EXPECT_EQ(pushed[0].sequence(), 77);
  EXPECT_EQ(pushed[0].error_resp().code(), ErrorCode::OFFSET_OUT_OF_RANGE);
  for (const auto& r : source.reads) EXPECT_TRUE(kpg::kafka::is_cancelled(r.cancel));
  credit(id, 1);  // ignored: the subscription is gone
  EXPECT_EQ(connection.subscriptions(), 0u);
}

TEST_F(PushConnection, ShutdownCancelsEverythingAndSendsNothingMore) {
  hello();
  subscribe(CmdKafkaSubscribe::EARLIEST, 5);
  connection.shutdown();
  for (const auto& r : source.reads) EXPECT_TRUE(kpg::kafka::is_cancelled(r.cancel));
  answer(0, 1);
  EXPECT_TRUE(pushed.empty());
}

TEST_F(PushConnection, MetadataListsPartitionsWithOffsetsAndLeavesInternalTopicsOut) {
  hello();
  PubSubReq req;
  req.set_sequence(4);
  req.mutable_cmd_kafka_metadata();
  const auto resp = send(req);
  ASSERT_TRUE(resp.has_kafka_metadata_resp()) << resp.ShortDebugString();
  const auto& topics = resp.kafka_metadata_resp().topics();
  ASSERT_EQ(topics.size(), 1);
  EXPECT_EQ(topics[0].name(), "t");
  ASSERT_EQ(topics[0].partitions_size(), 2);
  EXPECT_EQ(topics[0].partitions(1).partition(), 1);
  EXPECT_EQ(topics[0].partitions(1).earliest(), 5);
  EXPECT_EQ(topics[0].partitions(1).latest(), 8);
  req.mutable_cmd_kafka_metadata()->add_topics("missing");
  const auto missing = send(req);
  ASSERT_TRUE(missing.has_error_resp());
  EXPECT_EQ(missing.error_resp().code(), ErrorCode::UNKNOWN_TOPIC);
}

}  // namespace
