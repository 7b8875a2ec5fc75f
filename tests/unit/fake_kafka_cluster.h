// An in-memory Kafka cluster behind the read path's seam (kafka/kafka_client.h): partitions are
// lists of records (offsets may have gaps, as in compacted topics), lanes deliver from their
// cursors when polled, and brokers can be taken away. Thread-safe, like the real one.
#pragma once

#include "kafka/kafka_client.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

namespace kpg::testing {

class FakeKafkaCluster final : public kafka::KafkaCluster {
 public:
  struct Log {
    std::int64_t low = 0;
    std::int64_t high = 0;               // next offset to be written
    std::vector<kafka::Record> records;  // offsets in [low, high), increasing, maybe with gaps
  };

  /// Creates `partitions` empty partitions of `topic`.
  void create_topic(const std::string& topic, int partitions) {
    std::lock_guard lock(state_->mutex);
    for (int p = 0; p < partitions; ++p) state_->logs[{topic, p}];
    state_->topics[topic] = partitions;
  }

  /// Appends a record at the partition's end (+ `gap` offsets skipped before it); returns it.
  kafka::Record append(const std::string& topic, std::int32_t partition, std::string key,
                       std::string value, std::int64_t gap = 0) {
    std::vector<std::function<void()>> wakes;
    kafka::Record record;
    {
      std::lock_guard lock(state_->mutex);
      auto& log = state_->logs.at({topic, partition});
      record =
          kafka::Record{log.high + gap, 1000 + log.high + gap, std::move(key), std::move(value)};
      log.records.push_back(record);
      log.high = record.offset + 1;
      wakes = state_->wakes;
    }
    for (auto& wake : wakes) wake();
    return record;
  }

  /// Drops the records below `low` (as retention does).
  void truncate(const std::string& topic, std::int32_t partition, std::int64_t low) {
    std::lock_guard lock(state_->mutex);
    auto& log = state_->logs.at({topic, partition});
    log.low = low;
    std::erase_if(log.records, [low](const kafka::Record& r) { return r.offset < low; });
  }

  /// Brokers away: every call fails as unreachable, lanes deliver nothing.
  void set_down(bool down) {
    std::vector<std::function<void()>> wakes;
    {
      std::lock_guard lock(state_->mutex);
      state_->down = down;
      if (down) state_->in_doubt = true;
      wakes = state_->wakes;
    }
    for (auto& wake : wakes) wake();
  }

  /// The next poll of every lane reading `tp` reports `error` for it once (as librdkafka does
  /// when its fetcher fails, e.g. offset out of range after a broker lost its log).
  void inject_error(const kafka::TopicPartition& tp, kafka::KafkaError error) {
    std::vector<std::function<void()>> wakes;
    {
      std::lock_guard lock(state_->mutex);
      state_->injected[tp] = std::move(error);
      wakes = state_->wakes;
    }
    for (auto& wake : wakes) wake();
  }

  Log log(const std::string& topic, std::int32_t partition) const {
    std::lock_guard lock(state_->mutex);
    return state_->logs.at({topic, partition});
  }

  int topic_calls() const { return state_->topic_calls; }
  int watermark_calls() const { return state_->watermark_calls; }
  int starts() const { return state_->starts; }

  /// Latency of every blocking call, to let requests overlap as they do over a network.
  void set_latency(std::chrono::microseconds latency) { state_->latency = latency; }

  kafka::Expected<TopicMap> topics() override {
    ++state_->topic_calls;
    delay();
    std::lock_guard lock(state_->mutex);
    if (state_->down) return {unreachable(), {}};
    state_->in_doubt = false;
    return {std::nullopt, state_->topics};
  }

  kafka::Expected<kafka::Watermarks> watermarks(const kafka::TopicPartition& tp) override {
    ++state_->watermark_calls;
    delay();
    std::lock_guard lock(state_->mutex);
    if (state_->down) return {unreachable(), {}};
    state_->in_doubt = false;
    const auto& log = state_->logs.at(tp);
    return {std::nullopt, {log.low, log.high}};
  }

  kafka::Expected<std::int64_t> offset_for_time(const kafka::TopicPartition& tp,
                                                std::int64_t timestamp) override {
    delay();
    std::lock_guard lock(state_->mutex);
    if (state_->down) return {unreachable(), -1};
    for (const auto& r : state_->logs.at(tp).records) {
      if (r.timestamp >= timestamp) return {std::nullopt, r.offset};
    }
    return {std::nullopt, -1};
  }

