// The validated, immutable set of live routes, each bound to the Kafka source serving it.
// A new table is built off to the side and published with one atomic swap, so request handling
// never sees a half-applied change and never takes a lock longer than a pointer copy.
#pragma once

#include "config/route.h"
#include "kafka/record_sink.h"
#include "kafka/record_source.h"
#include "server/route_limiter.h"

#include <memory>
#include <mutex>
#include <string_view>
#include <vector>

namespace kpg::server {

using config::Route;

struct ActiveRoute {
  std::shared_ptr<const Route> route;
  std::shared_ptr<kafka::RecordSource> source;  ///< shared by every session on this route
  /// The route's limit-conn / limit-count counts (nullptr without those plugins). Kept across
  /// rebuilds of the table while the route's limits stay the same.
  std::shared_ptr<RouteLimiter> limiter;
  /// The cluster's producer, shared like `source`; nullptr when the route does not allow produce.
  std::shared_ptr<kafka::RecordSink> sink = nullptr;
};

class RouteTable {
 public:
  /// `routes` are the enabled ones (a disabled route is not served at all).
  explicit RouteTable(std::vector<ActiveRoute> routes);

  /// APISIX matching: an exact uri wins over a prefix ("/a/*"); the longest prefix wins. A
  /// route with hosts takes part only when `host` (the Host header) is one of them. `path`
  /// excludes the query string. Returns nullptr when nothing matches.
  const ActiveRoute* match(std::string_view path, std::string_view host = {}) const;
  const std::vector<ActiveRoute>& routes() const noexcept { return routes_; }

 private:
  std::vector<ActiveRoute> routes_;
};

/// Holds the current table. Thread-safe.
class RouteTableHolder {
 public:
  std::shared_ptr<const RouteTable> get() const {
    std::lock_guard lock(mutex_);
    return table_;
  }
  void set(std::shared_ptr<const RouteTable> table) {
    {
      std::lock_guard lock(mutex_);
      table_.swap(table);
    }
    // `table` now holds the old one; it (and sources only it held) is released outside the lock.
  }

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<const RouteTable> table_ =
      std::make_shared<RouteTable>(std::vector<ActiveRoute>{});
};

}  // namespace kpg::server
