// kpg-bench-produce: produce throughput and latency through the gateway, next to a librdkafka
// producer writing straight to the same broker, in the same run:
//
//   direct     the gateway's own producer (kafka/rdkafka_sink: librdkafka, idempotent, acks=all,
//              same settings), in this process, with the same number of records in flight: what
//              librdkafka achieves on this broker with no WebSocket, protobuf or gateway;
//   gateway/1  one WebSocket connection to a real kpg-gateway process, cmd_kafka_produce
//              pipelined: --window requests in flight, a new one sent as each answer arrives;
//   gateway/N  --connections connections at once, the window split between them;
//   batched    the same over one connection (and over N) with cmd_kafka_produce_batch: --batch
//              records per request, the window counted in records as above. This is what the
//              SDK's Producer sends.
//
// Records are --size bytes of value, no key, to one partition of librdkafka's mock broker
// (in-process). Each configuration runs --rounds times, interleaved; the best round is reported.
// Latency is per record: answer (or delivery report) time - send time. Figures only: no pass/fail
// on speed (ctest runs a small --smoke round that checks every record was acknowledged once).
#include "child_process.h"
#include "config/route.h"
#include "kafka/mock_cluster.h"
#include "kafka/rdkafka_sink.h"

#include <kpg/pubsub.pb.h>

#include <netinet/tcp.h>
#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

struct Figures {
  double seconds = 0;
  std::size_t records = 0;
  std::vector<double> latency_ms;
  double records_per_s() const { return static_cast<double>(records) / seconds; }
  double percentile(double q) {
    if (latency_ms.empty()) return 0;
    std::sort(latency_ms.begin(), latency_ms.end());
    const auto i = static_cast<std::size_t>(q * static_cast<double>(latency_ms.size() - 1));
    return latency_ms[i];
  }
};

// `records` records through the gateway's producer, at most `window` unacknowledged.
Figures run_direct(const std::string& bootstrap, std::size_t records, std::size_t window,
                   std::size_t size) {
  nlohmann::json definition = {{"uri", "/d"},
                               {"upstream", {{"scheme", "kafka"}, {"nodes", {{bootstrap, 1}}}}}};
  auto route = std::get<kpg::config::Route>(kpg::config::parse_route(definition, "direct"));
  std::string error;
  auto sink = kpg::kafka::make_rdkafka_sink(route.cluster(), {}, &error);
  if (!sink) throw std::runtime_error(error);
  std::mutex mutex;
  std::condition_variable cv;
  std::size_t acked = 0;
  std::size_t failed = 0;
  Figures f;
  f.latency_ms.reserve(records);
  const std::string value(size, 'x');
  const auto start = Clock::now();
  for (std::size_t i = 0; i < records; ++i) {
    {
      std::unique_lock lock(mutex);
      cv.wait(lock, [&] { return i - acked < window; });
    }
    kpg::kafka::ProduceRecord record;
    record.topic = "bench";
    record.value = value;
    const auto sent = Clock::now();
    sink->produce(std::move(record), [&, sent](kpg::kafka::ProduceResult r) {
      const double ms = std::chrono::duration<double, std::milli>(Clock::now() - sent).count();
      std::lock_guard lock(mutex);
      ++acked;
      if (r.error) ++failed;
      f.latency_ms.push_back(ms);
      cv.notify_all();
    });
  }
  std::unique_lock lock(mutex);
  cv.wait(lock, [&] { return acked == records; });
  f.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  f.records = records;
  lock.unlock();
  sink.reset();
  if (failed) throw std::runtime_error("direct: " + std::to_string(failed) + " records failed");
  return f;
}

// One pipelined produce connection, driven by the client's io_context (one thread).
class ProduceConnection {
 public:
  ProduceConnection(asio::io_context& io, const std::string& host, const std::string& port,
                    const std::string& path, std::size_t window, std::size_t quota,
                    std::size_t batch, const std::string& value)
      : ws_(io), window_(window), quota_(quota), batch_(batch), value_(value) {
    asio::ip::tcp::resolver resolver(io);
    asio::connect(ws_.next_layer(), resolver.resolve(host, port));
    ws_.next_layer().set_option(asio::ip::tcp::no_delay(true));
    ws_.handshake(host + ":" + port, path);
    ws_.binary(true);
    kpg::pubsub::PubSubReq hello;
    hello.set_sequence(0);
    hello.mutable_cmd_hello()->set_protocol_version(1);
    ws_.write(asio::buffer(hello.SerializeAsString()));
    beast::flat_buffer buffer;
    ws_.read(buffer);
    sent_at_.resize(quota + 1);
  }

  void start() {
    read();
    fill();
  }
  bool done() const { return acked_ == quota_; }
  std::size_t errors() const { return errors_; }
  const std::vector<double>& latency() const { return latency_ms_; }
  std::string failure;

