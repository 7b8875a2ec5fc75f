// TLS from the gateway to the brokers, for real: the mock broker listens on 127.0.0.2 while
// advertising 127.0.0.1:PORT, and stunnel serves TLS on 127.0.0.1:PORT in front of it, with a
// certificate from a CA this test creates, and requires a client certificate (mutual TLS).
#include "child_process.h"
#include "gateway_process.h"
#include "kafka/producer.h"
#include "local_net.h"

#include <kpg/sdk/native_client.h>

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

namespace {

using namespace std::chrono_literals;
using kpg::testing::ChildProcess;
namespace fs = std::filesystem;

class TlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = fs::temp_directory_path() / ("kpg-tls-test-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    const std::string d = dir_.string();
    std::ofstream(dir_ / "san.cnf") << "subjectAltName=IP:127.0.0.1\n";
    ASSERT_TRUE(kpg::testing::run_quietly(
        "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=kpg-test-ca -keyout " + d +
        "/ca.key -out " + d + "/ca.pem"));
    ASSERT_TRUE(kpg::testing::run_quietly(
        "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=other-ca -keyout " + d +
        "/other.key -out " + d + "/other.pem"));
    ASSERT_TRUE(kpg::testing::run_quietly(
        "openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout " + d +
        "/server.key -out " + d + "/server.csr"));
    ASSERT_TRUE(kpg::testing::run_quietly(
        "openssl x509 -req -days 2 -in " + d + "/server.csr -CA " + d + "/ca.pem -CAkey " + d +
        "/ca.key -CAcreateserial -extfile " + d + "/san.cnf -out " + d + "/server.pem"));
    ASSERT_TRUE(kpg::testing::run_quietly(
        "openssl req -newkey rsa:2048 -nodes -subj /CN=kpg-gateway -keyout " + d +
        "/client.key -out " + d + "/client.csr"));
    ASSERT_TRUE(kpg::testing::run_quietly("openssl x509 -req -days 2 -in " + d +
                                          "/client.csr -CA " + d + "/ca.pem -CAkey " + d +
                                          "/ca.key -CAcreateserial -out " + d + "/client.pem"));

    broker_ = new ChildProcess(
        {KPG_DEVKAFKA_BIN, "mock", "--listen-address", "127.0.0.2", "--topic", "secure:1"});
    auto line = broker_->wait_for_line("bootstrap=", 15s);
    ASSERT_TRUE(line) << broker_->transcript();
    bootstrap_ = kpg::testing::field(*line, "bootstrap");  // 127.0.0.1:PORT: the TLS front
    const std::string port = bootstrap_.substr(bootstrap_.rfind(':') + 1);

    std::ofstream(dir_ / "stunnel.conf") << "foreground = yes\npid =\n[kafka]\n"
                                         << "accept = 127.0.0.1:" << port << "\n"
                                         << "connect = 127.0.0.2:" << port << "\n"
                                         << "cert = " << d << "/server.pem\n"
                                         << "key = " << d << "/server.key\n"
                                         << "CAfile = " << d << "/ca.pem\n"
                                         << "requireCert = yes\nverifyChain = yes\n";
    front_ = new ChildProcess({KPG_STUNNEL_BIN, (dir_ / "stunnel.conf").string()});
    ASSERT_TRUE(kpg::testing::wait_for_port(std::stoi(port), 15s))
        << "stunnel did not start: " << front_->transcript();

    // Records go in through the same TLS front.
    kpg::kafka::Producer producer(bootstrap_, "none",
                                  {{"security.protocol", "ssl"},
                                   {"ssl.ca.location", d + "/ca.pem"},
                                   {"ssl.certificate.location", d + "/client.pem"},
                                   {"ssl.key.location", d + "/client.key"}});
    for (int i = 0; i < 3; ++i) {
      ASSERT_EQ(producer.produce("secure", 0, "k", "secret-" + std::to_string(i)).error, "");
    }

    const std::string client_cert =
        "client_cert_file: \"" + d + "/client.pem\", client_key_file: \"" + d + "/client.key\"";
    auto route = [](const std::string& id, const std::string& tls) {
      return "  - id: " + id + "\n    uri: /" + id + "\n    upstream: {scheme: kafka, nodes: {\"" +
             bootstrap_ + "\": 1}" + (tls.empty() ? "" : ", tls: {" + tls + "}") + "}\n";
    };
    std::ofstream(dir_ / "gateway.yaml")
        << "listen: 127.0.0.1:0\nadmin_listen: 127.0.0.1:0\nadmin_key: tls-test-key-0123456\n"
        << "data_dir: " << d << "/data\nkafka_timeout_ms: 2500\nroutes:\n"
        << route("verified", "verify: true, ca_file: \"" + d + "/ca.pem\", " + client_cert)
        << route("wrong-ca", "verify: true, ca_file: \"" + d + "/other.pem\", " + client_cert)
        << route("unverified", "verify: false, " + client_cert)
        << route("no-client-cert", "verify: true, ca_file: \"" + d + "/ca.pem\"")
        << route("plaintext", "");
    gateway_ = new ChildProcess(
        {kpg::testing::gateway_binary(), "--config", (dir_ / "gateway.yaml").string()});
    auto listening = gateway_->wait_for_line("event=listening", 15s);
    ASSERT_TRUE(listening) << gateway_->transcript();
    const auto address = kpg::testing::field(*listening, "address");
    port_ = address.substr(address.rfind(':') + 1);

    // wss:// for the SDK: a TLS front (same server certificate) before the gateway's port.
    wss_port_ = kpg::testing::free_port();
    std::ofstream(dir_ / "wss.conf") << "foreground = yes\npid =\n[gateway]\n"
                                     << "accept = 127.0.0.1:" << wss_port_ << "\n"
                                     << "connect = 127.0.0.1:" << port_ << "\n"
                                     << "cert = " << d << "/server.pem\n"
                                     << "key = " << d << "/server.key\n";
    wss_front_ = new ChildProcess({KPG_STUNNEL_BIN, (dir_ / "wss.conf").string()});
    ASSERT_TRUE(kpg::testing::wait_for_port(wss_port_, 15s))
        << "stunnel did not start: " << wss_front_->transcript();
  }

