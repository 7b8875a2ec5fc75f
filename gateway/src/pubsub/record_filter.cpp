#include "pubsub/record_filter.h"

#include "config/pinned_filter.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/wire_format_lite.h>
#include <kpg/pubsub.pb.h>
#include <simdjson.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <limits>

namespace kpg::pubsub {

namespace {

// Filtered batches a filter keeps for the next subscriber asking with the same batch: enough for
// the partitions its subscribers read at the same time.
constexpr std::size_t kCachedBatches = 64;

// Segments of a JSON pointer.
constexpr std::size_t kMaxPathSegments = 32;

struct Scalar {
  enum class Type { string, number, boolean, null };
  Type type = Type::null;
  std::string text;
  double number = 0;
  bool boolean = false;
};

struct PathSegment {
  std::string name;
  std::int64_t index = -1;  // the name read as an array index, or -1 when it is not one
};

}  // namespace

struct RecordFilter::Condition {
  enum class Kind { key_equals, key_prefix, header_equals, json_in, json_compare };
  Kind kind = Kind::key_equals;
  std::string bytes;         // key, prefix or header key
  std::string header_value;  // header_equals
  std::vector<PathSegment> path;
  std::vector<Scalar> values;  // json_in
  JsonFieldCompare::Op op = JsonFieldCompare::OP_UNSPECIFIED;
  double bound = 0;  // json_compare
};

namespace {

using Condition = RecordFilter::Condition;

// ---- JSON: simdjson validates the whole value, then each path is followed ---------------------

// What a record's JSON value holds at a condition's path.
struct Found {
  enum class Type { absent, string, number, boolean, null, container };
  Type type = Type::absent;
  std::string_view text;
  double number = 0;
  bool boolean = false;
};

// A parser per thread, reused: its buffers (and the padded copy of the value simdjson reads)
// grow to the largest value that thread has seen, bounded by the largest record Kafka returns.
struct JsonScratch {
  JsonScratch() {
    // Deeper nesting makes the parse fail: such a value matches no JSON condition.
    // (simdjson refuses a depth equal to its max_depth: kMaxJsonNesting levels are read.)
    if (parser.allocate(64 * 1024, kMaxJsonNesting + 1) != simdjson::SUCCESS) usable = false;
  }
  simdjson::dom::parser parser;
  std::vector<char> padded;
  bool usable = true;
};

// The value at `path` of `root`. An object member that occurs twice counts by its last
// occurrence, as a browser's JSON.parse reads it.
Found value_at(simdjson::dom::element root, const std::vector<PathSegment>& path) {
  simdjson::dom::element at = root;
  for (const auto& segment : path) {
    if (at.is_object()) {
      bool found = false;
      const simdjson::dom::object object = at.get_object().value_unsafe();
      for (const auto field : object) {
        if (field.key == segment.name) {
          at = field.value;
          found = true;
        }
      }
      if (!found) return {};
    } else if (at.is_array() && segment.index >= 0) {
      simdjson::dom::element element;
      const simdjson::dom::array array = at.get_array().value_unsafe();
      if (array.at(static_cast<std::size_t>(segment.index)).get(element)) {
        return {};
      }
      at = element;
    } else {
      return {};
    }
  }
  Found found;
  switch (at.type()) {
    case simdjson::dom::element_type::STRING:
      found.type = Found::Type::string;
      found.text = at.get_string().value_unsafe();
      break;
    case simdjson::dom::element_type::INT64:
    case simdjson::dom::element_type::UINT64:
    case simdjson::dom::element_type::DOUBLE:
      found.type = Found::Type::number;
      found.number = at.get_double().value_unsafe();
      break;
    case simdjson::dom::element_type::BOOL:
      found.type = Found::Type::boolean;
      found.boolean = at.get_bool().value_unsafe();
      break;
    case simdjson::dom::element_type::NULL_VALUE: found.type = Found::Type::null; break;
    default: found.type = Found::Type::container; break;
  }
  return found;
}

bool scalar_equals(const Found& found, const Scalar& value) {
  switch (value.type) {
    case Scalar::Type::string: return found.type == Found::Type::string && found.text == value.text;
    case Scalar::Type::number:
      return found.type == Found::Type::number && found.number == value.number;
    case Scalar::Type::boolean:
      return found.type == Found::Type::boolean && found.boolean == value.boolean;
    case Scalar::Type::null: return found.type == Found::Type::null;
  }
  return false;
}

bool json_condition_holds(const Condition& c, const Found& found) {
  if (c.kind == Condition::Kind::json_in) {
    return std::any_of(c.values.begin(), c.values.end(),
                       [&](const Scalar& v) { return scalar_equals(found, v); });
  }
  if (found.type != Found::Type::number) return false;
  switch (c.op) {
    case JsonFieldCompare::LT: return found.number < c.bound;
    case JsonFieldCompare::LE: return found.number <= c.bound;
    case JsonFieldCompare::GT: return found.number > c.bound;
    case JsonFieldCompare::GE: return found.number >= c.bound;
    default: return false;
  }
}

bool plain_condition_holds(const Condition& c, const RecordView& r) {
  switch (c.kind) {
    case Condition::Kind::key_equals: return r.key == c.bytes;
    case Condition::Kind::key_prefix: return r.key.substr(0, c.bytes.size()) == c.bytes;
    case Condition::Kind::header_equals:
      return std::any_of(r.headers.begin(), r.headers.end(), [&](const auto& h) {
        return h.first == c.bytes && h.second == c.header_value;
      });
    default: return true;  // JSON conditions are evaluated together, afterwards
  }
}

// ---- compiling -----------------------------------------------------------------------------

const char* kind_name(const FilterCondition& c) {
  switch (c.condition_case()) {
    case FilterCondition::kKeyEquals: return "key_equals";
    case FilterCondition::kKeyPrefix: return "key_prefix";
    case FilterCondition::kHeader: return "header";
    case FilterCondition::kJsonIn: return "json_in";
    case FilterCondition::kJsonCompare: return "json_compare";
    default: return "empty";
  }
}

// RFC 6901: "" or "/" followed by segments separated by '/', with "~0" for '~' and "~1" for '/'.
std::optional<std::string> parse_pointer(const std::string& text, std::vector<PathSegment>& out) {
  if (text.size() > kMaxFilterOperandBytes) {
    return "path longer than " + std::to_string(kMaxFilterOperandBytes) + " bytes";
  }
  if (text.empty()) return std::nullopt;
  if (text.front() != '/') return "path must be empty or start with '/' (a JSON Pointer)";
  std::size_t i = 1;
  while (true) {
    if (out.size() == kMaxPathSegments) {
      return "path has more than " + std::to_string(kMaxPathSegments) + " segments";
    }
    PathSegment segment;
    for (; i < text.size() && text[i] != '/'; ++i) {
      if (text[i] != '~') {
        segment.name += text[i];
        continue;
      }
      if (i + 1 < text.size() && (text[i + 1] == '0' || text[i + 1] == '1')) {
        segment.name += text[i + 1] == '0' ? '~' : '/';
        ++i;
        continue;
      }
      return "path has '~' not followed by 0 or 1";
    }
    // An array index: "0", or digits without a leading zero (at most 18 of them).
    const auto& n = segment.name;
    if (!n.empty() && n.size() <= 18 &&
        std::all_of(n.begin(), n.end(), [](char ch) { return ch >= '0' && ch <= '9'; }) &&
        (n.size() == 1 || n[0] != '0')) {
      segment.index = std::stoll(n);
    }
    out.push_back(std::move(segment));
    if (i >= text.size()) return std::nullopt;
    ++i;  // past '/'
  }
}

std::optional<std::string> too_long(std::string_view what, const std::string& bytes) {
  if (bytes.size() <= kMaxFilterOperandBytes) return std::nullopt;
  return std::string(what) + " longer than " + std::to_string(kMaxFilterOperandBytes) + " bytes";
}

std::variant<Condition, std::string> compile_condition(const FilterCondition& in) {
  Condition c;
  switch (in.condition_case()) {
    case FilterCondition::kKeyEquals:
      c.kind = Condition::Kind::key_equals;
      c.bytes = in.key_equals();
      if (auto why = too_long("key", c.bytes)) return *why;
      return c;
    case FilterCondition::kKeyPrefix:
      c.kind = Condition::Kind::key_prefix;
      c.bytes = in.key_prefix();
      if (c.bytes.empty()) return std::string("prefix is empty (it would match every key)");
      if (auto why = too_long("prefix", c.bytes)) return *why;
      return c;
    case FilterCondition::kHeader:
      c.kind = Condition::Kind::header_equals;
      c.bytes = in.header().key();
      c.header_value = in.header().value();
      if (c.bytes.empty()) return std::string("header key is empty");
      if (auto why = too_long("header key", c.bytes)) return *why;
      if (auto why = too_long("header value", c.header_value)) return *why;
      return c;
    case FilterCondition::kJsonIn: {
      c.kind = Condition::Kind::json_in;
      if (auto why = parse_pointer(in.json_in().path(), c.path)) return *why;
      const auto& values = in.json_in().values();
      if (values.empty()) return std::string("no values (it would match no record)");
      if (static_cast<std::size_t>(values.size()) > kMaxFilterValues) {
        return "more than " + std::to_string(kMaxFilterValues) + " values";
      }
      for (int i = 0; i < values.size(); ++i) {
        const JsonScalar& v = values.Get(i);
        Scalar s;
        switch (v.kind_case()) {
          case JsonScalar::kStringValue:
            s.type = Scalar::Type::string;
            s.text = v.string_value();
            if (auto why = too_long("value " + std::to_string(i + 1), s.text)) return *why;
            break;
          case JsonScalar::kNumberValue:
            s.type = Scalar::Type::number;
            s.number = v.number_value();
            if (!std::isfinite(s.number)) {
              return "value " + std::to_string(i + 1) + " is not a finite number";
            }
            break;
          case JsonScalar::kBoolValue:
            s.type = Scalar::Type::boolean;
            s.boolean = v.bool_value();
            break;
          case JsonScalar::kNullValue: s.type = Scalar::Type::null; break;
          default: return "value " + std::to_string(i + 1) + " has no kind";
        }
        c.values.push_back(std::move(s));
      }
      return c;
    }
    case FilterCondition::kJsonCompare: {
      c.kind = Condition::Kind::json_compare;
      if (auto why = parse_pointer(in.json_compare().path(), c.path)) return *why;
      c.op = in.json_compare().op();
      if (c.op != JsonFieldCompare::LT && c.op != JsonFieldCompare::LE &&
          c.op != JsonFieldCompare::GT && c.op != JsonFieldCompare::GE) {
        return std::string("op must be LT, LE, GT or GE");
      }
      c.bound = in.json_compare().value();
      if (!std::isfinite(c.bound)) return std::string("value is not a finite number");
      return c;
    }
    default: return std::string("no condition set");
  }
}

// ---- batches: the shared body, read in place -------------------------------------------------

using google::protobuf::internal::WireFormatLite;
using google::protobuf::io::CodedInputStream;

// Reads a length-delimited field's bytes as a view into `base` (the buffer `in` reads).
bool read_view(CodedInputStream& in, const char* base, std::string_view& out) {
  std::uint32_t length = 0;
  if (!in.ReadVarint32(&length)) return false;
  const auto at = static_cast<std::size_t>(in.CurrentPosition());
  if (!in.Skip(static_cast<int>(length))) return false;
  out = std::string_view(base + at, length);
  return true;
}

// One KafkaMessage's key, value and headers, as views into its encoding.
bool read_message(std::string_view bytes, RecordView& record) {
  record.key = {};
  record.value = {};
  record.headers.clear();
  CodedInputStream in(reinterpret_cast<const std::uint8_t*>(bytes.data()),
                      static_cast<int>(bytes.size()));
  while (const std::uint32_t tag = in.ReadTag()) {
    const int field = WireFormatLite::GetTagFieldNumber(tag);
    const bool delimited =
        WireFormatLite::GetTagWireType(tag) == WireFormatLite::WIRETYPE_LENGTH_DELIMITED;
    if (delimited && field == KafkaMessage::kKeyFieldNumber) {
      if (!read_view(in, bytes.data(), record.key)) return false;
    } else if (delimited && field == KafkaMessage::kValueFieldNumber) {
      if (!read_view(in, bytes.data(), record.value)) return false;
    } else if (delimited && field == KafkaMessage::kHeadersFieldNumber) {
      std::string_view header;
      if (!read_view(in, bytes.data(), header)) return false;
      CodedInputStream h(reinterpret_cast<const std::uint8_t*>(header.data()),
                         static_cast<int>(header.size()));
      std::string_view key;
      std::string_view value;
      while (const std::uint32_t htag = h.ReadTag()) {
        const int hfield = WireFormatLite::GetTagFieldNumber(htag);
        if (WireFormatLite::GetTagWireType(htag) == WireFormatLite::WIRETYPE_LENGTH_DELIMITED &&
            (hfield == KafkaHeader::kKeyFieldNumber || hfield == KafkaHeader::kValueFieldNumber)) {
          if (!read_view(h, header.data(), hfield == KafkaHeader::kKeyFieldNumber ? key : value)) {
            return false;
          }
        } else if (!WireFormatLite::SkipField(&h, htag)) {
          return false;
        }
      }
      record.headers.emplace_back(key, value);
    } else if (!WireFormatLite::SkipField(&in, tag)) {
      return false;
    }
  }
  return in.ConsumedEntireMessage();
}

}  // namespace

// ---- RecordFilter ----------------------------------------------------------------------------

RecordFilter::RecordFilter(std::vector<Condition> conditions, std::string identity)
    : conditions_(std::move(conditions)), identity_(std::move(identity)) {
  // Cheap conditions first: a record they reject is never parsed as JSON.
  std::stable_partition(conditions_.begin(), conditions_.end(), [](const Condition& c) {
    return c.kind != Condition::Kind::json_in && c.kind != Condition::Kind::json_compare;
  });
}

RecordFilter::~RecordFilter() = default;

std::size_t RecordFilter::conditions() const noexcept {
  return conditions_.size();
}

std::uint64_t RecordFilter::evaluations() const noexcept {
  std::lock_guard lock(mutex_);
  return evaluations_;
}

bool RecordFilter::matches(const RecordView& record) const noexcept {
  bool json = false;
  for (const auto& c : conditions_) {
    if (c.kind == Condition::Kind::json_in || c.kind == Condition::Kind::json_compare) {
      json = true;
    } else if (!plain_condition_holds(c, record)) {
      return false;
    }
  }
  if (!json) return true;
  thread_local JsonScratch scratch;
  if (!scratch.usable) return false;
  try {
    // simdjson reads up to SIMDJSON_PADDING bytes past the end: it parses a padded copy.
    if (scratch.padded.size() < record.value.size() + simdjson::SIMDJSON_PADDING) {
      scratch.padded.resize(record.value.size() + simdjson::SIMDJSON_PADDING);
    }
    std::copy(record.value.begin(), record.value.end(), scratch.padded.begin());
    simdjson::dom::element root;
    if (scratch.parser.parse(scratch.padded.data(), record.value.size(), false).get(root)) {
      return false;  // not valid JSON (or nested too deep): no JSON condition holds
    }
    for (const auto& c : conditions_) {
      const bool is_json =
          c.kind == Condition::Kind::json_in || c.kind == Condition::Kind::json_compare;
      if (is_json && !json_condition_holds(c, value_at(root, c.path))) return false;
    }
    return true;
  } catch (...) {
    return false;  // out of memory on a huge value: such a record matches nothing
  }
}

bool RecordFilter::matches(const kafka::Record& record) const noexcept {
  RecordView view{record.key, record.value, {}};
  try {
    view.headers.reserve(record.headers.size());
    for (const auto& h : record.headers) view.headers.emplace_back(h.key, h.value);
  } catch (...) {
    return false;
  }
  return matches(view);
}

kafka::BatchPtr RecordFilter::apply(const kafka::BatchPtr& batch) const {
  if (!batch) return batch;
  std::lock_guard lock(mutex_);
  for (const auto& cached : cache_) {
    // Same control block: the very batch (an expired entry can never compare equal to a live
    // batch, whose control block is a different one).
    if (!cached.source.owner_before(batch) && !batch.owner_before(cached.source)) {
      return cached.filtered;
    }
  }
  // Evaluated under the lock: the other subscribers of this filter asking for the same batch
  // meanwhile wait for this answer instead of computing it again.
  ++evaluations_;
  kafka::BatchPtr filtered = evaluate(*batch);
  if (!filtered) filtered = batch;  // every record matched: the same bytes
  cache_.push_back({batch, filtered});
  while (cache_.size() > kCachedBatches) cache_.pop_front();
  return filtered;
}

kafka::BatchPtr RecordFilter::evaluate(const kafka::RecordBatch& batch) const {
  auto out = std::make_shared<kafka::RecordBatch>();
  out->first_offset = batch.first_offset;
  out->next_offset = batch.next_offset;
  out->high_watermark = batch.high_watermark;
  const std::string& body = batch.body;
  CodedInputStream in(reinterpret_cast<const std::uint8_t*>(body.data()),
                      static_cast<int>(body.size()));
  RecordView record;
  std::size_t seen = 0;
  // Until a record fails to match, the filtered body would be the batch's own bytes: nothing is
  // copied before the first one that does (a batch that matches whole is shared as it is).
  bool skipped = false;
  std::size_t read_to = 0;  // the end of the last whole entry read
  while (true) {
    const auto start = static_cast<std::size_t>(in.CurrentPosition());
    const std::uint32_t tag = in.ReadTag();
    if (tag == 0) break;
    std::string_view message;
    if (tag != WireFormatLite::MakeTag(KafkaFetchResp::kMessagesFieldNumber,
                                       WireFormatLite::WIRETYPE_LENGTH_DELIMITED) ||
        !read_view(in, body.data(), message)) {
      break;  // not a body the encoder made: what follows is not sent (fail closed)
    }
    ++seen;
    read_to = static_cast<std::size_t>(in.CurrentPosition());
    if (!read_message(message, record) || !matches(record)) {
      if (!skipped) out->body.append(body, 0, start);  // the matching records before this one
      skipped = true;
      continue;
    }
    if (skipped) out->body.append(body, start, read_to - start);
    ++out->records;
  }
  if (!skipped && seen == batch.records) return nullptr;
  if (!skipped) out->body.append(body, 0, read_to);  // every entry read matched, then a bad one
  return out;
}

// ---- compiling, interning ------------------------------------------------------------------

std::variant<FilterPtr, std::string> compile_filter(const KafkaFilter* filter,
                                                    const std::vector<std::string>& pinned) {
  std::vector<Condition> conditions;
  std::vector<std::string> encoded;
  const int given = filter ? filter->all_size() : 0;
  if (static_cast<std::size_t>(given) + pinned.size() > kMaxFilterConditions) {
    return "filter: more than " + std::to_string(kMaxFilterConditions) + " conditions" +
           (pinned.empty() ? std::string()
                           : " (with the " + std::to_string(pinned.size()) + " the route adds)");
  }
  for (int i = 0; i < given; ++i) {
    const FilterCondition& in = filter->all(i);
    auto compiled = compile_condition(in);
    if (auto* why = std::get_if<std::string>(&compiled)) {
      return "filter condition " + std::to_string(i + 1) + " (" + kind_name(in) + "): " + *why;
    }
    conditions.push_back(std::move(std::get<Condition>(compiled)));
    encoded.push_back(in.SerializeAsString());
  }
  for (const auto& bytes : pinned) {
    FilterCondition in;
    if (!in.ParseFromString(bytes)) return std::string("filter: the route's filter is invalid");
    auto compiled = compile_condition(in);
    if (auto* why = std::get_if<std::string>(&compiled)) {
      return std::string("filter: the route's ") + kind_name(in) + " condition: " + *why;
    }
    conditions.push_back(std::move(std::get<Condition>(compiled)));
    encoded.push_back(bytes);
  }
  if (conditions.empty()) return FilterPtr();
  // The identity: the encoded conditions in a fixed order, each with its length.
  std::sort(encoded.begin(), encoded.end());
  encoded.erase(std::unique(encoded.begin(), encoded.end()), encoded.end());
  std::string identity;
  for (const auto& e : encoded) {
    identity += std::to_string(e.size());
    identity += ':';
    identity += e;
  }
  return std::make_shared<const RecordFilter>(std::move(conditions), std::move(identity));
}

FilterPtr FilterRegistry::intern(FilterPtr filter) {
  if (!filter) return filter;
  constexpr std::size_t kSweepEvery = 256;
  std::lock_guard lock(mutex_);
  if (++interns_ % kSweepEvery == 0) {
    std::erase_if(filters_, [](const auto& entry) { return entry.second.expired(); });
  }
  auto [it, inserted] = filters_.try_emplace(filter->identity(), filter);
  if (inserted) return filter;
  if (auto existing = it->second.lock()) return existing;
  it->second = filter;  // the earlier one is gone: this one takes its place
  return filter;
}

std::size_t FilterRegistry::size() const {
  std::lock_guard lock(mutex_);
  return static_cast<std::size_t>(std::count_if(
      filters_.begin(), filters_.end(), [](const auto& entry) { return !entry.second.expired(); }));
}

// ---- pinned conditions -----------------------------------------------------------------------

PinnedConditions::PinnedConditions(const config::PinnedFilter* policy,
                                   const nlohmann::json* claims) {
  if (!policy) return;
  for (const auto& pin : policy->conditions) {
    std::string value = pin.value;
    if (!pin.claim.empty()) {
      const nlohmann::json* claim = nullptr;
      if (claims && claims->is_object()) {
        auto it = claims->find(pin.claim);
        if (it != claims->end()) claim = &*it;
      }
      if (!claim) {
        error_ = "the route filters by claim \"" + pin.claim + "\", which the token lacks";
        return;
      }
      if (claim->is_string()) {
        value = claim->get<std::string>();
      } else if (claim->is_number() && pin.kind == config::PinnedFilter::Kind::json_equals) {
        value = claim->dump();
      } else {
        error_ = "the route filters by claim \"" + pin.claim + "\", which is not a string";
        return;
      }
    }
    FilterCondition c;
    switch (pin.kind) {
      case config::PinnedFilter::Kind::key_equals: c.set_key_equals(value); break;
      case config::PinnedFilter::Kind::key_prefix: c.set_key_prefix(value); break;
      case config::PinnedFilter::Kind::header_equals:
        c.mutable_header()->set_key(pin.field);
        c.mutable_header()->set_value(value);
        break;
      case config::PinnedFilter::Kind::json_equals: {
        auto* in = c.mutable_json_in();
        in->set_path(pin.field);
        auto* v = in->add_values();
        const bool number_claim = !pin.claim.empty() && claims->at(pin.claim).is_number();
        if (number_claim) {
          v->set_number_value(claims->at(pin.claim).get<double>());
        } else {
          v->set_string_value(value);
        }
        break;
      }
    }
    conditions_.push_back(c.SerializeAsString());
  }
}

}  // namespace kpg::pubsub
