#include <kpg/sdk/client.h>

#include <algorithm>
#include <iterator>
#include <limits>
#include <optional>
#include <string>
#include <utility>

namespace kpg::sdk {

class Client::PartitionSubscription final
    : public Subscription,
      public std::enable_shared_from_this<PartitionSubscription> {
 public:
  PartitionSubscription(Client& client, std::string topic, std::int32_t partition, StartAt from,
                        SubscriptionHandlers handlers)
      : client_(&client),
        topic_(std::move(topic)),
        partition_(partition),
        from_(from),
        handlers_(std::move(handlers)) {}

  void start() {
    if (from_.kind == StartAt::Kind::offset) {
      next_ = from_.value;
      return fetch_next();
    }
    const std::int64_t at = from_.kind == StartAt::Kind::earliest ? kEarliest
                            : from_.kind == StartAt::Kind::latest ? kLatest
                                                                  : from_.value;
    resolve(at);
  }

  void pause() override { paused_ = true; }

  void resume() override {
    if (!paused_ || !active_) return;
    paused_ = false;
    if (!held_.empty()) {
      auto batch = std::move(held_);
      held_.clear();
      deliver(batch);
    }
    fetch_next();
  }

  void cancel() override {
    active_ = false;
    handlers_ = {};
    held_.clear();
  }

  bool active() const override { return active_; }
  bool paused() const override { return paused_; }
  std::int64_t next_offset() const override { return next_; }

  /// Ends the subscription with `error` (the connection was lost or the client closed).
  void stop(const Error& error) {
    if (!active_) return;
    active_ = false;
    auto on_error = std::move(handlers_.on_error);
    handlers_ = {};
    held_.clear();
    if (on_error) on_error(error);
  }
  void detach() { client_ = nullptr; }

  /// The connection is back: continue where it stopped.
  void restart() {
    if (!active_ || in_flight_) return;
    if (next_ < 0) return start();
    fetch_next();
  }

 private:
  // A request failed. Losing the connection while the client reconnects is not the end: the
  // subscription waits and restart() carries on from next_.
  void failed(const Error& error) {
    if (error.code == ErrorCode::closed && client_ && client_->reconnecting()) return;
    stop(error);
  }

  void resolve(std::int64_t at) {
    if (!client_) return;
    client_->list_offsets(topic_, partition_, at,
                          [weak = weak_from_this(), at](Result<std::int64_t> r) {
                            auto self = weak.lock();
                            if (!self || !self->active_) return;
                            if (!r) return self->failed(r.error());
                            if (r.value() < 0 && at >= 0) {
                              // No record that late yet: start at the end of the log.
                              return self->resolve(kLatest);
                            }
                            self->next_ = r.value();
                            self->fetch_next();
                          });
  }

  void fetch_next() {
    if (!client_ || !active_ || paused_ || in_flight_ || next_ < 0) return;
    in_flight_ = true;
    const std::int64_t started = client_->transport_->now_ms();
    client_->fetch(topic_, partition_, next_,
                   [weak = weak_from_this(), started](Result<std::vector<Record>> r) {
                     if (auto self = weak.lock()) self->on_fetched(std::move(r), started);
                   });
  }

  void on_fetched(Result<std::vector<Record>> result, std::int64_t started) {
    in_flight_ = false;
    if (!active_ || !client_) return;
    if (!result) return failed(result.error());
    std::vector<Record> batch;
    std::optional<Error> broken;
    for (auto& record : std::move(result).value()) {
      // Never a duplicate or a step back, whatever the server sends (APISIX #9779).
      if (record.offset < next_) continue;
      if (record.offset == std::numeric_limits<std::int64_t>::max()) {
        // No offset can follow it, so the subscription cannot go on: the server is broken.
        broken = Error{ErrorCode::protocol,
                       "record offset " + std::to_string(record.offset) + " is out of range"};
        break;
      }
      next_ = record.offset + 1;
      batch.push_back(std::move(record));
    }
    if (broken) {
      if (!batch.empty() && !paused_) deliver(batch);
      return stop(*broken);
    }
    if (batch.empty()) {
      const std::int64_t elapsed = client_->transport_->now_ms() - started;
      const std::int64_t idle = client_->options_.idle_fetch_interval_ms;
      if (elapsed < idle) {
        client_->schedule(idle - elapsed, [weak = weak_from_this()] {
          if (auto self = weak.lock()) self->fetch_next();
        });
        return;
      }
    } else if (paused_) {
      held_.insert(held_.end(), std::make_move_iterator(batch.begin()),
                   std::make_move_iterator(batch.end()));
      return;
    } else {
      deliver(batch);
    }
    fetch_next();
  }

  void deliver(const std::vector<Record>& batch) {
    auto keep_alive = shared_from_this();  // the handler may drop the user's last reference
    if (handlers_.on_records) handlers_.on_records(batch);
  }

  Client* client_;
  std::string topic_;
  std::int32_t partition_;
  StartAt from_;
  SubscriptionHandlers handlers_;
  std::int64_t next_ = -1;
  bool active_ = true;
  bool paused_ = false;
  bool in_flight_ = false;
  std::vector<Record> held_;
};

Client::Client(std::unique_ptr<Transport> transport, ClientOptions options)
    : transport_(std::move(transport)), options_(options) {}

Client::~Client() {
  close();
  for (auto& sub : subscriptions_) sub->detach();
}

std::shared_ptr<Subscription> Client::subscribe(const std::string& topic, std::int32_t partition,
                                                StartAt from, SubscriptionHandlers handlers) {
  auto sub =
      std::make_shared<PartitionSubscription>(*this, topic, partition, from, std::move(handlers));
  // The client keeps running subscriptions alive; forget those that ended.
  std::erase_if(subscriptions_, [](const auto& running) { return !running->active(); });
  subscriptions_.push_back(sub);
  if (state_ == State::open) {
    sub->start();
  } else if (state_ == State::reconnecting) {
    // Starts when the connection is back (resume_subscriptions), like the ones already running.
  } else {
    sub->stop(Error{ErrorCode::closed,
                    state_ == State::connecting ? "not connected yet" : "client is not connected"});
  }
  return sub;
}

void Client::schedule(std::int64_t delay_ms, std::function<void()> task) {
  if (state_ != State::open) return;
  tasks_.emplace(transport_->now_ms() + std::max<std::int64_t>(delay_ms, 0), std::move(task));
  arm_timer();
}

void Client::run_due_tasks() {
  const std::int64_t now = transport_->now_ms();
  std::vector<std::function<void()>> due;
  while (!tasks_.empty() && tasks_.begin()->first <= now) {
    due.push_back(std::move(tasks_.begin()->second));
    tasks_.erase(tasks_.begin());
  }
  for (auto& task : due) task();
}

void Client::resume_subscriptions() {
  auto subscriptions = subscriptions_;
  for (auto& sub : subscriptions) sub->restart();
}

void Client::stop_subscriptions(const Error& error) {
  tasks_.clear();
  auto subscriptions = std::move(subscriptions_);
  subscriptions_.clear();
  for (auto& sub : subscriptions) sub->stop(error);
}

void Client::connect(const std::string& url, ConnectHandler handler) {
  if (state_ != State::idle) {
    handler(Error{ErrorCode::closed, "connect() may be called once per Client"});
    return;
  }
  url_ = url;
  state_ = State::connecting;
  on_connect_ = std::move(handler);
  open_transport();
}

void Client::open_transport() {
  transport_->set_timer(options_.connect_timeout_ms, [this] { on_open_timeout(); });
  transport_->open(url_, Transport::Handlers{
                             [this] { on_opened(); },
                             [this](std::string_view frame) {
                               // Unpaired / undecodable frames cannot be attributed to a
                               // request; they are dropped (the gateway's "wrong command"
                               // reply to a garbage frame is one of them).
                               session_.on_frame(frame);
                               arm_timer();
                             },
                             [this](Error error) { on_transport_closed(std::move(error)); },
                         });
}

void Client::on_open_timeout() {
  if (state_ == State::connecting) {
    transport_->close();
    state_ = State::closed;
    if (auto h = std::exchange(on_connect_, nullptr)) {
      h(Error{ErrorCode::timeout, "connect timed out"});
    }
  } else if (state_ == State::reconnecting) {
    transport_->close();
    schedule_reconnect(Error{ErrorCode::timeout, "connect timed out"});
  }
}

void Client::on_opened() {
  transport_->set_timer(-1, nullptr);
  if (state_ == State::connecting) {
    state_ = State::open;
    if (auto h = std::exchange(on_connect_, nullptr)) h(Connected{});
  } else if (state_ == State::reconnecting) {
    state_ = State::open;
    reconnect_attempts_ = 0;
    if (on_reconnect_) on_reconnect_();
    resume_subscriptions();
  }
}

void Client::on_transport_closed(Error error) {
  transport_->set_timer(-1, nullptr);
  if (state_ == State::connecting) {
    state_ = State::closed;
    if (auto h = std::exchange(on_connect_, nullptr)) h(std::move(error));
    return;
  }
  if (state_ == State::reconnecting) {  // an attempt failed
    schedule_reconnect(error);
    return;
  }
  if (state_ != State::open) return;
  tasks_.clear();
  const Error lost{ErrorCode::closed, "connection lost: " + error.message};
  if (options_.reconnect.enabled) {
    // Subscriptions stay: their failed requests are retried once the connection is back.
    state_ = State::reconnecting;
    session_.fail_all(lost);
    if (on_disconnect_) on_disconnect_(error);
    schedule_reconnect(error);
    return;
  }
  state_ = State::closed;
  session_.fail_all(lost);
  stop_subscriptions(lost);
  if (on_disconnect_) on_disconnect_(error);
  if (auto h = std::exchange(on_close_, nullptr)) h(error);
}

void Client::schedule_reconnect(const Error& cause) {
  const auto& r = options_.reconnect;
  if (r.max_attempts > 0 && reconnect_attempts_ >= r.max_attempts) {
    state_ = State::closed;
    const Error gave_up{ErrorCode::transport, "gave up reconnecting after " +
                                                  std::to_string(reconnect_attempts_) +
                                                  " attempts: " + cause.message};
    stop_subscriptions(gave_up);
    if (auto h = std::exchange(on_close_, nullptr)) h(gave_up);
    return;
  }
  double delay = static_cast<double>(r.initial_delay_ms);
  for (int i = 0; i < reconnect_attempts_ && delay < static_cast<double>(r.max_delay_ms); ++i) {
    delay *= 2;
  }
  delay = std::min(delay, static_cast<double>(r.max_delay_ms));
  if (r.jitter > 0) {
    // xorshift64*: tiny, deterministic per client, enough to spread reconnect storms.
    if (jitter_state_ == 0) {
      jitter_state_ = static_cast<std::uint64_t>(transport_->now_ms()) | 1u;
    }
    jitter_state_ ^= jitter_state_ >> 12;
    jitter_state_ ^= jitter_state_ << 25;
    jitter_state_ ^= jitter_state_ >> 27;
    const double unit =
        static_cast<double>((jitter_state_ * 2685821657736338717ULL) >> 11) / 9007199254740992.0;
    delay *= 1.0 + r.jitter * (2.0 * unit - 1.0);
  }
  ++reconnect_attempts_;
  transport_->set_timer(static_cast<std::int64_t>(delay), [this] {
    if (state_ == State::reconnecting) open_transport();
  });
}

template <class Handler>
bool Client::reject_if_not_open(Handler& handler) {
  if (state_ == State::open) return false;
  handler(Error{ErrorCode::closed, state_ == State::connecting     ? "not connected yet"
                                   : state_ == State::reconnecting ? "connection lost; reconnecting"
                                                                   : "client is not connected"});
  return true;
}

void Client::ping(std::string state, ProtocolSession::PingHandler handler) {
  if (reject_if_not_open(handler)) return;
  send(session_.ping(std::move(state), transport_->now_ms() + options_.request_timeout_ms,
                     std::move(handler)));
}

void Client::list_offsets(const std::string& topic, std::int32_t partition, std::int64_t at,
                          ProtocolSession::OffsetHandler handler) {
  if (reject_if_not_open(handler)) return;
  send(session_.list_offsets(topic, partition, at,
                             transport_->now_ms() + options_.request_timeout_ms,
                             std::move(handler)));
}

void Client::fetch(const std::string& topic, std::int32_t partition, std::int64_t offset,
                   ProtocolSession::FetchHandler handler) {
  if (reject_if_not_open(handler)) return;
  send(session_.fetch(topic, partition, offset, transport_->now_ms() + options_.request_timeout_ms,
                      std::move(handler)));
}

void Client::send(ProtocolSession::Outgoing outgoing) {
  transport_->send(std::move(outgoing.frame));
  arm_timer();
}

void Client::arm_timer() {
  std::int64_t deadline = session_.next_deadline();
  if (!tasks_.empty() && (deadline < 0 || tasks_.begin()->first < deadline)) {
    deadline = tasks_.begin()->first;
  }
  if (deadline < 0) {
    transport_->set_timer(-1, nullptr);
    return;
  }
  const std::int64_t delay = deadline - transport_->now_ms();
  transport_->set_timer(delay > 0 ? delay : 0, [this] {
    session_.expire(transport_->now_ms());
    run_due_tasks();
    arm_timer();
  });
}

void Client::close() {
  if (state_ == State::closed || state_ == State::idle) {
    state_ = State::closed;
    return;
  }
  const bool was_connecting = state_ == State::connecting;
  state_ = State::closed;
  transport_->set_timer(-1, nullptr);
  transport_->close();  // also stops a reconnect attempt under way
  if (was_connecting) {
    if (auto h = std::exchange(on_connect_, nullptr)) {
      h(Error{ErrorCode::closed, "closed before the connection opened"});
    }
  }
  session_.fail_all(Error{ErrorCode::closed, "client closed"});
  stop_subscriptions(Error{ErrorCode::closed, "client closed"});
}

}  // namespace kpg::sdk
