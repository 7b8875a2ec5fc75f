#include "server/route_manager.h"

#include <fcntl.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <sstream>

namespace kpg::server {

using config::kMaxJsonDepth;
using config::parse_json_bounded;
using config::parse_route;

using nlohmann::json;

namespace {

json wrapped(const std::string& id, const json& value) {
  return json{{"key", "/apisix/routes/" + id}, {"value", RouteManager::masked(value)}};
}

// The route object without the metadata the store adds.
json definition_of(const json& value) {
  json def = value;
  def.erase("id");
  def.erase("create_time");
  def.erase("update_time");
  return def;
}

void write_all(int fd, const std::string& data, const std::string& path) {
  std::size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw StoreError(path + ": write failed: " + std::strerror(errno));
    }
    done += static_cast<std::size_t>(n);
  }
}

// The message when `route` uses a uri of another route in `routes`; nothing when it does not.
template <class Entries>
std::optional<std::string> uri_conflict(const Route& route, const Entries& routes) {
  for (const auto& [other_id, entry] : routes) {
    if (other_id == route.id) continue;
    for (const auto& uri : route.uris) {
      const auto& used = entry.route->uris;
      if (std::find(used.begin(), used.end(), uri) != used.end()) {
        return "invalid configuration: property \"uri\" \"" + uri + "\" is already used by route " +
               other_id;
      }
    }
  }
  return std::nullopt;
}

}  // namespace

std::int64_t unix_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

json error_body(const std::string& message) {
  return json{{"error_msg", message}};
}

json read_store(const std::string& path, const std::string& kind) {
  if (path.empty()) return nullptr;
  // A write killed before its rename leaves only this temporary file; the store is intact.
  std::error_code ignored;
  if (std::filesystem::remove(path + ".tmp", ignored)) {
    spdlog::warn("event={}_store_tmp_removed file=\"{}.tmp\"", kind, path);
  }
  if (!std::filesystem::exists(path)) return nullptr;
  std::ifstream in(path);
  if (!in) throw StoreError(path + ": cannot read the " + kind + " store");
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // The store's own two levels ({"routes": [...]}) above the objects' limit.
  auto parsed = parse_json_bounded(text, kMaxJsonDepth + 2);
  if (auto* error = std::get_if<std::string>(&parsed)) {
    throw StoreError(path + ": corrupt " + kind + " store (" + *error +
                     "); fix or move the file away, it is never replaced automatically");
  }
  return std::get<json>(std::move(parsed));
}

bool valid_route_id(const std::string& id) {
  return !id.empty() && id.size() <= 64 && std::all_of(id.begin(), id.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
  });
}

json RouteManager::masked(const json& value) {
  json out = value;
  if (out.contains("plugins") && out["plugins"].is_object() &&
      out["plugins"].contains("kafka-proxy") && out["plugins"]["kafka-proxy"].is_object() &&
      out["plugins"]["kafka-proxy"].contains("sasl") &&
      out["plugins"]["kafka-proxy"]["sasl"].is_object() &&
      out["plugins"]["kafka-proxy"]["sasl"].contains("password")) {
    out["plugins"]["kafka-proxy"]["sasl"]["password"] = "******";
  }
  return out;
}

RouteManager::RouteManager(RouteTableHolder& holder, SourceFactory factory, std::string store_path,
                           ChangeListener on_change, SinkFactory sinks)
    : holder_(holder),
      factory_(std::move(factory)),
      sinks_(std::move(sinks)),
      store_path_(std::move(store_path)),
      on_change_(std::move(on_change)) {}

void write_file_atomically(const std::string& path, const std::string& data) {
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) throw StoreError(tmp + ": cannot create: " + std::strerror(errno));
  try {
    write_all(fd, data, tmp);
    if (::fsync(fd) != 0) throw StoreError(tmp + ": fsync failed: " + std::strerror(errno));
  } catch (...) {
    ::close(fd);
    ::unlink(tmp.c_str());
    throw;
  }
  if (::close(fd) != 0) {
    const std::string reason = std::strerror(errno);
    ::unlink(tmp.c_str());
    throw StoreError(tmp + ": close failed: " + reason);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string reason = std::strerror(errno);
    ::unlink(tmp.c_str());
    throw StoreError(path + ": rename failed: " + reason);
  }
  const auto dir = std::filesystem::path(path).parent_path();
  const int dfd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

