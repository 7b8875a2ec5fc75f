// A client of etcd v3's JSON gateway over HTTP/1.1, plain or TLS, with the user/password login
// etcd's authentication needs (the token is kept and renewed when etcd refuses it).
//
// Threading: every call runs on the calling thread on an io_context of its own and opens its
// own connection, so calls are independent and may come from any thread; none may be made from
// the data plane's event loop (they block for up to timeout_ms per endpoint). cancel_watch() may
// be called from any thread. Errors are returned (EtcdError), never thrown.
#pragma once

#include "config/etcd_config.h"
#include "store/etcd_codec.h"

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

namespace boost::asio {
class io_context;
namespace ssl {
class context;
}
}  // namespace boost::asio

namespace kpg::store {

class EtcdClient {
 public:
  /// Throws std::runtime_error when the TLS settings cannot be loaded (a missing CA file, ...).
  explicit EtcdClient(config::EtcdConfig config);
  ~EtcdClient();
  EtcdClient(const EtcdClient&) = delete;
  EtcdClient& operator=(const EtcdClient&) = delete;

  /// Every key starting with `prefix`, and the revision that read saw.
  EtcdResult<RangeResult> range_prefix(const std::string& prefix);
  /// The revision of the change.
  EtcdResult<std::int64_t> put(const std::string& key, const std::string& value);
  EtcdResult<std::int64_t> remove(const std::string& key);

  /// Watches every key starting with `prefix` from `start_revision`: calls `on_response` for each
  /// response, on this thread, until it returns false, the stream fails (the error is returned),
  /// or cancel_watch() is called (EtcdErrc::unavailable, "cancelled"). Connecting is bounded by
  /// timeout_ms; an established stream is kept alive by TCP keep-alive probes, so a vanished etcd
  /// ends it within seconds.
  EtcdError watch(const std::string& prefix, std::int64_t start_revision,
                  const std::function<bool(const WatchResponse&)>& on_response);
  /// Ends the running watch and makes every later one return at once (for shutdown).
  void cancel_watch();

  const config::EtcdConfig& config() const { return config_; }

 private:
  struct Reply;
  /// POSTs `body` to `path` (e.g. /v3/kv/put) on the first endpoint that answers; the body of
  /// etcd's 200 answer. Logs in first and again once when etcd refuses the token.
  EtcdResult<std::string> call(const std::string& path, const std::string& body);
  EtcdResult<std::string> call_once(const std::string& path, const std::string& body,
                                    const std::string& token);
  std::string token();
  bool authenticate(EtcdError& error);

  config::EtcdConfig config_;
  std::unique_ptr<boost::asio::ssl::context> tls_;
  std::atomic<std::size_t> preferred_endpoint_{0};
  std::mutex mutex_;
  std::string token_;                                 // guarded by mutex_
  boost::asio::io_context* watch_context_ = nullptr;  // guarded by mutex_
  std::atomic<bool> watch_cancelled_{false};
};

}  // namespace kpg::store
