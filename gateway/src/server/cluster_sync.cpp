#include "server/cluster_sync.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <map>

namespace kpg::server {

namespace {

constexpr auto kFirstRetry = std::chrono::milliseconds(200);
constexpr auto kMaxRetry = std::chrono::milliseconds(5'000);

std::string describe(const store::EtcdError& error) {
  return error.message;
}

}  // namespace

ClusterSync::ClusterSync(store::EtcdClient& etcd, RouteManager& routes, ConsumerManager& consumers)
    : etcd_(etcd), routes_(routes), consumers_(consumers), prefix_(etcd.config().prefix + "/") {
  routes_.use_shared_store(this);
  consumers_.use_shared_store(this);
}

ClusterSync::~ClusterSync() {
  stop();
}

bool ClusterSync::reload(std::string* error) {
  auto read = etcd_.range_prefix(prefix_);
  if (auto* e = std::get_if<store::EtcdError>(&read)) {
    *error = describe(*e);
    return false;
  }
  const auto& result = std::get<store::RangeResult>(read);
  std::map<std::string, StoredValue> routes;
  std::map<std::string, StoredValue> consumers;
  for (const auto& kv : result.kvs) {
    const std::string rest = kv.key.substr(prefix_.size());
    const auto slash = rest.find('/');
    if (slash == std::string::npos) continue;
    const std::string kind = rest.substr(0, slash);
    const std::string id = rest.substr(slash + 1);
    if (kind == "routes") routes[id] = {kv.value, kv.mod_revision};
    if (kind == "consumers") consumers[id] = {kv.value, kv.mod_revision};
    // Other kinds (upstreams, ssls, ... of an APISIX sharing the prefix) are not kpg's.
  }
  consumers_.replace_stored(consumers);
  routes_.replace_stored(routes);
  revision_ = result.revision;
  watched_from_ = result.revision;
  spdlog::info("event=config_store_read revision={} routes={} consumers={}", result.revision,
               routes.size(), consumers.size());
  return true;
}

void ClusterSync::load() {
  std::string error;
  if (!reload(&error)) {
    throw StoreError("cannot read the configuration from etcd (" + etcd_.config().prefix +
                     "): " + error);
  }
}

void ClusterSync::start() {
  if (thread_.joinable()) return;
  thread_ = std::thread([this] { run(); });
}

void ClusterSync::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  etcd_.cancel_watch();
  if (thread_.joinable()) thread_.join();
}

void ClusterSync::set_up(bool up) {
  if (on_status_) on_status_(up, revision_.load());
  if (up_.exchange(up) != up) {
    if (up) {
      spdlog::info("event=config_store_up revision={}", revision_.load());
    } else {
      spdlog::warn("event=config_store_down revision={} serving=\"the last configuration read\"",
                   revision_.load());
    }
  }
}

void ClusterSync::apply(const store::WatchEvent& event) {
  const auto& key = event.kv.key;
  if (key.compare(0, prefix_.size(), prefix_) != 0) return;
  const std::string rest = key.substr(prefix_.size());
  const auto slash = rest.find('/');
  if (slash == std::string::npos) return;
  const std::string kind = rest.substr(0, slash);
  const std::string id = rest.substr(slash + 1);
  const auto value = event.deleted ? std::nullopt : std::optional<std::string>(event.kv.value);
  if (kind == "routes") routes_.apply_stored(id, value, event.kv.mod_revision);
  if (kind == "consumers") consumers_.apply_stored(id, value, event.kv.mod_revision);
}

void ClusterSync::run() {
  auto retry = kFirstRetry;
  bool must_reload = false;
  for (;;) {
    {
      std::lock_guard lock(mutex_);
      if (stopping_) break;
    }
    std::string failure;
    if (must_reload) {
      if (reload(&failure)) {
        must_reload = false;
      }
    }
    if (!must_reload) {
      bool compacted = false;
      const auto error =
          etcd_.watch(prefix_, watched_from_.load() + 1, [&](const store::WatchResponse& response) {
            if (response.compact_revision > 0) {
              compacted = true;
              return false;
            }
            if (response.canceled) return false;
            if (response.created) {
              set_up(true);
              retry = kFirstRetry;
            }
            for (const auto& event : response.events) {
              apply(event);
              revision_ = std::max(revision_.load(), event.kv.mod_revision);
              watched_from_ = std::max(watched_from_.load(), event.kv.mod_revision);
            }
            if (!response.events.empty() && on_status_) on_status_(true, revision_.load());
            return true;
          });
      if (compacted) {
        spdlog::warn("event=config_store_compacted revision={} action=\"read everything again\"",
                     watched_from_.load());
        must_reload = true;
        continue;
      }
      failure = describe(error);
    }
    std::unique_lock lock(mutex_);
    if (stopping_) break;
    set_up(false);
    spdlog::warn("event=config_store_unreachable err=\"{}\" retry_in_ms={}", failure,
                 retry.count());
    wake_.wait_for(lock, retry, [this] { return stopping_; });
    retry = std::min(retry * 2, std::chrono::duration_cast<std::chrono::milliseconds>(kMaxRetry));
  }
  up_ = false;  // stopping: not an outage worth a warning
}

std::variant<std::int64_t, std::string> ClusterSync::put(const std::string& kind,
                                                         const std::string& id,
                                                         const std::string& value) {
  auto written = etcd_.put(prefix_ + kind + "/" + id, value);
  if (auto* e = std::get_if<store::EtcdError>(&written)) return describe(*e);
  return std::get<std::int64_t>(written);
}

std::variant<std::int64_t, std::string> ClusterSync::remove(const std::string& kind,
                                                            const std::string& id) {
  auto written = etcd_.remove(prefix_ + kind + "/" + id);
  if (auto* e = std::get_if<store::EtcdError>(&written)) return describe(*e);
  return std::get<std::int64_t>(written);
}

}  // namespace kpg::server
