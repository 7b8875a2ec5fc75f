// Server-side record filters (KafkaFilter on cmd_kafka_subscribe and cmd_kafka_fetch), route
// filters pinned to JWT claims (plugins.kafka-proxy.filter) and snapshot-then-tail (start
// SNAPSHOT) on the real kpg-gateway process and a real Kafka-protocol broker (kpg-devkafka's
// mock cluster). Records are written through the gateway (cmd_kafka_produce_batch: keys, headers,
// tombstones) and read back frame by frame with raw WebSocket clients. Every wait is bounded by a
// receive timeout or a deadline; exact codes and messages are asserted.
#include "child_process.h"
#include "gateway_process.h"
#include "jwt_tokens.h"
#include "test_clients.h"

#include <kpg/pubsub.pb.h>

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <filesystem>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <thread>

namespace {

using namespace std::chrono_literals;
using kpg::pubsub::CmdKafkaSubscribe;
using kpg::pubsub::ErrorCode;
using kpg::pubsub::FilterCondition;
using kpg::pubsub::JsonFieldCompare;
using kpg::pubsub::JsonScalar;
using kpg::pubsub::KafkaFilter;
using kpg::pubsub::KafkaMessage;
using kpg::pubsub::KafkaRecordsResp;
using kpg::pubsub::PubSubReq;
using kpg::pubsub::PubSubResp;
using kpg::testing::http_request;
using nlohmann::json;
using verb = boost::beast::http::verb;

constexpr const char* kAdminKey = "filter-test-admin-key-0123456789";
constexpr const char* kJwtKey = "filter-tenants-key";
constexpr const char* kJwtSecret = "filter-tenants-secret-0123456789";

// ---- describing frames (protobuf-lite has no DebugString) ----------------------------------

std::string offsets_of(const google::protobuf::RepeatedPtrField<KafkaMessage>& messages) {
  std::string out = "[";
  for (const auto& m : messages) {
    if (out.size() > 1) out += ",";
    out += std::to_string(m.offset());
  }
  return out + "]";
}

std::string describe(const PubSubResp& frame) {
  const std::string seq = "sequence " + std::to_string(frame.sequence());
  if (frame.has_error_resp()) {
    return "error_resp{" + seq + ", code " + std::to_string(frame.error_resp().code()) + ", \"" +
           frame.error_resp().message() + "\"}";
  }
  if (frame.has_kafka_records()) {
    const auto& r = frame.kafka_records();
    return "kafka_records{" + seq + ", subscription " + std::to_string(r.subscription_id()) +
           ", partition " + std::to_string(r.partition()) + ", high_watermark " +
           std::to_string(r.high_watermark()) + ", next_offset " + std::to_string(r.next_offset()) +
           (r.snapshot() ? ", snapshot" : "") + (r.snapshot_end() ? ", snapshot_end" : "") +
           ", offsets " + offsets_of(r.messages()) + "}";
  }
  if (frame.has_kafka_fetch_resp()) {
    return "kafka_fetch_resp{" + seq + ", next_offset " +
           std::to_string(frame.kafka_fetch_resp().next_offset()) + ", offsets " +
           offsets_of(frame.kafka_fetch_resp().messages()) + "}";
  }
  if (frame.has_kafka_subscribe_resp()) {
    return "kafka_subscribe_resp{" + seq + ", id " +
           std::to_string(frame.kafka_subscribe_resp().subscription_id()) + "}";
  }
  if (frame.has_pong_resp()) return "pong_resp{" + seq + ", " + frame.pong_resp().state() + "}";
  return "a frame of kind " + std::to_string(frame.resp_case()) + ", " + seq;
}

std::string describe(const KafkaRecordsResp& records) {
  PubSubResp frame;
  *frame.mutable_kafka_records() = records;
  return describe(frame);
}

// ---- filters ---------------------------------------------------------------------------------

FilterCondition key_equals(const std::string& key) {
  FilterCondition c;
  c.set_key_equals(key);
  return c;
}
FilterCondition key_prefix(const std::string& prefix) {
  FilterCondition c;
  c.set_key_prefix(prefix);
  return c;
}
FilterCondition header(const std::string& key, const std::string& value) {
  FilterCondition c;
  c.mutable_header()->set_key(key);
  c.mutable_header()->set_value(value);
  return c;
}
JsonScalar str(const std::string& s) {
  JsonScalar v;
  v.set_string_value(s);
  return v;
}
JsonScalar num(double d) {
  JsonScalar v;
  v.set_number_value(d);
  return v;
}
JsonScalar boolean(bool b) {
  JsonScalar v;
  v.set_bool_value(b);
  return v;
}
JsonScalar null_value() {
  JsonScalar v;
  v.set_null_value(true);
  return v;
}
FilterCondition json_in(const std::string& path, const std::vector<JsonScalar>& values) {
  FilterCondition c;
  c.mutable_json_in()->set_path(path);
  for (const auto& v : values) *c.mutable_json_in()->add_values() = v;
  return c;
}
FilterCondition json_cmp(const std::string& path, JsonFieldCompare::Op op, double value) {
  FilterCondition c;
  c.mutable_json_compare()->set_path(path);
  c.mutable_json_compare()->set_op(op);
  c.mutable_json_compare()->set_value(value);
  return c;
}
KafkaFilter filter_of(const std::vector<FilterCondition>& conditions) {
  KafkaFilter f;
  for (const auto& c : conditions) *f.add_all() = c;
  return f;
}

// ---- requests --------------------------------------------------------------------------------

PubSubReq fetch_req(std::int64_t sequence, const std::string& topic, std::int32_t partition,
                    std::int64_t offset, const KafkaFilter* filter = nullptr) {
  PubSubReq req;
  req.set_sequence(sequence);
  auto* cmd = req.mutable_cmd_kafka_fetch();
  cmd->set_topic(topic);
  cmd->set_partition(partition);
  cmd->set_offset(offset);
  if (filter) *cmd->mutable_filter() = *filter;
  return req;
}

PubSubReq subscribe_req(std::int64_t sequence, const std::string& topic,
                        CmdKafkaSubscribe::Start start, std::uint32_t credit,
                        const KafkaFilter* filter = nullptr,
                        const std::map<std::int32_t, std::int64_t>& offsets = {}) {
  PubSubReq req;
  req.set_sequence(sequence);
  auto* cmd = req.mutable_cmd_kafka_subscribe();
  cmd->set_topic(topic);
  cmd->set_start(start);
  cmd->set_credit(credit);
  if (filter) *cmd->mutable_filter() = *filter;
  for (const auto& [p, o] : offsets) {
    auto* at = cmd->add_offsets();
    at->set_partition(p);
    at->set_offset(o);
  }
  return req;
}

// A record to write.
struct Rec {
  std::string key;
  std::optional<std::string> value;  // nullopt: a tombstone
  std::vector<std::pair<std::string, std::string>> headers = {};
  std::int32_t partition = 0;
};

// ---- a raw PubSub connection ---------------------------------------------------------------

class Client {
 public:
  Client(const std::string& port, const std::string& path, bool say_hello = true)
      : socket_(port, path) {
    const int one = 1;
    ::setsockopt(socket_.native_handle(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (say_hello) {
      PubSubReq req;
      req.set_sequence(1);
      req.mutable_cmd_hello()->set_protocol_version(1);
      req.mutable_cmd_hello()->set_client("filter_test");
      hello = request(req);
      EXPECT_TRUE(hello.has_hello_resp()) << describe(hello);
    }
  }

  void send(const PubSubReq& req) { socket_.send_binary(req.SerializeAsString()); }
  PubSubResp next() {
    auto resp = socket_.receive();
    if (!resp) {
      ADD_FAILURE() << "no frame within the timeout (or the connection closed: \""
                    << socket_.close_reason() << "\")";
      return {};
    }
    return *resp;
  }
  PubSubResp request(const PubSubReq& req) {
    send(req);
    return next();
  }
  // The next frame, which must be kafka_records.
  std::optional<KafkaRecordsResp> records() {
    const auto frame = next();
    if (!frame.has_kafka_records()) {
      ADD_FAILURE() << "expected kafka_records, got " << describe(frame);
      return std::nullopt;
    }
    return frame.kafka_records();
  }
  void credit(std::int64_t id, std::uint32_t credit) {
    PubSubReq req;
    req.set_sequence(7);
    req.mutable_cmd_credit()->set_subscription_id(id);
    req.mutable_cmd_credit()->set_credit(credit);
    send(req);
  }
  // Subscribes; the subscription id (0 and a failure when refused).
  std::int64_t subscribe(const PubSubReq& req, PubSubResp* resp_out = nullptr) {
    const auto resp = request(req);
    if (resp_out) *resp_out = resp;
    if (!resp.has_kafka_subscribe_resp()) {
      ADD_FAILURE() << "subscribe refused: " << describe(resp);
      return 0;
    }
    return resp.kafka_subscribe_resp().subscription_id();
  }
  // Every frame pushed before a ping's pong.
  std::vector<PubSubResp> until_pong(const std::string& state = "sync") {
    PubSubReq ping;
    ping.set_sequence(99999);
    ping.mutable_cmd_ping()->set_state(state);
    send(ping);
    std::vector<PubSubResp> before;
    for (int i = 0; i < 10'000; ++i) {
      auto frame = socket_.receive();
      if (!frame) {
        ADD_FAILURE() << "no pong within the timeout";
        break;
      }
      if (frame->has_pong_resp() && frame->pong_resp().state() == state) break;
      before.push_back(*frame);
    }
    return before;
  }
  // Nothing was pushed before this point: the pong is the very next frame.
  void expect_nothing_pushed(const std::string& why) {
    const auto before = until_pong(why);
    EXPECT_TRUE(before.empty()) << why << ": got " << describe(before.front());
  }

  PubSubResp hello;

 private:
  kpg::testing::RawSocket socket_;
};

// Writes `records` in one cmd_kafka_produce_batch; their offsets (empty and a failure when a
// record was not written).
std::vector<std::int64_t> produce(Client& writer, const std::string& topic,
                                  const std::vector<Rec>& records) {
  PubSubReq req;
  req.set_sequence(500);
  auto* batch = req.mutable_cmd_kafka_produce_batch();
  for (const auto& r : records) {
    auto* cmd = batch->add_records();
    cmd->set_topic(topic);
    cmd->set_partition(r.partition);
    cmd->set_key(r.key);
    if (r.value) cmd->set_value(*r.value);
    for (const auto& [k, v] : r.headers) {
      auto* h = cmd->add_headers();
      h->set_key(k);
      h->set_value(v);
    }
  }
  const auto resp = writer.request(req);
  std::vector<std::int64_t> offsets;
  if (!resp.has_kafka_produce_batch_resp()) {
    ADD_FAILURE() << "produce batch failed: " << describe(resp);
    return {};
  }
  for (const auto& result : resp.kafka_produce_batch_resp().results()) {
    if (!result.has_written()) {
      ADD_FAILURE() << "a record was not written: " << result.error().message();
      return {};
    }
    offsets.push_back(result.written().offset());
  }
  return offsets;
}

// The value of the unlabelled gauge `name` on the gateway's /metrics (-1 when absent).
double gauge(const std::string& admin_port, const std::string& name) {
  const auto r = http_request(admin_port, verb::get, "/metrics");
  EXPECT_EQ(r.status, 200) << r.body;
  const auto at = r.body.find("\n" + name + " ");
  if (at == std::string::npos) return -1;
  return std::stod(r.body.substr(at + name.size() + 2));
}

// key -> (offset, value): the latest record of each key, tombstones and empty values dropping
// the key (what a snapshot holds).
using State = std::map<std::string, std::pair<std::int64_t, std::string>>;

void apply_record(State& state, const KafkaMessage& m) {
  if (m.value().empty()) {
    state.erase(m.key());
  } else {
    state[m.key()] = {m.offset(), m.value()};
  }
}

std::string describe(const State& state) {
  std::string out;
  for (const auto& [k, v] : state) {
    out += k + "@" + std::to_string(v.first) + "=" + v.second.substr(0, 40) + " ";
  }
  return out;
}

// One broker and one gateway for the suite; each test writes its own topic.
class Filter : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    broker_ = new kpg::testing::ChildProcess(
        {KPG_DEVKAFKA_BIN, "mock",       "--topic", "plain:1",   "--topic", "json:1",
         "--topic",        "progress:1", "--topic", "fanout:1",  "--topic", "tenants:1",
         "--topic",        "state:1",    "--topic", "multi:3",   "--topic", "big:1",
         "--topic",        "split:1",    "--topic", "limits:1",  "--topic", "live:1",
         "--topic",        "probe:1",    "--topic", "bounded:1", "--topic", "too-large:1"});
    auto line = broker_->wait_for_line("bootstrap=", 15s);
    ASSERT_TRUE(line) << broker_->transcript();
    bootstrap_ = kpg::testing::field(*line, "bootstrap");
    dir_ = std::filesystem::temp_directory_path() / ("kpg-filter-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir_);
    gateway_ = new kpg::testing::Gateway(
        kpg::testing::start_gateway(dir_, std::string("admin_key: ") + kAdminKey + "\n"));
    ASSERT_FALSE(gateway_->port.empty());
    // Writes every topic; reads without a pinned filter.
    put_route("rw",
              route("/rw", {{"kafka-proxy",
                             {{"produce", {{"topics", {"*"}}, {"max_records_per_second", 0}}}}}}));
    put_route("open", route("/open", json::object()));
    const auto consumer = http_request(
        gateway_->admin_port, verb::put, "/apisix/admin/consumers/tenants", std::string(kAdminKey),
        json{{"plugins", {{"jwt-auth", {{"key", kJwtKey}, {"secret", kJwtSecret}}}}}}.dump());
    ASSERT_EQ(consumer.status, 201) << consumer.body;
  }
  static void TearDownTestSuite() {
    delete gateway_;
    gateway_ = nullptr;
    delete broker_;
    broker_ = nullptr;
    std::filesystem::remove_all(dir_);
  }

  static json route(const std::string& uri, const json& plugins) {
    json r = {{"uri", uri},
              {"upstream", {{"scheme", "kafka"}, {"type", "none"}, {"nodes", {{bootstrap_, 1}}}}}};
    if (!plugins.empty()) r["plugins"] = plugins;
    return r;
  }
  static kpg::testing::HttpResult put(const std::string& id, const json& body) {
    return http_request(gateway_->admin_port, verb::put, "/apisix/admin/routes/" + id,
                        std::string(kAdminKey), body.dump());
  }
  static void put_route(const std::string& id, const json& body) {
    const auto res = put(id, body);
    ASSERT_EQ(res.status, 201) << res.body;
  }
  static std::string token(const json& extra) {
    json claims = {{"key", kJwtKey}, {"exp", kpg::testing::unix_now() + 600}};
    for (auto it = extra.begin(); it != extra.end(); ++it) claims[it.key()] = it.value();
    return kpg::testing::sign_jwt("HS256", kJwtSecret, claims);
  }
  static std::unique_ptr<Client> client(const std::string& path = "/open", bool hello = true) {
    return std::make_unique<Client>(gateway_->port, path, hello);
  }

  // The offsets (minus `base`) a filtered fetch from `base` returns; its next_offset checked.
  static std::set<std::int64_t> fetched(Client& c, const std::string& topic, std::int64_t base,
                                        std::int64_t end, const KafkaFilter& filter) {
    const auto resp = c.request(fetch_req(11, topic, 0, base, &filter));
    std::set<std::int64_t> out;
    if (!resp.has_kafka_fetch_resp()) {
      ADD_FAILURE() << "fetch refused: " << describe(resp);
      return out;
    }
    EXPECT_EQ(resp.kafka_fetch_resp().next_offset(), end) << describe(resp);
    for (const auto& m : resp.kafka_fetch_resp().messages()) out.insert(m.offset() - base);
    return out;
  }

  // The offsets (minus `base`) a filtered subscription from `base` receives: frames are read until
  // every expected record came, then until a ping's pong after a short pause (a record beyond
  // them would be read by then: the log was complete before subscribing).
  static std::set<std::int64_t> pushed(const std::string& topic, std::int64_t base,
                                       const KafkaFilter& filter,
                                       const std::set<std::int64_t>& expected) {
    auto c = client();
    const auto id =
        c->subscribe(subscribe_req(3, topic, CmdKafkaSubscribe::LATEST, 100, &filter, {{0, base}}));
    std::set<std::int64_t> got;
    std::int64_t next = base;
    auto take = [&](const KafkaRecordsResp& r) {
      EXPECT_EQ(r.subscription_id(), id);
      EXPECT_GE(r.next_offset(), next) << "next_offset never goes back";
      for (const auto& m : r.messages()) {
        EXPECT_GE(m.offset(), next) << "in order, once";
        EXPECT_LT(m.offset(), r.next_offset()) << "next_offset is after the frame's records";
        got.insert(m.offset() - base);
        next = m.offset() + 1;
      }
      next = std::max(next, r.next_offset());
    };
    while (!std::includes(got.begin(), got.end(), expected.begin(), expected.end()) &&
           !::testing::Test::HasFailure()) {
      const auto r = c->records();
      if (!r) break;
      take(*r);
    }
    std::this_thread::sleep_for(150ms);
    for (const auto& frame : c->until_pong()) {
      if (!frame.has_kafka_records()) {
        ADD_FAILURE() << "unexpected " << describe(frame);
        continue;
      }
      take(frame.kafka_records());
    }
    return got;
  }

  static inline kpg::testing::ChildProcess* broker_ = nullptr;
  static inline kpg::testing::Gateway* gateway_ = nullptr;
  static inline std::string bootstrap_;
  static inline std::filesystem::path dir_;
};

TEST_F(Filter, HelloAnnouncesFiltersAndSnapshotWithTheirLimits) {
  auto c = client();
  const auto& hello = c->hello.hello_resp();
  const auto& features = hello.features();
  EXPECT_NE(std::find(features.begin(), features.end(), "filters"), features.end());
  EXPECT_NE(std::find(features.begin(), features.end(), "snapshot"), features.end());
  EXPECT_EQ(hello.limits().max_filter_conditions(), 16u);
  EXPECT_EQ(hello.limits().max_filter_values(), 256u);
  EXPECT_GT(hello.limits().max_snapshot_bytes(), 0u);
}

// Keys and headers, on fetch and on subscribe: exactly the matching records, conditions ANDed.
TEST_F(Filter, KeyAndHeaderConditionsSelectExactlyTheMatchingRecords) {
  auto writer = client("/rw");
  const auto offsets =
      produce(*writer, "plain",
              {
                  {"user-1", "v0", {{"tenant", "a"}, {"kind", "x"}}},
                  {"user-2", "v1", {{"tenant", "b"}}},
                  {"admin-1", "v2", {{"tenant", "a"}, {"tenant", "b"}}},
                  {"user-10", "v3"},
                  {"", "v4", {{"tenant", ""}}},
                  {"user-1", "v5", {{"Tenant", "a"}}},
                  {std::string("us\0er", 5), "v6", {{"bin", std::string("\0", 1)}}},
              });
  ASSERT_EQ(offsets.size(), 7u);
  const std::int64_t base = offsets.front();
  const std::int64_t end = offsets.back() + 1;
  const struct {
    const char* name;
    KafkaFilter filter;
    std::set<std::int64_t> expected;
  } cases[] = {
      {"key_equals", filter_of({key_equals("user-1")}), {0, 5}},
      {"key_equals empty", filter_of({key_equals("")}), {4}},
      {"key_equals binary", filter_of({key_equals(std::string("us\0er", 5))}), {6}},
      {"key_prefix", filter_of({key_prefix("user-1")}), {0, 3, 5}},
      {"key_prefix wider", filter_of({key_prefix("user-")}), {0, 1, 3, 5}},
      {"key_prefix longer than keys", filter_of({key_prefix("user-100")}), {}},
      {"header a", filter_of({header("tenant", "a")}), {0, 2}},
      {"header b (a second header of that key)", filter_of({header("tenant", "b")}), {1, 2}},
      {"header empty value", filter_of({header("tenant", "")}), {4}},
      {"header case-sensitive key", filter_of({header("Tenant", "a")}), {5}},
      {"header binary value", filter_of({header("bin", std::string("\0", 1))}), {6}},
      {"header and key", filter_of({header("kind", "x"), key_equals("user-1")}), {0}},
      {"two headers", filter_of({header("tenant", "a"), header("tenant", "b")}), {2}},
      {"contradiction", filter_of({key_equals("user-1"), key_equals("user-2")}), {}},
  };
  auto reader = client();
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(fetched(*reader, "plain", base, end, c.filter), c.expected) << "fetch";
    EXPECT_EQ(pushed("plain", base, c.filter, c.expected), c.expected) << "subscribe";
  }
}

// JSON conditions: paths, types, numbers by value, comparisons; values that are not JSON, empty,
// tombstones, duplicates and escaped pointer segments.
TEST_F(Filter, JsonConditionsCompareTypedFieldsAndNeverMatchWhatIsNotJson) {
  auto writer = client("/rw");
  const std::vector<Rec> records = {
      {"k0", R"({"n": 5, "s": "5", "b": true, "z": null, "o": {"r": "eu"}, "a": [10, "x"]})"},
      {"k1", R"({"n": "5"})"},
      {"k2", "hello, not JSON"},
      {"k3", std::nullopt},  // a tombstone
      {"k4", ""},
      {"k5", R"({"n": 5.0})"},
      {"k6", R"({"n": 7})"},
      {"k7", "[1, 2, 3]"},
      {"k8", R"("eu")"},
      {"k9", R"({"a~b": 1, "c/d": 2})"},
      {"k10", R"({"n": 5} trailing)"},
      {"k11", R"({"n": 5, "n": 6})"},
      {"k12", "42"},
      {"k13", R"({"n": 5)"},  // truncated
      {"k14", R"({"n": -1e3, "o": {"r": ["eu"]}})"},
  };
  const auto offsets = produce(*writer, "json", records);
  ASSERT_EQ(offsets.size(), records.size());
  const std::int64_t base = offsets.front();
  const std::int64_t end = offsets.back() + 1;
  using Op = JsonFieldCompare;
  const struct {
    const char* name;
    KafkaFilter filter;
    std::set<std::int64_t> expected;
  } cases[] = {
      {"number 5 (5.0 too; the last duplicate wins)", filter_of({json_in("/n", {num(5)})}), {0, 5}},
      {"string \"5\"", filter_of({json_in("/n", {str("5")})}), {1}},
      {"a number does not match a string", filter_of({json_in("/s", {num(5)})}), {}},
      {"a string matches a string", filter_of({json_in("/s", {str("5")})}), {0}},
      {"bool", filter_of({json_in("/b", {boolean(true)})}), {0}},
      {"bool false", filter_of({json_in("/b", {boolean(false)})}), {}},
      {"null", filter_of({json_in("/z", {null_value()})}), {0}},
      {"null is not an absent field", filter_of({json_in("/missing", {null_value()})}), {}},
      {"nested member", filter_of({json_in("/o/r", {str("eu")})}), {0}},
      {"an object is no scalar", filter_of({json_in("/o", {str("eu")})}), {}},
      {"array element 0", filter_of({json_in("/a/0", {num(10)})}), {0}},
      {"array element 1", filter_of({json_in("/a/1", {str("x")})}), {0}},
      {"top-level array", filter_of({json_in("/0", {num(1)})}), {7}},
      {"whole value", filter_of({json_in("", {str("eu")})}), {8}},
      {"escaped ~0", filter_of({json_in("/a~0b", {num(1)})}), {9}},
      {"escaped ~1", filter_of({json_in("/c~1d", {num(2)})}), {9}},
      {"several values", filter_of({json_in("/n", {num(5), num(7), str("5")})}), {0, 1, 5, 6}},
      {"GT", filter_of({json_cmp("/n", Op::GT, 5)}), {6, 11}},
      {"GE", filter_of({json_cmp("/n", Op::GE, 5)}), {0, 5, 6, 11}},
      {"LT", filter_of({json_cmp("/n", Op::LT, 6)}), {0, 5, 14}},
      {"LE", filter_of({json_cmp("/n", Op::LE, 5)}), {0, 5, 14}},
      {"compare a string field", filter_of({json_cmp("/s", Op::GT, 0)}), {}},
      {"compare the whole value", filter_of({json_cmp("", Op::GT, 41.5)}), {12}},
      {"compare a bool", filter_of({json_cmp("/b", Op::GE, 0)}), {}},
      {"with a key prefix",
       filter_of({json_in("/n", {num(5), num(6), num(7)}), key_prefix("k1")}),
       {11}},
      {"two JSON conditions",
       filter_of({json_cmp("/n", Op::GE, 5), json_in("/o/r", {str("eu")})}),
       {0}},
  };
  auto reader = client();
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(fetched(*reader, "json", base, end, c.filter), c.expected) << "fetch";
  }
  // A few through subscriptions (the same evaluation on pushed batches).
  for (int i : {0, 2, 17, 24}) {
    SCOPED_TRACE(cases[i].name);
    EXPECT_EQ(pushed("json", base, cases[i].filter, cases[i].expected), cases[i].expected);
  }
  // The gateway is still serving.
  EXPECT_EQ(fetched(*reader, "json", base, end, filter_of({key_equals("k2")})),
            (std::set<std::int64_t>{2}));
}

