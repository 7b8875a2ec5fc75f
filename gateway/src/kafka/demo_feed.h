// Writes realistic demo records to a topic at a steady rate, so a new user of
// `kpg-gateway --embedded-kafka` sees live data at once: JSON order events, or the changing state
// of a few devices (a compacted-style topic: a small key set, updates, tombstones).
#pragma once

#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace kpg::kafka {

/// One demo record. An empty value is a tombstone (the key was deleted).
struct DemoRecord {
  std::string key;
  std::string value;
  std::vector<std::pair<std::string, std::string>> headers;
};

/// One demo order: key (the customer) and JSON value for order number `n` (deterministic for a
/// given n/seed), with the headers a real producer would set (content type, sequence, and the
/// shipping region, so that header filters have something to match).
DemoRecord demo_order(std::uint64_t n, std::uint64_t seed, std::int64_t now_ms);

/// The latest state of a fixed set of devices: each record updates one device (JSON with a
/// string status and numeric readings, a `region` header), and now and then a device is deleted
/// (a tombstone) and comes back some records later. Deterministic for a given seed.
class DeviceStates {
 public:
  static constexpr std::size_t kDevices = 8;
  explicit DeviceStates(std::uint64_t seed) : rng_(seed) { present_.fill(true); }
  DemoRecord next(std::int64_t now_ms);

 private:
  std::mt19937_64 rng_;
  std::array<bool, kDevices> present_{};
  std::array<double, kDevices> temperature_{};
};

class DemoFeed {
 public:
  enum class Kind { orders, device_state };
  /// Starts a background thread producing `per_second` records to `topic` (orders keyed by
  /// customer, device states by device, so each key stays in one partition). Stops in the
  /// destructor.
  DemoFeed(std::string bootstrap, std::string topic, double per_second, Kind kind = Kind::orders);
  ~DemoFeed();
  DemoFeed(const DemoFeed&) = delete;
  DemoFeed& operator=(const DemoFeed&) = delete;

 private:
  void run();

  std::string bootstrap_;
  std::string topic_;
  double per_second_;
  Kind kind_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace kpg::kafka
