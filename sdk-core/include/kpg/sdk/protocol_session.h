// The I/O-free heart of the SDK: encodes PubSub requests, numbers them, pairs responses to
// requests by sequence, decodes typed results and tracks per-request deadlines.
//
// It never touches a socket or a clock: the caller feeds it received frames and the current time
// and sends the frames it returns. This is what makes it identical in the native and WASM builds
// and testable without a network.
//
// Threading: not thread-safe; use it from one thread (or strand) at a time.
// Handlers are invoked synchronously from on_frame / expire / fail_all, at most once each.
#pragma once

#include <kpg/sdk/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace kpg::sdk {

class ProtocolSession {
 public:
  using PingHandler = std::function<void(Result<std::string>)>;
  using OffsetHandler = std::function<void(Result<std::int64_t>)>;
  using FetchHandler = std::function<void(Result<std::vector<Record>>)>;

  /// A request ready to be sent as one binary WebSocket frame.
  struct Outgoing {
    std::int64_t sequence;
    std::string frame;
  };

  /// What on_frame made of a received frame that paired with no pending request.
  enum class FrameStatus { paired, unpaired, undecodable };

  /// deadline_ms is on the caller's clock (any monotonic milliseconds); expire() compares with it.
  Outgoing ping(std::string state, std::int64_t deadline_ms, PingHandler handler);
  Outgoing list_offsets(std::string_view topic, std::int32_t partition, std::int64_t at,
                        std::int64_t deadline_ms, OffsetHandler handler);
  Outgoing fetch(std::string_view topic, std::int32_t partition, std::int64_t offset,
                 std::int64_t deadline_ms, FetchHandler handler);

  /// Feeds one received binary frame. Pairs it by sequence and completes that request.
  /// A server error_resp completes it with ErrorCode::server; a response of the wrong kind
  /// with ErrorCode::protocol. Never throws on malformed input.
  FrameStatus on_frame(std::string_view frame);

  /// Fails every request whose deadline is <= now_ms with ErrorCode::timeout.
  void expire(std::int64_t now_ms);
  /// Earliest pending deadline, or -1 when nothing is pending.
  std::int64_t next_deadline() const noexcept;
  /// Fails every pending request with `error` (e.g. on disconnect).
  void fail_all(const Error& error);

  std::size_t pending() const noexcept { return pending_.size(); }
  /// Text of the last error_resp that paired with no request (e.g. "wrong command").
  const std::string& last_unpaired_error() const noexcept { return last_unpaired_error_; }

 private:
  struct Pending {
    std::int64_t deadline_ms;
    std::variant<PingHandler, OffsetHandler, FetchHandler> handler;
  };
  std::int64_t register_request(Pending pending);

  std::int64_t next_sequence_ = 1;
  std::map<std::int64_t, Pending> pending_;
  std::string last_unpaired_error_;
};

}  // namespace kpg::sdk
