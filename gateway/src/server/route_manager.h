// The live set of routes. A change is validated, then built (its Kafka sources and a new
// immutable RouteTable: the steps that can still fail), then persisted (crash-safe) in the data
// dir, and only then published with one swap. So a change that is refused is neither live nor
// stored, and what is stored always loads at the next start. Kafka sources are reused for
// routes whose Kafka settings did not change, and shared between routes with identical settings.
//
// Threading: all methods are thread-safe (serialized by an internal mutex); the data plane never
// waits on it (it reads the RouteTableHolder).
#pragma once

#include "config/route.h"
#include "server/route_table.h"
#include "server/shared_store.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

namespace kpg::server {

struct StoreError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class RouteManager {
 public:
  using SourceFactory =
      std::function<std::shared_ptr<kafka::RecordSource>(const Route&, std::string* error)>;
  /// Makes the producer of a route that allows produce (nullptr + error when it cannot).
  using SinkFactory =
      std::function<std::shared_ptr<kafka::RecordSink>(const Route&, std::string* error)>;
  /// Told which routes went away or changed, after the new table is live (to close sessions).
  using ChangeListener = std::function<void(const std::string& route_id, const std::string& why)>;

  /// store_path empty = no persistence.
  /// `sinks` empty: no route gets a producer (produce is refused as not enabled).
  RouteManager(RouteTableHolder& holder, SourceFactory factory, std::string store_path,
               ChangeListener on_change, SinkFactory sinks = {});

  /// Start-up: `initial` routes (config file, embedded demo), then the persisted ones. The
  /// config file owns its ids: the admin API refuses to change or delete them, and a stored
  /// route with such an id is skipped with a warning (never silently shadowed or resurrected).
  /// Throws StoreError naming the file when the store is unreadable or corrupt: it is never
  /// silently replaced. A temporary file left by a write that never completed (a crash) is
  /// removed: the store itself is whole.
  void load(const std::vector<Route>& initial);

  /// Cluster mode (call before load(), with an empty store_path): changes are written to
  /// `store` and applied locally once it has accepted them; the store's watch feeds
  /// replace_stored() and apply_stored(). `store` must outlive this manager.
  void use_shared_store(SharedStore* store) { shared_ = store; }
  /// Every route of the shared store at once (start-up, after a compaction): the file's routes
  /// plus these. Invalid values are skipped with an error log.
  void replace_stored(const std::map<std::string, StoredValue>& routes);
  /// One change from the shared store at `revision` (value nullopt: deleted). Changes at or
  /// below the revision already applied for that id are ignored; an invalid value keeps the
  /// last good one.
  void apply_stored(const std::string& id, const std::optional<std::string>& value,
                    std::int64_t revision);

  struct Outcome {
    int status;           ///< HTTP status: 200, 201, 400, 404, 500
    nlohmann::json body;  ///< APISIX-shaped response body
  };

  Outcome put(const std::string& id, const nlohmann::json& body);
  Outcome create(const nlohmann::json& body);
  Outcome get(const std::string& id) const;
  Outcome list() const;
  Outcome remove(const std::string& id);

  /// The stored object as the admin API shows it (secrets masked).
  static nlohmann::json masked(const nlohmann::json& value);

 private:
  struct Entry {
    std::shared_ptr<const Route> route;
    nlohmann::json value;  // what GET returns (unmasked), incl. id, create_time, update_time
  };
  Outcome store(const std::string& id, const nlohmann::json& body, bool created_by_post);
  /// Creates what `next` needs (Kafka sources, the table) without making it live; on failure
  /// returns the message for the client.
  std::variant<std::shared_ptr<const RouteTable>, std::string> build(
      const std::map<std::string, Entry>& next) const;
  /// Makes `table` live and closes the sessions of routes that went away, changed or were
  /// disabled.
  void publish(std::shared_ptr<const RouteTable> table, std::map<std::string, Entry> next);
  /// `value`: what is written for `id` (null: it is deleted).
  std::optional<Outcome> commit(const std::string& id, const nlohmann::json* value,
                                std::map<std::string, Entry> next, int build_error_status,
                                const char* persist_error);
  /// A stored value as an entry; the error when it is not a valid route for `id`.
  std::variant<Entry, std::string> stored_entry(const std::string& id, const std::string& text,
                                                const std::map<std::string, Entry>& others) const;
  std::optional<Outcome> refuse_file_route(const std::string& id) const;
  /// True (logged) when a stored route has an id of the config file, which wins.
  bool shadowed_by_file(const std::string& id) const;
  void persist(const std::map<std::string, Entry>& routes) const;

  RouteTableHolder& holder_;
  SourceFactory factory_;
  SinkFactory sinks_;
  std::string store_path_;
  ChangeListener on_change_;
  mutable std::mutex mutex_;
  std::map<std::string, Entry> routes_;
  std::set<std::string> file_ids_;  // routes of the config file (and the embedded demo)
  SharedStore* shared_ = nullptr;
  std::map<std::string, std::int64_t> revisions_;  // of the shared store, per id (deleted too)
};

/// Replaces `path` with `data` so that a crash at any moment leaves the old content or the new,
/// never a mix: `path`.tmp (mode 0600), fsync, rename, fsync of the directory. Throws StoreError.
void write_file_atomically(const std::string& path, const std::string& data);

/// Reads a JSON store written by write_file_atomically, after removing the temporary file a
/// crash may have left; null when `path` is empty or absent. Throws StoreError naming the file
/// when it is unreadable or corrupt (it is never replaced automatically). `kind` ("route",
/// "consumer") names the store in messages and logs.
nlohmann::json read_store(const std::string& path, const std::string& kind);

/// Seconds since the epoch (the stores' create_time / update_time).
std::int64_t unix_seconds();

/// The admin API's error body: {"error_msg": message}.
nlohmann::json error_body(const std::string& message);

/// True when `id` is a valid route id (1-64 of [A-Za-z0-9._-]).
bool valid_route_id(const std::string& id);

}  // namespace kpg::server