void RouteManager::load(const std::vector<Route>& initial) {
  std::lock_guard lock(mutex_);
  std::map<std::string, Entry> next;
  const auto now = unix_seconds();
  for (const auto& route : initial) {
    json value = route.definition;
    value["id"] = route.id;
    value["create_time"] = now;
    value["update_time"] = now;
    next[route.id] = Entry{std::make_shared<const Route>(route), value};
    file_ids_.insert(route.id);
  }
  const json stored = read_store(store_path_, "route");
  if (!stored.is_null()) {
    if (!stored.is_object() || !stored.contains("routes") || !stored["routes"].is_array()) {
      throw StoreError(store_path_ + ": corrupt route store (expected {\"routes\": [...]})");
    }
    for (const auto& value : stored["routes"]) {
      if (!value.is_object() || !value.contains("id") || !value["id"].is_string() ||
          !valid_route_id(value["id"].get<std::string>())) {
        throw StoreError(store_path_ + ": corrupt route store (a route without a valid id)");
      }
      const auto id = value["id"].get<std::string>();
      if (shadowed_by_file(id)) continue;
      auto parsed = parse_route(definition_of(value), id);
      if (auto* error = std::get_if<std::string>(&parsed)) {
        throw StoreError(store_path_ + ": route '" + id + "': " + *error);
      }
      next[id] = Entry{std::make_shared<const Route>(std::get<Route>(std::move(parsed))), value};
    }
  }
  auto built = build(next);
  if (auto* error = std::get_if<std::string>(&built)) throw StoreError(*error);
  publish(std::get<std::shared_ptr<const RouteTable>>(std::move(built)), std::move(next));
}

std::variant<std::shared_ptr<const RouteTable>, std::string> RouteManager::build(
    const std::map<std::string, Entry>& next) const {
  const auto current = holder_.get();
  std::vector<ActiveRoute> active;
  for (const auto& [id, entry] : next) {
    if (!entry.route->enabled) continue;  // not served, so no Kafka client either
    std::shared_ptr<kafka::RecordSource> source;
    // Reuse a live Kafka client with the same settings (same route first, then any route).
    for (const auto& old : current->routes()) {
      if (old.route->same_kafka_settings(*entry.route) && (!source || old.route->id == id)) {
        source = old.source;
      }
    }
    for (const auto& made : active) {
      if (!source && made.route->same_kafka_settings(*entry.route)) source = made.source;
    }
    if (!source) {
      std::string error;
      source = factory_(*entry.route, &error);
      if (!source) {
        // Validation errors already name the field; others get the route for context.
        if (error.rfind("invalid configuration:", 0) == 0) return error;
        return "route '" + id + "': " + error;
      }
    }
    std::shared_ptr<RouteLimiter> limiter;
    if (entry.route->limits.any()) {
      for (const auto& old : current->routes()) {
        if (old.route->id == id && old.limiter && old.limiter->limits() == entry.route->limits) {
          limiter = old.limiter;  // the counts carry on across unrelated changes
        }
      }
      if (!limiter) limiter = std::make_shared<RouteLimiter>(entry.route->limits);
    }
    // The cluster's one producer, made when the first route that allows produce needs it.
    std::shared_ptr<kafka::RecordSink> sink;
    if (entry.route->produce && sinks_) {
      for (const auto& old : current->routes()) {
        if (!sink && old.sink && old.route->same_kafka_settings(*entry.route)) sink = old.sink;
      }
      for (const auto& made : active) {
        if (!sink && made.sink && made.route->same_kafka_settings(*entry.route)) sink = made.sink;
      }
      if (!sink) {
        std::string error;
        sink = sinks_(*entry.route, &error);
        if (!sink) return "route '" + id + "': " + error;
      }
    }
    active.push_back({entry.route, std::move(source), std::move(limiter), std::move(sink)});
  }
  return std::make_shared<const RouteTable>(std::move(active));
}

void RouteManager::publish(std::shared_ptr<const RouteTable> table,
                           std::map<std::string, Entry> next) {
  holder_.set(std::move(table));

  // Sessions of routes that went away, changed or were disabled are closed so clients reconnect
  // to the new configuration.
  std::vector<std::pair<std::string, std::string>> affected;
  for (const auto& [id, entry] : routes_) {
    auto it = next.find(id);
    if (it == next.end()) {
      affected.emplace_back(id, "route deleted");
    } else if (entry.route->enabled && !it->second.route->enabled) {
      affected.emplace_back(id, "route disabled");
    } else if (definition_of(it->second.value) != definition_of(entry.value)) {
      affected.emplace_back(id, "route changed");
    }
  }
  routes_ = std::move(next);
  for (const auto& [id, why] : affected) {
    if (on_change_) on_change_(id, why);
  }
}

void RouteManager::persist(const std::map<std::string, Entry>& routes) const {
  if (store_path_.empty()) return;
  json doc = {{"version", 1}, {"routes", json::array()}};
  for (const auto& [id, entry] : routes) doc["routes"].push_back(entry.value);
  write_file_atomically(store_path_, doc.dump(2) + "\n");
}

