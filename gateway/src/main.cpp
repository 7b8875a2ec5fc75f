// kpg-gateway: serves Kafka PubSub routes (Apache APISIX-compatible) over WebSocket.
#include "admin/admin_api.h"
#include "admin/admin_server.h"
#include "config/gateway_config.h"
#include "kafka/demo_feed.h"
#include "kafka/mock_cluster.h"
#include "kafka/rdkafka_source.h"
#include "server/admission.h"
#include "server/listener.h"
#include "server/route_manager.h"
#include "server/route_table.h"
#include "server/server_context.h"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>

#include <cstdlib>
#include <filesystem>
#include <functional>
#include <iostream>
#include <optional>
#include <thread>

namespace {

using namespace kpg;
namespace asio = boost::asio;

constexpr const char* kDemoTopic = "demo";
constexpr int kDemoPartitions = 3;

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
  std::string listen, admin_listen, data_dir, log_level, tls_cert, tls_key;
  bool embedded = false;
  int io_threads = -1;
  app.add_option("--config", flags.config_file, "YAML configuration file")
      ->check(CLI::ExistingFile);
  app.add_option("--listen", listen, "data-plane HOST:PORT (default " + defaults.listen + ")");
  app.add_option("--admin-listen", admin_listen,
                 "admin API HOST:PORT (default " + defaults.admin_listen + ")");
  app.add_option("--tls-cert", tls_cert,
                 "PEM certificate chain: serve the data plane over TLS (wss://)")
      ->check(CLI::ExistingFile);
  app.add_option("--tls-key", tls_key, "PEM private key of --tls-cert")->check(CLI::ExistingFile);
  app.add_option("--data-dir", data_dir,
                 "directory for persistent state (default " + defaults.data_dir + ")");
  app.add_flag("--embedded-kafka", embedded,
               "start an in-process Kafka-protocol cluster with a live topic '" +
                   std::string(kDemoTopic) + "' and a route /kafka to it");
  app.add_option("--log-level", log_level, "trace|debug|info|warn|error|off (default info)");
  app.add_option("--io-threads", io_threads, "I/O threads (default: one per core)");
  CLI11_PARSE(app, argc, argv);

  config::GatewayConfig& c = flags.config;
  if (!flags.config_file.empty()) config::load_yaml_file(flags.config_file, c);
  if (app.count("--listen")) c.listen = listen;
  if (app.count("--admin-listen")) c.admin_listen = admin_listen;
  if (app.count("--data-dir")) c.data_dir = data_dir;
  if (app.count("--tls-cert")) c.tls_cert_file = tls_cert;
  if (app.count("--tls-key")) c.tls_key_file = tls_key;
  if (app.count("--log-level")) c.log_level = log_level;
  if (app.count("--io-threads")) c.io_threads = io_threads;
  if (embedded) c.embedded_kafka = true;
  config::validate(c);
  return -1;
}

// Listen addresses are IP literals ("localhost" is accepted as 127.0.0.1).
std::optional<asio::ip::tcp::endpoint> to_endpoint(const std::string& host_port) {
  const auto node = config::parse_host_port(host_port, true);
  if (!node) return std::nullopt;
  boost::system::error_code ec;
  const auto address =
      asio::ip::make_address(node->host == "localhost" ? "127.0.0.1" : node->host, ec);
  if (ec) return std::nullopt;
  return asio::ip::tcp::endpoint(address, node->port);
}

