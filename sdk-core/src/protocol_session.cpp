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
    if (resp.has_error_resp()) last_unpaired_error_ = resp.error_resp().message();
    return FrameStatus::unpaired;
  }
  Pending pending = std::move(it->second);
  pending_.erase(it);

  std::visit(
      [&resp](auto& handler) {
        using H = std::decay_t<decltype(handler)>;
        if (resp.has_error_resp()) {
          complete(handler, Error{ErrorCode::server, resp.error_resp().message()});
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
        } else {
          if (!resp.has_kafka_fetch_resp()) {
            complete(handler, Error{ErrorCode::protocol, "expected kafka_fetch_resp"});
            return;
          }
          std::vector<Record> records;
          auto* messages = resp.mutable_kafka_fetch_resp()->mutable_messages();
          records.reserve(static_cast<std::size_t>(messages->size()));
          for (auto& m : *messages) {
            records.push_back(Record{m.offset(), m.timestamp(), std::move(*m.mutable_key()),
                                     std::move(*m.mutable_value())});
          }
          complete(handler, std::move(records));
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
          complete(h, Error{ErrorCode::timeout, "request timed out"});
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
  for (auto& [seq, p] : failed) {
    std::visit([&error](auto& h) { complete(h, error); }, p.handler);
  }
}

}  // namespace kpg::sdk
