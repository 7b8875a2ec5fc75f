#include "pubsub/pubsub_handler.h"

#include <kpg/pubsub.pb.h>

#include <limits>
#include <utility>

namespace kpg::pubsub {

namespace {

std::string serialize(const PubSubResp& resp) {
  std::string out;
  resp.SerializeToString(&out);
  return out;
}

// APISIX's error text: "failed to <what>, topic: T, partition: P, err: E".
std::string kafka_error_message(std::string_view what, const std::string& topic,
                                std::int32_t partition, const kafka::KafkaError& error) {
  std::string msg = "failed to ";
  msg.append(what);
  msg += ", topic: " + topic + ", partition: " + std::to_string(partition) + ", err: " + error.text;
  return msg;
}

}  // namespace

std::string encode_error(std::int64_t sequence, std::string_view message) {
  PubSubResp resp;
  resp.set_sequence(sequence);
  resp.mutable_error_resp()->set_code(0);
  resp.mutable_error_resp()->set_message(std::string(message));
  return serialize(resp);
}

Outcome handle_frame(std::string_view frame, kafka::RecordSource& source, const Limits& limits,
                     AsyncReply async_reply) {
  PubSubReq req;
  if (frame.size() > static_cast<std::size_t>(std::numeric_limits<int>::max()) ||
      !req.ParseFromArray(frame.data(), static_cast<int>(frame.size()))) {
    return {Outcome::Kind::reply, encode_error(0, "wrong command")};
  }
  const std::int64_t seq = req.sequence();

  switch (req.req_case()) {
    case PubSubReq::REQ_NOT_SET: return {Outcome::Kind::none, {}};

    case PubSubReq::kCmdEmpty: return {Outcome::Kind::reply, encode_error(seq, "unknown command")};

    case PubSubReq::kCmdPing: {
      PubSubResp resp;
      resp.set_sequence(seq);
      resp.mutable_pong_resp()->set_state(std::move(*req.mutable_cmd_ping()->mutable_state()));
      return {Outcome::Kind::reply, serialize(resp)};
    }

    case PubSubReq::kCmdKafkaListOffset: {
      const auto& cmd = req.cmd_kafka_list_offset();
      source.list_offset(
          cmd.topic(), cmd.partition(), cmd.timestamp(),
          [seq, topic = cmd.topic(), partition = cmd.partition(),
           reply = std::move(async_reply)](kafka::OffsetResult result) {
            if (result.error) {
              reply(encode_error(
                  seq, kafka_error_message("list offset", topic, partition, *result.error)));
              return;
            }
            PubSubResp resp;
            resp.set_sequence(seq);
            resp.mutable_kafka_list_offset_resp()->set_offset(result.offset);
            reply(serialize(resp));
          });
      return {Outcome::Kind::pending, {}};
    }

    case PubSubReq::kCmdKafkaFetch: {
      const auto& cmd = req.cmd_kafka_fetch();
      source.fetch(cmd.topic(), cmd.partition(), cmd.offset(), limits.fetch,
                   [seq, topic = cmd.topic(), partition = cmd.partition(),
                    reply = std::move(async_reply)](kafka::FetchResult result) {
                     if (result.error) {
                       reply(encode_error(seq, kafka_error_message("fetch message", topic,
                                                                   partition, *result.error)));
                       return;
                     }
                     PubSubResp resp;
                     resp.set_sequence(seq);
                     auto* messages = resp.mutable_kafka_fetch_resp()->mutable_messages();
                     messages->Reserve(static_cast<int>(result.records.size()));
                     for (auto& record : result.records) {
                       auto* m = messages->Add();
                       m->set_offset(record.offset);
                       m->set_timestamp(record.timestamp);
                       m->set_key(std::move(record.key));
                       m->set_value(std::move(record.value));
                     }
                     reply(serialize(resp));
                   });
      return {Outcome::Kind::pending, {}};
    }
  }
  return {Outcome::Kind::reply, encode_error(seq, "unknown command")};
}

}  // namespace kpg::pubsub
