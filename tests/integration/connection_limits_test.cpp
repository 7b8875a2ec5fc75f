// Per-connection limits on the real gateway process: the handshake deadline (a client that has
// not upgraded in time is disconnected, however it trickles bytes, and its connection slot is
// given back) and the bound on requests per second (refused with LIMIT_EXCEEDED, or APISIX's
// code 0 before hello, without closing; allowed again once the allowance refills).
#include "child_process.h"
#include "gateway_process.h"
#include "test_clients.h"

#include <kpg/pubsub.pb.h>

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace {

using namespace std::chrono_literals;
using kpg::pubsub::ErrorCode;
using kpg::pubsub::PubSubReq;
using kpg::pubsub::PubSubResp;
using kpg::testing::ping_frame;
using kpg::testing::RawSocket;
namespace asio = boost::asio;

class ConnectionLimits : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("kpg-limits-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // A gateway with `extra` config lines and one route on /kafka. Pings never reach Kafka, so the
  // route's broker is an address nothing listens on.
  kpg::testing::Gateway start(const std::string& extra) {
    return kpg::testing::start_gateway(
        dir_, "admin_key: limits-admin-key-0123456789\n" + extra +
                  "routes:\n  - id: r\n    uri: /kafka\n"
                  "    upstream: {scheme: kafka, nodes: {\"127.0.0.1:1\": 1}}\n");
  }

  // A TCP connection with a receive timeout, for clients that never finish their upgrade.
  struct Tcp {
    asio::io_context io;
    asio::ip::tcp::socket socket{io};
    explicit Tcp(const std::string& port) {
      asio::ip::tcp::resolver resolver(io);
      asio::connect(socket, resolver.resolve("127.0.0.1", port));
      timeval timeout{10, 0};
      ::setsockopt(socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    }
    // Blocks until the gateway closes the connection (true) or 10 s pass with nothing read
    // (false). Plain recv(), which SO_RCVTIMEO bounds (Asio's blocking read would wait again).
    bool wait_closed() {
      char byte;
      for (;;) {
        const auto n = ::recv(socket.native_handle(), &byte, 1, 0);
        if (n == 0) return true;
        if (n < 0) return errno == ECONNRESET;
      }
    }
  };

  static PubSubResp ask(RawSocket& ws, const std::string& frame) {
    ws.send_binary(frame);
    auto resp = ws.receive();
    EXPECT_TRUE(resp) << "no answer";
    return resp.value_or(PubSubResp{});
  }
  static std::string hello_frame() {
    PubSubReq req;
    req.set_sequence(1);
    req.mutable_cmd_hello()->set_protocol_version(1);
    return req.SerializeAsString();
  }

  std::filesystem::path dir_;
};

TEST_F(ConnectionLimits, AClientThatSendsNothingIsDisconnectedAtTheHandshakeDeadline) {
  auto gw = start("handshake_timeout_ms: 600\n");
  ASSERT_FALSE(gw.port.empty());
  Tcp idle(gw.port);
  const auto opened = std::chrono::steady_clock::now();
  ASSERT_TRUE(idle.wait_closed());
  const auto after = std::chrono::steady_clock::now() - opened;
  EXPECT_GE(after, 500ms);
  EXPECT_LE(after, 3s);
}

TEST_F(ConnectionLimits, TricklingBytesDoesNotExtendTheHandshakeDeadline) {
  auto gw = start("handshake_timeout_ms: 800\n");
  ASSERT_FALSE(gw.port.empty());
  Tcp slow(gw.port);
  const auto opened = std::chrono::steady_clock::now();
  // A byte every 100 ms of a request that never ends: each byte would renew a per-read timer.
  std::thread writer([&slow] {
    const std::string header = "GET /kafka HTTP/1.1\r\nHost: x\r\nX-Slow: ";
    boost::system::error_code ec;
    asio::write(slow.socket, asio::buffer(header), ec);
    for (int i = 0; i < 60 && !ec; ++i) {
      asio::write(slow.socket, asio::buffer("a", 1), ec);
      std::this_thread::sleep_for(100ms);
    }
  });
  const bool closed = slow.wait_closed();
  const auto after = std::chrono::steady_clock::now() - opened;
  writer.join();
  ASSERT_TRUE(closed);
  EXPECT_LE(after, 3s) << "the deadline was renewed by the bytes";
}

TEST_F(ConnectionLimits, AHandshakeTimeoutGivesItsConnectionSlotBack) {
  auto gw = start("handshake_timeout_ms: 500\nmax_connections_per_address: 1\n");
  ASSERT_FALSE(gw.port.empty());
  {
    Tcp idle(gw.port);
    // While it holds the only slot of 127.0.0.1, an upgrade is refused with 503...
    EXPECT_EQ(kpg::testing::http_request(gw.port, boost::beast::http::verb::get, "/kafka").status,
              503);
    ASSERT_TRUE(idle.wait_closed());
  }
  // ...and once the deadline has closed it, the next client is served.
  RawSocket ws(gw.port);
  const auto pong = ask(ws, ping_frame(1, "after"));
  EXPECT_TRUE(pong.has_pong_resp());
}

TEST_F(ConnectionLimits, UpgradedConnectionsAreNotBoundByTheHandshakeDeadline) {
  auto gw = start("handshake_timeout_ms: 300\n");
  ASSERT_FALSE(gw.port.empty());
  RawSocket ws(gw.port);
  std::this_thread::sleep_for(800ms);
  EXPECT_TRUE(ask(ws, ping_frame(1, "still here")).has_pong_resp());
}

TEST_F(ConnectionLimits, RequestsBeyondThePerSecondBoundAreRefusedThenServedAgain) {
  auto gw = start("max_requests_per_second: 5\n");
  ASSERT_FALSE(gw.port.empty());
  RawSocket ws(gw.port);
  auto hello = ask(ws, hello_frame());
  ASSERT_TRUE(hello.has_hello_resp()) << hello.ShortDebugString();
  EXPECT_EQ(hello.hello_resp().limits().max_requests_per_second(), 5u);
  // hello took one of the five: four pings pass, the fifth is refused.
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(ask(ws, ping_frame(2 + i, "p")).has_pong_resp()) << i;
  auto refused = ask(ws, ping_frame(9, "p"));
  EXPECT_EQ(refused.sequence(), 9);
  EXPECT_EQ(refused.error_resp().code(), ErrorCode::LIMIT_EXCEEDED);
  EXPECT_EQ(refused.error_resp().message(),
            "too many requests: more than 5 per second on this connection");
  // The connection stays open; a second later the allowance has refilled.
  std::this_thread::sleep_for(1100ms);
  EXPECT_TRUE(ask(ws, ping_frame(10, "again")).has_pong_resp());

  // Another connection has its own allowance.
  RawSocket other(gw.port);
  EXPECT_TRUE(ask(other, ping_frame(1, "other")).has_pong_resp());
}

TEST_F(ConnectionLimits, ApisixClientsAreRefusedInApisixShapeAndLoggedOncePerSecond) {
  auto gw = start("max_requests_per_second: 3\n");
  ASSERT_FALSE(gw.port.empty());
  RawSocket ws(gw.port);
  int refused = 0;
  for (int i = 0; i < 50; ++i) {
    const auto resp = ask(ws, ping_frame(i, "p"));
    if (resp.has_error_resp()) {
      ++refused;
      EXPECT_EQ(resp.error_resp().code(), 0) << "APISIX clients get code 0";
      EXPECT_EQ(resp.error_resp().message(),
                "too many requests: more than 3 per second on this connection");
    }
  }
  EXPECT_GE(refused, 40);
  // Fifty refusals in well under a second: one log line (or two across a second's boundary).
  std::this_thread::sleep_for(200ms);
  while (gw.process->read_line(10ms)) {
  }
  std::istringstream lines(gw.process->transcript());
  int logged = 0;
  for (std::string line; std::getline(lines, line);) {
    if (line.find("event=request_rate_limited") != std::string::npos) {
      ++logged;
      EXPECT_NE(line.find("limit_per_second=3"), std::string::npos) << line;
    }
  }
  EXPECT_GE(logged, 1);
  EXPECT_LE(logged, 2);
}

TEST_F(ConnectionLimits, OutOfRangeSettingsStopStartUpNamingTheKey) {
  std::filesystem::create_directories(dir_);
  const auto path = (dir_ / "gateway.yaml").string();
  for (const auto& [setting, message] : std::vector<std::pair<std::string, std::string>>{
           {"handshake_timeout_ms: 10", "handshake_timeout_ms: 10 is outside 100..600000"},
           {"max_requests_per_second: -1", "max_requests_per_second: -1 is outside 0..1000000"}}) {
    std::ofstream(path) << setting << "\n";
    kpg::testing::ChildProcess gateway({kpg::testing::gateway_binary(), "--config", path});
    const auto line = gateway.wait_for_line(setting.substr(0, setting.find(':')), 10s);
    ASSERT_TRUE(line) << gateway.transcript();
    EXPECT_NE(line->find(message), std::string::npos) << *line;
    EXPECT_EQ(gateway.stop(0, 10s), 2) << gateway.transcript();
  }
}

}  // namespace
