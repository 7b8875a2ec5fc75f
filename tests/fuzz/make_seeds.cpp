// Writes the binary seed corpora (real request and reply frames) into tests/fuzz/corpus/:
//   build/fuzz/tests/fuzz/fuzz_make_seeds tests/fuzz/corpus
// The text corpora (admin bodies, YAML) are checked in as written.
#include <kpg/pubsub.pb.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
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
  std::cout << "seeds written to " << corpus << "\n";
  return 0;
}
