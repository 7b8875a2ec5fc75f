#include "pubsub/connection.h"

#include "pubsub/connection_thread.h"

#include "kafka/topic_name.h"

#include <kpg/pubsub.pb.h>

#include <algorithm>
#include <limits>
#include <set>
#include <utility>

namespace kpg::pubsub {

namespace {

constexpr std::uint32_t kProtocolVersion = 1;

Frame frame_of(std::string bytes) {
  return Frame{std::move(bytes), nullptr};
}

// How often a filtered partition at its end may send a frame that only says how far it was read.
constexpr auto kProgressInterval = std::chrono::seconds(1);

// Answers arriving on Kafka threads for work that several look-ups make up (a subscription's
// start, a metadata answer): gathered on the connection's thread, then finished once.
struct Gather {
  std::size_t remaining = 0;
  std::optional<kafka::KafkaError> error;
  std::int32_t error_partition = -1;
  std::string error_topic;
};

}  // namespace

// "failed to <what>, topic: T[, partition: P], err: E", as APISIX words its errors. Topic names
// are valid Kafka names by then (short, printable); no partition when it is negative.
std::string Connection::failure(std::string_view what, std::string_view topic,
                                std::int32_t partition, std::string_view error) {
  std::string msg = "failed to ";
  msg.append(what);
  msg += ", topic: ";
  msg.append(topic);
  if (partition >= 0) msg += ", partition: " + std::to_string(partition);
  msg += ", err: ";
  msg.append(error);
  return msg;
}

Connection::Connection(kafka::RecordSource& source, const Limits& limits, Callbacks callbacks,
                       std::string server_name, TopicAccess topics, ProduceAccess produce,
                       GroupContext groups, ReadContext reads)
    : source_(source),
      limits_(limits),
      callbacks_(std::move(callbacks)),
      server_name_(std::move(server_name)),
      topics_(topics),
      request_tokens_(limits.max_requests_per_second),
      produce_(produce),
      record_tokens_(produce.enabled() ? produce.policy->max_records_per_second : 0),
      filter_registry_(reads.registry),
      pinned_(reads.pinned, reads.claims),
      snapshot_memory_(reads.snapshot_memory) {
  GroupSubscriptions::Hooks hooks{
      callbacks_.push,
      [this](Command command, std::string reply) { answer(command, std::move(reply)); },
      callbacks_.post, callbacks_.keep_alive};
  groups_ = std::make_unique<GroupSubscriptions>(source_, limits_, std::move(groups),
                                                 std::move(hooks), topics_, last_id_);
}

Connection::~Connection() {
  shutdown();
}

void Connection::shutdown() {
  if (shut_down_) return;
  shut_down_ = true;
  cancel_->cancel();
  groups_->shutdown();
  for (auto& [id, sub] : subscriptions_) {
    sub.cancel->cancel();
    if (callbacks_.observer) callbacks_.observer->subscription_ended(&sub);
  }
  // (Subscriptions stay until destruction: shutdown may run inside a callback that iterates.)
  for (auto& [id, sub] : subscriptions_) {
    for (auto& stream : sub.partitions) release_snapshot(stream);
  }
  // Records not handed to the producer yet are dropped: a batch among them holds the owner (its
  // answer's way back) until all of its records are settled, which these never would be.
  produce_waiting_.clear();
}

RequestContext Connection::context() const {
  // records_sent: fetch answers hold this connection's owner (keep_alive) until they have run.
  return RequestContext{hello_, cancel_, topics_, &fetched_records_, callbacks_.observer, &pinned_};
}

Outcome Connection::error(std::int64_t sequence, int code, std::string_view message) const {
  return {Outcome::Kind::reply, encode_error(sequence, message, hello_ ? code : 0)};
}

std::variant<FilterPtr, Connection::RecordRefusal> Connection::read_filter(
    const KafkaFilter* requested) const {
  if (pinned_.error()) return RecordRefusal{ErrorCode::NOT_ALLOWED, *pinned_.error()};
  if (!requested && pinned_.empty()) return FilterPtr();
  auto compiled = compile_filter(requested, pinned_.conditions());
  if (auto* why = std::get_if<std::string>(&compiled)) {
    return RecordRefusal{ErrorCode::BAD_REQUEST, std::move(*why)};
  }
  auto filter = std::get<FilterPtr>(std::move(compiled));
  return filter_registry_ ? filter_registry_->intern(std::move(filter)) : filter;
}

Outcome Connection::on_frame(std::string_view frame) {
  if (shut_down_) return {Outcome::Kind::none, {}};
  Command command = Command::invalid;
  auto outcome = dispatch(frame, command);
  if (callbacks_.observer) {
    // Pending commands are counted when their answer comes (answer()).
    if (outcome.kind == Outcome::Kind::reply) {
      callbacks_.observer->command(command, !is_error_reply(outcome.reply));
    } else if (outcome.kind == Outcome::Kind::none && command != Command::unknown) {
      callbacks_.observer->command(command, true);  // credit: no answer when granted
    }
  }
  return outcome;
}

void Connection::answer(Command command, std::string reply) {
  if (callbacks_.observer) callbacks_.observer->command(command, !is_error_reply(reply));
  callbacks_.reply(frame_of(std::move(reply)));
}

Outcome Connection::dispatch(std::string_view frame, Command& command) {
  PubSubReq req;
  if (frame.size() > static_cast<std::size_t>(std::numeric_limits<int>::max()) ||
      !req.ParseFromArray(frame.data(), static_cast<int>(frame.size()))) {
    return error(0, ErrorCode::BAD_REQUEST, "wrong command");
  }
  // A frame with no command at all is answered with nothing and not counted.
  command =
      req.req_case() == PubSubReq::REQ_NOT_SET ? Command::unknown : command_of_case(req.req_case());
  const std::int64_t seq = req.sequence();
  // Credit frames are not counted: they are cheap, bounded by max_credit, and refusing one would
  // leave the client's count of its grants wrong. Produce requests, where the route allows them,
  // count against the route's own records-per-second allowance instead (produce()).
  const bool own_allowance = req.req_case() == PubSubReq::kCmdCredit ||
                             ((req.req_case() == PubSubReq::kCmdKafkaProduce ||
                               req.req_case() == PubSubReq::kCmdKafkaProduceBatch) &&
                              produce_.enabled());
  if (!own_allowance && !request_tokens_.take()) {
    ++rate_refusals_;
    return error(seq, ErrorCode::LIMIT_EXCEEDED,
                 "too many requests: more than " + std::to_string(limits_.max_requests_per_second) +
                     " per second on this connection");
  }
  if (req.req_case() == PubSubReq::kCmdHello) return hello(seq, req.cmd_hello());
  if (hello_) {
    // kpg's commands exist only for connections that said hello: to others kpg is APISIX.
    switch (req.req_case()) {
      case PubSubReq::kCmdKafkaMetadata: return metadata(seq, req.cmd_kafka_metadata());
      case PubSubReq::kCmdKafkaSubscribe: return subscribe(seq, req.cmd_kafka_subscribe());
      case PubSubReq::kCmdCredit: return credit(seq, req.cmd_credit());
      case PubSubReq::kCmdUnsubscribe: return unsubscribe(seq, req.cmd_unsubscribe());
      case PubSubReq::kCmdKafkaProduce: return produce(seq, req.cmd_kafka_produce());
      case PubSubReq::kCmdKafkaProduceBatch:
        return produce_batch(seq, req.cmd_kafka_produce_batch());
      case PubSubReq::kCmdKafkaGroupSubscribe:
        return groups_->subscribe(seq, req.cmd_kafka_group_subscribe());
      case PubSubReq::kCmdKafkaCommit: return groups_->commit(seq, req.cmd_kafka_commit());
      default: break;
    }
  }
  if (req.req_case() == PubSubReq::kCmdKafkaFetch) {
    const auto& topic = req.cmd_kafka_fetch().topic();
    if (kafka::is_valid_topic_name(topic) && topics_.allowed(topic)) topics_read_.add(topic);
  }
  if (!hello_ && command != Command::ping && command != Command::fetch &&
      command != Command::list_offset) {
    command = Command::unknown;  // kpg's commands are unknown to connections that said no hello
  }
  return handle_request(req, source_, limits_, on_thread([this, command](std::string bytes) {
                          answer(command, std::move(bytes));
                        }),
                        context());
}

Outcome Connection::hello(std::int64_t sequence, const CmdHello& cmd) {
  if (cmd.protocol_version() < 1) {
    return {Outcome::Kind::reply,
            encode_error(sequence, "hello: protocol_version must be 1 or more",
                         ErrorCode::BAD_REQUEST)};
  }
  hello_ = true;
  PubSubResp resp;
  resp.set_sequence(sequence);
  auto* h = resp.mutable_hello_resp();
  h->set_protocol_version(std::min(cmd.protocol_version(), kProtocolVersion));
  for (const char* feature :
       {"push", "metadata", "headers", "error_codes", "filters", "snapshot"}) {
    h->add_features(feature);
  }
  if (produce_.enabled()) h->add_features("produce");
  if (groups_->max_subscriptions() > 0) h->add_features("groups");
  h->set_server(server_name_);
  auto* l = h->mutable_limits();
  l->set_max_frame_bytes(limits_.max_frame_bytes);
  l->set_max_batch_bytes(static_cast<std::uint32_t>(
      std::min<std::size_t>(limits_.fetch.max_bytes, std::numeric_limits<std::uint32_t>::max())));
  l->set_max_inflight_requests(limits_.max_inflight_requests);
  l->set_max_subscriptions(limits_.max_subscriptions);
  l->set_max_credit(limits_.max_credit);
  l->set_max_metadata_partitions(limits_.max_metadata_partitions);
  l->set_max_requests_per_second(limits_.max_requests_per_second);
  if (produce_.enabled()) {
    l->set_max_record_bytes(produce_.policy->max_record_bytes);
    l->set_max_produce_inflight_bytes(produce_.policy->max_inflight_bytes);
    l->set_max_produce_records_per_second(produce_.policy->max_records_per_second);
    l->set_max_produce_batch_records(kMaxProduceBatchRecords);
  }
  l->set_max_group_subscriptions(groups_->max_subscriptions());
  l->set_max_filter_conditions(static_cast<std::uint32_t>(kMaxFilterConditions));
  l->set_max_filter_values(static_cast<std::uint32_t>(kMaxFilterValues));
  l->set_max_snapshot_bytes(limits_.max_snapshot_bytes);
  return {Outcome::Kind::reply, resp.SerializeAsString()};
}

// ---- metadata ------------------------------------------------------------------------------

Outcome Connection::metadata(std::int64_t sequence, const CmdKafkaMetadata& cmd) {
  if (static_cast<std::uint32_t>(cmd.topics_size()) > limits_.max_metadata_partitions) {
    return error(sequence, ErrorCode::LIMIT_EXCEEDED,
                 "failed to describe topics, err: more than " +
                     std::to_string(limits_.max_metadata_partitions) + " topics");
  }
  std::vector<std::string> names;
  for (const auto& name : cmd.topics()) {
    if (!kafka::is_valid_topic_name(name)) {
      return error(sequence, ErrorCode::BAD_REQUEST,
                   "failed to describe topics, err: invalid topic name");
    }
    if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
  }
  // All names are checked before any is looked up: nothing of a request naming a topic the route
  // does not allow reaches Kafka.
  for (const auto& name : names) {
    if (!topics_.allowed(name)) {
      return error(sequence, ErrorCode::NOT_ALLOWED,
                   failure("describe topics", name, -1, "topic not allowed"));
    }
  }
  const bool all = names.empty();
  source_.topics(
      names, cancel_, on_thread([this, sequence, names, all](kafka::TopicsResult listed) {
        if (listed.error) {
          answer(Command::metadata,
                 encode_error(sequence, "failed to describe topics, err: " + listed.error->text,
                              error_code_of(*listed.error)));
          return;
        }
        // The answer's shape: topics in request order (name order for "all"), partitions
        // ascending; offsets filled in as the look-ups come back.
        auto resp = std::make_shared<PubSubResp>();
        resp->set_sequence(sequence);
        auto* topics = resp->mutable_kafka_metadata_resp()->mutable_topics();
        std::size_t partitions = 0;
        auto add_topic = [&](const std::string& name, int count) {
          auto* t = topics->Add();
          t->set_name(name);
          for (int p = 0; p < count; ++p) t->add_partitions()->set_partition(p);
          partitions += static_cast<std::size_t>(count);
        };
        if (all) {
          for (const auto& [name, count] : listed.topics) {
            // Internal topics, and those the route does not allow, are left out.
            if (name.rfind("__", 0) != 0 && topics_.allowed(name)) add_topic(name, count);
          }
        } else {
          for (const auto& name : names) {
            auto it = listed.topics.find(name);
            if (it == listed.topics.end()) {
              answer(Command::metadata,
                     encode_error(sequence, failure("describe topics", name, -1, "not found topic"),
                                  ErrorCode::UNKNOWN_TOPIC));
              return;
            }
            add_topic(name, it->second);
          }
        }
        if (partitions > limits_.max_metadata_partitions) {
          answer(Command::metadata,
                 encode_error(sequence,
                              "failed to describe topics, err: more than " +
                                  std::to_string(limits_.max_metadata_partitions) + " partitions",
                              ErrorCode::LIMIT_EXCEEDED));
          return;
        }
        if (partitions == 0) {
          answer(Command::metadata, resp->SerializeAsString());
          return;
        }
        auto gather = std::make_shared<Gather>();
        gather->remaining = partitions * 2;
        for (int ti = 0; ti < topics->size(); ++ti) {
          auto* topic = topics->Mutable(ti);
          for (int pi = 0; pi < topic->partitions_size(); ++pi) {
            for (const std::int64_t at : {std::int64_t{-2}, std::int64_t{-1}}) {
              source_.list_offset(
                  topic->name(), pi, at, cancel_,
                  on_thread([this, sequence, resp, gather, ti, pi, at](kafka::OffsetResult result) {
                    auto* t = resp->mutable_kafka_metadata_resp()->mutable_topics(ti);
                    if (result.error && !gather->error) {
                      gather->error = result.error;
                      gather->error_topic = t->name();
                      gather->error_partition = pi;
                    }
                    auto* p = t->mutable_partitions(pi);
                    if (at == -2) {
                      p->set_earliest(result.offset);
                    } else {
                      p->set_latest(result.offset);
                    }
                    if (--gather->remaining > 0) return;
                    if (gather->error) {
                      answer(Command::metadata,
                             encode_error(sequence,
                                          failure("describe topics", gather->error_topic,
                                                  gather->error_partition, gather->error->text),
                                          error_code_of(*gather->error)));
                      return;
                    }
                    answer(Command::metadata, resp->SerializeAsString());
                  }));
            }
          }
        }
      }));
  return {Outcome::Kind::pending, {}};
}

// ---- subscribe -----------------------------------------------------------------------------

Outcome Connection::subscribe(std::int64_t sequence, const CmdKafkaSubscribe& cmd) {
  const std::string& topic = cmd.topic();
  auto refuse = [&](int code, std::string_view why) {
    return error(
        sequence, code,
        failure("subscribe", kafka::is_valid_topic_name(topic) ? topic : "(invalid)", -1, why));
  };
  if (!kafka::is_valid_topic_name(topic)) {
    return refuse(ErrorCode::BAD_REQUEST, "invalid topic name");
  }
  if (!topics_.allowed(topic)) return refuse(ErrorCode::NOT_ALLOWED, "topic not allowed");
  topics_read_.add(topic);
  if (subscriptions_.size() + starting_ >= limits_.max_subscriptions) {
    return refuse(ErrorCode::LIMIT_EXCEEDED, "more than " +
                                                 std::to_string(limits_.max_subscriptions) +
                                                 " subscriptions on one connection");
  }
  if (cmd.credit() > limits_.max_credit) {
    return refuse(ErrorCode::LIMIT_EXCEEDED, "credit above " + std::to_string(limits_.max_credit));
  }
  if (!CmdKafkaSubscribe::Start_IsValid(cmd.start())) {
    return refuse(ErrorCode::BAD_REQUEST, "unknown start");
  }
  if (cmd.start() == CmdKafkaSubscribe::TIMESTAMP && cmd.timestamp() < 0) {
    return refuse(ErrorCode::BAD_REQUEST, "timestamp must be >= 0");
  }
  if (static_cast<std::size_t>(cmd.partitions_size()) +
          static_cast<std::size_t>(cmd.offsets_size()) >
      limits_.max_subscription_partitions) {
    return refuse(
        ErrorCode::LIMIT_EXCEEDED,
        "more than " + std::to_string(limits_.max_subscription_partitions) + " partitions");
  }
  auto filter = read_filter(cmd.has_filter() ? &cmd.filter() : nullptr);
  if (auto* refusal = std::get_if<RecordRefusal>(&filter)) {
    return refuse(refusal->code, refusal->why);
  }
  // partition -> explicit first offset (-1: from `start`)
  auto wanted = std::make_shared<std::map<std::int32_t, std::int64_t>>();
  for (const std::int32_t p : cmd.partitions()) {
    if (p < 0) return refuse(ErrorCode::BAD_REQUEST, "invalid partition");
    wanted->emplace(p, -1);
  }
  for (const auto& po : cmd.offsets()) {
    if (po.partition() < 0) return refuse(ErrorCode::BAD_REQUEST, "invalid partition");
    if (po.offset() < 0) return refuse(ErrorCode::BAD_REQUEST, "invalid offset");
    (*wanted)[po.partition()] = po.offset();
  }

  ++starting_;
  struct Plan {
    std::int64_t sequence;
    std::string topic;
    int start;
    std::int64_t timestamp;
    std::uint32_t credit;
    FilterPtr filter;
  };
  const Plan plan{sequence,        topic,        cmd.start(),
                  cmd.timestamp(), cmd.credit(), std::get<FilterPtr>(std::move(filter))};

  source_.topics(
      {topic}, cancel_, on_thread([this, plan, wanted](kafka::TopicsResult listed) {
        auto fail = [&](int code, std::int32_t partition, std::string_view why) {
          --starting_;
          answer(
              Command::subscribe,
              encode_error(plan.sequence, failure("subscribe", plan.topic, partition, why), code));
        };
        if (listed.error) return fail(error_code_of(*listed.error), -1, listed.error->text);
        auto it = listed.topics.find(plan.topic);
        if (it == listed.topics.end()) return fail(ErrorCode::UNKNOWN_TOPIC, -1, "not found topic");
        const int count = it->second;
        if (wanted->empty()) {
          if (static_cast<std::uint32_t>(count) > limits_.max_subscription_partitions) {
            return fail(
                ErrorCode::LIMIT_EXCEEDED, -1,
                "more than " + std::to_string(limits_.max_subscription_partitions) + " partitions");
          }
          for (int p = 0; p < count; ++p) wanted->emplace(p, -1);
        }
        for (const auto& [p, offset] : *wanted) {
          if (p >= count) return fail(ErrorCode::UNKNOWN_PARTITION, p, "not found partition");
        }

        // Where each partition starts: its explicit offset (checked to be in the log), or the
        // earliest, latest or first-at-timestamp offset.
        struct Start {
          std::shared_ptr<Gather> gather = std::make_shared<Gather>();
          std::map<std::int32_t, std::int64_t> offsets;
        };
        auto start = std::make_shared<Start>();
        start->offsets = *wanted;
        auto finish_one = [this, plan, start, wanted]() {
          if (--start->gather->remaining > 0) return;
          --starting_;
          const auto& g = *start->gather;
          if (g.error) {
            answer(Command::subscribe,
                   encode_error(plan.sequence,
                                failure("subscribe", plan.topic, g.error_partition, g.error->text),
                                error_code_of(*g.error)));
            return;
          }
          Subscription sub;
          sub.id = ++last_id_;
          sub.sequence = plan.sequence;
          sub.topic = plan.topic;
          sub.credit = plan.credit;
          sub.filter = plan.filter;
          sub.tells_next = plan.filter || plan.start == CmdKafkaSubscribe::SNAPSHOT;
          PubSubResp resp;
          resp.set_sequence(plan.sequence);
          auto* r = resp.mutable_kafka_subscribe_resp();
          r->set_subscription_id(sub.id);
          for (const auto& [p, offset] : start->offsets) {
            PartitionStream stream;
            stream.partition = p;
            stream.next = offset;
            // A snapshot for the partitions that start at the end (not resumed at an offset).
            if (plan.start == CmdKafkaSubscribe::SNAPSHOT && (*wanted)[p] < 0) {
              stream.snapshot = std::make_unique<Snapshot>();
              stream.snapshot->end = offset;
            }
            sub.partitions.push_back(std::move(stream));
            auto* po = r->add_start();
            po->set_partition(p);
            po->set_offset(offset);
          }
          answer(Command::subscribe, resp.SerializeAsString());
          auto [entry, inserted] = subscriptions_.emplace(sub.id, std::move(sub));
          pump(entry->second);
        };
        auto failed = [start](std::int32_t p, const kafka::KafkaError& e) {
          if (!start->gather->error) {
            start->gather->error = e;
            start->gather->error_partition = p;
          }
        };
        for (const auto& [p, explicit_offset] : *wanted) {
          ++start->gather->remaining;
          if (explicit_offset >= 0) ++start->gather->remaining;
        }
        for (const auto& [partition, explicit_offset] : *wanted) {
          const std::int32_t p = partition;
          if (explicit_offset >= 0) {
            const std::int64_t offset = explicit_offset;
            for (const std::int64_t at : {std::int64_t{-2}, std::int64_t{-1}}) {
              source_.list_offset(
                  plan.topic, p, at, cancel_,
                  on_thread([p, at, offset, failed, finish_one](kafka::OffsetResult r) {
                    if (r.error) {
                      failed(p, *r.error);
                    } else if ((at == -2 && offset < r.offset) || (at == -1 && offset > r.offset)) {
                      failed(p, kafka::KafkaError{kafka::ErrorKind::offset_out_of_range,
                                                  "OFFSET_OUT_OF_RANGE"});
                    }
                    finish_one();
                  }));
            }
            continue;
          }
          // (A snapshot's live part starts at the end.)
          const std::int64_t at = plan.start == CmdKafkaSubscribe::EARLIEST    ? -2
                                  : plan.start == CmdKafkaSubscribe::TIMESTAMP ? plan.timestamp
                                                                               : -1;
          source_.list_offset(
              plan.topic, p, at, cancel_,
              on_thread([this, plan, p, at, start, failed, finish_one](kafka::OffsetResult r) {
                if (r.error) {
                  failed(p, *r.error);
                } else if (r.offset >= 0 || at < 0) {
                  start->offsets[p] = r.offset;
                } else {
                  // No record at or after the timestamp yet: from the end, as a consumer would.
                  ++start->gather->remaining;
                  source_.list_offset(
                      plan.topic, p, -1, cancel_,
                      on_thread([p, start, failed, finish_one](kafka::OffsetResult e) {
                        if (e.error) {
                          failed(p, *e.error);
                        } else {
                          start->offsets[p] = e.offset;
                        }
                        finish_one();
                      }));
                }
                finish_one();
              }));
        }
      }));
  return {Outcome::Kind::pending, {}};
}

// ---- credit, unsubscribe -------------------------------------------------------------------

Outcome Connection::credit(std::int64_t sequence, const CmdCredit& cmd) {
  if (cmd.credit() == 0) {
    return error(sequence, ErrorCode::BAD_REQUEST, "credit: must be at least 1");
  }
  auto it = subscriptions_.find(cmd.subscription_id());
  if (it == subscriptions_.end()) {
    if (auto group =
            groups_->credit(sequence, cmd.subscription_id(), cmd.credit(), limits_.max_credit)) {
      return *group;
    }
    return {Outcome::Kind::none, {}};  // ended meanwhile: normal
  }
  Subscription& sub = it->second;
  if (static_cast<std::uint64_t>(sub.credit) + cmd.credit() > limits_.max_credit) {
    return error(sequence, ErrorCode::LIMIT_EXCEEDED,
                 "credit: outstanding credit would exceed " + std::to_string(limits_.max_credit) +
                     " frames");
  }
  sub.credit += cmd.credit();
  pump(sub);
  return {Outcome::Kind::none, {}};
}

Outcome Connection::unsubscribe(std::int64_t sequence, const CmdUnsubscribe& cmd) {
  auto it = subscriptions_.find(cmd.subscription_id());
  if (it == subscriptions_.end()) {
    if (auto group = groups_->unsubscribe(sequence, cmd.subscription_id())) return *group;
    return error(sequence, ErrorCode::UNKNOWN_SUBSCRIPTION,
                 "unsubscribe: no subscription " + std::to_string(cmd.subscription_id()));
  }
  it->second.cancel->cancel();
  if (callbacks_.observer) callbacks_.observer->subscription_ended(&it->second);
  for (auto& stream : it->second.partitions) release_snapshot(stream);
  subscriptions_.erase(it);
  PubSubResp resp;
  resp.set_sequence(sequence);
  resp.mutable_unsubscribe_resp()->set_subscription_id(cmd.subscription_id());
  return {Outcome::Kind::reply, resp.SerializeAsString()};
}

// ---- push ----------------------------------------------------------------------------------

void Connection::set_congested(bool congested) {
  if (congested_ == congested) return;
  congested_ = congested;
  if (congested_ || shut_down_) return;
  std::vector<std::int64_t> ids;
  for (const auto& [id, sub] : subscriptions_) ids.push_back(id);
  for (const auto id : ids) {
    if (auto it = subscriptions_.find(id); it != subscriptions_.end()) pump(it->second);
  }
}

void Connection::pump(Subscription& sub) {
  const std::size_t n = sub.partitions.size();
  const std::int64_t id = sub.id;
  // Snapshots gather their records whatever the credit (bounded by max_snapshot_bytes).
  for (auto& stream : sub.partitions) {
    if (stream.snapshot && !stream.snapshot->loading && !stream.snapshot->loaded) {
      load_snapshot(sub, stream);
      if (!subscriptions_.count(id)) return;  // ended by the load
    }
  }
  // Held batches and snapshot frames first, one per partition a round, starting one partition
  // further each time, so that every partition gets its turn when credit is scarce.
  bool sent = true;
  while (sent && sub.credit > 0 && !congested_ && !shut_down_) {
    sent = false;
    for (std::size_t i = 0; i < n && sub.credit > 0 && !congested_ && !shut_down_; ++i) {
      auto& stream = sub.partitions[(sub.turn + i) % n];
      if (stream.snapshot) {
        if (stream.snapshot->frames.empty()) continue;
        deliver_snapshot_frame(sub, stream);
        sent = true;
      } else if (stream.held) {
        deliver(sub, stream, std::move(stream.held));
      }
    }
    if (n > 0) sub.turn = (sub.turn + 1) % n;
  }
  if (sub.credit == 0 || congested_ || shut_down_) return;
  for (auto& stream : sub.partitions) {
    if (!stream.reading && !stream.held && !stream.snapshot) read(sub, stream);
  }
}

void Connection::read(Subscription& sub, PartitionStream& stream) {
  stream.reading = true;
  if (!stream.reader) {
    kafka::FetchLimits limits = limits_.fetch;
    limits.max_wait = kafka::FetchLimits::kWaitForever;
    stream.reader = source_.open_stream(
        sub.topic, stream.partition, limits, sub.cancel,
        on_thread_while_owned([this, id = sub.id, p = stream.partition](kafka::BatchResult r) {
          on_batch(id, p, std::move(r));
        }));
  }
  stream.reader->next(stream.next);
}

Connection::PartitionStream* Connection::find_stream(std::int64_t id, std::int32_t partition,
                                                     Subscription** sub) {
  auto it = subscriptions_.find(id);
  if (it == subscriptions_.end()) return nullptr;
  *sub = &it->second;
  for (auto& stream : it->second.partitions) {
    if (stream.partition == partition) return &stream;
  }
  return nullptr;
}

void Connection::on_batch(std::int64_t id, std::int32_t partition, kafka::BatchResult result) {
  Subscription* found = nullptr;
  PartitionStream* stream = find_stream(id, partition, &found);
  if (!stream) return;  // unsubscribed meanwhile
  Subscription& sub = *found;
  stream->reading = false;
  if (result.error) {
    return end(sub, error_code_of(*result.error),
               failure("fetch message", sub.topic, partition, result.error->text));
  }
  if (sub.filter && result.batch && result.batch->records > 0 &&
      result.batch->next_offset > stream->next) {
    // Shared with every subscriber of this filter that reads the same batch.
    result.batch = sub.filter->apply(result.batch);
    if (result.batch->records == 0) {
      // Nothing matched: the partition was read that far all the same. Said in a frame of its
      // own only once the partition is read to its end, at most once a second (so that the
      // client's position and lag stay true without a frame per batch read).
      stream->next = result.batch->next_offset;
      stream->high = result.batch->high_watermark;
      if (stream->next >= stream->high) report_progress(sub, *stream);
      if (sub.credit > 0 && !congested_ && !shut_down_) read(sub, *stream);
      return;
    }
  }
  if (result.batch && result.batch->records > 0 && result.batch->next_offset > stream->next) {
    if (sub.credit > 0 && !congested_) {
      deliver(sub, *stream, std::move(result.batch));
      if (callbacks_.write_pending && callbacks_.write_pending()) {
        after_write_.emplace_back(id, partition);
        return;
      }
    } else {
      if (callbacks_.observer) {
        if (sub.credit == 0) callbacks_.observer->credit_stall();
        callbacks_.observer->lag(
            &sub, sub.topic, partition,
            std::max<std::int64_t>(0, result.batch->high_watermark - stream->next));
      }
      stream->held = std::move(result.batch);
      return;
    }
  }
  if (sub.credit > 0 && !congested_ && !shut_down_ && !stream->held) read(sub, *stream);
}

void Connection::report_progress(Subscription& sub, PartitionStream& stream) {
  if (stream.told >= stream.next || stream.progress_scheduled) return;
  const auto since = std::chrono::steady_clock::now() - stream.last_frame;
  if (since < kProgressInterval) {
    if (!callbacks_.schedule) return;  // said by the next frame instead
    stream.progress_scheduled = true;
    const auto wait =
        std::chrono::duration_cast<std::chrono::milliseconds>(kProgressInterval - since);
    callbacks_.schedule(std::max(wait, std::chrono::milliseconds(1)),
                        [this, id = sub.id, p = stream.partition] { on_progress_due(id, p); });
    return;
  }
  // Without credit (or while congested) it is not said: the next frame says it.
  if (sub.credit == 0 || congested_ || shut_down_) return;
  auto empty = std::make_shared<kafka::RecordBatch>();
  empty->first_offset = stream.next;
  empty->next_offset = stream.next;
  empty->high_watermark = std::max(stream.high, stream.next);
  deliver(sub, stream, std::move(empty));
}

void Connection::on_progress_due(std::int64_t id, std::int32_t partition) {
  if (shut_down_) return;
  Subscription* sub = nullptr;
  PartitionStream* stream = find_stream(id, partition, &sub);
  if (!stream) return;
  stream->progress_scheduled = false;
  if (!stream->snapshot && !stream->held) report_progress(*sub, *stream);
}

void Connection::deliver(Subscription& sub, PartitionStream& stream, kafka::BatchPtr batch,
                         RecordsFrameExtras extras) {
  stream.next = batch->next_offset;
  stream.told = batch->next_offset;
  stream.high = std::max(stream.high, batch->high_watermark);
  --sub.credit;
  pushed_records_ += batch->records;
  if (sub.tells_next) {
    extras.next_offset = batch->next_offset;
    stream.last_frame = std::chrono::steady_clock::now();
  }
  auto frame = records_frame(sub.sequence, sub.id, stream.partition, batch, extras);
  if (callbacks_.observer) {
    callbacks_.observer->delivered(batch->records, frame.size(), true);
    // The high watermark is the partition's when the batch was read: a lower bound of the lag.
    callbacks_.observer->lag(&sub, sub.topic, stream.partition,
                             std::max<std::int64_t>(0, batch->high_watermark - stream.next));
  }
  callbacks_.push(std::move(frame));
}

void Connection::on_written() {
  if (after_write_.empty() || shut_down_) return;
  auto waiting = std::move(after_write_);
  after_write_.clear();
  for (const auto& [id, partition] : waiting) {
    auto it = subscriptions_.find(id);
    if (it == subscriptions_.end()) continue;  // ended meanwhile
    Subscription& sub = it->second;
    for (auto& stream : sub.partitions) {
      if (stream.partition != partition) continue;
      // (pump() may have started it already, when credit came or congestion cleared.)
      if (sub.credit > 0 && !congested_ && !stream.reading && !stream.held) read(sub, stream);
    }
  }
}

void Connection::end(Subscription& sub, int code, const std::string& message) {
  sub.cancel->cancel();
  if (callbacks_.observer) callbacks_.observer->subscription_ended(&sub);
  const std::int64_t sequence = sub.sequence;
  for (auto& stream : sub.partitions) release_snapshot(stream);
  subscriptions_.erase(sub.id);
  callbacks_.push(frame_of(encode_error(sequence, message, code)));
}

}  // namespace kpg::pubsub
