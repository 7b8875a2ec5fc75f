// Gateway settings: defaults, then a YAML file (--config), then command-line flags.
// The YAML keys are the long flag names with '-' written as '_' (listen, admin_listen, ...)
// plus `routes`, a list of APISIX-shaped route objects each with an `id`.
#pragma once

#include "config/etcd_config.h"
#include "config/route.h"

#include <cstddef>
#include <stdexcept>
#include <string>
#include <vector>

namespace YAML {
class Node;
}

namespace kpg::config {

struct GatewayConfig {
  std::string listen = "0.0.0.0:9080";
  std::string admin_listen = "127.0.0.1:9180";
  /// Serves only /metrics, /healthz and /readyz (plain HTTP); empty: none (the admin listener
  /// serves them anyway).
  std::string status_listen;
  /// TLS on the data plane (wss://): a PEM certificate chain and its private key, both or none.
  std::string tls_cert_file;
  std::string tls_key_file;
  std::string data_dir = "kpg-data";
  bool embedded_kafka = false;
  std::string log_level = "info";
  std::string admin_key;  ///< empty: KPG_ADMIN_KEY, else a generated key in data_dir/admin.key
  int io_threads = 0;     ///< 0 = one per core
  int kafka_threads = 2;  ///< threads for blocking librdkafka calls, per Kafka cluster
  std::size_t max_frame_bytes = 1024 * 1024;
  std::size_t fetch_max_bytes = 1024 * 1024;
  int fetch_max_wait_ms = 100;
  std::size_t max_write_queue_bytes = 16 * 1024 * 1024;         ///< per connection
  std::size_t max_total_write_queue_bytes = 256 * 1024 * 1024;  ///< all connections together
  int write_timeout_ms = 30'000;  ///< a reply the client takes no byte of for this long closes it
  int max_inflight_requests = 64;
  int max_connections = 10'000;             ///< data-plane connections; beyond: HTTP 503
  int max_connections_per_address = 1'000;  ///< from one client IP address; beyond: HTTP 503
  /// From accept to the WebSocket upgrade (TLS handshake and HTTP request included): a client
  /// that has not upgraded by then is disconnected.
  int handshake_timeout_ms = 10'000;
  /// Requests one connection may make per second (a burst of as many is allowed); beyond, the
  /// request is refused with LIMIT_EXCEEDED. Credit frames are not counted. 0: no bound.
  int max_requests_per_second = 1'000;
  int kafka_timeout_ms = 2500;  ///< metadata / offset look-ups give up after this
  /// A produced record not acknowledged within this time (retries included) fails as
  /// UNAVAILABLE, telling whether it may have been written.
  int kafka_produce_timeout_ms = 10'000;
  int kafka_reader_idle_ms = 30'000;  ///< a partition cursor nobody used this long is released
  int kafka_fetch_wait_ms = 50;       ///< librdkafka fetch.wait.max.ms of the gateway's reads
  int kafka_max_readers = 256;        ///< partition cursors per Kafka cluster (memory bound)
  int max_subscriptions = 64;         ///< push subscriptions per connection
  int max_credit = 1024;              ///< outstanding frames of one push subscription
  /// Latest-record bytes one connection's snapshots (start SNAPSHOT) hold at a time; beyond it
  /// the subscription ends with LIMIT_EXCEEDED.
  std::size_t max_snapshot_bytes = 64 * 1024 * 1024;
  /// ... and all connections' snapshots together; the snapshot that goes past it ends with
  /// OVERLOADED (the others go on).
  std::size_t max_total_snapshot_bytes = 512 * 1024 * 1024;
  /// Requests per Kafka cluster queued for a look-up or a cursor; beyond: "gateway busy". Each
  /// APISIX fetch-loop client keeps one queued, so this bounds how many such clients are served.
  int kafka_max_queued_requests = 4096;
  std::vector<Route> routes;
  /// Cluster mode: routes and consumers in etcd instead of data_dir (see etcd_config.h).
  EtcdConfig etcd;
  /// text: "event=... key=value" lines; json: one JSON object per line (see server/log_format.h).
  std::string log_format = "text";
  /// CIDRs of proxies whose X-Forwarded-For / X-Real-IP name the client; empty: none is trusted.
  std::vector<std::string> trusted_proxies;
};

struct ConfigError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// Reads `path` over `config`. Throws ConfigError naming the file, the key and the problem.
void load_yaml_file(const std::string& path, GatewayConfig& config);
/// The same for a document in memory; `origin` stands for the file name in error messages.
void load_yaml_string(const std::string& text, const std::string& origin, GatewayConfig& config);

/// Checks value ranges and host:port syntax. Throws ConfigError.
void validate(const GatewayConfig& config);

}  // namespace kpg::config
