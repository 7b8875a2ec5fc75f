#include "server/consumer_manager.h"

#include <spdlog/spdlog.h>

namespace kpg::server {

using nlohmann::json;

namespace {

json wrapped(const std::string& username, const json& value) {
  return json{{"key", "/apisix/consumers/" + username}, {"value", config::redact_consumer(value)}};
}

json not_found(const std::string& username) {
  return json{{"error_msg", "consumer " + username + " not found"}, {"message", "Key not found"}};
}

// The consumer object without the metadata the store adds.
// (Any JSON value may come from a client: only an object has these to drop.)
json definition_of(const json& value) {
  json def = value;
  if (def.is_object()) {
    def.erase("create_time");
    def.erase("update_time");
  }
  return def;
}

// The message when `consumer` reuses a key of another consumer in `others`; empty when not.
template <class Entries>
std::string key_conflict(const config::Consumer& consumer, const Entries& others) {
  for (const auto& [name, entry] : others) {
    if (name == consumer.username) continue;
    const config::Consumer& other = entry.consumer;
    if (consumer.key_auth_key && other.key_auth_key == consumer.key_auth_key) {
      return "invalid configuration: property \"plugins.key-auth.key\" is already used by "
             "consumer " +
             name;
    }
    if (consumer.jwt && other.jwt && other.jwt->key == consumer.jwt->key) {
      return "invalid configuration: property \"plugins.jwt-auth.key\" is already used by "
             "consumer " +
             name;
    }
  }
  return {};
}

}  // namespace

ConsumerManager::ConsumerManager(ConsumerSnapshot& live, std::string store_path,
                                 ChangeListener on_change)
    : live_(live), store_path_(std::move(store_path)), on_change_(std::move(on_change)) {}

void ConsumerManager::load() {
  std::lock_guard lock(mutex_);
  std::map<std::string, Entry> next;
  const json stored = read_store(store_path_, "consumer");
  if (!stored.is_null()) {
    if (!stored.is_object() || !stored.contains("consumers") || !stored["consumers"].is_array()) {
      throw StoreError(store_path_ + ": corrupt consumer store (expected {\"consumers\": [...]})");
    }
    for (const auto& value : stored["consumers"]) {
      if (!value.is_object() || !value.contains("username") || !value["username"].is_string()) {
        throw StoreError(store_path_ + ": corrupt consumer store (a consumer without username)");
      }
      const auto username = value["username"].get<std::string>();
      auto parsed = config::parse_consumer(definition_of(value), username);
      if (auto* error = std::get_if<std::string>(&parsed)) {
        throw StoreError(store_path_ + ": consumer '" + username + "': " + *error);
      }
      next[username] = Entry{std::get<config::Consumer>(std::move(parsed)), value};
    }
  }
  publish(std::move(next));
}

void ConsumerManager::publish(std::map<std::string, Entry> next) {
  std::map<std::string, config::Consumer> consumers;
  for (const auto& [name, entry] : next) consumers.emplace(name, entry.consumer);
  live_.store(std::make_shared<const config::ConsumerSet>(consumers));
  // Connections authenticated with a credential that no longer holds must not outlive it.
  std::vector<std::pair<std::string, std::string>> affected;
  for (const auto& [name, entry] : consumers_) {
    const auto it = next.find(name);
    if (it == next.end()) {
      affected.emplace_back(name, "consumer deleted");
    } else if (definition_of(it->second.value) != definition_of(entry.value)) {
      affected.emplace_back(name, "consumer changed");
    }
  }
  consumers_ = std::move(next);
  if (on_change_) {
    for (const auto& [name, why] : affected) on_change_(name, why);
  }
}

std::optional<ConsumerManager::Outcome> ConsumerManager::commit(const std::string& username,
                                                                const json* value,
                                                                std::map<std::string, Entry> next) {
  if (shared_) {
    auto written = value ? shared_->put("consumers", username, value->dump())
                         : shared_->remove("consumers", username);
    if (auto* error = std::get_if<std::string>(&written)) {
      spdlog::error("event=consumer_store_failed consumer={} err=\"{}\"", username, *error);
      return Outcome{503, error_body("the configuration store is unavailable: " + *error)};
    }
    auto& applied = revisions_[username];
    applied = std::max(applied, std::get<std::int64_t>(written));
  } else if (!store_path_.empty()) {
    json doc = {{"version", 1}, {"consumers", json::array()}};
    for (const auto& [name, entry] : next) doc["consumers"].push_back(entry.value);
    try {
      write_file_atomically(store_path_, doc.dump(2) + "\n");
    } catch (const StoreError& e) {
      spdlog::error("event=consumer_store_failed consumer={} err=\"{}\"", username, e.what());
      return Outcome{500, error_body("cannot persist the consumer: " + std::string(e.what()))};
    }
  }
  publish(std::move(next));
  return std::nullopt;
}

ConsumerManager::Outcome ConsumerManager::put(const std::optional<std::string>& username,
                                              const json& body) {
  if (username && !config::valid_username(*username)) {
    return {400, error_body("invalid configuration: property \"username\" validation failed: "
                            "expected 1-100 of [a-zA-Z0-9_-]")};
  }
  const json def = definition_of(body);
  auto parsed = config::parse_consumer(def, username);
  if (auto* error = std::get_if<std::string>(&parsed)) return {400, error_body(*error)};
  config::Consumer consumer = std::get<config::Consumer>(std::move(parsed));
  const std::string name = consumer.username;

  std::lock_guard lock(mutex_);
  if (auto conflict = key_conflict(consumer, consumers_); !conflict.empty()) {
    return {400, error_body(conflict)};
  }
  const auto now = unix_seconds();
  const auto existing = consumers_.find(name);
  const bool created = existing == consumers_.end();
  json value = def;
  value["username"] = name;
  value["create_time"] = created ? now : existing->second.value.value("create_time", now);
  value["update_time"] = now;
  auto next = consumers_;
  next[name] = Entry{std::move(consumer), value};
  if (auto failed = commit(name, &value, std::move(next))) return *failed;
  spdlog::info("event=consumer_{} consumer={}", created ? "created" : "updated", name);
  return {created ? 201 : 200, wrapped(name, value)};
}

ConsumerManager::Outcome ConsumerManager::get(const std::string& username) const {
  std::lock_guard lock(mutex_);
  auto it = consumers_.find(username);
  if (it == consumers_.end()) return {404, not_found(username)};
  return {200, wrapped(username, it->second.value)};
}

ConsumerManager::Outcome ConsumerManager::list() const {
  std::lock_guard lock(mutex_);
  json items = json::array();
  for (const auto& [name, entry] : consumers_) items.push_back(wrapped(name, entry.value));
  return {200, json{{"total", items.size()}, {"list", items}}};
}

ConsumerManager::Outcome ConsumerManager::remove(const std::string& username) {
  std::lock_guard lock(mutex_);
  if (!consumers_.count(username)) return {404, not_found(username)};
  auto next = consumers_;
  next.erase(username);
  if (auto failed = commit(username, nullptr, std::move(next))) return *failed;
  spdlog::info("event=consumer_deleted consumer={}", username);
  return {200, json{{"key", "/apisix/consumers/" + username}, {"deleted", "1"}}};
}

std::variant<ConsumerManager::Entry, std::string> ConsumerManager::stored_entry(
    const std::string& username, const std::string& text,
    const std::map<std::string, Entry>& others) const {
  if (!config::valid_username(username)) return std::string("invalid username");
  auto parsed_json = config::parse_json_bounded(text, config::kMaxJsonDepth);
  if (auto* error = std::get_if<std::string>(&parsed_json)) return *error;
  json value = std::get<json>(std::move(parsed_json));
  if (!value.is_object()) return std::string("not a JSON object");
  value["username"] = username;  // the key names it
  auto parsed = config::parse_consumer(definition_of(value), username);
  if (auto* error = std::get_if<std::string>(&parsed)) return *error;
  config::Consumer consumer = std::get<config::Consumer>(std::move(parsed));
  if (auto conflict = key_conflict(consumer, others); !conflict.empty()) return conflict;
  return Entry{std::move(consumer), std::move(value)};
}

void ConsumerManager::replace_stored(const std::map<std::string, StoredValue>& consumers) {
  std::lock_guard lock(mutex_);
  std::map<std::string, Entry> next;
  revisions_.clear();
  for (const auto& [name, stored] : consumers) {
    revisions_[name] = stored.revision;
    auto entry = stored_entry(name, stored.json, next);
    if (auto* error = std::get_if<std::string>(&entry)) {
      spdlog::error("event=stored_consumer_invalid consumer={} revision={} err=\"{}\"", name,
                    stored.revision, *error);
      continue;
    }
    next.emplace(name, std::get<Entry>(std::move(entry)));
  }
  publish(std::move(next));
  spdlog::info("event=consumers_loaded source=store count={}", consumers_.size());
}

void ConsumerManager::apply_stored(const std::string& username,
                                   const std::optional<std::string>& value, std::int64_t revision) {
  std::lock_guard lock(mutex_);
  auto& applied = revisions_[username];
  if (revision <= applied) return;  // this gateway made the change, or a newer one came first
  applied = revision;
  auto next = consumers_;
  if (!value) {
    if (!next.erase(username)) return;
  } else {
    auto entry = stored_entry(username, *value, consumers_);
    if (auto* error = std::get_if<std::string>(&entry)) {
      spdlog::error(
          "event=stored_consumer_invalid consumer={} revision={} err=\"{}\" "
          "kept=\"the last good version\"",
          username, revision, *error);
      return;
    }
    auto current = consumers_.find(username);
    auto& fresh = std::get<Entry>(entry);
    if (current != consumers_.end() && current->second.value == fresh.value) return;
    next[username] = std::move(fresh);
  }
  publish(std::move(next));
  spdlog::info("event=consumer_{} consumer={} source=store revision={}",
               value ? "applied" : "deleted", username, revision);
}

}  // namespace kpg::server
