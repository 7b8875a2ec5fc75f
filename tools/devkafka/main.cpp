// kpg-devkafka: a Kafka-protocol broker for development and integration tests (librdkafka's mock
// cluster in its own process), plus a producer to feed it.
#include "kafka/mock_cluster.h"
#include "kafka/producer.h"
#include "listen_redirect.h"

#include <CLI/CLI.hpp>

#include <csignal>
#include <iostream>
#include <optional>

namespace {

int run_mock(int brokers, const std::vector<std::string>& topics, const std::string& listen_address,
             int port) {
  // Block the signals before any thread starts so that only sigwait below receives them.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);

  if (!listen_address.empty() && !kpg::devkafka::redirect_loopback_listeners(listen_address)) {
    std::cerr << "kpg-devkafka: --listen-address must be an IPv4 loopback address\n";
    return 2;
  }
  if (port != 0 && (brokers != 1 || !kpg::devkafka::fix_first_listener_port(port))) {
    std::cerr << "kpg-devkafka: --port needs --brokers 1 and a port from 1 to 65535\n";
    return 2;
  }
  kpg::kafka::MockCluster cluster(brokers);
  for (const auto& spec : topics) {
    const auto colon = spec.rfind(':');
    std::string name = spec.substr(0, colon);
    int partitions = 1;
    if (colon != std::string::npos) {
      try {
        partitions = std::stoi(spec.substr(colon + 1));
      } catch (const std::exception&) {
        partitions = 0;
      }
    }
    if (name.empty() || partitions < 1 || partitions > 10000) {
      std::cerr << "kpg-devkafka: --topic '" << spec << "' is not NAME[:PARTITIONS]\n";
      return 2;
    }
    std::string error;
    if (!cluster.create_topic(name, partitions, &error)) {
      std::cerr << "kpg-devkafka: cannot create topic " << name << ": " << error << "\n";
      return 1;
    }
  }
  // The first line of stdout is machine-read by tests: keep its format stable.
  std::cout << "bootstrap=" << cluster.bootstrap() << std::endl;
  int signal = 0;
  sigwait(&set, &signal);
  std::cerr << "kpg-devkafka: stopping on signal " << signal << "\n";
  return 0;
}

int run_produce(const std::string& bootstrap, const std::string& topic, int partition,
                const std::optional<std::string>& key, const std::string& compression,
                const std::vector<std::string>& header_specs, std::vector<std::string> values) {
  std::vector<std::pair<std::string, std::string>> headers;
  for (const auto& spec : header_specs) {
    const auto eq = spec.find('=');
    if (eq == std::string::npos || eq == 0) {
      std::cerr << "kpg-devkafka: --header '" << spec << "' is not KEY=VALUE\n";
      return 2;
    }
    headers.emplace_back(spec.substr(0, eq), spec.substr(eq + 1));
  }
  kpg::kafka::Producer producer(bootstrap, compression);
  auto produce_one = [&](const std::string& value) {
    auto delivered = producer.produce(topic, partition, key, value, 10'000, headers);
    if (!delivered.error.empty()) {
      std::cerr << "kpg-devkafka: produce failed: " << delivered.error << "\n";
      return false;
    }
    std::cout << "partition=" << delivered.partition << " offset=" << delivered.offset << std::endl;
    return true;
  };
  if (values.empty()) {
    for (std::string line; std::getline(std::cin, line);) {
      if (!produce_one(line)) return 1;
    }
    return 0;
  }
  for (const auto& v : values) {
    if (!produce_one(v)) return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"kpg-devkafka: a Kafka-protocol broker for development and tests, and a producer.",
               "kpg-devkafka"};
  app.require_subcommand(1);

  auto* mock = app.add_subcommand(
      "mock",
      "run a mock Kafka cluster; prints 'bootstrap=HOST:PORT' and runs until SIGINT/SIGTERM");
  int brokers = 1;
  std::vector<std::string> topics;
  mock->add_option("--brokers", brokers, "number of brokers (default 1)")->check(CLI::Range(1, 16));
  mock->add_option("--topic", topics, "create topic NAME[:PARTITIONS] (repeatable)");
  std::string listen_address;
  mock->add_option("--listen-address", listen_address,
                   "listen on this loopback address (e.g. 127.0.0.2) but advertise 127.0.0.1, so a "
                   "TLS front can own 127.0.0.1:PORT");
  int port = 0;
  mock->add_option("--port", port,
                   "listen on this port instead of a random one (one broker only), so that a "
                   "restarted broker is found where the old one was");

  auto* produce = app.add_subcommand(
      "produce", "produce records (the VALUE arguments, or one per stdin line); prints offsets");
  std::string bootstrap, topic;
  int partition = -1;
  std::string key;
  std::vector<std::string> values;
  produce->add_option("--bootstrap", bootstrap, "bootstrap HOST:PORT")->required();
  produce->add_option("--topic", topic, "topic")->required();
  produce->add_option("--partition", partition, "partition (default: by key)");
  auto* key_opt = produce->add_option("--key", key, "record key (default: none)");
  std::string compression = "none";
  produce->add_option("--compression", compression, "none|gzip|snappy|lz4|zstd (default none)")
      ->check(CLI::IsMember({"none", "gzip", "snappy", "lz4", "zstd"}));
  std::vector<std::string> header_specs;
  produce
      ->add_option("--header", header_specs,
                   "add the header KEY=VALUE to every record (repeatable; the value may be empty)")
      ->allow_extra_args(false);
  produce->add_option("values", values, "record values");

  app.set_version_flag("--version", "kpg-devkafka " KPG_VERSION);
  CLI11_PARSE(app, argc, argv);
  try {
    if (*mock) return run_mock(brokers, topics, listen_address, port);
    return run_produce(bootstrap, topic, partition,
                       key_opt->count() ? std::optional<std::string>(key) : std::nullopt,
                       compression, header_specs, values);
  } catch (const std::exception& e) {
    std::cerr << "kpg-devkafka: " << e.what() << "\n";
    return 1;
  }
}
