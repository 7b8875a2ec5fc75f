#include "pubsub/pubsub_handler.h"

#include "kafka/topic_name.h"

#include <kpg/pubsub.pb.h>

#include <algorithm>
#include <limits>
#include <utility>

namespace kpg::pubsub {

namespace {

// APISIX's error text: "failed to <what>, topic: T, partition: P, err: E".
std::string kafka_error_message(std::string_view what, const std::string& topic,
                                std::int32_t partition, const kafka::KafkaError& error) {
  std::string msg = "failed to ";
  msg.append(what);
  msg += ", topic: " + topic + ", partition: " + std::to_string(partition) + ", err: " + error.text;
  return msg;
}

// A client-chosen topic name made fit for an error text or a log line: at most kEchoedTopicBytes
// of it, non-printable bytes as \xNN, and the full length when it was cut. The reply must not
// grow with (or carry raw binary from) whatever the client sent.
constexpr std::size_t kEchoedTopicBytes = 64;

std::string printable_topic(std::string_view topic) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (const char c : topic.substr(0, kEchoedTopicBytes)) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte >= 0x20 && byte < 0x7f && byte != '\\') {
      out += c;
    } else {
      out += "\\x";
      out += kHex[byte >> 4];
      out += kHex[byte & 0xf];
    }
  }
  if (topic.size() > kEchoedTopicBytes) {
    out += "...(" + std::to_string(topic.size()) + " bytes)";
  }
  return out;
}

// The reason a Kafka command's arguments are refused before they reach the RecordSource, or
// nullptr when they are fine. Kafka would refuse these anyway; checking here keeps names Kafka
// cannot have (NUL bytes, 40 KB strings) out of librdkafka handles and reader maps.
const char* invalid_argument(const std::string& topic, std::int32_t partition,
                             std::int64_t offset = 0) {
  if (!kafka::is_valid_topic_name(topic)) return "invalid topic name";
  if (partition < 0) return "invalid partition";
  if (offset < 0) return "invalid offset";
  return nullptr;
}

// The reason a valid Kafka command is refused before the RecordSource: a topic the route's ACL
// does not allow. Checked after invalid_argument, so the name is a valid Kafka name by then.
const char* not_allowed(const std::string& topic, const RequestContext& context) {
  return context.topics.allowed(topic) ? nullptr : "topic not allowed";
}

Outcome refused(std::int64_t seq, std::string_view what, const std::string& topic,
                std::int32_t partition, const char* why, int code, const RequestContext& context) {
  return {Outcome::Kind::reply,
          encode_error(seq,
                       kafka_error_message(what, printable_topic(topic), partition,
                                           kafka::KafkaError{kafka::ErrorKind::other, why}),
                       context.kpg ? code : 0)};
}

// The code an error gets on this connection: kpg's after hello, APISIX's 0 before.
int code_for(const RequestContext& context, int kpg_code) {
  return context.kpg ? kpg_code : 0;
}

}  // namespace

int error_code_of(const kafka::KafkaError& error) {
  switch (error.kind) {
    case kafka::ErrorKind::unknown_topic: return ErrorCode::UNKNOWN_TOPIC;
    case kafka::ErrorKind::unknown_partition: return ErrorCode::UNKNOWN_PARTITION;
    case kafka::ErrorKind::offset_out_of_range: return ErrorCode::OFFSET_OUT_OF_RANGE;
    case kafka::ErrorKind::unreachable: return ErrorCode::UNAVAILABLE;
    case kafka::ErrorKind::rejected: return ErrorCode::REJECTED;
    case kafka::ErrorKind::invalid_request: return ErrorCode::BAD_REQUEST;
    case kafka::ErrorKind::overloaded: return ErrorCode::OVERLOADED;
    case kafka::ErrorKind::record_too_large: return ErrorCode::RECORD_TOO_LARGE;
    case kafka::ErrorKind::other: return ErrorCode::INTERNAL;
  }
  return ErrorCode::INTERNAL;
}

std::string encode_error(std::int64_t sequence, std::string_view message, int code) {
  PubSubResp resp;
  resp.set_sequence(sequence);
  resp.mutable_error_resp()->set_code(code);
  resp.mutable_error_resp()->set_message(std::string(message));
  return resp.SerializeAsString();
}

Outcome handle_frame(std::string_view frame, kafka::RecordSource& source, const Limits& limits,
                     AsyncReply async_reply, const RequestContext& context) {
  PubSubReq req;
  if (frame.size() > static_cast<std::size_t>(std::numeric_limits<int>::max()) ||
      !req.ParseFromArray(frame.data(), static_cast<int>(frame.size()))) {
    return {Outcome::Kind::reply,
            encode_error(0, "wrong command", code_for(context, ErrorCode::BAD_REQUEST))};
  }
  return handle_request(req, source, limits, std::move(async_reply), context);
}

