#include "server/metrics.h"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <algorithm>

namespace kpg::server {

namespace pm = prometheus;

namespace {

constexpr std::array<kafka::Request, 4> kRequests{
    kafka::Request::metadata, kafka::Request::watermarks, kafka::Request::offset_for_time,
    kafka::Request::position};
constexpr std::array<kafka::ErrorKind, 8> kErrorKinds{kafka::ErrorKind::unknown_topic,
                                                      kafka::ErrorKind::unknown_partition,
                                                      kafka::ErrorKind::offset_out_of_range,
                                                      kafka::ErrorKind::unreachable,
                                                      kafka::ErrorKind::rejected,
                                                      kafka::ErrorKind::invalid_request,
                                                      kafka::ErrorKind::overloaded,
                                                      kafka::ErrorKind::other};

template <class Array, class Value>
std::size_t index_of(const Array& values, const Value& value) {
  return static_cast<std::size_t>(std::find(values.begin(), values.end(), value) - values.begin());
}

}  // namespace

const char* slow_close_name(SlowClose why) {
  switch (why) {
    case SlowClose::write_timeout: return "write_timeout";
    case SlowClose::queue_overflow: return "queue_overflow";
    case SlowClose::total_queue_full: return "total_queue_full";
  }
  return "write_timeout";
}

const char* refusal_reason(int status) {
  switch (status) {
    case 400: return "bad_request";
    case 401: return "unauthorized";
    case 403: return "forbidden";
    case 404: return "not_found";
    case 429:
    case 503: return "limit";
    default: return "other";
  }
}

std::string Readiness::not_ready() const {
  std::string out;
  if (draining.load()) out += "draining: the gateway is shutting down\n";
  if (!config_loaded.load()) out += "config: not loaded yet\n";
  if (!listening.load()) out += "listeners: the data-plane listener is not up yet\n";
  return out;
}

// The families every RouteMetrics adds its series to (registered once, in Metrics).
struct RouteMetrics::Families {
  pm::Family<pm::Gauge>& connections;
  pm::Family<pm::Counter>& commands;
  pm::Family<pm::Counter>& records;
  pm::Family<pm::Counter>& bytes;
  pm::Family<pm::Counter>& push_frames;
  pm::Family<pm::Counter>& credit_stalls;
  pm::Family<pm::Counter>& slow_closes;
  pm::Family<pm::Gauge>& lag;
};

RouteMetrics::RouteMetrics(const std::string& route_id, Families& families)
    : route_id_(route_id),
      families_(families),
      connections_(families.connections.Add({{"route", route_id}})),
      records_push_(families.records.Add({{"route", route_id}, {"mode", "push"}})),
      records_fetch_(families.records.Add({{"route", route_id}, {"mode", "fetch"}})),
      bytes_push_(families.bytes.Add({{"route", route_id}, {"mode", "push"}})),
      bytes_fetch_(families.bytes.Add({{"route", route_id}, {"mode", "fetch"}})),
      push_frames_(families.push_frames.Add({{"route", route_id}})),
      credit_stalls_(families.credit_stalls.Add({{"route", route_id}})) {
  for (std::size_t c = 0; c < pubsub::kCommandCount; ++c) {
    const char* name = pubsub::command_name(static_cast<pubsub::Command>(c));
    commands_[c][0] =
        &families.commands.Add({{"route", route_id}, {"command", name}, {"outcome", "error"}});
    commands_[c][1] =
        &families.commands.Add({{"route", route_id}, {"command", name}, {"outcome", "ok"}});
  }
  for (std::size_t i = 0; i < kSlowCloseCount; ++i) {
    slow_closes_[i] = &families.slow_closes.Add(
        {{"route", route_id}, {"reason", slow_close_name(static_cast<SlowClose>(i))}});
  }
}

RouteMetrics::~RouteMetrics() = default;

void RouteMetrics::connection_opened() {
  connections_.Increment();
}
void RouteMetrics::connection_closed() {
  connections_.Decrement();
}
void RouteMetrics::slow_client_closed(SlowClose why) {
  slow_closes_[static_cast<std::size_t>(why)]->Increment();
}

void RouteMetrics::command(pubsub::Command command, bool ok) {
  const auto c = static_cast<std::size_t>(command);
  if (c < commands_.size()) commands_[c][ok ? 1 : 0]->Increment();
}

void RouteMetrics::delivered(std::size_t records, std::size_t bytes, bool push) {
  (push ? records_push_ : records_fetch_).Increment(static_cast<double>(records));
  (push ? bytes_push_ : bytes_fetch_).Increment(static_cast<double>(bytes));
  if (push) push_frames_.Increment();
}

void RouteMetrics::credit_stall() {
  credit_stalls_.Increment();
}

// The series is the largest lag among the subscriptions reading that partition: the one an
// alert needs (the slowest reader), and one series per partition however many subscribe.
void RouteMetrics::lag(const void* subscription, const std::string& topic, std::int32_t partition,
                       std::int64_t lag) {
  std::lock_guard lock(lag_mutex_);
  auto& entry = lag_[{topic, partition}];
  if (!entry.gauge) {
    entry.gauge = &families_.lag.Add(
        {{"route", route_id_}, {"topic", topic}, {"partition", std::to_string(partition)}});
  }
  entry.by_subscription[subscription] = lag;
  std::int64_t most = 0;
  for (const auto& [sub, value] : entry.by_subscription) most = std::max(most, value);
  entry.gauge->Set(static_cast<double>(most));
}

// A partition nobody subscribes to any more has no lag: its series goes.
void RouteMetrics::subscription_ended(const void* subscription) {
  std::lock_guard lock(lag_mutex_);
  for (auto it = lag_.begin(); it != lag_.end();) {
    auto& entry = it->second;
    if (entry.by_subscription.erase(subscription) == 0) {
      ++it;
      continue;
    }
    if (entry.by_subscription.empty()) {
      families_.lag.Remove(entry.gauge);
      it = lag_.erase(it);
      continue;
    }
    std::int64_t most = 0;
    for (const auto& [sub, value] : entry.by_subscription) most = std::max(most, value);
    entry.gauge->Set(static_cast<double>(most));
    ++it;
  }
}

Metrics::Metrics(std::string_view version) : registry_(std::make_shared<pm::Registry>()) {
  auto& r = *registry_;
  families_.reset(new RouteMetrics::Families{
      pm::BuildGauge()
          .Name("kpg_websocket_connections")
          .Help("Open WebSocket sessions, by route")
          .Register(r),
      pm::BuildCounter()
          .Name("kpg_commands_total")
          .Help("PubSub requests answered, by route, command and outcome (ok, or error_resp)")
          .Register(r),
      pm::BuildCounter()
          .Name("kpg_records_delivered_total")
          .Help("Kafka records sent to clients, by route and mode (push or fetch)")
          .Register(r),
      pm::BuildCounter()
          .Name("kpg_delivered_bytes_total")
          .Help("Bytes of the frames that carried records to clients, by route and mode")
          .Register(r),
      pm::BuildCounter()
          .Name("kpg_push_deliveries_total")
          .Help("Records frames pushed to subscriptions, by route")
          .Register(r),
      pm::BuildCounter()
          .Name("kpg_credit_stalls_total")
          .Help("Batches a subscription had to hold because it had no credit left, by route")
          .Register(r),
      pm::BuildCounter()
          .Name("kpg_slow_client_closes_total")
          .Help("Sessions closed because the client read too slowly, by route and reason")
          .Register(r),
      pm::BuildGauge()
          .Name("kpg_consumer_lag_records")
          .Help("High watermark minus the next offset to deliver, largest over the "
                "subscriptions of a route reading the partition")
          .Register(r),
  });
  auto& refusals = pm::BuildCounter()
                       .Name("kpg_handshakes_refused_total")
                       .Help(
                           "Requests on the data port refused before a WebSocket session, by "
                           "reason")
                       .Register(r);
  for (std::size_t i = 0; i < kRefusalReasons.size(); ++i) {
    refusals_[i] = &refusals.Add({{"reason", kRefusalReasons[i]}});
  }
  auto& seconds = pm::BuildHistogram()
                      .Name("kpg_kafka_request_duration_seconds")
                      .Help("Round trips of the read path to Kafka, by request")
                      .Register(r);
  const pm::Histogram::BucketBoundaries buckets{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                0.1,   0.25,   0.5,   1,    2.5,   5};
  for (std::size_t i = 0; i < kRequests.size(); ++i) {
    request_seconds_[i] = &seconds.Add({{"request", kafka::request_name(kRequests[i])}}, buckets);
  }
  auto& errors = pm::BuildCounter()
                     .Name("kpg_kafka_errors_total")
                     .Help("Errors from Kafka requests and read cursors, by kind")
                     .Register(r);
  for (std::size_t i = 0; i < kErrorKinds.size(); ++i) {
    kafka_errors_[i] = &errors.Add({{"kind", kafka::error_kind_name(kErrorKinds[i])}});
  }
  store_up_ = &pm::BuildGauge()
                   .Name("kpg_config_store_up")
                   .Help("1 while the store of routes and consumers is reachable")
                   .Register(r)
                   .Add({});
  store_up_->Set(1);
  revision_ = &pm::BuildGauge()
                   .Name("kpg_config_revision")
                   .Help(
                       "Revision of the configuration applied last (file store: admin API "
                       "changes applied since start)")
                   .Register(r)
                   .Add({});
  snapshot_bytes_ = &pm::BuildGauge()
                         .Name("kpg_snapshot_bytes")
                         .Help(
                             "Bytes of latest records that snapshot subscriptions hold, all "
                             "connections together (bounded by max_total_snapshot_bytes)")
                         .Register(r)
                         .Add({});
  pm::BuildGauge()
      .Name("kpg_build_info")
      .Help("Always 1; the version label names the running build")
      .Register(r)
      .Add({{"version", std::string(version)}})
      .Set(1);
}

Metrics::~Metrics() = default;

std::shared_ptr<RouteMetrics> Metrics::route(const std::string& route_id) {
  std::lock_guard lock(routes_mutex_);
  auto& slot = routes_[route_id];
  if (!slot) slot = std::make_shared<RouteMetrics>(route_id, *families_);
  return slot;
}

void Metrics::handshake_refused(std::string_view reason) {
  const auto i = std::min(index_of(kRefusalReasons, reason), kRefusalReasons.size() - 1);
  refusals_[i]->Increment();
}

void Metrics::request_done(kafka::Request request, std::chrono::steady_clock::duration took,
                           std::optional<kafka::ErrorKind> error) {
  const auto i = index_of(kRequests, request);
  if (i < request_seconds_.size()) {
    request_seconds_[i]->Observe(std::chrono::duration<double>(took).count());
  }
  if (error) read_error(*error);
}

void Metrics::read_error(kafka::ErrorKind error) {
  const auto i = index_of(kErrorKinds, error);
  if (i < kafka_errors_.size()) kafka_errors_[i]->Increment();
}

void Metrics::set_config_store_up(bool up) {
  store_up_->Set(up ? 1 : 0);
}
void Metrics::set_config_revision(std::int64_t revision) {
  versioned_store_ = true;
  revision_->Set(static_cast<double>(revision));
}
void Metrics::config_changed() {
  if (!versioned_store_) revision_->Increment();
}

void Metrics::read_snapshot_bytes_from(std::function<std::size_t()> source) {
  std::lock_guard lock(sources_mutex_);
  snapshot_bytes_source_ = std::move(source);
}

std::string Metrics::text() const {
  {
    std::lock_guard lock(sources_mutex_);
    if (snapshot_bytes_source_) {
      snapshot_bytes_->Set(static_cast<double>(snapshot_bytes_source_()));
    }
  }
  return pm::TextSerializer().Serialize(registry_->Collect());
}

}  // namespace kpg::server