// Validate, build, persist, publish: each step runs only when the one before succeeded.
RouteManager::Outcome RouteManager::store(const std::string& id, const json& body,
                                          bool created_by_post) {
  if (!body.is_object()) {
    return {400, error_body("invalid configuration: the route must be a JSON object")};
  }
  if (body.contains("id")) {
    const json& body_id = body["id"];
    const std::string text = body_id.is_string() ? body_id.get<std::string>()
                             : body_id.is_number_integer()
                                 ? std::to_string(body_id.get<long long>())
                                 : "";
    if (text != id) {
      return {400, error_body("invalid configuration: property \"id\" does not match the id in "
                              "the URL")};
    }
  }
  json def = definition_of(body);
  auto parsed = parse_route(def, id);
  if (auto* error = std::get_if<std::string>(&parsed)) return {400, error_body(*error)};
  Route route = std::get<Route>(std::move(parsed));

  std::lock_guard lock(mutex_);
  if (auto refused = refuse_file_route(id)) return *refused;
  if (auto conflict = uri_conflict(route, routes_)) return {400, error_body(*conflict)};
  auto next = routes_;
  const auto now = unix_seconds();
  const auto existing = routes_.find(id);
  const bool created = existing == routes_.end();
  json value = def;
  value["id"] = id;
  value["create_time"] = created ? now : existing->second.value.value("create_time", now);
  value["update_time"] = now;
  next[id] = Entry{std::make_shared<const Route>(std::move(route)), value};
  if (auto failed = commit(id, &value, std::move(next), 400, "cannot persist the route: ")) {
    return *failed;
  }
  spdlog::info("event=route_{} route={}", created ? "created" : "updated", id);
  return {created || created_by_post ? 201 : 200, wrapped(id, value)};
}

// Build first (it can fail), then persist, then publish: a change that cannot be served is never
// stored. Returns the error reply, or nothing once the change is live.
std::optional<RouteManager::Outcome> RouteManager::commit(const std::string& id, const json* value,
                                                          std::map<std::string, Entry> next,
                                                          int build_error_status,
                                                          const char* persist_error) {
  auto built = build(next);
  if (auto* error = std::get_if<std::string>(&built)) {
    return Outcome{build_error_status, error_body(*error)};
  }
  if (shared_) {
    auto written =
        value ? shared_->put("routes", id, value->dump()) : shared_->remove("routes", id);
    if (auto* error = std::get_if<std::string>(&written)) {
      spdlog::error("event=route_store_failed route={} err=\"{}\"", id, *error);
      return Outcome{503, error_body("the configuration store is unavailable: " + *error)};
    }
    auto& applied = revisions_[id];
    applied = std::max(applied, std::get<std::int64_t>(written));
    publish(std::get<std::shared_ptr<const RouteTable>>(std::move(built)), std::move(next));
    return std::nullopt;
  }
  try {
    persist(next);
  } catch (const StoreError& e) {
    spdlog::error("event=route_store_failed route={} err=\"{}\"", id, e.what());
    return Outcome{500, error_body(persist_error + std::string(e.what()))};
  }
  publish(std::get<std::shared_ptr<const RouteTable>>(std::move(built)), std::move(next));
  return std::nullopt;
}

RouteManager::Outcome RouteManager::put(const std::string& id, const json& body) {
  if (!valid_route_id(id)) {
    return {400, error_body("invalid configuration: route id \"" + id +
                            "\" must be 1-64 characters of [A-Za-z0-9._-]")};
  }
  return store(id, body, false);
}

RouteManager::Outcome RouteManager::create(const json& body) {
  // Like APISIX: a 20-digit, time-ordered id.
  static std::mt19937_64 rng{std::random_device{}()};
  std::string id;
  {
    std::lock_guard lock(mutex_);
    do {
      const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count();
      id = std::to_string(micros) + std::to_string(100 + rng() % 900);
      id = std::string(id.size() < 20 ? 20 - id.size() : 0, '0') + id;
    } while (routes_.count(id));
  }
  return store(id, body, true);
}

RouteManager::Outcome RouteManager::get(const std::string& id) const {
  std::lock_guard lock(mutex_);
  auto it = routes_.find(id);
  if (it == routes_.end())
    return {404, {{"error_msg", "route " + id + " not found"}, {"message", "Key not found"}}};
  return {200, wrapped(id, it->second.value)};
}

RouteManager::Outcome RouteManager::list() const {
  std::lock_guard lock(mutex_);
  json items = json::array();
  for (const auto& [id, entry] : routes_) items.push_back(wrapped(id, entry.value));
  return {200, json{{"total", items.size()}, {"list", items}}};
}

