// A real etcd server (Debian's etcd-server, v3.4) for the cluster-mode tests: its own data dir
// and loopback ports, started and stopped like the gateway. Restarting keeps the data and the
// ports, as a restarted etcd node would.
#pragma once

#include "child_process.h"

#include <gtest/gtest.h>
#include <boost/asio.hpp>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace kpg::testing {

/// A TCP port that was free a moment ago (bound to port 0, then released).
inline int free_port() {
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor acceptor(
      io, {boost::asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(0)});
  return acceptor.local_endpoint().port();
}

class EtcdProcess {
 public:
  explicit EtcdProcess(std::filesystem::path dir)
      : dir_(std::move(dir)), client_port_(free_port()), peer_port_(free_port()) {}

  /// Clients must use TLS (https://) with this certificate and key (etcd's --cert-file,
  /// --key-file); call before start().
  void use_tls(const std::string& cert_file, const std::string& key_file) {
    tls_args_ = {"--cert-file", cert_file, "--key-file", key_file};
  }

  /// Starts etcd; false (with the reason added as a test failure) when it did not get ready.
  bool start() {
    const std::string client = url();
    const std::string peer = "http://127.0.0.1:" + std::to_string(peer_port_);
    process_.reset();
    std::vector<std::string> argv{KPG_ETCD_BIN,
                                  "--name",
                                  "kpg-test",
                                  "--data-dir",
                                  (dir_ / "etcd").string(),
                                  "--listen-client-urls",
                                  client,
                                  "--advertise-client-urls",
                                  client,
                                  "--listen-peer-urls",
                                  peer,
                                  "--initial-advertise-peer-urls",
                                  peer,
                                  "--initial-cluster",
                                  "kpg-test=" + peer,
                                  "--logger",
                                  "zap",
                                  "--log-outputs",
                                  "stderr"};
    argv.insert(argv.end(), tls_args_.begin(), tls_args_.end());
    process_ = std::make_unique<ChildProcess>(argv);
    if (!process_->wait_for_line("serving client traffic", std::chrono::seconds(20))) {
      ADD_FAILURE() << "etcd did not start: " << process_->transcript();
      return false;
    }
    return true;
  }
  void stop() { process_.reset(); }

  std::string url() const {
    return (tls_args_.empty() ? "http://127.0.0.1:" : "https://127.0.0.1:") +
           std::to_string(client_port_);
  }
  int port() const { return client_port_; }

 private:
  std::filesystem::path dir_;
  int client_port_;
  int peer_port_;
  std::vector<std::string> tls_args_;
  std::unique_ptr<ChildProcess> process_;
};

}  // namespace kpg::testing
