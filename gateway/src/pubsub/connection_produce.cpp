// Produce: one record per cmd_kafka_produce, or many per cmd_kafka_produce_batch, answered once the
// broker has acknowledged them. Every check that needs no broker (the route's policy, the record's
// size, the connection's in-flight bytes and records per second) comes first; then the topic and
// partition are checked against the cluster's cached topic list, so that a client cannot create
// topics or queue records for partitions that do not exist; then the cluster's shared producer
// writes them.
#include "kafka/topic_name.h"
#include "pubsub/connection.h"
#include "pubsub/connection_thread.h"

#include <kpg/pubsub.pb.h>

#include <atomic>
#include <string>
#include <utility>
#include <vector>

namespace kpg::pubsub {

namespace {

// Most headers of one record: the byte bound counts their bytes, this their per-header overhead.
constexpr int kMaxHeaders = 1024;
// How long a connection trusts the partition count it looked up for a topic it writes to, and
// how many such topics it remembers.
constexpr auto kProduceTopicTtl = std::chrono::seconds(10);
constexpr std::size_t kMaxProduceTopics = 64;

// A result as the client reads it: where the record was written, or why not (naming its topic).
void put_written(const kafka::ProduceResult& result, KafkaProduceResp* written) {
  written->set_partition(result.partition);
  written->set_offset(result.offset);
  written->set_timestamp(result.timestamp);
}
void put_error(const kafka::ProduceResult& result, std::string_view topic, ErrorResp* error) {
  error->set_code(error_code_of(*result.error));
  error->set_message(Connection::failure("produce", topic, result.partition, result.error->text));
  error->set_possibly_written(result.possibly_written);
}

}  // namespace

// A batch's records are settled on Kafka threads (delivery reports) or on the connection's thread
// (refusals after a topic look-up), each into its own slot; the last one posts the answer once.
struct ProduceBatch {
  std::int64_t sequence = 0;
  std::size_t bytes = 0;            // payload bytes of all its records (in-flight accounting)
  std::vector<std::string> topics;  // of each record, for error messages
  std::vector<kafka::ProduceResult> results;
  std::atomic<std::size_t> remaining{0};
  std::function<void(std::shared_ptr<ProduceBatch>)> finish;  // hops to the connection's thread

