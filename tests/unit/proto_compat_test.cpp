// Wire compatibility with Apache APISIX's PubSub protocol: the reference .proto
// (tests/data/apisix-pubsub.proto, APISIX's file unchanged) and ours must produce and accept the
// same bytes. protoc encodes/decodes with the reference; our generated code does the other side.
#include <kpg/pubsub.pb.h>

#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace {

struct Run {
  int status;
  std::string out;
};

// Runs protoc with `input` on stdin; returns stdout.
Run protoc(const std::string& args, const std::string& input) {
  const auto in_path = std::filesystem::temp_directory_path() /
                       ("kpg-proto-compat-" + std::to_string(::getpid()) + ".in");
  std::ofstream(in_path, std::ios::binary) << input;
  const std::string cmd = std::string(KPG_PROTOC) + " " + args + " < " + in_path.string();
  FILE* pipe = popen(cmd.c_str(), "r");
  std::string out;
  std::array<char, 4096> buf;
  std::size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), pipe)) > 0) out.append(buf.data(), n);
  const int status = pclose(pipe);
  std::filesystem::remove(in_path);
  return {status, out};
}

std::string reference(const std::string& mode, const std::string& type) {
  return "--" + mode + "=" + type + " --proto_path=" KPG_REFERENCE_PROTO_DIR " apisix-pubsub.proto";
}
std::string ours(const std::string& mode, const std::string& type) {
  return "--" + mode + "=kpg.pubsub." + type + " --proto_path=" KPG_PROTO_DIR " kpg/pubsub.proto";
}

const std::vector<std::string> kRequests = {
    "sequence: 1 cmd_ping { state: \"hello\\000\\377\" }",
    "sequence: -5 cmd_empty {}",
    "sequence: 9223372036854775807 cmd_kafka_fetch { topic: \"orders\" partition: 3 offset: 42 }",
    "sequence: 4 cmd_kafka_list_offset { topic: \"t\" partition: 0 timestamp: -2 }",
    "sequence: 5 cmd_kafka_list_offset { topic: \"t\" partition: 2147483647 timestamp: "
    "1700000000000 }",
};
const std::vector<std::string> kResponses = {
    "sequence: 1 error_resp { code: 0 message: \"wrong command\" }",
    "sequence: 2 pong_resp { state: \"x\" }",
    "sequence: 3 kafka_fetch_resp { messages { offset: 0 timestamp: 1700000000000 key: \"k\" "
    "value: \"v\" } messages { offset: 1 timestamp: -1 value: \"\\000\\001\" } }",
    "sequence: 4 kafka_list_offset_resp { offset: 30 }",
    "sequence: 5 kafka_fetch_resp {}",
};

TEST(ProtoCompat, RequestsEncodeToTheSameBytesAsApisix) {
  for (const auto& text : kRequests) {
    auto a = protoc(reference("encode", "PubSubReq"), text);
    auto b = protoc(ours("encode", "PubSubReq"), text);
    ASSERT_EQ(a.status, 0) << text;
    ASSERT_EQ(b.status, 0) << text;
    EXPECT_EQ(a.out, b.out) << text;
    EXPECT_FALSE(a.out.empty());
  }
}

TEST(ProtoCompat, ResponsesEncodeToTheSameBytesAsApisix) {
  for (const auto& text : kResponses) {
    auto a = protoc(reference("encode", "PubSubResp"), text);
    auto b = protoc(ours("encode", "PubSubResp"), text);
    ASSERT_EQ(a.status, 0) << text;
    EXPECT_EQ(a.out, b.out) << text;
  }
}

TEST(ProtoCompat, OurEncodedRequestDecodesWithTheReference) {
  kpg::pubsub::PubSubReq req;
  req.set_sequence(77);
  auto* f = req.mutable_cmd_kafka_fetch();
  f->set_topic("orders");
  f->set_partition(2);
  f->set_offset(123456789012345);
  auto decoded = protoc(reference("decode", "PubSubReq"), req.SerializeAsString());
  ASSERT_EQ(decoded.status, 0);
  EXPECT_NE(decoded.out.find("sequence: 77"), std::string::npos) << decoded.out;
  EXPECT_NE(decoded.out.find("cmd_kafka_fetch {"), std::string::npos) << decoded.out;
  EXPECT_NE(decoded.out.find("topic: \"orders\""), std::string::npos);
  EXPECT_NE(decoded.out.find("partition: 2"), std::string::npos);
  EXPECT_NE(decoded.out.find("offset: 123456789012345"), std::string::npos);
}

TEST(ProtoCompat, ReferenceEncodedResponseDecodesWithOurCode) {
  auto encoded = protoc(reference("encode", "PubSubResp"), kResponses[2]);
  ASSERT_EQ(encoded.status, 0);
  kpg::pubsub::PubSubResp resp;
  ASSERT_TRUE(resp.ParseFromString(encoded.out));
  EXPECT_EQ(resp.sequence(), 3);
  ASSERT_EQ(resp.kafka_fetch_resp().messages_size(), 2);
  EXPECT_EQ(resp.kafka_fetch_resp().messages(0).timestamp(), 1700000000000);
  EXPECT_EQ(resp.kafka_fetch_resp().messages(0).key(), "k");
  EXPECT_EQ(resp.kafka_fetch_resp().messages(1).value(), std::string("\0\1", 2));
}

}  // namespace
