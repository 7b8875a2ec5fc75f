// The live set of consumers (APISIX's /apisix/admin/consumers). Like the routes: a change is
// validated, persisted (crash-safe) in the data dir, then published with one pointer swap that
// upgrades see at once. Stored secrets are never shown: GET replaces them with "******".
//
// Threading: all methods are thread-safe (serialized by an internal mutex); the data plane only
// reads the published snapshot.
#pragma once

#include "config/auth.h"
#include "server/authenticator.h"
#include "server/route_manager.h"

#include <nlohmann/json.hpp>

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <variant>

namespace kpg::server {

class ConsumerManager {
 public:
  using Outcome = RouteManager::Outcome;

  /// Told (username, why) after a consumer was deleted or its definition changed, so that the
  /// connections opened with its old credentials can be closed. Runs under the manager's lock.
  using ChangeListener = std::function<void(const std::string&, const std::string&)>;

  /// store_path empty = no persistence.
  ConsumerManager(ConsumerSnapshot& live, std::string store_path, ChangeListener on_change = {});

  /// Start-up: loads the stored consumers. Throws StoreError naming the file when the store is
  /// unreadable or corrupt (it is never silently replaced).
  void load();

  /// PUT /consumers (username from the body) or /consumers/{username}.
  /// Cluster mode (call before load(), with an empty store_path): as RouteManager's.
  void use_shared_store(SharedStore* store) { shared_ = store; }
  void replace_stored(const std::map<std::string, StoredValue>& consumers);
  void apply_stored(const std::string& username, const std::optional<std::string>& value,
                    std::int64_t revision);

  Outcome put(const std::optional<std::string>& username, const nlohmann::json& body);
  Outcome get(const std::string& username) const;
  Outcome list() const;
  Outcome remove(const std::string& username);

 private:
  struct Entry {
    config::Consumer consumer;
    nlohmann::json value;  // the stored object: definition, username, create/update_time
  };
  /// Persists `next` (`value`: what is written for `username`, null when it is deleted), then
  /// makes it live; the error reply when it could not be stored.
  std::optional<Outcome> commit(const std::string& username, const nlohmann::json* value,
                                std::map<std::string, Entry> next);
  /// A stored value as an entry; the error when it is not a valid consumer.
  std::variant<Entry, std::string> stored_entry(const std::string& username,
                                                const std::string& text,
                                                const std::map<std::string, Entry>& others) const;
  void publish(std::map<std::string, Entry> next);

  ConsumerSnapshot& live_;
  std::string store_path_;
  mutable std::mutex mutex_;
  std::map<std::string, Entry> consumers_;
  ChangeListener on_change_;
  SharedStore* shared_ = nullptr;
  std::map<std::string, std::int64_t> revisions_;  // of the shared store, per username
};

}  // namespace kpg::server
