// kpg::sdk::Client — the typed PubSub client, written once over the Transport seam and used as is
// by the native and the WASM build.
//
// Threading: not thread-safe. Call it, and receive its callbacks, on the transport's thread (the
// native wrapper in sdk-native takes care of that). Every callback runs exactly once.
// Errors: never throws; failures arrive as Result errors (see ErrorCode).
// Lifetime: destroying the Client closes the connection; pending callbacks are then failed with
// ErrorCode::closed before the destructor returns.
#pragma once

#include <kpg/sdk/protocol_session.h>
#include <kpg/sdk/transport.h>
#include <kpg/sdk/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace kpg::sdk {

struct ClientOptions {
  std::int64_t connect_timeout_ms = 10'000;
  std::int64_t request_timeout_ms = 15'000;
};

struct Connected {};

class Client {
 public:
  using ConnectHandler = std::function<void(Result<Connected>)>;
  using DisconnectHandler = std::function<void(const Error&)>;

  explicit Client(std::unique_ptr<Transport> transport, ClientOptions options = {});
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  /// Opens the WebSocket. Completes once, with Connected or an Error (transport / timeout).
  void connect(const std::string& url, ConnectHandler handler);
  /// Called when an open connection ends for any reason other than close().
  void on_disconnect(DisconnectHandler handler) { on_disconnect_ = std::move(handler); }

  void ping(std::string state, ProtocolSession::PingHandler handler);
  /// at: kEarliest, kLatest or a timestamp in ms.
  void list_offsets(const std::string& topic, std::int32_t partition, std::int64_t at,
                    ProtocolSession::OffsetHandler handler);
  /// Records of the partition from `offset` on (possibly none when at the end of the log).
  void fetch(const std::string& topic, std::int32_t partition, std::int64_t offset,
             ProtocolSession::FetchHandler handler);

  /// Closes the connection; pending requests fail with ErrorCode::closed.
  void close();
  bool is_open() const noexcept { return state_ == State::open; }
  std::size_t pending() const noexcept { return session_.pending(); }

 private:
  enum class State { idle, connecting, open, closed };

  template <class Handler>
  bool reject_if_not_open(Handler& handler);
  void send(ProtocolSession::Outgoing outgoing);
  void arm_timer();
  void on_transport_closed(Error error);

  std::unique_ptr<Transport> transport_;
  ClientOptions options_;
  ProtocolSession session_;
  State state_ = State::idle;
  ConnectHandler on_connect_;
  DisconnectHandler on_disconnect_;
};

}  // namespace kpg::sdk
