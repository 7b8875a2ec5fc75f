#include "kafka/group_consumer.h"

#include "kafka/rdkafka_client.h"
#include "kafka/rdkafka_group.h"

#include <librdkafka/rdkafka.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <thread>
#include <utility>

namespace kpg::kafka {

namespace {

using Clock = std::chrono::steady_clock;

// How long one poll waits: the latency of a grant, commit or leave reaching the member's thread.
constexpr int kPollMs = 20;

// What the member's thread and its handle share.
struct MemberState {
  std::mutex mutex;
  bool leaving = false;
  std::uint32_t credit = 0;
  Clock::time_point zero_credit_since = Clock::now();
  struct Commit {
    std::vector<GroupPartition> offsets;
    GroupMember::CommitDone done;
  };
  std::deque<Commit> commits;
  GroupService::Sink sink;  // cleared on leave: nothing is reported afterwards

  // Called under `mutex`: the sink only hands the event over, and a leave() that returned
  // guarantees no further call.
  void emit(GroupEvent event) {
    if (!leaving && sink) sink(std::move(event));
  }
};

class Handle final : public GroupMember {
 public:
  explicit Handle(std::shared_ptr<MemberState> state) : state_(std::move(state)) {}
  ~Handle() override { leave(); }

  void grant(std::uint32_t frames) override {
    std::lock_guard lock(state_->mutex);
    state_->credit = static_cast<std::uint32_t>(
        std::min<std::uint64_t>(std::uint64_t{state_->credit} + frames, UINT32_MAX));
  }
  void commit(std::vector<GroupPartition> offsets, CommitDone done) override {
    {
      std::lock_guard lock(state_->mutex);
      if (!state_->leaving) {
        state_->commits.push_back({std::move(offsets), std::move(done)});
        return;
      }
    }
    // The member has left (or is leaving on its own): the client still gets its answer.
    if (done) done(KafkaError{ErrorKind::other, "left the group"}, false);
  }
  void leave() override {
    GroupService::Sink sink;
    std::deque<MemberState::Commit> commits;
    {
      std::lock_guard lock(state_->mutex);
      state_->leaving = true;
      sink.swap(state_->sink);
      commits.swap(state_->commits);
    }
    // Outside the lock (they may hold the last reference to their owner): commits that will
    // not run are answered.
    for (auto& c : commits) {
      if (c.done) c.done(KafkaError{ErrorKind::other, "left the group"}, false);
    }
  }