  static std::string wss_url(const std::string& path) {
    return "wss://127.0.0.1:" + std::to_string(wss_port_) + path;
  }

  static void TearDownTestSuite() {
    delete wss_front_;
    delete gateway_;
    delete front_;
    delete broker_;
    fs::remove_all(dir_);
  }

  static std::string url(const std::string& path) { return "ws://127.0.0.1:" + port_ + path; }

  static inline ChildProcess* broker_ = nullptr;
  static inline ChildProcess* front_ = nullptr;
  static inline ChildProcess* gateway_ = nullptr;
  static inline ChildProcess* wss_front_ = nullptr;
  static inline int wss_port_ = 0;
  static inline std::string bootstrap_;
  static inline std::string port_;
  static inline fs::path dir_;
};

TEST_F(TlsTest, VerifiedWithTheRightCaReadsRecords) {
  kpg::sdk::NativeClient client;
  ASSERT_TRUE(client.connect(url("/verified")));
  auto latest = client.list_offsets("secure", 0, kpg::sdk::kLatest);
  ASSERT_TRUE(latest) << latest.error().message;
  EXPECT_EQ(latest.value(), 3);
  auto records = client.fetch("secure", 0, 0);
  ASSERT_TRUE(records) << records.error().message;
  ASSERT_FALSE(records.value().empty());
  EXPECT_EQ(records.value().front().value, "secret-0");
}

TEST_F(TlsTest, AWrongCaIsReportedAsARejectedCertificate) {
  kpg::sdk::NativeClient client;
  ASSERT_TRUE(client.connect(url("/wrong-ca")));
  auto r = client.list_offsets("secure", 0, kpg::sdk::kLatest);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, kpg::sdk::ErrorCode::server);
  EXPECT_NE(r.error().message.find("err: TLS certificate rejected"), std::string::npos)
      << r.error().message;
}

TEST_F(TlsTest, VerifyOffAcceptsTheCertificate) {
  kpg::sdk::NativeClient client;
  ASSERT_TRUE(client.connect(url("/unverified")));
  auto latest = client.list_offsets("secure", 0, kpg::sdk::kLatest);
  ASSERT_TRUE(latest) << latest.error().message;
  EXPECT_EQ(latest.value(), 3);
}

TEST_F(TlsTest, WithoutAClientCertificateTheBrokerRefusesTheHandshake) {
  kpg::sdk::NativeClient client;
  ASSERT_TRUE(client.connect(url("/no-client-cert")));
  auto r = client.list_offsets("secure", 0, kpg::sdk::kLatest);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, kpg::sdk::ErrorCode::server);
  EXPECT_NE(r.error().message.find("err: TLS "), std::string::npos) << r.error().message;
}

TEST_F(TlsTest, PlaintextToATlsBrokerFailsWithAnErrorNotAHang) {
  kpg::sdk::NativeClient client;
  ASSERT_TRUE(client.connect(url("/plaintext")));
  const auto started = std::chrono::steady_clock::now();
  auto r = client.list_offsets("secure", 0, kpg::sdk::kLatest);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, kpg::sdk::ErrorCode::server);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 10s);
}

