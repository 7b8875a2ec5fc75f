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
  if (reject_if_not_open(handler)) return;
  if (!server_info_.has("produce")) {
    handler(Error{ErrorCode::server,
                  server_info_.kpg()
                      ? "the gateway does not offer produce on this route (not among its hello "
                        "features: the route has no plugins.kafka-proxy.produce)"
                      : "the gateway does not offer produce: it speaks only the APISIX PubSub "
                        "subset, which is read-only",
                  ServerCode::unknown_command});
    return;
  }
  const std::uint64_t bytes = record_bytes(value, options);
  const std::uint32_t max_record = server_info_.limits.max_record_bytes;
  if (max_record > 0 && bytes > max_record) {
    handler(Error{ErrorCode::server,
                  "record of " + std::to_string(bytes) +
                      " bytes (key + value + headers) is larger than the gateway's "
                      "max_record_bytes " +
                      std::to_string(max_record) + "; not sent",
                  ServerCode::record_too_large});
    return;
  }
  produce_queue_.push_back(
      {{topic, std::move(value), std::move(options)}, bytes, std::move(handler)});
  pump_produce();
}

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
    const auto& next = produce_queue_.front();
    // One record is always allowed, whatever its size (max_record_bytes bounds it).
    if (limits.max_produce_inflight_bytes > 0 && produce_sent_ > 0 &&
        produce_sent_bytes_ + next.bytes > limits.max_produce_inflight_bytes) {
      return;
    }
    if (const std::uint32_t rate = limits.max_produce_records_per_second; rate > 0) {
      // A token bucket a little under the gateway's (half its burst), so that network jitter
      // never makes a paced record arrive early.
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
      produce_tokens_ -= 1.0;
    }
    QueuedProduce queued = std::move(produce_queue_.front());
    produce_queue_.pop_front();
    ++produce_sent_;
    produce_sent_bytes_ += queued.bytes;
    send(session_.produce(
        queued.request, transport_->now_ms() + options_.request_timeout_ms,
        [this, bytes = queued.bytes, handler = std::move(queued.handler)](Result<Produced> result) {
          --produce_sent_;
          produce_sent_bytes_ -= bytes;
          if (handler) handler(std::move(result));
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
