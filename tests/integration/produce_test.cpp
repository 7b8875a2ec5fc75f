// Produce (cmd_kafka_produce) on the real kpg-gateway and a real Kafka-protocol broker
// (kpg-devkafka): records written through the gateway are read back from the broker with every
// field; each refusal (not enabled, not in the write list, unknown topic or partition, too large,
// over the connection's rate or in-flight bytes, broker unavailable) is asserted with its code.
#include "child_process.h"
#include "gateway_process.h"
#include "test_clients.h"

#include <kpg/pubsub.pb.h>

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>

#include <filesystem>
#include <map>
#include <set>

namespace {

using namespace std::chrono_literals;
using kpg::pubsub::ErrorCode;
using kpg::pubsub::PubSubReq;
using kpg::pubsub::PubSubResp;
using kpg::testing::http_request;
using nlohmann::json;
using verb = boost::beast::http::verb;

constexpr const char* kAdminKey = "produce-admin-key-0123456789abcdef";

json route(const std::string& bootstrap, const std::string& uri, const json& proxy) {
  json r = {{"uri", uri},
            {"upstream", {{"scheme", "kafka"}, {"type", "none"}, {"nodes", {{bootstrap, 1}}}}}};
  if (!proxy.empty()) r["plugins"] = {{"kafka-proxy", proxy}};
  return r;
}

void put_route(const kpg::testing::Gateway& gateway, const std::string& id, const json& body) {
  const auto res = http_request(gateway.admin_port, verb::put, "/apisix/admin/routes/" + id,
                                std::string(kAdminKey), body.dump());
  ASSERT_EQ(res.status, 201) << res.body;
}

// A connection that said hello, with reads that time out instead of hanging the test.
std::unique_ptr<kpg::testing::RawSocket> connect(const kpg::testing::Gateway& gateway,
                                                 const std::string& path,
                                                 PubSubResp* hello_resp = nullptr) {
  auto socket = std::make_unique<kpg::testing::RawSocket>(gateway.port, path);
  // Pipelined frames leave at once (as the SDK's do), not after the gateway's delayed ACK.
  const int one = 1;
  ::setsockopt(socket->native_handle(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  PubSubReq req;
  req.set_sequence(1);
  req.mutable_cmd_hello()->set_protocol_version(1);
  socket->send_binary(req.SerializeAsString());
  auto resp = socket->receive();
  EXPECT_TRUE(resp && resp->has_hello_resp());
  if (hello_resp && resp) *hello_resp = *resp;
  return socket;
}

PubSubReq produce(std::int64_t sequence, const std::string& topic, const std::string& value) {
  PubSubReq req;
  req.set_sequence(sequence);
  req.mutable_cmd_kafka_produce()->set_topic(topic);
  req.mutable_cmd_kafka_produce()->set_value(value);
  return req;
}

PubSubResp request(kpg::testing::RawSocket& socket, const PubSubReq& req) {
  socket.send_binary(req.SerializeAsString());
  auto resp = socket.receive();
  EXPECT_TRUE(resp) << "no answer within the timeout";
  return resp.value_or(PubSubResp{});
}

// One broker and one gateway for the suite. Topics: orders (3 partitions), audit (1), logs (1).
class Produce : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    broker_ = new kpg::testing::ChildProcess({KPG_DEVKAFKA_BIN, "mock", "--topic", "orders:3",
                                              "--topic", "audit:1", "--topic", "logs:1"});
    auto line = broker_->wait_for_line("bootstrap=", 15s);
    ASSERT_TRUE(line) << broker_->transcript();
    bootstrap_ = kpg::testing::field(*line, "bootstrap");
    dir_ = std::filesystem::temp_directory_path() / ("kpg-produce-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir_);
    gateway_ = new kpg::testing::Gateway(
        kpg::testing::start_gateway(dir_, std::string("admin_key: ") + kAdminKey + "\n"));
    ASSERT_FALSE(gateway_->port.empty());
    // Reads orders, audit and logs; writes orders and logs only.
    put_route(*gateway_, "writer",
              route(bootstrap_, "/writer",
                    {{"topics", {"orders", "audit", "logs", "missing"}},
                     {"produce",
                      {{"topics", {"orders", "logs", "missing"}},
                       {"max_record_bytes", 1000},
                       {"max_inflight_bytes", 1500},
                       {"max_records_per_second", 0}}}}));
    put_route(*gateway_, "reader", route(bootstrap_, "/reader", json::object()));
    put_route(*gateway_, "slow",
              route(bootstrap_, "/slow",
                    {{"produce", {{"topics", {"logs"}}, {"max_records_per_second", 5}}}}));
  }
  static void TearDownTestSuite() {
    delete gateway_;
    gateway_ = nullptr;
    delete broker_;
    broker_ = nullptr;
    std::filesystem::remove_all(dir_);
  }

  static inline kpg::testing::ChildProcess* broker_ = nullptr;
  static inline kpg::testing::Gateway* gateway_ = nullptr;

 public:
  static const kpg::testing::Gateway* gateway() { return gateway_; }

 protected:
  static inline std::string bootstrap_;
  static inline std::filesystem::path dir_;
};

TEST_F(Produce, ARecordIsWrittenWithEveryFieldAndReadBack) {
  PubSubResp hello;
  auto socket = connect(*gateway_, "/writer", &hello);
  const auto& features = hello.hello_resp().features();
  EXPECT_NE(std::find(features.begin(), features.end(), "produce"), features.end());
  EXPECT_EQ(hello.hello_resp().limits().max_record_bytes(), 1000u);
  EXPECT_EQ(hello.hello_resp().limits().max_produce_inflight_bytes(), 1500u);

  PubSubReq req = produce(7, "orders", "v1");
  auto* cmd = req.mutable_cmd_kafka_produce();
  cmd->set_partition(2);
  cmd->set_key("k1");
  cmd->set_timestamp(1'700'000'000'123);
  auto* h = cmd->add_headers();
  h->set_key("trace");
  h->set_value(std::string("a\0b", 3));
  const auto resp = request(*socket, req);
  ASSERT_TRUE(resp.has_kafka_produce_resp()) << resp.DebugString();
  EXPECT_EQ(resp.sequence(), 7);
  EXPECT_EQ(resp.kafka_produce_resp().partition(), 2);
  // (The answer's timestamp is what the broker reports: -1 from a real broker for a CreateTime
  // topic, so the gateway reports the record's; the mock broker reports a made-up LogAppendTime,
  // 1234, for every record. The written timestamp is checked by reading the record back.)
  const auto offset = resp.kafka_produce_resp().offset();
  EXPECT_GE(offset, 0);

  // Read back through the gateway (a route that only reads).
  auto reader = connect(*gateway_, "/reader");
  reader->send_binary(kpg::testing::fetch_frame(8, "orders", 2, offset));
  auto answer = reader->receive();
  ASSERT_TRUE(answer && answer->has_kafka_fetch_resp()) << (answer ? answer->DebugString() : "");
  ASSERT_GE(answer->kafka_fetch_resp().messages_size(), 1);
  const auto& m = answer->kafka_fetch_resp().messages(0);
  EXPECT_EQ(m.offset(), offset);
  EXPECT_EQ(m.key(), "k1");
  EXPECT_EQ(m.value(), "v1");
  EXPECT_EQ(m.timestamp(), 1'700'000'000'123);
  ASSERT_EQ(m.headers_size(), 1);
  EXPECT_EQ(m.headers(0).key(), "trace");
  EXPECT_EQ(m.headers(0).value(), std::string("a\0b", 3));
}

TEST_F(Produce, ManyRequestsInFlightAreAnsweredBySequenceInPartitionOrder) {
  auto socket = connect(*gateway_, "/writer");
  constexpr int kRecords = 200;
  for (int i = 0; i < kRecords; ++i) {
    PubSubReq req = produce(1000 + i, "logs", "r" + std::to_string(i));
    socket->send_binary(req.SerializeAsString());
  }
  std::map<std::int64_t, std::int64_t> offsets;  // sequence -> offset
  for (int i = 0; i < kRecords; ++i) {
    auto resp = socket->receive();
    ASSERT_TRUE(resp);
    ASSERT_TRUE(resp->has_kafka_produce_resp()) << resp->DebugString();
    EXPECT_EQ(resp->kafka_produce_resp().partition(), 0);
    offsets[resp->sequence()] = resp->kafka_produce_resp().offset();
  }
  ASSERT_EQ(offsets.size(), static_cast<std::size_t>(kRecords));
  EXPECT_EQ(offsets.begin()->first, 1000);
  // One connection's records of one partition keep their order (idempotent producer).
  std::int64_t previous = -1;
  for (const auto& [sequence, offset] : offsets) {
    EXPECT_GT(offset, previous) << "sequence " << sequence;
    previous = offset;
  }
  EXPECT_EQ(offsets.rbegin()->second - offsets.begin()->second, kRecords - 1);
}

TEST_F(Produce, WithoutAPartitionTheKeyChoosesIt) {
  auto socket = connect(*gateway_, "/writer");
  std::set<std::int32_t> partitions;
  for (int round = 0; round < 2; ++round) {
    PubSubReq req = produce(20 + round, "orders", "same key");
    req.mutable_cmd_kafka_produce()->set_key("customer-42");
    const auto resp = request(*socket, req);
    ASSERT_TRUE(resp.has_kafka_produce_resp()) << resp.DebugString();
    partitions.insert(resp.kafka_produce_resp().partition());
  }
  EXPECT_EQ(partitions.size(), 1u) << "one key, one partition";
  EXPECT_LT(*partitions.begin(), 3);
}

TEST_F(Produce, RefusalsSayWhatIsWrong) {
  struct Case {
    const char* name;
    std::string path;
    PubSubReq req;
    int code;
    std::string message;
  };
  PubSubReq bad_partition = produce(3, "orders", "x");
  bad_partition.mutable_cmd_kafka_produce()->set_partition(3);
  PubSubReq negative = produce(4, "orders", "x");
  negative.mutable_cmd_kafka_produce()->set_partition(-1);
  PubSubReq too_large = produce(5, "orders", std::string(990, 'v'));
  too_large.mutable_cmd_kafka_produce()->set_key(std::string(11, 'k'));
  const Case cases[] = {
      {"not enabled", "/reader", produce(1, "orders", "x"), ErrorCode::NOT_ALLOWED,
       "failed to produce, topic: orders, err: produce is not enabled on this route"},
      {"read-only topic", "/writer", produce(2, "audit", "x"), ErrorCode::NOT_ALLOWED,
       "failed to produce, topic: audit, err: topic not allowed for writing"},
      {"unknown partition", "/writer", bad_partition, ErrorCode::UNKNOWN_PARTITION,
       "failed to produce, topic: orders, partition: 3, err: not found partition"},
      {"negative partition", "/writer", negative, ErrorCode::BAD_REQUEST,
       "failed to produce, topic: orders, err: invalid partition"},
      {"too large", "/writer", too_large, ErrorCode::RECORD_TOO_LARGE,
       "failed to produce, topic: orders, err: record of 1001 bytes is larger than the route's "
       "1000 (max_record_bytes)"},
      {"unknown topic", "/writer", produce(6, "missing", "x"), ErrorCode::UNKNOWN_TOPIC,
       "failed to produce, topic: missing, err: not found topic"},
      {"invalid name", "/writer", produce(7, "bad topic!", "x"), ErrorCode::BAD_REQUEST,
       "failed to produce, topic: (invalid), err: invalid topic name"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    auto socket = connect(*gateway_, c.path);
    const auto resp = request(*socket, c.req);
    ASSERT_TRUE(resp.has_error_resp()) << resp.DebugString();
    EXPECT_EQ(resp.sequence(), c.req.sequence());
    EXPECT_EQ(resp.error_resp().code(), c.code);
    EXPECT_EQ(resp.error_resp().message(), c.message);
    EXPECT_FALSE(resp.error_resp().possibly_written());
  }
  // Naming a topic that does not exist did not create it.
  auto socket = connect(*gateway_, "/writer");
  PubSubReq metadata;
  metadata.set_sequence(9);
  metadata.mutable_cmd_kafka_metadata()->add_topics("missing");
  const auto resp = request(*socket, metadata);
  ASSERT_TRUE(resp.has_error_resp()) << resp.DebugString();
  EXPECT_EQ(resp.error_resp().code(), ErrorCode::UNKNOWN_TOPIC);
}

TEST_F(Produce, AConnectionOverItsInflightBytesIsRefusedUntilAcknowledgementsCome) {
  auto socket = connect(*gateway_, "/writer");
  // 1500 in-flight bytes: the second 900-byte record, sent before the first is acknowledged, is
  // refused; once the first is acknowledged the third goes through.
  socket->send_binary(produce(1, "logs", std::string(900, 'a')).SerializeAsString());
  socket->send_binary(produce(2, "logs", std::string(900, 'b')).SerializeAsString());
  std::map<std::int64_t, PubSubResp> answers;
  for (int i = 0; i < 2; ++i) {
    auto resp = socket->receive();
    ASSERT_TRUE(resp);
    answers[resp->sequence()] = *resp;
  }
  EXPECT_TRUE(answers[1].has_kafka_produce_resp()) << answers[1].DebugString();
  ASSERT_TRUE(answers[2].has_error_resp()) << answers[2].DebugString();
  EXPECT_EQ(answers[2].error_resp().code(), ErrorCode::LIMIT_EXCEEDED);
  EXPECT_EQ(answers[2].error_resp().message(),
            "failed to produce, topic: logs, err: more than 1500 record bytes awaiting "
            "acknowledgement on this connection");
  EXPECT_TRUE(request(*socket, produce(3, "logs", std::string(900, 'c'))).has_kafka_produce_resp());
}

TEST_F(Produce, AConnectionOverItsRecordRateIsRefused) {
  auto socket = connect(*gateway_, "/slow");
  constexpr int kSent = 12;  // a burst of 5 is allowed, refilled at 5 per second
  for (int i = 0; i < kSent; ++i) {
    socket->send_binary(produce(100 + i, "logs", "x").SerializeAsString());
  }
  int written = 0;
  int refused = 0;
  for (int i = 0; i < kSent; ++i) {
    auto resp = socket->receive();
    ASSERT_TRUE(resp);
    if (resp->has_kafka_produce_resp()) {
      ++written;
    } else {
      ASSERT_TRUE(resp->has_error_resp());
      EXPECT_EQ(resp->error_resp().code(), ErrorCode::LIMIT_EXCEEDED);
      EXPECT_EQ(resp->error_resp().message(),
                "failed to produce, topic: logs, err: more than 5 records per second on this "
                "connection");
      ++refused;
    }
  }
  EXPECT_GE(written, 5);
  EXPECT_LE(written, 7) << "the burst, plus what refilled while the requests were read";
  EXPECT_EQ(written + refused, kSent);
}

TEST_F(Produce, RouteSettingsAreValidated) {
  const struct {
    json produce;
    std::string message;
  } cases[] = {
      {{{"max_record_bytes", 10}},
       "invalid configuration: property \"plugins.kafka-proxy.produce.topics\" is required: the "
       "topics the route's clients may write (\"*\" for every topic)"},
      {{{"topics", {"a"}}, {"max_record_bytes", 0}},
       "invalid configuration: property \"plugins.kafka-proxy.produce.max_record_bytes\" "
       "validation failed: expected 1..16777216, got 0"},
      {{{"topics", {"a"}}, {"max_record_bytes", 2000}, {"max_inflight_bytes", 1000}},
       "invalid configuration: property \"plugins.kafka-proxy.produce.max_inflight_bytes\" "
       "validation failed: must be at least max_record_bytes (2000)"},
      {{{"topics", {"a"}}, {"acks", 1}},
       "invalid configuration: property \"plugins.kafka-proxy.produce.acks\" is not supported by "
       "kpg"},
  };
  for (const auto& c : cases) {
    const auto res = http_request(gateway_->admin_port, verb::put, "/apisix/admin/routes/bad",
                                  std::string(kAdminKey),
                                  route(bootstrap_, "/bad", {{"produce", c.produce}}).dump());
    EXPECT_EQ(res.status, 400) << res.body;
    EXPECT_EQ(json::parse(res.body).value("error_msg", ""), c.message);
  }
}

PubSubReq produce_batch(std::int64_t sequence, const std::vector<PubSubReq>& records) {
  PubSubReq req;
  req.set_sequence(sequence);
  auto* batch = req.mutable_cmd_kafka_produce_batch();  // set even when empty
  for (const auto& r : records) *batch->add_records() = r.cmd_kafka_produce();
  return req;
}

// The end of `topic`'s partition `partition`, as the broker reports it.
std::int64_t log_end(const std::string& topic, std::int32_t partition) {
  auto reader = connect(*Produce::gateway(), "/reader");
  PubSubReq req;
  req.set_sequence(5);
  req.mutable_cmd_kafka_list_offset()->set_topic(topic);
  req.mutable_cmd_kafka_list_offset()->set_partition(partition);
  req.mutable_cmd_kafka_list_offset()->set_timestamp(-1);
  const auto resp = request(*reader, req);
  EXPECT_TRUE(resp.has_kafka_list_offset_resp()) << resp.DebugString();
  return resp.kafka_list_offset_resp().offset();
}

TEST_F(Produce, ABatchIsAnsweredOnceWithOneResultPerRecordInOrderAndReadsBack) {
  PubSubResp hello;
  auto socket = connect(*gateway_, "/writer", &hello);
  EXPECT_EQ(hello.hello_resp().limits().max_produce_batch_records(), 10'000u);
  // Two partitions interleaved, keys, a header and a tombstone.
  std::vector<PubSubReq> records;
  for (int i = 0; i < 6; ++i) {
    PubSubReq r = produce(0, "orders", "b" + std::to_string(i));
    r.mutable_cmd_kafka_produce()->set_partition(i % 2);
    r.mutable_cmd_kafka_produce()->set_key("k" + std::to_string(i));
    if (i == 3) r.mutable_cmd_kafka_produce()->clear_value();
    auto* h = r.mutable_cmd_kafka_produce()->add_headers();
    h->set_key("i");
    h->set_value(std::to_string(i));
    records.push_back(r);
  }
  const auto resp = request(*socket, produce_batch(40, records));
  ASSERT_TRUE(resp.has_kafka_produce_batch_resp()) << resp.DebugString();
  EXPECT_EQ(resp.sequence(), 40);
  const auto& results = resp.kafka_produce_batch_resp().results();
  ASSERT_EQ(results.size(), 6);
  for (int i = 0; i < 6; ++i) {
    ASSERT_TRUE(results[i].has_written()) << results[i].DebugString();
    EXPECT_FALSE(results[i].has_error());
    EXPECT_EQ(results[i].written().partition(), i % 2);
    if (i >= 2) {
      EXPECT_EQ(results[i].written().offset(), results[i - 2].written().offset() + 1)
          << "a partition's records are written in the batch's order";
    }
  }
  auto reader = connect(*gateway_, "/reader");
  for (int partition = 0; partition < 2; ++partition) {
    reader->send_binary(
        kpg::testing::fetch_frame(8, "orders", partition, results[partition].written().offset()));
    auto answer = reader->receive();
    ASSERT_TRUE(answer && answer->has_kafka_fetch_resp()) << (answer ? answer->DebugString() : "");
    ASSERT_GE(answer->kafka_fetch_resp().messages_size(), 3);
    for (int j = 0; j < 3; ++j) {
      const int i = partition + 2 * j;
      const auto& m = answer->kafka_fetch_resp().messages(j);
      EXPECT_EQ(m.offset(), results[i].written().offset());
      EXPECT_EQ(m.key(), "k" + std::to_string(i));
      EXPECT_EQ(m.value(), i == 3 ? "" : "b" + std::to_string(i));
      ASSERT_EQ(m.headers_size(), 1);
      EXPECT_EQ(m.headers(0).value(), std::to_string(i));
    }
  }
}

TEST_F(Produce, ABatchWithOneBadRecordIsRefusedWholeAndWritesNothing) {
  auto socket = connect(*gateway_, "/writer");
  const std::int64_t end_before = log_end("logs", 0);
  struct Case {
    PubSubReq bad;
    int code;
    std::string message;
  } cases[] = {
      {produce(0, "audit", "x"), ErrorCode::NOT_ALLOWED,
       "record 2: failed to produce, topic: audit, err: topic not allowed for writing"},
      {produce(0, "logs", std::string(1001, 'x')), ErrorCode::RECORD_TOO_LARGE,
       "record 2: failed to produce, topic: logs, err: record of 1001 bytes is larger than the "
       "route's 1000 (max_record_bytes)"},
      {produce(0, "no/such", "x"), ErrorCode::BAD_REQUEST,
       "record 2: failed to produce, topic: (invalid), err: invalid topic name"},
  };
  for (const auto& c : cases) {
    const auto resp = request(
        *socket, produce_batch(50, {produce(0, "logs", "a"), produce(0, "logs", "b"), c.bad}));
    ASSERT_TRUE(resp.has_error_resp()) << resp.DebugString();
    EXPECT_EQ(resp.error_resp().code(), c.code);
    EXPECT_EQ(resp.error_resp().message(), c.message);
    EXPECT_FALSE(resp.error_resp().possibly_written());
  }
  // The bounds of the batch itself.
  auto resp = request(*socket, produce_batch(51, {}));
  ASSERT_TRUE(resp.has_error_resp());
  EXPECT_EQ(resp.error_resp().code(), ErrorCode::BAD_REQUEST);
  EXPECT_EQ(resp.error_resp().message(),
            "failed to produce a batch, err: a batch needs at least one record");
  resp =
      request(*socket, produce_batch(52, std::vector<PubSubReq>(10'001, produce(0, "logs", ""))));
  ASSERT_TRUE(resp.has_error_resp());
  EXPECT_EQ(resp.error_resp().code(), ErrorCode::BAD_REQUEST);
  EXPECT_EQ(resp.error_resp().message(),
            "failed to produce a batch, err: more than 10000 records in one batch");
  // 1500 in-flight bytes: two records of 800 are refused together.
  resp = request(*socket, produce_batch(53, {produce(0, "logs", std::string(800, 'a')),
                                             produce(0, "logs", std::string(800, 'b'))}));
  ASSERT_TRUE(resp.has_error_resp());
  EXPECT_EQ(resp.error_resp().code(), ErrorCode::LIMIT_EXCEEDED);
  EXPECT_EQ(resp.error_resp().message(),
            "failed to produce a batch, err: more than 1500 record bytes awaiting acknowledgement "
            "on this connection");
  EXPECT_EQ(log_end("logs", 0), end_before) << "no record of a refused batch was written";
}

TEST_F(Produce, ARecordOfABatchThatKafkaRefusesFailsAloneWhileTheOthersAreWritten) {
  auto socket = connect(*gateway_, "/writer");
  PubSubReq bad_partition = produce(0, "logs", "p");
  bad_partition.mutable_cmd_kafka_produce()->set_partition(7);
  const auto resp = request(
      *socket, produce_batch(60, {produce(0, "logs", "first"), produce(0, "missing", "nowhere"),
                                  bad_partition, produce(0, "logs", "last")}));
  ASSERT_TRUE(resp.has_kafka_produce_batch_resp()) << resp.DebugString();
  const auto& results = resp.kafka_produce_batch_resp().results();
  ASSERT_EQ(results.size(), 4);
  ASSERT_TRUE(results[0].has_written());
  ASSERT_TRUE(results[1].has_error());
  EXPECT_EQ(results[1].error().code(), ErrorCode::UNKNOWN_TOPIC);
  EXPECT_EQ(results[1].error().message(),
            "failed to produce, topic: missing, err: not found topic");
  EXPECT_FALSE(results[1].error().possibly_written());
  ASSERT_TRUE(results[2].has_error());
  EXPECT_EQ(results[2].error().code(), ErrorCode::UNKNOWN_PARTITION);
  EXPECT_EQ(results[2].error().message(),
            "failed to produce, topic: logs, partition: 7, err: not found partition");
  ASSERT_TRUE(results[3].has_written());
  EXPECT_EQ(results[3].written().offset(), results[0].written().offset() + 1);
}

TEST_F(Produce, ABatchCountsEachOfItsRecordsAgainstTheRecordRate) {
  auto socket = connect(*gateway_, "/slow");  // 5 records per second, a burst of 5
  std::vector<PubSubReq> six(6, produce(0, "logs", "x"));
  auto resp = request(*socket, produce_batch(70, six));
  ASSERT_TRUE(resp.has_error_resp());
  EXPECT_EQ(resp.error_resp().code(), ErrorCode::LIMIT_EXCEEDED);
  EXPECT_EQ(resp.error_resp().message(),
            "failed to produce a batch, err: a batch of 6 records is more than the 5 records per "
            "second this connection may write");
  std::vector<PubSubReq> four(4, produce(0, "logs", "x"));
  resp = request(*socket, produce_batch(71, four));
  ASSERT_TRUE(resp.has_kafka_produce_batch_resp()) << resp.DebugString();
  resp = request(*socket, produce_batch(72, four));
  ASSERT_TRUE(resp.has_error_resp()) << "8 records within a second: " << resp.DebugString();
  EXPECT_EQ(resp.error_resp().message(),
            "failed to produce a batch, err: more than 5 records per second on this connection");
}

// Its own broker, stopped during the test, and a short produce timeout.
TEST(ProduceUnavailable, ABrokerThatIsGoneFailsTheRecordAsNotWritten) {
  kpg::testing::ChildProcess broker({KPG_DEVKAFKA_BIN, "mock", "--topic", "logs:1"});
  auto line = broker.wait_for_line("bootstrap=", 15s);
  ASSERT_TRUE(line) << broker.transcript();
  const auto bootstrap = kpg::testing::field(*line, "bootstrap");
  const auto dir =
      std::filesystem::temp_directory_path() / ("kpg-produce-down-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  auto gateway = kpg::testing::start_gateway(
      dir, std::string("admin_key: ") + kAdminKey + "\nkafka_produce_timeout_ms: 1500\n");
  ASSERT_FALSE(gateway.port.empty());
  put_route(
      gateway, "w",
      route(bootstrap, "/w", {{"produce", {{"topics", {"logs"}}, {"max_records_per_second", 0}}}}));
  auto socket = connect(gateway, "/w");
  ASSERT_TRUE(request(*socket, produce(1, "logs", "before")).has_kafka_produce_resp());
  broker.stop(SIGKILL, 5s);

  // 10,000 records wait for a broker that is gone: the connection may not add one more, however
  // small, until they are answered; then each fails as not written.
  PubSubReq batch;
  batch.set_sequence(2);
  for (int i = 0; i < 10'000; ++i) {
    auto* r = batch.mutable_cmd_kafka_produce_batch()->add_records();
    r->set_topic("logs");
    r->set_value("");
  }
  socket->send_binary(batch.SerializeAsString());
  const auto one_more = request(*socket, produce(3, "logs", ""));
  ASSERT_TRUE(one_more.has_error_resp()) << one_more.DebugString();
  EXPECT_EQ(one_more.sequence(), 3);
  EXPECT_EQ(one_more.error_resp().code(), ErrorCode::LIMIT_EXCEEDED);
  EXPECT_EQ(one_more.error_resp().message(),
            "failed to produce, topic: logs, err: more than 10000 records awaiting "
            "acknowledgement on this connection");
  const auto failed = socket->receive();
  ASSERT_TRUE(failed && failed->has_kafka_produce_batch_resp());
  ASSERT_EQ(failed->kafka_produce_batch_resp().results_size(), 10'000);
  for (const auto& r : failed->kafka_produce_batch_resp().results()) {
    ASSERT_TRUE(r.has_error());
    EXPECT_EQ(r.error().code(), ErrorCode::UNAVAILABLE);
    EXPECT_FALSE(r.error().possibly_written());
  }

  const auto resp = request(*socket, produce(4, "logs", "after"));
  ASSERT_TRUE(resp.has_error_resp()) << resp.DebugString();
  EXPECT_EQ(resp.error_resp().code(), ErrorCode::UNAVAILABLE);
  EXPECT_NE(resp.error_resp().message().find("failed to produce, topic: logs"), std::string::npos)
      << resp.error_resp().message();
  EXPECT_FALSE(resp.error_resp().possibly_written()) << "it was never sent";
  gateway.process.reset();
  std::filesystem::remove_all(dir);
}

}  // namespace
