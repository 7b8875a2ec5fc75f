// Record filters on any filter a client can send and any record a producer can write. Input:
// a little-endian u16 length, that many bytes of KafkaFilter, then the record's value (its key
// is the value's first 8 bytes, its headers two fixed ones and one holding the value's last 8).
// Checked: compiling never throws; a refused filter says why; matching never throws (the
// function is noexcept: an escaping exception aborts); a record matches the same whether read
// as a Record or out of an encoded batch; and a filtered batch holds exactly the matching
// records, in order, with the batch's offsets range.
#include "fuzz_check.h"
#include "pubsub/frames.h"
#include "pubsub/record_filter.h"

#include <kpg/pubsub.pb.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

using kpg::fuzz::check;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const std::size_t filter_bytes = data[0] | (static_cast<std::size_t>(data[1]) << 8);
  if (filter_bytes > size - 2) return 0;
  kpg::pubsub::KafkaFilter filter;
  if (!filter.ParseFromArray(data + 2, static_cast<int>(filter_bytes))) return 0;
  auto compiled = kpg::pubsub::compile_filter(&filter);
  if (auto* why = std::get_if<std::string>(&compiled)) {
    check(!why->empty(), "a refusal says why");
    return 0;
  }
  const auto f = std::get<kpg::pubsub::FilterPtr>(compiled);
  if (!f) return 0;  // no condition

  const std::string value(reinterpret_cast<const char*>(data + 2 + filter_bytes),
                          size - 2 - filter_bytes);
  std::vector<kpg::kafka::Record> records;
  for (int i = 0; i < 3; ++i) {
    // The same value thrice, the middle one as a tombstone-like empty value.
    kpg::kafka::Record r{100 + i, 7, value.substr(0, 8), i == 1 ? std::string() : value, {}};
    r.headers = {{"tenant", "acme"},
                 {"region", "eu"},
                 {"tail", value.size() > 8 ? value.substr(value.size() - 8) : value}};
    records.push_back(std::move(r));
  }
  std::vector<std::int64_t> expected;
  for (const auto& r : records) {
    if (f->matches(r)) expected.push_back(r.offset);
  }
  auto batch = std::make_shared<kpg::kafka::RecordBatch>();
  batch->first_offset = 100;
  batch->next_offset = 103;
  batch->high_watermark = 200;
  batch->records = records.size();
  batch->body = kpg::pubsub::encode_messages(records, /*with_headers=*/true);
  const auto filtered = f->apply(batch);
  check(filtered != nullptr, "a filtered batch");
  check(filtered->first_offset == 100 && filtered->next_offset == 103 &&
            filtered->high_watermark == 200,
        "a filtered batch keeps the batch's range");
  kpg::pubsub::KafkaFetchResp decoded;
  check(decoded.ParseFromString(filtered->body), "a filtered body decodes");
  check(static_cast<std::size_t>(decoded.messages_size()) == filtered->records,
        "a filtered batch counts its records");
  check(static_cast<std::size_t>(decoded.messages_size()) == expected.size(),
        "a record matches the same in a batch as alone");
  for (int i = 0; i < decoded.messages_size(); ++i) {
    check(decoded.messages(i).offset() == expected[static_cast<std::size_t>(i)],
          "the matching records, in order");
  }
  check(f->apply(batch) == filtered, "the same batch again: the same answer");
  return 0;
}
