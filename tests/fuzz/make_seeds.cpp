// Writes the binary seed corpora (real request and reply frames) into tests/fuzz/corpus/:
//   build/fuzz/tests/fuzz/fuzz_make_seeds tests/fuzz/corpus
// The text corpora (admin bodies, YAML) are checked in as written.
#include <kpg/pubsub.pb.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <iostream>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;
using kpg::pubsub::PubSubReq;
using kpg::pubsub::PubSubResp;

void write(const fs::path& dir, const std::string& name, const std::string& bytes) {
  fs::create_directories(dir);
  std::ofstream(dir / name, std::ios::binary) << bytes;
}

std::vector<std::pair<std::string, std::string>> requests() {
  std::vector<std::pair<std::string, std::string>> out;
  PubSubReq req;
  req.set_sequence(1);
  req.mutable_cmd_ping()->set_state("hello");
  out.emplace_back("ping", req.SerializeAsString());
  req.Clear();
  req.set_sequence(2);
  req.mutable_cmd_empty();
  out.emplace_back("empty", req.SerializeAsString());
  req.Clear();
  req.set_sequence(3);
  auto* list = req.mutable_cmd_kafka_list_offset();
  list->set_topic("orders");
  list->set_partition(0);
  list->set_timestamp(-2);
  out.emplace_back("list_offset_earliest", req.SerializeAsString());
  list->set_partition(1);
  list->set_timestamp(1'700'000'000'000);
  out.emplace_back("list_offset_time_error", req.SerializeAsString());
  req.Clear();
  req.set_sequence(4);
  auto* fetch = req.mutable_cmd_kafka_fetch();
  fetch->set_topic("orders.eu-1");
  fetch->set_partition(2);
  fetch->set_offset(42);
  out.emplace_back("fetch", req.SerializeAsString());
  fetch->set_partition(3);
  out.emplace_back("fetch_error", req.SerializeAsString());
  req.Clear();
  req.set_sequence(5);
  out.emplace_back("no_command", req.SerializeAsString());
  return out;
}

// Script ops of fuzz_sdk_reply (see its header comment).
std::string frame_op(std::uint8_t op, const std::string& frame) {
  std::string out(1, static_cast<char>(op));
  out += static_cast<char>(frame.size() & 0xff);
  out += static_cast<char>(frame.size() >> 8);
  return out + frame;
}
std::string paired(std::uint8_t back, const PubSubResp& resp) {
  return frame_op(static_cast<std::uint8_t>(1 + 8 * back), resp.SerializeAsString());
}
const std::string kOpen(1, 4);
const std::string kDrop(1, 3);
std::string advance(std::uint8_t steps) {
  return std::string(1, static_cast<char>(2 + 8 * steps));
}
std::string user_call(std::uint8_t what) {
  return std::string(1, static_cast<char>(5 + 8 * what));
}

PubSubResp offset_reply(std::int64_t offset) {
  PubSubResp resp;
  resp.mutable_kafka_list_offset_resp()->set_offset(offset);
  return resp;
}
PubSubResp fetch_reply(std::int64_t from, int count) {
  PubSubResp resp;
  auto* messages = resp.mutable_kafka_fetch_resp();
  for (int i = 0; i < count; ++i) {
    auto* m = messages->add_messages();
    m->set_offset(from + i);
    m->set_timestamp(1'700'000'000'000 + i);
    m->set_key("k" + std::to_string(i));
    m->set_value("value " + std::to_string(from + i));
  }
  return resp;
}
PubSubResp error_reply(const std::string& message) {
  PubSubResp resp;
  resp.mutable_error_resp()->set_message(message);
  return resp;
}
PubSubResp pong_reply() {
  PubSubResp resp;
  resp.mutable_pong_resp()->set_state("state");
  return resp;
}

