// kpg-bench-subscribe: how fast a subscription reads a partition through the gateway, against
// the gateway's own Kafka reader on the same data as the baseline.
//
//   baseline  the gateway's RecordSource (librdkafka) fetching the partition in a loop, in-process:
//             what the gateway can read from the broker with no WebSocket, protobuf or SDK;
//   gateway   a real kpg-gateway process and the native SDK's subscribe() from earliest: what a
//             client gets end to end (read, encode, WebSocket, decode, pairing, ordering).
// Both read the same N records from a Kafka-protocol broker (librdkafka's mock, in-process) and
// run one after the other, `--rounds` times each, interleaved; the best round of each is reported,
// with the ratio. Figures only: no pass/fail on speed.
#include "child_process.h"
#include "config/route.h"
#include "kafka/mock_cluster.h"
#include "kafka/producer.h"
#include "kafka/rdkafka_source.h"

#include <kpg/sdk/native_client.h>

#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>
#include <boost/asio/thread_pool.hpp>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <iostream>
#include <mutex>

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

struct Figures {
  double seconds = 0;
  std::size_t records = 0;
  std::size_t bytes = 0;
  double records_per_s() const { return static_cast<double>(records) / seconds; }
  double mib_per_s() const { return static_cast<double>(bytes) / seconds / (1024.0 * 1024.0); }
};

// Reads offsets [first, end) through the gateway's RecordSource, one fetch at a time (as a
// subscription does).
Figures run_baseline(const std::string& bootstrap, const std::string& topic, std::int64_t first,
                     std::int64_t end, std::size_t fetch_max_bytes) {
  nlohmann::json definition = {{"uri", "/bench"},
                               {"upstream", {{"scheme", "kafka"}, {"nodes", {{bootstrap, 1}}}}}};
  auto parsed = kpg::config::parse_route(definition, "bench");
  auto& route = std::get<kpg::config::Route>(parsed);
  boost::asio::thread_pool workers(2);
  std::string error;
  auto source = kpg::kafka::make_rdkafka_source(route.cluster(), workers, {}, &error);
  if (!source) throw std::runtime_error(error);
  kpg::kafka::FetchLimits limits;
  limits.max_bytes = fetch_max_bytes;
  Figures f;
  const auto start = Clock::now();
  std::int64_t next = first;
  while (next < end) {
    std::promise<kpg::kafka::FetchResult> done;
    source->fetch(topic, 0, next, limits, nullptr,
                  [&done](kpg::kafka::FetchResult r) { done.set_value(std::move(r)); });
    auto result = done.get_future().get();
    if (result.error) throw std::runtime_error("baseline fetch: " + result.error->text);
    for (const auto& r : result.records) {
      if (r.offset != next) throw std::runtime_error("baseline: offset out of order");
      ++next;
      f.bytes += r.value.size();
    }
  }
  f.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  f.records = static_cast<std::size_t>(end - first);
  source.reset();
  workers.join();
  return f;
}

