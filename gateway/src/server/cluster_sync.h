// Cluster mode: several gateways share their routes and consumers in etcd, under APISIX's key
// layout (PREFIX/routes/{id}, PREFIX/consumers/{username}, values as the admin API shows them).
//
// At start everything under the prefix is read (load()); then a watch from the revision after
// that read follows every change (start()). When the watch breaks (etcd restarted, unreachable)
// the gateway keeps serving the last good configuration and reconnects with a capped backoff,
// resuming from the last applied revision; when etcd has compacted that revision away, it reads
// everything again instead. The admin API writes through put()/remove() (SharedStore).
//
// Threading: the watch runs on a thread of its own and applies changes through the managers'
// thread-safe methods; put()/remove() block the admin API's thread for at most the store's
// timeout per endpoint; up() and revision() may be read from anywhere.
#pragma once

#include "server/consumer_manager.h"
#include "server/route_manager.h"
#include "server/shared_store.h"
#include "store/etcd_client.h"

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace kpg::server {

class ClusterSync final : public SharedStore {
 public:
  /// Makes both managers write through this store. All three must outlive it.
  ClusterSync(store::EtcdClient& etcd, RouteManager& routes, ConsumerManager& consumers);
  ~ClusterSync() override;

  /// Reads every route and consumer. Throws StoreError when etcd cannot be read.
  void load();
  /// Told whether the watch is established and the revision applied last, whenever either
  /// changes (on the watch's thread; set before start()).
  using StatusListener = std::function<void(bool up, std::int64_t revision)>;
  void on_status(StatusListener listener) { on_status_ = std::move(listener); }
  /// Starts following changes (after load()).
  void start();
  /// Ends the watch and joins its thread; idempotent.
  void stop();

  /// Whether the watch is established (changes made elsewhere arrive).
  bool up() const { return up_.load(); }
  /// The revision of the last change applied (0 before any).
  std::int64_t revision() const { return revision_.load(); }

  std::variant<std::int64_t, std::string> put(const std::string& kind, const std::string& id,
                                              const std::string& value) override;
  std::variant<std::int64_t, std::string> remove(const std::string& kind,
                                                 const std::string& id) override;

 private:
  void run();
  /// Reads everything and hands it to the managers; false (logged) when etcd could not be read.
  bool reload(std::string* error);
  void apply(const store::WatchEvent& event);
  void set_up(bool up);

  store::EtcdClient& etcd_;
  RouteManager& routes_;
  ConsumerManager& consumers_;
  const std::string prefix_;  // with the trailing '/'
  std::atomic<bool> up_{false};
  std::atomic<std::int64_t> revision_{0};
  std::atomic<std::int64_t> watched_from_{0};  // the revision the next watch starts after
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;  // guarded by mutex_
  StatusListener on_status_;
  std::thread thread_;
};

}  // namespace kpg::server