Outcome handle_request(PubSubReq& req, kafka::RecordSource& source, const Limits& limits,
                       AsyncReply async_reply, const RequestContext& context) {
  const std::int64_t seq = req.sequence();

  switch (req.req_case()) {
    case PubSubReq::REQ_NOT_SET: return {Outcome::Kind::none, {}};

    case PubSubReq::kCmdEmpty: return unknown_command(seq, context);

    case PubSubReq::kCmdPing: {
      PubSubResp resp;
      resp.set_sequence(seq);
      resp.mutable_pong_resp()->set_state(std::move(*req.mutable_cmd_ping()->mutable_state()));
      return {Outcome::Kind::reply, resp.SerializeAsString()};
    }

    case PubSubReq::kCmdKafkaListOffset: {
      const auto& cmd = req.cmd_kafka_list_offset();
      if (const char* why = invalid_argument(cmd.topic(), cmd.partition())) {
        return refused(seq, "list offset", cmd.topic(), cmd.partition(), why,
                       ErrorCode::BAD_REQUEST, context);
      }
      if (const char* why = not_allowed(cmd.topic(), context)) {
        return refused(seq, "list offset", cmd.topic(), cmd.partition(), why,
                       ErrorCode::NOT_ALLOWED, context);
      }
      source.list_offset(
          cmd.topic(), cmd.partition(), cmd.timestamp(), context.cancel,
          [seq, topic = cmd.topic(), partition = cmd.partition(), kpg = context.kpg,
           reply = std::move(async_reply)](kafka::OffsetResult result) {
            if (result.error) {
              reply(encode_error(
                  seq, kafka_error_message("list offset", topic, partition, *result.error),
                  kpg ? error_code_of(*result.error) : 0));
              return;
            }
            PubSubResp resp;
            resp.set_sequence(seq);
            resp.mutable_kafka_list_offset_resp()->set_offset(result.offset);
            reply(resp.SerializeAsString());
          });
      return {Outcome::Kind::pending, {}};
    }

    case PubSubReq::kCmdKafkaFetch: {
      const auto& cmd = req.cmd_kafka_fetch();
      if (const char* why = invalid_argument(cmd.topic(), cmd.partition(), cmd.offset())) {
        return refused(seq, "fetch message", cmd.topic(), cmd.partition(), why,
                       ErrorCode::BAD_REQUEST, context);
      }
      if (const char* why = not_allowed(cmd.topic(), context)) {
        return refused(seq, "fetch message", cmd.topic(), cmd.partition(), why,
                       ErrorCode::NOT_ALLOWED, context);
      }
      // The route's pinned conditions hold for every fetch; the request may add its own.
      FilterPtr filter;
      if (context.pinned && context.pinned->error()) {
        return refused(seq, "fetch message", cmd.topic(), cmd.partition(),
                       context.pinned->error()->c_str(), ErrorCode::NOT_ALLOWED, context);
      }
      if (cmd.has_filter() || (context.pinned && !context.pinned->empty())) {
        static const std::vector<std::string> none;
        auto compiled = compile_filter(cmd.has_filter() ? &cmd.filter() : nullptr,
                                       context.pinned ? context.pinned->conditions() : none);
        if (auto* why = std::get_if<std::string>(&compiled)) {
          return refused(seq, "fetch message", cmd.topic(), cmd.partition(), why->c_str(),
                         ErrorCode::BAD_REQUEST, context);
        }
        filter = std::get<FilterPtr>(std::move(compiled));
      }
      source.fetch(
          cmd.topic(), cmd.partition(), cmd.offset(), limits.fetch, context.cancel,
          [seq, topic = cmd.topic(), partition = cmd.partition(), offset = cmd.offset(),
           kpg = context.kpg, records_sent = context.records_sent, observer = context.observer,
           filter = std::move(filter), reply = std::move(async_reply)](kafka::FetchResult result) {
            if (result.error) {
              reply(encode_error(
                  seq, kafka_error_message("fetch message", topic, partition, *result.error),
                  kpg ? error_code_of(*result.error) : 0));
              return;
            }
            PubSubResp resp;
            resp.set_sequence(seq);
            auto* fetched = resp.mutable_kafka_fetch_resp();
            if (filter) {
              // Where the next fetch starts: after every record read, matching or not.
              fetched->set_next_offset(result.records.empty() ? offset
                                                              : result.records.back().offset + 1);
              result.records.erase(
                  std::remove_if(result.records.begin(), result.records.end(),
                                 [&](const kafka::Record& r) { return !filter->matches(r); }),
                  result.records.end());
            }
            if (records_sent) {
              records_sent->fetch_add(result.records.size(), std::memory_order_relaxed);
            }
            auto* messages = fetched->mutable_messages();
            messages->Reserve(static_cast<int>(result.records.size()));
            for (auto& record : result.records) {
              auto* m = messages->Add();
              m->set_offset(record.offset);
              m->set_timestamp(record.timestamp);
              m->set_key(std::move(record.key));
              m->set_value(std::move(record.value));
              if (kpg) {
                for (auto& header : record.headers) {
                  auto* h = m->add_headers();
                  h->set_key(std::move(header.key));
                  h->set_value(std::move(header.value));
                }
              }
            }
            auto bytes = resp.SerializeAsString();
            if (observer) observer->delivered(result.records.size(), bytes.size(), false);
            reply(std::move(bytes));
          });
      return {Outcome::Kind::pending, {}};
    }
    default: break;  // kpg's commands, handled by Connection
  }
  return unknown_command(seq, context);
}

Outcome unknown_command(std::int64_t sequence, const RequestContext& context) {
  return {Outcome::Kind::reply,
          encode_error(sequence, "unknown command", code_for(context, ErrorCode::UNKNOWN_COMMAND))};
}

}  // namespace kpg::pubsub
