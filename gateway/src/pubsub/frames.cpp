#include "pubsub/frames.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/wire_format_lite.h>
#include <kpg/pubsub.pb.h>

namespace kpg::pubsub {

namespace {

using google::protobuf::internal::WireFormatLite;
using google::protobuf::io::CodedOutputStream;

// Appends what protobuf writes for one field; fields holding their default value are left out, as
// a plain encode leaves them out.
class Head {
 public:
  void varint_field(int number, std::uint64_t value) {
    if (value == 0) return;
    tag(number, WireFormatLite::WIRETYPE_VARINT);
    varint(value);
  }
  void length_prefix(int number, std::size_t length) {
    tag(number, WireFormatLite::WIRETYPE_LENGTH_DELIMITED);
    varint(length);
  }
  std::string take() { return std::move(out_); }
  std::size_t size() const { return out_.size(); }

 private:
  void tag(int number, WireFormatLite::WireType type) {
    varint(WireFormatLite::MakeTag(number, type));
  }
  void varint(std::uint64_t value) {
    std::uint8_t buffer[10];
    const auto* end = CodedOutputStream::WriteVarint64ToArray(value, buffer);
    out_.append(reinterpret_cast<const char*>(buffer), static_cast<std::size_t>(end - buffer));
  }
  std::string out_;
};

std::size_t body_size(const kafka::BatchPtr& batch) {
  return batch ? batch->body.size() : 0;
}

// int32 and int64 fields are encoded as the 64-bit two's complement varint (negative int32s take
// ten bytes), exactly as protobuf does.
std::uint64_t as_varint(std::int64_t value) {
  return static_cast<std::uint64_t>(value);
}

}  // namespace

std::string encode_messages(const std::vector<kafka::Record>& records, bool with_headers) {
  KafkaFetchResp holder;
  auto* messages = holder.mutable_messages();
  messages->Reserve(static_cast<int>(records.size()));
  for (const auto& record : records) {
    auto* m = messages->Add();
    m->set_offset(record.offset);
    m->set_timestamp(record.timestamp);
    m->set_key(record.key);
    m->set_value(record.value);
    if (with_headers) {
      for (const auto& header : record.headers) {
        auto* h = m->add_headers();
        h->set_key(header.key);
        h->set_value(header.value);
      }
    }
  }
  return holder.SerializeAsString();  // exactly the field-1 entries: the shared body
}

Frame records_frame(std::int64_t sequence, std::int64_t subscription_id, std::int32_t partition,
                    kafka::BatchPtr batch, const RecordsFrameExtras& extras) {
  Head inner;
  inner.varint_field(KafkaRecordsResp::kSubscriptionIdFieldNumber, as_varint(subscription_id));
  inner.varint_field(KafkaRecordsResp::kPartitionFieldNumber, as_varint(partition));
  inner.varint_field(KafkaRecordsResp::kHighWatermarkFieldNumber,
                     as_varint(batch ? batch->high_watermark : 0));
  inner.varint_field(KafkaRecordsResp::kNextOffsetFieldNumber, as_varint(extras.next_offset));
  inner.varint_field(KafkaRecordsResp::kSnapshotFieldNumber, extras.snapshot ? 1 : 0);
  inner.varint_field(KafkaRecordsResp::kSnapshotEndFieldNumber, extras.snapshot_end ? 1 : 0);
  Head head;
  head.varint_field(PubSubResp::kSequenceFieldNumber, as_varint(sequence));
  head.length_prefix(PubSubResp::kKafkaRecordsFieldNumber, inner.size() + body_size(batch));
  std::string bytes = head.take();
  bytes += inner.take();
  return Frame{std::move(bytes), std::move(batch)};
}

}  // namespace kpg::pubsub
