#include <kpg/sdk/protocol_session.h>

#include <kpg/pubsub.pb.h>

#include <limits>
#include <type_traits>
#include <utility>

namespace kpg::sdk {

const char* to_string(ErrorCode code) noexcept {
  switch (code) {
    case ErrorCode::transport: return "transport";
    case ErrorCode::timeout: return "timeout";
    case ErrorCode::closed: return "closed";
    case ErrorCode::server: return "server";
    case ErrorCode::protocol: return "protocol";
    case ErrorCode::unauthorized: return "unauthorized";
    case ErrorCode::forbidden: return "forbidden";
  }
  return "unknown";
}

const char* to_string(ServerCode code) noexcept {
  switch (code) {
    case ServerCode::unspecified: return "unspecified";
    case ServerCode::unknown_command: return "unknown_command";
    case ServerCode::bad_request: return "bad_request";
    case ServerCode::unknown_topic: return "unknown_topic";
    case ServerCode::unknown_partition: return "unknown_partition";
    case ServerCode::offset_out_of_range: return "offset_out_of_range";
    case ServerCode::unavailable: return "unavailable";
    case ServerCode::rejected: return "rejected";
    case ServerCode::overloaded: return "overloaded";
    case ServerCode::unknown_subscription: return "unknown_subscription";
    case ServerCode::limit_exceeded: return "limit_exceeded";
    case ServerCode::internal: return "internal";
    case ServerCode::not_allowed: return "not_allowed";
    case ServerCode::record_too_large: return "record_too_large";
    case ServerCode::rebalanced: return "rebalanced";
  }
  return "unknown";
}

namespace {

std::string serialize(const pubsub::PubSubReq& req) {
  std::string out;
  req.SerializeToString(&out);
  return out;
}

template <class Handler, class T>
void complete(Handler& handler, T&& value) {
  if (handler) handler(std::forward<T>(value));
}

Error server_error(const pubsub::ErrorResp& e) {
  return Error{ErrorCode::server, e.message(), static_cast<ServerCode>(e.code()),
               e.possibly_written()};
}

// A produce that was sent and then timed out or lost its connection may have been written.
template <class Handler>
Error local_failure(const Handler&, Error error) {
  if constexpr (std::is_same_v<Handler, ProtocolSession::ProduceHandler> ||
                std::is_same_v<Handler, ProtocolSession::ProduceBatchHandler>) {
    error.possibly_written = true;
  }
  return error;
}

std::vector<TopicPartitionOffset> take_offsets(
    google::protobuf::RepeatedPtrField<pubsub::KafkaTopicPartitionOffset>* offsets) {
  std::vector<TopicPartitionOffset> out;
  out.reserve(static_cast<std::size_t>(offsets->size()));
  for (auto& o : *offsets) {
    out.push_back({std::move(*o.mutable_topic()), o.partition(), o.offset()});
  }
  return out;
}

// Moves the messages out of a decoded reply (fetch or push) into Records of `partition`.
std::vector<Record> take_records(google::protobuf::RepeatedPtrField<pubsub::KafkaMessage>* messages,
                                 std::int32_t partition) {
  std::vector<Record> records;
  records.reserve(static_cast<std::size_t>(messages->size()));
  for (auto& m : *messages) {
    Record r{m.offset(), m.timestamp(), std::move(*m.mutable_key()), std::move(*m.mutable_value()),
             {},         partition};
    r.headers.reserve(static_cast<std::size_t>(m.headers_size()));
    for (auto& h : *m.mutable_headers()) {
      r.headers.push_back(Header{std::move(*h.mutable_key()), std::move(*h.mutable_value())});
    }
    records.push_back(std::move(r));
  }
  return records;
}

// An empty filter is left out: the field's absence is what every gateway understands as
// "everything", and an APISIX gateway never sees a field it does not know.
void fill_filter(const Filter& filter, pubsub::KafkaFilter* out) {
  for (const auto& c : filter.conditions()) {
    auto* condition = out->add_all();
    switch (c.kind) {
      case FilterCondition::Kind::key_equals: condition->set_key_equals(c.bytes); break;
      case FilterCondition::Kind::key_prefix: condition->set_key_prefix(c.bytes); break;
      case FilterCondition::Kind::header_equals: {
        auto* header = condition->mutable_header();
        header->set_key(c.bytes);
        header->set_value(c.header_value);
        break;
      }
      case FilterCondition::Kind::json_in: {
        auto* in = condition->mutable_json_in();
        in->set_path(c.path);
        for (const auto& v : c.values) {
          auto* scalar = in->add_values();
          switch (v.kind()) {
            case JsonValue::Kind::string: scalar->set_string_value(v.string()); break;
            case JsonValue::Kind::number: scalar->set_number_value(v.number()); break;
            case JsonValue::Kind::boolean: scalar->set_bool_value(v.boolean()); break;
            case JsonValue::Kind::null: scalar->set_null_value(true); break;
          }
        }
        break;
      }
      case FilterCondition::Kind::json_compare: {
        auto* compare = condition->mutable_json_compare();
        compare->set_path(c.path);
        compare->set_op(c.op == FilterCondition::Op::lt   ? pubsub::JsonFieldCompare::LT
                        : c.op == FilterCondition::Op::le ? pubsub::JsonFieldCompare::LE
                        : c.op == FilterCondition::Op::gt ? pubsub::JsonFieldCompare::GT
                                                          : pubsub::JsonFieldCompare::GE);
        compare->set_value(c.number);
        break;
      }
    }
  }
}

}  // namespace

std::int64_t ProtocolSession::register_request(Pending pending) {
  const std::int64_t sequence = next_sequence_++;
  pending_.emplace(sequence, std::move(pending));
  return sequence;
}

ProtocolSession::Outgoing ProtocolSession::ping(std::string state, std::int64_t deadline_ms,
                                                PingHandler handler) {
  pubsub::PubSubReq req;
  req.mutable_cmd_ping()->set_state(std::move(state));
  const auto seq = register_request({deadline_ms, std::move(handler)});
  req.set_sequence(seq);
  return {seq, serialize(req)};
}

ProtocolSession::Outgoing ProtocolSession::list_offsets(std::string_view topic,
                                                        std::int32_t partition, std::int64_t at,
                                                        std::int64_t deadline_ms,
                                                        OffsetHandler handler) {
  pubsub::PubSubReq req;
  auto* cmd = req.mutable_cmd_kafka_list_offset();
  cmd->set_topic(std::string(topic));
  cmd->set_partition(partition);
  cmd->set_timestamp(at);
  const auto seq = register_request({deadline_ms, std::move(handler)});
  req.set_sequence(seq);
  return {seq, serialize(req)};
}

ProtocolSession::Outgoing ProtocolSession::fetch(std::string_view topic, std::int32_t partition,
                                                 std::int64_t offset, std::int64_t deadline_ms,
                                                 FetchHandler handler) {
  pubsub::PubSubReq req;
  auto* cmd = req.mutable_cmd_kafka_fetch();
  cmd->set_topic(std::string(topic));
  cmd->set_partition(partition);
  cmd->set_offset(offset);
  const auto seq = register_request({deadline_ms, std::move(handler), nullptr, partition});
  req.set_sequence(seq);
  return {seq, serialize(req)};
}

ProtocolSession::Outgoing ProtocolSession::fetch(std::string_view topic, std::int32_t partition,
                                                 std::int64_t offset, const Filter& filter,
                                                 std::int64_t deadline_ms,
                                                 FilteredFetchHandler handler) {
  pubsub::PubSubReq req;
  auto* cmd = req.mutable_cmd_kafka_fetch();
  cmd->set_topic(std::string(topic));
  cmd->set_partition(partition);
  cmd->set_offset(offset);
  if (!filter.empty()) fill_filter(filter, cmd->mutable_filter());
  const auto seq =
      register_request({deadline_ms, std::move(handler), nullptr, partition, nullptr, offset});
  req.set_sequence(seq);
  return {seq, serialize(req)};
}

ProtocolSession::Outgoing ProtocolSession::hello(std::string client, std::int64_t deadline_ms,
                                                 HelloHandler handler) {
  pubsub::PubSubReq req;
  auto* cmd = req.mutable_cmd_hello();
  cmd->set_protocol_version(kProtocolVersion);
  cmd->set_client(std::move(client));
  const auto seq = register_request({deadline_ms, std::move(handler)});
  req.set_sequence(seq);
  return {seq, serialize(req)};
}

ProtocolSession::Outgoing ProtocolSession::metadata(const std::vector<std::string>& topics,
                                                    std::int64_t deadline_ms,
                                                    MetadataHandler handler) {
  pubsub::PubSubReq req;
  auto* cmd = req.mutable_cmd_kafka_metadata();
  for (const auto& t : topics) cmd->add_topics(t);
  const auto seq = register_request({deadline_ms, std::move(handler)});
  req.set_sequence(seq);
  return {seq, serialize(req)};
}

ProtocolSession::Outgoing ProtocolSession::subscribe(const SubscribeRequest& request,
                                                     std::int64_t deadline_ms,
                                                     SubscribeHandler acked, PushHandler pushed) {
  pubsub::PubSubReq req;
  auto* cmd = req.mutable_cmd_kafka_subscribe();
  cmd->set_topic(request.topic);
  for (auto p : request.partitions) cmd->add_partitions(p);
  cmd->set_start(static_cast<pubsub::CmdKafkaSubscribe::Start>(request.start));
  cmd->set_timestamp(request.timestamp);
  for (const auto& [partition, offset] : request.offsets) {
    auto* o = cmd->add_offsets();
    o->set_partition(partition);
    o->set_offset(offset);
  }
  cmd->set_credit(request.credit);
  if (!request.filter.empty()) fill_filter(request.filter, cmd->mutable_filter());
  const auto seq = register_request({deadline_ms, std::move(acked), std::move(pushed)});
  req.set_sequence(seq);
  return {seq, serialize(req)};
}

ProtocolSession::Outgoing ProtocolSession::credit(std::int64_t subscription_id,
                                                  std::uint32_t credit) {
  pubsub::PubSubReq req;
  auto* cmd = req.mutable_cmd_credit();
  cmd->set_subscription_id(subscription_id);
  cmd->set_credit(credit);
  const auto seq = next_sequence_++;
  req.set_sequence(seq);
  return {seq, serialize(req)};
}

ProtocolSession::Outgoing ProtocolSession::unsubscribe(std::int64_t subscription_id,
                                                       std::int64_t deadline_ms,
                                                       UnsubscribeHandler handler) {
  pubsub::PubSubReq req;
  req.mutable_cmd_unsubscribe()->set_subscription_id(subscription_id);
  const auto seq = register_request({deadline_ms, std::move(handler)});
  req.set_sequence(seq);
  return {seq, serialize(req)};
}

namespace {

void fill_produce(const ProtocolSession::ProduceRequest& request, pubsub::CmdKafkaProduce* cmd) {
  cmd->set_topic(request.topic);
  const auto& o = request.options;
  if (o.partition) cmd->set_partition(*o.partition);
  if (o.key) cmd->set_key(*o.key);
  if (request.value) cmd->set_value(*request.value);
  for (const auto& h : o.headers) {
    auto* header = cmd->add_headers();
    header->set_key(h.key);
    header->set_value(h.value);
  }
  if (o.timestamp) cmd->set_timestamp(*o.timestamp);
}

}  // namespace

ProtocolSession::Outgoing ProtocolSession::produce(const ProduceRequest& request,
                                                   std::int64_t deadline_ms,
                                                   ProduceHandler handler) {
  pubsub::PubSubReq req;
  fill_produce(request, req.mutable_cmd_kafka_produce());
  const auto seq = register_request({deadline_ms, std::move(handler)});
  req.set_sequence(seq);
  return {seq, serialize(req)};
}

ProtocolSession::Outgoing ProtocolSession::produce_batch(
    const std::vector<const ProduceRequest*>& records, std::int64_t deadline_ms,
    ProduceBatchHandler handler) {
  pubsub::PubSubReq req;
  auto* cmd = req.mutable_cmd_kafka_produce_batch();
  cmd->mutable_records()->Reserve(static_cast<int>(records.size()));
  for (const auto* record : records) fill_produce(*record, cmd->add_records());
  const auto seq = register_request({deadline_ms, std::move(handler)});
  req.set_sequence(seq);
  return {seq, serialize(req)};
}

ProtocolSession::Outgoing ProtocolSession::group_subscribe(const GroupSubscribeRequest& request,
                                                           std::int64_t deadline_ms,
                                                           GroupSubscribeHandler acked,
                                                           GroupPushHandler pushed) {
  pubsub::PubSubReq req;
  auto* cmd = req.mutable_cmd_kafka_group_subscribe();
  cmd->set_group(request.group);
  for (const auto& t : request.topics) cmd->add_topics(t);
  cmd->set_start(static_cast<pubsub::CmdKafkaSubscribe::Start>(request.start));
  cmd->set_credit(request.credit);
  cmd->set_commit(static_cast<pubsub::CmdKafkaGroupSubscribe::Commit>(request.commit));
  const auto seq = register_request({deadline_ms, std::move(acked), nullptr, 0, std::move(pushed)});
  req.set_sequence(seq);
  return {seq, serialize(req)};
}

ProtocolSession::Outgoing ProtocolSession::commit(std::int64_t subscription_id,
                                                  const std::vector<TopicPartitionOffset>& offsets,
                                                  std::int64_t deadline_ms, CommitHandler handler) {
  pubsub::PubSubReq req;
  auto* cmd = req.mutable_cmd_kafka_commit();
  cmd->set_subscription_id(subscription_id);
  for (const auto& o : offsets) {
    auto* entry = cmd->add_offsets();
    entry->set_topic(o.topic);
    entry->set_partition(o.partition);
    entry->set_offset(o.offset);
  }
  const auto seq = register_request({deadline_ms, std::move(handler)});
  req.set_sequence(seq);
  return {seq, serialize(req)};
}

ProtocolSession::FrameStatus ProtocolSession::on_frame(std::string_view frame) {
  pubsub::PubSubResp resp;
  if (frame.size() > static_cast<std::size_t>(std::numeric_limits<int>::max()) ||
      !resp.ParseFromArray(frame.data(), static_cast<int>(frame.size()))) {
    return FrameStatus::undecodable;
  }
  auto it = pending_.find(resp.sequence());
  if (it == pending_.end()) {
    if (auto stream = streams_.find(resp.sequence()); stream != streams_.end()) {
      if (resp.has_kafka_records()) {
        auto* r = resp.mutable_kafka_records();
        PushedRecords pushed{r->subscription_id(),
                             r->partition(),
                             r->high_watermark(),
                             take_records(r->mutable_messages(), r->partition()),
                             std::move(*r->mutable_topic()),
                             r->next_offset(),
                             r->snapshot(),
                             r->snapshot_end()};
        if (pushed.snapshot) {
          for (auto& record : pushed.records) record.snapshot = true;
        }
        // Copied: the handler may end its own stream (end_stream) while it runs.
        auto handler = stream->second;
        if (handler.group) {
          handler.group(GroupEvent{std::move(pushed)});
        } else {
          complete(handler.pushed, std::move(pushed));
        }
        return FrameStatus::paired;
      }
      if (resp.has_kafka_group_assignment() && stream->second.group) {
        auto* a = resp.mutable_kafka_group_assignment();
        const auto kind = a->kind();
        if (kind < 0 || kind > 2) return FrameStatus::undecodable;  // a kind this SDK does not know
        GroupAssignment assignment{a->subscription_id(), static_cast<GroupAssignment::Kind>(kind),
                                   take_offsets(a->mutable_partitions())};
        auto handler = stream->second.group;
        handler(GroupEvent{std::move(assignment)});
        return FrameStatus::paired;
      }
      // Anything else on a subscription's sequence ends it: an error_resp by the protocol,
      // another reply kind because the gateway is broken.
      auto handler = std::move(stream->second);
      streams_.erase(stream);
      Error error = resp.has_error_resp()
                        ? server_error(resp.error_resp())
                        : Error{ErrorCode::protocol, handler.group ? "expected kafka_records or "
                                                                     "kafka_group_assignment"
                                                                   : "expected kafka_records"};
      if (handler.group) {
        handler.group(std::move(error));
      } else {
        complete(handler.pushed, std::move(error));
      }
      return FrameStatus::paired;
    }
    if (resp.has_error_resp()) last_unpaired_error_ = resp.error_resp().message();
    return FrameStatus::unpaired;
  }
  const std::int64_t sequence = it->first;
  Pending pending = std::move(it->second);
  pending_.erase(it);

  std::visit(
      [&](auto& handler) {
        using H = std::decay_t<decltype(handler)>;
        if (resp.has_error_resp()) {
          complete(handler, server_error(resp.error_resp()));
          return;
        }
        if constexpr (std::is_same_v<H, PingHandler>) {
          if (!resp.has_pong_resp()) {
            complete(handler, Error{ErrorCode::protocol, "expected pong_resp"});
            return;
          }
          complete(handler, std::string(resp.pong_resp().state()));
        } else if constexpr (std::is_same_v<H, OffsetHandler>) {
          if (!resp.has_kafka_list_offset_resp()) {
            complete(handler, Error{ErrorCode::protocol, "expected kafka_list_offset_resp"});
            return;
          }
          complete(handler, std::int64_t{resp.kafka_list_offset_resp().offset()});
        } else if constexpr (std::is_same_v<H, FetchHandler>) {
          if (!resp.has_kafka_fetch_resp()) {
            complete(handler, Error{ErrorCode::protocol, "expected kafka_fetch_resp"});
            return;
          }
          complete(handler, take_records(resp.mutable_kafka_fetch_resp()->mutable_messages(),
                                         pending.partition));
        } else if constexpr (std::is_same_v<H, FilteredFetchHandler>) {
          if (!resp.has_kafka_fetch_resp()) {
            complete(handler, Error{ErrorCode::protocol, "expected kafka_fetch_resp"});
            return;
          }
          auto* r = resp.mutable_kafka_fetch_resp();
          FetchPage page{take_records(r->mutable_messages(), pending.partition), r->next_offset()};
          if (page.next_offset == 0) {
            // A gateway that did not say (an unfiltered fetch): continue after what came.
            page.next_offset = pending.offset;
            if (!page.records.empty()) {
              const auto last = page.records.back().offset;
              page.next_offset = last < std::numeric_limits<std::int64_t>::max() ? last + 1 : last;
            }
          }
          complete(handler, std::move(page));
        } else if constexpr (std::is_same_v<H, HelloHandler>) {
          if (!resp.has_hello_resp()) {
            complete(handler, Error{ErrorCode::protocol, "expected hello_resp"});
            return;
          }
          auto* h = resp.mutable_hello_resp();
          ServerInfo info;
          info.protocol_version = h->protocol_version();
          for (auto& f : *h->mutable_features()) info.features.push_back(std::move(f));
          const auto& l = h->limits();
          info.limits = {l.max_frame_bytes(),
                         l.max_batch_bytes(),
                         l.max_inflight_requests(),
                         l.max_subscriptions(),
                         l.max_credit(),
                         l.max_metadata_partitions(),
                         l.max_requests_per_second(),
                         l.max_record_bytes(),
                         l.max_produce_inflight_bytes(),
                         l.max_produce_records_per_second(),
                         l.max_group_subscriptions(),
                         l.max_produce_batch_records(),
                         l.max_filter_conditions(),
                         l.max_filter_values(),
                         l.max_snapshot_bytes()};
          info.server = std::move(*h->mutable_server());
          complete(handler, std::move(info));
        } else if constexpr (std::is_same_v<H, MetadataHandler>) {
          if (!resp.has_kafka_metadata_resp()) {
            complete(handler, Error{ErrorCode::protocol, "expected kafka_metadata_resp"});
            return;
          }
          std::vector<TopicInfo> topics;
          for (auto& t : *resp.mutable_kafka_metadata_resp()->mutable_topics()) {
            TopicInfo topic{std::move(*t.mutable_name()), {}};
            for (const auto& p : t.partitions()) {
              topic.partitions.push_back({p.partition(), p.earliest(), p.latest()});
            }
            topics.push_back(std::move(topic));
          }
          complete(handler, std::move(topics));
        } else if constexpr (std::is_same_v<H, SubscribeHandler>) {
          if (!resp.has_kafka_subscribe_resp()) {
            complete(handler, Error{ErrorCode::protocol, "expected kafka_subscribe_resp"});
            return;
          }
          const auto& r = resp.kafka_subscribe_resp();
          SubscribeAck ack{r.subscription_id(), {}};
          for (const auto& s : r.start()) ack.start.emplace_back(s.partition(), s.offset());
          // The stream exists before the handler runs: it may end it (cancel) right away.
          if (pending.pushed) streams_.emplace(sequence, Stream{std::move(pending.pushed), {}});
          complete(handler, std::move(ack));
        } else if constexpr (std::is_same_v<H, ProduceHandler>) {
          if (!resp.has_kafka_produce_resp()) {
            complete(handler, Error{ErrorCode::protocol, "expected kafka_produce_resp", {}, true});
            return;
          }
          const auto& r = resp.kafka_produce_resp();
          complete(handler, Produced{r.partition(), r.offset(), r.timestamp()});
        } else if constexpr (std::is_same_v<H, ProduceBatchHandler>) {
          if (!resp.has_kafka_produce_batch_resp()) {
            complete(handler,
                     Error{ErrorCode::protocol, "expected kafka_produce_batch_resp", {}, true});
            return;
          }
          std::vector<Result<Produced>> results;
          results.reserve(static_cast<std::size_t>(resp.kafka_produce_batch_resp().results_size()));
          for (const auto& r : resp.kafka_produce_batch_resp().results()) {
            if (r.has_error()) {
              results.emplace_back(server_error(r.error()));
            } else {
              results.emplace_back(
                  Produced{r.written().partition(), r.written().offset(), r.written().timestamp()});
            }
          }
          complete(handler, std::move(results));
        } else if constexpr (std::is_same_v<H, GroupSubscribeHandler>) {
          if (!resp.has_kafka_group_subscribe_resp()) {
            complete(handler, Error{ErrorCode::protocol, "expected kafka_group_subscribe_resp"});
            return;
          }
          if (pending.group_pushed) {
            streams_.emplace(sequence, Stream{{}, std::move(pending.group_pushed)});
          }
          complete(handler, GroupSubscribeAck{resp.kafka_group_subscribe_resp().subscription_id()});
        } else if constexpr (std::is_same_v<H, CommitHandler>) {
          if (!resp.has_kafka_commit_resp()) {
            complete(handler, Error{ErrorCode::protocol, "expected kafka_commit_resp"});
            return;
          }
          complete(handler, take_offsets(resp.mutable_kafka_commit_resp()->mutable_committed()));
        } else {
          static_assert(std::is_same_v<H, UnsubscribeHandler>);
          if (!resp.has_unsubscribe_resp()) {
            complete(handler, Error{ErrorCode::protocol, "expected unsubscribe_resp"});
            return;
          }
          complete(handler, Unsubscribed{resp.unsubscribe_resp().subscription_id()});
        }
      },
      pending.handler);
  return FrameStatus::paired;
}

void ProtocolSession::expire(std::int64_t now_ms) {
  std::vector<Pending> expired;
  for (auto it = pending_.begin(); it != pending_.end();) {
    if (it->second.deadline_ms <= now_ms) {
      expired.push_back(std::move(it->second));
      it = pending_.erase(it);
    } else {
      ++it;
    }
  }
  // Handlers run after the map is consistent: a handler may issue new requests.
  for (auto& p : expired) {
    std::visit(
        [](auto& h) {
          complete(h, local_failure(h, Error{ErrorCode::timeout, "request timed out"}));
        },
        p.handler);
  }
}

std::int64_t ProtocolSession::next_deadline() const noexcept {
  std::int64_t earliest = -1;
  for (const auto& [seq, p] : pending_) {
    if (earliest < 0 || p.deadline_ms < earliest) earliest = p.deadline_ms;
  }
  return earliest;
}

void ProtocolSession::fail_all(const Error& error) {
  auto failed = std::move(pending_);
  pending_.clear();
  auto streams = std::move(streams_);
  streams_.clear();
  for (auto& [seq, p] : failed) {
    std::visit([&error](auto& h) { complete(h, local_failure(h, error)); }, p.handler);
  }
  for (auto& [seq, stream] : streams) {
    if (stream.group) {
      stream.group(error);
    } else {
      complete(stream.pushed, error);
    }
  }
}

}  // namespace kpg::sdk
