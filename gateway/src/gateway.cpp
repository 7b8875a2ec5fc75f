#include "gateway.h"

#include "admin/admin_api.h"
#include "admin/admin_server.h"
#include "kafka/demo_feed.h"
#include "kafka/mock_cluster.h"
#include "kafka/rdkafka_group.h"
#include "kafka/rdkafka_sink.h"
#include "kafka/rdkafka_source.h"
#include "pubsub/frames.h"
#include "server/admission.h"
#include "server/cluster_sync.h"
#include "server/consumer_manager.h"
#include "server/listener.h"
#include "server/metrics.h"
#include "server/route_manager.h"
#include "server/route_table.h"
#include "server/server_context.h"

#include <spdlog/spdlog.h>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <thread>
#include <vector>

namespace kpg::app {

namespace asio = boost::asio;

namespace {

constexpr int kDemoPartitions = 3;
// The demo's "current state" topic: the latest state of a few devices, with deletions; the web
// demo reads it with a snapshot subscription.
constexpr const char* kDeviceStateTopic = "device-state";
// Graceful drain: stop accepting, close sessions with 1001, exit as soon as they are gone or
// after kDrainLimit at the latest.
constexpr auto kDrainLimit = std::chrono::seconds(3);
constexpr auto kDrainPoll = std::chrono::milliseconds(20);

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

// Binds `address` and starts accepting. Throws StartupError naming the flag or the address.
std::shared_ptr<server::Listener> start_listener(
    asio::io_context& io, const char* flag, const std::string& address,
    server::Listener::ConnectionHandler handler,
    std::vector<asio::io_context*> session_contexts = {}) {
  const auto endpoint = to_endpoint(address);
  if (!endpoint) throw StartupError(fmt::format("{} {}: expected IP:PORT", flag, address));
  try {
    auto listener = std::make_shared<server::Listener>(io, *endpoint, std::move(handler),
                                                       std::move(session_contexts));
    listener->start();
    return listener;
  } catch (const boost::system::system_error& e) {
    throw StartupError(fmt::format("cannot listen on {}: {}", address, e.code().message()));
  }
}

asio::ssl::context load_tls(const std::string& cert_file, const std::string& key_file) {
  asio::ssl::context tls(asio::ssl::context::tls_server);
  tls.set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                  asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                  asio::ssl::context::no_tlsv1_1);
  boost::system::error_code ec;
  tls.use_certificate_chain_file(cert_file, ec);
  if (ec) {
    throw StartupError(fmt::format("cannot load TLS certificate {}: {}", cert_file, ec.message()));
  }
  tls.use_private_key_file(key_file, asio::ssl::context::pem, ec);
  if (ec) throw StartupError(fmt::format("cannot load TLS key {}: {}", key_file, ec.message()));
  return tls;
}

std::string joined(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : ",") + item;
  return out;
}

// Counts the Kafka sources not yet destroyed: the drain waits for them and release() reports any
// left.
struct SourceCount {
  std::atomic<long> alive{0};
};

// Holds one Kafka client (a source or a sink) for the route table and sessions. The last of them
// lets go of it, which hands it to the reaper; the count drops on the reaper too, after the
// client's destruction (the reaper has one thread), so a client handed over after the reaper was
// joined stays counted.
template <class Client>
struct Counted {
  Counted(std::shared_ptr<Client> c, asio::thread_pool& r, std::shared_ptr<SourceCount> n)
      : client(std::move(c)), reaper(r), count(std::move(n)) {
    ++count->alive;
  }
  ~Counted() {
    client.reset();
    asio::post(reaper, [count = std::move(count)] { --count->alive; });
  }
  Counted(const Counted&) = delete;
  Counted& operator=(const Counted&) = delete;
  std::shared_ptr<Client> client;
  asio::thread_pool& reaper;  // outlives every client (make_rdkafka_source's contract)
  std::shared_ptr<SourceCount> count;
};

}  // namespace