 private:
  std::shared_ptr<MemberState> state_;
};

// Null keys and values (tombstones) and null header values arrive as nullptr: empty bytes.
Record record_of(rd_kafka_message_t* m) {
  const auto* key = static_cast<const char*>(m->key);
  const auto* value = static_cast<const char*>(m->payload);
  Record r{m->offset, rd_kafka_message_timestamp(m, nullptr),
           key ? std::string(key, m->key_len) : std::string(),
           value ? std::string(value, m->len) : std::string()};
  rd_kafka_headers_t* headers = nullptr;
  if (rd_kafka_message_headers(m, &headers) == RD_KAFKA_RESP_ERR_NO_ERROR && headers) {
    const char* name = nullptr;
    const void* data = nullptr;
    std::size_t size = 0;
    for (std::size_t i = 0;
         rd_kafka_header_get_all(headers, i, &name, &data, &size) == RD_KAFKA_RESP_ERR_NO_ERROR;
         ++i) {
      r.headers.push_back(
          Header{name ? name : "", data ? std::string(static_cast<const char*>(data), size) : ""});
    }
  }
  return r;
}

bool is_rebalance_error(rd_kafka_resp_err_t err) {
  return err == RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION ||
         err == RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID ||
         err == RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS || err == RD_KAFKA_RESP_ERR__STATE ||
         err == RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION || err == RD_KAFKA_RESP_ERR_FENCED_INSTANCE_ID;
}

KafkaError error_of(rd_kafka_resp_err_t err) {
  std::string detail = std::string(rd_kafka_err2name(err)) + ": " + rd_kafka_err2str(err);
  switch (err) {
    case RD_KAFKA_RESP_ERR__TRANSPORT:
    case RD_KAFKA_RESP_ERR__TIMED_OUT:
    case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
    case RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_NOT_COORDINATOR:
      return {ErrorKind::unreachable, "group coordinator unavailable", std::move(detail)};
    case RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
      return {ErrorKind::rejected, "not authorized by the broker", std::move(detail)};
    default: return {ErrorKind::other, rd_kafka_err2name(err), std::move(detail)};
  }
}

struct ListDeleter {
  void operator()(rd_kafka_topic_partition_list_t* l) const {
    rd_kafka_topic_partition_list_destroy(l);
  }
};
using PartitionList = std::unique_ptr<rd_kafka_topic_partition_list_t, ListDeleter>;

GroupEvent partitions_event(GroupEvent::Kind kind, std::vector<GroupPartition> partitions) {
  GroupEvent event;
  event.kind = kind;
  event.partitions = std::move(partitions);
  return event;
}

GroupEvent failed_event(KafkaError error) {
  GroupEvent event;
  event.kind = GroupEvent::Kind::failed;
  event.error = std::move(error);
  return event;
}

std::vector<GroupPartition> to_vector(const rd_kafka_topic_partition_list_t* list) {
  std::vector<GroupPartition> out;
  for (int i = 0; i < list->cnt; ++i) {
    out.push_back({list->elems[i].topic, list->elems[i].partition, list->elems[i].offset});
  }
  return out;
}

// One group member: its librdkafka consumer and the loop that polls it, on the member's own
// thread (never the gateway's event loop: joining, committing and leaving all block).
class MemberLoop {
 public:
  MemberLoop(config::ClusterSettings cluster, GroupOptions options,
             std::shared_ptr<MemberState> state, std::chrono::milliseconds timeout)
      : cluster_(std::move(cluster)),
        options_(std::move(options)),
        state_(std::move(state)),
        timeout_ms_(static_cast<int>(timeout.count())) {}

  void run() {
    std::string error;
    rk_ = create(&error);
    if (!rk_) return fail({ErrorKind::other, "cannot create a Kafka client", error});
    PartitionList topics(
        rd_kafka_topic_partition_list_new(static_cast<int>(options_.topics.size())));
    for (const auto& t : options_.topics) {
      rd_kafka_topic_partition_list_add(topics.get(), t.c_str(), RD_KAFKA_PARTITION_UA);
    }
    if (const auto err = rd_kafka_subscribe(rk_, topics.get())) {
      fail(error_of(err));
    } else {
      loop();
    }
    // Leaves the group at once (the rebalance callback revokes and, for AUTO, commits), so its
    // partitions go to the other members without waiting for the session timeout.
    rd_kafka_consumer_close(rk_);
    rd_kafka_destroy(rk_);
    spdlog::info("event=group_member_left group={}", options_.group_id);
  }