// A value of 900 KB with the field at its very end, and values nested to the limit and beyond.
TEST_F(Filter, HugeAndDeeplyNestedValuesAreEvaluatedWithoutHarm) {
  auto writer = client("/rw");
  const std::string pad(900'000, 'p');
  const std::string huge_eu = R"({"pad": ")" + pad + R"(", "region": "eu"})";
  const std::string huge_us = R"({"pad": ")" + pad + R"(", "region": "us"})";
  auto nested = [](int levels) {  // an object nesting `levels` deep in all
    std::string deep = "1";
    for (int i = 1; i < levels; ++i) deep = "[" + deep + "]";
    return R"({"deep": )" + deep + R"(, "region": "eu"})";
  };
  std::vector<std::int64_t> offsets;
  for (const auto& value : {huge_eu, huge_us}) {
    const auto o = produce(*writer, "big", {{"huge", value}});
    ASSERT_EQ(o.size(), 1u);
    offsets.push_back(o[0]);
  }
  const auto o = produce(
      *writer, "big", {{"n63", nested(63)}, {"n65", nested(65)}, {"small", R"({"region": "eu"})"}});
  ASSERT_EQ(o.size(), 3u);
  offsets.insert(offsets.end(), o.begin(), o.end());
  const std::int64_t base = offsets.front();
  const std::int64_t end = offsets.back() + 1;
  const auto eu = filter_of({json_in("/region", {str("eu")})});

  // Fetches return at least one record and stop before the next would exceed the batch bytes:
  // read record by record from next_offset until the end.
  auto reader = client();
  std::set<std::int64_t> matched;
  std::int64_t at = base;
  for (int i = 0; i < 10 && at < end && !HasFailure(); ++i) {
    const auto resp = reader->request(fetch_req(20 + i, "big", 0, at, &eu));
    ASSERT_TRUE(resp.has_kafka_fetch_resp()) << describe(resp);
    ASSERT_GT(resp.kafka_fetch_resp().next_offset(), at) << describe(resp);
    for (const auto& m : resp.kafka_fetch_resp().messages()) {
      matched.insert(m.offset() - base);
      if (m.offset() == base) {
        EXPECT_EQ(m.value(), huge_eu);
      }
    }
    at = resp.kafka_fetch_resp().next_offset();
  }
  EXPECT_EQ(at, end);
  EXPECT_EQ(matched, (std::set<std::int64_t>{0, 2, 4}))
      << "the huge eu value, the value nested 63 deep, the small one; not 65 deep";
  EXPECT_EQ(pushed("big", base, eu, {0, 2, 4}), (std::set<std::int64_t>{0, 2, 4}));
  // The other huge value, alone.
  EXPECT_EQ(pushed("big", base, filter_of({json_in("/region", {str("us")})}), {1}),
            (std::set<std::int64_t>{1}));
}

// A value nested exactly kMaxJsonNesting (64) deep is read (documented: "deeper than 64" never
// matches); simdjson refuses a depth equal to its max_depth, so the parser is given one more.
TEST_F(Filter, AValueNested64DeepIsStillRead) {
  auto writer = client("/rw");
  std::string deep = "1";
  for (int i = 1; i < 64; ++i) deep = "[" + deep + "]";  // 63 arrays in an object: 64 levels
  const auto o = produce(*writer, "big", {{"n64", R"({"deep": )" + deep + R"(, "region": "eu"})"}});
  ASSERT_EQ(o.size(), 1u);
  const auto eu = filter_of({json_in("/region", {str("eu")})});
  auto reader = client();
  EXPECT_EQ(fetched(*reader, "big", o[0], o[0] + 1, eu), (std::set<std::int64_t>{0}));
}

// A filtered partition read to its end less than a second after its last frame says so once the
// second is over (the progress frame is deferred, not dropped): the client's next_offset does not
// stay behind the records read until the next match.
TEST_F(Filter, ProgressIsReportedEvenSoonAfterAFrame) {
  auto writer = client("/rw");
  auto c = client();
  const auto signal = filter_of({header("kind", "signal")});
  const auto id = c->subscribe(subscribe_req(8, "probe", CmdKafkaSubscribe::LATEST, 10, &signal));
  ASSERT_NE(id, 0);
  const auto s = produce(*writer, "probe", {{"s", "x", {{"kind", "signal"}}}});
  ASSERT_EQ(s.size(), 1u);
  const auto r = c->records();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->next_offset(), s[0] + 1);
  const auto n = produce(*writer, "probe",
                         {{"n1", "x", {{"kind", "noise"}}}, {"n2", "x", {{"kind", "noise"}}}});
  ASSERT_EQ(n.size(), 2u);
  std::this_thread::sleep_for(2500ms);
  std::int64_t reported = s[0] + 1;
  for (const auto& f : c->until_pong()) {
    ASSERT_TRUE(f.has_kafka_records()) << describe(f);
    EXPECT_EQ(f.kafka_records().messages_size(), 0);
    reported = f.kafka_records().next_offset();
  }
  EXPECT_EQ(reported, n.back() + 1) << "2.5 s after the partition was read to its end";
}

