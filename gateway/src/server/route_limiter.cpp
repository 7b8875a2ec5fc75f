#include "server/route_limiter.h"

#include <nlohmann/json.hpp>

namespace kpg::server {

namespace {

std::string key_of(config::LimitKey key, std::string_view address, std::string_view consumer) {
  return std::string(key == config::LimitKey::consumer_name ? consumer : address);
}

std::string error_body(const config::LimitRejection& rejection, const std::string& fallback) {
  return nlohmann::json{{"error_msg", rejection.message.value_or(fallback)}}.dump();
}

}  // namespace

std::variant<RouteLimiter::Admission, RouteLimiter::Refusal> RouteLimiter::admit(
    std::string_view address, std::string_view consumer,
    std::chrono::steady_clock::time_point now) {
  std::lock_guard lock(mutex_);
  HeaderList headers;
  // limit-conn before limit-count, as APISIX orders them (priority 1003, then 1002): an upgrade
  // refused for too many open connections uses up none of the count.
  std::string conn_key;
  if (const auto& conn = limits_.limit_conn) {
    conn_key = key_of(conn->key, address, consumer);
    const auto it = open_.find(conn_key);
    if (it != open_.end() && it->second >= conn->conn) {
      return Refusal{conn->rejection.status,
                     error_body(conn->rejection, "too many connections: at most " +
                                                     std::to_string(conn->conn) +
                                                     " open at once on this route"),
                     {},
                     "limit-conn"};
    }
  }
  if (const auto& count = limits_.limit_count) {
    const auto window = std::chrono::seconds(count->time_window);
    if (windows_.size() >= sweep_at_) {
      std::erase_if(windows_,
                    [&](const auto& entry) { return now - entry.second.start >= window; });
      sweep_at_ = std::max<std::size_t>(1024, windows_.size() * 2);
    }
    const std::string key = key_of(count->key, address, consumer);
    auto it = windows_.find(key);
    if (it != windows_.end() && now - it->second.start >= window) it->second = Window{now, 0};
    if (it == windows_.end()) {
      if (windows_.size() >= kMaxWindows) {
        return Refusal{count->rejection.status,
                       error_body(count->rejection, "too many clients counted on this route"),
                       {},
                       "limit-count"};
      }
      it = windows_.emplace(key, Window{now, 0}).first;
    }
    Window& w = it->second;
    const auto reset = std::chrono::ceil<std::chrono::seconds>(w.start + window - now).count();
    const bool over = w.used >= count->count;
    if (!over) ++w.used;
    if (count->show_limit_quota_header) {
      headers = {{"X-RateLimit-Limit", std::to_string(count->count)},
                 {"X-RateLimit-Remaining", std::to_string(count->count - w.used)},
                 {"X-RateLimit-Reset", std::to_string(reset)}};
    }
    if (over) {
      return Refusal{
          count->rejection.status,
          error_body(count->rejection, "too many connection attempts: at most " +
                                           std::to_string(count->count) + " per " +
                                           std::to_string(count->time_window) + " s on this route"),
          std::move(headers), "limit-count"};
    }
  }
  Admission admission{nullptr, std::move(headers)};
  if (limits_.limit_conn) {
    ++open_[conn_key];
    admission.hold = std::shared_ptr<void>(
        nullptr,
        [self = shared_from_this(), key = std::move(conn_key)](void*) { self->release(key); });
  }
  return admission;
}

void RouteLimiter::release(const std::string& key) {
  std::lock_guard lock(mutex_);
  if (auto it = open_.find(key); it != open_.end() && --it->second <= 0) open_.erase(it);
}

std::size_t RouteLimiter::tracked_keys() const {
  std::lock_guard lock(mutex_);
  return open_.size() + windows_.size();
}

}  // namespace kpg::server
