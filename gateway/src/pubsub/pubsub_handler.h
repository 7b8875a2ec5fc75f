// The PubSub protocol, APISIX-compatible: decodes one request frame, dispatches it, encodes the
// reply. No I/O: the WebSocket session feeds frames in and writes what comes out.
#pragma once

#include "kafka/record_source.h"

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace kpg::pubsub {

struct Limits {
  kafka::FetchLimits fetch;
};

struct Outcome {
  enum class Kind {
    reply,    ///< `reply` holds an encoded PubSubResp to send now
    pending,  ///< a Kafka command is under way; the reply arrives through AsyncReply
    none,     ///< nothing to send (a frame that decodes to no command)
  };
  Kind kind;
  std::string reply;
};

/// Receives the encoded PubSubResp of a pending command, on a Kafka worker thread.
using AsyncReply = std::function<void(std::string frame)>;

/// Handles one binary frame from a client. Never throws on untrusted input:
/// undecodable → error_resp "wrong command" (sequence 0); no command → none;
/// cmd_empty → error_resp "unknown command"; ping → pong; Kafka commands → pending.
Outcome handle_frame(std::string_view frame, kafka::RecordSource& source, const Limits& limits,
                     AsyncReply async_reply);

/// An encoded error_resp (code 0, as APISIX sends).
std::string encode_error(std::int64_t sequence, std::string_view message);

}  // namespace kpg::pubsub