TEST_F(Filter, InvalidFiltersAreRefusedNamingTheBadPart) {
  std::vector<JsonScalar> many(257, num(1));
  std::vector<JsonScalar> enough(256, num(1));
  std::string path33;
  for (int i = 0; i < 33; ++i) path33 += "/s";
  const std::string path32 = path33.substr(2);
  std::vector<FilterCondition> seventeen(17, key_prefix("k"));
  std::vector<FilterCondition> sixteen(16, key_prefix("k"));
  JsonScalar no_kind;
  const struct {
    const char* name;
    KafkaFilter filter;
    std::string why;  // "" when accepted
  } cases[] = {
      {"empty prefix", filter_of({key_equals("k"), key_prefix("")}),
       "filter condition 2 (key_prefix): prefix is empty (it would match every key)"},
      {"empty header key", filter_of({header("", "v")}),
       "filter condition 1 (header): header key is empty"},
      {"relative path", filter_of({key_equals("k"), json_in("a/b", {str("x")})}),
       "filter condition 2 (json_in): path must be empty or start with '/' (a JSON Pointer)"},
      {"bad escape", filter_of({json_in("/a~2", {str("x")})}),
       "filter condition 1 (json_in): path has '~' not followed by 0 or 1"},
      {"no values", filter_of({json_in("/a", {})}),
       "filter condition 1 (json_in): no values (it would match no record)"},
      {"257 values", filter_of({json_in("/a", many)}),
       "filter condition 1 (json_in): more than 256 values"},
      {"256 values", filter_of({json_in("/a", enough)}), ""},
      {"a value without kind", filter_of({json_in("/a", {str("x"), no_kind})}),
       "filter condition 1 (json_in): value 2 has no kind"},
      {"NaN", filter_of({json_in("/a", {num(std::nan(""))})}),
       "filter condition 1 (json_in): value 1 is not a finite number"},
      {"no op", filter_of({json_cmp("/a", JsonFieldCompare::OP_UNSPECIFIED, 1)}),
       "filter condition 1 (json_compare): op must be LT, LE, GT or GE"},
      {"infinite bound",
       filter_of({json_cmp("/a", JsonFieldCompare::LT, std::numeric_limits<double>::infinity())}),
       "filter condition 1 (json_compare): value is not a finite number"},
      {"compare path", filter_of({json_cmp("x", JsonFieldCompare::LT, 1)}),
       "filter condition 1 (json_compare): path must be empty or start with '/' (a JSON Pointer)"},
      {"empty condition", filter_of({key_equals("k"), FilterCondition()}),
       "filter condition 2 (empty): no condition set"},
      {"17 conditions", filter_of(seventeen), "filter: more than 16 conditions"},
      {"16 conditions", filter_of(sixteen), ""},
      {"key of 4097 bytes", filter_of({key_equals(std::string(4097, 'k'))}),
       "filter condition 1 (key_equals): key longer than 4096 bytes"},
      {"key of 4096 bytes", filter_of({key_equals(std::string(4096, 'k'))}), ""},
      {"prefix of 4097 bytes", filter_of({key_prefix(std::string(4097, 'k'))}),
       "filter condition 1 (key_prefix): prefix longer than 4096 bytes"},
      {"header value of 4097 bytes", filter_of({header("h", std::string(4097, 'v'))}),
       "filter condition 1 (header): header value longer than 4096 bytes"},
      {"string value of 4097 bytes", filter_of({json_in("/a", {str(std::string(4097, 's'))})}),
       "filter condition 1 (json_in): value 1 longer than 4096 bytes"},
      {"path of 4097 bytes", filter_of({json_in("/" + std::string(4096, 'p'), {num(1)})}),
       "filter condition 1 (json_in): path longer than 4096 bytes"},
      {"33 segments", filter_of({json_in(path33, {num(1)})}),
       "filter condition 1 (json_in): path has more than 32 segments"},
      {"32 segments", filter_of({json_in(path32, {num(1)})}), ""},
  };
  auto c = client();
  std::int64_t sequence = 100;
  for (const auto& k : cases) {
    SCOPED_TRACE(k.name);
    const auto sub =
        c->request(subscribe_req(++sequence, "limits", CmdKafkaSubscribe::LATEST, 0, &k.filter));
    const auto fetch = c->request(fetch_req(++sequence, "limits", 0, 0, &k.filter));
    if (k.why.empty()) {
      ASSERT_TRUE(sub.has_kafka_subscribe_resp()) << describe(sub);
      ASSERT_TRUE(fetch.has_kafka_fetch_resp()) << describe(fetch);
      PubSubReq unsubscribe;
      unsubscribe.set_sequence(++sequence);
      unsubscribe.mutable_cmd_unsubscribe()->set_subscription_id(
          sub.kafka_subscribe_resp().subscription_id());
      EXPECT_TRUE(c->request(unsubscribe).has_unsubscribe_resp());
      continue;
    }
    ASSERT_TRUE(sub.has_error_resp()) << describe(sub);
    EXPECT_EQ(sub.sequence(), sequence - 1);
    EXPECT_EQ(sub.error_resp().code(), ErrorCode::BAD_REQUEST);
    EXPECT_EQ(sub.error_resp().message(), "failed to subscribe, topic: limits, err: " + k.why);
    ASSERT_TRUE(fetch.has_error_resp()) << describe(fetch);
    EXPECT_EQ(fetch.error_resp().code(), ErrorCode::BAD_REQUEST);
    EXPECT_EQ(fetch.error_resp().message(),
              "failed to fetch message, topic: limits, partition: 0, err: " + k.why);
  }
  // The connection is still usable.
  EXPECT_TRUE(c->request(fetch_req(1, "limits", 0, 0)).has_kafka_fetch_resp());
}

