#include "pubsub/group_subscriptions.h"

#include "kafka/topic_name.h"

#include <kpg/pubsub.pb.h>

#include <algorithm>

namespace kpg::pubsub {

namespace {

void escape_part(std::string& out, std::string_view part) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (const char c : part) {
    const auto b = static_cast<unsigned char>(c);
    if ((b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || (b >= '0' && b <= '9') || b == '_' ||
        b == '-') {
      out += c;
    } else {
      out += '%';
      out += kHex[b >> 4];
      out += kHex[b & 15];
    }
  }
}

}  // namespace

std::optional<std::string> group_name_error(std::string_view name) {
  if (name.empty()) return "group: must not be empty";
  if (name.size() > kMaxGroupNameLength) {
    return "group: longer than " + std::to_string(kMaxGroupNameLength) + " bytes";
  }
  for (const char c : name) {
    const auto b = static_cast<unsigned char>(c);
    if (b < 0x20 || b == 0x7f) return "group: control characters are not allowed";
  }
  return std::nullopt;
}

std::string kafka_group_id(std::string_view route_id, std::string_view consumer,
                           std::string_view group) {
  std::string id = "kpg.";
  escape_part(id, route_id);
  id += '.';
  escape_part(id, consumer);
  id += '.';
  escape_part(id, group);
  return id;
}

void AckLedger::delivered(const Key& key, std::int64_t next_offset) {
  frames_.emplace_back(key, next_offset);
}

std::map<AckLedger::Key, std::int64_t> AckLedger::acknowledge(std::uint32_t frames) {
  std::map<Key, std::int64_t> done;
  for (; frames > 0 && !frames_.empty(); --frames) {
    auto& [key, next] = frames_.front();
    auto& offset = done[key];
    offset = std::max(offset, next);
    frames_.pop_front();
  }
  return done;
}

GroupSubscriptions::GroupSubscriptions(kafka::RecordSource& source, const Limits& limits,
                                       GroupContext context, Hooks hooks, TopicAccess topics,
                                       std::int64_t& last_id)
    : source_(source),
      limits_(limits),
      context_(std::move(context)),
      hooks_(std::move(hooks)),
      topics_(topics),
      last_id_(last_id) {}

GroupSubscriptions::~GroupSubscriptions() {
  shutdown();
}

void GroupSubscriptions::shutdown() {
  if (shut_down_) return;
  shut_down_ = true;
  cancel_->cancel();
  // Each member leaves on its own thread: the group rebalances at once.
  for (auto& [id, sub] : subscriptions_) sub.member->leave();
}

std::uint32_t GroupSubscriptions::max_subscriptions() const {
  return context_.service && context_.settings ? context_.settings->max_per_connection : 0;
}

Outcome GroupSubscriptions::error(std::int64_t sequence, int code, std::string_view message) const {
  return {Outcome::Kind::reply, encode_error(sequence, message, code)};
}

Outcome GroupSubscriptions::subscribe(std::int64_t sequence, const CmdKafkaGroupSubscribe& cmd) {
  auto refuse = [&](int code, const std::string& why) {
    return error(sequence, code, "failed to subscribe to group, err: " + why);
  };
  if (max_subscriptions() == 0) {
    return refuse(ErrorCode::NOT_ALLOWED, "consumer groups are not enabled on this route");
  }
  if (auto why = group_name_error(cmd.group())) return refuse(ErrorCode::BAD_REQUEST, *why);
  if (cmd.topics_size() == 0) return refuse(ErrorCode::BAD_REQUEST, "topics: none given");
  if (static_cast<std::size_t>(cmd.topics_size()) > kMaxGroupTopics) {
    return refuse(ErrorCode::LIMIT_EXCEEDED,
                  "topics: more than " + std::to_string(kMaxGroupTopics));
  }
  std::vector<std::string> names;
  for (const auto& topic : cmd.topics()) {
    if (!kafka::is_valid_topic_name(topic)) {
      return refuse(ErrorCode::BAD_REQUEST, "invalid topic name");
    }
    if (std::find(names.begin(), names.end(), topic) == names.end()) names.push_back(topic);
  }
  // Every name is checked before anything reaches Kafka.
  for (const auto& topic : names) {
    if (!topics_.allowed(topic)) {
      return refuse(ErrorCode::NOT_ALLOWED, "topic not allowed, topic: " + topic);
    }
  }
  if (cmd.start() != CmdKafkaSubscribe::LATEST && cmd.start() != CmdKafkaSubscribe::EARLIEST) {
    return refuse(ErrorCode::BAD_REQUEST, "start: LATEST or EARLIEST only");
  }
  if (!CmdKafkaGroupSubscribe::Commit_IsValid(cmd.commit())) {
    return refuse(ErrorCode::BAD_REQUEST, "unknown commit mode");
  }
  if (cmd.credit() > limits_.max_credit) {
    return refuse(ErrorCode::LIMIT_EXCEEDED, "credit above " + std::to_string(limits_.max_credit));
  }
  if (subscriptions_.size() + starting_ >= max_subscriptions()) {
    return refuse(ErrorCode::LIMIT_EXCEEDED, "more than " + std::to_string(max_subscriptions()) +
                                                 " group subscriptions on one connection");
  }

  kafka::GroupOptions options;
  options.group_id = kafka_group_id(context_.route_id, context_.consumer, cmd.group());
  options.topics = names;
  options.from_earliest = cmd.start() == CmdKafkaSubscribe::EARLIEST;
  options.session_timeout = std::chrono::milliseconds(context_.settings->session_timeout_ms);
  options.idle_timeout = std::chrono::milliseconds(context_.settings->idle_timeout_ms);
  options.max_batch_bytes = limits_.fetch.max_bytes;
  options.credit = cmd.credit();
  options.store_commits = cmd.commit() == CmdKafkaGroupSubscribe::AUTO;

  ++starting_;
  // Pending answers hold the owner (and so this object) until they have run, as push
  // subscriptions' do; the member's standing sink below holds it only while an event is on its way.
  std::shared_ptr<void> holder = hooks_.keep_alive ? hooks_.keep_alive() : nullptr;
  // Topics that do not exist are refused by name (a group member would wait for them).
  source_.topics(
      names, cancel_,
      [this, holder, sequence, options = std::move(options)](kafka::TopicsResult listed) {
        hooks_.post([this, holder, sequence, options, listed = std::move(listed)]() mutable {
          if (shut_down_) return;
          --starting_;
          if (listed.error) {
            return hooks_.reply(
                Command::group_subscribe,
                encode_error(sequence, "failed to subscribe to group, err: " + listed.error->text,
                             error_code_of(*listed.error)));
          }
          for (const auto& topic : options.topics) {
            if (listed.topics.find(topic) == listed.topics.end()) {
              return hooks_.reply(Command::group_subscribe,
                                  encode_error(sequence,
                                               "failed to subscribe to group, topic: " + topic +
                                                   ", err: not found topic",
                                               ErrorCode::UNKNOWN_TOPIC));
            }
          }
          const std::int64_t id = ++last_id_;
          std::weak_ptr<void> weak = holder;
          const bool is_owned = static_cast<bool>(hooks_.keep_alive);
          auto sink = [this, weak, is_owned, id](kafka::GroupEvent event) {
            auto keep = weak.lock();
            if (is_owned && !keep) return;
            hooks_.post([this, keep, id, event = std::move(event)]() mutable {
              if (!shut_down_) on_event(id, std::move(event));
            });
          };
          const bool auto_commit = options.store_commits;
          const std::uint32_t credit = options.credit;
          std::string why;
          auto member =
              context_.service->join(context_.cluster, std::move(options), std::move(sink), &why);
          if (!member) {
            return hooks_.reply(Command::group_subscribe,
                                encode_error(sequence, "failed to subscribe to group, err: " + why,
                                             ErrorCode::OVERLOADED));
          }
          Subscription sub;
          sub.id = id;
          sub.sequence = sequence;
          sub.auto_commit = auto_commit;
          sub.credit = credit;
          sub.member = std::move(member);
          subscriptions_.emplace(id, std::move(sub));
          PubSubResp resp;
          resp.set_sequence(sequence);
          resp.mutable_kafka_group_subscribe_resp()->set_subscription_id(id);
          hooks_.reply(Command::group_subscribe, resp.SerializeAsString());
        });
      });
  return {Outcome::Kind::pending, {}};
}

void GroupSubscriptions::on_event(std::int64_t id, kafka::GroupEvent event) {
  auto it = subscriptions_.find(id);
  if (it == subscriptions_.end()) return;  // ended meanwhile
  Subscription& sub = it->second;
  using Kind = kafka::GroupEvent::Kind;
  if (event.kind == Kind::failed) {
    const std::string why = event.error ? event.error->text : "left the group";
    const int code = event.idle    ? ErrorCode::LIMIT_EXCEEDED
                     : event.error ? error_code_of(*event.error)
                                   : ErrorCode::INTERNAL;
    return end(sub, code, "group subscription ended, err: " + why);
  }
  PubSubResp resp;
  resp.set_sequence(sub.sequence);
  if (event.kind == Kind::records) {
    if (event.records.empty()) return;
    const Key key{event.topic, event.partition};
    const std::int64_t next = event.records.back().offset + 1;
    auto& owned = sub.owned[key];
    owned.next = next;
    owned.delivered = true;
    if (sub.auto_commit) sub.ledger.delivered(key, next);
    if (sub.credit > 0) --sub.credit;
    auto* r = resp.mutable_kafka_records();
    // The messages as every push frame encodes them (field 1 entries), then this frame's fields.
    r->ParseFromString(encode_messages(event.records, /*with_headers=*/true));
    r->set_subscription_id(sub.id);
    r->set_partition(event.partition);
    r->set_high_watermark(event.high_watermark);
    r->set_topic(event.topic);
    hooks_.push(Frame{resp.SerializeAsString(), nullptr});
    return;
  }
  auto* a = resp.mutable_kafka_group_assignment();
  a->set_subscription_id(sub.id);
  a->set_kind(event.kind == Kind::assigned  ? KafkaGroupAssignment::ASSIGNED
              : event.kind == Kind::revoked ? KafkaGroupAssignment::REVOKED
                                            : KafkaGroupAssignment::LOST);
  for (const auto& p : event.partitions) {
    const Key key{p.topic, p.partition};
    if (event.kind == Kind::assigned) {
      sub.owned[key] = Subscription::Owned{p.offset, false};
    } else {
      sub.owned.erase(key);
    }
    auto* tp = a->add_partitions();
    tp->set_topic(p.topic);
    tp->set_partition(p.partition);
    // (-1: not known, whatever librdkafka's own marker for it)
    tp->set_offset(event.kind == Kind::assigned && p.offset >= 0 ? p.offset : -1);
  }
  hooks_.push(Frame{resp.SerializeAsString(), nullptr});
}

std::optional<Outcome> GroupSubscriptions::credit(std::int64_t sequence, std::int64_t id,
                                                  std::uint32_t credit, std::uint32_t max_credit) {
  auto it = subscriptions_.find(id);
  if (it == subscriptions_.end()) return std::nullopt;
  Subscription& sub = it->second;
  if (static_cast<std::uint64_t>(sub.credit) + credit > max_credit) {
    return error(
        sequence, ErrorCode::LIMIT_EXCEEDED,
        "credit: outstanding credit would exceed " + std::to_string(max_credit) + " frames");
  }
  sub.credit += credit;
  sub.member->grant(credit);
  if (sub.auto_commit) {
    std::vector<kafka::GroupPartition> offsets;
    for (const auto& [key, next] : sub.ledger.acknowledge(credit)) {
      if (sub.owned.count(key)) offsets.push_back({key.first, key.second, next});
    }
    if (!offsets.empty()) sub.member->commit(std::move(offsets), nullptr);
  }
  return Outcome{Outcome::Kind::none, {}};
}

Outcome GroupSubscriptions::commit(std::int64_t sequence, const CmdKafkaCommit& cmd) {
  auto it = subscriptions_.find(cmd.subscription_id());
  if (it == subscriptions_.end()) {
    return error(sequence, ErrorCode::UNKNOWN_SUBSCRIPTION,
                 "commit: no group subscription " + std::to_string(cmd.subscription_id()));
  }
  Subscription& sub = it->second;
  if (static_cast<std::size_t>(cmd.offsets_size()) > limits_.max_subscription_partitions) {
    return error(
        sequence, ErrorCode::LIMIT_EXCEEDED,
        "commit: more than " + std::to_string(limits_.max_subscription_partitions) + " partitions");
  }
  std::vector<kafka::GroupPartition> offsets;
  if (cmd.offsets_size() == 0) {
    for (const auto& [key, owned] : sub.owned) {
      if (owned.delivered) offsets.push_back({key.first, key.second, owned.next});
    }
  }
  for (const auto& o : cmd.offsets()) {
    const std::string where =
        "topic: " + (kafka::is_valid_topic_name(o.topic()) ? o.topic() : "(invalid)") +
        ", partition: " + std::to_string(o.partition());
    if (o.offset() < 0) {
      return error(sequence, ErrorCode::BAD_REQUEST, "commit: negative offset, " + where);
    }
    auto owned = sub.owned.find(Key{o.topic(), o.partition()});
    if (owned == sub.owned.end()) {
      return error(sequence, ErrorCode::REBALANCED,
                   "commit: partition not owned by this member (rebalanced), " + where);
    }
    if (o.offset() > owned->second.next) {
      return error(sequence, ErrorCode::BAD_REQUEST,
                   "commit: offset beyond what was delivered, " + where);
    }
    offsets.push_back({o.topic(), o.partition(), o.offset()});
  }
  auto reply = [this, sequence, offsets](std::optional<kafka::KafkaError> failed, bool rebalanced) {
    if (shut_down_) return;
    if (failed || rebalanced) {
      hooks_.reply(Command::commit,
                   encode_error(sequence,
                                "commit failed, err: " +
                                    (rebalanced ? std::string("rebalanced") : failed->text),
                                rebalanced ? ErrorCode::REBALANCED : error_code_of(*failed)));
      return;
    }
    PubSubResp resp;
    resp.set_sequence(sequence);
    auto* c = resp.mutable_kafka_commit_resp();
    for (const auto& o : offsets) {
      auto* tp = c->add_committed();
      tp->set_topic(o.topic);
      tp->set_partition(o.partition);
      tp->set_offset(o.offset);
    }
    hooks_.reply(Command::commit, resp.SerializeAsString());
  };
  if (offsets.empty()) {
    PubSubResp resp;
    resp.set_sequence(sequence);
    resp.mutable_kafka_commit_resp();
    return {Outcome::Kind::reply, resp.SerializeAsString()};
  }
  // The member always answers (also when it leaves first); the answer holds the owner.
  std::shared_ptr<void> holder = hooks_.keep_alive ? hooks_.keep_alive() : nullptr;
  sub.member->commit(
      std::move(offsets),
      [this, holder, reply](std::optional<kafka::KafkaError> failed, bool rebalanced) {
        hooks_.post(
            [holder, reply, failed = std::move(failed), rebalanced] { reply(failed, rebalanced); });
      });
  return {Outcome::Kind::pending, {}};
}

std::optional<Outcome> GroupSubscriptions::unsubscribe(std::int64_t sequence, std::int64_t id) {
  auto it = subscriptions_.find(id);
  if (it == subscriptions_.end()) return std::nullopt;
  it->second.member->leave();
  subscriptions_.erase(it);
  PubSubResp resp;
  resp.set_sequence(sequence);
  resp.mutable_unsubscribe_resp()->set_subscription_id(id);
  return Outcome{Outcome::Kind::reply, resp.SerializeAsString()};
}

void GroupSubscriptions::end(Subscription& sub, int code, const std::string& message) {
  sub.member->leave();
  const std::int64_t sequence = sub.sequence;
  subscriptions_.erase(sub.id);
  hooks_.push(Frame{encode_error(sequence, message, code), nullptr});
}

}  // namespace kpg::pubsub
