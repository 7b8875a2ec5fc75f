// Wire frames of the PubSub protocol built from shared parts: a small per-client head followed by
// a batch body encoded once for everyone (Beast's chat example writes one shared buffer to every
// session; here every subscriber's frame is its own few bytes plus that buffer).
//
// Protobuf lets a message's fields come in any order, and a repeated field's entries concatenated
// are the field itself; so a KafkaRecordsResp is "the other fields" followed by the shared
// encoding of `messages` (field 1, as in KafkaFetchResp), and the frame decodes exactly as the
// same PubSubResp encoded in one piece.
#pragma once

#include "kafka/record_source.h"

#include <cstdint>
#include <string>
#include <vector>

namespace kpg::pubsub {

/// One WebSocket message: `head` then the shared batch body (if any). Immutable once built.
struct Frame {
  std::string head;
  kafka::BatchPtr body;
  std::size_t size() const noexcept { return head.size() + (body ? body->body.size() : 0); }
};

/// The batch body for `records`: KafkaMessage entries of field 1, with headers (field 1000) when
/// `with_headers`. Thread-safe; never throws for any record contents.
std::string encode_messages(const std::vector<kafka::Record>& records, bool with_headers);

/// What a kafka_records frame of a filtered or snapshot subscription says beyond its records.
struct RecordsFrameExtras {
  std::int64_t next_offset = 0;  ///< where the partition continues; 0: not said
  bool snapshot = false;         ///< the records are a snapshot's
  bool snapshot_end = false;     ///< the partition's snapshot is complete
};

/// PubSubResp{sequence, kafka_records{subscription_id, partition, high_watermark, extras,
/// messages = batch}}.
Frame records_frame(std::int64_t sequence, std::int64_t subscription_id, std::int32_t partition,
                    kafka::BatchPtr batch, const RecordsFrameExtras& extras = {});

}  // namespace kpg::pubsub