// A filtered fetch says where to continue (next_offset), matching or not; an unfiltered one is
// APISIX's, unchanged.
TEST_F(Filter, AFilteredFetchSaysWhereToContinueAndAnUnfilteredOneIsUnchanged) {
  auto writer = client("/rw");
  std::vector<Rec> records;
  for (int i = 0; i < 12; ++i) {
    records.push_back({"k" + std::to_string(i),
                       "v" + std::to_string(i),
                       {{"kind", i == 4 || i == 9 ? "signal" : "noise"}}});
  }
  const auto offsets = produce(*writer, "progress", records);
  ASSERT_EQ(offsets.size(), 12u);
  const std::int64_t base = offsets.front();
  const std::int64_t end = offsets.back() + 1;
  const auto signal = filter_of({header("kind", "signal")});
  auto reader = client();
  // From the start: the two signals, next_offset at the end.
  auto resp = reader->request(fetch_req(2, "progress", 0, base, &signal));
  ASSERT_TRUE(resp.has_kafka_fetch_resp()) << describe(resp);
  EXPECT_EQ(resp.sequence(), 2);
  ASSERT_EQ(resp.kafka_fetch_resp().messages_size(), 2) << describe(resp);
  EXPECT_EQ(resp.kafka_fetch_resp().messages(0).offset(), base + 4);
  EXPECT_EQ(resp.kafka_fetch_resp().messages(0).value(), "v4");
  ASSERT_EQ(resp.kafka_fetch_resp().messages(0).headers_size(), 1);
  EXPECT_EQ(resp.kafka_fetch_resp().messages(1).offset(), base + 9);
  EXPECT_EQ(resp.kafka_fetch_resp().next_offset(), end);
  // From after the last signal: nothing matches, the rest was read all the same.
  resp = reader->request(fetch_req(3, "progress", 0, base + 10, &signal));
  ASSERT_TRUE(resp.has_kafka_fetch_resp()) << describe(resp);
  EXPECT_EQ(resp.kafka_fetch_resp().messages_size(), 0);
  EXPECT_EQ(resp.kafka_fetch_resp().next_offset(), end);
  // At the end: nothing read, next_offset is the request's offset.
  resp = reader->request(fetch_req(4, "progress", 0, end, &signal));
  ASSERT_TRUE(resp.has_kafka_fetch_resp()) << describe(resp);
  EXPECT_EQ(resp.kafka_fetch_resp().messages_size(), 0);
  EXPECT_EQ(resp.kafka_fetch_resp().next_offset(), end);
  // Without a filter: every record, no next_offset.
  resp = reader->request(fetch_req(5, "progress", 0, base + 1));
  ASSERT_TRUE(resp.has_kafka_fetch_resp()) << describe(resp);
  EXPECT_EQ(resp.kafka_fetch_resp().messages_size(), 11);
  EXPECT_EQ(resp.kafka_fetch_resp().next_offset(), 0) << "not said without a filter";
  // An APISIX client (no hello): the same, without headers.
  auto apisix = client("/open", false);
  resp = apisix->request(fetch_req(6, "progress", 0, base + 1));
  ASSERT_TRUE(resp.has_kafka_fetch_resp()) << describe(resp);
  EXPECT_EQ(resp.kafka_fetch_resp().messages_size(), 11);
  EXPECT_EQ(resp.kafka_fetch_resp().messages(0).headers_size(), 0);
  EXPECT_EQ(resp.kafka_fetch_resp().next_offset(), 0);
}

// A filtered subscription pushes only matching records; a partition read to its end with nothing
// matching says so in a frame without records (one credit); resuming at next_offset gives exactly
// the rest.
TEST_F(Filter, AFilteredSubscriptionPushesMatchesAndProgressAndResumesAtNextOffset) {
  auto writer = client("/rw");
  auto noise = [](int n) {
    std::vector<Rec> out;
    for (int i = 0; i < n; ++i) out.push_back({"n" + std::to_string(i), "x", {{"kind", "noise"}}});
    return out;
  };
  // A fresh range of noise only, written before subscribing at its start.
  const auto first = produce(*writer, "progress", noise(20));
  ASSERT_EQ(first.size(), 20u);
  const std::int64_t base = first.front();
  const std::int64_t end = first.back() + 1;
  const auto signal = filter_of({header("kind", "signal")});
  auto c = client();
  PubSubResp sub_resp;
  const auto id = c->subscribe(
      subscribe_req(4, "progress", CmdKafkaSubscribe::LATEST, 1, &signal, {{0, base}}), &sub_resp);
  ASSERT_NE(id, 0);
  EXPECT_EQ(sub_resp.kafka_subscribe_resp().start(0).offset(), base);
  // The one credit goes to a progress frame: no records, next_offset at the end.
  auto progress = c->records();
  ASSERT_TRUE(progress);
  EXPECT_EQ(progress->subscription_id(), id);
  EXPECT_EQ(progress->messages_size(), 0);
  EXPECT_EQ(progress->next_offset(), end);
  EXPECT_EQ(progress->high_watermark(), end);
  EXPECT_FALSE(progress->snapshot());

  // No credit left: a matching record waits for it.
  auto batch = noise(5);
  batch.push_back({"s1", "first signal", {{"kind", "signal"}}});
  const auto second = produce(*writer, "progress", batch);
  ASSERT_EQ(second.size(), 6u);
  const std::int64_t signal1 = second.back();
  std::this_thread::sleep_for(300ms);
  c->expect_nothing_pushed("no credit");
  c->credit(id, 10);
  std::int64_t next = end;
  std::optional<KafkaRecordsResp> frame;
  while (!HasFailure()) {  // (progress frames may come first)
    frame = c->records();
    ASSERT_TRUE(frame);
    EXPECT_GE(frame->next_offset(), next);
    next = frame->next_offset();
    if (frame->messages_size() > 0) break;
    EXPECT_LE(next, signal1) << "a progress frame never passes an unsent match";
  }
  ASSERT_EQ(frame->messages_size(), 1) << describe(*frame);
  EXPECT_EQ(frame->messages(0).offset(), signal1);
  EXPECT_EQ(frame->messages(0).key(), "s1");
  EXPECT_EQ(frame->messages(0).value(), "first signal");
  EXPECT_EQ(frame->next_offset(), signal1 + 1);

  // Later: noise, two signals, noise. Seen live by the first subscriber, and by a second
  // connection resuming at the first signal's next_offset: exactly these two.
  const auto third = produce(*writer, "progress",
                             {{"a", "x", {{"kind", "noise"}}},
                              {"s2", "second", {{"kind", "signal"}}},
                              {"b", "x", {{"kind", "noise"}}},
                              {"s3", "third", {{"kind", "signal"}}},
                              {"c", "x", {{"kind", "noise"}}}});
  ASSERT_EQ(third.size(), 5u);
  auto collect = [&](Client& client, std::int64_t from) {
    std::vector<std::int64_t> got;
    std::int64_t at = from;
    while (got.size() < 2 && !HasFailure()) {
      const auto r = client.records();
      if (!r) break;
      EXPECT_GE(r->next_offset(), at);
      for (const auto& m : r->messages()) {
        EXPECT_EQ(m.headers(0).value(), "signal");
        got.push_back(m.offset());
      }
      at = r->next_offset();
    }
    return got;
  };
  EXPECT_EQ(collect(*c, signal1 + 1), (std::vector<std::int64_t>{third[1], third[3]}));
  auto resumed = client();
  ASSERT_NE(resumed->subscribe(subscribe_req(5, "progress", CmdKafkaSubscribe::EARLIEST, 10,
                                             &signal, {{0, signal1 + 1}})),
            0);
  EXPECT_EQ(collect(*resumed, signal1 + 1), (std::vector<std::int64_t>{third[1], third[3]}));
  std::this_thread::sleep_for(200ms);
  for (const auto& f : resumed->until_pong()) {
    ASSERT_TRUE(f.has_kafka_records()) << describe(f);
    EXPECT_EQ(f.kafka_records().messages_size(), 0) << describe(f);
  }
}

