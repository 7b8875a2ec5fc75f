// Writes realistic JSON order events to a topic at a steady rate, so a new user of
// `kpg-gateway --embedded-kafka` sees live data at once.
#pragma once

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

namespace kpg::kafka {

class DemoFeed {
 public:
  /// Starts a background thread producing `per_second` records to `topic` (keyed by customer,
  /// so each customer's orders stay in one partition). Stops in the destructor.
  DemoFeed(std::string bootstrap, std::string topic, double per_second);
  ~DemoFeed();
  DemoFeed(const DemoFeed&) = delete;
  DemoFeed& operator=(const DemoFeed&) = delete;

 private:
  void run();

  std::string bootstrap_;
  std::string topic_;
  double per_second_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stop_ = false;
  std::thread thread_;
};

/// One demo record: key and JSON value for order number `n` (deterministic for a given n/seed).
std::pair<std::string, std::string> demo_order(std::uint64_t n, std::uint64_t seed,
                                               std::int64_t now_ms);

}  // namespace kpg::kafka
