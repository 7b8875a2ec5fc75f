// kpg-gateway: serves Kafka PubSub routes (Apache APISIX-compatible) over WebSocket.
// main() parses flags and sets up logging; the Gateway (gateway.h) builds and runs the rest.
#include "config/gateway_config.h"
#include "gateway.h"
#include "server/log_format.h"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include <iostream>
#include <string>

namespace {

using namespace kpg;

struct Flags {
  std::string config_file;
  config::GatewayConfig config;
};

int parse_flags(int argc, char** argv, Flags& flags) {
  CLI::App app{
      "kpg-gateway: Kafka PubSub gateway. Serves Apache APISIX-compatible PubSub routes over "
      "WebSocket.\nSettings come from defaults, then --config FILE (YAML, keys as the long flag "
      "names with '_' for '-', plus `routes`), then flags.",
      "kpg-gateway"};
  app.get_formatter()->column_width(36);
  config::GatewayConfig defaults;
  std::string listen, admin_listen, status_listen, data_dir, log_level, log_format, tls_cert,
      tls_key;
  bool embedded = false;
  int io_threads = -1;
  app.add_option("--config", flags.config_file, "YAML configuration file")
      ->check(CLI::ExistingFile);
  app.add_option("--listen", listen, "data-plane HOST:PORT (default " + defaults.listen + ")");
  app.add_option("--admin-listen", admin_listen,
                 "admin API HOST:PORT (default " + defaults.admin_listen + ")");
  app.add_option("--status-listen", status_listen,
                 "HOST:PORT serving only /metrics, /healthz and /readyz (plain HTTP)");
  app.add_option("--tls-cert", tls_cert,
                 "PEM certificate chain: serve the data plane over TLS (wss://)")
      ->check(CLI::ExistingFile);
  app.add_option("--tls-key", tls_key, "PEM private key of --tls-cert")->check(CLI::ExistingFile);
  app.add_option("--data-dir", data_dir,
                 "directory for persistent state (default " + defaults.data_dir + ")");
  app.add_flag("--embedded-kafka", embedded,
               "start an in-process Kafka-protocol cluster with a live topic '" +
                   std::string(app::kDemoTopic) + "' and a route /kafka to it");
  app.add_option("--log-level", log_level, "trace|debug|info|warn|error|off (default info)");
  app.add_option("--log-format", log_format,
                 "text|json: key=value lines, or one JSON object per line (default text)");
  app.add_option("--io-threads", io_threads, "I/O threads (default: one per core)");
  app.set_version_flag("--version", "kpg-gateway " KPG_VERSION);
  CLI11_PARSE(app, argc, argv);

  config::GatewayConfig& c = flags.config;
  if (!flags.config_file.empty()) config::load_yaml_file(flags.config_file, c);
  if (app.count("--listen")) c.listen = listen;
  if (app.count("--admin-listen")) c.admin_listen = admin_listen;
  if (app.count("--status-listen")) c.status_listen = status_listen;
  if (app.count("--data-dir")) c.data_dir = data_dir;
  if (app.count("--tls-cert")) c.tls_cert_file = tls_cert;
  if (app.count("--tls-key")) c.tls_key_file = tls_key;
  if (app.count("--log-level")) c.log_level = log_level;
  if (app.count("--log-format")) c.log_format = log_format;
  if (app.count("--io-threads")) c.io_threads = io_threads;
  if (embedded) c.embedded_kafka = true;
  config::validate(c);
  return -1;
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags;
  try {
    if (int rc = parse_flags(argc, argv, flags); rc >= 0) return rc;
  } catch (const config::ConfigError& e) {
    std::cerr << "kpg-gateway: " << e.what() << "\n";
    return 2;
  }

  auto logger = spdlog::stdout_color_mt("kpg");
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(flags.config.log_level));
  if (flags.config.log_format == "json") {
    spdlog::set_formatter(server::make_json_log_formatter());
  } else {
    spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e%z %^%l%$ %v");
  }
  spdlog::flush_on(spdlog::level::info);

  std::unique_ptr<app::Gateway> gateway;
  try {
    gateway = app::Gateway::start(std::move(flags.config));
  } catch (const app::StartupError& e) {
    spdlog::error("event=startup_failed err=\"{}\"", e.what());
    return 1;
  }
  const int rc = gateway->run();
  gateway.reset();  // releases everything (see gateway.h), then logs event=stopped
  return rc;
}
