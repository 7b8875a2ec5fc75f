#include "kafka/record_window.h"

#include <algorithm>

namespace kpg::kafka {

void RecordWindow::reset(std::int64_t offset) {
  records_.clear();
  bytes_ = 0;
  from_ = offset;
  next_ = offset;
}

bool RecordWindow::append(Record record, std::int64_t keep_from) {
  if (record.offset < next_) return false;
  if (records_.empty()) from_ = std::min(from_, record.offset);
  next_ = record.offset + 1;
  bytes_ += record_bytes(record);
  records_.push_back(std::move(record));
  while (bytes_ > budget_ && records_.size() > 1 && records_.front().offset < keep_from) {
    // Everything after the dropped record stays covered, including offsets that have no record
    // (compaction gaps): a reader waiting at such an offset is served the next record.
    from_ = records_.front().offset + 1;
    bytes_ -= record_bytes(records_.front());
    records_.pop_front();
  }
  return true;
}

std::deque<Record>::const_iterator RecordWindow::first_at(std::int64_t offset) const {
  return std::lower_bound(
      records_.begin(), records_.end(), offset,
      [](const Record& record, std::int64_t wanted) { return record.offset < wanted; });
}

std::vector<Record> RecordWindow::read(std::int64_t offset, std::size_t max_bytes) const {
  std::vector<Record> out;
  if (!holds(offset)) return out;
  std::size_t bytes = 0;
  for (auto it = first_at(offset); it != records_.end(); ++it) {
    const std::size_t size = record_bytes(*it);
    if (!out.empty() && bytes + size > max_bytes) break;
    bytes += size;
    out.push_back(*it);
  }
  return out;
}

std::size_t RecordWindow::bytes_from(std::int64_t offset, std::size_t cap) const {
  std::size_t bytes = 0;
  for (auto it = first_at(offset); it != records_.end() && bytes < cap; ++it) {
    bytes += record_bytes(*it);
  }
  return bytes;
}

std::size_t RecordWindow::average_record_bytes() const noexcept {
  return records_.empty() ? 1 : std::max<std::size_t>(1, bytes_ / records_.size());
}

}  // namespace kpg::kafka
