// Client::produce: local checks, then records go out in call order while the gateway's announced
// limits leave room, so that a busy application queues here rather than being refused there.
#include <kpg/sdk/client.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>

namespace kpg::sdk {

namespace {

// What the gateway counts against max_record_bytes and max_produce_inflight_bytes.
std::uint64_t record_bytes(const std::optional<std::string>& value, const ProduceOptions& o) {
  std::uint64_t bytes = (value ? value->size() : 0) + (o.key ? o.key->size() : 0);
  for (const auto& h : o.headers) bytes += h.key.size() + h.value.size();
  return bytes;
}

}  // namespace

void Client::produce(const std::string& topic, std::optional<std::string> value,
                     ProduceOptions options, ProtocolSession::ProduceHandler handler) {
  ProduceItem item{topic, std::move(value), std::move(options), std::move(handler)};
  if (queue_produce(item)) pump_produce();
}

void Client::produce_many(std::vector<ProduceItem> items) {
  bool queued = false;
  for (auto& item : items) queued = queue_produce(item) || queued;
  if (queued) pump_produce();
}

bool Client::queue_produce(ProduceItem& item) {
  auto& handler = item.handler;
  if (reject_if_not_open(handler)) return false;
  if (!server_info_.has("produce")) {
    handler(Error{ErrorCode::server,
                  server_info_.kpg()
                      ? "the gateway does not offer produce on this route (not among its hello "
                        "features: the route has no plugins.kafka-proxy.produce)"
                      : "the gateway does not offer produce: it speaks only the APISIX PubSub "
                        "subset, which is read-only",
                  ServerCode::unknown_command});
    return false;
  }
  const std::uint64_t bytes = record_bytes(item.value, item.options);
  const std::uint32_t max_record = server_info_.limits.max_record_bytes;
  if (max_record > 0 && bytes > max_record) {
    handler(Error{ErrorCode::server,
                  "record of " + std::to_string(bytes) +
                      " bytes (key + value + headers) is larger than the gateway's "
                      "max_record_bytes " +
                      std::to_string(max_record) + "; not sent",
                  ServerCode::record_too_large});
    return false;
  }
  produce_queue_.push_back({{std::move(item.topic), std::move(item.value), std::move(item.options)},
                            bytes,
                            std::move(handler)});
  return true;
}

// Records waiting together leave together: as many as the gateway's limits leave room for go out
// as one cmd_kafka_produce_batch (when it offers batches), so that a busy application pays one
// frame, one decode and one answer per batch instead of per record.
void Client::pump_produce() {
  if (state_ != State::open) return;
  const auto& limits = server_info_.limits;
  while (!produce_queue_.empty()) {
    // Requests of any kind count against max_inflight_requests: one slot stays free for the
    // application's other calls (and the subscriptions' requests).
    if (limits.max_inflight_requests > 0 && produce_sent_ > 0) {
      const std::size_t cap = std::max<std::uint32_t>(limits.max_inflight_requests - 1, 1);
      if (session_.pending() >= cap) return;
    }
    // One record is always allowed, whatever its size (max_record_bytes bounds it).
    const auto fits_inflight = [&](std::uint64_t more) {
      return limits.max_produce_inflight_bytes == 0 ||
             produce_sent_bytes_ + more <= limits.max_produce_inflight_bytes;
    };
    if (produce_sent_ > 0 && !fits_inflight(produce_queue_.front().bytes)) return;
    // The gateway bounds a connection's records awaiting acknowledgement as it bounds a batch.
    const std::size_t max_unanswered = limits.max_produce_batch_records;
    if (max_unanswered > 0 && produce_sent_ >= max_unanswered) return;
    // A token bucket a little under the gateway's (half its burst), so that network jitter never
    // makes a paced record arrive early.
    const std::uint32_t rate = limits.max_produce_records_per_second;
    if (rate > 0) {
      const double capacity = std::max(1.0, rate / 2.0);
      const std::int64_t now = transport_->now_ms();
      if (produce_tokens_at_ < 0) {
        produce_tokens_ = capacity;
      } else {
        produce_tokens_ =
            std::min(capacity, produce_tokens_ +
                                   static_cast<double>(now - produce_tokens_at_) * rate / 1000.0);
      }
      produce_tokens_at_ = now;
      if (produce_tokens_ < 1.0) {
        if (!produce_wakeup_) {
          produce_wakeup_ = true;
          const auto wait =
              static_cast<std::int64_t>(std::ceil((1.0 - produce_tokens_) * 1000.0 / rate));
          schedule(std::max<std::int64_t>(wait, 1), [this] {
            produce_wakeup_ = false;
            pump_produce();
          });
        }
        return;
      }
    }
    // The head goes; records behind it join it while every limit leaves room.
    const std::size_t max_records =
        max_unanswered == 0 ? 1 : std::min(max_unanswered - produce_sent_, produce_queue_.size());
    // The frame: a few bytes per record besides its topic and payload.
    const auto frame_bytes = [](const QueuedProduce& q) {
      return q.bytes + q.request.topic.size() + 32 + 8 * q.request.options.headers.size();
    };
    std::size_t count = 1;
    std::uint64_t bytes = produce_queue_.front().bytes;
    std::uint64_t frame = frame_bytes(produce_queue_.front());
    if (rate > 0) produce_tokens_ -= 1.0;
    while (count < max_records) {
      const auto& next = produce_queue_[count];
      if (!fits_inflight(bytes + next.bytes)) break;
      if (limits.max_frame_bytes > 0 && frame + frame_bytes(next) + 64 > limits.max_frame_bytes) {
        break;
      }
      if (rate > 0) {
        if (produce_tokens_ < 1.0) break;
        produce_tokens_ -= 1.0;
      }
      ++count;
      bytes += next.bytes;
      frame += frame_bytes(next);
    }
    produce_sent_ += count;
    produce_sent_bytes_ += bytes;
    const std::int64_t deadline = transport_->now_ms() + options_.request_timeout_ms;
    if (count == 1) {
      QueuedProduce queued = std::move(produce_queue_.front());
      produce_queue_.pop_front();
      send(session_.produce(
          queued.request, deadline,
          [this, bytes, handler = std::move(queued.handler)](Result<Produced> result) {
            --produce_sent_;
            produce_sent_bytes_ -= bytes;
            if (handler) handler(std::move(result));
            pump_produce();
          }));
      continue;
    }
    auto batch = std::make_shared<std::vector<QueuedProduce>>();
    batch->reserve(count);
    std::vector<const ProtocolSession::ProduceRequest*> requests;
    requests.reserve(count);
    for (std::size_t i = 0; i < count; ++i) {
      batch->push_back(std::move(produce_queue_.front()));
      produce_queue_.pop_front();
      requests.push_back(&batch->back().request);
    }
    send(session_.produce_batch(
        requests, deadline, [this, bytes, batch](Result<std::vector<Result<Produced>>> answer) {
          produce_sent_ -= batch->size();
          produce_sent_bytes_ -= bytes;
          std::vector<Result<Produced>> results;
          if (answer) results = std::move(answer).value();
          for (std::size_t i = 0; i < batch->size(); ++i) {
            auto& handler = (*batch)[i].handler;
            if (!handler) continue;
            if (!answer) {
              handler(answer.error());  // refused whole (nothing written), or no answer
            } else if (i < results.size()) {
              handler(std::move(results[i]));
            } else {
              handler(Error{
                  ErrorCode::protocol, "kafka_produce_batch_resp lacks this record", {}, true});
            }
          }
          pump_produce();
        }));
  }
}

void Client::fail_queued_produce(const Error& error) {
  produce_wakeup_ = false;
  produce_tokens_at_ = -1;  // a new connection has a new (full) bucket at the gateway
  auto queued = std::move(produce_queue_);
  produce_queue_.clear();
  for (auto& q : queued) {
    if (q.handler) q.handler(error);  // never sent: certainly not written
  }
}

}  // namespace kpg::sdk