// Twenty subscribers, two filters: each receives exactly its records.
TEST_F(Filter, ManySubscribersWithTwoFiltersEachReceiveExactlyTheirRecords) {
  constexpr int kSubscribers = 20;
  constexpr int kRecords = 120;
  const auto red = filter_of({header("color", "red")});
  const auto big = filter_of({json_cmp("/n", JsonFieldCompare::GE, 80)});
  std::vector<std::unique_ptr<Client>> clients;
  std::vector<std::int64_t> ids;
  for (int i = 0; i < kSubscribers; ++i) {
    clients.push_back(client());
    ids.push_back(clients.back()->subscribe(
        subscribe_req(100 + i, "fanout", CmdKafkaSubscribe::LATEST, 500, i % 2 ? &big : &red)));
    ASSERT_NE(ids.back(), 0);
  }
  auto writer = client("/rw");
  std::vector<Rec> records;
  for (int i = 0; i < kRecords; ++i) {
    const bool is_red = i % 3 == 0 || i == kRecords - 1;  // the last one matches both
    records.push_back({"k" + std::to_string(i),
                       R"({"n": )" + std::to_string(i) + "}",
                       {{"color", is_red ? "red" : "blue"}}});
  }
  std::vector<std::int64_t> offsets;
  for (int from = 0; from < kRecords; from += 20) {  // in several batches
    const auto o = produce(*writer, "fanout",
                           std::vector<Rec>(records.begin() + from, records.begin() + from + 20));
    ASSERT_EQ(o.size(), 20u);
    offsets.insert(offsets.end(), o.begin(), o.end());
  }
  std::set<std::int64_t> expected_red;
  std::set<std::int64_t> expected_big;
  for (int i = 0; i < kRecords; ++i) {
    if (i % 3 == 0 || i == kRecords - 1) expected_red.insert(offsets[i]);
    if (i >= 80) expected_big.insert(offsets[i]);
  }
  for (int i = 0; i < kSubscribers; ++i) {
    SCOPED_TRACE("subscriber " + std::to_string(i));
    std::set<std::int64_t> got;
    std::int64_t last = -1;
    while (last != offsets.back() && !HasFailure()) {
      const auto r = clients[i]->records();
      ASSERT_TRUE(r);
      EXPECT_EQ(r->subscription_id(), ids[i]);
      for (const auto& m : r->messages()) {
        EXPECT_GT(m.offset(), last) << "in order, once";
        last = m.offset();
        got.insert(m.offset());
      }
    }
    EXPECT_EQ(got, i % 2 ? expected_big : expected_red);
  }
}

// ---- route filters pinned to JWT claims ------------------------------------------------------

class FilterPinned : public Filter {
 protected:
  static void SetUpTestSuite() {
    Filter::SetUpTestSuite();
    if (::testing::Test::HasFatalFailure()) return;
    put_route("tenant",
              route("/tenant",
                    {{"jwt-auth", json::object()},
                     {"kafka-proxy",
                      {{"filter", {{{"header", "tenant"}, {"equals", {{"claim", "tenant"}}}}}}}}}));
    put_route("mixed", route("/mixed", {{"jwt-auth", json::object()},
                                        {"kafka-proxy",
                                         {{"filter",
                                           {{{"key_prefix", {{"claim", "sub"}}}},
                                            {{"json", "/region"}, {"equals", "eu"}}}}}}}));
    put_route("org", route("/org",
                           {{"jwt-auth", json::object()},
                            {"kafka-proxy",
                             {{"filter", {{{"json", "/org"}, {"equals", {{"claim", "org"}}}}}}}}}));
    put_route("fixed",
              route("/fixed", {{"kafka-proxy", {{"filter", {{{"key_equals", "alice/1"}}}}}}}));
    auto writer = client("/rw");
    const auto offsets =
        produce(*writer, "tenants",
                {
                    {"alice/1", R"({"region": "eu", "org": 7, "v": 1})", {{"tenant", "A"}}},
                    {"bob/1", R"({"region": "eu", "org": 8})", {{"tenant", "B"}}},
                    {"alice/2", R"({"region": "us", "org": 7})", {{"tenant", "A"}}},
                    {"alice/1", R"({"region": "eu", "org": 7, "v": 2})", {{"tenant", "A"}}},
                    {"bob/2", R"({"region": "us"})", {{"tenant", "B"}}},
                    {"carol/1", R"({"region": "eu", "org": "7"})"},
                    {"bob/1", std::nullopt, {{"tenant", "B"}}},
                    {"alice/3", R"({"region": "eu"})", {{"tenant", "A"}}},
                    {"alice/3", "", {{"tenant", "A"}}},
                });
    ASSERT_EQ(offsets.size(), 9u);
    base_ = offsets.front();
    end_ = offsets.back() + 1;
  }
  // The records (by offset - base) a fetch from the base returns on `ws`; next_offset checked.
  static std::set<std::int64_t> fetch_all(Client& c, const KafkaFilter* filter = nullptr) {
    const auto resp = c.request(fetch_req(9, "tenants", 0, base_, filter));
    std::set<std::int64_t> out;
    if (!resp.has_kafka_fetch_resp()) {
      ADD_FAILURE() << describe(resp);
      return out;
    }
    EXPECT_EQ(resp.kafka_fetch_resp().next_offset(), end_) << "a pinned filter makes it filtered";
    for (const auto& m : resp.kafka_fetch_resp().messages()) out.insert(m.offset() - base_);
    return out;
  }
  // The records a subscription from the base receives, until the last one of `expected`.
  static std::set<std::int64_t> subscribe_all(Client& c, const std::set<std::int64_t>& expected,
                                              const KafkaFilter* filter = nullptr) {
    const auto id = c.subscribe(
        subscribe_req(10, "tenants", CmdKafkaSubscribe::LATEST, 50, filter, {{0, base_}}));
    std::set<std::int64_t> got;
    if (id == 0) return got;
    while (!std::includes(got.begin(), got.end(), expected.begin(), expected.end()) &&
           !HasFailure()) {
      const auto r = c.records();
      if (!r) break;
      for (const auto& m : r->messages()) got.insert(m.offset() - base_);
    }
    std::this_thread::sleep_for(150ms);
    for (const auto& f : c.until_pong()) {
      EXPECT_TRUE(f.has_kafka_records()) << describe(f);
      for (const auto& m : f.kafka_records().messages()) got.insert(m.offset() - base_);
    }
    return got;
  }
  // The snapshot (key -> offset - base) a SNAPSHOT subscription receives before its end.
  static std::map<std::string, std::int64_t> snapshot(Client& c,
                                                      const KafkaFilter* filter = nullptr) {
    const auto id =
        c.subscribe(subscribe_req(11, "tenants", CmdKafkaSubscribe::SNAPSHOT, 10, filter));
    std::map<std::string, std::int64_t> out;
    while (id != 0 && !HasFailure()) {
      const auto r = c.records();
      if (!r) break;
      EXPECT_TRUE(r->snapshot()) << describe(*r);
      for (const auto& m : r->messages()) out[m.key()] = m.offset() - base_;
      if (r->snapshot_end()) break;
    }
    return out;
  }

  static inline std::int64_t base_ = 0;
  static inline std::int64_t end_ = 0;
};

TEST_F(FilterPinned, ATenantOnlyEverReadsItsOwnRecords) {
  auto a = client("/tenant?jwt=" + token({{"tenant", "A"}}));
  auto b = client("/tenant?jwt=" + token({{"tenant", "B"}}));
  const std::set<std::int64_t> of_a = {0, 2, 3, 7, 8};
  const std::set<std::int64_t> of_b = {1, 4, 6};
  EXPECT_EQ(fetch_all(*a), of_a);
  EXPECT_EQ(fetch_all(*b), of_b);
  auto a2 = client("/tenant?jwt=" + token({{"tenant", "A"}}));
  EXPECT_EQ(subscribe_all(*a2, of_a), of_a);
  auto b2 = client("/tenant?jwt=" + token({{"tenant", "B"}}));
  EXPECT_EQ(subscribe_all(*b2, of_b), of_b);
  // Snapshots: the latest record of each of the tenant's keys (bob/1 was deleted, alice/3 emptied).
  auto a3 = client("/tenant?jwt=" + token({{"tenant", "A"}}));
  EXPECT_EQ(snapshot(*a3), (std::map<std::string, std::int64_t>{{"alice/1", 3}, {"alice/2", 2}}));
  auto b3 = client("/tenant?jwt=" + token({{"tenant", "B"}}));
  EXPECT_EQ(snapshot(*b3), (std::map<std::string, std::int64_t>{{"bob/2", 4}}));
}

TEST_F(FilterPinned, AClientsOwnFilterNarrowsButNeverWidens) {
  const auto of_b = filter_of({header("tenant", "B")});
  const auto eu = filter_of({json_in("/region", {str("eu")})});
  auto a = client("/tenant?jwt=" + token({{"tenant", "A"}}));
  EXPECT_EQ(fetch_all(*a, &of_b), std::set<std::int64_t>{}) << "A AND B: nothing";
  EXPECT_EQ(fetch_all(*a, &eu), (std::set<std::int64_t>{0, 3, 7}));
  auto a2 = client("/tenant?jwt=" + token({{"tenant", "A"}}));
  EXPECT_EQ(subscribe_all(*a2, {}, &of_b), std::set<std::int64_t>{});
  auto a3 = client("/tenant?jwt=" + token({{"tenant", "A"}}));
  EXPECT_EQ(snapshot(*a3, &of_b), (std::map<std::string, std::int64_t>{}));
  // The route's conditions count towards the 16 of a filter.
  std::vector<FilterCondition> sixteen(16, key_prefix("a"));
  const auto too_many = filter_of(sixteen);
  const auto refused = a->request(fetch_req(3, "tenants", 0, base_, &too_many));
  ASSERT_TRUE(refused.has_error_resp()) << describe(refused);
  EXPECT_EQ(refused.error_resp().code(), ErrorCode::BAD_REQUEST);
  EXPECT_EQ(refused.error_resp().message(),
            "failed to fetch message, topic: tenants, partition: 0, err: filter: more than 16 "
            "conditions (with the 1 the route adds)");
}