// The native SDK over wss://: the gateway behind a TLS front whose certificate our test CA
// signed for 127.0.0.1.
TEST_F(TlsTest, NativeSdkOverWssVerifiesTheGatewayCertificate) {
  kpg::sdk::NativeClient client({}, {true, (dir_ / "ca.pem").string()});
  auto connected = client.connect(wss_url("/verified"));
  ASSERT_TRUE(connected) << connected.error().message;
  auto pong = client.ping("over tls");
  ASSERT_TRUE(pong) << pong.error().message;
  EXPECT_EQ(pong.value(), "over tls");
  auto records = client.fetch("secure", 0, 1);
  ASSERT_TRUE(records) << records.error().message;
  ASSERT_FALSE(records.value().empty());
  EXPECT_EQ(records.value().front().value, "secret-1");
}

TEST_F(TlsTest, NativeSdkOverWssRejectsACertificateItDoesNotTrust) {
  kpg::sdk::ClientOptions options;
  options.reconnect.enabled = false;
  kpg::sdk::NativeClient other_ca(options, {true, (dir_ / "other.pem").string()});
  auto r = other_ca.connect(wss_url("/verified"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, kpg::sdk::ErrorCode::transport);
  EXPECT_NE(r.error().message.find("certificate rejected"), std::string::npos) << r.error().message;

  kpg::sdk::NativeClient system_cas;  // the system's CAs do not know our test CA either
  auto r2 = system_cas.connect(wss_url("/verified"));
  ASSERT_FALSE(r2);
  EXPECT_NE(r2.error().message.find("certificate rejected"), std::string::npos)
      << r2.error().message;

  kpg::sdk::NativeClient missing({}, {true, (dir_ / "no-such-ca.pem").string()});
  auto r3 = missing.connect(wss_url("/verified"));
  ASSERT_FALSE(r3);
  EXPECT_NE(r3.error().message.find("cannot load CA certificates from"), std::string::npos)
      << r3.error().message;
}

TEST_F(TlsTest, NativeSdkOverWssWithVerifyOffAcceptsAnyCertificate) {
  kpg::sdk::NativeClient client({}, {false, ""});
  ASSERT_TRUE(client.connect(wss_url("/verified")));
  auto pong = client.ping("x");
  ASSERT_TRUE(pong) << pong.error().message;
}

// The gateway serving wss:// itself (--tls-cert / --tls-key), no TLS front.
TEST_F(TlsTest, GatewayServesWssWithItsOwnCertificate) {
  const std::string d = dir_.string();
  std::ofstream(dir_ / "wss-gateway.yaml")
      << "listen: 127.0.0.1:0\nadmin_listen: 127.0.0.1:0\nadmin_key: tls-test-key-0123456\n"
      << "data_dir: " << d << "/wss-data\n"
      << "tls_cert_file: " << d << "/server.pem\ntls_key_file: " << d << "/server.key\n"
      << "routes:\n  - id: verified\n    uri: /verified\n    upstream: {scheme: kafka, nodes: {\""
      << bootstrap_ << "\": 1}, tls: {verify: true, ca_file: \"" << d << "/ca.pem\", "
      << "client_cert_file: \"" << d << "/client.pem\", client_key_file: \"" << d
      << "/client.key\"}}\n";
  ChildProcess gateway(
      {kpg::testing::gateway_binary(), "--config", (dir_ / "wss-gateway.yaml").string()});
  auto listening = gateway.wait_for_line("event=listening", 15s);
  ASSERT_TRUE(listening) << gateway.transcript();
  EXPECT_EQ(kpg::testing::field(*listening, "scheme"), "wss");
  const auto address = kpg::testing::field(*listening, "address");

  kpg::sdk::NativeClient client({}, {true, d + "/ca.pem"});
  auto connected = client.connect("wss://" + address + "/verified");
  ASSERT_TRUE(connected) << connected.error().message;
  auto records = client.fetch("secure", 0, 2);
  ASSERT_TRUE(records) << records.error().message;
  ASSERT_FALSE(records.value().empty());
  EXPECT_EQ(records.value().front().value, "secret-2");

  // Plain ws:// to the TLS port fails cleanly, and the gateway keeps serving.
  kpg::sdk::ClientOptions once;
  once.reconnect.enabled = false;
  once.connect_timeout_ms = 5000;
  kpg::sdk::NativeClient plain(once);
  auto refused = plain.connect("ws://" + address + "/verified");
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, kpg::sdk::ErrorCode::transport) << refused.error().message;
  auto pong = client.ping("still here");
  ASSERT_TRUE(pong) << pong.error().message;
  EXPECT_EQ(pong.value(), "still here");
}

TEST_F(TlsTest, GatewayTlsNeedsBothCertificateAndKey) {
  ChildProcess gateway({kpg::testing::gateway_binary(), "--listen", "127.0.0.1:0", "--admin-listen",
                        "127.0.0.1:0", "--tls-cert", (dir_ / "server.pem").string()});
  auto line = gateway.wait_for_line("--tls-cert and --tls-key go together", 10s);
  EXPECT_TRUE(line) << gateway.transcript();
  EXPECT_EQ(gateway.stop(0, 5s), 2);
}

}  // namespace