// Script ops of fuzz_pubsub_connection (see its header comment).
namespace conn {
std::string bytes(std::initializer_list<int> values) {
  std::string out;
  for (const int v : values) out += static_cast<char>(v);
  return out;
}
std::string raw(const std::string& frame) {
  return bytes({7, static_cast<int>(frame.size() & 0xff), static_cast<int>(frame.size() >> 8)}) +
         frame;
}
// Commands built by the target from a few bytes: hello, metadata, subscribe, credit, unsubscribe,
// fetch, list_offset (topics: 0 "t", 1 "orders", 2 "__consumer_offsets", 3 invalid, 4 "ab").
std::string hello(int seq) {
  return bytes({1, 0, seq, 1});
}
std::string metadata(int seq, std::initializer_list<int> topics) {
  return bytes({1, 1, seq, static_cast<int>(topics.size())}) + bytes(topics);
}
// shape: start (0 latest, 1 earliest, 2 timestamp) + 4 * timestamp choice + 16 * partition mask;
// with 0x80 an explicit offset {partition, offset} follows.
std::string subscribe(int seq, int topic, int shape, int credit) {
  return bytes({1, 2, seq, topic, shape, credit});
}
std::string subscribe_at(int seq, int topic, int shape, int partition, int offset, int credit) {
  return bytes({1, 2, seq, topic, shape | 0x80, partition, offset, credit});
}
std::string credit(int seq, int id, int n) {
  return bytes({1, 3, seq, id, n});
}
std::string unsubscribe(int seq, int id) {
  return bytes({1, 4, seq, id});
}
std::string fetch(int seq, int topic, int partition, int offset) {
  return bytes({1, 5, seq, topic, partition, offset});
}
std::string list_offset(int seq, int topic, int partition, int at) {
  return bytes({1, 6, seq, topic, partition, at});
}
// Answers: mode 0x10 = three records (or two partitions, or an offset); 0x07 = an error.
std::string answer(int pick, int mode) {
  return bytes({2, pick, mode});
}
std::string answer_all(int mode = 0x10) {
  return bytes({5, mode});
}
std::string run(int n) {
  return bytes({3, n});
}
std::string congested(bool on) {
  return bytes({4, on ? 1 : 0});
}
const std::string kShutdown(1, 6);
}  // namespace conn

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: fuzz_make_seeds CORPUS_DIR\n";
    return 2;
  }
  const fs::path corpus = argv[1];
  for (const auto& [name, bytes] : requests()) write(corpus / "fuzz_pubsub_frame", name, bytes);
  write(corpus / "fuzz_pubsub_frame", "garbage", std::string("\x0a\xff\xff", 3));

  // After the open, the client has sent: list_offsets for subscription 0 (earliest), then fetch
  // for subscription 1 (offset 5). Replies pair with them by position from the newest.
  const fs::path sdk = corpus / "fuzz_sdk_reply";
  write(sdk, "subscribe_and_fetch",
        kOpen + paired(1, offset_reply(0)) + paired(0, fetch_reply(0, 3)) +
            paired(2, fetch_reply(5, 2)) + advance(3) + paired(0, fetch_reply(3, 1)));
  write(sdk, "calls_and_errors",
        kOpen + user_call(0) + user_call(1) + user_call(2) + paired(2, pong_reply()) +
            paired(1, offset_reply(7)) + paired(0, error_reply("failed to fetch message, err: X")) +
            frame_op(0, error_reply("wrong command").SerializeAsString()));
  write(sdk, "drop_and_reconnect",
        kOpen + paired(1, offset_reply(10)) + kDrop + advance(8) + kOpen +
            paired(0, fetch_reply(10, 2)) + user_call(4) + paired(0, fetch_reply(12, 1)) +
            user_call(4) + user_call(5) + advance(30));
  write(sdk, "timeouts", kOpen + user_call(3) + advance(20) + advance(20) + kDrop + advance(50));

  {
    using namespace conn;
    const fs::path dir = corpus / "fuzz_pubsub_connection";
    // Option byte: 1 = hello first, 2 = small limits.
    write(dir, "subscribe_credit_unsubscribe",
          bytes({1}) + subscribe(2, 0, 1, 2) + answer_all() + answer_all() + answer_all() +
              answer_all() + credit(3, 1, 3) + congested(true) + answer_all() + credit(4, 1, 1) +
              congested(false) + answer_all(0x18) + unsubscribe(5, 1) + answer_all());
    write(dir, "two_subscriptions_interleaved",
          bytes({1}) + subscribe(2, 1, 0x31, 1) + subscribe(3, 0, 0x02 | 0x40, 0) +
              answer(1, 0x18) + answer(0, 0x10) + run(15) + answer(0, 0x10) + answer(1, 0x10) +
              answer(0, 0x10) + run(15) + answer(0, 0x17) + answer(0, 0x10) + run(15) +
              credit(4, 2, 2) + hello(7) + credit(5, 1, 3) + answer_all(0x30) + answer_all(0x26) +
              unsubscribe(6, 2) + answer_all());
    write(dir, "explicit_offsets_small_limits",
          bytes({3}) + subscribe_at(2, 0, 0x11, 1, 2, 4) + subscribe_at(3, 4, 0x01, 0, 5, 1) +
              subscribe(4, 0, 0, 1) + answer_all() + answer_all() + credit(5, 1, 4) + answer_all() +
              answer_all(0x2e) + kShutdown + credit(6, 1, 1) + answer_all());
    write(dir, "metadata_and_pull",
          bytes({1}) + metadata(2, {0, 1}) + metadata(3, {}) + metadata(4, {2, 4, 3}) +
              fetch(5, 0, 0, 3) + list_offset(6, 1, 1, 0) + answer(2, 0x17) + answer_all(0x18) +
              answer_all() + answer_all(0x07));
    PubSubReq hello_req;
    hello_req.set_sequence(9);
    hello_req.mutable_cmd_hello()->set_protocol_version(1);
    PubSubReq sub;
    sub.set_sequence(10);
    sub.mutable_cmd_kafka_subscribe()->set_topic("orders");
    sub.mutable_cmd_kafka_subscribe()->set_credit(3);
    PubSubReq grant;
    grant.set_sequence(11);
    grant.mutable_cmd_credit()->set_subscription_id(1);
    grant.mutable_cmd_credit()->set_credit(2);
    write(dir, "raw_frames_apisix_then_hello",
          bytes({0}) + raw(sub.SerializeAsString()) + run(1) + fetch(1, 0, 0, 0) + answer_all() +
              raw(hello_req.SerializeAsString()) + raw(sub.SerializeAsString()) + answer_all() +
              answer_all() + answer_all() + raw(grant.SerializeAsString()) + answer_all() +
              congested(true) + answer_all() + congested(false));
    // The APISIX requests, half of them after hello.
    for (const auto& [name, frame] : requests()) {
      write(dir, "frame_" + name,
            bytes({static_cast<int>(name.size() % 2)}) + raw(frame) + answer_all());
    }
  }
  std::cout << "seeds written to " << corpus << "\n";
  return 0;
}