TEST_F(FilterPinned, FixedAndClaimValuesOfEveryKind) {
  // key_prefix from the "sub" claim, and a fixed JSON member.
  auto alice = client("/mixed?jwt=" + token({{"sub", "alice/"}}));
  EXPECT_EQ(fetch_all(*alice), (std::set<std::int64_t>{0, 3, 7}));
  // A number claim compares with a JSON number (not the string "7").
  auto org7 = client("/org?jwt=" + token({{"org", 7}}));
  EXPECT_EQ(fetch_all(*org7), (std::set<std::int64_t>{0, 2, 3}));
  auto org_text = client("/org?jwt=" + token({{"org", "7"}}));
  EXPECT_EQ(fetch_all(*org_text), (std::set<std::int64_t>{5}));
  // A fixed key, for a client without a token; an APISIX client's fetch is filtered too.
  auto fixed = client("/fixed");
  EXPECT_EQ(fetch_all(*fixed), (std::set<std::int64_t>{0, 3}));
  auto apisix = client("/fixed", false);
  const auto resp = apisix->request(fetch_req(4, "tenants", 0, base_));
  ASSERT_TRUE(resp.has_kafka_fetch_resp()) << describe(resp);
  std::set<std::int64_t> got;
  for (const auto& m : resp.kafka_fetch_resp().messages()) got.insert(m.offset() - base_);
  EXPECT_EQ(got, (std::set<std::int64_t>{0, 3}));
}

// Tenants reading live at the same time, several connections each (their subscribers share
// evaluations): each receives exactly its tenant's records.
TEST_F(FilterPinned, ConcurrentTenantsReceiveOnlyTheirLiveRecords) {
  std::vector<std::unique_ptr<Client>> clients;
  std::vector<std::string> tenants;
  for (int i = 0; i < 6; ++i) {
    tenants.push_back(i % 2 ? "B" : "A");
    clients.push_back(client("/tenant?jwt=" + token({{"tenant", tenants.back()}})));
    ASSERT_NE(
        clients.back()->subscribe(subscribe_req(20 + i, "tenants", CmdKafkaSubscribe::LATEST, 200)),
        0);
  }
  std::vector<Rec> records;
  for (int i = 0; i < 60; ++i) {
    const std::string tenant = i % 3 == 0 ? "A" : i % 3 == 1 ? "B" : "C";
    records.push_back({"live/" + std::to_string(i), "v", {{"tenant", tenant}}});
  }
  records.push_back({"last/A", "v", {{"tenant", "A"}}});
  records.push_back({"last/B", "v", {{"tenant", "B"}}});
  auto writer = client("/rw");
  const auto offsets = produce(*writer, "tenants", records);
  ASSERT_EQ(offsets.size(), records.size());
  std::map<std::string, std::set<std::int64_t>> expected;
  for (std::size_t i = 0; i < records.size(); ++i) {
    expected[records[i].headers[0].second].insert(offsets[i]);
  }
  for (std::size_t i = 0; i < clients.size(); ++i) {
    SCOPED_TRACE("connection " + std::to_string(i) + " of tenant " + tenants[i]);
    const std::int64_t last = *expected[tenants[i]].rbegin();
    std::set<std::int64_t> got;
    while (!got.count(last) && !HasFailure()) {
      const auto r = clients[i]->records();
      ASSERT_TRUE(r);
      for (const auto& m : r->messages()) {
        ASSERT_EQ(m.headers_size(), 1);
        EXPECT_EQ(m.headers(0).value(), tenants[i]) << "offset " << m.offset();
        got.insert(m.offset());
      }
    }
    EXPECT_EQ(got, expected[tenants[i]]);
  }
}

TEST_F(FilterPinned, ATokenWithoutTheClaimIsNotAllowedToRead) {
  const struct {
    const char* name;
    std::string path;
    std::string why;
  } cases[] = {
      {"absent", "/tenant?jwt=" + token({{"sub", "x"}}),
       "the route filters by claim \"tenant\", which the token lacks"},
      {"a number for a header", "/tenant?jwt=" + token({{"tenant", 42}}),
       "the route filters by claim \"tenant\", which is not a string"},
      {"a list", "/tenant?jwt=" + token({{"tenant", json::array({"A", "B"})}}),
       "the route filters by claim \"tenant\", which is not a string"},
      {"absent sub", "/mixed?jwt=" + token({{"tenant", "A"}}),
       "the route filters by claim \"sub\", which the token lacks"},
  };
  for (const auto& k : cases) {
    SCOPED_TRACE(k.name);
    auto c = client(k.path);
    const auto sub = c->request(subscribe_req(3, "tenants", CmdKafkaSubscribe::EARLIEST, 5));
    ASSERT_TRUE(sub.has_error_resp()) << describe(sub);
    EXPECT_EQ(sub.error_resp().code(), ErrorCode::NOT_ALLOWED);
    EXPECT_EQ(sub.error_resp().message(), "failed to subscribe, topic: tenants, err: " + k.why);
    const auto snap = c->request(subscribe_req(4, "tenants", CmdKafkaSubscribe::SNAPSHOT, 5));
    ASSERT_TRUE(snap.has_error_resp()) << describe(snap);
    EXPECT_EQ(snap.error_resp().code(), ErrorCode::NOT_ALLOWED);
    const auto fetch = c->request(fetch_req(5, "tenants", 0, base_));
    ASSERT_TRUE(fetch.has_error_resp()) << describe(fetch);
    EXPECT_EQ(fetch.error_resp().code(), ErrorCode::NOT_ALLOWED);
    EXPECT_EQ(fetch.error_resp().message(),
              "failed to fetch message, topic: tenants, partition: 0, err: " + k.why);
  }
}

TEST_F(FilterPinned, InvalidRouteFiltersAreRefusedNamingTheField) {
  const std::string p = "invalid configuration: property \"plugins.kafka-proxy.filter";
  json nine = json::array();
  for (int i = 0; i < 9; ++i) nine.push_back({{"key_equals", "k"}});
  const struct {
    const char* name;
    json plugins;
    std::string message;
  } cases[] = {
      {"not a list",
       {{"kafka-proxy", {{"filter", "tenant"}}}},
       p + "\" validation failed: expected a non-empty array of conditions"},
      {"empty",
       {{"kafka-proxy", {{"filter", json::array()}}}},
       p + "\" validation failed: expected a non-empty array of conditions"},
      {"nine conditions",
       {{"kafka-proxy", {{"filter", nine}}}},
       p + "\" validation failed: more than 8 conditions (kpg's limit)"},
      {"a number",
       {{"kafka-proxy", {{"filter", {42}}}}},
       p + "[1]\" validation failed: wrong type: expected object, got number"},
      {"unknown kind",
       {{"kafka-proxy", {{"filter", {{{"value_equals", "x"}}}}}}},
       p + "[1]\" validation failed: expected one of \"key_equals\", \"key_prefix\", \"header\" "
           "or \"json\""},
      {"unknown property",
       {{"kafka-proxy",
         {{"filter", {{{"key_equals", "k"}}, {{"header", "h"}, {"equals", "v"}, {"x", 1}}}}}}},
       p + "[2].x\" is not supported by kpg"},
      {"wrong type",
       {{"kafka-proxy", {{"filter", {{{"key_equals", 5}}}}}}},
       p + "[1].key_equals\" validation failed: wrong type: expected string, got number"},
      {"empty prefix",
       {{"kafka-proxy", {{"filter", {{{"key_prefix", ""}}}}}}},
       p + "[1].key_prefix\" validation failed: string too short, expected at least 1"},
      {"no equals",
       {{"kafka-proxy", {{"filter", {{{"header", "tenant"}}}}}}},
       p + "[1].equals\" is required"},
      {"relative pointer",
       {{"kafka-proxy", {{"filter", {{{"json", "region"}, {"equals", "eu"}}}}}}},
       p + "[1].json\" validation failed: expected a JSON Pointer (\"\" or \"/a/b\")"},
      {"claim without jwt-auth",
       {{"kafka-proxy", {{"filter", {{{"header", "tenant"}, {"equals", {{"claim", "tenant"}}}}}}}}},
       p + "\" validation failed: a {\"claim\": ...} value requires jwt-auth on the route (the "
           "claims of a verified token)"},
      {"claim with another property",
       {{"jwt-auth", json::object()},
        {"kafka-proxy",
         {{"filter", {{{"header", "tenant"}, {"equals", {{"claim", "tenant"}, {"x", 1}}}}}}}}},
       p + "[1].equals.x\" is not supported by kpg"},
      {"with groups",
       {{"kafka-proxy", {{"filter", {{{"key_equals", "k"}}}}, {"groups", json::object()}}}},
       p + "\" validation failed: cannot be combined with plugins.kafka-proxy.groups "
           "(consumer-group deliveries are not filtered)"},
  };
  for (const auto& k : cases) {
    SCOPED_TRACE(k.name);
    const auto res = put("bad", route("/bad", k.plugins));
    EXPECT_EQ(res.status, 400) << res.body;
    EXPECT_EQ(res.json().value("error_msg", ""), k.message);
  }
  EXPECT_EQ(http_request(gateway_->admin_port, verb::get, "/apisix/admin/routes/bad",
                         std::string(kAdminKey))
                .status,
            404)
      << "nothing refused is stored";
}

// ---- snapshot-then-tail ----------------------------------------------------------------------

// p0: updates, a tombstone and empty values; p1: a plain record and one that is not JSON; p2:
// empty.
class FilterSnapshot : public Filter {
 protected:
  static void SetUpTestSuite() {
    Filter::SetUpTestSuite();
    if (::testing::Test::HasFatalFailure()) return;
    auto writer = client("/rw");
    p0_ = produce(*writer, "multi",
                  {
                      {"a", R"({"color": "red", "v": 1})"},
                      {"b", R"({"color": "blue", "v": 1})"},
                      {"a", R"({"color": "blue", "v": 2})"},
                      {"c", R"({"color": "red", "v": 1})"},
                      {"b", R"({"color": "red", "v": 2})", {{"h", "1"}}},
                      {"c", std::nullopt},
                      {"d", ""},
                      {"e", R"({"color": "red"})"},
                      {"e", ""},
                  });
    ASSERT_EQ(p0_.size(), 9u);
    p1_ = produce(*writer, "multi",
                  {{"x", R"({"color": "red"})", {}, 1}, {"y", "plain text", {}, 1}});
    ASSERT_EQ(p1_.size(), 2u);
  }

  // A gateway of its own (the suite's broker, `extra` config lines) with the route /open.
  static kpg::testing::Gateway open_gateway(const std::string& name, const std::string& extra) {
    auto gateway = kpg::testing::start_gateway(
        dir_ / name, std::string("admin_key: ") + kAdminKey + "\n" + extra);
    EXPECT_FALSE(gateway.port.empty());
    if (gateway.port.empty()) return gateway;
    const auto res = http_request(gateway.admin_port, verb::put, "/apisix/admin/routes/open",
                                  std::string(kAdminKey), route("/open", json::object()).dump());
    EXPECT_EQ(res.status, 201) << res.body;
    return gateway;
  }

  static inline std::vector<std::int64_t> p0_;
  static inline std::vector<std::int64_t> p1_;
};

