#include "group_member.h"

#include <algorithm>
#include <limits>

namespace kpg::sdk {

Client::GroupMember::GroupMember(Client& client, std::string group, std::vector<std::string> topics,
                                 GroupHandlers handlers, GroupOptions options)
    : client_(&client),
      group_(std::move(group)),
      topics_(std::move(topics)),
      handlers_(std::move(handlers)),
      options_(options) {}

std::uint32_t Client::GroupMember::window() const {
  std::uint32_t n = std::max<std::uint32_t>(options_.window, 1);
  const std::uint32_t max_credit = client_ ? client_->server_info_.limits.max_credit : 0;
  return max_credit > 0 ? std::min(n, max_credit) : n;
}

void Client::GroupMember::start() {
  if (!client_ || !active_ || client_->state_ != State::open || sequence_ != 0) return;
  if (!client_->server_info_.has("groups")) {
    return stop(Error{ErrorCode::server,
                      client_->server_info_.kpg()
                          ? "the gateway does not offer consumer groups on this route (not among "
                            "its hello features: the route has no plugins.kafka-proxy.groups)"
                          : "the gateway does not offer consumer groups: it speaks only the "
                            "APISIX PubSub subset",
                      ServerCode::unknown_command});
  }
  if (topics_.empty()) {
    return stop(Error{ErrorCode::protocol, "a group subscription needs at least one topic"});
  }
  ProtocolSession::GroupSubscribeRequest req;
  req.group = group_;
  req.topics = topics_;
  req.start = options_.start == GroupOptions::Start::earliest
                  ? ProtocolSession::GroupSubscribeRequest::Start::earliest
                  : ProtocolSession::GroupSubscribeRequest::Start::latest;
  req.commit = options_.commit == GroupOptions::Commit::automatic
                   ? ProtocolSession::GroupSubscribeRequest::Commit::automatic
                   : ProtocolSession::GroupSubscribeRequest::Commit::explicit_only;
  granted_ = window();
  req.credit = static_cast<std::uint32_t>(granted_);
  Client* client = client_;
  auto out = client->session_.group_subscribe(
      req, client->transport_->now_ms() + client->options_.request_timeout_ms,
      [weak = weak_from_this(), client](Result<ProtocolSession::GroupSubscribeAck> r) {
        auto self = weak.lock();
        if (self && self->active_ && self->client_) return self->on_subscribed(std::move(r));
        // Cancelled (or gone) while the answer was on its way: leave on the gateway too.
        if (r) client->unsubscribe(r.value().subscription_id);
      },
      [weak = weak_from_this()](Result<ProtocolSession::GroupEvent> r) {
        if (auto self = weak.lock()) self->on_event(std::move(r));
      });
  sequence_ = out.sequence;
  client->send(std::move(out));
}

void Client::GroupMember::on_subscribed(Result<ProtocolSession::GroupSubscribeAck> result) {
  if (!result) return ended(result.error());
  subscription_id_ = result.value().subscription_id;
  retries_ = 0;
}

void Client::GroupMember::on_event(Result<ProtocolSession::GroupEvent> event) {
  if (!active_ || !client_) return;
  if (!event) return ended(event.error());
  auto keep_alive = shared_from_this();  // a handler may drop the application's last reference
  auto value = std::move(event).value();
  if (auto* records = std::get_if<ProtocolSession::PushedRecords>(&value)) {
    on_records(std::move(*records));
  } else {
    on_assignment(std::get<ProtocolSession::GroupAssignment>(value));
  }
}

void Client::GroupMember::on_records(ProtocolSession::PushedRecords&& pushed) {
  if (granted_ == 0) {
    return stop(Error{ErrorCode::protocol, "the gateway pushed records of group '" + group_ +
                                               "' beyond the credit granted"});
  }
  --granted_;
  if (std::find(topics_.begin(), topics_.end(), pushed.topic) == topics_.end()) {
    return stop(Error{ErrorCode::protocol, "the gateway pushed records of topic '" + pushed.topic +
                                               "', which group subscription '" + group_ +
                                               "' did not name"});
  }
  if (!pushed.records.empty()) {
    if (pushed.records.back().offset == std::numeric_limits<std::int64_t>::max()) {
      return stop(Error{ErrorCode::protocol, "record offset out of range"});
    }
    delivered_[{pushed.topic, pushed.partition}] = pushed.records.back().offset + 1;
    if (auto handler = handlers_.on_records)
      handler(pushed.topic, pushed.partition, pushed.records);
  }
  // Granted back after the application's callback returned: with automatic commits, this is
  // what tells the gateway the frame's records are handled.
  grant();
}

void Client::GroupMember::on_assignment(const ProtocolSession::GroupAssignment& assignment) {
  using Kind = ProtocolSession::GroupAssignment::Kind;
  for (const auto& p : assignment.partitions) {
    const Key key{p.topic, p.partition};
    if (assignment.kind == Kind::assigned) {
      assigned_[key] = p.offset;
    } else {
      assigned_.erase(key);
    }
  }
  // A copy: the handler may cancel, which clears handlers_.
  const auto handler = assignment.kind == Kind::assigned  ? handlers_.on_assigned
                       : assignment.kind == Kind::revoked ? handlers_.on_revoked
                                                          : handlers_.on_lost;
  if (handler) handler(assignment.partitions);
  if (assignment.kind != Kind::assigned) {
    // After the callback: it may still want to know what was delivered (to commit it).
    for (const auto& p : assignment.partitions) delivered_.erase({p.topic, p.partition});
  }
}

void Client::GroupMember::grant() {
  if (!active_ || !client_ || subscription_id_ == 0 || client_->state_ != State::open) return;
  const std::uint32_t w = window();
  if (granted_ >= w) return;
  const auto n = static_cast<std::uint32_t>(w - granted_);
  granted_ += n;
  client_->send(client_->session_.credit(subscription_id_, n));
}

// The membership ended at the gateway (refused, ended by an error, or the connection is gone).
void Client::GroupMember::ended(const Error& error) {
  sequence_ = 0;
  subscription_id_ = 0;
  granted_ = 0;
  if (!active_ || !client_) return;
  if (!assigned_.empty()) {
    // Whatever this member owned is no longer its own; the group hands it out again.
    std::vector<TopicPartitionOffset> lost;
    for (const auto& [key, offset] : assigned_) lost.push_back({key.first, key.second, offset});
    assigned_.clear();
    delivered_.clear();
    if (auto handler = handlers_.on_lost) handler(lost);
    if (!active_ || !client_) return;  // cancelled from on_lost
  }
  if (error.code == ErrorCode::closed && client_->reconnecting()) return;  // rejoins on reconnect
  if (error.code == ErrorCode::server && retryable(error.server_code)) {
    client_->schedule(client_->retry_delay_ms(retries_++), [weak = weak_from_this()] {
      if (auto self = weak.lock()) self->start();
    });
    return;
  }
  stop(error);
}

void Client::GroupMember::stop(const Error& error) {
  if (!active_) return;
  active_ = false;
  auto on_error = std::move(handlers_.on_error);
  handlers_ = {};
  leave();
  if (on_error) on_error(error);
}

void Client::GroupMember::cancel() {
  if (!active_) return;
  active_ = false;
  handlers_ = {};
  leave();
}

void Client::GroupMember::leave() {
  assigned_.clear();
  if (!client_ || sequence_ == 0) return;
  client_->session_.end_stream(sequence_);
  sequence_ = 0;
  granted_ = 0;
  // Not answered yet (subscription_id_ 0): the answer sends the unsubscribe.
  if (subscription_id_ != 0) client_->unsubscribe(std::exchange(subscription_id_, 0));
}

void Client::GroupMember::commit(std::vector<TopicPartitionOffset> offsets, CommitHandler handler) {
  if (!active_ || !client_ || subscription_id_ == 0 || client_->state_ != State::open) {
    if (handler) {
      handler(Error{ErrorCode::closed,
                    active_ ? "the group membership is not established (not connected, or the "
                              "gateway has not answered the group subscribe yet)"
                            : "the group subscription has ended"});
    }
    return;
  }
  client_->send(client_->session_.commit(
      subscription_id_, offsets,
      client_->transport_->now_ms() + client_->options_.request_timeout_ms, std::move(handler)));
}

std::vector<TopicPartitionOffset> Client::GroupMember::assignment() const {
  std::vector<TopicPartitionOffset> out;
  for (const auto& [key, offset] : assigned_) out.push_back({key.first, key.second, offset});
  return out;
}

}  // namespace kpg::sdk
