// The records one partition cursor has read recently, kept so that every request for that stretch
// of the partition is served from one read. Pure data structure: no I/O, no threads, no Kafka.
#pragma once

#include "kafka/record_source.h"

#include <cstddef>
#include <cstdint>
#include <deque>
#include <limits>
#include <vector>

namespace kpg::kafka {

/// Covers the offsets [from(), next()): every record of the partition in that range is held (a
/// compacted topic has gaps between offsets; those offsets simply have no record). Bounded by a
/// byte budget: the oldest records are dropped first.
///
/// Threading: none; the owner serializes access.
class RecordWindow {
 public:
  explicit RecordWindow(std::size_t budget_bytes) : budget_(budget_bytes) {}

  /// Empties the window; the next record expected is `offset`.
  void reset(std::int64_t offset);

  std::int64_t from() const noexcept { return from_; }
  std::int64_t next() const noexcept { return next_; }
  std::size_t bytes() const noexcept { return bytes_; }
  std::size_t size() const noexcept { return records_.size(); }
  bool holds(std::int64_t offset) const noexcept { return offset >= from_ && offset < next_; }

  /// Appends a record read after the window's end. A record before next() (a duplicate, or one
  /// from before a seek) is ignored and false returned. Then drops the oldest records while over
  /// budget, but never records at or after `keep_from` (offsets someone is waiting for).
  bool append(Record record, std::int64_t keep_from = std::numeric_limits<std::int64_t>::max());

  /// Records from `offset` on (which must be held), up to `max_bytes` of keys and values, and at
  /// least one so that a reader can get past a record larger than its limit.
  std::vector<Record> read(std::int64_t offset, std::size_t max_bytes) const;

  /// Key and value bytes held from `offset` on, counting no further than `cap`.
  std::size_t bytes_from(std::int64_t offset, std::size_t cap) const;

  /// Average key+value size of the records held (1 when empty), for read-ahead estimates.
  std::size_t average_record_bytes() const noexcept;

 private:
  std::deque<Record>::const_iterator first_at(std::int64_t offset) const;

  std::size_t budget_;
  std::deque<Record> records_;  // in offset order
  std::size_t bytes_ = 0;
  std::int64_t from_ = 0;
  std::int64_t next_ = 0;
};

}  // namespace kpg::kafka