// Members in construction order (see gateway.h); release() takes them down explicitly.
struct Gateway::Parts {
  config::GatewayConfig config;
  // First: sessions, Kafka sources and the admin thread report to it until release() ends.
  std::unique_ptr<server::Metrics> metrics;
  std::unique_ptr<kafka::MockCluster> embedded_cluster;
  std::unique_ptr<kafka::DemoFeed> demo_feed;
  std::unique_ptr<kafka::DemoFeed> device_feed;
  std::unique_ptr<asio::thread_pool> source_reaper;
  // Consumer-group members (each on its own thread); released after the sessions.
  std::unique_ptr<kafka::GroupService> groups;
  // Shared with every Counted Kafka client, which may outlive the gateway when one leaks.
  std::shared_ptr<SourceCount> sources = std::make_shared<SourceCount>();
  std::optional<asio::ssl::context> tls;
  std::unique_ptr<server::ServerContext> context;
  std::unique_ptr<server::RouteManager> routes;
  std::unique_ptr<server::ConsumerManager> consumers;
  // Cluster mode only: the routes and consumers live in etcd, followed by cluster_sync.
  std::unique_ptr<store::EtcdClient> etcd;
  std::unique_ptr<server::ClusterSync> cluster_sync;
  std::unique_ptr<admin::AdminApi> admin_api;
  int io_threads = 1;
  // The data plane: one io context per thread, each connection on one of them. `io` (run by
  // the thread that calls run()) also runs the listener, signals and the drain; `more_io` are the
  // other threads'. One shared context would make every thread contend for its one queue.
  std::unique_ptr<asio::io_context> io;
  std::vector<std::unique_ptr<asio::io_context>> more_io;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> more_io_guards;
  std::unique_ptr<asio::io_context> admin_io;
  std::shared_ptr<server::Listener> listener;
  std::shared_ptr<server::Listener> admin_listener;
  std::shared_ptr<server::Listener> status_listener;  // status_listen, on the admin thread
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> admin_guard;
  std::thread admin_thread;
  std::unique_ptr<asio::signal_set> signals;
  std::unique_ptr<asio::steady_timer> drain_timer;
  bool started = false;  // start() completed: release() ends with event=stopped
  // Drain state: check_drained runs as one chain (begin_drain, then drain_timer), so it never
  // overlaps itself; table_emptied is read again by release() after the io threads are joined.
  std::atomic<bool> draining{false};  // stop() may race a signal
  bool table_emptied = false;
  std::chrono::steady_clock::time_point drain_deadline;

  void start_embedded_kafka();
  std::shared_ptr<kafka::RecordSource> make_source(const config::Route& route, std::string* error);
  std::shared_ptr<kafka::RecordSink> make_sink(const config::Route& route, std::string* error);
  void start_routes();
  void start_admin_api();
  void start_listeners();
  void begin_drain(int signal);
  void check_drained();
  void empty_route_table();
  void release();
  void stop_more_io() {
    more_io_guards.clear();
    for (auto& other : more_io) other->stop();
  }
};

void Gateway::Parts::start_embedded_kafka() {
  try {
    embedded_cluster = std::make_unique<kafka::MockCluster>(1);
  } catch (const std::exception& e) {
    throw StartupError(e.what());
  }
  std::string error;
  if (!embedded_cluster->create_topic(kDemoTopic, kDemoPartitions, &error) ||
      !embedded_cluster->create_topic(kDeviceStateTopic, kDemoPartitions, &error)) {
    throw StartupError("cannot create demo topic: " + error);
  }
  auto route = config::parse_route(
      {{"uri", "/kafka"},
       {"upstream",
        {{"scheme", "kafka"}, {"type", "none"}, {"nodes", {{embedded_cluster->bootstrap(), 1}}}}},
       // The demo's produce panel writes to the demo topic (and nowhere else).
       {"plugins", {{"kafka-proxy", {{"produce", {{"topics", {kDemoTopic}}}}}}}}},
      "embedded-demo");
  config.routes.push_back(std::get<config::Route>(std::move(route)));
  demo_feed = std::make_unique<kafka::DemoFeed>(embedded_cluster->bootstrap(), kDemoTopic, 4.0);
  device_feed = std::make_unique<kafka::DemoFeed>(embedded_cluster->bootstrap(), kDeviceStateTopic,
                                                  1.0, kafka::DemoFeed::Kind::device_state);
  spdlog::info("event=embedded_kafka bootstrap={} topic={} partitions={}",
               embedded_cluster->bootstrap(), kDemoTopic, kDemoPartitions);
}

