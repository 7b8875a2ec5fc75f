// Subscriptions: every record of one partition, in order, from a starting point on, with no gaps
// and no duplicates, built only from list_offsets + fetch (so any APISIX-compatible gateway
// serves them).
#pragma once

#include <kpg/sdk/types.h>

#include <cstdint>
#include <functional>
#include <vector>

namespace kpg::sdk {

/// Where a subscription starts.
struct StartAt {
  enum class Kind { earliest, latest, offset, timestamp };
  Kind kind = Kind::latest;
  std::int64_t value = 0;  ///< the offset, or the timestamp in ms

  static StartAt earliest() { return {Kind::earliest, 0}; }
  static StartAt latest() { return {Kind::latest, 0}; }
  static StartAt offset(std::int64_t o) { return {Kind::offset, o}; }
  /// The first record with timestamp >= ms; when there is none yet, the end of the log.
  static StartAt timestamp(std::int64_t ms) { return {Kind::timestamp, ms}; }
};

struct SubscriptionHandlers {
  /// Called with each non-empty batch, in offset order.
  std::function<void(const std::vector<Record>& batch)> on_records;
  /// Called once when the subscription stops because of an error (it is then inactive).
  std::function<void(const Error& error)> on_error;
};

/// Control of a running subscription. Threading: same as the Client that made it.
class Subscription {
 public:
  virtual ~Subscription() = default;
  /// No more on_records calls until resume(); a fetch already under way is held back.
  virtual void pause() = 0;
  virtual void resume() = 0;
  /// Stops for good; no callback runs afterwards. Idempotent.
  virtual void cancel() = 0;
  virtual bool active() const = 0;
  virtual bool paused() const = 0;
  /// The offset of the next record to deliver (-1 until the start was resolved).
  virtual std::int64_t next_offset() const = 0;
};

}  // namespace kpg::sdk
