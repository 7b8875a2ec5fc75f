// The SDK core never throws or misbehaves on what a server sends: 50,000 responses to pending
// requests, each mutated before it arrives.
#include <kpg/pubsub.pb.h>
#include <kpg/sdk/protocol_session.h>

#include "mutated_frames.h"

#include <gtest/gtest.h>

#include <iterator>
#include <memory>
#include <set>

namespace {

using kpg::sdk::ProtocolSession;

// A valid response of some kind to request `sequence`.
std::string response(std::int64_t sequence, std::size_t kind) {
  kpg::pubsub::PubSubResp resp;
  resp.set_sequence(sequence);
  switch (kind % 4) {
    case 0: resp.mutable_pong_resp()->set_state("state"); break;
    case 1: resp.mutable_kafka_list_offset_resp()->set_offset(42); break;
    case 2:
      for (int i = 0; i < 3; ++i) {
        auto* m = resp.mutable_kafka_fetch_resp()->add_messages();
        m->set_offset(10 + i);
        m->set_timestamp(1'700'000'000'000 + i);
        m->set_key("key");
        m->set_value(std::string(20, static_cast<char>('a' + i)));
      }
      break;
    default: resp.mutable_error_resp()->set_message("failed to fetch message, err: X"); break;
  }
  return resp.SerializeAsString();
}

TEST(UntrustedServerInput, MutatedResponsesNeverThrowAndCompleteEachRequestAtMostOnce) {
  const kpg::testing::QuietProtobufLog quiet;  // invalid UTF-8 in strings is expected here
  kpg::testing::FrameMutator mutator;
  ProtocolSession session;
  std::set<std::int64_t> open;  // sequences of pending requests
  int issued = 0;
  int completed = 0;
  int paired = 0;
  for (int i = 0; i < 50'000; ++i) {
    while (session.pending() < 8) {
      ++issued;
      auto sequence = std::make_shared<std::int64_t>(-1);
      auto done = [&completed, &open, sequence](const auto& result) {
        ++completed;
        open.erase(*sequence);
        (void)result.ok();
      };
      ProtocolSession::Outgoing out = issued % 3 == 0 ? session.ping("s", 1'000, done)
                                      : issued % 3 == 1
                                          ? session.list_offsets("t", 0, -1, 1'000, done)
                                          : session.fetch("t", 0, 10, 1'000, done);
      *sequence = out.sequence;
      open.insert(out.sequence);
    }
    auto target = open.begin();
    std::advance(target, static_cast<std::ptrdiff_t>(mutator.pick(open.size())));
    // Mostly mutated; every fourth intact, so requests keep completing and new ones pair.
    std::string frame = response(*target, mutator.pick(4));
    if (i % 4 != 0) frame = mutator.mutate(std::move(frame));
    ProtocolSession::FrameStatus status{};
    ASSERT_NO_THROW(status = session.on_frame(frame)) << "iteration " << i;
    if (status == ProtocolSession::FrameStatus::paired) ++paired;
  }
  session.fail_all({kpg::sdk::ErrorCode::closed, "done"});
  EXPECT_EQ(completed, issued) << "every request completed exactly once";
  EXPECT_GT(paired, 12'000) << "the frames must reach the pairing and decoding paths";
}

}  // namespace