std::shared_ptr<kafka::RecordSource> Gateway::Parts::make_source(const config::Route& route,
                                                                 std::string* error) {
  kafka::SourceOptions options;
  options.request_timeout = std::chrono::milliseconds(config.kafka_timeout_ms);
  options.blocking_threads = config.kafka_threads;
  options.read.reader_idle = std::chrono::milliseconds(config.kafka_reader_idle_ms);
  // A Kafka connection left without cursors is closed after the same idle time: closing it is
  // what hands its buffers back.
  options.read.lane_idle = options.read.reader_idle;
  options.read.max_readers = static_cast<std::size_t>(config.kafka_max_readers);
  options.read.max_waiting = static_cast<std::size_t>(config.kafka_max_queued_requests);
  // Push frames and fetch replies of connections that said hello carry headers.
  options.read.observer = metrics.get();
  options.read.encoder = [](const std::vector<kafka::Record>& records) {
    return pubsub::encode_messages(records, /*with_headers=*/true);
  };
  auto cluster = route.cluster();
  cluster.fetch_wait_ms = config.kafka_fetch_wait_ms;
  auto source = kafka::make_rdkafka_source(cluster, *source_reaper, options, error);
  if (!source) return nullptr;
  std::vector<std::string> nodes;
  for (const auto& n : route.nodes) nodes.push_back(n.to_string());
  spdlog::info("event=kafka_client_created route={} nodes={} tls={} sasl={}", route.id,
               joined(nodes), route.tls.has_value(), route.sasl.has_value());
  auto counted =
      std::make_shared<Counted<kafka::RecordSource>>(std::move(source), *source_reaper, sources);
  return std::shared_ptr<kafka::RecordSource>(counted, counted->client.get());
}

std::shared_ptr<kafka::RecordSink> Gateway::Parts::make_sink(const config::Route& route,
                                                             std::string* error) {
  kafka::SinkOptions options;
  options.delivery_timeout = std::chrono::milliseconds(config.kafka_produce_timeout_ms);
  std::shared_ptr<kafka::RecordSink> sink =
      kafka::make_rdkafka_sink(route.cluster(), options, error);
  if (!sink) return nullptr;
  spdlog::info("event=kafka_producer_created route={}", route.id);
  // Destroying the producer flushes it (blocking): on the reaper, like a source.
  std::shared_ptr<kafka::RecordSink> reaped(
      sink.get(), [sink, reaper = source_reaper.get()](kafka::RecordSink*) mutable {
        asio::post(*reaper, [sink = std::move(sink)]() mutable { sink.reset(); });
      });
  auto counted =
      std::make_shared<Counted<kafka::RecordSink>>(std::move(reaped), *source_reaper, sources);
  return std::shared_ptr<kafka::RecordSink>(counted, counted->client.get());
}