TEST_F(FilterSnapshot, EachPartitionGetsTheLatestRecordPerKeyThenItsEndThenLiveRecords) {
  auto c = client();
  PubSubResp sub;
  const auto id = c->subscribe(subscribe_req(8, "multi", CmdKafkaSubscribe::SNAPSHOT, 50), &sub);
  ASSERT_NE(id, 0);
  const std::map<std::int32_t, std::int64_t> ends = {
      {0, p0_.back() + 1}, {1, p1_.back() + 1}, {2, 0}};
  ASSERT_EQ(sub.kafka_subscribe_resp().start_size(), 3);
  for (const auto& s : sub.kafka_subscribe_resp().start()) {
    EXPECT_EQ(s.offset(), ends.at(s.partition())) << "partition " << s.partition();
  }
  std::map<std::int32_t, std::vector<KafkaMessage>> snap;
  std::set<std::int32_t> ended;
  while (ended.size() < 3 && !HasFailure()) {
    const auto r = c->records();
    ASSERT_TRUE(r);
    const auto p = r->partition();
    EXPECT_TRUE(r->snapshot()) << "partition " << p << ": no live frame before its end";
    EXPECT_EQ(ended.count(p), 0u) << "partition " << p << ": one snapshot_end";
    for (const auto& m : r->messages()) snap[p].push_back(m);
    if (r->snapshot_end()) {
      ended.insert(p);
      EXPECT_EQ(r->next_offset(), ends.at(p));
      EXPECT_EQ(r->high_watermark(), ends.at(p));
    }
  }
  auto summary = [](const std::vector<KafkaMessage>& ms) {
    std::vector<std::pair<std::string, std::int64_t>> out;
    for (const auto& m : ms) out.emplace_back(m.key(), m.offset());
    return out;
  };
  using Summary = std::vector<std::pair<std::string, std::int64_t>>;
  EXPECT_EQ(summary(snap[0]), (Summary{{"a", p0_[2]}, {"b", p0_[4]}})) << "in offset order";
  ASSERT_EQ(snap[0].size(), 2u);
  EXPECT_EQ(snap[0][1].value(), R"({"color": "red", "v": 2})");
  ASSERT_EQ(snap[0][1].headers_size(), 1) << "snapshot records keep their headers";
  EXPECT_EQ(snap[0][1].headers(0).key(), "h");
  EXPECT_EQ(summary(snap[1]), (Summary{{"x", p1_[0]}, {"y", p1_[1]}}));
  EXPECT_TRUE(snap[2].empty());
  c->expect_nothing_pushed("snapshot complete, nothing new");

  // Live records, from each partition's end.
  auto writer = client("/rw");
  const auto live0 = produce(*writer, "multi", {{"a", "new a", {}, 0}});
  const auto live2 =
      produce(*writer, "multi", {{"z", "first z", {}, 2}, {"z", std::nullopt, {}, 2}});
  ASSERT_EQ(live0.size(), 1u);
  ASSERT_EQ(live2.size(), 2u);
  std::map<std::int32_t, std::vector<std::int64_t>> live;
  while (live[0].size() + live[2].size() < 3 && !HasFailure()) {
    const auto r = c->records();
    ASSERT_TRUE(r);
    EXPECT_FALSE(r->snapshot());
    EXPECT_FALSE(r->snapshot_end());
    for (const auto& m : r->messages()) live[r->partition()].push_back(m.offset());
    ASSERT_GT(r->messages_size(), 0);
    EXPECT_EQ(r->next_offset(), r->messages(r->messages_size() - 1).offset() + 1);
  }
  EXPECT_EQ(live[0], (std::vector<std::int64_t>{ends.at(0)}));
  EXPECT_EQ(live[2], (std::vector<std::int64_t>{0, 1})) << "the tombstone too, live";
  EXPECT_TRUE(live[1].empty());
}

TEST_F(FilterSnapshot, AFilterAppliesToTheLatestRecordOfEachKey) {
  auto c = client();
  const auto red = filter_of({json_in("/color", {str("red")})});
  ASSERT_NE(c->subscribe(subscribe_req(8, "multi", CmdKafkaSubscribe::SNAPSHOT, 50, &red)), 0);
  std::map<std::int32_t, std::vector<std::string>> keys;
  std::set<std::int32_t> ended;
  while (ended.size() < 3 && !HasFailure()) {
    const auto r = c->records();
    ASSERT_TRUE(r);
    EXPECT_TRUE(r->snapshot());
    for (const auto& m : r->messages()) keys[r->partition()].push_back(m.key());
    if (r->snapshot_end()) ended.insert(r->partition());
  }
  // "a" was red, then blue: not in; "b" is red now; "c" and "e" are gone; "y" is not JSON.
  EXPECT_EQ(keys[0], (std::vector<std::string>{"b"}));
  EXPECT_EQ(keys[1], (std::vector<std::string>{"x"}));
  EXPECT_TRUE(keys[2].empty());
}

TEST_F(FilterSnapshot, EveryFrameCostsACreditAndExplicitOffsetsResumeWithoutSnapshot) {
  auto c = client();
  const auto id = c->subscribe(subscribe_req(8, "multi", CmdKafkaSubscribe::SNAPSHOT, 0));
  ASSERT_NE(id, 0);
  std::this_thread::sleep_for(300ms);
  c->expect_nothing_pushed("no credit");
  c->credit(id, 1);
  auto r = c->records();
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->snapshot() && r->snapshot_end()) << "one partition's whole snapshot";
  std::this_thread::sleep_for(200ms);
  c->expect_nothing_pushed("one credit, one frame");
  c->credit(id, 2);
  std::set<std::int32_t> partitions = {r->partition()};
  for (int i = 0; i < 2; ++i) {
    r = c->records();
    ASSERT_TRUE(r);
    EXPECT_TRUE(r->snapshot_end());
    partitions.insert(r->partition());
  }
  EXPECT_EQ(partitions, (std::set<std::int32_t>{0, 1, 2}));

  // Partition 1 resumed at offset 0 with the rest snapshotted: p1 is read live from 0, p0 and
  // p2 are snapshots.
  auto resumed = client();
  PubSubResp sub;
  auto req = subscribe_req(9, "multi", CmdKafkaSubscribe::SNAPSHOT, 50, nullptr, {{1, 0}});
  req.mutable_cmd_kafka_subscribe()->add_partitions(0);
  ASSERT_NE(resumed->subscribe(req, &sub), 0);
  ASSERT_EQ(sub.kafka_subscribe_resp().start_size(), 2) << "partitions 0 and 1";
  EXPECT_EQ(sub.kafka_subscribe_resp().start(1).offset(), 0);
  bool p0_ended = false;
  std::vector<std::int64_t> p1;
  while ((!p0_ended || p1.size() < 2) && !HasFailure()) {
    r = resumed->records();
    ASSERT_TRUE(r);
    if (r->partition() == 1) {
      EXPECT_FALSE(r->snapshot());
      for (const auto& m : r->messages()) p1.push_back(m.offset());
    } else {
      EXPECT_EQ(r->partition(), 0);
      EXPECT_TRUE(r->snapshot());
      p0_ended = p0_ended || r->snapshot_end();
    }
  }
  EXPECT_EQ(p1, (std::vector<std::int64_t>{p1_[0], p1_[1]}));
}

// A filtered snapshot continues live with the same filter, from the snapshot's end.
TEST_F(FilterSnapshot, AFilteredSnapshotContinuesLiveWithTheSameFilter) {
  auto writer = client("/rw");
  const auto before = produce(
      *writer, "live",
      {{"k1", R"({"c": "red"})"}, {"k2", R"({"c": "blue"})"}, {"k1", R"({"c": "red", "v": 2})"}});
  ASSERT_EQ(before.size(), 3u);
  auto c = client();
  const auto red = filter_of({json_in("/c", {str("red")})});
  const auto id = c->subscribe(subscribe_req(8, "live", CmdKafkaSubscribe::SNAPSHOT, 10, &red));
  ASSERT_NE(id, 0);
  auto r = c->records();
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->snapshot() && r->snapshot_end()) << describe(*r);
  ASSERT_EQ(r->messages_size(), 1) << describe(*r);
  EXPECT_EQ(r->messages(0).offset(), before[2]);
  EXPECT_EQ(r->next_offset(), before[2] + 1);
  const auto live = produce(*writer, "live",
                            {{"k3", R"({"c": "blue"})"},
                             {"k4", R"({"c": "red"})"},
                             {"k2", std::nullopt},
                             {"k5", R"({"c": "red"})"}});
  ASSERT_EQ(live.size(), 4u);
  std::vector<std::int64_t> got;
  std::int64_t next = before[2] + 1;
  while (got.size() < 2 && !HasFailure()) {
    r = c->records();
    ASSERT_TRUE(r);
    EXPECT_FALSE(r->snapshot());
    EXPECT_GE(r->next_offset(), next);
    for (const auto& m : r->messages()) {
      EXPECT_LT(m.offset(), r->next_offset());
      got.push_back(m.offset());
    }
    next = r->next_offset();
  }
  EXPECT_EQ(got, (std::vector<std::int64_t>{live[1], live[3]}));
  EXPECT_EQ(next, live[3] + 1);
}

TEST_F(FilterSnapshot, UnsubscribingDuringASnapshotStopsItAndAnotherCanFollow) {
  auto c = client();
  const auto id = c->subscribe(subscribe_req(8, "multi", CmdKafkaSubscribe::SNAPSHOT, 0));
  ASSERT_NE(id, 0);
  PubSubReq unsubscribe;
  unsubscribe.set_sequence(9);
  unsubscribe.mutable_cmd_unsubscribe()->set_subscription_id(id);
  const auto done = c->request(unsubscribe);
  ASSERT_TRUE(done.has_unsubscribe_resp()) << describe(done);
  c->credit(id, 5);  // ignored: the subscription is gone
  std::this_thread::sleep_for(200ms);
  c->expect_nothing_pushed("after unsubscribe");
  const auto again = c->subscribe(subscribe_req(10, "multi", CmdKafkaSubscribe::SNAPSHOT, 10));
  ASSERT_NE(again, 0);
  std::set<std::int32_t> ended;
  while (ended.size() < 3 && !HasFailure()) {
    const auto r = c->records();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->subscription_id(), again);
    if (r->snapshot_end()) ended.insert(r->partition());
  }
}

