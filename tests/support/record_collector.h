// Collects what a subscription delivers, for tests that wait on it from another thread (the
// native SDK calls subscription handlers on its I/O thread).
#pragma once

#include <kpg/sdk/subscription.h>
#include <kpg/sdk/types.h>

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <mutex>
#include <optional>
#include <vector>

namespace kpg::testing {

class RecordCollector {
 public:
  /// Handlers to pass to subscribe(); the collector must outlive the subscription.
  sdk::SubscriptionHandlers handlers() {
    return {[this](const std::vector<sdk::Record>& batch) {
              std::lock_guard lock(mutex_);
              records_.insert(records_.end(), batch.begin(), batch.end());
              ++batches_;
              changed_.notify_all();
            },
            [this](const sdk::Error& error) {
              std::lock_guard lock(mutex_);
              failure_ = error;
              changed_.notify_all();
            }};
  }

  /// Waits until `done(records)` holds; false when the subscription failed or `timeout` passed.
  bool wait_until(const std::function<bool(const std::vector<sdk::Record>&)>& done,
                  std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] { return failure_ || done(records_); }) &&
           !failure_;
  }
  bool wait_for_count(std::size_t count,
                      std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
    return wait_until([count](const auto& records) { return records.size() >= count; }, timeout);
  }

  /// Waits until at least `count` batches arrived; false as wait_until.
  bool wait_for_batches(std::size_t count,
                        std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] { return failure_ || batches_ >= count; }) &&
           !failure_;
  }

  std::vector<sdk::Record> records() const {
    std::lock_guard lock(mutex_);
    return records_;
  }
  std::size_t size() const {
    std::lock_guard lock(mutex_);
    return records_.size();
  }
  /// on_records calls so far.
  std::size_t batches() const {
    std::lock_guard lock(mutex_);
    return batches_;
  }
  std::optional<sdk::Error> failure() const {
    std::lock_guard lock(mutex_);
    return failure_;
  }

 private:
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<sdk::Record> records_;
  std::size_t batches_ = 0;
  std::optional<sdk::Error> failure_;
};

}  // namespace kpg::testing
