// What the protocol layer tells an observer (the gateway's metrics) about one connection. No I/O
// and no dependency on how it is counted: the server layer supplies the implementation.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace kpg::pubsub {

/// The request kinds, as metrics name them. `invalid`: the frame did not decode.
enum class Command {
  ping,
  fetch,
  list_offset,
  hello,
  metadata,
  subscribe,
  credit,
  unsubscribe,
  produce,
  group_subscribe,
  commit,
  produce_batch,
  unknown,
  invalid,
};
inline constexpr std::size_t kCommandCount = 14;

/// The label value of `command` (snake case, fixed: a bounded set).
const char* command_name(Command command);

/// The Command of a decoded request's oneof case (PubSubReq::ReqCase as an int).
Command command_of_case(int req_case);

/// True when `reply` (an encoded PubSubResp) is an error_resp. Reads only the first fields, so
/// it costs nothing for a large fetch reply; false for bytes that do not parse.
bool is_error_reply(std::string_view reply);

/// Threading: called on the connection's thread; an implementation shared by connections on
/// several threads must be thread-safe. Never throws.
class ConnectionObserver {
 public:
  virtual ~ConnectionObserver() = default;
  /// A request was answered (or refused); `ok` is false when the answer was an error_resp.
  virtual void command(Command command, bool ok) = 0;
  /// Records left in a reply (push: a records frame; pull: a fetch reply).
  virtual void delivered(std::size_t records, std::size_t bytes, bool push) = 0;
  /// A subscription's batch arrived while it had no credit: it is held until credit comes.
  virtual void credit_stall() = 0;
  /// How far `subscription`'s partition is behind: high watermark - next offset to deliver.
  /// `subscription` identifies it until subscription_ended().
  virtual void lag(const void* subscription, const std::string& topic, std::int32_t partition,
                   std::int64_t lag) = 0;
  virtual void subscription_ended(const void* subscription) = 0;
};

}  // namespace kpg::pubsub