 private:
  // Sequence numbers: a request's is the number of its first record (1-based).
  void fill() {
    while (sent_ < quota_) {
      const std::size_t n = std::min(batch_, quota_ - sent_);
      if (sent_ - acked_ + n > window_ && sent_ != acked_) break;
      kpg::pubsub::PubSubReq req;
      req.set_sequence(static_cast<std::int64_t>(sent_ + 1));
      if (batch_ == 1) {
        req.mutable_cmd_kafka_produce()->set_topic("bench");
        req.mutable_cmd_kafka_produce()->set_value(value_);
      } else {
        auto* records = req.mutable_cmd_kafka_produce_batch()->mutable_records();
        records->Reserve(static_cast<int>(n));
        for (std::size_t i = 0; i < n; ++i) {
          auto* r = records->Add();
          r->set_topic("bench");
          r->set_value(value_);
        }
      }
      sent_at_[sent_ + 1] = Clock::now();
      sent_ += n;
      queue_.push_back(req.SerializeAsString());
    }
    write();
  }
  void write() {
    if (writing_ || queue_.empty()) return;
    writing_ = true;
    ws_.async_write(asio::buffer(queue_.front()), [this](beast::error_code ec, std::size_t) {
      writing_ = false;
      if (ec) {
        failure = "write: " + ec.message();
        return;
      }
      queue_.pop_front();
      write();
    });
  }
  void read() {
    ws_.async_read(buffer_, [this](beast::error_code ec, std::size_t) {
      if (ec) {
        failure = "read: " + ec.message();
        return;
      }
      kpg::pubsub::PubSubResp resp;
      const auto data = buffer_.cdata();
      if (!resp.ParseFromArray(data.data(), static_cast<int>(data.size()))) {
        failure = "undecodable answer";
        return;
      }
      buffer_.consume(buffer_.size());
      const auto seq = static_cast<std::size_t>(resp.sequence());
      std::size_t answered = 1;
      if (resp.has_kafka_produce_batch_resp()) {
        answered = static_cast<std::size_t>(resp.kafka_produce_batch_resp().results_size());
        for (const auto& r : resp.kafka_produce_batch_resp().results()) {
          if (r.has_error()) {
            ++errors_;
            if (failure.empty()) failure = r.error().message();
          }
        }
      } else if (!resp.has_kafka_produce_resp()) {
        ++errors_;
        if (failure.empty()) failure = resp.error_resp().message();
      }
      if (seq >= 1 && seq <= quota_) {
        const double ms =
            std::chrono::duration<double, std::milli>(Clock::now() - sent_at_[seq]).count();
        latency_ms_.insert(latency_ms_.end(), answered, ms);
      }
      acked_ += answered;
      if (!done()) {
        fill();
        read();
      }
    });
  }

  websocket::stream<asio::ip::tcp::socket> ws_;
  beast::flat_buffer buffer_;
  std::deque<std::string> queue_;
  bool writing_ = false;
  std::size_t window_;
  std::size_t quota_;
  std::size_t batch_;  // records per request
  const std::string& value_;
  std::size_t sent_ = 0;
  std::size_t acked_ = 0;
  std::size_t errors_ = 0;
  std::vector<Clock::time_point> sent_at_;  // by sequence
  std::vector<double> latency_ms_;
};

