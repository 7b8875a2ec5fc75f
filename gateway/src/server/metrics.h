// The gateway's Prometheus metrics (prometheus-cpp's registry) and its health state. One Metrics
// object, made by the composition root, is handed to what counts: sessions (through ServerContext),
// the Kafka read path (as its kafka::Observer) and the admin API. The admin listener serves them
// as /metrics, /healthz and /readyz (admin/status_endpoints.h).
//
// Label values are bounded: routes come from the configuration, topics are those a route's
// subscriptions name (checked against the route's topic ACL and Kafka), the rest are fixed sets.
// Nothing a client chooses freely (its address, a sequence number) is a label.
//
// Cost on the data plane: counters are atomics; each route's are looked up once (RouteMetrics)
// and sessions hold references to them. Consumer lag takes a route-wide lock once per batch.
#pragma once

#include "kafka/observer.h"
#include "pubsub/observer.h"

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>

namespace prometheus {
class Counter;
class Gauge;
class Histogram;
class Registry;
}  // namespace prometheus

namespace kpg::server {

/// Why a session was closed for reading too slowly.
enum class SlowClose { write_timeout, queue_overflow, total_queue_full };
inline constexpr std::size_t kSlowCloseCount = 3;
const char* slow_close_name(SlowClose why);

/// The `reason` label of a refused upgrade (or plain request) on the data port, from the HTTP
/// status it was answered with: 400 bad_request, 401 unauthorized, 403 forbidden, 404
/// not_found, 429 and 503 limit, anything else other.
const char* refusal_reason(int status);
/// Every value refusal_reason() gives, plus connection_limit (the gateway's max_connections)
/// and handshake_timeout.
inline constexpr std::array<const char*, 8> kRefusalReasons{
    "bad_request", "unauthorized",     "forbidden",         "not_found",
    "limit",       "connection_limit", "handshake_timeout", "other"};

/// One route's series. Thread-safe: sessions on every I/O thread share it.
class RouteMetrics final : public pubsub::ConnectionObserver {
 public:
  struct Families;
  RouteMetrics(const std::string& route_id, Families& families);
  ~RouteMetrics() override;
  RouteMetrics(const RouteMetrics&) = delete;
  RouteMetrics& operator=(const RouteMetrics&) = delete;

  void connection_opened();
  void connection_closed();
  void slow_client_closed(SlowClose why);

  void command(pubsub::Command command, bool ok) override;
  void delivered(std::size_t records, std::size_t bytes, bool push) override;
  void credit_stall() override;
  void lag(const void* subscription, const std::string& topic, std::int32_t partition,
           std::int64_t lag) override;
  void subscription_ended(const void* subscription) override;

 private:
  struct Lag {
    prometheus::Gauge* gauge = nullptr;
    std::map<const void*, std::int64_t> by_subscription;
  };
  std::string route_id_;
  Families& families_;
  prometheus::Gauge& connections_;
  std::array<std::array<prometheus::Counter*, 2>, pubsub::kCommandCount> commands_{};
  prometheus::Counter& records_push_;
  prometheus::Counter& records_fetch_;
  prometheus::Counter& bytes_push_;
  prometheus::Counter& bytes_fetch_;
  prometheus::Counter& push_frames_;
  prometheus::Counter& credit_stalls_;
  std::array<prometheus::Counter*, kSlowCloseCount> slow_closes_{};
  std::mutex lag_mutex_;
  std::map<std::pair<std::string, std::int32_t>, Lag> lag_;  // (topic, partition)
};

/// What /readyz reports. Set by the composition root; read from the admin thread.
struct Readiness {
  std::atomic<bool> config_loaded{false};
  std::atomic<bool> listening{false};
  std::atomic<bool> draining{false};
  /// Empty when ready; otherwise what is not, one line each.
  std::string not_ready() const;
};

class Metrics final : public kafka::Observer {
 public:
  explicit Metrics(std::string_view version);
  ~Metrics() override;
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  /// The series of route `route_id`, made on first use and kept (a route deleted and created
  /// again continues its counters). Thread-safe.
  std::shared_ptr<RouteMetrics> route(const std::string& route_id);

  /// A request on the data port refused before any session (see kRefusalReasons).
  void handshake_refused(std::string_view reason);

  // kafka::Observer
  void request_done(kafka::Request request, std::chrono::steady_clock::duration took,
                    std::optional<kafka::ErrorKind> error) override;
  void read_error(kafka::ErrorKind error) override;

  /// Where routes and consumers are stored: reachable (1) or not (0). The file store is always
  /// up; a store on a network service sets it as its connection comes and goes.
  void set_config_store_up(bool up);
  /// The revision of the configuration applied last. The file store counts the admin API's
  /// changes applied since start; a versioned store sets its own revision.
  void set_config_revision(std::int64_t revision);
  /// One admin API change applied (the file store's revision; ignored once a versioned store
  /// has set its own).
  void config_changed();

  /// Where kpg_snapshot_bytes is read, when the series are scraped (the budget lives in the
  /// protocol layer, which knows nothing of metrics). Thread-safe; `source` must be callable from
  /// any thread until it is replaced.
  void read_snapshot_bytes_from(std::function<std::size_t()> source);

  /// The Prometheus text exposition (version 0.0.4) of every series.
  std::string text() const;

  Readiness readiness;

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<RouteMetrics::Families> families_;
  std::array<prometheus::Counter*, kRefusalReasons.size()> refusals_{};
  std::array<prometheus::Histogram*, 4> request_seconds_{};
  std::array<prometheus::Counter*, 8> kafka_errors_{};
  prometheus::Gauge* store_up_ = nullptr;
  prometheus::Gauge* revision_ = nullptr;
  prometheus::Gauge* snapshot_bytes_ = nullptr;
  mutable std::mutex sources_mutex_;
  std::function<std::size_t()> snapshot_bytes_source_;
  std::atomic<bool> versioned_store_{false};
  std::mutex routes_mutex_;
  std::map<std::string, std::shared_ptr<RouteMetrics>, std::less<>> routes_;
};

}  // namespace kpg::server
