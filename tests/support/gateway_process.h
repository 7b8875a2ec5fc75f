// Starts a kpg-gateway process on free loopback ports for a test, with a config of its own.
#pragma once

#include "child_process.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

namespace kpg::testing {

/// The gateway tests start; KPG_GATEWAY_UNDER_TEST, if set, runs the suite against another build.
inline std::string gateway_binary() {
  const char* under_test = std::getenv("KPG_GATEWAY_UNDER_TEST");
  return under_test != nullptr && *under_test != '\0' ? under_test : KPG_GATEWAY_BIN;
}

struct Gateway {
  std::unique_ptr<ChildProcess> process;
  std::string port;
  std::string admin_port;
};

/// Starts gateway_binary() with data_dir `dir`/data; `extra` YAML lines are appended to its config
/// and `wrapper` (e.g. prlimit and its arguments) runs it. Ports are empty when it did not start.
inline Gateway start_gateway(const std::filesystem::path& dir, const std::string& extra = "",
                             std::vector<std::string> wrapper = {}) {
  std::filesystem::create_directories(dir);
  const auto config = dir / "gateway.yaml";
  std::ofstream(config) << "listen: 127.0.0.1:0\nadmin_listen: 127.0.0.1:0\n"
                        << "data_dir: " << (dir / "data").string() << "\n"
                        << "kafka_timeout_ms: 2000\n"
                        << extra;
  wrapper.insert(wrapper.end(), {gateway_binary(), "--config", config.string()});
  Gateway g;
  g.process = std::make_unique<ChildProcess>(wrapper);
  auto admin = g.process->wait_for_line("event=admin_listening", std::chrono::seconds(15));
  auto data = g.process->wait_for_line("event=listening", std::chrono::seconds(15));
  if (!admin || !data) {
    ADD_FAILURE() << "gateway did not start: " << g.process->transcript();
    return g;
  }
  auto port_of = [](const std::string& line) {
    const auto address = field(line, "address");
    return address.substr(address.rfind(':') + 1);
  };
  g.admin_port = port_of(*admin);
  g.port = port_of(*data);
  return g;
}

}  // namespace kpg::testing