 private:
  rd_kafka_t* create(std::string* error) {
    std::map<std::string, std::string> props;
    for (auto& [key, value] : kafka_properties(cluster_)) props[key] = value;
    const int session = static_cast<int>(options_.session_timeout.count());
    props["client.id"] += "/group";
    props["group.id"] = options_.group_id;
    props["enable.auto.commit"] = "false";
    props["enable.auto.offset.store"] = "false";
    props["auto.offset.reset"] = options_.from_earliest ? "earliest" : "latest";
    props["session.timeout.ms"] = std::to_string(session);
    // Frequent enough that a member learns of a rebalance well within the session timeout.
    props["heartbeat.interval.ms"] = std::to_string(std::clamp(session / 5, 100, 3000));
    // Eager (range) rebalancing: librdkafka 2.0.2's mock coordinator, which the tests use, runs
    // it; a revocation then hands back everything before the group assigns again.
    props["partition.assignment.strategy"] = "range";
    // The loop polls continuously (also while the client has no credit: fetching is paused
    // instead), so this is never reached by a slow client; idle_timeout ends those first.
    props["max.poll.interval.ms"] = std::to_string(std::max(300'000, session));
    // Prefetch per partition; the member's own buffer bounds what waits for credit.
    props["queued.max.messages.kbytes"] = "1024";
    props["queued.min.messages"] = "1000";
    char errstr[512];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    for (const auto& [key, value] : props) {
      if (rd_kafka_conf_set(conf, key.c_str(), value.c_str(), errstr, sizeof errstr) !=
          RD_KAFKA_CONF_OK) {
        *error = "kafka setting " + key + ": " + errstr;
        rd_kafka_conf_destroy(conf);
        return nullptr;
      }
    }
    rd_kafka_conf_set_opaque(conf, this);
    rd_kafka_conf_set_rebalance_cb(conf, &MemberLoop::on_rebalance);
    rd_kafka_conf_set_log_cb(conf,
                             [](const rd_kafka_t* rk, int level, const char* fac, const char* buf) {
                               if (level <= 4) {
                                 spdlog::warn("event=kafka_log client={} facility={} msg=\"{}\"",
                                              rd_kafka_name(rk), fac, buf);
                               }
                             });
    rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
    if (!rk) {
      *error = std::string("cannot create Kafka client: ") + errstr;
      rd_kafka_conf_destroy(conf);
      return nullptr;
    }
    rd_kafka_poll_set_consumer(rk);
    return rk;
  }

  void loop() {
    for (;;) {
      std::deque<MemberState::Commit> commits;
      {
        std::lock_guard lock(state_->mutex);
        if (state_->leaving) return;
        commits.swap(state_->commits);
        if (state_->credit == 0 &&
            Clock::now() - state_->zero_credit_since >= options_.idle_timeout) {
          auto event = failed_event(
              KafkaError{ErrorKind::other,
                         "no credit for " + std::to_string(options_.idle_timeout.count()) +
                             " ms: left the group so that other members get its partitions"});
          event.idle = true;
          state_->emit(std::move(event));
          state_->leaving = true;
          return;
        }
      }
      for (auto& c : commits) commit(c);
      update_pause();
      if (rd_kafka_message_t* m = rd_kafka_consumer_poll(rk_, kPollMs)) {
        take(m);
        // Whatever else is there already, up to the buffer's bound.
        while (buffered_ < options_.max_buffered_records) {
          rd_kafka_message_t* more = rd_kafka_consumer_poll(rk_, 0);
          if (!more) break;
          take(more);
        }
      }
      deliver();
    }
  }

  void take(rd_kafka_message_t* m) {
    if (m->err) {
      if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        spdlog::warn("event=group_consumer_error group={} err={} reason=\"{}\"", options_.group_id,
                     rd_kafka_err2name(m->err), rd_kafka_message_errstr(m));
      }
    } else if (m->rkt) {
      auto& pending = pending_[{rd_kafka_topic_name(m->rkt), m->partition}];
      pending.push_back(record_of(m));
      ++buffered_;
    }
    rd_kafka_message_destroy(m);
  }

  // Sends what is buffered, one records event per credit, taking the partitions in turn.
  void deliver() {
    while (buffered_ > 0) {
      // The next partition with records after the one served last, wrapping around.
      auto it = std::find_if(pending_.upper_bound(turn_), pending_.end(),
                             [](const auto& p) { return !p.second.empty(); });
      if (it == pending_.end()) {
        it = std::find_if(pending_.begin(), pending_.end(),
                          [](const auto& p) { return !p.second.empty(); });
      }
      if (it == pending_.end()) return;
      std::lock_guard lock(state_->mutex);
      if (state_->leaving || state_->credit == 0) return;
      turn_ = it->first;
      GroupEvent event;
      event.topic = it->first.first;
      event.partition = it->first.second;
      std::size_t bytes = 0;
      auto& records = it->second;
      while (!records.empty() && (event.records.empty() || bytes + record_bytes(records.front()) <=
                                                               options_.max_batch_bytes)) {
        bytes += record_bytes(records.front());
        event.records.push_back(std::move(records.front()));
        records.pop_front();
        --buffered_;
      }
      std::int64_t low = 0;
      std::int64_t high = 0;
      rd_kafka_get_watermark_offsets(rk_, event.topic.c_str(), event.partition, &low, &high);
      event.high_watermark = std::max(high, event.records.back().offset + 1);
      if (--state_->credit == 0) state_->zero_credit_since = Clock::now();
      state_->emit(std::move(event));
    }
  }

  // Fetching stops while the buffer is full (prefetched records are dropped by librdkafka and
  // fetched again on resume); polling goes on, so the member stays in the group.
  void update_pause() {
    const bool want = buffered_ >= options_.max_buffered_records;
    if (want == paused_) return;
    rd_kafka_topic_partition_list_t* raw = nullptr;
    if (rd_kafka_assignment(rk_, &raw) != RD_KAFKA_RESP_ERR_NO_ERROR) return;
    PartitionList assigned(raw);
    if (want) {
      rd_kafka_pause_partitions(rk_, assigned.get());
    } else {
      rd_kafka_resume_partitions(rk_, assigned.get());
    }
    paused_ = want;
  }

  void commit(MemberState::Commit& c) {
    PartitionList list(rd_kafka_topic_partition_list_new(static_cast<int>(c.offsets.size())));
    for (const auto& o : c.offsets) {
      rd_kafka_topic_partition_list_add(list.get(), o.topic.c_str(), o.partition)->offset =
          o.offset;
    }
    if (options_.store_commits) rd_kafka_offsets_store(rk_, list.get());
    // Unanswered (AUTO) commits are asynchronous; answered ones wait for the coordinator.
    auto err = rd_kafka_commit(rk_, list.get(), c.done ? 0 : 1);
    if (!c.done) return;
    bool rebalanced = is_rebalance_error(err);
    if (!err) {
      for (int i = 0; i < list->cnt; ++i) {
        if (const auto e = list->elems[i].err) {
          err = e;
          rebalanced = rebalanced || is_rebalance_error(e);
        }
      }
    }
    std::optional<KafkaError> error;
    if (err) error = error_of(err);
    c.done(std::move(error), rebalanced);  // always: the client waits for an answer
  }

  static void on_rebalance(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                           rd_kafka_topic_partition_list_t* partitions, void* opaque) {
    static_cast<MemberLoop*>(opaque)->rebalance(rk, err, partitions);
  }

  void rebalance(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                 rd_kafka_topic_partition_list_t* partitions) {
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
      start_offsets(rk, partitions);
      rd_kafka_assign(rk, partitions);
      paused_ = false;
      std::lock_guard lock(state_->mutex);
      state_->emit(partitions_event(GroupEvent::Kind::assigned, to_vector(partitions)));
      return;
    }
    const bool lost = err != RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS || rd_kafka_assignment_lost(rk);
    // What was read but not delivered is dropped: the next owner reads it again.
    for (int i = 0; i < partitions->cnt; ++i) {
      auto it = pending_.find({partitions->elems[i].topic, partitions->elems[i].partition});
      if (it == pending_.end()) continue;
      buffered_ -= it->second.size();
      pending_.erase(it);
    }
    // AUTO: what the client acknowledged (stored with each commit) is committed before the
    // partitions go.
    if (!lost && options_.store_commits) rd_kafka_commit(rk, nullptr, 0);
    rd_kafka_assign(rk, nullptr);
    std::lock_guard lock(state_->mutex);
    state_->emit(partitions_event(lost ? GroupEvent::Kind::lost : GroupEvent::Kind::revoked,
                                  to_vector(partitions)));
  }

