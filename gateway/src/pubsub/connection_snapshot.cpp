// Snapshot-then-tail (cmd_kafka_subscribe with start SNAPSHOT): for each partition, the latest
// record of every key from the earliest offset up to the partition's end when the subscription
// started (a tombstone, an empty value, drops its key), sent in offset order as frames marked
// `snapshot`, the last one marked `snapshot_end`; then live records from that end on, so that
// nothing is missed and nothing comes twice.
//
// The records are gathered with ordinary fetches while the client may have no credit yet; what a
// connection's snapshots hold at a time is bounded by Limits::max_snapshot_bytes (beyond it the
// subscription ends with LIMIT_EXCEEDED), and what all connections' snapshots hold together by
// the gateway's budget (ReadContext::snapshot_memory; beyond it the snapshot that went over ends
// with OVERLOADED, and the others go on).
#include "pubsub/connection.h"
#include "pubsub/connection_thread.h"

#include <kpg/pubsub.pb.h>

#include <algorithm>

namespace kpg::pubsub {

namespace {

// What one key's latest record costs while a snapshot holds it (the map's node and key copy
// included, roughly).
std::size_t held_bytes(const kafka::Record& record) {
  return kafka::record_bytes(record) + record.key.size() + 64;
}

}  // namespace

void Connection::hold_snapshot_bytes(Snapshot& snap, std::size_t bytes) {
  snap.bytes += bytes;
  snapshot_bytes_ += bytes;
  if (snapshot_memory_) snapshot_memory_->take(bytes);
}

void Connection::drop_snapshot_bytes(Snapshot& snap, std::size_t bytes) {
  bytes = std::min(bytes, snap.bytes);
  snap.bytes -= bytes;
  snapshot_bytes_ -= std::min(snapshot_bytes_, bytes);
  if (snapshot_memory_) snapshot_memory_->give_back(bytes);
}

void Connection::release_snapshot(PartitionStream& stream) {
  if (!stream.snapshot) return;
  drop_snapshot_bytes(*stream.snapshot, stream.snapshot->bytes);
  stream.snapshot.reset();
}

void Connection::load_snapshot(Subscription& sub, PartitionStream& stream) {
  Snapshot& snap = *stream.snapshot;
  if (snap.at >= snap.end || snap.end == 0) return make_snapshot_frames(stream);
  snap.loading = true;
  const std::int64_t id = sub.id;
  const std::int32_t partition = stream.partition;
  if (snap.at < 0) {
    // Where the log starts: records before it are gone.
    source_.list_offset(sub.topic, partition, -2, sub.cancel,
                        on_thread([this, id, partition](kafka::OffsetResult r) {
                          Subscription* owner = nullptr;
                          PartitionStream* read = find_stream(id, partition, &owner);
                          if (!read || !read->snapshot) return;
                          if (r.error) {
                            return end(*owner, error_code_of(*r.error),
                                       failure("snapshot", owner->topic, partition, r.error->text));
                          }
                          read->snapshot->loading = false;
                          read->snapshot->at = std::max<std::int64_t>(0, r.offset);
                          pump(*owner);
                        }));
    return;
  }
  source_.fetch(sub.topic, partition, snap.at, limits_.fetch, sub.cancel,
                on_thread([this, id, partition](kafka::FetchResult r) {
                  on_snapshot_records(id, partition, std::move(r));
                }));
}

void Connection::on_snapshot_records(std::int64_t id, std::int32_t partition,
                                     kafka::FetchResult result) {
  Subscription* sub = nullptr;
  PartitionStream* stream = find_stream(id, partition, &sub);
  if (!stream || !stream->snapshot) return;
  Snapshot& snap = *stream->snapshot;
  snap.loading = false;
  if (result.error) {
    return end(*sub, error_code_of(*result.error),
               failure("snapshot", sub->topic, partition, result.error->text));
  }
  for (auto& record : result.records) {
    if (record.offset >= snap.end) {
      snap.at = snap.end;  // what lay before the end were gaps or transaction markers
      break;
    }
    snap.at = record.offset + 1;
    auto it = snap.latest.find(record.key);
    if (it != snap.latest.end()) {
      drop_snapshot_bytes(snap, held_bytes(it->second));
      snap.latest.erase(it);
    }
    // A tombstone removes the key; so does a latest record the filter does not match (the key
    // is then not part of this subscriber's state, and costs no memory).
    if (record.value.empty() || (sub->filter && !sub->filter->matches(record))) continue;
    hold_snapshot_bytes(snap, held_bytes(record));
    std::string key = record.key;
    snap.latest.emplace(std::move(key), std::move(record));
    if (snapshot_bytes_ > limits_.max_snapshot_bytes) {
      return end(*sub, ErrorCode::LIMIT_EXCEEDED,
                 failure("snapshot", sub->topic, partition,
                         "the latest records of this connection's snapshots exceed " +
                             std::to_string(limits_.max_snapshot_bytes) + " bytes"));
    }
    // (Checked after taking: the total goes past the limit by one record at most, and only
    // until end() gives this snapshot's bytes back.)
    if (snapshot_memory_ && snapshot_memory_->over_limit()) {
      return end(
          *sub, ErrorCode::OVERLOADED,
          failure("snapshot", sub->topic, partition,
                  "the gateway's snapshots hold their limit of " +
                      std::to_string(snapshot_memory_->limit()) + " bytes; try again later"));
    }
  }
  // No record where records were expected (the rest of the log was compacted away or is made of
  // transaction markers): the snapshot ends there, and live reading picks up from `end`.
  if (result.records.empty()) snap.at = snap.end;
  pump(*sub);
}

void Connection::make_snapshot_frames(PartitionStream& stream) {
  Snapshot& snap = *stream.snapshot;
  snap.loaded = true;
  std::vector<kafka::Record> records;
  records.reserve(snap.latest.size());
  for (auto& [key, record] : snap.latest) records.push_back(std::move(record));  // all match
  snap.latest.clear();
  drop_snapshot_bytes(snap, snap.bytes);
  std::sort(records.begin(), records.end(),
            [](const kafka::Record& a, const kafka::Record& b) { return a.offset < b.offset; });

  // Frames of at most max_batch_bytes of records each (at least one record), as live frames.
  auto add_frame = [&](std::vector<kafka::Record> part, bool last) {
    auto batch = std::make_shared<kafka::RecordBatch>();
    batch->first_offset = part.empty() ? snap.end : part.front().offset;
    batch->next_offset = last || part.empty() ? snap.end : part.back().offset + 1;
    batch->high_watermark = snap.end;
    batch->records = part.size();
    batch->body = encode_messages(part, /*with_headers=*/true);
    hold_snapshot_bytes(snap, batch->body.size());
    snap.frames.push_back(std::move(batch));
  };
  std::vector<kafka::Record> part;
  std::size_t part_bytes = 0;
  for (auto& record : records) {
    const std::size_t bytes = kafka::record_bytes(record);
    if (!part.empty() && part_bytes + bytes > limits_.fetch.max_bytes) {
      add_frame(std::move(part), false);
      part.clear();
      part_bytes = 0;
    }
    part_bytes += bytes;
    part.push_back(std::move(record));
  }
  add_frame(std::move(part), true);
}

void Connection::deliver_snapshot_frame(Subscription& sub, PartitionStream& stream) {
  Snapshot& snap = *stream.snapshot;
  kafka::BatchPtr batch = std::move(snap.frames.front());
  snap.frames.pop_front();
  drop_snapshot_bytes(snap, batch->body.size());
  RecordsFrameExtras extras;
  extras.snapshot = true;
  extras.snapshot_end = snap.frames.empty();
  // The last frame's next_offset is the end the snapshot was taken up to: deliver() moves the
  // partition there, and live records follow from it.
  if (extras.snapshot_end) release_snapshot(stream);
  deliver(sub, stream, std::move(batch), extras);
}

}  // namespace kpg::pubsub
