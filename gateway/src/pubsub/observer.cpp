#include "pubsub/observer.h"

#include <kpg/pubsub.pb.h>

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/wire_format_lite.h>

#include <array>
#include <limits>

namespace kpg::pubsub {

const char* command_name(Command command) {
  static constexpr std::array<const char*, kCommandCount> kNames{
      "ping",      "fetch",         "list_offset", "hello",   "metadata",
      "subscribe", "credit",        "unsubscribe", "produce", "group_subscribe",
      "commit",    "produce_batch", "unknown",     "invalid"};
  const auto index = static_cast<std::size_t>(command);
  return index < kNames.size() ? kNames[index] : "unknown";
}

Command command_of_case(int req_case) {
  switch (req_case) {
    case PubSubReq::kCmdPing: return Command::ping;
    case PubSubReq::kCmdKafkaFetch: return Command::fetch;
    case PubSubReq::kCmdKafkaListOffset: return Command::list_offset;
    case PubSubReq::kCmdHello: return Command::hello;
    case PubSubReq::kCmdKafkaMetadata: return Command::metadata;
    case PubSubReq::kCmdKafkaSubscribe: return Command::subscribe;
    case PubSubReq::kCmdCredit: return Command::credit;
    case PubSubReq::kCmdUnsubscribe: return Command::unsubscribe;
    case PubSubReq::kCmdKafkaProduce: return Command::produce;
    case PubSubReq::kCmdKafkaGroupSubscribe: return Command::group_subscribe;
    case PubSubReq::kCmdKafkaCommit: return Command::commit;
    case PubSubReq::kCmdKafkaProduceBatch: return Command::produce_batch;
    default: return Command::unknown;
  }
}

bool is_error_reply(std::string_view reply) {
  using google::protobuf::internal::WireFormatLite;
  if (reply.size() > static_cast<std::size_t>(std::numeric_limits<int>::max())) return false;
  google::protobuf::io::CodedInputStream in(reinterpret_cast<const std::uint8_t*>(reply.data()),
                                            static_cast<int>(reply.size()));
  // Serialization writes fields in number order: the sequence (1), if any, then the oneof case.
  while (const std::uint32_t tag = in.ReadTag()) {
    const int field = WireFormatLite::GetTagFieldNumber(tag);
    if (field != PubSubResp::kSequenceFieldNumber)
      return field == PubSubResp::kErrorRespFieldNumber;
    if (!WireFormatLite::SkipField(&in, tag)) return false;
  }
  return false;
}

}  // namespace kpg::pubsub