  // Assigned partitions start at their committed offset, or else at `from_earliest`'s end of the
  // log; both are looked up here so that the assignment event names the exact offset.
  void start_offsets(rd_kafka_t* rk, rd_kafka_topic_partition_list_t* partitions) {
    for (int i = 0; i < partitions->cnt; ++i) partitions->elems[i].offset = RD_KAFKA_OFFSET_INVALID;
    if (rd_kafka_committed(rk, partitions, timeout_ms_) != RD_KAFKA_RESP_ERR_NO_ERROR) {
      for (int i = 0; i < partitions->cnt; ++i) {
        partitions->elems[i].offset = RD_KAFKA_OFFSET_INVALID;
      }
      return;  // librdkafka looks them up itself; the event says -1 (not known)
    }
    PartitionList fresh(rd_kafka_topic_partition_list_new(partitions->cnt));
    for (int i = 0; i < partitions->cnt; ++i) {
      if (partitions->elems[i].offset >= 0) continue;
      rd_kafka_topic_partition_list_add(fresh.get(), partitions->elems[i].topic,
                                        partitions->elems[i].partition)
          ->offset = options_.from_earliest ? RD_KAFKA_OFFSET_BEGINNING : RD_KAFKA_OFFSET_END;
    }
    if (fresh->cnt == 0) return;
    const bool found =
        rd_kafka_offsets_for_times(rk, fresh.get(), timeout_ms_) == RD_KAFKA_RESP_ERR_NO_ERROR;
    for (int i = 0; i < partitions->cnt; ++i) {
      auto& p = partitions->elems[i];
      if (p.offset >= 0) continue;
      p.offset = RD_KAFKA_OFFSET_INVALID;
      if (!found) continue;
      const auto* f = rd_kafka_topic_partition_list_find(fresh.get(), p.topic, p.partition);
      if (f && !f->err && f->offset >= 0) p.offset = f->offset;
    }
  }

