#include "kafka/demo_feed.h"

#include "kafka/producer.h"

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include <array>
#include <chrono>
#include <cmath>
#include <random>

namespace kpg::kafka {

std::pair<std::string, std::string> demo_order(std::uint64_t n, std::uint64_t seed,
                                               std::int64_t now_ms) {
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
  std::mt19937_64 rng(seed ^ (n * 0x9E3779B97F4A7C15ULL));
  const auto& customer = customers[rng() % customers.size()];
  const auto& item = items[rng() % items.size()];
  const int qty = 1 + static_cast<int>(rng() % 3);
  // ordered_json: fields stay in this order (order_id first), as a person reads an order.
  nlohmann::ordered_json order = {
      {"order_id", "ord-" + std::to_string(100000 + n)},
      {"customer", customer},
      {"item", item.first},
      {"quantity", qty},
      {"unit_price_cents", item.second},
      {"total_cents", item.second * qty},
      {"currency", "EUR"},
      {"ship_to", cities[rng() % cities.size()]},
      {"status", (rng() % 10) == 0 ? "payment_pending" : "paid"},
      {"created_at_ms", now_ms},
  };
  return {customer, order.dump()};
}

DemoFeed::DemoFeed(std::string bootstrap, std::string topic, double per_second)
    : bootstrap_(std::move(bootstrap)), topic_(std::move(topic)), per_second_(per_second) {
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
      auto [key, value] = demo_order(n, seed, now_ms);
      // Headers as a real producer would set them, so that the demo's inspector has some to show.
      auto delivered = producer.produce(
          topic_, -1, key, value, 5000,
          {{"content-type", "application/json"}, {"order-seq", std::to_string(n)}});
      if (!delivered.error.empty()) {
        spdlog::warn("event=demo_feed_error topic={} err=\"{}\"", topic_, delivered.error);
      }
    }
  } catch (const std::exception& e) {
    spdlog::error("event=demo_feed_stopped err=\"{}\"", e.what());
  }
}

}  // namespace kpg::kafka