void Gateway::Parts::start_routes() {
  // In cluster mode etcd replaces the data dir's stores (an empty path: nothing is written).
  const bool cluster = config.etcd.enabled();
  const auto store_path = [&](const char* name) {
    return cluster ? std::string() : (std::filesystem::path(config.data_dir) / name).string();
  };
  routes = std::make_unique<server::RouteManager>(
      context->routes,
      [this](const config::Route& route, std::string* error) { return make_source(route, error); },
      store_path("routes.json"),
      [this](const std::string& route_id, const std::string& why) {
        spdlog::info("event=route_sessions_closing route={} reason=\"{}\"", route_id, why);
        context->sessions.close_if(
            [&route_id](const server::ClosableSession& s) { return s.route_id() == route_id; },
            1001, why);
      },
      [this](const config::Route& route, std::string* error) { return make_sink(route, error); });
  consumers = std::make_unique<server::ConsumerManager>(
      context->consumers, store_path("consumers.json"),
      [this](const std::string& username, const std::string& why) {
        spdlog::info("event=consumer_sessions_closing consumer={} reason=\"{}\"", username, why);
        context->sessions.close_if(
            [&username](const server::ClosableSession& s) { return s.consumer() == username; },
            1008, why);
      });
  try {
    if (cluster) {
      etcd = std::make_unique<store::EtcdClient>(config.etcd);
      cluster_sync = std::make_unique<server::ClusterSync>(*etcd, *routes, *consumers);
    }
    routes->load(config.routes);
    consumers->load();
    if (cluster_sync) {
      cluster_sync->load();
      metrics->set_config_revision(cluster_sync->revision());
      cluster_sync->on_status([m = metrics.get()](bool up, std::int64_t revision) {
        m->set_config_store_up(up);
        m->set_config_revision(revision);
      });
      cluster_sync->start();
    }
  } catch (const server::StoreError& e) {
    throw StartupError(e.what());
  } catch (const std::runtime_error& e) {  // the etcd client's TLS settings
    throw StartupError(e.what());
  }
  for (const auto& active : context->routes.get()->routes()) {
    spdlog::info("event=route_loaded route={} uris={}", active.route->id,
                 joined(active.route->uris));
    metrics->route(active.route->id);  // its series start at 0 before its first session
  }
}

void Gateway::Parts::start_admin_api() {
  bool key_generated = false;
  std::string admin_key;
  try {
    admin_key = admin::resolve_admin_key(std::getenv("KPG_ADMIN_KEY"), config.admin_key,
                                         config.data_dir, &key_generated);
  } catch (const std::exception& e) {
    throw StartupError(e.what());
  }
  if (key_generated) {
    // Only where it is: the output usually ends up in logs, which are not secret.
    spdlog::warn("generated an admin API key in {} (mode 0600); send its content as X-API-KEY",
                 (std::filesystem::path(config.data_dir) / "admin.key").string());
  }
  admin_api = std::make_unique<admin::AdminApi>(*routes, *consumers, admin_key);
}

void Gateway::Parts::start_listeners() {
  io_threads = config.io_threads > 0
                   ? config.io_threads
                   : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  io = std::make_unique<asio::io_context>(1);
  std::vector<asio::io_context*> session_contexts{io.get()};
  for (int i = 1; i < io_threads; ++i) {
    more_io.push_back(std::make_unique<asio::io_context>(1));
    more_io_guards.push_back(asio::make_work_guard(*more_io.back()));
    session_contexts.push_back(more_io.back().get());
  }
  listener = start_listener(
      *io, "--listen", config.listen,
      [this](asio::ip::tcp::socket s) { server::admit_connection(std::move(s), *context); },
      std::move(session_contexts));
  metrics->readiness.listening = true;

  // The admin API runs on its own thread: its handlers do blocking work (fsync, Kafka client
  // creation) that must not stall the data plane.
  admin_io = std::make_unique<asio::io_context>(1);
  admin_listener = start_listener(
      *admin_io, "--admin-listen", config.admin_listen, [this](asio::ip::tcp::socket s) {
        admin::run_admin_session(std::move(s), admin_api.get(), *metrics);
      });
  const auto admin_bound = admin_listener->local_endpoint();
  spdlog::info("event=admin_listening address={}:{}", admin_bound.address().to_string(),
               admin_bound.port());
  // Named to requests for /apisix/admin/ on the data port; set before any is served (run()).
  context->admin_listen =
      admin_bound.address().is_v6()
          ? fmt::format("[{}]:{}", admin_bound.address().to_string(), admin_bound.port())
          : fmt::format("{}:{}", admin_bound.address().to_string(), admin_bound.port());
  if (!config.status_listen.empty()) {
    status_listener = start_listener(*admin_io, "--status-listen", config.status_listen,
                                     [this](asio::ip::tcp::socket s) {
                                       admin::run_admin_session(std::move(s), nullptr, *metrics);
                                     });
    const auto bound = status_listener->local_endpoint();
    spdlog::info("event=status_listening address={}:{}", bound.address().to_string(), bound.port());
  }
  admin_guard.emplace(asio::make_work_guard(*admin_io));
  admin_thread = std::thread([io = admin_io.get()] { io->run(); });

  // Signals are caught from here on: one arriving before run() starts the drain at once.
  signals = std::make_unique<asio::signal_set>(*io, SIGINT, SIGTERM);
  signals->async_wait([this](const boost::system::error_code& ec, int signal) {
    if (!ec) begin_drain(signal);
  });
  drain_timer = std::make_unique<asio::steady_timer>(*io);

  const auto bound = listener->local_endpoint();
  spdlog::info("event=listening address={}:{} scheme={} routes={} io_threads={}",
               bound.address().to_string(), bound.port(), tls ? "wss" : "ws", config.routes.size(),
               io_threads);
}