  void fail(KafkaError error) {
    spdlog::warn("event=group_member_failed group={} err=\"{}\" detail=\"{}\"", options_.group_id,
                 error.text, error.detail);
    std::lock_guard lock(state_->mutex);
    state_->emit(failed_event(std::move(error)));
    state_->leaving = true;
  }

  const config::ClusterSettings cluster_;
  const GroupOptions options_;
  const std::shared_ptr<MemberState> state_;
  const int timeout_ms_;
  rd_kafka_t* rk_ = nullptr;
  std::map<std::pair<std::string, std::int32_t>, std::deque<Record>> pending_;
  std::pair<std::string, std::int32_t> turn_;  // the partition delivered last
  std::size_t buffered_ = 0;
  bool paused_ = false;
};

// Counts running members; outlives the service while one still runs.
struct MemberCount {
  std::mutex mutex;
  std::condition_variable changed;
  std::size_t running = 0;
};

class RdKafkaGroupService final : public GroupService {
 public:
  RdKafkaGroupService(std::size_t max_members, std::chrono::milliseconds timeout)
      : max_members_(max_members), timeout_(timeout) {}

  ~RdKafkaGroupService() override {
    std::unique_lock lock(count_->mutex);
    count_->changed.wait(lock, [&] { return count_->running == 0; });
  }

  std::unique_ptr<GroupMember> join(const config::ClusterSettings& cluster, GroupOptions options,
                                    Sink sink, std::string* error) override {
    {
      std::lock_guard lock(count_->mutex);
      if (count_->running >= max_members_) {
        if (error) {
          *error = "the gateway runs " + std::to_string(max_members_) + " group members already";
        }
        return nullptr;
      }
      ++count_->running;
    }
    auto state = std::make_shared<MemberState>();
    state->credit = options.credit;
    state->sink = std::move(sink);
    auto loop = std::make_shared<MemberLoop>(cluster, std::move(options), state, timeout_);
    std::thread([loop, count = count_] {
      loop->run();
      std::lock_guard lock(count->mutex);
      --count->running;
      count->changed.notify_all();
    }).detach();
    return std::make_unique<Handle>(std::move(state));
  }

 private:
  const std::size_t max_members_;
  const std::chrono::milliseconds timeout_;
  std::shared_ptr<MemberCount> count_ = std::make_shared<MemberCount>();
};

}  // namespace

std::unique_ptr<GroupService> make_rdkafka_group_service(
    std::size_t max_members, std::chrono::milliseconds request_timeout) {
  return std::make_unique<RdKafkaGroupService>(max_members, request_timeout);
}

}  // namespace kpg::kafka