RouteManager::Outcome RouteManager::remove(const std::string& id) {
  std::lock_guard lock(mutex_);
  if (!routes_.count(id)) {
    return {404, {{"error_msg", "route " + id + " not found"}, {"message", "Key not found"}}};
  }
  if (auto refused = refuse_file_route(id)) return *refused;
  auto next = routes_;
  next.erase(id);
  if (auto failed = commit(id, nullptr, std::move(next), 500, "cannot persist the change: ")) {
    return *failed;
  }
  spdlog::info("event=route_deleted route={}", id);
  return {200, json{{"key", "/apisix/routes/" + id}, {"deleted", "1"}}};
}

bool RouteManager::shadowed_by_file(const std::string& id) const {
  if (!file_ids_.count(id)) return false;
  spdlog::warn(
      "event=stored_route_skipped route={} reason=\"the config file defines this id; the "
      "config file wins\"",
      id);
  return true;
}

std::optional<RouteManager::Outcome> RouteManager::refuse_file_route(const std::string& id) const {
  if (!file_ids_.count(id)) return std::nullopt;
  return Outcome{400, error_body("route " + id +
                                 " is defined in the gateway's config file: change it there "
                                 "(the admin API manages the other routes)")};
}

std::variant<RouteManager::Entry, std::string> RouteManager::stored_entry(
    const std::string& id, const std::string& text,
    const std::map<std::string, Entry>& others) const {
  if (!valid_route_id(id)) return "invalid route id";
  auto parsed_json = parse_json_bounded(text, kMaxJsonDepth);
  if (auto* error = std::get_if<std::string>(&parsed_json)) return *error;
  const json& value = std::get<json>(parsed_json);
  if (!value.is_object()) return "not a JSON object";
  auto parsed = parse_route(definition_of(value), id);
  if (auto* error = std::get_if<std::string>(&parsed)) return *error;
  auto route = std::make_shared<const Route>(std::get<Route>(std::move(parsed)));
  if (auto conflict = uri_conflict(*route, others)) return *conflict;
  json stored = value;
  stored["id"] = id;
  return Entry{std::move(route), std::move(stored)};
}

void RouteManager::replace_stored(const std::map<std::string, StoredValue>& routes) {
  std::lock_guard lock(mutex_);
  std::map<std::string, Entry> next;
  for (const auto& [id, entry] : routes_) {
    if (file_ids_.count(id)) next.emplace(id, entry);
  }
  revisions_.clear();
  for (const auto& [id, stored] : routes) {
    revisions_[id] = stored.revision;
    if (shadowed_by_file(id)) continue;
    auto entry = stored_entry(id, stored.json, next);
    if (auto* error = std::get_if<std::string>(&entry)) {
      spdlog::error("event=stored_route_invalid route={} revision={} err=\"{}\"", id,
                    stored.revision, *error);
      continue;
    }
    next[id] = std::get<Entry>(std::move(entry));
  }
  auto built = build(next);
  if (auto* error = std::get_if<std::string>(&built)) {
    spdlog::error("event=stored_routes_not_applied err=\"{}\"", *error);
    return;
  }
  publish(std::get<std::shared_ptr<const RouteTable>>(std::move(built)), std::move(next));
  spdlog::info("event=routes_loaded source=store count={}", routes_.size());
}

void RouteManager::apply_stored(const std::string& id, const std::optional<std::string>& value,
                                std::int64_t revision) {
  std::lock_guard lock(mutex_);
  auto& applied = revisions_[id];
  if (revision <= applied) return;  // this gateway made the change, or a newer one came first
  applied = revision;
  if (shadowed_by_file(id)) return;
  auto next = routes_;
  if (!value) {
    if (!next.erase(id)) return;  // already gone (deleted here)
  } else {
    auto entry = stored_entry(id, *value, routes_);
    if (auto* error = std::get_if<std::string>(&entry)) {
      spdlog::error(
          "event=stored_route_invalid route={} revision={} err=\"{}\" kept=\"the "
          "last good version\"",
          id, revision, *error);
      return;
    }
    auto current = routes_.find(id);
    auto& fresh = std::get<Entry>(entry);
    if (current != routes_.end() && current->second.value == fresh.value) return;
    next[id] = std::move(fresh);
  }
  auto built = build(next);
  if (auto* error = std::get_if<std::string>(&built)) {
    spdlog::error("event=stored_route_not_applied route={} err=\"{}\"", id, *error);
    return;
  }
  publish(std::get<std::shared_ptr<const RouteTable>>(std::move(built)), std::move(next));
  spdlog::info("event=route_{} route={} source=store revision={}", value ? "applied" : "deleted",
               id, revision);
}

}  // namespace kpg::server