// A snapshot larger than one batch's bytes comes in several frames, in offset order, the last
// one marking the end (a gateway of its own, with small batches).
TEST_F(FilterSnapshot, ALargeSnapshotComesInSeveralFramesInOffsetOrder) {
  const auto gateway = open_gateway("small-batches", "fetch_max_bytes: 4096\n");
  ASSERT_FALSE(HasFailure()) << "the gateway did not start, or its route was refused";
  auto writer = client("/rw");
  std::vector<Rec> records;
  for (int round = 0; round < 2; ++round) {
    for (int k = 0; k < 40; ++k) {
      records.push_back({"key" + std::to_string(k), std::to_string(round) + std::string(600, 'v')});
    }
  }
  const auto offsets = produce(*writer, "split", records);
  ASSERT_EQ(offsets.size(), 80u);
  const std::int64_t end = offsets.back() + 1;
  Client c(gateway.port, "/open");
  const auto id = c.subscribe(subscribe_req(8, "split", CmdKafkaSubscribe::SNAPSHOT, 2));
  ASSERT_NE(id, 0);
  std::vector<std::int64_t> seen;
  int frames = 0;
  bool ended = false;
  std::int64_t next = 0;
  while (!ended && !HasFailure()) {
    const auto r = c.records();
    ASSERT_TRUE(r);
    ++frames;
    EXPECT_TRUE(r->snapshot());
    ASSERT_GT(r->messages_size(), 0) << "only the end may be empty";
    std::size_t bytes = 0;
    for (const auto& m : r->messages()) {
      EXPECT_GE(m.offset(), next);
      EXPECT_EQ(m.value().substr(0, 1), "1") << "the latest of each key";
      seen.push_back(m.offset());
      next = m.offset() + 1;
      bytes += m.key().size() + m.value().size();
    }
    EXPECT_LE(bytes, 4096u);
    EXPECT_GE(r->next_offset(), next);
    ended = r->snapshot_end();
    if (ended) {
      EXPECT_EQ(r->next_offset(), end);
    }
    if (frames % 2 == 0) {
      // Two credits, two frames: then nothing until more credit.
      if (!ended) c.expect_nothing_pushed("credit used up");
      c.credit(id, 2);
    }
  }
  EXPECT_GT(frames, 3);
  EXPECT_EQ(seen, std::vector<std::int64_t>(offsets.begin() + 40, offsets.end()));
}

// What snapshots hold is bounded per connection (LIMIT_EXCEEDED) and for the whole gateway
// (OVERLOADED for the snapshot that goes past it, while the one already held goes on); what an
// ended or finished snapshot held is given back, so the next one succeeds.
TEST_F(FilterSnapshot, SnapshotMemoryIsBoundedPerConnectionAndForTheGateway) {
  const auto gateway = open_gateway("snapshot-bounds",
                                    "fetch_max_bytes: 16384\n"
                                    "max_snapshot_bytes: 196608\n"
                                    "max_total_snapshot_bytes: 204800\n");
  ASSERT_FALSE(HasFailure()) << "the gateway did not start, or its route was refused";
  auto writer = client("/rw");
  // ~123 KB of latest records (under one connection's bound; two of them exceed the gateway's).
  std::vector<Rec> records;
  for (int k = 0; k < 30; ++k)
    records.push_back({"key" + std::to_string(k), std::string(4000, 'b')});
  ASSERT_EQ(produce(*writer, "bounded", records).size(), 30u);
  // ~245 KB: more than one connection may hold.
  std::vector<Rec> large;
  for (int k = 0; k < 60; ++k) large.push_back({"key" + std::to_string(k), std::string(4000, 'h')});
  ASSERT_EQ(produce(*writer, "too-large", large).size(), 60u);

  // `holder` takes one frame (one credit): its snapshot is loaded, the rest of its frames
  // (~100 KB) are held.
  Client holder(gateway.port, "/open");
  PubSubResp sub;
  const auto held =
      holder.subscribe(subscribe_req(8, "bounded", CmdKafkaSubscribe::SNAPSHOT, 1), &sub);
  ASSERT_NE(held, 0);
  const auto partitions = static_cast<std::size_t>(sub.kafka_subscribe_resp().start_size());
  ASSERT_GE(partitions, 1u);
  std::set<std::string> keys;
  std::set<std::int32_t> ended;
  while (keys.empty() && !HasFailure()) {
    const auto r = holder.records();
    ASSERT_TRUE(r);
    EXPECT_TRUE(r->snapshot());
    for (const auto& m : r->messages()) keys.insert(m.key());
    if (r->snapshot_end()) ended.insert(r->partition());
  }

  EXPECT_GT(gauge(gateway.admin_port, "kpg_snapshot_bytes"), 90'000);

  // A snapshot subscription that ends while it loads, before any frame: with `code` and a message
  // that contains `text`, to the subscribe request's sequence (8).
  const auto expect_ended = [](Client& c, const std::string& topic, ErrorCode code,
                               const std::string& text) {
    ASSERT_NE(c.subscribe(subscribe_req(8, topic, CmdKafkaSubscribe::SNAPSHOT, 10)), 0);
    const auto end = c.next();
    ASSERT_TRUE(end.has_error_resp()) << describe(end);
    EXPECT_EQ(end.error_resp().code(), code);
    EXPECT_EQ(end.sequence(), 8);
    EXPECT_NE(end.error_resp().message().find(text), std::string::npos)
        << end.error_resp().message();
  };

  // A second connection's snapshot takes the gateway past its bound: it ends, named.
  Client refused(gateway.port, "/open");
  expect_ended(refused, "bounded", ErrorCode::OVERLOADED,
               "the gateway's snapshots hold their limit of 204800 bytes; try again later");

  // The holder's snapshot goes on to its end, whole.
  holder.credit(held, 100);
  while (ended.size() < partitions && !HasFailure()) {
    const auto r = holder.records();
    ASSERT_TRUE(r);
    EXPECT_TRUE(r->snapshot());
    for (const auto& m : r->messages()) keys.insert(m.key());
    if (r->snapshot_end()) ended.insert(r->partition());
  }
  EXPECT_EQ(keys.size(), 30u);

  // Everything was given back: the refused connection's snapshot now succeeds.
  const auto again =
      refused.subscribe(subscribe_req(9, "bounded", CmdKafkaSubscribe::SNAPSHOT, 100));
  ASSERT_NE(again, 0);
  std::size_t records_seen = 0;
  ended.clear();
  while (ended.size() < partitions && !HasFailure()) {
    const auto r = refused.records();
    ASSERT_TRUE(r);
    records_seen += static_cast<std::size_t>(r->messages_size());
    if (r->snapshot_end()) ended.insert(r->partition());
  }
  EXPECT_EQ(records_seen, 30u);

  // One connection's own bound comes first on a topic whose state is larger than it.
  Client greedy(gateway.port, "/open");
  expect_ended(greedy, "too-large", ErrorCode::LIMIT_EXCEEDED,
               "the latest records of this connection's snapshots exceed 196608 bytes");
  // The connection stays, and so does the hello limit it was told.
  EXPECT_EQ(greedy.hello.hello_resp().limits().max_snapshot_bytes(), 196608u);
  greedy.expect_nothing_pushed("after the limit");
  // Every snapshot ended or finished: nothing is held any more.
  EXPECT_EQ(gauge(gateway.admin_port, "kpg_snapshot_bytes"), 0);
}

// The snapshot is taken while a producer keeps writing updates and deletions: the snapshot then
// the live records rebuild exactly the state that reading the whole partition gives, and every
// offset after the snapshot's end comes once, in order.
TEST_F(FilterSnapshot, SnapshotThenLiveEqualsTheWholeLogWhileAProducerWrites) {
  constexpr int kKeys = 30;
  constexpr int kRounds = 40;
  std::atomic<int> rounds_done{0};
  std::atomic<std::int64_t> last_offset{-1};
  std::atomic<bool> writer_failed{false};
  auto make_batch = [](int round) {
    std::vector<Rec> batch;
    for (int i = 0; i < 10; ++i) {
      const int n = round * 10 + i;
      const std::string key = "k" + std::to_string((n * 7) % kKeys);
      if (n % 11 == 5) {
        batch.push_back({key, std::nullopt});
      } else if (n % 17 == 3) {
        batch.push_back({key, ""});
      } else {
        batch.push_back({key, "r" + std::to_string(round) + "-" + std::to_string(i)});
      }
    }
    return batch;
  };
  auto writer = client("/rw");
  std::thread producer([&] {
    for (int round = 0; round < kRounds; ++round) {
      const auto o = produce(*writer, "state", make_batch(round));
      if (o.size() != 10u) {
        writer_failed = true;
        return;
      }
      last_offset = o.back();
      ++rounds_done;
      std::this_thread::sleep_for(10ms);
    }
  });
  while (rounds_done < 10 && !writer_failed) std::this_thread::sleep_for(5ms);

  struct Joiner {
    std::thread& thread;
    ~Joiner() {
      if (thread.joinable()) thread.join();
    }
  } joiner{producer};
  auto c = client();
  PubSubResp sub;
  const auto id = c->subscribe(subscribe_req(8, "state", CmdKafkaSubscribe::SNAPSHOT, 4), &sub);
  ASSERT_NE(id, 0);
  const std::int64_t snap_end = sub.kafka_subscribe_resp().start(0).offset();
  State state;
  State snapshot_state;
  std::int64_t next = -1;  // the next live offset expected
  std::int64_t previous_snapshot_offset = -1;
  while (!HasFailure() && id != 0) {
    if (next >= 0 && rounds_done == kRounds && next == last_offset + 1) break;
    const auto r = c->records();
    if (!r) break;
    if (r->snapshot()) {
      ASSERT_LT(next, 0) << "snapshot frames come before live ones";
      for (const auto& m : r->messages()) {
        EXPECT_GT(m.offset(), previous_snapshot_offset);
        EXPECT_LT(m.offset(), snap_end);
        EXPECT_FALSE(m.value().empty()) << "no deleted key in a snapshot";
        EXPECT_EQ(state.count(m.key()), 0u) << "one record per key";
        previous_snapshot_offset = m.offset();
        apply_record(state, m);
      }
      if (r->snapshot_end()) {
        EXPECT_EQ(r->next_offset(), snap_end);
        next = snap_end;
        snapshot_state = state;
      }
    } else {
      ASSERT_GE(next, 0) << "a live frame before the snapshot's end";
      for (const auto& m : r->messages()) {
        ASSERT_EQ(m.offset(), next) << "gap or duplicate after the snapshot";
        ++next;
        apply_record(state, m);
      }
      EXPECT_EQ(r->next_offset(), next);
    }
    c->credit(id, 1);
  }
  producer.join();
  ASSERT_FALSE(writer_failed);
  EXPECT_GT(snap_end, 0);
  EXPECT_LT(snap_end, last_offset + 1) << "the snapshot was taken while writing (timing)";
  EXPECT_EQ(next, last_offset + 1);

  // The reference: the whole partition read from offset 0 with plain fetches.
  auto reader = client();
  State whole;
  State up_to_end;
  std::int64_t at = 0;
  for (int i = 0; i < 1000 && at <= last_offset && !HasFailure(); ++i) {
    const auto resp = reader->request(fetch_req(30, "state", 0, at));
    ASSERT_TRUE(resp.has_kafka_fetch_resp()) << describe(resp);
    ASSERT_GT(resp.kafka_fetch_resp().messages_size(), 0);
    for (const auto& m : resp.kafka_fetch_resp().messages()) {
      ASSERT_EQ(m.offset(), at);
      ++at;
      apply_record(whole, m);
      if (m.offset() < snap_end) apply_record(up_to_end, m);
    }
  }
  EXPECT_EQ(snapshot_state, up_to_end)
      << "snapshot: " << describe(snapshot_state) << "\nreference: " << describe(up_to_end);
  EXPECT_EQ(state, whole) << "assembled: " << describe(state) << "\nreference: " << describe(whole);
}

}  // namespace
