// The one seam between the SDK core and a platform: a message-oriented WebSocket plus a timer.
// sdk-native implements it with Boost.Beast, sdk-wasm with the browser's WebSocket.
//
// Threading contract for implementers: every handler and timer callback runs on the same single
// thread (or strand) on which the Client calls the transport. After close() returns, no handler
// runs any more.
#pragma once

#include <kpg/sdk/types.h>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace kpg::sdk {

/// What the client proves itself with on the upgrade (the route's key-auth / jwt-auth). Each
/// transport sends it as its platform allows (headers natively, the query in browsers) and never
/// logs it.
struct Credentials {
  std::string api_key;  ///< key-auth: header `apikey`, or query `?apikey=`
  std::string token;    ///< jwt-auth: header `Authorization: Bearer`, or query `?jwt=`
  bool empty() const noexcept { return api_key.empty() && token.empty(); }
};

class Transport {
 public:
  struct Handlers {
    std::function<void()> on_open;
    std::function<void(std::string_view frame)> on_binary;
    /// Runs once: when opening fails or an open connection ends (not after close()). A refused
    /// upgrade is ErrorCode::unauthorized (HTTP 401) or forbidden (403): see http_refusal().
    std::function<void(Error)> on_close;
  };

  virtual ~Transport() = default;

  /// Starts opening a WebSocket to `url` (ws:// or wss://), presenting `credentials`.
  virtual void open(const std::string& url, const Credentials& credentials, Handlers handlers) = 0;
  /// Queues one binary frame. Only valid between on_open and close.
  virtual void send(std::string frame) = 0;
  /// Closes the connection (normal closure). Idempotent.
  virtual void close() = 0;
  /// Arms the single timer, replacing any armed one; a negative delay only cancels.
  virtual void set_timer(std::int64_t delay_ms, std::function<void()> callback) = 0;
  /// Monotonic milliseconds.
  virtual std::int64_t now_ms() = 0;
};

}  // namespace kpg::sdk