// `subscribers` clients (one connection each) subscribe from `first` through the gateway at the
// same time; done when every one of them has the record before `end`. records counts deliveries.
Figures run_gateway(const std::string& url, const std::string& topic, std::int64_t first,
                    std::int64_t end, int subscribers) {
  std::vector<std::unique_ptr<kpg::sdk::NativeClient>> clients;
  for (int i = 0; i < subscribers; ++i) {
    clients.push_back(std::make_unique<kpg::sdk::NativeClient>());
    if (auto c = clients.back()->connect(url); !c) throw std::runtime_error(c.error().message);
  }
  std::mutex mutex;
  std::condition_variable done;
  Figures f;
  std::vector<std::int64_t> next(static_cast<std::size_t>(subscribers), first);
  int finished = 0;
  std::optional<std::string> failure;
  std::vector<std::shared_ptr<kpg::sdk::NativeSubscription>> subs;
  const auto start = Clock::now();
  for (int i = 0; i < subscribers; ++i) {
    auto& my_next = next[static_cast<std::size_t>(i)];
    subs.push_back(clients[static_cast<std::size_t>(i)]->subscribe(
        topic, 0, kpg::sdk::StartAt::offset(first),
        {[&](const std::vector<kpg::sdk::Record>& batch) {
           std::lock_guard lock(mutex);
           for (const auto& r : batch) {
             if (r.offset != my_next) failure = "offset out of order";
             ++my_next;
             f.bytes += r.value.size();
           }
           if (my_next >= end && my_next - static_cast<std::int64_t>(batch.size()) < end) {
             ++finished;
             done.notify_all();
           }
         },
         [&](const kpg::sdk::Error& e) {
           std::lock_guard lock(mutex);
           failure = e.message;
           done.notify_all();
         }}));
  }
  std::unique_lock lock(mutex);
  if (!done.wait_for(lock, 600s, [&] { return finished >= subscribers || failure; })) {
    throw std::runtime_error("gateway: timed out");
  }
  if (failure) throw std::runtime_error("gateway: " + *failure);
  f.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  f.records = static_cast<std::size_t>(end - first) * static_cast<std::size_t>(subscribers);
  lock.unlock();
  for (auto& sub : subs) sub->cancel();
  return f;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "kpg-bench-subscribe: subscribe throughput through kpg-gateway vs. the gateway's "
      "own Kafka reader (baseline), on the same records"};
  // The development broker keeps about 5 MiB per partition: 40k x 100 B fits.
  std::int64_t records = 40'000;
  std::size_t size = 100;
  int rounds = 3;
  int subscribers = 1;
  std::size_t fetch_max_bytes = 1024 * 1024;
  std::string gateway_bin =
      (std::filesystem::path(argv[0]).parent_path() / "../gateway/kpg-gateway").string();
  app.add_option("--records", records, "records in the partition")->check(CLI::PositiveNumber);
  app.add_option("--size", size, "value size in bytes")->check(CLI::PositiveNumber);
  app.add_option("--subscribers", subscribers,
                 "clients subscribing to the partition at the same time (records/s counts every "
                 "delivery)")
      ->check(CLI::Range(1, 500));
  app.add_option("--rounds", rounds, "rounds of each (best is reported)")
      ->check(CLI::Range(1, 100));
  app.add_option("--fetch-max-bytes", fetch_max_bytes, "bytes per fetch reply, both sides");
  app.add_option("--gateway", gateway_bin, "kpg-gateway binary")->check(CLI::ExistingFile);
  app.set_version_flag("--version", "kpg-bench-subscribe " KPG_VERSION);
  CLI11_PARSE(app, argc, argv);
  spdlog::set_level(spdlog::level::warn);

  try {
    kpg::kafka::MockCluster cluster(1);
    std::string error;
    if (!cluster.create_topic("bench", 1, &error)) throw std::runtime_error(error);
    std::cout << "producing " << records << " records of " << size << " bytes..." << std::endl;
    {
      kpg::kafka::Producer producer(cluster.bootstrap());
      std::vector<std::string> values;
      const std::int64_t chunk = 50'000;
      for (std::int64_t produced = 0; produced < records; produced += chunk) {
        values.clear();
        for (std::int64_t i = produced; i < std::min(records, produced + chunk); ++i) {
          std::string v = std::to_string(i);
          v.resize(size, 'x');
          values.push_back(std::move(v));
        }
        if (auto e = producer.produce_many("bench", 0, values); !e.empty()) {
          throw std::runtime_error("produce: " + e);
        }
      }
    }

    // What the broker kept (it drops the oldest data beyond its retention).
    std::int64_t first = 0;
    std::int64_t end = 0;
    {
      nlohmann::json definition = {
          {"uri", "/w"},
          {"upstream", {{"scheme", "kafka"}, {"nodes", {{cluster.bootstrap(), 1}}}}}};
      auto route = std::get<kpg::config::Route>(kpg::config::parse_route(definition, "w"));
      boost::asio::thread_pool workers(1);
      auto source = kpg::kafka::make_rdkafka_source(route.cluster(), workers, {}, &error);
      if (!source) throw std::runtime_error(error);
      auto watermark = [&](std::int64_t at) {
        std::promise<kpg::kafka::OffsetResult> p;
        source->list_offset("bench", 0, at, nullptr,
                            [&p](kpg::kafka::OffsetResult r) { p.set_value(r); });
        auto r = p.get_future().get();
        if (r.error) throw std::runtime_error("list offset: " + r.error->text);
        return r.offset;
      };
      first = watermark(-2);
      end = watermark(-1);
      source.reset();
      workers.join();
    }
    if (end - first < records) {
      std::cout << "the broker kept offsets " << first << ".." << end - 1
                << " (older records fell out of its retention)" << std::endl;
    }

    const auto dir =
        std::filesystem::temp_directory_path() / ("kpg-bench-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    const auto config = dir / "gateway.yaml";
    std::ofstream(config) << "listen: 127.0.0.1:0\nadmin_listen: 127.0.0.1:0\n"
                          << "data_dir: " << (dir / "data").string() << "\n"
                          << "log_level: warn\n"
                          << "fetch_max_bytes: " << fetch_max_bytes << "\n"
                          << "routes:\n  - id: bench\n    uri: /bench\n"
                          << "    upstream: {scheme: kafka, nodes: {\"" << cluster.bootstrap()
                          << "\": 1}}\n";
    kpg::testing::ChildProcess gateway(
        {gateway_bin, "--config", config.string(), "--log-level", "info"});
    auto line = gateway.wait_for_line("event=listening", 15s);
    if (!line) throw std::runtime_error("gateway did not start: " + gateway.transcript());
    const std::string url = "ws://" + kpg::testing::field(*line, "address") + "/bench";

    Figures best_base;
    Figures best_gw;
    for (int round = 1; round <= rounds; ++round) {
      auto base = run_baseline(cluster.bootstrap(), "bench", first, end, fetch_max_bytes);
      auto gw = run_gateway(url, "bench", first, end, subscribers);
      std::printf("round %d: baseline %.0f records/s, gateway+SDK %.0f records/s\n", round,
                  base.records_per_s(), gw.records_per_s());
      if (round == 1 || base.records_per_s() > best_base.records_per_s()) best_base = base;
      if (round == 1 || gw.records_per_s() > best_gw.records_per_s()) best_gw = gw;
    }
    std::printf(
        "\n%lld records x %zu B, fetch_max_bytes %zu, %d subscriber(s), best of %d rounds\n",
        static_cast<long long>(end - first), size, fetch_max_bytes, subscribers, rounds);
    std::printf("%-44s %12s %10s %8s\n", "path", "records/s", "MiB/s", "seconds");
    std::printf("%-44s %12.0f %10.1f %8.3f\n", "baseline: gateway Kafka reader, in-process",
                best_base.records_per_s(), best_base.mib_per_s(), best_base.seconds);
    std::printf("%-44s %12.0f %10.1f %8.3f\n", "subscribe: native SDK -> WebSocket -> gateway",
                best_gw.records_per_s(), best_gw.mib_per_s(), best_gw.seconds);
    std::printf("ratio subscribe/baseline: %.2f\n",
                best_gw.records_per_s() / best_base.records_per_s());
    std::filesystem::remove_all(dir);
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "kpg-bench-subscribe: " << e.what() << "\n";
    return 1;
  }
}
