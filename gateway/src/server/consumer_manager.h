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
  Outcome put(const std::optional<std::string>& username, const nlohmann::json& body);
  Outcome get(const std::string& username) const;
  Outcome list() const;
  Outcome remove(const std::string& username);

 private:
  struct Entry {
    config::Consumer consumer;
    nlohmann::json value;  // the stored object: definition, username, create/update_time
  };
  /// Persists `next`, then makes it live; the error reply when it could not be stored.
  std::optional<Outcome> commit(const std::string& username, std::map<std::string, Entry> next);
  void publish(std::map<std::string, Entry> next);

  ConsumerSnapshot& live_;
  std::string store_path_;
  mutable std::mutex mutex_;
  std::map<std::string, Entry> consumers_;
  ChangeListener on_change_;
};

}  // namespace kpg::server