Figures run_gateway(const std::string& host, const std::string& port, std::size_t records,
                    std::size_t window, std::size_t size, std::size_t connections,
                    std::size_t batch) {
  asio::io_context io;
  const std::string value(size, 'x');
  std::vector<std::unique_ptr<ProduceConnection>> conns;
  const std::size_t per_window = std::max<std::size_t>(1, window / connections);
  for (std::size_t i = 0; i < connections; ++i) {
    const std::size_t quota = records / connections + (i < records % connections ? 1 : 0);
    conns.push_back(std::make_unique<ProduceConnection>(io, host, port, "/bench", per_window, quota,
                                                        std::min(batch, per_window), value));
  }
  const auto start = Clock::now();
  for (auto& c : conns) c->start();
  io.run();
  Figures f;
  f.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  f.records = records;
  for (auto& c : conns) {
    if (!c->failure.empty() || !c->done()) {
      throw std::runtime_error("gateway: " + (c->failure.empty() ? "unfinished" : c->failure) +
                               " (" + std::to_string(c->errors()) + " errors)");
    }
    f.latency_ms.insert(f.latency_ms.end(), c->latency().begin(), c->latency().end());
  }
  if (f.latency_ms.size() != records) throw std::runtime_error("gateway: answers missing");
  return f;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "kpg-bench-produce: produce through kpg-gateway (1 and N connections, pipelined) vs. "
      "librdkafka producing directly to the same broker"};
  std::size_t records = 200'000;
  std::size_t size = 100;
  std::size_t window = 1000;
  std::size_t connections = 100;
  std::size_t batch = 100;
  int rounds = 3;
  bool smoke = false;
  std::string gateway_bin =
      (std::filesystem::path(argv[0]).parent_path() / "../gateway/kpg-gateway").string();
  app.add_option("--records", records, "records per configuration and round")
      ->check(CLI::PositiveNumber);
  app.add_option("--size", size, "value bytes per record")->check(CLI::Range(1, 900'000));
  app.add_option("--window", window,
                 "records in flight (unacknowledged) in total, for every configuration")
      ->check(CLI::Range(1, 100'000));
  app.add_option("--connections", connections, "connections of the gateway/N row")
      ->check(CLI::Range(1, 1000));
  app.add_option("--batch", batch, "records per cmd_kafka_produce_batch in the batched rows")
      ->check(CLI::Range(2, 10'000));
  app.add_option("--rounds", rounds, "rounds of each (best is reported)")
      ->check(CLI::Range(1, 100));
  app.add_flag("--smoke", smoke, "a small round: 2000 records, 1 round (for ctest)");
  app.add_option("--gateway", gateway_bin, "kpg-gateway binary")->check(CLI::ExistingFile);
  app.set_version_flag("--version", "kpg-bench-produce " KPG_VERSION);
  CLI11_PARSE(app, argc, argv);
  if (smoke) {
    records = 2000;
    rounds = 1;
    connections = std::min<std::size_t>(connections, 10);
  }
  spdlog::set_level(spdlog::level::warn);

  try {
    kpg::kafka::MockCluster cluster(1);
    std::string error;
    if (!cluster.create_topic("bench", 1, &error)) throw std::runtime_error(error);

    const auto dir = std::filesystem::temp_directory_path() /
                     ("kpg-bench-produce-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    const auto config = dir / "gateway.yaml";
    // Enough requests in flight per connection for the window; no per-connection rate bound.
    std::ofstream(config) << "listen: 127.0.0.1:0\nadmin_listen: 127.0.0.1:0\n"
                          << "data_dir: " << (dir / "data").string() << "\n"
                          << "max_inflight_requests: " << std::max<std::size_t>(window, 64)
                          << "\nroutes:\n  - id: bench\n    uri: /bench\n"
                          << "    upstream: {scheme: kafka, nodes: {\"" << cluster.bootstrap()
                          << "\": 1}}\n"
                          << "    plugins: {kafka-proxy: {produce: {topics: [bench], "
                             "max_records_per_second: 0, max_inflight_bytes: 268435456}}}\n";
    kpg::testing::ChildProcess gateway(
        {gateway_bin, "--config", config.string(), "--log-level", "info"});
    auto line = gateway.wait_for_line("event=listening", 15s);
    if (!line) throw std::runtime_error("gateway did not start: " + gateway.transcript());
    // The gateway logs every connection: its output is read all along, or the pipe fills and
    // the gateway blocks on its next log line.
    std::atomic<bool> stop_draining{false};
    std::thread drain([&] {
      while (!stop_draining) gateway.read_line(200ms);
    });
    struct Join {
      std::atomic<bool>& stop;
      std::thread& thread;
      ~Join() {
        stop = true;
        thread.join();
      }
    } join{stop_draining, drain};
    const auto address = kpg::testing::field(*line, "address");
    const auto colon = address.rfind(':');
    const std::string host = address.substr(0, colon);
    const std::string port = address.substr(colon + 1);

    // Warm-up: connections and metadata on both paths.
    run_direct(cluster.bootstrap(), 100, window, size);
    run_gateway(host, port, 100, window, size, 1, 1);

    struct Row {
      std::string name;
      std::function<Figures()> run;
      Figures best = {};
    };
    const std::string n = std::to_string(connections);
    const std::string b = std::to_string(batch);
    std::vector<Row> rows{
        {"direct: librdkafka producer, in-process",
         [&] { return run_direct(cluster.bootstrap(), records, window, size); }},
        {"gateway/1: one WebSocket, a request per record",
         [&] { return run_gateway(host, port, records, window, size, 1, 1); }},
        {"gateway/" + n + ": " + n + " WebSockets, a request per record",
         [&] { return run_gateway(host, port, records, window, size, connections, 1); }},
        {"gateway/1 batched: " + b + " records per request",
         [&] { return run_gateway(host, port, records, window, size, 1, batch); }},
        {"gateway/" + n + " batched: up to " + b + " per request",
         [&] { return run_gateway(host, port, records, window, size, connections, batch); }},
    };
    for (int round = 1; round <= rounds; ++round) {
      std::printf("round %d:", round);
      for (auto& row : rows) {
        Figures now = row.run();
        std::printf(" %.0f", now.records_per_s());
        std::fflush(stdout);
        if (round == 1 || now.records_per_s() > row.best.records_per_s()) row.best = now;
      }
      std::printf(" records/s\n");
    }
    std::printf("\n%zu records x %zu B, %zu in flight, best of %d rounds\n", records, size, window,
                rounds);
    std::printf("%-52s %12s %9s %9s %8s\n", "path", "records/s", "p50 ms", "p99 ms", "ratio");
    for (auto& row : rows) {
      std::printf("%-52s %12.0f %9.2f %9.2f %8.2f\n", row.name.c_str(), row.best.records_per_s(),
                  row.best.percentile(0.50), row.best.percentile(0.99),
                  row.best.records_per_s() / rows[0].best.records_per_s());
    }
    std::filesystem::remove_all(dir);
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "kpg-bench-produce: " << e.what() << "\n";
    return 1;
  }
}
