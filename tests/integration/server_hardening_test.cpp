// The data plane against hostile or careless clients, on the real gateway process: names Kafka
// cannot have, pipelines deeper than the in-flight limit, clients that stop reading, more
// connections than file descriptors or limits allow, log floods and invalid close codes.
#include "child_process.h"
#include "gateway_process.h"
#include "kafka/producer.h"
#include "process_stats.h"
#include "test_clients.h"

#include <kpg/pubsub.pb.h>

#include <gtest/gtest.h>
#include <unistd.h>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include <csignal>
#include <filesystem>
#include <iostream>
#include <set>
#include <sstream>
#include <thread>

namespace {

using namespace std::chrono_literals;
using kpg::testing::ChildProcess;
using kpg::testing::cpu_time;
using kpg::testing::fetch_frame;
using kpg::testing::list_offset_frame;
using kpg::testing::ping_frame;
using kpg::testing::RawSocket;
using kpg::testing::rss_mib;
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

constexpr const char* kAdminKey = "hardening-admin-key-0123456789";

using kpg::testing::Gateway;

// Reads the process's output for `duration` (so that it never blocks on a full pipe) and returns
// how many lines seen so far contain every one of `needles`.
std::size_t count_lines(ChildProcess& process, std::chrono::milliseconds duration,
                        const std::vector<std::string>& needles) {
  const auto end = std::chrono::steady_clock::now() + duration;
  while (std::chrono::steady_clock::now() < end) process.read_line(10ms);
  std::istringstream lines(process.transcript());
  std::size_t count = 0;
  for (std::string line; std::getline(lines, line);) {
    bool all = true;
    for (const auto& n : needles) all = all && line.find(n) != std::string::npos;
    count += all ? 1 : 0;
  }
  return count;
}

// One keep-alive HTTP connection from a chosen loopback source address (127.0.0.2, ...), so that
// per-address limits can be exercised from one machine.
class HttpConnection {
 public:
  HttpConnection(const std::string& port, const std::string& source) : stream_(io_) {
    stream_.socket().open(asio::ip::tcp::v4());
    stream_.socket().bind({asio::ip::make_address(source), 0});
    stream_.connect(
        {asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(std::stoi(port))});
  }
  /// GET `target`; returns the status (0 when the connection failed) and sets `body`.
  int get(const std::string& target, std::string* body = nullptr) {
    http::request<http::string_body> req(http::verb::get, target, 11);
    req.set(http::field::host, "127.0.0.1");
    beast::error_code ec;
    stream_.expires_after(5s);
    http::write(stream_, req, ec);
    if (ec) return 0;
    http::response<http::string_body> res;
    http::read(stream_, buffer_, res, ec);
    if (ec) return 0;
    if (body) *body = res.body();
    return static_cast<int>(res.result_int());
  }

 private:
  asio::io_context io_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
};

class ServerHardening : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    broker_ = new ChildProcess(
        {KPG_DEVKAFKA_BIN, "mock", "--topic", "orders:1", "--topic", "tail:1", "--topic", "big:1"});
    auto line = broker_->wait_for_line("bootstrap=", 15s);
    ASSERT_TRUE(line) << broker_->transcript();
    bootstrap_ = kpg::testing::field(*line, "bootstrap");
    kpg::kafka::Producer producer(bootstrap_);
    for (int i = 0; i < 3; ++i) {
      ASSERT_EQ(producer.produce("orders", 0, std::nullopt, "v" + std::to_string(i)).error, "");
    }
  }
  static void TearDownTestSuite() { delete broker_; }

  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("kpg-hardening-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Starts kpg-gateway with route "mock" on /kafka and `extra` config lines; `wrapper` runs it
  // (e.g. prlimit).
  Gateway start(const std::string& extra, std::vector<std::string> wrapper = {}) {
    return kpg::testing::start_gateway(
        dir_,
        std::string("admin_key: ") + kAdminKey + "\n" + extra + "routes:\n  - id: mock\n" +
            "    uri: /kafka\n    upstream: {scheme: kafka, nodes: {\"" + bootstrap_ + "\": 1}}\n",
        std::move(wrapper));
  }

  static inline ChildProcess* broker_ = nullptr;
  static inline std::string bootstrap_;
  std::filesystem::path dir_;
};

