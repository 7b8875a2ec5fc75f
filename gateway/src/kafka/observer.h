// What the read path tells an observer (the gateway's metrics) about its Kafka requests. Header
// only, part of the Kafka layer's interface: the server layer implements it.
#pragma once

#include "kafka/record_source.h"

#include <chrono>
#include <optional>

namespace kpg::kafka {

/// The blocking round trips the read path makes to a cluster.
enum class Request {
  metadata,         ///< the topic list
  watermarks,       ///< a partition's low and high watermarks
  offset_for_time,  ///< the first offset at a timestamp
  position,         ///< a read cursor positioned (watermarks, then the consumer's start)
};

inline const char* request_name(Request request) {
  switch (request) {
    case Request::metadata: return "metadata";
    case Request::watermarks: return "watermarks";
    case Request::offset_for_time: return "offset_for_time";
    case Request::position: return "position";
  }
  return "other";
}

inline const char* error_kind_name(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::unknown_topic: return "unknown_topic";
    case ErrorKind::unknown_partition: return "unknown_partition";
    case ErrorKind::offset_out_of_range: return "offset_out_of_range";
    case ErrorKind::unreachable: return "unreachable";
    case ErrorKind::rejected: return "rejected";
    case ErrorKind::invalid_request: return "invalid_request";
    case ErrorKind::overloaded: return "overloaded";
    case ErrorKind::record_too_large: return "record_too_large";
    case ErrorKind::other: return "other";
  }
  return "other";
}

/// Threading: called on the read path's threads (any of them); must be thread-safe, cheap and
/// must not throw.
class Observer {
 public:
  virtual ~Observer() = default;
  /// A request to the cluster took `took`; `error` when it failed.
  virtual void request_done(Request request, std::chrono::steady_clock::duration took,
                            std::optional<ErrorKind> error) = 0;
  /// An error from a read cursor (what a consumer's fetch from the broker returned).
  virtual void read_error(ErrorKind error) = 0;
};

}  // namespace kpg::kafka
