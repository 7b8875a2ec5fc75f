// The data plane's request handler on any bytes a WebSocket client can send as one binary frame.
// The Kafka side is a fake that queues each command and answers it after handle_frame returns
// (as the real source answers on a worker thread, never inline), so both the immediate replies
// and the encoded Kafka replies are exercised. Checked: handle_frame never throws (an exception
// escaping here aborts), every reply decodes and carries the request's sequence, and each
// Kafka command is answered exactly once.
#include "fake_sources.h"
#include "fuzz_check.h"
#include "pubsub/pubsub_handler.h"

#include <kpg/pubsub.pb.h>

#include <google/protobuf/stubs/logging.h>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <string_view>

namespace {

using kpg::fuzz::check;
namespace kafka = kpg::kafka;

// Answers from the request itself: odd partitions fail (each error kind in turn), even ones
// succeed with a few records derived from the topic, within the fetch byte limit.
struct QueuedSource : kpg::testing::PullOnlySource {
  void list_offset(std::string topic, std::int32_t partition, std::int64_t timestamp,
                   kpg::kafka::CancelToken,
                   std::function<void(kafka::OffsetResult)> done) override {
    kafka::OffsetResult result;
    if (partition % 2 != 0) {
      result.error = error_for(topic, partition);
    } else {
      result.offset = timestamp < 0 ? 7 : timestamp;
    }
    answers.push_back([done = std::move(done), result = std::move(result)] { done(result); });
  }

  void fetch(std::string topic, std::int32_t partition, std::int64_t offset,
             kafka::FetchLimits limits, kafka::CancelToken,
             std::function<void(kafka::FetchResult)> done) override {
    kafka::FetchResult result;
    if (partition % 2 != 0) {
      result.error = error_for(topic, partition);
    } else {
      std::size_t bytes = 0;
      for (std::int64_t i = 0; i < static_cast<std::int64_t>(topic.size() % 4); ++i) {
        kafka::Record record;
        record.offset = offset + i;  // what a broker returns: offsets from the requested one on
        record.timestamp = 1'700'000'000'000 + i;
        record.key = topic;
        record.value = topic + topic;
        bytes += record.key.size() + record.value.size();
        if (i > 0 && bytes > limits.max_bytes) break;
        result.records.push_back(std::move(record));
      }
    }
    answers.push_back([done = std::move(done), result = std::move(result)] { done(result); });
  }

  static kafka::KafkaError error_for(const std::string& topic, std::int32_t partition) {
    const auto kind = static_cast<kafka::ErrorKind>(static_cast<unsigned>(partition) % 6);
    return {kind, "Broker: " + topic};
  }

  std::deque<std::function<void()>> answers;
};

kpg::pubsub::PubSubResp decode_reply(const std::string& bytes) {
  kpg::pubsub::PubSubResp resp;
  check(resp.ParseFromString(bytes), "a reply does not decode as PubSubResp");
  return resp;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  // Invalid UTF-8 in proto3 strings is expected input; protobuf would log every occurrence.
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view frame(reinterpret_cast<const char*>(data), size);
  QueuedSource source;
  kpg::pubsub::Limits limits;
  limits.fetch.max_bytes = 64;  // small, so the byte limit is reached by fuzzed topics
  int async_replies = 0;
  std::string last_async;

  const auto outcome = kpg::pubsub::handle_frame(frame, source, limits, [&](std::string reply) {
    ++async_replies;
    last_async = std::move(reply);
  });

  kpg::pubsub::PubSubReq request;
  const bool decodes = request.ParseFromArray(data, static_cast<int>(size));
  switch (outcome.kind) {
    case kpg::pubsub::Outcome::Kind::reply: {
      const auto resp = decode_reply(outcome.reply);
      check(resp.sequence() == (decodes ? request.sequence() : 0),
            "an immediate reply carries another sequence than the request");
      check(source.answers.empty(), "an immediate reply, yet a Kafka command was issued");
      break;
    }
    case kpg::pubsub::Outcome::Kind::none:
      check(outcome.reply.empty() && source.answers.empty(), "'none' with something to send");
      break;
    case kpg::pubsub::Outcome::Kind::pending: {
      check(source.answers.size() == 1, "a pending command did not issue exactly one Kafka call");
      auto answer = std::move(source.answers.front());
      source.answers.pop_front();
      answer();
      check(async_replies == 1, "a pending command was not answered exactly once");
      check(decode_reply(last_async).sequence() == request.sequence(),
            "an asynchronous reply carries another sequence than the request");
      break;
    }
  }
  return 0;
}
