// Cluster mode: where the admin API writes routes and consumers so that every gateway sharing
// the store applies them (see cluster_sync.h). The managers write through this and apply the
// change locally at once; the store's watch brings the same change back (ignored: same
// revision) and the other gateways' changes (applied).
#pragma once

#include <cstdint>
#include <string>
#include <variant>

namespace kpg::server {

class SharedStore {
 public:
  virtual ~SharedStore() = default;
  /// `kind` is "routes" or "consumers". The store's revision of the change, or the message
  /// that says why it could not be made (the store is unreachable, refused it, ...).
  virtual std::variant<std::int64_t, std::string> put(const std::string& kind,
                                                      const std::string& id,
                                                      const std::string& value) = 0;
  virtual std::variant<std::int64_t, std::string> remove(const std::string& kind,
                                                         const std::string& id) = 0;
};

/// A value that arrived from the shared store: its text and revision.
struct StoredValue {
  std::string json;
  std::int64_t revision = 0;
};

}  // namespace kpg::server
