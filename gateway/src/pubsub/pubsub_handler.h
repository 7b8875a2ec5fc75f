// The PubSub protocol, APISIX-compatible: decodes one request frame, dispatches it, encodes the
// reply. No I/O: the WebSocket session feeds frames in and writes what comes out.
#pragma once

#include "config/topic_acl.h"
#include "kafka/record_source.h"
#include "pubsub/observer.h"
#include "pubsub/record_filter.h"

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace kpg::pubsub {

class PubSubReq;  // generated from proto/kpg/pubsub.proto

struct Limits {
  kafka::FetchLimits fetch;
  // kpg extensions (announced in hello_resp):
  std::uint32_t max_subscriptions = 64;              ///< per connection
  std::uint32_t max_credit = 1024;                   ///< outstanding frames of one subscription
  std::uint32_t max_subscription_partitions = 1024;  ///< partitions of one subscription
  std::uint32_t max_metadata_partitions = 1024;      ///< partitions of one metadata answer
  /// Requests per second of one connection (credit frames aside); 0: no bound. Also applies to
  /// APISIX clients, which are told in APISIX's shape (code 0).
  std::uint32_t max_requests_per_second = 0;
  /// Bytes of latest records one connection's snapshots (start SNAPSHOT) may hold at a time.
  std::uint32_t max_snapshot_bytes = 64 * 1024 * 1024;
  // Announced only (enforced by the session):
  std::uint32_t max_frame_bytes = 1024 * 1024;
  std::uint32_t max_inflight_requests = 64;
};

/// Which topics a connection may name: its route's topic ACL, evaluated with the connection's
/// verified JWT claims. A topic not allowed is refused before anything is asked of Kafka.
struct TopicAccess {
  const config::TopicAcl* acl = nullptr;   ///< nullptr: every topic (the route has no ACL)
  const nlohmann::json* claims = nullptr;  ///< nullptr: none (claim entries allow nothing)
  bool allowed(std::string_view topic) const {
    return acl == nullptr || acl->allowed(topic, claims);
  }
};

/// How a request is answered, beyond what the frame says.
struct RequestContext {
  /// The connection said hello: errors carry kpg ErrorCodes and records carry headers. Before
  /// that, replies are exactly APISIX's.
  bool kpg = false;
  /// Cancelled when the connection ends: its pending Kafka work is dropped.
  kafka::CancelToken cancel = {};
  TopicAccess topics = {};
  /// Optional: the records of every fetch answer are added to it (from a Kafka thread).
  std::atomic<std::uint64_t>* records_sent = nullptr;
  /// Told what fetch replies deliver; called on a Kafka thread. nullptr: nobody.
  ConnectionObserver* observer = nullptr;
  /// The route's filter, pinned to the connection's claims: every fetch is filtered by it (and by
  /// the request's own filter). nullptr: none.
  const PinnedConditions* pinned = nullptr;
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
                     AsyncReply async_reply, const RequestContext& context = {});

/// handle_frame for a request already decoded: APISIX's commands; anything else is "unknown
/// command". `req` may be moved from.
Outcome handle_request(PubSubReq& req, kafka::RecordSource& source, const Limits& limits,
                       AsyncReply async_reply, const RequestContext& context);

/// The reply to a command not handled here.
Outcome unknown_command(std::int64_t sequence, const RequestContext& context);

/// An encoded error_resp. APISIX always sends code 0 (ErrorCode UNSPECIFIED).
std::string encode_error(std::int64_t sequence, std::string_view message, int code = 0);

/// The ErrorCode (proto enum value) for a Kafka error.
int error_code_of(const kafka::KafkaError& error);

}  // namespace kpg::pubsub
