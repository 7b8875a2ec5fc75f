#include <kpg/pubsub.pb.h>
#include <kpg/sdk/protocol_session.h>

#include <gtest/gtest.h>

namespace {

using kpg::sdk::ErrorCode;
using kpg::sdk::ProtocolSession;
using kpg::sdk::Record;
using kpg::sdk::Result;

kpg::pubsub::PubSubReq decode_request(const std::string& frame) {
  kpg::pubsub::PubSubReq req;
  EXPECT_TRUE(req.ParseFromString(frame));
  return req;
}

TEST(ProtocolSession, EncodesRequestsWithIncreasingSequences) {
  ProtocolSession s;
  auto a = s.ping("hi", 100, nullptr);
  auto b = s.list_offsets("t", 3, kpg::sdk::kEarliest, 100, nullptr);
  auto c = s.fetch("t", 2, 42, 100, nullptr);
  EXPECT_LT(a.sequence, b.sequence);
  EXPECT_LT(b.sequence, c.sequence);
  EXPECT_EQ(decode_request(a.frame).cmd_ping().state(), "hi");
  const auto lo = decode_request(b.frame);
  EXPECT_EQ(lo.sequence(), b.sequence);
  EXPECT_EQ(lo.cmd_kafka_list_offset().topic(), "t");
  EXPECT_EQ(lo.cmd_kafka_list_offset().partition(), 3);
  EXPECT_EQ(lo.cmd_kafka_list_offset().timestamp(), -2);
  const auto f = decode_request(c.frame);
  EXPECT_EQ(f.cmd_kafka_fetch().offset(), 42);
  EXPECT_EQ(s.pending(), 3u);
}

TEST(ProtocolSession, PairsOutOfOrderResponsesBySequence) {
  ProtocolSession s;
  std::vector<std::string> order;
  auto ping = s.ping("p", 100, [&](Result<std::string> r) {
    ASSERT_TRUE(r);
    order.push_back("ping:" + r.value());
  });
  auto list = s.list_offsets("t", 0, -1, 100, [&](Result<std::int64_t> r) {
    ASSERT_TRUE(r);
    order.push_back("offset:" + std::to_string(r.value()));
  });
  kpg::pubsub::PubSubResp lr;
  lr.set_sequence(list.sequence);
  lr.mutable_kafka_list_offset_resp()->set_offset(30);
  EXPECT_EQ(s.on_frame(lr.SerializeAsString()), ProtocolSession::FrameStatus::paired);
  kpg::pubsub::PubSubResp pr;
  pr.set_sequence(ping.sequence);
  pr.mutable_pong_resp()->set_state("p");
  EXPECT_EQ(s.on_frame(pr.SerializeAsString()), ProtocolSession::FrameStatus::paired);
  EXPECT_EQ(order, (std::vector<std::string>{"offset:30", "ping:p"}));
  EXPECT_EQ(s.pending(), 0u);
}

TEST(ProtocolSession, DecodesFetchedRecords) {
  ProtocolSession s;
  std::vector<Record> got;
  auto f = s.fetch("t", 0, 5, 100, [&](Result<std::vector<Record>> r) {
    ASSERT_TRUE(r);
    got = r.value();
  });
  kpg::pubsub::PubSubResp resp;
  resp.set_sequence(f.sequence);
  auto* m = resp.mutable_kafka_fetch_resp()->add_messages();
  m->set_offset(5);
  m->set_timestamp(1700000000123);
  m->set_key(std::string("k\0", 2));
  m->set_value("v");
  s.on_frame(resp.SerializeAsString());
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].offset, 5);
  EXPECT_EQ(got[0].timestamp, 1700000000123);
  EXPECT_EQ(got[0].key, std::string("k\0", 2));
  EXPECT_EQ(got[0].value, "v");
}

TEST(ProtocolSession, ServerErrorBecomesTypedErrorWithTheServersMessage) {
  ProtocolSession s;
  std::optional<kpg::sdk::Error> error;
  auto f = s.fetch("t", 0, 5, 100, [&](auto r) {
    ASSERT_FALSE(r);
    error = r.error();
  });
  kpg::pubsub::PubSubResp resp;
  resp.set_sequence(f.sequence);
  resp.mutable_error_resp()->set_message("failed to fetch message, topic: t, partition: 0, err: x");
  s.on_frame(resp.SerializeAsString());
  ASSERT_TRUE(error);
  EXPECT_EQ(error->code, ErrorCode::server);
  EXPECT_EQ(error->message, "failed to fetch message, topic: t, partition: 0, err: x");
}

TEST(ProtocolSession, WrongResponseKindIsAProtocolError) {
  ProtocolSession s;
  std::optional<kpg::sdk::Error> error;
  auto p = s.ping("x", 100, [&](auto r) { error = r.error(); });
  kpg::pubsub::PubSubResp resp;
  resp.set_sequence(p.sequence);
  resp.mutable_kafka_list_offset_resp()->set_offset(1);
  s.on_frame(resp.SerializeAsString());
  ASSERT_TRUE(error);
  EXPECT_EQ(error->code, ErrorCode::protocol);
}

TEST(ProtocolSession, GarbageAndUnpairedFramesDoNotCompleteAnything) {
  ProtocolSession s;
  int calls = 0;
  s.ping("x", 100, [&](auto) { ++calls; });
  EXPECT_EQ(s.on_frame(std::string("\xff\xff\xff", 3)), ProtocolSession::FrameStatus::undecodable);
  kpg::pubsub::PubSubResp wrong;
  wrong.set_sequence(0);
  wrong.mutable_error_resp()->set_message("wrong command");
  EXPECT_EQ(s.on_frame(wrong.SerializeAsString()), ProtocolSession::FrameStatus::unpaired);
  EXPECT_EQ(s.last_unpaired_error(), "wrong command");
  EXPECT_EQ(calls, 0);
  EXPECT_EQ(s.pending(), 1u);
}

TEST(ProtocolSession, ExpireFailsOnlyOverdueRequestsWithTimeout) {
  ProtocolSession s;
  std::vector<ErrorCode> codes;
  s.ping("a", 100, [&](auto r) { codes.push_back(r.error().code); });
  s.ping("b", 300, [&](auto r) { codes.push_back(r.error().code); });
  EXPECT_EQ(s.next_deadline(), 100);
  s.expire(99);
  EXPECT_TRUE(codes.empty());
  s.expire(100);
  EXPECT_EQ(codes, std::vector<ErrorCode>{ErrorCode::timeout});
  EXPECT_EQ(s.next_deadline(), 300);
  s.fail_all({ErrorCode::closed, "bye"});
  EXPECT_EQ(codes, (std::vector<ErrorCode>{ErrorCode::timeout, ErrorCode::closed}));
  EXPECT_EQ(s.next_deadline(), -1);
}

TEST(ProtocolSession, AResponseAfterTimeoutIsIgnored) {
  ProtocolSession s;
  int calls = 0;
  auto p = s.ping("a", 10, [&](auto) { ++calls; });
  s.expire(10);
  kpg::pubsub::PubSubResp resp;
  resp.set_sequence(p.sequence);
  resp.mutable_pong_resp()->set_state("a");
  EXPECT_EQ(s.on_frame(resp.SerializeAsString()), ProtocolSession::FrameStatus::unpaired);
  EXPECT_EQ(calls, 1);
}

}  // namespace
