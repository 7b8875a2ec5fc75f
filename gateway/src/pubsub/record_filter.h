// Server-side record filters (kpg's KafkaFilter): which records of a read a client receives.
//
// A filter is a conjunction of conditions on a record's key, headers and JSON value. It is
// validated once, when a subscription or fetch names it (the refusal names the bad part), and
// compiled into a RecordFilter. Identical filters are interned (FilterRegistry), so that every
// subscriber with the same filter on the same partition shares one evaluation and one encoded
// body per batch: the cost per record does not grow with the number of such subscribers.
//
// Untrusted record contents never throw and never crash: a value that is not valid JSON (or nests
// deeper than kMaxJsonNesting) matches no JSON condition. No I/O.
#pragma once

#include "kafka/record_source.h"

#include <nlohmann/json_fwd.hpp>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace kpg::config {
struct PinnedFilter;
}

namespace kpg::pubsub {

class KafkaFilter;  // generated from proto/kpg/pubsub.proto

/// Conditions of one filter, the client's and the route's together (announced in hello_resp).
inline constexpr std::size_t kMaxFilterConditions = 16;
/// Values of one json_in condition (announced in hello_resp).
inline constexpr std::size_t kMaxFilterValues = 256;
/// Bytes of one key, prefix, header key or value, path or string value of a condition.
inline constexpr std::size_t kMaxFilterOperandBytes = 4096;
/// Nesting of a record's JSON value beyond which it matches no JSON condition.
inline constexpr std::size_t kMaxJsonNesting = 64;

/// A record as a filter sees it: views into bytes owned by the caller.
struct RecordView {
  std::string_view key;
  std::string_view value;
  std::vector<std::pair<std::string_view, std::string_view>> headers;
};

/// A validated filter. Immutable once compiled, except for its cache of filtered batches.
/// Threading: every method may be called from any thread.
class RecordFilter {
 public:
  struct Condition;  // record_filter.cpp

  explicit RecordFilter(std::vector<Condition> conditions, std::string identity);
  ~RecordFilter();
  RecordFilter(const RecordFilter&) = delete;
  RecordFilter& operator=(const RecordFilter&) = delete;

  bool matches(const RecordView& record) const noexcept;
  bool matches(const kafka::Record& record) const noexcept;

  /// The records of `batch` that match, as a batch of their own with the same offsets range
  /// (first_offset, next_offset, high_watermark): a subscriber that receives it continues after
  /// every record read, matching or not. `batch` itself when every record matches. The answer is
  /// kept for the next caller with the same batch (one evaluation and one body per batch).
  kafka::BatchPtr apply(const kafka::BatchPtr& batch) const;

  /// The same for every filter with the same conditions, in any order: what interning compares.
  const std::string& identity() const noexcept { return identity_; }
  std::size_t conditions() const noexcept;

  /// Batches evaluated (not answered from the cache); for tests and benchmarks.
  std::uint64_t evaluations() const noexcept;

 private:
  kafka::BatchPtr evaluate(const kafka::RecordBatch& batch) const;

  std::vector<Condition> conditions_;
  std::string identity_;
  struct Cached {
    std::weak_ptr<const kafka::RecordBatch> source;
    kafka::BatchPtr filtered;
  };
  mutable std::mutex mutex_;
  mutable std::deque<Cached> cache_;  // newest last, bounded by kCachedBatches
  mutable std::uint64_t evaluations_ = 0;
};
using FilterPtr = std::shared_ptr<const RecordFilter>;

/// Validates and compiles `filter` together with `pinned` (conditions the route imposes; encoded
/// FilterCondition messages). On failure, the reason names the bad part, e.g. "filter condition 2
/// (json_in): path must be empty or start with '/'". No condition at all: nullptr (no filter).
std::variant<FilterPtr, std::string> compile_filter(const KafkaFilter* filter,
                                                    const std::vector<std::string>& pinned = {});

/// Interns compiled filters: while a filter is in use, every equal one (same identity) given to
/// intern() is replaced by it, so that their subscribers share its cache.
/// Threading: thread-safe.
class FilterRegistry {
 public:
  FilterPtr intern(FilterPtr filter);
  std::size_t size() const;

 private:
  mutable std::mutex mutex_;
  // By identity; entries of filters nobody uses any more are swept every kSweepEvery interns, so
  // interning stays logarithmic however many filters clients name.
  std::map<std::string, std::weak_ptr<const RecordFilter>, std::less<>> filters_;
  std::size_t interns_ = 0;
};

/// The conditions a connection's route pins to it (`plugins.kafka-proxy.filter`), resolved with
/// the connection's verified JWT claims: every read of the connection is filtered by them, and
/// a client's own filter only adds conditions (it can narrow its view, never widen it).
class PinnedConditions {
 public:
  PinnedConditions() = default;
  /// `policy` nullptr: nothing pinned. A claim the policy names that is absent from `claims`, or
  /// is not a string (or number), makes every read refused with that reason.
  PinnedConditions(const config::PinnedFilter* policy, const nlohmann::json* claims);

  bool empty() const noexcept { return conditions_.empty() && !error_; }
  /// Why reads are refused (NOT_ALLOWED), if they are.
  const std::optional<std::string>& error() const noexcept { return error_; }
  const std::vector<std::string>& conditions() const noexcept { return conditions_; }

 private:
  std::vector<std::string> conditions_;  // encoded FilterCondition messages
  std::optional<std::string> error_;
};

}  // namespace kpg::pubsub
