#include <kpg/sdk/client.h>

#include "group_member.h"

#include <algorithm>
#include <deque>
#include <limits>
#include <optional>
#include <set>
#include <string>
#include <utility>

namespace kpg::sdk {

// One subscription over one or more partitions of a topic. Its progress (next_ per partition)
// is independent of the connection, so each (re)connect starts it again in whichever mode the
// gateway offers, from where it stopped.
//
// Flow control. Batches received but not delivered wait in held_ (while paused, or while
// on_records runs). In kpg mode the gateway may push only what was granted: the client keeps
// granted_ + held_ <= budget(), where the budget is the window (handler form: a batch is granted
// back when its on_records returned) or, in pull mode, the batches the application asked for.
class Client::TopicSubscription final : public Subscription,
                                        public std::enable_shared_from_this<TopicSubscription> {
 public:
  TopicSubscription(Client& client, std::string topic, std::vector<std::int32_t> partitions,
                    StartAt from, SubscriptionHandlers handlers, SubscribeOptions options,
                    bool single)
      : client_(&client),
        topic_(std::move(topic)),
        partitions_(std::move(partitions)),
        from_(from),
        handlers_(std::move(handlers)),
        options_(options),
        single_(single) {
    std::sort(partitions_.begin(), partitions_.end());
    partitions_.erase(std::unique(partitions_.begin(), partitions_.end()), partitions_.end());
  }

  /// The connection is open (first time or again): carry on in the mode the gateway offers.
  void start() {
    if (!client_ || !active_ || client_->state_ != State::open) return;
    // Checked on every connection: the gateway reached after a reconnect may offer less, and
    // delivering unfiltered records (or no snapshot) instead would be silently wrong.
    if (auto refused = unsupported()) return stop(*refused);
    if (client_->server_info_.has("push")) {
      start_push();
    } else {
      start_fetch();
    }
  }

  void pause() override { paused_ = true; }

  void resume() override {
    if (!paused_ || !active_) return;
    paused_ = false;
    drain();
  }

  void request(std::uint32_t batches) override {
    if (!active_ || !options_.pull) return;
    demand_ += batches;  // 64 bits: no overflow from 32-bit steps in any realistic lifetime
    drain();
  }

  void cancel() override {
    if (!active_) return;
    active_ = false;
    handlers_ = {};
    held_.clear();
    end_push();
  }

  bool active() const override { return active_; }
  bool paused() const override { return paused_; }
  std::int64_t next_offset() const override {
    if (!single_) return -1;
    auto it = next_.find(partitions_.front());
    return it == next_.end() ? -1 : it->second;
  }
  std::map<std::int32_t, std::int64_t> next_offsets() const override { return next_; }

  /// Ends the subscription with `error`.
  void stop(const Error& error) {
    if (!active_) return;
    active_ = false;
    auto on_error = std::move(handlers_.on_error);
    handlers_ = {};
    held_.clear();
    end_push();
    if (on_error) on_error(error);
  }
  void detach() { client_ = nullptr; }

 private:
  enum class Mode { none, push, fetch };

  struct FetchLoop {
    bool in_flight = false;
    bool resolving = false;
    bool idle = false;  // waiting the idle interval after an empty reply
  };

  // ---- common ---------------------------------------------------------------------------

  // What is delivered: records of one partition, and/or the end of its snapshot (a frame that
  // only ends a snapshot has no records but still has its place in the order).
  struct Held {
    std::vector<Record> records;
    std::int32_t partition = 0;
    bool snapshot_end = false;
  };

  std::optional<Error> unsupported() const {
    const auto& info = client_->server_info_;
    auto missing = [&info](const std::string& what, const char* feature) {
      return Error{ErrorCode::server,
                   info.kpg() ? "the gateway does not offer " + what + " (\"" + feature +
                                    "\" is not among its hello features)"
                              : "the gateway does not offer " + what +
                                    ": it speaks only the APISIX PubSub subset",
                   ServerCode::unknown_command};
    };
    if (from_.kind == StartAt::Kind::snapshot && !(info.has("push") && info.has("snapshot"))) {
      return missing("snapshot subscriptions", "snapshot");
    }
    if (!options_.filter.empty()) {
      if (!info.has("filters")) return missing("filters", "filters");
      if (auto invalid = options_.filter.validate(info.limits)) return invalid;
    }
    return std::nullopt;
  }

  // The end of `partition`'s snapshot was delivered.
  void snapshot_delivered(std::int32_t partition) {
    if (snapshot_unreported_.erase(partition) == 0) return;  // reported already
    if (handlers_.on_snapshot_end) handlers_.on_snapshot_end(partition);
    if (active_ && snapshot_unreported_.empty() && handlers_.on_snapshot_complete) {
      handlers_.on_snapshot_complete();
    }
  }

  // A request failed. Losing the connection while the client reconnects is not the end: the
  // subscription waits and start() carries on from next_.
  void failed(const Error& error) {
    if (error.code == ErrorCode::closed && client_ && client_->reconnecting()) return;
    stop(error);
  }

  // Keeps the records of `records` that come after next_ of their partition (never a duplicate
  // or a step back, whatever the server sends: APISIX #9779) and moves them to held_. Returns an
  // error when the server sent an offset nothing can follow.
  // `read_up_to` (filtered and snapshot frames, filtered fetches; 0: none) is where the gateway
  // got to, matching or not: next_ moves there even when nothing matched, so that a resume
  // does not read the skipped records again. Snapshot records are the latest of each key, older
  // than the live start: they are delivered as they come, outside the live order.
  std::optional<Error> accept(std::int32_t partition, std::vector<Record>&& records,
                              std::int64_t read_up_to = 0, bool snapshot = false,
                              bool snapshot_end = false) {
    std::vector<Record> batch;
    auto [next, inserted] = next_.try_emplace(partition, -1);
    if (snapshot_end) snapshot_pending_.erase(partition);
    for (auto& record : records) {
      if (snapshot) {
        record.partition = partition;
        batch.push_back(std::move(record));
        continue;
      }
      if (record.offset < next->second) continue;
      if (record.offset == std::numeric_limits<std::int64_t>::max()) {
        // No offset can follow it, so the subscription cannot go on: the server is broken.
        if (!batch.empty()) held_.push_back({std::move(batch), partition, false});
        return Error{ErrorCode::protocol,
                     "record offset " + std::to_string(record.offset) + " is out of range"};
      }
      next->second = record.offset + 1;
      record.partition = partition;
      batch.push_back(std::move(record));
    }
    if (read_up_to > next->second) next->second = read_up_to;
    // An empty frame that only moved next_ is not delivered; its credit is granted back.
    if (!batch.empty() || snapshot_end)
      held_.push_back({std::move(batch), partition, snapshot_end});
    if (inserted && next->second < 0) {
      next_.erase(next);  // still unknown: a resubscribe must not name offset -1
    }
    return std::nullopt;
  }

  // Delivers held batches while allowed, then (unless the subscription is about to end) asks for
  // more.
  void drain(bool then_refill = true) {
    if (draining_) return;  // on_records called back into us: the loop below carries on
    auto keep_alive = shared_from_this();  // the handler may drop the user's last reference
    draining_ = true;
    // A snapshot's end without records is no batch: it is delivered whatever the demand.
    while (active_ && !paused_ && !held_.empty() &&
           (!options_.pull || demand_ > 0 || held_.front().records.empty())) {
      auto held = std::move(held_.front());
      held_.pop_front();
      if (!held.records.empty()) {
        if (options_.pull) --demand_;
        if (handlers_.on_records) handlers_.on_records(held.records);
      }
      if (held.snapshot_end && active_) snapshot_delivered(held.partition);
    }
    draining_ = false;
    if (then_refill) refill();
  }

  void refill() {
    if (!active_ || paused_ || !client_) return;
    if (mode_ == Mode::push) {
      grant();
    } else if (mode_ == Mode::fetch) {
      for (const auto& [partition, loop] : loops_) fetch_next(partition);
    }
  }

  // Batches the client may still have on their way: budget minus held and outstanding.
  std::uint64_t room(std::uint64_t outstanding) const {
    const std::uint64_t budget =
        options_.pull ? demand_ : std::max<std::uint32_t>(options_.window, 1);
    const std::uint64_t used = outstanding + held_.size();
    return budget > used ? budget - used : 0;
  }

  // ---- kpg mode: push with credit -------------------------------------------------------

  std::uint32_t grantable() const {
    if (paused_ || !active_) return 0;
    std::uint64_t n = room(granted_);
    const std::uint32_t max_credit = client_->server_info_.limits.max_credit;
    if (max_credit > 0)
      n = std::min<std::uint64_t>(n, max_credit > granted_ ? max_credit - granted_ : 0);
    return static_cast<std::uint32_t>(
        std::min<std::uint64_t>(n, std::numeric_limits<std::uint32_t>::max()));
  }

  void start_push() {
    if (push_sequence_ != 0) return;  // subscribed, or the answer is on its way
    mode_ = Mode::push;
    ProtocolSession::SubscribeRequest req;
    req.topic = topic_;
    const bool at_offset = from_.kind == StartAt::Kind::offset;
    if (at_offset && partitions_.empty() && next_.empty()) {
      return stop(Error{ErrorCode::protocol,
                        "a subscription starting at an offset needs named partitions"});
    }
    // Partitions with progress resume exactly where they stopped; the others (all of them the
    // first time) start at from_. A snapshot interrupted before its end starts again: the
    // gateway cannot carry on with one half sent.
    const bool snapshot = from_.kind == StartAt::Kind::snapshot;
    auto resnapshot = [&](std::int32_t p) { return snapshot && snapshot_pending_.count(p) > 0; };
    for (const auto& [partition, offset] : next_) {
      if (!resnapshot(partition)) req.offsets.emplace_back(partition, offset);
    }
    for (auto p : partitions_) {
      if (next_.count(p) && !resnapshot(p)) continue;
      if (at_offset) {
        req.offsets.emplace_back(p, from_.value);
      } else {
        req.partitions.push_back(p);
      }
    }
    if (partitions_.empty()) {  // every partition: the answer named them
      for (auto p : snapshot_pending_) req.partitions.push_back(p);
    }
    req.start = from_.kind == StartAt::Kind::earliest
                    ? ProtocolSession::SubscribeRequest::Start::earliest
                : from_.kind == StartAt::Kind::timestamp
                    ? ProtocolSession::SubscribeRequest::Start::timestamp
                : snapshot ? ProtocolSession::SubscribeRequest::Start::snapshot
                           : ProtocolSession::SubscribeRequest::Start::latest;
    req.filter = options_.filter;
    req.timestamp = from_.kind == StartAt::Kind::timestamp ? from_.value : 0;
    granted_ = grantable();
    req.credit = granted_;
    Client* client = client_;
    auto out = client->session_.subscribe(
        req, client->transport_->now_ms() + client->options_.request_timeout_ms,
        [weak = weak_from_this(), client](Result<ProtocolSession::SubscribeAck> r) {
          auto self = weak.lock();
          if (self && self->active_ && self->client_) return self->on_subscribed(std::move(r));
          // Cancelled (or gone) while the answer was on its way: end it on the gateway too.
          if (r) client->unsubscribe(r.value().subscription_id);
        },
        [weak = weak_from_this()](Result<ProtocolSession::PushedRecords> r) {
          if (auto self = weak.lock()) self->on_pushed(std::move(r));
        });
    push_sequence_ = out.sequence;
    client->send(std::move(out));
  }

  void on_subscribed(Result<ProtocolSession::SubscribeAck> result) {
    if (!result) return push_ended(result.error());
    subscription_id_ = result.value().subscription_id;
    const bool snapshot = from_.kind == StartAt::Kind::snapshot;
    if (snapshot && !snapshot_known_) {
      // The first answer says which partitions have a snapshot to deliver.
      snapshot_known_ = true;
      for (const auto& [partition, offset] : result.value().start) {
        snapshot_pending_.insert(partition);
        snapshot_unreported_.insert(partition);
      }
    }
    for (const auto& [partition, offset] : result.value().start) {
      if (snapshot && snapshot_pending_.count(partition)) {
        next_[partition] = offset;  // a (new) snapshot: live records start at its end
      } else {
        next_.try_emplace(partition, offset);
      }
    }
    grant();  // the initial credit may have been capped
  }

  void on_pushed(Result<ProtocolSession::PushedRecords> result) {
    if (!active_ || !client_) return;
    if (!result) return push_ended(result.error());
    if (granted_ == 0) {
      return stop(Error{ErrorCode::protocol,
                        "the gateway pushed records of " + topic_ + " beyond the credit granted"});
    }
    --granted_;
    retries_ = 0;
    auto pushed = std::move(result).value();
    if (!partitions_.empty() &&
        !std::binary_search(partitions_.begin(), partitions_.end(), pushed.partition)) {
      return stop(Error{ErrorCode::protocol, "the gateway pushed records of partition " +
                                                 std::to_string(pushed.partition) + " of " +
                                                 topic_ + ", which was not subscribed"});
    }
    auto broken = accept(pushed.partition, std::move(pushed.records), pushed.next_offset,
                         pushed.snapshot, pushed.snapshot_end);
    drain(!broken);
    if (broken) stop(*broken);
  }

  // The gateway ended the subscription (or it could not be made, or the connection is gone).
  void push_ended(const Error& error) {
    push_sequence_ = 0;
    subscription_id_ = 0;
    granted_ = 0;  // that credit died with the subscription
    if (!active_ || !client_) return;
    if (error.code == ErrorCode::server && retryable(error.server_code)) {
      // Try again later, from the next offsets, with the reconnect backoff.
      client_->schedule(client_->retry_delay_ms(retries_++), [weak = weak_from_this()] {
        if (auto self = weak.lock()) self->start();
      });
      return;
    }
    failed(error);
  }

  void grant() {
    if (!client_ || subscription_id_ == 0 || client_->state_ != State::open) return;
    const std::uint32_t n = grantable();
    if (n == 0) return;
    granted_ += n;
    client_->send(client_->session_.credit(subscription_id_, n));
  }

  // Stops the gateway's pushing for a subscription that ends here.
  void end_push() {
    if (!client_ || push_sequence_ == 0) return;
    client_->session_.end_stream(push_sequence_);
    push_sequence_ = 0;
    granted_ = 0;
    // Not answered yet (subscription_id_ 0): the subscribe's answer sends the unsubscribe.
    if (subscription_id_ != 0) client_->unsubscribe(std::exchange(subscription_id_, 0));
  }

  // ---- APISIX mode: list_offset + fetch loops -------------------------------------------

  void start_fetch() {
    mode_ = Mode::fetch;
    if (partitions_.empty() && next_.empty()) {
      return stop(Error{ErrorCode::server,
                        "the gateway offers only the APISIX PubSub subset, which cannot list the "
                        "partitions of topic '" +
                            topic_ + "': name the partitions to subscribe to",
                        ServerCode::unknown_command});
    }
    for (auto p : partitions_) loops_.try_emplace(p);
    for (const auto& [p, offset] : next_) loops_.try_emplace(p);
    for (auto& [partition, loop] : loops_) {
      loop.idle = false;  // the client dropped its scheduled tasks with the connection
      if (next_.count(partition) || loop.resolving) continue;
      if (from_.kind == StartAt::Kind::offset) {
        next_[partition] = from_.value;
      } else {
        resolve(partition, from_.kind == StartAt::Kind::earliest ? kEarliest
                           : from_.kind == StartAt::Kind::latest ? kLatest
                                                                 : from_.value);
      }
    }
    refill();
  }

  void resolve(std::int32_t partition, std::int64_t at) {
    loops_[partition].resolving = true;
    client_->list_offsets(topic_, partition, at,
                          [weak = weak_from_this(), partition, at](Result<std::int64_t> r) {
                            auto self = weak.lock();
                            if (!self) return;
                            self->loops_[partition].resolving = false;
                            if (!self->active_ || !self->client_) return;
                            if (!r) return self->failed(r.error());
                            if (r.value() < 0 && at >= 0) {
                              // No record that late yet: start at the end of the log.
                              return self->resolve(partition, kLatest);
                            }
                            self->next_[partition] = r.value();
                            self->fetch_next(partition);
                          });
  }

  void fetch_next(std::int32_t partition) {
    if (!client_ || !active_ || paused_ || mode_ != Mode::fetch) return;
    auto& loop = loops_[partition];
    auto next = next_.find(partition);
    if (loop.in_flight || loop.resolving || loop.idle || next == next_.end()) return;
    // Pull mode: no more fetches under way than batches asked for.
    if (options_.pull && room(fetches_) == 0) return;
    loop.in_flight = true;
    ++fetches_;
    const std::int64_t started = client_->transport_->now_ms();
    if (!options_.filter.empty()) {
      client_->fetch(
          topic_, partition, next->second, options_.filter,
          [weak = weak_from_this(), partition, started](Result<ProtocolSession::FetchPage> r) {
            if (auto self = weak.lock()) self->on_fetched(partition, std::move(r), started);
          });
      return;
    }
    client_->fetch(topic_, partition, next->second,
                   [weak = weak_from_this(), partition, started](Result<std::vector<Record>> r) {
                     if (auto self = weak.lock()) {
                       if (!r) return self->on_fetched(partition, r.error(), started);
                       self->on_fetched(
                           partition, ProtocolSession::FetchPage{std::move(r).value(), 0}, started);
                     }
                   });
  }

  void on_fetched(std::int32_t partition, Result<ProtocolSession::FetchPage> result,
                  std::int64_t started) {
    loops_[partition].in_flight = false;
    --fetches_;
    if (!active_ || !client_) return;
    if (!result) return failed(result.error());
    const std::size_t held_before = held_.size();
    const auto next_before = next_.find(partition);
    const std::int64_t was = next_before == next_.end() ? -1 : next_before->second;
    auto page = std::move(result).value();
    if (auto broken = accept(partition, std::move(page.records), page.next_offset)) {
      drain(false);
      return stop(*broken);
    }
    // Idle only at the end of the log: a filtered page without matches that read further is not.
    const auto next_after = next_.find(partition);
    const bool moved = next_after != next_.end() && next_after->second != was;
    if (held_.size() == held_before && !moved) {
      const std::int64_t elapsed = client_->transport_->now_ms() - started;
      const std::int64_t idle = client_->options_.idle_fetch_interval_ms;
      if (elapsed < idle) {
        loops_[partition].idle = true;
        client_->schedule(idle - elapsed, [weak = weak_from_this(), partition] {
          auto self = weak.lock();
          if (!self) return;
          self->loops_[partition].idle = false;
          self->fetch_next(partition);
        });
        return;
      }
    }
    drain();  // also fetches again
  }

  Client* client_;
  std::string topic_;
  std::vector<std::int32_t> partitions_;  // sorted; empty = every partition (kpg mode)
  StartAt from_;
  SubscriptionHandlers handlers_;
  SubscribeOptions options_;
  bool single_;
  std::map<std::int32_t, std::int64_t> next_;  // next offset to receive, per partition
  std::deque<Held> held_;
  // Snapshot subscriptions: partitions whose snapshot end has not been received (they start
  // their snapshot again on a resubscribe), and those whose end was not delivered yet.
  bool snapshot_known_ = false;  // the first subscribe answer listed the partitions
  std::set<std::int32_t> snapshot_pending_;
  std::set<std::int32_t> snapshot_unreported_;
  Mode mode_ = Mode::none;
  bool active_ = true;
  bool paused_ = false;
  bool draining_ = false;
  std::uint64_t demand_ = 0;  // pull mode: batches asked for and not delivered yet
  // kpg mode
  std::int64_t push_sequence_ = 0;  // the subscribe's sequence while it is (being) made
  std::int64_t subscription_id_ = 0;
  std::uint64_t granted_ = 0;  // credit not yet used by a frame
  int retries_ = 0;
  // APISIX mode
  std::map<std::int32_t, FetchLoop> loops_;
  std::uint64_t fetches_ = 0;  // under way
};

Client::Client(std::unique_ptr<Transport> transport, ClientOptions options)
    : transport_(std::move(transport)), options_(std::move(options)) {}

Client::~Client() {
  close();
  for (auto& sub : subscriptions_) sub->detach();
  for (auto& group : groups_) group->detach();
}

std::shared_ptr<Subscription> Client::subscribe(const std::string& topic, std::int32_t partition,
                                                StartAt from, SubscriptionHandlers handlers,
                                                SubscribeOptions options) {
  return add_subscription(
      std::make_shared<TopicSubscription>(*this, topic, std::vector<std::int32_t>{partition}, from,
                                          std::move(handlers), options, true));
}

std::shared_ptr<Subscription> Client::subscribe_topic(const std::string& topic,
                                                      std::vector<std::int32_t> partitions,
                                                      StartAt from, SubscriptionHandlers handlers,
                                                      SubscribeOptions options) {
  return add_subscription(std::make_shared<TopicSubscription>(
      *this, topic, std::move(partitions), from, std::move(handlers), options, false));
}

std::shared_ptr<Subscription> Client::add_subscription(std::shared_ptr<TopicSubscription> sub) {
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

std::int64_t Client::retry_delay_ms(int retries) const {
  const auto& r = options_.reconnect;
  std::int64_t delay = std::max<std::int64_t>(r.initial_delay_ms, 1);
  for (int i = 0; i < retries && delay < r.max_delay_ms; ++i) delay *= 2;
  return std::min(delay, std::max<std::int64_t>(r.max_delay_ms, 1));
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
  for (auto& sub : subscriptions) sub->start();
  auto groups = groups_;
  for (auto& group : groups) group->start();
  pump_produce();
}

void Client::stop_subscriptions(const Error& error) {
  tasks_.clear();
  auto subscriptions = std::move(subscriptions_);
  subscriptions_.clear();
  for (auto& sub : subscriptions) sub->stop(error);
  auto groups = std::move(groups_);
  groups_.clear();
  for (auto& group : groups) group->stop(error);
}

std::shared_ptr<GroupSubscription> Client::subscribe_group(const std::string& group,
                                                           std::vector<std::string> topics,
                                                           GroupHandlers handlers,
                                                           GroupOptions options) {
  auto member =
      std::make_shared<GroupMember>(*this, group, std::move(topics), std::move(handlers), options);
  std::erase_if(groups_, [](const auto& running) { return !running->active(); });
  groups_.push_back(member);
  if (state_ == State::open) {
    member->start();
  } else if (state_ != State::reconnecting) {
    member->stop(Error{ErrorCode::closed, state_ == State::connecting ? "not connected yet"
                                                                      : "client is not connected"});
  }
  return member;
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
  ++generation_;
  transport_->set_timer(options_.connect_timeout_ms, [this] { on_open_timeout(); });
  if (!options_.token_provider) {
    return on_token(generation_, options_.token);
  }
  // Asked on every attempt: a token that expired (the gateway closed with 1008) is replaced.
  options_.token_provider([this, alive = std::weak_ptr<char>(alive_), generation = generation_,
                           called = std::make_shared<bool>(false)](Result<std::string> token) {
    if (*called || alive.expired()) return;  // once (copies too); never into a gone Client
    *called = true;
    on_token(generation, std::move(token));
  });
}

void Client::on_token(std::uint64_t generation, Result<std::string> token) {
  if (generation != generation_ || (state_ != State::connecting && state_ != State::reconnecting)) {
    return;  // the attempt timed out or the client was closed meanwhile
  }
  if (!token) {
    transport_->set_timer(-1, nullptr);
    return fail_attempt(token.error());
  }
  const Credentials credentials{options_.api_key, std::move(token).value()};
  transport_->open(url_, credentials,
                   Transport::Handlers{
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
  if (state_ != State::connecting && state_ != State::reconnecting) return;
  // Negotiate before anything else: what the gateway offers decides how subscriptions run.
  server_info_ = {};
  negotiating_ = true;
  send(session_.hello(
      options_.client_name.empty() ? "kpg-sdk/" KPG_SDK_VERSION : options_.client_name,
      transport_->now_ms() + options_.hello_timeout_ms,
      [this, generation = generation_](Result<ServerInfo> r) {
        on_hello(generation, std::move(r));
      }));
}

void Client::on_hello(std::uint64_t generation, Result<ServerInfo> result) {
  if (generation != generation_ || (state_ != State::connecting && state_ != State::reconnecting)) {
    return;  // a reply to an earlier connection, or the client was closed meanwhile
  }
  if (!result && result.error().code == ErrorCode::closed) {
    return;  // the connection ended: on_transport_closed / close() take care of it
  }
  negotiating_ = false;
  if (result) server_info_ = std::move(result).value();
  // Otherwise APISIX mode (server_info_ stays empty): APISIX answers "unknown command"; a kpg
  // gateway older than hello does not answer at all (hello_timeout_ms), and the APISIX subset
  // is what it serves. Nothing is lost: it is what this client did before hello existed.
  on_established();
}

void Client::on_established() {
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

// Opening (or negotiating on) a new connection failed.
void Client::fail_attempt(const Error& error) {
  if (state_ == State::connecting) {
    state_ = State::closed;
    if (auto h = std::exchange(on_connect_, nullptr)) h(error);
  } else if (state_ == State::reconnecting) {
    if (refused_for_good(error)) {
      // Retrying a credential the gateway refused would knock at its door forever.
      state_ = State::closed;
      stop_subscriptions(error);
      if (auto h = std::exchange(on_close_, nullptr)) h(error);
      return;
    }
    schedule_reconnect(error);
  }
}

bool Client::refused_for_good(const Error& error) const {
  return error.code == ErrorCode::forbidden ||
         (error.code == ErrorCode::unauthorized && !options_.token_provider);
}

void Client::on_transport_closed(Error error) {
  transport_->set_timer(-1, nullptr);
  negotiating_ = false;
  if (state_ == State::connecting || state_ == State::reconnecting) {  // an attempt failed
    session_.fail_all(Error{ErrorCode::closed, "connection lost: " + error.message});  // hello
    fail_attempt(error);
    return;
  }
  if (state_ != State::open) return;
  tasks_.clear();
  const Error lost{ErrorCode::closed, "connection lost: " + error.message};
  fail_queued_produce(
      Error{ErrorCode::closed, "connection lost before the record was sent: " + error.message});
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

// produce.cpp uses it too.
template bool Client::reject_if_not_open<ProtocolSession::ProduceHandler>(
    ProtocolSession::ProduceHandler&);

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

void Client::fetch(const std::string& topic, std::int32_t partition, std::int64_t offset,
                   const Filter& filter, ProtocolSession::FilteredFetchHandler handler) {
  if (reject_if_not_open(handler)) return;
  if (!filter.empty()) {
    if (!server_info_.has("filters")) {
      handler(Error{ErrorCode::server,
                    server_info_.kpg() ? "the gateway does not offer filters (\"filters\" is not "
                                         "among its hello features)"
                                       : "the gateway does not offer filters: it speaks only the "
                                         "APISIX PubSub subset",
                    ServerCode::unknown_command});
      return;
    }
    if (auto invalid = filter.validate(server_info_.limits)) {
      handler(std::move(*invalid));
      return;
    }
  }
  send(session_.fetch(topic, partition, offset, filter,
                      transport_->now_ms() + options_.request_timeout_ms, std::move(handler)));
}

void Client::metadata(std::vector<std::string> topics, ProtocolSession::MetadataHandler handler) {
  if (reject_if_not_open(handler)) return;
  if (!server_info_.has("metadata")) {
    handler(Error{ErrorCode::server,
                  server_info_.kpg()
                      ? "the gateway does not offer metadata (not among its hello features)"
                      : "the gateway does not offer metadata: it speaks only the APISIX PubSub "
                        "subset (list_offset, fetch), so name topics and partitions explicitly",
                  ServerCode::unknown_command});
    return;
  }
  send(session_.metadata(topics, transport_->now_ms() + options_.request_timeout_ms,
                         std::move(handler)));
}

void Client::unsubscribe(std::int64_t subscription_id) {
  if (state_ != State::open) return;  // no connection, no subscription on it
  send(session_.unsubscribe(subscription_id, transport_->now_ms() + options_.request_timeout_ms,
                            nullptr));
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
    // A failed hello may have armed the reconnect timer instead: leave that one alone.
    if (state_ == State::open || negotiating_) arm_timer();
  });
}

void Client::close() {
  if (state_ == State::closed || state_ == State::idle) {
    state_ = State::closed;
    return;
  }
  const bool was_connecting = state_ == State::connecting;
  state_ = State::closed;
  negotiating_ = false;
  transport_->set_timer(-1, nullptr);
  transport_->close();  // also stops a reconnect attempt under way
  if (was_connecting) {
    if (auto h = std::exchange(on_connect_, nullptr)) {
      h(Error{ErrorCode::closed, "closed before the connection opened"});
    }
  }
  fail_queued_produce(Error{ErrorCode::closed, "client closed before the record was sent"});
  session_.fail_all(Error{ErrorCode::closed, "client closed"});
  stop_subscriptions(Error{ErrorCode::closed, "client closed"});
}

}  // namespace kpg::sdk