void Gateway::Parts::begin_drain(int signal) {
  if (draining.exchange(true)) return;
  metrics->readiness.draining = true;
  spdlog::info("event=shutdown signal={} sessions={}", signal, context->sessions.size());
  listener->stop();
  context->draining = true;
  context->sessions.close_if([](const server::ClosableSession&) { return true; }, 1001,
                             "server shutting down");
  drain_deadline = std::chrono::steady_clock::now() + kDrainLimit;
  check_drained();
}

// Once the sessions are gone, the route table lets go of its sources; then waits (until the
// deadline) for requests still in the Kafka layer to complete, which releases the last sessions
// and with them the sources, so that they are destroyed on the reaper at release.
void Gateway::Parts::check_drained() {
  if (std::chrono::steady_clock::now() >= drain_deadline) {
    io->stop();
    return;
  }
  if (context->sessions.size() == 0) {
    if (!table_emptied) empty_route_table();
    if (sources->alive.load() == 0) {
      io->stop();
      return;
    }
  }
  drain_timer->expires_after(kDrainPoll);
  drain_timer->async_wait([this](const boost::system::error_code&) { check_drained(); });
}

void Gateway::Parts::empty_route_table() {
  table_emptied = true;
  context->routes.set(
      std::make_shared<const server::RouteTable>(std::vector<server::ActiveRoute>{}));
}

void Gateway::Parts::release() {
  // No more changes from etcd: they would close sessions being taken down.
  if (cluster_sync) cluster_sync->stop();
  // The admin API first: a request in progress may be creating sources with the route manager.
  if (admin_thread.joinable()) {
    admin_guard.reset();
    admin_io->stop();
    admin_thread.join();
  }
  if (io) io->stop();  // run() has returned, or never ran: no thread runs it now
  stop_more_io();
  signals.reset();
  drain_timer.reset();
  listener.reset();
  admin_listener.reset();
  status_listener.reset();
  if (context && !table_emptied) empty_route_table();
  // Destroying an io context destroys the handlers it still holds: sessions stuck past the drain
  // go with them, and the Kafka sources they hold are handed to the reaper.
  more_io.clear();
  io.reset();
  admin_io.reset();
  admin_api.reset();
  cluster_sync.reset();
  etcd.reset();
  consumers.reset();
  routes.reset();
  if (metrics) metrics->read_snapshot_bytes_from(nullptr);  // it reads the context's budget
  context.reset();
  groups.reset();  // waits until every member has left its group
  tls.reset();
  if (source_reaper) {
    source_reaper->join();
    source_reaper.reset();
  }
  if (const long left = sources->alive.load(); left != 0) {
    spdlog::warn("event=kafka_sources_leaked count={}", left);
  }
  demo_feed.reset();
  device_feed.reset();
  embedded_cluster.reset();
  if (started) spdlog::info("event=stopped");
}

Gateway::Gateway() : parts_(std::make_unique<Parts>()) {}