// Binds `address` and starts accepting; logs why and returns nullptr when it cannot.
std::shared_ptr<server::Listener> start_listener(asio::io_context& io, const char* flag,
                                                 const std::string& address,
                                                 server::Listener::ConnectionHandler handler) {
  const auto endpoint = to_endpoint(address);
  if (!endpoint) {
    spdlog::error("event=startup_failed err=\"{} {}: expected IP:PORT\"", flag, address);
    return nullptr;
  }
  try {
    auto listener = std::make_shared<server::Listener>(io, *endpoint, std::move(handler));
    listener->start();
    return listener;
  } catch (const boost::system::system_error& e) {
    spdlog::error("event=startup_failed err=\"cannot listen on {}: {}\"", address,
                  e.code().message());
    return nullptr;
  }
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
  config::GatewayConfig& cfg = flags.config;

  auto logger = spdlog::stdout_color_mt("kpg");
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(cfg.log_level));
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e%z %^%l%$ %v");
  spdlog::flush_on(spdlog::level::info);

  std::error_code fs_error;
  std::filesystem::create_directories(cfg.data_dir, fs_error);
  if (fs_error) {
    spdlog::error("event=startup_failed err=\"cannot create data dir {}: {}\"", cfg.data_dir,
                  fs_error.message());
    return 1;
  }

  // Kafka sources are destroyed here (it blocks: their threads are joined, connections closed).
  asio::thread_pool source_reaper(1);

  std::unique_ptr<kafka::MockCluster> embedded_cluster;
  std::unique_ptr<kafka::DemoFeed> demo_feed;
  if (cfg.embedded_kafka) {
    try {
      embedded_cluster = std::make_unique<kafka::MockCluster>(1);
    } catch (const std::exception& e) {
      spdlog::error("event=startup_failed err=\"{}\"", e.what());
      return 1;
    }
    std::string error;
    if (!embedded_cluster->create_topic(kDemoTopic, kDemoPartitions, &error)) {
      spdlog::error("event=startup_failed err=\"cannot create demo topic: {}\"", error);
      return 1;
    }
    auto route = config::parse_route({{"uri", "/kafka"},
                                      {"upstream",
                                       {{"scheme", "kafka"},
                                        {"type", "none"},
                                        {"nodes", {{embedded_cluster->bootstrap(), 1}}}}}},
                                     "embedded-demo");
    cfg.routes.push_back(std::get<config::Route>(std::move(route)));
    demo_feed = std::make_unique<kafka::DemoFeed>(embedded_cluster->bootstrap(), kDemoTopic, 4.0);
    spdlog::info("event=embedded_kafka bootstrap={} topic={} partitions={}",
                 embedded_cluster->bootstrap(), kDemoTopic, kDemoPartitions);
  }

  // TLS on the data plane: loaded once at start; a bad file stops start-up with its name.
  std::optional<asio::ssl::context> tls;
  if (!cfg.tls_cert_file.empty()) {
    tls.emplace(asio::ssl::context::tls_server);
    tls->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                     asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                     asio::ssl::context::no_tlsv1_1);
    boost::system::error_code ec;
    tls->use_certificate_chain_file(cfg.tls_cert_file, ec);
    if (ec) {
      spdlog::error("event=startup_failed err=\"cannot load TLS certificate {}: {}\"",
                    cfg.tls_cert_file, ec.message());
      return 1;
    }
    tls->use_private_key_file(cfg.tls_key_file, asio::ssl::context::pem, ec);
    if (ec) {
      spdlog::error("event=startup_failed err=\"cannot load TLS key {}: {}\"", cfg.tls_key_file,
                    ec.message());
      return 1;
    }
  }

  server::ServerContext context;
  context.tls = tls ? &*tls : nullptr;
  context.pubsub_limits.fetch.max_bytes = cfg.fetch_max_bytes;
  context.pubsub_limits.fetch.max_wait = std::chrono::milliseconds(cfg.fetch_max_wait_ms);
  context.session_limits.max_frame_bytes = cfg.max_frame_bytes;
  context.session_limits.max_write_queue_bytes = cfg.max_write_queue_bytes;
  context.session_limits.max_inflight_requests = cfg.max_inflight_requests;
  context.session_limits.max_total_write_queue_bytes = cfg.max_total_write_queue_bytes;
  context.session_limits.write_timeout = std::chrono::milliseconds(cfg.write_timeout_ms);
  context.connections.limits.max_connections = static_cast<std::size_t>(cfg.max_connections);
  context.connections.limits.max_connections_per_address =
      static_cast<std::size_t>(cfg.max_connections_per_address);

  auto make_source = [&source_reaper, &cfg](const config::Route& route, std::string* error) {
    kafka::SourceOptions options;
    options.request_timeout = std::chrono::milliseconds(cfg.kafka_timeout_ms);
    options.blocking_threads = cfg.kafka_threads;
    options.read.reader_idle = std::chrono::milliseconds(cfg.kafka_reader_idle_ms);
    options.read.max_readers = static_cast<std::size_t>(cfg.kafka_max_readers);
    auto source = kafka::make_rdkafka_source(route.cluster(), source_reaper, options, error);
    if (source) {
      std::string nodes;
      for (const auto& n : route.nodes) nodes += (nodes.empty() ? "" : ",") + n.to_string();
      spdlog::info("event=kafka_client_created route={} nodes={} tls={} sasl={}", route.id, nodes,
                   route.tls.has_value(), route.sasl.has_value());
    }
    return source;
  };
  server::RouteManager routes(
      context.routes, make_source, (std::filesystem::path(cfg.data_dir) / "routes.json").string(),
      [&context](const std::string& route_id, const std::string& why) {
        spdlog::info("event=route_sessions_closing route={} reason=\"{}\"", route_id, why);
        context.sessions.close_if(
            [&route_id](const server::ClosableSession& s) { return s.route_id() == route_id; },
            1001, why);
      });
  try {
    routes.load(cfg.routes);
  } catch (const server::StoreError& e) {
    spdlog::error("event=startup_failed err=\"{}\"", e.what());
    return 1;
  }
  for (const auto& active : context.routes.get()->routes()) {
    std::string uris;
    for (const auto& u : active.route->uris) uris += (uris.empty() ? "" : ",") + u;
    spdlog::info("event=route_loaded route={} uris={}", active.route->id, uris);
  }

  bool key_generated = false;
  std::string admin_key;
  try {
    admin_key = admin::resolve_admin_key(std::getenv("KPG_ADMIN_KEY"), cfg.admin_key, cfg.data_dir,
                                         &key_generated);
  } catch (const std::exception& e) {
    spdlog::error("event=startup_failed err=\"{}\"", e.what());
    return 1;
  }
  if (key_generated) {
    // Only where it is: the output usually ends up in logs, which are not secret.
    std::cout << "kpg-gateway: generated an admin API key in "
              << (std::filesystem::path(cfg.data_dir) / "admin.key").string()
              << " (mode 0600); send its content as X-API-KEY" << std::endl;
  }
  admin::AdminApi admin_api(routes, admin_key);

  const int io_threads = cfg.io_threads > 0
                             ? cfg.io_threads
                             : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  asio::io_context io(io_threads);
  auto listener = start_listener(io, "--listen", cfg.listen, [&context](asio::ip::tcp::socket s) {
    server::admit_connection(std::move(s), context);
  });
  if (!listener) return 1;

  // The admin API runs on its own thread: its handlers do blocking work (fsync, Kafka client
  // creation) that must not stall the data plane.
  asio::io_context admin_io(1);
  auto admin_listener = start_listener(
      admin_io, "--admin-listen", cfg.admin_listen,
      [&admin_api](asio::ip::tcp::socket s) { admin::run_admin_session(std::move(s), admin_api); });
  if (!admin_listener) return 1;
  const auto admin_bound = admin_listener->local_endpoint();
  spdlog::info("event=admin_listening address={}:{}", admin_bound.address().to_string(),
               admin_bound.port());
  auto admin_guard = asio::make_work_guard(admin_io);
  std::thread admin_thread([&admin_io] { admin_io.run(); });

  const auto bound = listener->local_endpoint();
  spdlog::info("event=listening address={}:{} scheme={} routes={} io_threads={}",
               bound.address().to_string(), bound.port(), tls ? "wss" : "ws", cfg.routes.size(),
               io_threads);

  // Graceful drain: stop accepting, close sessions with 1001, exit as soon as they are gone or
  // after kDrainLimit at the latest.
  constexpr auto kDrainLimit = std::chrono::seconds(3);
  asio::signal_set signals(io, SIGINT, SIGTERM);
  asio::steady_timer drain_timer(io);
  std::chrono::steady_clock::time_point drain_deadline;
  std::function<void()> check_drained = [&] {
    if (context.sessions.size() == 0 || std::chrono::steady_clock::now() >= drain_deadline) {
      io.stop();
      return;
    }
    drain_timer.expires_after(std::chrono::milliseconds(20));
    drain_timer.async_wait([&](const boost::system::error_code&) { check_drained(); });
  };
  signals.async_wait([&](const boost::system::error_code& ec, int signal) {
    if (ec) return;
    spdlog::info("event=shutdown signal={} sessions={}", signal, context.sessions.size());
    listener->stop();
    context.sessions.close_if([](const server::ClosableSession&) { return true; }, 1001,
                              "server shutting down");
    drain_deadline = std::chrono::steady_clock::now() + kDrainLimit;
    check_drained();
  });

  std::vector<std::thread> threads;
  for (int i = 1; i < io_threads; ++i) threads.emplace_back([&io] { io.run(); });
  io.run();
  for (auto& t : threads) t.join();
  admin_guard.reset();
  admin_io.stop();
  admin_thread.join();

  context.routes.set(
      std::make_shared<const server::RouteTable>(std::vector<server::ActiveRoute>{}));
  demo_feed.reset();
  source_reaper.join();
  spdlog::info("event=stopped");
  return 0;
}
