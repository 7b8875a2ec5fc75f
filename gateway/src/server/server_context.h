// What every connection of the data plane shares: the live route table, limits and the registry
// used to close sessions on shutdown or route changes.
#pragma once

#include "config/trusted_proxies.h"
#include "kafka/group_consumer.h"
#include "pubsub/memory_budget.h"
#include "pubsub/pubsub_handler.h"
#include "server/authenticator.h"
#include "server/connection_counter.h"
#include "server/log_limiter.h"
#include "server/metrics.h"
#include "server/route_table.h"

#include <boost/asio/ssl/context.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

namespace kpg::server {

/// A session that can be asked to close (from any thread).
class ClosableSession {
 public:
  virtual ~ClosableSession() = default;
  /// Closes with a WebSocket close code and reason; safe to call from any thread.
  virtual void close_async(std::uint16_t code, std::string reason) = 0;
  virtual const std::string& route_id() const = 0;
  /// The consumer the connection authenticated as; empty when its route requires none.
  virtual std::string_view consumer() const = 0;
};

/// Thread-safe set of open sessions (weak references).
class SessionRegistry {
 public:
  void add(const std::shared_ptr<ClosableSession>& session) {
    std::lock_guard lock(mutex_);
    sessions_[session.get()] = session;
  }
  void remove(const ClosableSession* session) {
    std::lock_guard lock(mutex_);
    sessions_.erase(session);
  }
  std::size_t size() const {
    std::lock_guard lock(mutex_);
    return sessions_.size();
  }
  /// Asks every session accepted by `filter` to close.
  void close_if(const std::function<bool(const ClosableSession&)>& filter, std::uint16_t code,
                const std::string& reason) {
    std::vector<std::shared_ptr<ClosableSession>> targets;
    {
      std::lock_guard lock(mutex_);
      for (auto& [ptr, weak] : sessions_) {
        if (auto s = weak.lock(); s && filter(*s)) targets.push_back(std::move(s));
      }
    }
    for (auto& s : targets) s->close_async(code, reason);
  }

 private:
  mutable std::mutex mutex_;
  std::unordered_map<const ClosableSession*, std::weak_ptr<ClosableSession>> sessions_;
};

struct SessionLimits {
  std::size_t max_frame_bytes = 1024 * 1024;
  /// Replies queued for one client; reading pauses at half of it, beyond it the session closes.
  std::size_t max_write_queue_bytes = 16 * 1024 * 1024;
  /// Replies queued for all clients together: a client with replies already waiting that would
  /// take the total past it is closed.
  std::size_t max_total_write_queue_bytes = 256 * 1024 * 1024;
  /// A reply (or close frame) the client does not take within this time closes the connection.
  std::chrono::milliseconds write_timeout{30'000};
  int max_inflight_requests = 64;
  /// From accept to the upgrade (TLS handshake, HTTP request, WebSocket handshake): one deadline,
  /// not renewed by bytes arriving, so a client trickling bytes cannot hold a connection slot.
  std::chrono::milliseconds handshake_timeout{10'000};
};

struct ServerContext {
  /// TLS for the data plane (wss://), or nullptr for plain ws://. Set before listening.
  boost::asio::ssl::context* tls = nullptr;
  server::RouteTableHolder routes;
  /// The consumers the routes' key-auth / jwt-auth plugins check upgrades against.
  ConsumerSnapshot consumers{std::make_shared<const config::ConsumerSet>()};
  pubsub::Limits pubsub_limits;
  SessionLimits session_limits;
  /// Named in hello_resp.
  std::string server_name = "kpg-gateway";
  SessionRegistry sessions;
  ConnectionCounter connections;
  /// Set when the gateway starts draining: a session whose handshake completes afterwards (it
  /// was not registered yet when every session was asked to close) closes at once.
  std::atomic<bool> draining{false};
  /// Bytes of replies queued in all sessions (see SessionLimits::max_total_write_queue_bytes).
  std::atomic<std::size_t> queued_write_bytes{0};
  /// Log lines about what clients do wrong, per client address.
  LogLimiter client_log;
  /// Peers whose X-Forwarded-For / X-Real-IP name the client (see server/client_address.h).
  config::TrustedProxies trusted_proxies;
  /// Where the admin API listens (HOST:PORT), named to requests for /apisix/admin/ on this port.
  std::string admin_listen;
  /// What the data plane counts; nullptr: nothing (tests). Outlives every session.
  Metrics* metrics = nullptr;
  /// Runs consumer-group members for sessions; nullptr: groups are offered nowhere. Outlives
  /// every session.
  kafka::GroupService* groups = nullptr;
  /// Record filters in use, interned so that equal ones share their evaluations.
  pubsub::FilterRegistry filters;
  /// Bytes that the snapshots of all sessions hold (GatewayConfig::max_total_snapshot_bytes).
  pubsub::MemoryBudget snapshot_memory{512 * 1024 * 1024};
};

}  // namespace kpg::server