std::unique_ptr<Gateway> Gateway::start(config::GatewayConfig config) {
  // Constructed empty, then built step by step: a step that throws leaves ~Gateway to release
  // what the steps before it built, in the documented order.
  std::unique_ptr<Gateway> gateway(new Gateway());
  Parts& p = *gateway->parts_;
  p.config = std::move(config);

  std::error_code fs_error;
  std::filesystem::create_directories(p.config.data_dir, fs_error);
  if (fs_error) {
    throw StartupError(
        fmt::format("cannot create data dir {}: {}", p.config.data_dir, fs_error.message()));
  }
  p.metrics = std::make_unique<server::Metrics>(KPG_VERSION);
  if (p.config.embedded_kafka) p.start_embedded_kafka();
  p.source_reaper = std::make_unique<asio::thread_pool>(1);
  // TLS on the data plane: loaded once at start; a bad file stops start-up with its name.
  if (!p.config.tls_cert_file.empty()) {
    p.tls.emplace(load_tls(p.config.tls_cert_file, p.config.tls_key_file));
  }

  p.context = std::make_unique<server::ServerContext>();
  server::ServerContext& context = *p.context;
  const config::GatewayConfig& cfg = p.config;
  // Each member is a Kafka client with its own threads: bounded for the whole gateway.
  constexpr std::size_t kMaxGroupMembers = 1000;
  p.groups = kafka::make_rdkafka_group_service(kMaxGroupMembers,
                                               std::chrono::milliseconds(cfg.kafka_timeout_ms));
  context.groups = p.groups.get();
  context.tls = p.tls ? &*p.tls : nullptr;
  context.metrics = p.metrics.get();
  context.pubsub_limits.fetch.max_bytes = cfg.fetch_max_bytes;
  context.pubsub_limits.fetch.max_wait = std::chrono::milliseconds(cfg.fetch_max_wait_ms);
  context.pubsub_limits.max_subscriptions = static_cast<std::uint32_t>(cfg.max_subscriptions);
  context.pubsub_limits.max_credit = static_cast<std::uint32_t>(cfg.max_credit);
  context.pubsub_limits.max_snapshot_bytes = static_cast<std::uint32_t>(cfg.max_snapshot_bytes);
  context.snapshot_memory.set_limit(cfg.max_total_snapshot_bytes);
  p.metrics->read_snapshot_bytes_from(
      [&budget = context.snapshot_memory] { return budget.used(); });
  context.pubsub_limits.max_frame_bytes = static_cast<std::uint32_t>(cfg.max_frame_bytes);
  context.pubsub_limits.max_inflight_requests =
      static_cast<std::uint32_t>(cfg.max_inflight_requests);
  context.server_name = "kpg-gateway/" KPG_VERSION;
  context.session_limits.max_frame_bytes = cfg.max_frame_bytes;
  context.session_limits.max_write_queue_bytes = cfg.max_write_queue_bytes;
  context.session_limits.max_inflight_requests = cfg.max_inflight_requests;
  context.session_limits.max_total_write_queue_bytes = cfg.max_total_write_queue_bytes;
  context.session_limits.write_timeout = std::chrono::milliseconds(cfg.write_timeout_ms);
  context.session_limits.handshake_timeout = std::chrono::milliseconds(cfg.handshake_timeout_ms);
  context.pubsub_limits.max_requests_per_second =
      static_cast<std::uint32_t>(cfg.max_requests_per_second);
  context.connections.limits.max_connections = static_cast<std::size_t>(cfg.max_connections);
  context.connections.limits.max_connections_per_address =
      static_cast<std::size_t>(cfg.max_connections_per_address);
  // Validated with the rest of the configuration.
  context.trusted_proxies =
      std::get<config::TrustedProxies>(config::TrustedProxies::parse(cfg.trusted_proxies));

  p.start_routes();
  p.metrics->readiness.config_loaded = true;
  p.start_admin_api();
  p.start_listeners();
  p.started = true;
  return gateway;
}

int Gateway::run() {
  Parts& p = *parts_;
  std::vector<std::thread> threads;
  for (auto& other : p.more_io) threads.emplace_back([io = other.get()] { io->run(); });
  p.io->run();
  // The drain is over (its sessions are gone) or past its deadline: the other threads stop too.
  p.stop_more_io();
  for (auto& t : threads) t.join();
  return 0;
}

void Gateway::stop() {
  asio::post(*parts_->io, [p = parts_.get()] { p->begin_drain(0); });
}

Gateway::~Gateway() {
  parts_->release();
}

}  // namespace kpg::app
