#include "kafka/demo_feed.h"

#include "kafka/producer.h"

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include <array>
#include <chrono>
#include <cmath>
#include <random>

namespace kpg::kafka {

DemoRecord demo_order(std::uint64_t n, std::uint64_t seed, std::int64_t now_ms) {
  static constexpr std::array<const char*, 8> customers = {"ada",    "grace",   "linus", "margaret",
                                                           "dennis", "barbara", "ken",   "frances"};
  static constexpr std::array<std::pair<const char*, int>, 8> items = {
      {{"espresso beans 1kg", 2450},
       {"mechanical keyboard", 12900},
       {"usb-c cable", 1299},
       {"notebook a5", 650},
       {"desk lamp", 3990},
       {"noise-cancelling headphones", 27900},
       {"monitor arm", 8900},
       {"green tea 100g", 890}}};
  static constexpr std::array<const char*, 5> cities = {"Berlin", "Lisbon", "Oslo", "Toronto",
                                                        "Osaka"};
  static constexpr std::array<const char*, 5> regions = {"eu", "eu", "eu", "na", "apac"};
  std::mt19937_64 rng(seed ^ (n * 0x9E3779B97F4A7C15ULL));
  const auto& customer = customers[rng() % customers.size()];
  const auto& item = items[rng() % items.size()];
  const int qty = 1 + static_cast<int>(rng() % 3);
  const auto city = rng() % cities.size();
  // ordered_json: fields stay in this order (order_id first), as a person reads an order.
  nlohmann::ordered_json order = {
      {"order_id", "ord-" + std::to_string(100000 + n)},
      {"customer", customer},
      {"item", item.first},
      {"quantity", qty},
      {"unit_price_cents", item.second},
      {"total_cents", item.second * qty},
      {"currency", "EUR"},
      {"ship_to", cities[city]},
      {"status", (rng() % 10) == 0 ? "payment_pending" : "paid"},
      {"created_at_ms", now_ms},
  };
  return {customer,
          order.dump(),
          {{"content-type", "application/json"},
           {"order-seq", std::to_string(n)},
           {"region", regions[city]}}};
}

DemoRecord DeviceStates::next(std::int64_t now_ms) {
  static constexpr std::array<const char*, kDevices> names = {
      "thermostat-hall", "thermostat-lab", "freezer-1",  "freezer-2",
      "boiler",          "server-room",    "greenhouse", "cold-store"};
  static constexpr std::array<const char*, kDevices> regions = {"eu", "eu",   "na",   "na",
                                                                "eu", "apac", "apac", "na"};
  static constexpr std::array<double, kDevices> baseline = {21.0, 19.5, -18.0, -20.0,
                                                            65.0, 24.0, 27.5,  2.0};
  const std::size_t d = rng_() % kDevices;
  DemoRecord record{names[d], "", {{"region", regions[d]}}};
  // A present device is deleted now and then (1 in 16): a tombstone, an empty value. It comes
  // back the next time it is picked, so the current state keeps changing shape.
  if (present_[d] && rng_() % 16 == 0) {
    present_[d] = false;
    return record;
  }
  const bool created = !present_[d];
  present_[d] = true;
  if (created || temperature_[d] == 0) temperature_[d] = baseline[d];
  temperature_[d] += static_cast<double>(static_cast<int>(rng_() % 21) - 10) / 10.0;
  const double temperature = std::round(temperature_[d] * 10.0) / 10.0;
  const double drift = temperature - baseline[d];
  const char* status = drift > 2.5 || drift < -2.5 ? "alarm" : rng_() % 5 == 0 ? "idle" : "ok";
  nlohmann::ordered_json state = {
      {"device", names[d]},           {"status", status},
      {"temperature_c", temperature}, {"battery_pct", 20 + static_cast<int>(rng_() % 81)},
      {"updated_at_ms", now_ms},
  };
  record.value = state.dump();
  record.headers.emplace_back("content-type", "application/json");
  return record;
}

DemoFeed::DemoFeed(std::string bootstrap, std::string topic, double per_second, Kind kind)
    : bootstrap_(std::move(bootstrap)),
      topic_(std::move(topic)),
      per_second_(per_second),
      kind_(kind) {
  thread_ = std::thread([this] { run(); });
}

DemoFeed::~DemoFeed() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void DemoFeed::run() {
  try {
    Producer producer(bootstrap_);
    const auto seed =
        static_cast<std::uint64_t>(std::chrono::system_clock::now().time_since_epoch().count());
    const auto period = std::chrono::duration_cast<std::chrono::steady_clock::duration>(
        std::chrono::duration<double>(1.0 / per_second_));
    DeviceStates devices(seed);
    auto next = std::chrono::steady_clock::now();
    for (std::uint64_t n = 0;; ++n) {
      {
        std::unique_lock lock(mutex_);
        if (wake_.wait_until(lock, next, [this] { return stop_; })) return;
      }
      next += period;
      const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count();
      auto record = kind_ == Kind::orders ? demo_order(n, seed, now_ms) : devices.next(now_ms);
      // Headers as a real producer would set them, so that the demo's inspector has some to show.
      auto delivered = producer.produce(topic_, -1, record.key, record.value, 5000, record.headers);
      if (!delivered.error.empty()) {
        spdlog::warn("event=demo_feed_error topic={} err=\"{}\"", topic_, delivered.error);
      }
    }
  } catch (const std::exception& e) {
    spdlog::error("event=demo_feed_stopped err=\"{}\"", e.what());
  }
}

}  // namespace kpg::kafka
