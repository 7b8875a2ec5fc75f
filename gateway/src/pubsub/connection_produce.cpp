// Produce: one record per cmd_kafka_produce, answered once the broker has acknowledged it. Every
// check that needs no broker (the route's policy, the record's size, the connection's in-flight
// bytes and records per second) comes first; then the topic and partition are checked against the
// cluster's cached topic list, so that a client cannot create topics or queue records for
// partitions that do not exist; then the cluster's shared producer writes it.
#include "kafka/topic_name.h"
#include "pubsub/connection.h"
#include "pubsub/connection_thread.h"

#include <kpg/pubsub.pb.h>

#include <string>
#include <utility>

namespace kpg::pubsub {

namespace {

// Most headers of one record: the byte bound counts their bytes, this their per-header overhead.
constexpr int kMaxHeaders = 1024;
// How long a connection trusts the partition count it looked up for a topic it writes to, and
// how many such topics it remembers.
constexpr auto kProduceTopicTtl = std::chrono::seconds(10);
constexpr std::size_t kMaxProduceTopics = 64;

std::string produce_failure(const std::string& topic, std::int32_t partition,
                            std::string_view why) {
  std::string msg = "failed to produce, topic: " + topic;
  if (partition >= 0) msg += ", partition: " + std::to_string(partition);
  msg += ", err: ";
  msg.append(why);
  return msg;
}

}  // namespace

Outcome Connection::produce(std::int64_t sequence, const CmdKafkaProduce& cmd) {
  const std::string& topic = cmd.topic();
  const std::int32_t partition = cmd.has_partition() ? cmd.partition() : -1;
  auto refuse = [&](int code, std::string_view why) {
    return error(
        sequence, code,
        produce_failure(kafka::is_valid_topic_name(topic) ? topic : "(invalid)", partition, why));
  };
  if (!produce_.enabled()) {
    return refuse(ErrorCode::NOT_ALLOWED, "produce is not enabled on this route");
  }
  if (!kafka::is_valid_topic_name(topic))
    return refuse(ErrorCode::BAD_REQUEST, "invalid topic name");
  if (!produce_.allowed(topic)) {
    return refuse(ErrorCode::NOT_ALLOWED, "topic not allowed for writing");
  }
  if (cmd.has_partition() && cmd.partition() < 0) {
    return refuse(ErrorCode::BAD_REQUEST, "invalid partition");
  }
  if (cmd.has_timestamp() && cmd.timestamp() < 0) {
    return refuse(ErrorCode::BAD_REQUEST, "timestamp must be >= 0");
  }
  if (cmd.headers_size() > kMaxHeaders) {
    return refuse(ErrorCode::BAD_REQUEST, "more than " + std::to_string(kMaxHeaders) + " headers");
  }
  auto record = std::make_shared<kafka::ProduceRecord>();
  record->topic = topic;
  if (cmd.has_partition()) record->partition = cmd.partition();
  if (cmd.has_key()) record->key = cmd.key();
  if (cmd.has_value()) record->value = cmd.value();
  if (cmd.has_timestamp()) record->timestamp = cmd.timestamp();
  record->headers.reserve(static_cast<std::size_t>(cmd.headers_size()));
  for (const auto& h : cmd.headers()) record->headers.push_back({h.key(), h.value()});
  const std::size_t bytes = record->payload_bytes();
  const auto& policy = *produce_.policy;
  if (bytes > policy.max_record_bytes) {
    return refuse(ErrorCode::RECORD_TOO_LARGE,
                  "record of " + std::to_string(bytes) + " bytes is larger than the route's " +
                      std::to_string(policy.max_record_bytes) + " (max_record_bytes)");
  }
  if (produce_inflight_bytes_ + bytes > policy.max_inflight_bytes) {
    return refuse(ErrorCode::LIMIT_EXCEEDED,
                  "more than " + std::to_string(policy.max_inflight_bytes) +
                      " record bytes awaiting acknowledgement on this connection");
  }
  if (!record_tokens_.take()) {
    return refuse(ErrorCode::LIMIT_EXCEEDED, "more than " + std::to_string(record_tokens_.rate()) +
                                                 " records per second on this connection");
  }
  if (auto known = produce_topics_.find(topic);
      produce_waiting_.empty() && known != produce_topics_.end() &&
      known->second.until > std::chrono::steady_clock::now() && record->partition &&
      *record->partition >= known->second.partitions) {
    return refuse(ErrorCode::UNKNOWN_PARTITION, "not found partition");
  }
  produce_inflight_bytes_ += bytes;
  // Records leave in request order: one that must wait for its topic's look-up holds back every
  // later one (a connection's records to a partition keep their order).
  produce_waiting_.push_back({sequence, std::move(record), bytes});
  drain_produce(nullptr, nullptr);
  return {Outcome::Kind::pending, {}};
}

void Connection::drain_produce(const std::string* failed_topic, const kafka::KafkaError* failure) {
  while (!produce_waiting_.empty()) {
    auto& head = produce_waiting_.front();
    const std::string& topic = head.record->topic;
    auto fail = [&](const kafka::KafkaError& e) {
      kafka::ProduceResult result;
      result.error = e;
      result.partition = head.record->partition.value_or(-1);
      produced(head.sequence, head.bytes, topic, result);
    };
    auto known = produce_topics_.find(topic);
    if (known != produce_topics_.end() && known->second.until > std::chrono::steady_clock::now()) {
      if (head.record->partition && *head.record->partition >= known->second.partitions) {
        fail({kafka::ErrorKind::unknown_partition, "not found partition"});
      } else {
        send_produce(head.sequence, head.record, head.bytes);
      }
    } else if (failed_topic && *failed_topic == topic) {
      fail(*failure);
    } else {
      if (produce_lookup_ == topic) return;  // its look-up is under way
      produce_lookup_ = topic;
      source_.topics({topic}, cancel_, on_thread([this, topic](kafka::TopicsResult listed) {
                       produce_lookup_.clear();
                       kafka::KafkaError error{kafka::ErrorKind::unknown_topic, "not found topic"};
                       if (listed.error) {
                         error = *listed.error;
                       } else if (auto it = listed.topics.find(topic); it != listed.topics.end()) {
                         if (produce_topics_.size() >= kMaxProduceTopics) produce_topics_.clear();
                         produce_topics_[topic] = {
                             it->second, std::chrono::steady_clock::now() + kProduceTopicTtl};
                         return drain_produce(nullptr, nullptr);
                       }
                       drain_produce(&topic, &error);
                     }));
      return;
    }
    produce_waiting_.pop_front();
  }
}

void Connection::send_produce(std::int64_t sequence, std::shared_ptr<kafka::ProduceRecord> record,
                              std::size_t bytes) {
  std::string topic = record->topic;
  produce_.sink->produce(std::move(*record),
                         on_thread([this, sequence, bytes, topic](kafka::ProduceResult result) {
                           produced(sequence, bytes, topic, result);
                         }));
}

void Connection::produced(std::int64_t sequence, std::size_t bytes, const std::string& topic,
                          const kafka::ProduceResult& result) {
  produce_inflight_bytes_ -= bytes;
  PubSubResp resp;
  resp.set_sequence(sequence);
  if (result.error) {
    auto* e = resp.mutable_error_resp();
    e->set_code(error_code_of(*result.error));
    e->set_message(produce_failure(topic, result.partition, result.error->text));
    e->set_possibly_written(result.possibly_written);
  } else {
    ++records_produced_;
    auto* r = resp.mutable_kafka_produce_resp();
    r->set_partition(result.partition);
    r->set_offset(result.offset);
    r->set_timestamp(result.timestamp);
  }
  answer(Command::produce, resp.SerializeAsString());
}

}  // namespace kpg::pubsub