  std::unique_ptr<kafka::ConsumerLane> new_lane(int, std::function<void()> wake) override {
    std::lock_guard lock(state_->mutex);
    state_->wakes.push_back(wake);
    return std::make_unique<Lane>(state_, std::move(wake));
  }

  bool brokers_in_doubt() const override {
    std::lock_guard lock(state_->mutex);
    return state_->in_doubt;
  }

 private:
  using Error = kafka::KafkaError;
  static Error unreachable() {
    return {kafka::ErrorKind::unreachable, "not found topic (no broker reachable)", "fake: down"};
  }

  struct State {
    mutable std::mutex mutex;
    std::map<kafka::TopicPartition, Log> logs;
    KafkaCluster::TopicMap topics;
    std::vector<std::function<void()>> wakes;
    std::map<kafka::TopicPartition, Error> injected;
    bool down = false;
    bool in_doubt = false;
    std::atomic<int> topic_calls{0};
    std::atomic<int> watermark_calls{0};
    std::atomic<int> starts{0};
    std::atomic<std::chrono::microseconds> latency{std::chrono::microseconds(0)};
  };

  void delay() const {
    const auto latency = state_->latency.load();
    if (latency.count() > 0) std::this_thread::sleep_for(latency);
  }

  class Lane final : public kafka::ConsumerLane {
   public:
    Lane(std::shared_ptr<State> state, std::function<void()> wake)
        : state_(std::move(state)), wake_(std::move(wake)) {}

    std::optional<Error> start(const kafka::TopicPartition& tp, std::int64_t offset,
                               std::uint64_t generation) override {
      ++state_->starts;
      {
        std::lock_guard lock(state_->mutex);
        if (state_->down) return unreachable();
        cursors_[tp] = Cursor{offset, false, generation};
      }
      wake_();
      return std::nullopt;
    }
    void stop(const kafka::TopicPartition& tp) override {
      std::lock_guard lock(state_->mutex);
      cursors_.erase(tp);
    }
    void close() override {
      std::lock_guard lock(state_->mutex);
      cursors_.clear();
    }
    void pause(const kafka::TopicPartition& tp, bool paused) override {
      {
        std::lock_guard lock(state_->mutex);
        auto it = cursors_.find(tp);
        if (it == cursors_.end()) return;
        it->second.paused = paused;
      }
      if (!paused) wake_();
    }
    std::size_t poll(std::size_t max, const std::function<void(kafka::LaneEvent&)>& sink) override {
      std::vector<kafka::LaneEvent> events;
      std::vector<std::string> names;  // keep the topic names alive for the sink calls
      {
        std::lock_guard lock(state_->mutex);
        if (state_->down) return 0;
        for (auto& [tp, cursor] : cursors_) {
          if (auto it = state_->injected.find(tp); it != state_->injected.end()) {
            kafka::LaneEvent e;
            e.partition = tp.partition;
            e.generation = cursor.generation;
            e.error = it->second;
            names.push_back(tp.topic);
            events.push_back(std::move(e));
            state_->injected.erase(it);
            continue;
          }
          if (cursor.paused) continue;
          const auto& log = state_->logs.at(tp);
          auto it =
              std::lower_bound(log.records.begin(), log.records.end(), cursor.next,
                               [](const kafka::Record& r, std::int64_t o) { return r.offset < o; });
          for (; it != log.records.end() && events.size() < max; ++it) {
            kafka::LaneEvent e;
            e.partition = tp.partition;
            e.generation = cursor.generation;
            e.record = *it;
            names.push_back(tp.topic);
            events.push_back(std::move(e));
            cursor.next = it->offset + 1;
          }
          if (events.size() >= max) break;
        }
      }
      for (std::size_t i = 0; i < events.size(); ++i) {
        events[i].topic = names[i];
        sink(events[i]);
      }
      return events.size();
    }

   private:
    struct Cursor {
      std::int64_t next;
      bool paused;
      std::uint64_t generation;
    };
    std::shared_ptr<State> state_;
    std::function<void()> wake_;
    std::map<kafka::TopicPartition, Cursor> cursors_;  // under state_->mutex
  };

  std::shared_ptr<State> state_ = std::make_shared<State>();
};

}  // namespace kpg::testing