  static void settle(const std::shared_ptr<ProduceBatch>& batch, std::size_t index,
                     kafka::ProduceResult result) {
    batch->results[index] = std::move(result);
    // acq_rel: the last one to settle sees every other slot written.
    if (batch->remaining.fetch_sub(1, std::memory_order_acq_rel) == 1) batch->finish(batch);
  }
};

std::variant<std::shared_ptr<kafka::ProduceRecord>, Connection::RecordRefusal>
Connection::accept_record(const CmdKafkaProduce& cmd) const {
  const std::string& topic = cmd.topic();
  const std::int32_t partition = cmd.has_partition() ? cmd.partition() : -1;
  auto refuse = [&](int code, std::string_view why) {
    return RecordRefusal{
        code, failure("produce", kafka::is_valid_topic_name(topic) ? topic : "(invalid)", partition,
                      why)};
  };
  if (!kafka::is_valid_topic_name(topic)) {
    return refuse(ErrorCode::BAD_REQUEST, "invalid topic name");
  }
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
  return record;
}

std::optional<Connection::RecordRefusal> Connection::admit(std::uint32_t records,
                                                           std::size_t bytes) {
  const auto refuse = [](std::string why) {
    return RecordRefusal{ErrorCode::LIMIT_EXCEEDED, std::move(why)};
  };
  // Empty records cost the gateway memory too (a request, a producer message, a delivery
  // report): besides their bytes, a connection's records awaiting acknowledgement are bounded.
  if (produce_inflight_records_ + records > kMaxProduceBatchRecords) {
    return refuse("more than " + std::to_string(kMaxProduceBatchRecords) +
                  " records awaiting acknowledgement on this connection");
  }
  if (produce_inflight_bytes_ + bytes > produce_.policy->max_inflight_bytes) {
    return refuse("more than " + std::to_string(produce_.policy->max_inflight_bytes) +
                  " record bytes awaiting acknowledgement on this connection");
  }
  if (record_tokens_.rate() != 0 && records > record_tokens_.rate()) {
    return refuse("a batch of " + std::to_string(records) + " records is more than the " +
                  std::to_string(record_tokens_.rate()) +
                  " records per second this connection may write");
  }
  if (!record_tokens_.take(records)) {
    return refuse("more than " + std::to_string(record_tokens_.rate()) +
                  " records per second on this connection");
  }
  produce_inflight_bytes_ += bytes;
  produce_inflight_records_ += records;
  return std::nullopt;
}

Outcome Connection::produce(std::int64_t sequence, const CmdKafkaProduce& cmd) {
  if (!produce_.enabled()) {
    return error(
        sequence, ErrorCode::NOT_ALLOWED,
        failure("produce", kafka::is_valid_topic_name(cmd.topic()) ? cmd.topic() : "(invalid)",
                cmd.has_partition() ? cmd.partition() : -1,
                "produce is not enabled on this route"));
  }
  auto accepted = accept_record(cmd);
  if (auto* refusal = std::get_if<RecordRefusal>(&accepted)) {
    return error(sequence, refusal->code, refusal->why);
  }
  auto record = std::get<std::shared_ptr<kafka::ProduceRecord>>(std::move(accepted));
  const std::size_t bytes = record->payload_bytes();
  const std::int32_t partition = record->partition.value_or(-1);
  // A partition beyond a topic this connection knows is refused at once (when no earlier record
  // waits: in a batch, or behind one, it fails alone, as a broker's answer would).
  if (auto known = produce_topics_.find(record->topic);
      produce_waiting_.empty() && known != produce_topics_.end() &&
      known->second.until > std::chrono::steady_clock::now() && record->partition &&
      *record->partition >= known->second.partitions) {
    return error(sequence, ErrorCode::UNKNOWN_PARTITION,
                 failure("produce", record->topic, partition, "not found partition"));
  }
  if (auto refusal = admit(1, bytes)) {
    return error(sequence, refusal->code,
                 failure("produce", record->topic, partition, refusal->why));
  }
  // Records leave in request order: one that must wait for its topic's look-up holds back every
  // later one (a connection's records to a partition keep their order).
  produce_waiting_.push_back({sequence, std::move(record), bytes, nullptr, 0});
  drain_produce(nullptr, nullptr);
  return {Outcome::Kind::pending, {}};
}

Outcome Connection::produce_batch(std::int64_t sequence, const CmdKafkaProduceBatch& cmd) {
  const auto refuse = [&](int code, const std::string& why) {
    return error(sequence, code, "failed to produce a batch, err: " + why);
  };
  if (!produce_.enabled()) {
    return refuse(ErrorCode::NOT_ALLOWED, "produce is not enabled on this route");
  }
  const auto count = static_cast<std::uint32_t>(cmd.records_size());
  if (count == 0) return refuse(ErrorCode::BAD_REQUEST, "a batch needs at least one record");
  if (count > kMaxProduceBatchRecords) {
    return refuse(ErrorCode::BAD_REQUEST,
                  "more than " + std::to_string(kMaxProduceBatchRecords) + " records in one batch");
  }
  // All or nothing: every record is checked before any is queued.
  auto batch = std::make_shared<ProduceBatch>();
  batch->sequence = sequence;
  batch->topics.reserve(count);
  batch->results.resize(count);
  std::vector<std::shared_ptr<kafka::ProduceRecord>> records;
  records.reserve(count);
  for (std::uint32_t i = 0; i < count; ++i) {
    auto accepted = accept_record(cmd.records(static_cast<int>(i)));
    if (auto* refusal = std::get_if<RecordRefusal>(&accepted)) {
      return error(sequence, refusal->code, "record " + std::to_string(i) + ": " + refusal->why);
    }
    records.push_back(std::get<std::shared_ptr<kafka::ProduceRecord>>(std::move(accepted)));
    batch->bytes += records.back()->payload_bytes();
    batch->topics.push_back(records.back()->topic);
  }
  if (auto refusal = admit(count, batch->bytes)) return refuse(refusal->code, refusal->why);
  batch->remaining = count;
  batch->finish = on_thread([this](std::shared_ptr<ProduceBatch> done) { batch_produced(*done); });
  for (std::uint32_t i = 0; i < count; ++i) {
    const std::size_t bytes = records[i]->payload_bytes();
    produce_waiting_.push_back({sequence, std::move(records[i]), bytes, batch, i});
  }
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
      settle_produce(head, std::move(result));
    };
    auto known = produce_topics_.find(topic);
    if (known != produce_topics_.end() && known->second.until > std::chrono::steady_clock::now()) {
      if (head.record->partition && *head.record->partition >= known->second.partitions) {
        fail({kafka::ErrorKind::unknown_partition, "not found partition"});
      } else {
        send_produce(head);
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
    // An answer (fail) may have ended the connection, which dropped every waiting record.
    if (shut_down_) return;
    produce_waiting_.pop_front();
  }
}

void Connection::send_produce(WaitingRecord& waiting) {
  if (waiting.batch) {
    // Settled on the Kafka thread: a batch costs one hop back, not one per record.
    produce_.sink->produce(
        std::move(*waiting.record),
        [batch = std::move(waiting.batch), index = waiting.index](kafka::ProduceResult result) {
          ProduceBatch::settle(batch, index, std::move(result));
        });
    return;
  }
  // The answer's way back is made before the record is moved into the producer: it names the
  // record's topic (and function arguments are evaluated in no set order).
  auto done = on_thread([this, sequence = waiting.sequence, bytes = waiting.bytes,
                         topic = waiting.record->topic](kafka::ProduceResult result) {
    produced(sequence, bytes, topic, result);
  });
  produce_.sink->produce(std::move(*waiting.record), std::move(done));
}

void Connection::settle_produce(WaitingRecord& waiting, kafka::ProduceResult result) {
  if (waiting.batch) {
    return ProduceBatch::settle(waiting.batch, waiting.index, std::move(result));
  }
  produced(waiting.sequence, waiting.bytes, waiting.record->topic, result);
}

void Connection::produced(std::int64_t sequence, std::size_t bytes, const std::string& topic,
                          const kafka::ProduceResult& result) {
  produce_inflight_bytes_ -= bytes;
  --produce_inflight_records_;
  PubSubResp resp;
  resp.set_sequence(sequence);
  if (result.error) {
    put_error(result, topic, resp.mutable_error_resp());
  } else {
    ++records_produced_;
    put_written(result, resp.mutable_kafka_produce_resp());
  }
  answer(Command::produce, resp.SerializeAsString());
}

void Connection::batch_produced(const ProduceBatch& batch) {
  produce_inflight_bytes_ -= batch.bytes;
  produce_inflight_records_ -= batch.results.size();
  PubSubResp resp;
  resp.set_sequence(batch.sequence);
  auto* answer_of = resp.mutable_kafka_produce_batch_resp();
  answer_of->mutable_results()->Reserve(static_cast<int>(batch.results.size()));
  for (std::size_t i = 0; i < batch.results.size(); ++i) {
    const auto& result = batch.results[i];
    auto* out = answer_of->add_results();
    if (result.error) {
      put_error(result, batch.topics[i], out->mutable_error());
    } else {
      ++records_produced_;
      put_written(result, out->mutable_written());
    }
  }
  answer(Command::produce_batch, resp.SerializeAsString());
}

}  // namespace kpg::pubsub