TEST_F(ServerHardening, TopicNamesKafkaCannotHaveAreRefusedAndTheGatewayStaysHealthy) {
  auto gw = start("");
  ASSERT_FALSE(gw.port.empty());
  RawSocket bad(gw.port);
  const std::vector<std::string> names = {std::string(600, 'a'), std::string(40'000, 'b'),
                                          std::string("many\0x", 6), "a/b", ""};
  std::int64_t seq = 0;
  for (const auto& name : names) {
    for (const bool fetch : {true, false}) {
      ++seq;
      bad.send_binary(fetch ? fetch_frame(seq, name, 0, 0) : list_offset_frame(seq, name, 0, -1));
      auto resp = bad.receive();
      ASSERT_TRUE(resp) << "connection lost after a topic of " << name.size() << " bytes";
      ASSERT_TRUE(resp->has_error_resp());
      EXPECT_EQ(resp->sequence(), seq);
      const std::string& message = resp->error_resp().message();
      EXPECT_EQ(
          message.rfind(
              fetch ? "failed to fetch message, topic: " : "failed to list offset, topic: ", 0),
          0u)
          << message;
      EXPECT_NE(message.find(", partition: 0, err: invalid topic name"), std::string::npos)
          << message;
      EXPECT_LT(message.size(), 300u) << "the reply must not echo the whole name";
    }
  }
  bad.send_binary(fetch_frame(++seq, "orders", -1, 0));
  auto negative = bad.receive();
  ASSERT_TRUE(negative && negative->has_error_resp());
  EXPECT_EQ(negative->error_resp().message(),
            "failed to fetch message, topic: orders, partition: -1, err: invalid partition");

  // The route still serves everyone, and "many" is not an alias of what was sent above.
  RawSocket good(gw.port);
  good.send_binary(fetch_frame(1, "orders", 0, 0));
  auto records = good.receive();
  ASSERT_TRUE(records && records->has_kafka_fetch_resp()) << gw.process->transcript();
  ASSERT_GE(records->kafka_fetch_resp().messages_size(), 1);
  EXPECT_EQ(records->kafka_fetch_resp().messages(0).value(), "v0");
  good.send_binary(list_offset_frame(2, "many", 0, -1));
  auto many = good.receive();
  ASSERT_TRUE(many && many->has_error_resp());
  EXPECT_EQ(many->error_resp().message(),
            "failed to list offset, topic: many, partition: 0, err: not found topic");

  // The config file's route cannot be replaced through the admin API (it belongs to the file);
  // an admin route to the same cluster shares its Kafka client. Then a clean stop.
  const nlohmann::json route = {
      {"uri", "/other"},
      {"upstream", {{"scheme", "kafka"}, {"type", "none"}, {"nodes", {{bootstrap_, 1}}}}}};
  auto refused =
      kpg::testing::http_request(gw.admin_port, http::verb::put, "/apisix/admin/routes/mock",
                                 std::string(kAdminKey), route.dump());
  EXPECT_EQ(refused.status, 400) << refused.body;
  auto put =
      kpg::testing::http_request(gw.admin_port, http::verb::put, "/apisix/admin/routes/other",
                                 std::string(kAdminKey), route.dump());
  EXPECT_EQ(put.status, 201) << put.body;
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(gw.process->stop(SIGTERM, 5s), 0) << gw.process->transcript();
}

TEST_F(ServerHardening, TwoHundredPipelinedFetchesOnOneConnectionAreAllAnswered) {
  // Deeper than max_inflight_requests (64): reading pauses, the session lives on and every
  // request is answered. Half of them wait fetch_max_wait_ms at the end of an empty partition.
  auto gw = start("");
  ASSERT_FALSE(gw.port.empty());
  RawSocket ws(gw.port);
  constexpr int kRequests = 200;
  for (int i = 1; i <= kRequests; ++i) {
    ws.send_binary(i % 2 ? fetch_frame(i, "tail", 0, 0) : fetch_frame(i, "orders", 0, 0));
  }
  std::set<std::int64_t> answered;
  for (int i = 0; i < kRequests; ++i) {
    auto resp = ws.receive();
    ASSERT_TRUE(resp) << "after " << answered.size() << " replies the connection closed, code "
                      << ws.close_code() << ": " << gw.process->transcript();
    EXPECT_FALSE(resp->has_error_resp()) << resp->error_resp().message();
    answered.insert(resp->sequence());
  }
  EXPECT_EQ(answered.size(), static_cast<std::size_t>(kRequests));
  ws.send_binary(ping_frame(999, "still here"));
  auto pong = ws.receive();
  ASSERT_TRUE(pong && pong->has_pong_resp());
}

TEST_F(ServerHardening, ClientsThatStopReadingAreClosedWithAReasonWhileOthersAreServed) {
  // Each stalled client asks for 20 MiB of replies (pongs of 512 KiB) and never reads. Per-client
  // queues (64 MiB) would hold them all; the gateway-wide cap (16 MiB) and the write timeout must
  // not.
  const std::string kState(512 * 1024, 's');
  auto gw = start(
      "max_write_queue_bytes: 67108864\n"
      "max_total_write_queue_bytes: 16777216\nwrite_timeout_ms: 1500\n");
  ASSERT_FALSE(gw.port.empty());
  const int pid = gw.process->pid();
  constexpr int kStalled = 5;
  std::vector<std::unique_ptr<RawSocket>> stalled;
  for (int c = 0; c < kStalled; ++c) {
    stalled.push_back(std::make_unique<RawSocket>(gw.port));
    try {
      for (int i = 0; i < 40; ++i) stalled.back()->send_binary(ping_frame(i, kState));
    } catch (const std::exception&) {
      // The gateway stopped reading this client (closing it) before it sent everything.
    }
  }
  RawSocket bystander(gw.port);
  long peak_rss = 0;
  std::size_t closed = 0;
  int served = 0;
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (std::chrono::steady_clock::now() < deadline) {
    bystander.send_binary(fetch_frame(++served, "orders", 0, 0));
    auto resp = bystander.receive();
    ASSERT_TRUE(resp && resp->has_kafka_fetch_resp())
        << "the bystander was not served (request " << served << "): " << gw.process->transcript();
    peak_rss = std::max(peak_rss, rss_mib(pid));
    count_lines(*gw.process, 100ms, {});
    std::set<std::string> clients;  // closed for reading too slowly, each counted once
    std::istringstream lines(gw.process->transcript());
    for (std::string line; std::getline(lines, line);) {
      if (line.find("client reads too slowly") != std::string::npos ||
          line.find("event=write_timeout") != std::string::npos) {
        clients.insert(kpg::testing::field(line, "client"));
      }
    }
    closed = clients.size();
    if (closed >= kStalled && served >= 20) break;
  }
  EXPECT_GE(closed, static_cast<std::size_t>(kStalled)) << gw.process->transcript();
  if (!kpg::testing::kSanitized) {
    EXPECT_LT(peak_rss, 80) << "MiB resident while clients stalled";
  }
  std::cout << "stalled clients closed: " << closed << ", bystander requests: " << served
            << ", peak RSS " << peak_rss << " MiB\n";
}

TEST_F(ServerHardening, OutOfFileDescriptorsTheAcceptLoopBacksOffAndRecovers) {
  if (kpg::testing::kSanitized)
    GTEST_SKIP() << "the sanitizer runtime needs descriptors of its own";
  auto gw = start("", {"/usr/bin/prlimit", "--nofile=64:64", "--"});
  ASSERT_FALSE(gw.port.empty());
  const int pid = gw.process->pid();
  asio::io_context io;
  std::vector<asio::ip::tcp::socket> clients;
  const asio::ip::tcp::endpoint gateway(asio::ip::make_address("127.0.0.1"),
                                        static_cast<unsigned short>(std::stoi(gw.port)));
  for (int i = 0; i < 150; ++i) {
    clients.emplace_back(io);
    clients.back().connect(gateway);  // completes in the kernel backlog even when not accepted
  }
  count_lines(*gw.process, 500ms, {});
  const auto cpu_before = cpu_time(pid);
  const std::size_t errors_before = count_lines(*gw.process, 0ms, {"event=accept_error"});
  const std::size_t errors = count_lines(*gw.process, 3s, {"event=accept_error"}) - errors_before;
  const auto cpu = cpu_time(pid) - cpu_before;
  EXPECT_GE(count_lines(*gw.process, 0ms, {"event=accept_error", "Too many open files"}), 1u)
      << "the test did not exhaust the descriptors";
  EXPECT_LE(errors, 6u) << "accept_error lines in 3 s";
  EXPECT_LT(cpu, 600ms) << "CPU time in 3 s while out of descriptors";

  clients.clear();
  int status = 0;
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (status != 404 && std::chrono::steady_clock::now() < deadline) {
    try {
      status = kpg::testing::http_request(gw.port, http::verb::get, "/nothing").status;
    } catch (const std::exception&) {
      std::this_thread::sleep_for(100ms);
    }
  }
  EXPECT_EQ(status, 404) << "the gateway did not serve again after the clients left";
}

TEST_F(ServerHardening, ConnectionLimitsAnswer503AndFreedPlacesAreReused) {
  auto gw = start("max_connections: 3\nmax_connections_per_address: 2\n");
  ASSERT_FALSE(gw.port.empty());
  std::string body;
  auto a1 = std::make_unique<HttpConnection>(gw.port, "127.0.0.1");
  EXPECT_EQ(a1->get("/x"), 404);
  HttpConnection a2(gw.port, "127.0.0.1");
  EXPECT_EQ(a2.get("/x"), 404);
  EXPECT_EQ(HttpConnection(gw.port, "127.0.0.1").get("/x", &body), 503);
  EXPECT_EQ(body, "too many connections from your address\n");
  HttpConnection b1(gw.port, "127.0.0.2");
  EXPECT_EQ(b1.get("/x"), 404);
  EXPECT_EQ(HttpConnection(gw.port, "127.0.0.3").get("/x", &body), 503);
  EXPECT_EQ(body, "the server is at its connection limit\n");

  // A burst of refusals from one address: one log line (per second), not one per connection.
  for (int i = 0; i < 30; ++i) EXPECT_EQ(HttpConnection(gw.port, "127.0.0.4").get("/x"), 503);
  EXPECT_LE(count_lines(*gw.process, 200ms, {"event=connection_refused", "client=127.0.0.4"}), 2u);

  a1.reset();  // its place is given back when the gateway sees it close
  int status = 0;
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (status != 404 && std::chrono::steady_clock::now() < deadline) {
    status = HttpConnection(gw.port, "127.0.0.1").get("/x");
    if (status != 404) std::this_thread::sleep_for(50ms);
  }
  EXPECT_EQ(status, 404);
}

TEST_F(ServerHardening, TextFramesAreLoggedOncePerIntervalNotPerFrame) {
  auto gw = start("");
  ASSERT_FALSE(gw.port.empty());
  RawSocket ws(gw.port);
  for (int i = 0; i < 300; ++i) ws.send_text("hello");
  ws.send_binary(ping_frame(1, "after"));
  auto pong = ws.receive();
  ASSERT_TRUE(pong && pong->has_pong_resp());
  EXPECT_LE(count_lines(*gw.process, 200ms, {"event=text_frame_skipped"}), 2u);
}

TEST_F(ServerHardening, UndefinedCloseCodesFailTheConnectionInsteadOfBeingEchoed) {
  auto gw = start("");
  ASSERT_FALSE(gw.port.empty());
  RawSocket invalid(gw.port);
  EXPECT_TRUE(invalid.close(5000)) << "the gateway answered close code 5000 with a close frame";
  EXPECT_NE(invalid.close_code(), 5000);
  RawSocket valid(gw.port);
  EXPECT_FALSE(valid.close(4000));
  EXPECT_EQ(valid.close_code(), 4000);
  EXPECT_EQ(count_lines(*gw.process, 200ms, {"event=disconnect", "invalid close code 5000"}), 1u)
      << gw.process->transcript();
}

}  // namespace
