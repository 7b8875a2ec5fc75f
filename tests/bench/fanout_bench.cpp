// kpg-bench-fanout: one partition fanned out to K subscribers while a producer writes at a set
// rate, side by side on the same broker and data:
//
//   push    cmd_hello + cmd_kafka_subscribe with credit; credit is granted back as frames are
//           consumed (kpg's push protocol);
//   fetch   the APISIX loop: cmd_kafka_fetch again as soon as the previous reply arrived, on the
//           same gateway;
//   direct  librdkafka consumers straight on the broker (the ceiling; one thread each, so only up
//           to --direct-max of them).
//
// Plus idle subscribed connections (--idle N): what each costs the gateway in resident memory.
// And stalled clients (--stalled N): after each push row, the same row again with N more
// subscribers that stop reading their socket; they must be closed by the gateway, its memory for
// them capped, the others' latency unchanged.
// And filters (--filters N): the producer tags record n with "k<n % N>" (its key, a header
// f: k<n % N>, and with --filter-kind json a JSON value {"t":STAMP,"f":"k<n % N>",...}); after
// each push row (no filter, the baseline: the same records) come the same K subscribers again,
// subscriber i with a filter that matches "k<i % N>" only (key_equals, header or json_in, per
// --filter-kind). Each must receive exactly its records, once, in offset order (offsets step by
// N); frames carry next_offset and may hold no record (credited back like any frame).
//
// How each figure is measured (printed with the table too):
//   deliveries/s      records received by all subscribers / (first produce .. last delivery);
//   gateway CPU       utime+stime of the gateway process (/proc/PID/stat) over that window;
//   allocations       the gateway runs with LD_PRELOAD=libkpg-bench-alloc-counter.so (built
//                     here, tests/bench/alloc_counter.cpp): heap allocations over the window;
//   upstream bytes    every broker connection goes through a counting TCP relay in this process
//                     (the broker listens on 127.0.0.2:P and advertises 127.0.0.1:P, where the
//                     relay is); bytes broker -> gateway are those on connections whose socket
//                     belongs to the gateway process (matched through /proc/net/tcp and
//                     /proc/PID/fd). One topic and one partition are read, so that is the
//                     partition's upstream traffic, protocol overhead and empty polls included;
//   latency           the producer writes its send time (steady clock, ns, 16 hex digits) at the
//                     start of each value; subscribers compute receive - send on arrival;
//   idle memory       (gateway RSS with N idle subscribed connections - RSS with one) / N;
//   stalled clients   closed = their socket ends (end of stream or reset) when finally read, and
//                     the gateway logged why; RSS peak = /proc/PID/status sampled every 20 ms.
//
// The load client is this one process: Boost.Beast WebSocket streams on --client-threads I/O
// threads. Frames are walked with protobuf's CodedInputStream for the offsets and values only;
// every --verify-every-th frame is also parsed in full with the generated PubSubResp and the two
// readings must agree. Every subscriber must receive every record once, in order: anything else
// is reported (and fails --smoke, the ctest round, which never asserts speed).
#include "child_process.h"
#include "local_net.h"
#include "process_stats.h"

#include <kpg/pubsub.pb.h>

#include <fcntl.h>
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/wire_format_lite.h>
#include <librdkafka/rdkafka.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>
#include <CLI/CLI.hpp>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <fstream>
#include <future>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr const char* kTopic = "bench";
constexpr const char* kIdleTopic = "idle";

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// ---- latency ---------------------------------------------------------------------------------

// Log-linear histogram of microseconds: exact below 1024 µs, then 512 buckets per power of two
// (under 0.2% error). Bounded memory whatever the number of samples.
class LatencyHistogram {
 public:
  void add(std::int64_t us) {
    if (us < 0) us = 0;
    max_ = std::max(max_, us);
    ++counts_[index(static_cast<std::uint64_t>(us))];
    ++total_;
  }
  void merge(const LatencyHistogram& other) {
    for (std::size_t i = 0; i < kBuckets; ++i) counts_[i] += other.counts_[i];
    total_ += other.total_;
    max_ = std::max(max_, other.max_);
  }
  std::uint64_t total() const { return total_; }
  std::int64_t max() const { return max_; }
  /// The smallest bucket value at or above fraction q of the samples.
  std::int64_t quantile(double q) const {
    if (total_ == 0) return 0;
    const auto rank = static_cast<std::uint64_t>(q * static_cast<double>(total_ - 1)) + 1;
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < kBuckets; ++i) {
      seen += counts_[i];
      if (seen >= rank) return std::min(lower_bound(i), max_);
    }
    return max_;
  }

 private:
  static constexpr int kSubBits = 9;
  static constexpr std::size_t kLinear = 1024;
  static constexpr int kMaxExponent = 40;
  static constexpr std::size_t kBuckets =
      kLinear + static_cast<std::size_t>(kMaxExponent - 9) * (1u << kSubBits);

  static std::size_t index(std::uint64_t v) {
    if (v < kLinear) return static_cast<std::size_t>(v);
    int e = 63 - __builtin_clzll(v);
    if (e >= kMaxExponent) return kBuckets - 1;
    const auto sub = (v >> (e - kSubBits)) & ((1u << kSubBits) - 1);
    return kLinear + static_cast<std::size_t>(e - 10) * (1u << kSubBits) + sub;
  }
  static std::int64_t lower_bound(std::size_t i) {
    if (i < kLinear) return static_cast<std::int64_t>(i);
    const auto e = static_cast<int>((i - kLinear) >> kSubBits) + 10;
    const auto sub = (i - kLinear) & ((1u << kSubBits) - 1);
    return static_cast<std::int64_t>((std::uint64_t{1} << e) + (sub << (e - kSubBits)));
  }

  std::vector<std::uint64_t> counts_ = std::vector<std::uint64_t>(kBuckets);
  std::uint64_t total_ = 0;
  std::int64_t max_ = 0;
};

// Values start with the send time: 16 lowercase hex digits of now_ns(). JSON values (filters of
// --filter-kind json) are {"t":"STAMP","f":"TAG","p":"xxx"}: the stamp at a fixed place too.
constexpr std::string_view kJsonStampPrefix = "{\"t\":\"";

std::string make_value(std::size_t size, std::string_view json_tag = {}) {
  char stamp[17];
  std::snprintf(stamp, sizeof stamp, "%016llx", static_cast<unsigned long long>(now_ns()));
  if (!json_tag.empty()) {
    std::string v = std::string(kJsonStampPrefix) + std::string(stamp, 16) + "\",\"f\":\"" +
                    std::string(json_tag) + "\",\"p\":\"";
    if (size > v.size() + 2) v.resize(size - 2, 'x');
    return v + "\"}";
  }
  std::string v(stamp, 16);
  if (size > v.size()) v.resize(size, 'x');
  return v;
}

std::optional<std::int64_t> sent_at(std::string_view value) {
  if (value.substr(0, kJsonStampPrefix.size()) == kJsonStampPrefix) {
    value.remove_prefix(kJsonStampPrefix.size());
  }
  if (value.size() < 16) return std::nullopt;
  std::uint64_t ns = 0;
  auto [end, ec] = std::from_chars(value.data(), value.data() + 16, ns, 16);
  if (ec != std::errc() || end != value.data() + 16) return std::nullopt;
  return static_cast<std::int64_t>(ns);
}

// Filters (--filters N): the tag of record n of a row, and the filter of subscriber i.
std::string filter_tag(std::size_t n) {
  return "k" + std::to_string(n);
}

enum class FilterKind { key, header, json };

const char* filter_kind_name(FilterKind kind) {
  switch (kind) {
    case FilterKind::key: return "key";
    case FilterKind::header: return "header";
    case FilterKind::json: return "json";
  }
  return "?";
}

constexpr const char* kFilterHeader = "f";

// Records of `produced` a subscriber of filter `slot` (of `filters`) must receive: those n with
// n % filters == slot. Without filters (0): every one.
std::uint64_t expected_records(std::int64_t produced, std::size_t filters, std::size_t slot) {
  if (filters == 0) return static_cast<std::uint64_t>(produced);
  const auto n = static_cast<std::int64_t>(filters);
  const auto s = static_cast<std::int64_t>(slot);
  return produced > s ? static_cast<std::uint64_t>((produced - s + n - 1) / n) : 0;
}

std::uint64_t expected_deliveries(std::int64_t produced, std::size_t subscribers,
                                  std::size_t filters) {
  std::uint64_t total = 0;
  for (std::size_t i = 0; i < subscribers; ++i) {
    total += expected_records(produced, filters, filters == 0 ? 0 : i % filters);
  }
  return total;
}

// ---- frame walking ---------------------------------------------------------------------------

struct WalkedRecord {
  std::int64_t offset = 0;  // proto3 leaves zeros off the wire
  std::string_view key;
  std::string_view value;
};

// What a PubSubResp frame is, read with CodedInputStream: its sequence, which `resp` field it
// carries, and for kafka_fetch_resp (33) / kafka_records (1003) the offset and value of each
// message (views into the frame), and kafka_records.next_offset (1001; filtered subscriptions).
// Nothing else is decoded.
struct WalkedFrame {
  std::int64_t sequence = 0;
  int resp_field = 0;
  std::vector<WalkedRecord> records;
  std::int64_t next_offset = 0;  // 0: not said
};

constexpr int kFetchResp = 33;
constexpr int kRecords = 1003;

bool walk_message(google::protobuf::io::CodedInputStream& in, const char* base, WalkedRecord& out) {
  using google::protobuf::internal::WireFormatLite;
  while (const auto tag = in.ReadTag()) {
    const auto field = WireFormatLite::GetTagFieldNumber(tag);
    const auto type = WireFormatLite::GetTagWireType(tag);
    if (field == 1 && type == WireFormatLite::WIRETYPE_VARINT) {
      std::uint64_t offset = 0;
      if (!in.ReadVarint64(&offset)) return false;
      out.offset = static_cast<std::int64_t>(offset);
    } else if ((field == 3 || field == 4) && type == WireFormatLite::WIRETYPE_LENGTH_DELIMITED) {
      std::uint32_t length = 0;
      if (!in.ReadVarint32(&length)) return false;
      const auto at = static_cast<std::size_t>(in.CurrentPosition());
      if (!in.Skip(static_cast<int>(length))) return false;
      (field == 3 ? out.key : out.value) = std::string_view(base + at, length);
    } else if (!WireFormatLite::SkipField(&in, tag)) {
      return false;
    }
  }
  return in.ConsumedEntireMessage();
}

bool walk_frame(std::string_view frame, WalkedFrame& out) {
  using google::protobuf::internal::WireFormatLite;
  out.sequence = 0;
  out.resp_field = 0;
  out.records.clear();
  out.next_offset = 0;
  google::protobuf::io::CodedInputStream in(reinterpret_cast<const std::uint8_t*>(frame.data()),
                                            static_cast<int>(frame.size()));
  while (const auto tag = in.ReadTag()) {
    const auto field = static_cast<int>(WireFormatLite::GetTagFieldNumber(tag));
    const auto type = WireFormatLite::GetTagWireType(tag);
    if (field == 1 && type == WireFormatLite::WIRETYPE_VARINT) {
      std::uint64_t sequence = 0;
      if (!in.ReadVarint64(&sequence)) return false;
      out.sequence = static_cast<std::int64_t>(sequence);
      continue;
    }
    if (field >= 31) out.resp_field = field;
    if ((field == kFetchResp || field == kRecords) &&
        type == WireFormatLite::WIRETYPE_LENGTH_DELIMITED) {
      std::uint32_t length = 0;
      if (!in.ReadVarint32(&length)) return false;
      const auto outer = in.PushLimit(static_cast<int>(length));
      while (const auto inner = in.ReadTag()) {
        if (WireFormatLite::GetTagFieldNumber(inner) == 1 &&
            WireFormatLite::GetTagWireType(inner) == WireFormatLite::WIRETYPE_LENGTH_DELIMITED) {
          std::uint32_t message_length = 0;
          if (!in.ReadVarint32(&message_length)) return false;
          const auto message = in.PushLimit(static_cast<int>(message_length));
          WalkedRecord record;
          if (!walk_message(in, frame.data(), record)) return false;
          in.PopLimit(message);
          out.records.push_back(record);
        } else if (field == kRecords && WireFormatLite::GetTagFieldNumber(inner) == 1001 &&
                   WireFormatLite::GetTagWireType(inner) == WireFormatLite::WIRETYPE_VARINT) {
          std::uint64_t next = 0;
          if (!in.ReadVarint64(&next)) return false;
          out.next_offset = static_cast<std::int64_t>(next);
        } else if (!WireFormatLite::SkipField(&in, inner)) {
          return false;
        }
      }
      if (!in.ConsumedEntireMessage()) return false;
      in.PopLimit(outer);
      continue;
    }
    if (!WireFormatLite::SkipField(&in, tag)) return false;
  }
  return in.ConsumedEntireMessage();
}

// The full protobuf parse of the same frame must read the same records.
std::optional<std::string> cross_check(std::string_view frame, const WalkedFrame& walked) {
  kpg::pubsub::PubSubResp resp;
  if (!resp.ParseFromArray(frame.data(), static_cast<int>(frame.size()))) {
    return "protobuf cannot parse a frame the walker read";
  }
  if (resp.sequence() != walked.sequence) return "sequence differs from protobuf's";
  const google::protobuf::RepeatedPtrField<kpg::pubsub::KafkaMessage>* messages = nullptr;
  if (resp.has_kafka_fetch_resp()) messages = &resp.kafka_fetch_resp().messages();
  if (resp.has_kafka_records()) {
    messages = &resp.kafka_records().messages();
    if (resp.kafka_records().next_offset() != walked.next_offset) {
      return "next_offset differs from protobuf's";
    }
  }
  if (messages == nullptr) {
    return walked.records.empty()
               ? std::nullopt
               : std::optional<std::string>("walker found records, protobuf none");
  }
  if (messages->size() != static_cast<int>(walked.records.size())) {
    return "record count differs from protobuf's";
  }
  for (int i = 0; i < messages->size(); ++i) {
    const auto& m = messages->Get(i);
    const auto& w = walked.records[static_cast<std::size_t>(i)];
    if (m.offset() != w.offset || m.key() != w.key || m.value() != w.value) {
      return "a record differs from protobuf's";
    }
  }
  return std::nullopt;
}

// ---- requests --------------------------------------------------------------------------------

std::string hello_frame(std::int64_t sequence) {
  kpg::pubsub::PubSubReq req;
  req.set_sequence(sequence);
  req.mutable_cmd_hello()->set_protocol_version(1);
  req.mutable_cmd_hello()->set_client("kpg-bench-fanout");
  return req.SerializeAsString();
}

// `tag` non-empty: with a filter matching the records tagged so (see filter_tag), by `kind`.
std::string subscribe_frame(std::int64_t sequence, const std::string& topic, std::int64_t offset,
                            std::uint32_t credit, const std::string& tag = {},
                            FilterKind kind = FilterKind::key) {
  kpg::pubsub::PubSubReq req;
  req.set_sequence(sequence);
  auto* cmd = req.mutable_cmd_kafka_subscribe();
  cmd->set_topic(topic);
  auto* start = cmd->add_offsets();
  start->set_partition(0);
  start->set_offset(offset);
  cmd->set_credit(credit);
  if (!tag.empty()) {
    auto* condition = cmd->mutable_filter()->add_all();
    switch (kind) {
      case FilterKind::key: condition->set_key_equals(tag); break;
      case FilterKind::header:
        condition->mutable_header()->set_key(kFilterHeader);
        condition->mutable_header()->set_value(tag);
        break;
      case FilterKind::json:
        condition->mutable_json_in()->set_path("/f");
        condition->mutable_json_in()->add_values()->set_string_value(tag);
        break;
    }
  }
  return req.SerializeAsString();
}

std::string credit_frame(std::int64_t sequence, std::int64_t subscription, std::uint32_t credit) {
  kpg::pubsub::PubSubReq req;
  req.set_sequence(sequence);
  req.mutable_cmd_credit()->set_subscription_id(subscription);
  req.mutable_cmd_credit()->set_credit(credit);
  return req.SerializeAsString();
}

std::string fetch_request(std::int64_t sequence, const std::string& topic, std::int64_t offset) {
  kpg::pubsub::PubSubReq req;
  req.set_sequence(sequence);
  auto* cmd = req.mutable_cmd_kafka_fetch();
  cmd->set_topic(topic);
  cmd->set_partition(0);
  cmd->set_offset(offset);
  return req.SerializeAsString();
}

// ---- load client -----------------------------------------------------------------------------

enum class Mode { push, fetch };

constexpr auto kBusyRetry = 100ms;

// "Try again later": OVERLOADED after hello; before it (code 0) only the text tells.
bool is_busy(const kpg::pubsub::ErrorResp& error) {
  return error.code() == kpg::pubsub::OVERLOADED ||
         (error.code() == 0 && error.message().find("gateway busy") != std::string::npos);
}

const char* mode_name(Mode m) {
  return m == Mode::push ? "push" : "fetch";
}

struct ClientSettings {
  Mode mode = Mode::push;
  std::string host;
  std::string port;
  std::string path;
  std::string topic;
  std::int64_t start = 0;  // first offset every subscriber reads
  std::uint32_t credit = 64;
  std::size_t verify_every = 1000;
  bool record = true;  // count deliveries and latencies (false: idle connections)
  // Subscribe with all the credit the gateway allows, then never read the socket again.
  bool stall = false;
  // Push only, > 0: subscriber i subscribes with the filter of tag i % filters (filter_tag).
  std::size_t filters = 0;
  FilterKind filter_kind = FilterKind::key;
};

// Small, and set before connecting so that the window offered to the gateway is small too: its
// writes stop as soon as its own socket buffer is full.
constexpr int kStalledReceiveBuffer = 4096;

// A stalled subscriber once its socket is read again (Subscriber::drain).
struct StallOutcome {
  std::uint16_t port = 0;     // local port: the gateway logs it as client=127.0.0.1:PORT
  bool closed = false;        // the socket ended: end of stream or reset
  std::string end;            // how reading ended ("" when it did not)
  std::uint64_t drained = 0;  // bytes read after the stall
};

// Counters shared with the main thread.
struct Progress {
  std::atomic<std::size_t> ready{0};
  std::atomic<std::size_t> failed{0};
  std::atomic<std::uint64_t> deliveries{0};
  std::atomic<std::int64_t> last_delivery_ns{0};
  std::atomic<std::size_t> drained{0};  // stalled subscribers whose socket was read to its end
};

class Worker;

// One subscriber: one WebSocket connection, run by one worker thread (so no locking).
class Subscriber {
 public:
  Subscriber(Worker& worker, asio::io_context& io, std::size_t index)
      : worker_(worker), ws_(io), retry_(io), index_(index) {}
  void open();
  void close() {
    beast::error_code ignored;
    ws_.next_layer().close(ignored);
  }
  void drain();
  /// The next record this subscriber must receive (with a filter: the next matching one).
  std::int64_t next_offset() const { return next_; }
  /// With a filter: the last next_offset a frame said (the start until then).
  std::int64_t read_to() const { return read_to_; }
  std::size_t index() const { return index_; }
  bool failed() const { return failed_; }
  const StallOutcome& stall_outcome() const { return stall_; }

 private:
  void on_connected();
  void read();
  void drain_next();
  void on_frame(std::string_view frame);
  void on_records(const WalkedFrame& walked);
  void send(std::string frame);
  void write_next();
  void fail(const std::string& why);

  Worker& worker_;
  websocket::stream<tcp::socket> ws_;
  beast::flat_buffer buffer_;
  std::deque<std::string> out_;
  bool writing_ = false;
  bool ready_ = false;
  bool failed_ = false;
  std::int64_t sequence_ = 0;
  std::int64_t next_ = 0;
  std::int64_t subscription_ = 0;
  std::uint32_t owed_credit_ = 0;
  std::uint32_t credit_window_ = 1;
  asio::steady_timer retry_;
  bool stalled_ = false;  // subscribed with settings.stall: no more reads until drain()
  StallOutcome stall_;
  std::unique_ptr<std::array<char, 65536>> drain_buffer_;
  std::size_t index_ = 0;     // among the LoadClient's subscribers
  std::string tag_;           // filtered: the tag of the records to receive
  std::int64_t stride_ = 1;   // filtered: offsets of matching records step by this
  std::int64_t read_to_ = 0;  // filtered: the last next_offset said
};

// An I/O thread with its subscribers; statistics are its own until the run ends.
class Worker {
 public:
  Worker(const ClientSettings& client_settings, Progress& shared_progress)
      : settings(client_settings), progress(shared_progress), guard_(io_.get_executor()) {}
  ~Worker() { stop(); }

  void add(std::size_t index) {
    subscribers_.push_back(std::make_unique<Subscriber>(*this, io_, index));
  }
  void start(const tcp::endpoint& endpoint) {
    endpoint_ = endpoint;
    thread_ = std::thread([this] { io_.run(); });
    asio::post(io_, [this] {
      // Bounded connection attempts in flight: a burst of 10k SYNs overflows the listen backlog
      // and turns into 1 s retransmissions.
      for (int i = 0; i < kOpening; ++i) open_next();
    });
  }
  void open_next() {
    if (next_open_ < subscribers_.size()) subscribers_[next_open_++]->open();
  }
  /// Reads the sockets of stalled subscribers to their end.
  void drain() {
    asio::post(io_, [this] {
      for (const auto& s : subscribers_) s->drain();
    });
  }
  /// Subscribers whose last next_offset said is `end` (on the worker's thread; while it runs).
  std::size_t count_read_to(std::int64_t end) {
    if (!thread_.joinable()) return 0;
    std::promise<std::size_t> counted;
    auto result = counted.get_future();
    asio::post(io_, [this, end, &counted] {
      std::size_t n = 0;
      for (const auto& s : subscribers_) n += s->read_to() == end ? 1 : 0;
      counted.set_value(n);
    });
    return result.get();
  }
  /// Stops the thread, then closes every connection (pending handlers never run).
  void stop() {
    if (!thread_.joinable()) return;
    guard_.reset();
    io_.stop();
    thread_.join();
    for (const auto& s : subscribers_) {
      positions.push_back(s->failed() ? -1 : s->next_offset());
      indexes.push_back(s->index());
      read_to.push_back(s->read_to());
      if (settings.stall) stalls.push_back(s->stall_outcome());
    }
    subscribers_.clear();
  }
  void note_error(const std::string& what) {
    ++errors;
    if (error_samples.size() < 5) error_samples.push_back(what);
  }

  const ClientSettings& settings;
  Progress& progress;
  tcp::endpoint endpoint_;
  LatencyHistogram latency;
  WalkedFrame scratch;
  std::uint64_t frames = 0;
  std::uint64_t verified = 0;
  std::uint64_t errors = 0;
  std::uint64_t busy = 0;           // "gateway busy" replies to fetches (retried)
  std::uint64_t empty_frames = 0;   // filtered: frames that only said next_offset
  std::uint64_t record_frames = 0;  // push: kafka_records frames consumed (empty ones too)
  std::vector<std::string> error_samples;
  std::vector<std::int64_t> positions;  // each subscriber's next offset (-1: failed), after stop
  std::vector<std::size_t> indexes;     // and its index among the LoadClient's
  std::vector<std::int64_t> read_to;    // and its last next_offset said (filtered)
  std::vector<StallOutcome> stalls;     // settings.stall: each subscriber's, after stop

 private:
  static constexpr int kOpening = 64;
  asio::io_context io_{1};
  asio::executor_work_guard<asio::io_context::executor_type> guard_;
  std::vector<std::unique_ptr<Subscriber>> subscribers_;
  std::size_t next_open_ = 0;
  std::thread thread_;
};

void Subscriber::open() {
  next_ = worker_.settings.start;
  read_to_ = worker_.settings.start;
  if (worker_.settings.filters > 0) {
    const auto slot = index_ % worker_.settings.filters;
    tag_ = filter_tag(slot);
    stride_ = static_cast<std::int64_t>(worker_.settings.filters);
    next_ += static_cast<std::int64_t>(slot);  // the row's record n is at start + n
  }
  if (worker_.settings.stall) {
    beast::error_code ec;
    ws_.next_layer().open(worker_.endpoint_.protocol(), ec);
    if (!ec) {
      ws_.next_layer().set_option(asio::socket_base::receive_buffer_size(kStalledReceiveBuffer),
                                  ec);
    }
    if (ec) return fail("receive buffer: " + ec.message());
  }
  ws_.next_layer().async_connect(worker_.endpoint_, [this](beast::error_code ec) {
    if (ec) return fail("connect: " + ec.message());
    beast::error_code ignored;
    ws_.next_layer().set_option(tcp::no_delay(true), ignored);
    stall_.port = ws_.next_layer().local_endpoint(ignored).port();
    ws_.binary(true);
    ws_.read_message_max(64 * 1024 * 1024);
    ws_.async_handshake(worker_.settings.host + ":" + worker_.settings.port, worker_.settings.path,
                        [this](beast::error_code hec) {
                          if (hec) return fail("handshake: " + hec.message());
                          on_connected();
                        });
  });
}

void Subscriber::on_connected() {
  read();
  if (worker_.settings.mode == Mode::push) {
    send(hello_frame(++sequence_));
  } else {
    ready_ = true;
    ++worker_.progress.ready;
    worker_.open_next();
    send(fetch_request(++sequence_, worker_.settings.topic, next_));
  }
}

void Subscriber::read() {
  ws_.async_read(buffer_, [this](beast::error_code ec, std::size_t) {
    if (ec) return fail("read: " + ec.message());
    const auto data = buffer_.cdata();
    on_frame(std::string_view(static_cast<const char*>(data.data()), data.size()));
    buffer_.consume(buffer_.size());
    if (!failed_ && !stalled_) read();
  });
}

// Raw TCP, not WebSocket: a gateway that gives up on a client may cut a frame in the middle, and
// what it had sent is not looked at. The socket ends only if the gateway closed it.
void Subscriber::drain() {
  if (!stalled_) {
    stall_.end = failed_ ? "failed before stalling" : "never stalled";
    ++worker_.progress.drained;
    return;
  }
  drain_buffer_ = std::make_unique<std::array<char, 65536>>();
  drain_next();
}

void Subscriber::drain_next() {
  ws_.next_layer().async_read_some(
      asio::buffer(*drain_buffer_), [this](beast::error_code ec, std::size_t n) {
        stall_.drained += n;
        if (!ec) return drain_next();
        stall_.closed = ec == asio::error::eof || ec == asio::error::connection_reset;
        stall_.end = ec == asio::error::eof ? "end of stream" : ec.message();
        ++worker_.progress.drained;
      });
}

void Subscriber::on_frame(std::string_view frame) {
  auto& walked = worker_.scratch;
  if (!walk_frame(frame, walked)) return fail("a frame the walker cannot read");
  if (++worker_.frames % worker_.settings.verify_every == 0 ||
      (walked.resp_field != kRecords && walked.resp_field != kFetchResp)) {
    ++worker_.verified;
    if (auto mismatch = cross_check(frame, walked)) return fail(*mismatch);
  }
  switch (walked.resp_field) {
    case kRecords:
    case kFetchResp: return on_records(walked);
    case 1000: {  // hello_resp
      kpg::pubsub::PubSubResp resp;
      resp.ParseFromArray(frame.data(), static_cast<int>(frame.size()));
      const auto& hello = resp.hello_resp();
      const auto& features = hello.features();
      if (std::find(features.begin(), features.end(), "push") == features.end()) {
        return fail("the gateway does not offer push (hello_resp features)");
      }
      if (!tag_.empty() &&
          std::find(features.begin(), features.end(), "filters") == features.end()) {
        return fail("the gateway does not offer filters (hello_resp features)");
      }
      // Granted back as frames are consumed, the outstanding credit never exceeds the initial.
      auto credit = worker_.settings.credit;
      if (hello.limits().max_credit() > 0) credit = std::min(credit, hello.limits().max_credit());
      // A stalled client never grants credit back: with all it may have, what stops the gateway
      // pushing to it is its write queue, not the credit.
      if (worker_.settings.stall && hello.limits().max_credit() > 0) {
        credit = hello.limits().max_credit();
      }
      credit_window_ = credit;
      send(subscribe_frame(++sequence_, worker_.settings.topic, worker_.settings.start, credit,
                           tag_, worker_.settings.filter_kind));
      return;
    }
    case 1002: {  // kafka_subscribe_resp
      kpg::pubsub::PubSubResp resp;
      resp.ParseFromArray(frame.data(), static_cast<int>(frame.size()));
      const auto& answer = resp.kafka_subscribe_resp();
      subscription_ = answer.subscription_id();
      if (answer.start_size() != 1 || answer.start(0).offset() != worker_.settings.start) {
        return fail("subscribe started elsewhere than asked");
      }
      ready_ = true;
      stalled_ = worker_.settings.stall;
      ++worker_.progress.ready;
      worker_.open_next();
      return;
    }
    case 31: {
      kpg::pubsub::PubSubResp resp;
      resp.ParseFromArray(frame.data(), static_cast<int>(frame.size()));
      if (worker_.settings.mode == Mode::fetch && is_busy(resp.error_resp())) {
        // The gateway bounds the fetches waiting per cluster; an APISIX client retries later.
        ++worker_.busy;
        retry_.expires_after(kBusyRetry);
        retry_.async_wait([this](beast::error_code ec) {
          if (!ec && !failed_) send(fetch_request(++sequence_, worker_.settings.topic, next_));
        });
        return;
      }
      return fail("error_resp code " + std::to_string(resp.error_resp().code()) + ": " +
                  resp.error_resp().message());
    }
    default: return fail("unexpected reply (field " + std::to_string(walked.resp_field) + ")");
  }
}

void Subscriber::on_records(const WalkedFrame& walked) {
  if (worker_.settings.stall) return;  // never consumed, so never credited back
  const bool push = walked.resp_field == kRecords;
  const bool filtered = !tag_.empty();
  if (push && walked.records.empty() && !filtered) return fail("an empty kafka_records frame");
  const auto now = now_ns();
  for (const auto& r : walked.records) {
    if (r.offset != next_) {
      return fail("offset " + std::to_string(r.offset) + " where " + std::to_string(next_) +
                  " was next (" + (filtered ? "with filter " + tag_ + ", " : std::string()) +
                  "gap, duplicate or a record that does not match)");
    }
    if (filtered && r.key != tag_) {
      return fail("filter " + tag_ + ": a record with key '" + std::string(r.key) + "' at " +
                  std::to_string(r.offset));
    }
    next_ += stride_;
    if (!worker_.settings.record) continue;
    if (auto sent = sent_at(r.value)) {
      worker_.latency.add((now - *sent) / 1000);
    } else {
      return fail("a value without the producer's send time");
    }
  }
  if (worker_.settings.record && !walked.records.empty()) {
    worker_.progress.deliveries.fetch_add(walked.records.size(), std::memory_order_relaxed);
    worker_.progress.last_delivery_ns.store(now, std::memory_order_relaxed);
  }
  if (filtered) {
    // Where the partition continues: past this frame's records, never back, and every matching
    // record before it received (next_ is the next matching offset).
    const auto said = walked.next_offset;
    const auto last = walked.records.empty() ? read_to_ : walked.records.back().offset;
    if (said <= last || said < read_to_ || said > next_) {
      return fail("filter " + tag_ + ": next_offset " + std::to_string(said) + " after " +
                  std::to_string(read_to_) + " (last record " + std::to_string(last) +
                  ", next matching offset " + std::to_string(next_) + ")");
    }
    if (walked.records.empty()) ++worker_.empty_frames;
    read_to_ = said;
  }
  if (push) {
    ++worker_.record_frames;
    // One credit per consumed frame (an empty one too), granted back in batches of half the
    // window.
    if (++owed_credit_ >= std::max<std::uint32_t>(1, credit_window_ / 2)) {
      send(credit_frame(++sequence_, subscription_, owed_credit_));
      owed_credit_ = 0;
    }
  } else {
    send(fetch_request(++sequence_, worker_.settings.topic, next_));
  }
}

void Subscriber::send(std::string frame) {
  out_.push_back(std::move(frame));
  if (!writing_) write_next();
}

void Subscriber::write_next() {
  if (out_.empty() || failed_) {
    writing_ = false;
    return;
  }
  writing_ = true;
  ws_.async_write(asio::buffer(out_.front()), [this](beast::error_code ec, std::size_t) {
    out_.pop_front();
    if (ec) return fail("write: " + ec.message());
    write_next();
  });
}

void Subscriber::fail(const std::string& why) {
  if (failed_) return;
  failed_ = true;
  worker_.note_error(why);
  ++worker_.progress.failed;
  if (!ready_) worker_.open_next();
  close();
}

// K subscribers spread over the worker threads.
class LoadClient {
 public:
  LoadClient(ClientSettings settings, std::size_t subscribers, int threads)
      : settings_(std::move(settings)), count_(subscribers) {
    for (int t = 0; t < threads; ++t)
      workers_.push_back(std::make_unique<Worker>(settings_, progress_));
    for (std::size_t i = 0; i < subscribers; ++i) {
      workers_[i % workers_.size()]->add(i);
    }
    tcp::endpoint endpoint(asio::ip::make_address(settings_.host),
                           static_cast<std::uint16_t>(std::stoi(settings_.port)));
    for (auto& w : workers_) w->start(endpoint);
  }
  ~LoadClient() { stop(); }

  /// Waits until every subscriber is ready (or failed); false on timeout.
  bool wait_ready(std::chrono::seconds timeout) {
    const auto deadline = Clock::now() + timeout;
    while (progress_.ready + progress_.failed < count_) {
      if (Clock::now() > deadline) return false;
      std::this_thread::sleep_for(10ms);
    }
    return true;
  }
  Progress& progress() { return progress_; }
  /// Stalled subscribers: reads their sockets to the end; false when some did not end in time.
  bool drain(std::chrono::seconds timeout) {
    for (auto& w : workers_) w->drain();
    const auto deadline = Clock::now() + timeout;
    while (progress_.drained < count_) {
      if (Clock::now() > deadline) return false;
      std::this_thread::sleep_for(10ms);
    }
    return true;
  }
  void stop() {
    for (auto& w : workers_) w->stop();
  }
  /// Filtered: waits up to `timeout` until every subscriber was told next_offset `end`.
  void wait_read_to(std::int64_t end, std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
      std::size_t told = 0;
      for (auto& w : workers_) told += w->count_read_to(end);
      if (told >= count_) return;
      std::this_thread::sleep_for(50ms);
    }
  }

  struct Summary {
    LatencyHistogram latency;
    std::uint64_t frames = 0;
    std::uint64_t verified = 0;
    std::uint64_t errors = 0;
    std::uint64_t busy = 0;
    std::uint64_t empty_frames = 0;
    std::uint64_t record_frames = 0;
    std::vector<std::string> error_samples;
    std::vector<std::int64_t> next_offsets;
    std::vector<std::size_t> indexes;   // of next_offsets[i]'s subscriber (LoadClient only)
    std::vector<std::int64_t> read_to;  // its last next_offset said (LoadClient only)
    std::vector<StallOutcome> stalls;
  };
  /// After stop().
  Summary summary() const {
    Summary s;
    for (const auto& w : workers_) {
      s.latency.merge(w->latency);
      s.frames += w->frames;
      s.verified += w->verified;
      s.errors += w->errors;
      s.busy += w->busy;
      s.empty_frames += w->empty_frames;
      s.record_frames += w->record_frames;
      for (const auto& e : w->error_samples) {
        if (s.error_samples.size() < 5) s.error_samples.push_back(e);
      }
      s.next_offsets.insert(s.next_offsets.end(), w->positions.begin(), w->positions.end());
      s.indexes.insert(s.indexes.end(), w->indexes.begin(), w->indexes.end());
      s.read_to.insert(s.read_to.end(), w->read_to.begin(), w->read_to.end());
      s.stalls.insert(s.stalls.end(), w->stalls.begin(), w->stalls.end());
    }
    return s;
  }

 private:
  ClientSettings settings_;
  std::size_t count_;
  Progress progress_;
  std::vector<std::unique_ptr<Worker>> workers_;
};

// ---- broker relay ----------------------------------------------------------------------------

// Inode of the TCP socket 127.0.0.1:local -> 127.0.0.1:remote (IPv4 loopback), from
// /proc/net/tcp; 0 when there is none.
unsigned long loopback_socket_inode(int local, int remote) {
  char local_hex[32];
  char remote_hex[32];
  std::snprintf(local_hex, sizeof local_hex, "0100007F:%04X", local);
  std::snprintf(remote_hex, sizeof remote_hex, "0100007F:%04X", remote);
  std::ifstream in("/proc/net/tcp");
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string slot, l, r, state, queues, timer, retransmits, uid, timeout;
    unsigned long inode = 0;
    fields >> slot >> l >> r >> state >> queues >> timer >> retransmits >> uid >> timeout >> inode;
    if (l == local_hex && r == remote_hex) return inode;
  }
  return 0;
}

bool process_has_socket(int pid, unsigned long inode) {
  const std::string wanted = "socket:[" + std::to_string(inode) + "]";
  std::error_code ec;
  for (const auto& entry :
       std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec)) {
    std::error_code link_ec;
    if (std::filesystem::read_symlink(entry.path(), link_ec).string() == wanted) return true;
  }
  return false;
}

// Forwards 127.0.0.1:port to 127.0.0.2:port and counts the bytes the broker sends, split into
// connections of the watched process (the gateway) and everyone else (this process).
class CountingRelay {
 public:
  explicit CountingRelay(int port)
      : port_(port),
        acceptor_(io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"),
                                     static_cast<std::uint16_t>(port))) {
    accept();
    thread_ = std::thread([this] { io_.run(); });
  }
  ~CountingRelay() {
    io_.stop();
    thread_.join();
  }
  void watch(int pid) { watched_pid_ = pid; }
  std::uint64_t to_watched() const { return to_watched_; }
  std::uint64_t to_others() const { return to_others_; }

 private:
  struct Pipe : std::enable_shared_from_this<Pipe> {
    Pipe(tcp::socket c, asio::io_context& io) : client(std::move(c)), broker(io) {}
    tcp::socket client;
    tcp::socket broker;
    std::array<char, 65536> up{};
    std::array<char, 65536> down{};
    std::atomic<std::uint64_t>* counter = nullptr;
    void stop() {
      beast::error_code ignored;
      client.close(ignored);
      broker.close(ignored);
    }
  };

  void accept() {
    acceptor_.async_accept([this](beast::error_code ec, tcp::socket socket) {
      if (ec) return;
      auto pipe = std::make_shared<Pipe>(std::move(socket), io_);
      const int peer = pipe->client.remote_endpoint(ec).port();
      const auto inode = loopback_socket_inode(peer, port_);
      const int pid = watched_pid_;
      pipe->counter =
          pid > 0 && inode != 0 && process_has_socket(pid, inode) ? &to_watched_ : &to_others_;
      pipe->client.set_option(tcp::no_delay(true), ec);
      pipe->broker.async_connect(
          tcp::endpoint(asio::ip::make_address("127.0.0.2"), static_cast<std::uint16_t>(port_)),
          [this, pipe](beast::error_code cec) {
            if (cec) return pipe->stop();
            beast::error_code ignored;
            pipe->broker.set_option(tcp::no_delay(true), ignored);
            pump(pipe, pipe->client, pipe->broker, pipe->up, nullptr);
            pump(pipe, pipe->broker, pipe->client, pipe->down, pipe->counter);
          });
      accept();
    });
  }

  static void pump(const std::shared_ptr<Pipe>& pipe, tcp::socket& from, tcp::socket& to,
                   std::array<char, 65536>& buffer, std::atomic<std::uint64_t>* counter) {
    from.async_read_some(asio::buffer(buffer), [pipe, &from, &to, &buffer, counter](
                                                   beast::error_code ec, std::size_t n) {
      if (ec) return pipe->stop();
      if (counter != nullptr) counter->fetch_add(n, std::memory_order_relaxed);
      asio::async_write(to, asio::buffer(buffer.data(), n),
                        [pipe, &from, &to, &buffer, counter](beast::error_code wec, std::size_t) {
                          if (wec) return pipe->stop();
                          pump(pipe, from, to, buffer, counter);
                        });
    });
  }

  int port_;
  asio::io_context io_{1};
  tcp::acceptor acceptor_;
  std::atomic<int> watched_pid_{0};
  std::atomic<std::uint64_t> to_watched_{0};
  std::atomic<std::uint64_t> to_others_{0};
  std::thread thread_;
};

// ---- gateway ---------------------------------------------------------------------------------

// The allocation counts a preloaded libkpg-bench-alloc-counter.so keeps in `path`.
class AllocCounts {
 public:
  explicit AllocCounts(std::filesystem::path path) : path_(std::move(path)) {}
  ~AllocCounts() {
    if (map_ != nullptr) ::munmap(map_, kBytes);
  }
  /// The sum of the slots; nullopt when the counter is not loaded.
  std::optional<std::uint64_t> total() {
    if (map_ == nullptr) {
      const int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) return std::nullopt;
      void* m = ::mmap(nullptr, kBytes, PROT_READ, MAP_SHARED, fd, 0);
      ::close(fd);
      if (m == MAP_FAILED) return std::nullopt;
      map_ = m;
    }
    std::uint64_t sum = 0;
    const auto* slots = static_cast<const std::uint64_t*>(map_);
    for (std::size_t i = 0; i < kSlots; ++i) {
      sum += __atomic_load_n(&slots[i * 8], __ATOMIC_RELAXED);
    }
    return sum;
  }

 private:
  static constexpr std::size_t kSlots = 64;
  static constexpr std::size_t kBytes = kSlots * 64;  // alloc_counter.cpp's layout
  std::filesystem::path path_;
  void* map_ = nullptr;
};

struct GatewayOptions {
  std::string binary;
  std::string alloc_counter;  // "" = no counting
  std::string bootstrap;
  std::filesystem::path dir;
  std::size_t max_connections = 0;
  int io_threads = 0;  // 0: the gateway's default (one per core)
  int fetch_wait_ms = 50;
  std::size_t max_queued_requests = 4096;
  std::size_t max_write_queue_bytes = 0;  // 0: the gateway's default
  int write_timeout_ms = 0;               // 0: the gateway's default
};

// A kpg-gateway process; its output is drained by a thread so that a chatty log never blocks it.
class GatewayRun {
 public:
  explicit GatewayRun(const GatewayOptions& options)
      : port_(kpg::testing::free_port()), allocs_(options.dir / "alloc-counts") {
    std::filesystem::create_directories(options.dir);
    std::filesystem::remove(options.dir / "alloc-counts");
    const auto config = options.dir / "gateway.yaml";
    const auto connections = std::to_string(options.max_connections);
    std::ostringstream yaml;
    yaml << "listen: 127.0.0.1:" << port_ << "\nadmin_listen: 127.0.0.1:0\n"
         << "data_dir: " << (options.dir / "data").string() << "\n"
         << "log_level: warn\n"
         << "max_connections: " << connections << "\n"
         << "max_connections_per_address: " << connections << "\n"
         << "io_threads: " << options.io_threads << "\n"
         << "kafka_fetch_wait_ms: " << options.fetch_wait_ms << "\n"
         << "kafka_max_queued_requests: " << options.max_queued_requests << "\n";
    if (options.max_write_queue_bytes > 0) {
      yaml << "max_write_queue_bytes: " << options.max_write_queue_bytes << "\n";
    }
    if (options.write_timeout_ms > 0)
      yaml << "write_timeout_ms: " << options.write_timeout_ms << "\n";
    yaml << "routes:\n  - id: bench\n    uri: /bench\n"
         << "    upstream: {scheme: kafka, nodes: {\"" << options.bootstrap << "\": 1}}\n";
    std::ofstream(config) << yaml.str();
    std::vector<std::string> argv = {"/usr/bin/env"};
    if (!options.alloc_counter.empty()) {
      argv.push_back("LD_PRELOAD=" + options.alloc_counter);
      argv.push_back("KPG_ALLOC_COUNTS=" + (options.dir / "alloc-counts").string());
    }
    argv.insert(argv.end(), {options.binary, "--config", config.string()});
    process_ = std::make_unique<kpg::testing::ChildProcess>(argv);
    drain_ = std::thread([this] {
      while (!stopping_) {
        auto line = process_->read_line(200ms);
        if (!line) continue;
        std::lock_guard lock(mutex_);
        if (tail_.size() == 20) tail_.pop_front();
        tail_.push_back(*line);
        for (const char* event : kCloseEvents) {
          if (line->find(event) != std::string::npos && closes_.size() < 10'000) {
            closes_.push_back({line->substr(line->find(event)), Clock::now()});
          }
        }
      }
    });
    if (!kpg::testing::wait_for_port(port_, 15s)) {
      throw std::runtime_error("the gateway did not start listening; its output:\n" + tail());
    }
  }
  ~GatewayRun() {
    stopping_ = true;
    drain_.join();
    process_->stop(SIGTERM, 10s);
  }
  int pid() const { return process_->pid(); }
  std::string port() const { return std::to_string(port_); }
  std::optional<std::uint64_t> allocations() { return allocs_.total(); }
  std::string tail() {
    std::lock_guard lock(mutex_);
    std::string out;
    for (const auto& l : tail_) out += l + "\n";
    return out;
  }
  struct CloseEvent {
    std::string text;  // from "event=" to the end of the line
    Clock::time_point seen;
  };
  /// Why and when the gateway gave up on the client at 127.0.0.1:port, if it logged so.
  std::optional<CloseEvent> close_event(std::uint16_t port) {
    const auto client = "client=127.0.0.1:" + std::to_string(port) + " ";
    std::lock_guard lock(mutex_);
    for (const auto& c : closes_) {
      if (c.text.find(client) != std::string::npos) return c;
    }
    return std::nullopt;
  }

 private:
  // The warnings the gateway logs when it closes a client that does not read (server/
  // websocket_session.cpp); the bench runs it with log_level warn.
  static constexpr std::array<const char*, 3> kCloseEvents = {
      "event=write_timeout", "event=write_queue_overflow", "event=total_write_queue_full"};
  int port_;
  AllocCounts allocs_;
  std::unique_ptr<kpg::testing::ChildProcess> process_;
  std::atomic<bool> stopping_{false};
  std::thread drain_;
  std::mutex mutex_;
  std::deque<std::string> tail_;
  std::vector<CloseEvent> closes_;
};

// The gateway's resident memory sampled every 20 ms until stop(): the peak of a row, which a
// reading at its end would miss (a stalled client's queue is freed once it is closed).
class RssPeak {
 public:
  explicit RssPeak(int pid)
      : thread_([this, pid] {
          while (!stopping_) {
            peak_ = std::max(peak_.load(), kpg::testing::rss_kib(pid));
            std::this_thread::sleep_for(20ms);
          }
        }) {}
  ~RssPeak() { stop(); }
  long stop() {
    stopping_ = true;
    if (thread_.joinable()) thread_.join();
    return peak_;
  }

 private:
  std::atomic<bool> stopping_{false};
  std::atomic<long> peak_{0};
  std::thread thread_;  // last: it uses the members above
};

// ---- producer and direct consumers (librdkafka) ----------------------------------------------

using KafkaHandle = std::unique_ptr<rd_kafka_t, decltype(&rd_kafka_destroy)>;

KafkaHandle make_kafka(rd_kafka_type_t type,
                       const std::vector<std::pair<std::string, std::string>>& settings) {
  char error[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  for (const auto& [key, value] : settings) {
    if (rd_kafka_conf_set(conf, key.c_str(), value.c_str(), error, sizeof error) !=
        RD_KAFKA_CONF_OK) {
      rd_kafka_conf_destroy(conf);
      throw std::runtime_error("librdkafka setting " + key + ": " + error);
    }
  }
  rd_kafka_t* rk = rd_kafka_new(type, conf, error, sizeof error);
  if (rk == nullptr) {
    rd_kafka_conf_destroy(conf);
    throw std::runtime_error(std::string("librdkafka: ") + error);
  }
  return KafkaHandle(rk, &rd_kafka_destroy);
}

class RateProducer {
 public:
  explicit RateProducer(const std::string& bootstrap)
      : rk_(make_kafka(RD_KAFKA_PRODUCER,
                       {{"bootstrap.servers", bootstrap}, {"linger.ms", "0"}, {"acks", "1"}})) {}

  /// The partition's high watermark (the offset the next record gets).
  std::int64_t high_watermark(const char* topic) {
    std::int64_t low = 0;
    std::int64_t high = 0;
    const auto err = rd_kafka_query_watermark_offsets(rk_.get(), topic, 0, &low, &high, 10'000);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      throw std::runtime_error(std::string("watermarks: ") + rd_kafka_err2str(err));
    }
    return high;
  }

  /// filters > 0: record n of each produce() gets the key filter_tag(n % filters), the header
  /// kFilterHeader with the same value, and with `json` a JSON value carrying it as "f".
  void tag_records(std::size_t filters, bool json) {
    filters_ = filters;
    json_ = json;
  }

  /// Writes rate x seconds records of `size` bytes to partition 0, evenly spread in time (in
  /// steps of at most 1 ms), and waits until the broker acknowledged them all.
  std::int64_t produce(const char* topic, double rate, double seconds, std::size_t size) {
    const auto total = static_cast<std::int64_t>(rate * seconds);
    const auto start = Clock::now();
    std::int64_t sent = 0;
    while (sent < total) {
      const auto due =
          std::min<std::int64_t>(total, static_cast<std::int64_t>(seconds_since(start) * rate) + 1);
      for (; sent < due; ++sent) {
        const std::string tag =
            filters_ > 0 ? filter_tag(static_cast<std::size_t>(sent) % filters_) : std::string();
        std::string value = make_value(size, json_ ? tag : std::string_view());
        while (true) {
          // produceva: the RD_KAFKA_V_* macros of producev are C casts.
          rd_kafka_vu_t fields[6];
          fields[0].vtype = RD_KAFKA_VTYPE_TOPIC;
          fields[0].u.cstr = topic;
          fields[1].vtype = RD_KAFKA_VTYPE_PARTITION;
          fields[1].u.i32 = 0;
          fields[2].vtype = RD_KAFKA_VTYPE_VALUE;
          fields[2].u.mem.ptr = value.data();
          fields[2].u.mem.size = value.size();
          fields[3].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
          fields[3].u.i = RD_KAFKA_MSG_F_COPY;
          std::size_t count = 4;
          if (!tag.empty()) {
            fields[4].vtype = RD_KAFKA_VTYPE_KEY;
            fields[4].u.mem.ptr = const_cast<char*>(tag.data());
            fields[4].u.mem.size = tag.size();
            fields[5].vtype = RD_KAFKA_VTYPE_HEADER;
            fields[5].u.header.name = kFilterHeader;
            fields[5].u.header.val = tag.data();
            fields[5].u.header.size = static_cast<ssize_t>(tag.size());
            count = 6;
          }
          rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
          if (rd_kafka_error_t* error = rd_kafka_produceva(rk_.get(), fields, count)) {
            err = rd_kafka_error_code(error);
            rd_kafka_error_destroy(error);
          }
          if (err == RD_KAFKA_RESP_ERR_NO_ERROR) break;
          if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            throw std::runtime_error(std::string("produce: ") + rd_kafka_err2str(err));
          }
          rd_kafka_poll(rk_.get(), 1);
        }
      }
      rd_kafka_poll(rk_.get(), 0);
      const auto next_due = start + std::chrono::duration_cast<Clock::duration>(
                                        std::chrono::duration<double>((sent + 1) / rate));
      std::this_thread::sleep_until(std::min(next_due, Clock::now() + 1ms));
    }
    if (rd_kafka_flush(rk_.get(), 30'000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
      throw std::runtime_error("produce: the broker did not acknowledge every record in 30 s");
    }
    return total;
  }

 private:
  KafkaHandle rk_;
  std::size_t filters_ = 0;
  bool json_ = false;
};

// K librdkafka consumers, one thread each, assigned to partition 0 from `start`.
class DirectConsumers {
 public:
  DirectConsumers(const std::string& bootstrap, std::size_t count, std::int64_t start,
                  int fetch_wait) {
    const std::string fetch_wait_ms = std::to_string(fetch_wait);
    for (std::size_t i = 0; i < count; ++i) {
      consumers_.push_back(std::make_unique<Consumer>());
      auto* c = consumers_.back().get();
      c->next = start;
      // The gateway's own fetch settings (kafka/rdkafka_client.cpp), so that the ceiling is
      // measured with the same broker round trips.
      c->rk = make_kafka(RD_KAFKA_CONSUMER, {{"bootstrap.servers", bootstrap},
                                             {"group.id", "kpg-bench-direct-" + std::to_string(i)},
                                             {"enable.auto.commit", "false"},
                                             {"fetch.wait.max.ms", fetch_wait_ms},
                                             {"fetch.error.backoff.ms", "50"},
                                             {"enable.partition.eof", "false"}});
      rd_kafka_poll_set_consumer(c->rk.get());
      auto* list = rd_kafka_topic_partition_list_new(1);
      rd_kafka_topic_partition_list_add(list, kTopic, 0)->offset = start;
      const auto err = rd_kafka_assign(c->rk.get(), list);
      rd_kafka_topic_partition_list_destroy(list);
      if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        throw std::runtime_error(std::string("assign: ") + rd_kafka_err2str(err));
      }
      c->thread = std::thread([this, c] { run(*c); });
    }
  }
  ~DirectConsumers() { stop(); }
  void stop() {
    stopping_ = true;
    for (auto& c : consumers_) {
      if (c->thread.joinable()) c->thread.join();
      if (c->rk) {
        rd_kafka_consumer_close(c->rk.get());
        c->rk.reset();
      }
    }
  }
  Progress& progress() { return progress_; }
  LoadClient::Summary summary() const {
    LoadClient::Summary s;
    for (const auto& c : consumers_) {
      s.latency.merge(c->latency);
      s.errors += c->errors;
      if (!c->error.empty() && s.error_samples.size() < 5) s.error_samples.push_back(c->error);
      s.next_offsets.push_back(c->errors == 0 ? c->next : -1);
    }
    return s;
  }

 private:
  struct Consumer {
    KafkaHandle rk{nullptr, &rd_kafka_destroy};
    std::thread thread;
    std::int64_t next = 0;
    LatencyHistogram latency;
    std::uint64_t errors = 0;
    std::string error;
  };

  void run(Consumer& c) {
    while (!stopping_) {
      rd_kafka_message_t* m = rd_kafka_consumer_poll(c.rk.get(), 100);
      if (m == nullptr) continue;
      const auto now = now_ns();
      if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        if (c.error.empty()) c.error = rd_kafka_message_errstr(m);
        ++c.errors;
      } else if (m->offset != c.next) {
        if (c.error.empty()) c.error = "direct consumer: gap or duplicate";
        ++c.errors;
      } else {
        ++c.next;
        const auto sent = sent_at(std::string_view(static_cast<const char*>(m->payload), m->len));
        if (sent) c.latency.add((now - *sent) / 1000);
        progress_.deliveries.fetch_add(1, std::memory_order_relaxed);
        progress_.last_delivery_ns.store(now, std::memory_order_relaxed);
      }
      rd_kafka_message_destroy(m);
    }
  }

  std::vector<std::unique_ptr<Consumer>> consumers_;
  std::atomic<bool> stopping_{false};
  Progress progress_;
};

// ---- runs ------------------------------------------------------------------------------------

// Stall rows: the smallest write queue the gateway allows with its default fetch_max_bytes
// (1 MiB; it must be at least twice that), so what a stalled client may hold is small and plain.
constexpr std::size_t kStallWriteQueueBytes = 2 * 1024 * 1024;
// Filtered rows: how long after the last delivery subscribers may take to be told the end.
constexpr auto kToldEndWait = 2500ms;
// What the stalled clients are behind by: 4 MiB in records of 64 KiB, more than the gateway's
// socket buffer on loopback (some 3 MB of data with tcp_wmem's 4 MiB) plus half its write queue
// (where it stops pushing), and less than the 5 MiB a partition of the mock broker keeps.
constexpr std::size_t kStallBacklogValueBytes = 64 * 1024;
constexpr double kStallBacklogRecords = 64;

struct Options {
  std::vector<std::size_t> subscribers = {1, 100, 1000, 10000};
  std::vector<double> rates = {200, 200, 200, 10};
  std::size_t size = 200;
  double seconds = 10;
  std::size_t idle = 10000;
  std::size_t stalled = 0;
  std::size_t filters = 0;  // > 0: after each push row, push/filtered rows (one per kind)
  std::vector<std::string> filter_kinds = {"key"};
  std::vector<std::string> modes = {"push", "fetch", "direct"};
  std::size_t direct_max = 100;
  std::uint32_t credit = 64;
  int client_threads = 2;
  int gateway_io_threads = 0;
  int fetch_wait_ms = 50;  // the gateway's default
  std::size_t verify_every = 1000;
  double drain_seconds = 30;
  bool smoke = false;
  std::string gateway;
  std::string devkafka;
  std::string alloc_counter;
};

struct StalledResult {
  bool closed = false;        // the socket ended when read again, and the gateway logged why
  std::string reason;         // the gateway's log line, from "event="
  double closed_after_s = 0;  // from the end of its subscribe to the gateway's log line
  std::string end;            // how reading the socket again ended
  std::uint64_t drained = 0;
};

struct FanoutResult {
  std::string mode;
  std::size_t subscribers = 0;
  double rate = 0;
  std::int64_t produced = 0;
  std::uint64_t expected = 0;  // deliveries every subscriber's records add up to
  std::uint64_t deliveries = 0;
  double window_s = 0;
  std::optional<double> gateway_cpu_s;
  double client_cpu_s = 0;  // this process (load client, relay, producer) over the window
  std::optional<std::uint64_t> allocations;
  std::uint64_t upstream_bytes = 0;
  LatencyHistogram latency;
  std::uint64_t frames = 0;
  std::uint64_t verified = 0;
  std::uint64_t busy = 0;
  std::size_t incomplete = 0;       // subscribers that did not get every record once, in order
  std::size_t filters = 0;          // filtered rows: the number of distinct filters
  std::uint64_t empty_frames = 0;   // filtered rows: frames that only said next_offset
  std::uint64_t record_frames = 0;  // push rows: kafka_records frames the subscribers consumed
  std::size_t told_end = 0;         // filtered rows: subscribers whose last next_offset is the end
  std::vector<std::string> errors;
  std::string skipped;  // why the row has no figures
  long rss_peak_kib = 0;
  std::vector<StalledResult> stalled;  // stall rows: the subscribers that stopped reading
};

struct IdleResult {
  std::string mode;
  std::size_t connections = 0;
  long rss_before_kib = 0;
  long rss_after_kib = 0;
  double idle_cpu_percent = 0;
  std::string failure;
};

struct Bench {
  Options options;
  std::filesystem::path dir;
  std::string bootstrap;
  CountingRelay* relay = nullptr;
  RateProducer* producer = nullptr;

  GatewayOptions gateway_options(std::size_t connections) const {
    GatewayOptions g;
    g.binary = options.gateway;
    g.alloc_counter = options.alloc_counter;
    g.bootstrap = bootstrap;
    g.dir = dir / "gateway";
    g.max_connections = std::max<std::size_t>(connections + 64, 1000);
    g.io_threads = options.gateway_io_threads;
    g.fetch_wait_ms = options.fetch_wait_ms;
    // Every fetch-loop client keeps a fetch waiting at the end of the partition: room for all of
    // them (and their next one), so that "gateway busy" is not what a row measures.
    g.max_queued_requests = std::max<std::size_t>(4096, 2 * connections);
    if (options.stalled > 0) {
      // Every gateway of the run alike, so that a stall row and its baseline differ only in the
      // stalled clients.
      g.max_write_queue_bytes = kStallWriteQueueBytes;
      g.write_timeout_ms = stall_write_timeout_ms();
    }
    return g;
  }

  // Half of the producing time (at least 1 s): a client stalled as its row starts is closed in
  // the middle of it, so that the others are measured both beside it and after it.
  int stall_write_timeout_ms() const {
    return std::max(1000, static_cast<int>(options.seconds * 500));
  }

  // Produces at `rate` while `progress` counts deliveries; waits for all of them (or the drain
  // time) and fills the window figures.
  template <typename Snapshot>
  void measure(FanoutResult& result, Progress& progress, std::size_t receivers,
               Snapshot&& snapshot) {
    const auto client_cpu0 = kpg::testing::cpu_time(::getpid());
    snapshot(true);
    const auto start = Clock::now();
    const auto start_ns = now_ns();
    result.produced = producer->produce(kTopic, result.rate, options.seconds, options.size);
    result.expected = expected_deliveries(result.produced, receivers, result.filters);
    const auto expected = result.expected;
    const auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                             std::chrono::duration<double>(options.drain_seconds));
    while (progress.deliveries < expected && Clock::now() < deadline) {
      std::this_thread::sleep_for(5ms);
    }
    snapshot(false);
    result.client_cpu_s =
        std::chrono::duration<double>(kpg::testing::cpu_time(::getpid()) - client_cpu0).count();
    result.deliveries = progress.deliveries;
    const auto last = progress.last_delivery_ns.load();
    result.window_s =
        last > start_ns ? static_cast<double>(last - start_ns) / 1e9 : seconds_since(start);
  }

  // Every receiver must be at the end of what was produced from `first` (filtered: past its last
  // matching record, at the next one that would match).
  static void take_summary(FanoutResult& result, const LoadClient::Summary& s, std::int64_t first) {
    const auto end = first + result.produced;
    for (std::size_t i = 0; i < s.next_offsets.size(); ++i) {
      auto expected_next = end;
      if (result.filters > 0) {
        const auto slot = s.indexes[i] % result.filters;
        expected_next =
            first + static_cast<std::int64_t>(slot) +
            static_cast<std::int64_t>(result.filters) *
                static_cast<std::int64_t>(expected_records(result.produced, result.filters, slot));
        if (s.read_to[i] == end) ++result.told_end;
      }
      if (s.next_offsets[i] != expected_next) ++result.incomplete;
    }
    result.empty_frames = s.empty_frames;
    result.record_frames = s.record_frames;
    result.latency = s.latency;
    result.frames = s.frames;
    result.verified = s.verified;
    result.busy = s.busy;
    result.errors = s.error_samples;
  }

  // `stalled` > 0 (push only): that many more subscribers, which stop reading once subscribed.
  // `filters` > 0 (push only): subscriber i with the filter of tag i % filters, by `kind`.
  FanoutResult run_gateway_mode(Mode mode, std::size_t k, double rate, std::size_t stalled = 0,
                                std::size_t filters = 0, FilterKind kind = FilterKind::key) {
    FanoutResult result;
    result.mode = stalled > 0 ? "stall" : mode_name(mode);
    if (filters > 0) {
      result.mode = "push/filtered " + std::to_string(filters);
      if (kind != FilterKind::key) result.mode += std::string(" ") + filter_kind_name(kind);
    }
    result.filters = filters;
    result.subscribers = k;
    result.rate = rate;
    GatewayRun gateway(gateway_options(k + stalled));
    relay->watch(gateway.pid());
    // The stalled clients start this far behind the others: at the row's rate a loopback socket
    // buffer (megabytes) would take minutes to fill, so the stall would never bite in the row.
    const auto behind = producer->high_watermark(kTopic);
    if (stalled > 0) {
      producer->produce(kTopic, kStallBacklogRecords / 0.25, 0.25, kStallBacklogValueBytes);
    }
    const auto first = producer->high_watermark(kTopic);
    ClientSettings settings{mode,  "127.0.0.1",    gateway.port(),       "/bench", kTopic,
                            first, options.credit, options.verify_every, true};
    settings.filters = filters;
    settings.filter_kind = kind;
    LoadClient client(settings, k, options.client_threads);
    const auto setup = Clock::now();
    if (!client.wait_ready(std::chrono::seconds(60 + k / 50))) {
      throw std::runtime_error(std::string(mode_name(mode)) + ": subscribers not ready after " +
                               std::to_string(seconds_since(setup)) + " s");
    }
    if (client.progress().failed > 0) {
      client.stop();
      auto s = client.summary();
      result.skipped = s.error_samples.empty() ? "subscribers failed" : s.error_samples.front();
      return result;
    }
    RssPeak rss(gateway.pid());
    ClientSettings stall_settings = settings;
    stall_settings.start = behind;
    stall_settings.record = false;
    stall_settings.stall = true;
    stall_settings.filters = 0;
    std::optional<LoadClient> stalling;
    const auto stall_start = Clock::now();
    if (stalled > 0) {
      stalling.emplace(stall_settings, stalled, 1);
      if (!stalling->wait_ready(60s) || stalling->progress().failed > 0) {
        stalling->stop();
        auto s = stalling->summary();
        result.skipped = "stalled subscribers: " +
                         (s.error_samples.empty() ? "not ready" : s.error_samples.front());
        return result;
      }
    }
    std::this_thread::sleep_for(500ms);  // let the gateway settle after the connection burst
    std::chrono::milliseconds cpu0{};
    std::uint64_t bytes0 = 0;
    std::optional<std::uint64_t> allocs0;
    measure(result, client.progress(), k, [&](bool begin) {
      const auto cpu = kpg::testing::cpu_time(gateway.pid());
      const auto bytes = relay->to_watched();
      const auto allocs = gateway.allocations();
      if (begin) {
        cpu0 = cpu;
        bytes0 = bytes;
        allocs0 = allocs;
        return;
      }
      result.gateway_cpu_s = std::chrono::duration<double>(cpu - cpu0).count();
      result.upstream_bytes = bytes - bytes0;
      if (allocs && allocs0) result.allocations = *allocs - *allocs0;
    });
    result.rss_peak_kib = rss.stop();
    // Outside the window: a filtered subscriber is told where the partition continues even when
    // its last records did not match (a frame with no record, at most one a second).
    if (filters > 0) client.wait_read_to(first + result.produced, kToldEndWait);
    client.stop();
    take_summary(result, client.summary(), first);
    if (stalling) {
      // Reading again would let a stall the gateway has not given up on yet go on: first wait
      // out its write timeout.
      std::this_thread::sleep_until(stall_start +
                                    std::chrono::milliseconds(stall_write_timeout_ms()) + 2s);
      stalling->drain(10s);
      stalling->stop();
      for (const auto& o : stalling->summary().stalls) {
        StalledResult r;
        r.end = o.end.empty() ? "still open" : o.end;
        r.drained = o.drained;
        if (auto event = gateway.close_event(o.port)) {
          r.reason = event->text;
          r.closed_after_s = std::chrono::duration<double>(event->seen - stall_start).count();
        }
        r.closed = o.closed && !r.reason.empty();
        result.stalled.push_back(r);
      }
    }
    return result;
  }

  FanoutResult run_direct(std::size_t k, double rate) {
    FanoutResult result;
    result.mode = "direct";
    result.subscribers = k;
    result.rate = rate;
    if (k > options.direct_max) {
      result.skipped = "K > --direct-max " + std::to_string(options.direct_max);
      return result;
    }
    relay->watch(0);
    const auto first = producer->high_watermark(kTopic);
    DirectConsumers consumers(bootstrap, k, first, options.fetch_wait_ms);
    std::this_thread::sleep_for(2s);  // connected and fetching before the first record
    std::uint64_t bytes0 = 0;
    measure(result, consumers.progress(), k, [&](bool begin) {
      if (begin) {
        bytes0 = relay->to_others();
      } else {
        result.upstream_bytes = relay->to_others() - bytes0;
      }
    });
    consumers.stop();
    take_summary(result, consumers.summary(), first);
    return result;
  }

  IdleResult run_idle(Mode mode, std::size_t n) {
    IdleResult result;
    result.mode = mode_name(mode);
    result.connections = n;
    GatewayRun gateway(gateway_options(n + 1));
    const auto end = producer->high_watermark(kIdleTopic);
    ClientSettings settings{mode, "127.0.0.1",    gateway.port(),       "/bench", kIdleTopic,
                            end,  options.credit, options.verify_every, false};
    // One subscriber first: the partition's reader and Kafka connection are made once, whatever
    // the number of subscribers, and are not what an idle subscriber costs.
    LoadClient warm(settings, 1, 1);
    if (!warm.wait_ready(30s) || warm.progress().failed > 0) {
      result.failure = "the first subscriber failed";
      return result;
    }
    std::this_thread::sleep_for(2s);
    result.rss_before_kib = kpg::testing::rss_kib(gateway.pid());
    LoadClient client(settings, n, options.client_threads);
    if (!client.wait_ready(std::chrono::seconds(60 + n / 50)) || client.progress().failed > 0) {
      client.stop();
      auto s = client.summary();
      result.failure = s.error_samples.empty() ? "subscribers not ready" : s.error_samples.front();
      return result;
    }
    std::this_thread::sleep_for(2s);
    const auto cpu0 = kpg::testing::cpu_time(gateway.pid());
    const auto t0 = Clock::now();
    std::this_thread::sleep_for(3s);
    const auto cpu1 = kpg::testing::cpu_time(gateway.pid());
    result.idle_cpu_percent =
        100.0 * std::chrono::duration<double>(cpu1 - cpu0).count() / seconds_since(t0);
    result.rss_after_kib = kpg::testing::rss_kib(gateway.pid());
    client.stop();
    for (auto next : client.summary().next_offsets) {
      if (next != end) result.failure = "an idle subscriber received a record";
    }
    return result;
  }
};

std::string fmt(const char* format, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, v);
  return buf;
}

std::string verdict(bool ok) {
  return ok ? "ok" : "MISS";
}

std::string percent_change(double now, double before) {
  return before > 0 ? fmt("%+.1f%%", 100.0 * (now - before) / before) : "-";
}

// The lines under a stall row: what became of each stalled client, the gateway's memory and the
// others' latency beside the push row of the same K and rate (run just before, same settings).
// False when a stalled client was not closed by the gateway: latency is never judged here.
bool print_stalled(const FanoutResult& r, const std::vector<FanoutResult>& results) {
  std::size_t closed = 0;
  for (const auto& s : r.stalled) closed += s.closed ? 1 : 0;
  std::printf(
      "       %zu stalled (SO_RCVBUF %d B, all the credit, 4 MiB behind): closed by the "
      "gateway %zu/%zu %s\n",
      r.stalled.size(), kStalledReceiveBuffer, closed, r.stalled.size(),
      verdict(closed == r.stalled.size()).c_str());
  for (const auto& s : r.stalled) {
    std::printf("         %s after %.1f s; reading again: %s after %.1f MiB\n",
                s.reason.empty() ? "no close logged" : s.reason.c_str(), s.closed_after_s,
                s.end.c_str(), static_cast<double>(s.drained) / (1024.0 * 1024.0));
  }
  const auto base = std::find_if(results.begin(), results.end(), [&r](const FanoutResult& b) {
    return b.mode == "push" && b.subscribers == r.subscribers && b.rate == r.rate &&
           b.skipped.empty();
  });
  if (base == results.end()) return closed == r.stalled.size();
  std::printf(
      "       gateway RSS peak %.1f MiB vs %.1f MiB without them (%+.1f MiB; write queue "
      "cap %.0f MiB per connection)\n",
      static_cast<double>(r.rss_peak_kib) / 1024.0,
      static_cast<double>(base->rss_peak_kib) / 1024.0,
      static_cast<double>(r.rss_peak_kib - base->rss_peak_kib) / 1024.0,
      static_cast<double>(kStallWriteQueueBytes) / (1024.0 * 1024.0));
  const auto ms = [](const LatencyHistogram& h, double q) {
    return static_cast<double>(h.quantile(q)) / 1000.0;
  };
  const double p99 = ms(r.latency, 0.99);
  const double base_p99 = ms(base->latency, 0.99);
  std::printf(
      "       the others: p50 %.2f ms vs %.2f (%s), p99 %.2f ms vs %.2f (%s) "
      "[p99 <=+10%%] %s\n",
      ms(r.latency, 0.50), ms(base->latency, 0.50),
      percent_change(ms(r.latency, 0.50), ms(base->latency, 0.50)).c_str(), p99, base_p99,
      percent_change(p99, base_p99).c_str(), verdict(p99 <= base_p99 * 1.1).c_str());
  return closed == r.stalled.size();
}

// The line under a filtered row: what the filters cost and save against the push row of the same
// K and rate (the same records, no filter).
void print_filtered(const FanoutResult& r, const std::vector<FanoutResult>& results) {
  std::printf(
      "       %zu filters, each subscriber 1/%zu of the records: %llu frame(s) with no record "
      "(next_offset only); %zu/%zu subscribers told the partition's end (next_offset, within "
      "%.1f s of the last delivery)\n",
      r.filters, r.filters, static_cast<unsigned long long>(r.empty_frames), r.told_end,
      r.subscribers, std::chrono::duration<double>(kToldEndWait).count());
  const auto base = std::find_if(results.begin(), results.end(), [&r](const FanoutResult& b) {
    return b.mode == "push" && b.subscribers == r.subscribers && b.rate == r.rate &&
           b.skipped.empty();
  });
  if (base == results.end() || !r.gateway_cpu_s || !base->gateway_cpu_s ||
      *base->gateway_cpu_s <= 0 || r.produced == 0 || base->produced == 0 || r.deliveries == 0 ||
      base->deliveries == 0) {
    return;
  }
  const double cpu = *r.gateway_cpu_s;
  const double base_cpu = *base->gateway_cpu_s;
  const double produced = static_cast<double>(r.produced);
  const double base_produced = static_cast<double>(base->produced);
  const double deliveries = static_cast<double>(r.deliveries);
  const double base_deliveries = static_cast<double>(base->deliveries);
  std::printf(
      "       vs push (no filter): gateway CPU %.2f s vs %.2f s (x%.2f); per produced record "
      "%.1f us vs %.1f us; per delivery %.2f us vs %.2f us (x%.2f)",
      cpu, base_cpu, cpu / base_cpu, cpu * 1e6 / produced, base_cpu * 1e6 / base_produced,
      cpu * 1e6 / deliveries, base_cpu * 1e6 / base_deliveries,
      (cpu / deliveries) / (base_cpu / base_deliveries));
  if (r.allocations && base->allocations) {
    std::printf("; allocations per produced record %.1f vs %.1f",
                static_cast<double>(*r.allocations) / produced,
                static_cast<double>(*base->allocations) / base_produced);
  }
  std::printf("\n");
  if (r.record_frames > 0 && base->record_frames > 0) {
    const double frames = static_cast<double>(r.record_frames);
    const double base_frames = static_cast<double>(base->record_frames);
    std::printf(
        "       records frames pushed %llu vs %llu (x%.2f; %.2f vs %.2f records each); gateway "
        "CPU per frame %.2f us vs %.2f us\n",
        static_cast<unsigned long long>(r.record_frames),
        static_cast<unsigned long long>(base->record_frames), frames / base_frames,
        deliveries / frames, base_deliveries / base_frames, cpu * 1e6 / frames,
        base_cpu * 1e6 / base_frames);
  }
}

// Prints the table; returns false when a subscriber missed a record or an error happened.
bool print_fanout(const std::vector<FanoutResult>& results, const Options& options) {
  std::printf(
      "\nfan-out: one partition, %zu B records, %.0f s of producing per row; targets in [ ]\n",
      options.size, options.seconds);
  // Filtered rows: a wider mode column, and the gateway's CPU per produced record too.
  int w = 6;
  for (const auto& r : results) w = std::max(w, static_cast<int>(r.mode.size()));
  const bool per_produced = options.filters > 0;
  std::printf("%-*s %6s %6s %11s %9s %18s %8s", w, "mode", "K", "rate/s", "deliveries", "deliv/s",
              "deliv/core-s", "gw us/d");
  if (per_produced) std::printf(" %10s", "gw us/prod");
  std::printf(" %12s %8s %15s %8s %8s %8s %16s %9s %s\n", "allocs/deliv", "upstr KiB", "up vs K=1",
              "p50 ms", "p99 ms", "max ms", "latency", "bench CPU", "complete");
  std::printf("%-*s %6s %6s %11s %9s %18s %8s", w, "", "", "", "", "", "[>=150k]", "");
  if (per_produced) std::printf(" %10s", "");
  std::printf(" %12s %8s %15s %8s %8s %8s %16s\n", "", "", "[+-10%]", "", "", "",
              "[p50<=10,p99<=50]");
  bool clean = true;
  std::map<std::string, double> bytes_per_record_k1;
  for (const auto& r : results) {
    if (r.subscribers == 1 && r.skipped.empty() && r.produced > 0) {
      bytes_per_record_k1[r.mode] =
          static_cast<double>(r.upstream_bytes) / static_cast<double>(r.produced);
    }
  }
  for (const auto& r : results) {
    if (!r.skipped.empty()) {
      std::printf("%-*s %6zu %6.0f  skipped: %s\n", w, r.mode.c_str(), r.subscribers, r.rate,
                  r.skipped.c_str());
      if (r.mode != "direct") clean = false;
      continue;
    }
    const double deliveries = static_cast<double>(r.deliveries);
    std::string per_core = "-";
    std::string cpu_per = "-";
    if (r.gateway_cpu_s && *r.gateway_cpu_s > 0 && deliveries > 0) {
      const double rate = deliveries / *r.gateway_cpu_s;
      per_core = fmt("%.0f", rate) + " " + verdict(rate >= 150'000);
      cpu_per = fmt("%.2f", *r.gateway_cpu_s * 1e6 / deliveries);
    }
    std::string allocs = "-";
    if (r.allocations && deliveries > 0) {
      allocs = fmt("%.2f", static_cast<double>(*r.allocations) / deliveries);
    }
    std::string versus = "-";
    const auto base = bytes_per_record_k1.find(r.mode);
    if (base != bytes_per_record_k1.end() && base->second > 0 && r.produced > 0) {
      const double ratio =
          static_cast<double>(r.upstream_bytes) / static_cast<double>(r.produced) / base->second;
      versus = fmt("x%.2f", ratio);
      if ((r.mode == "push" || r.mode == "fetch") &&
          (r.subscribers == 1 || r.subscribers == 1000)) {
        versus += " " + verdict(ratio >= 0.9 && ratio <= 1.1);
      }
    }
    const double p50 = static_cast<double>(r.latency.quantile(0.50)) / 1000.0;
    const double p99 = static_cast<double>(r.latency.quantile(0.99)) / 1000.0;
    std::string latency = "-";
    if (r.subscribers == 10000 && r.rate <= 10 && r.mode != "direct") {
      latency = verdict(p50 <= 10 && p99 <= 50);
    }
    const bool complete = r.incomplete == 0 && r.errors.empty() && r.deliveries == r.expected;
    if (!complete) clean = false;
    std::printf("%-*s %6zu %6.0f %11llu %9.0f %18s %8s", w, r.mode.c_str(), r.subscribers, r.rate,
                static_cast<unsigned long long>(r.deliveries), deliveries / r.window_s,
                per_core.c_str(), cpu_per.c_str());
    if (per_produced) {
      std::printf(
          " %10s",
          r.gateway_cpu_s && r.produced > 0
              ? fmt("%.1f", *r.gateway_cpu_s * 1e6 / static_cast<double>(r.produced)).c_str()
              : "-");
    }
    std::printf(" %12s %8.0f %15s %8.2f %8.2f %8.2f %16s %8.0f%% %s\n", allocs.c_str(),
                static_cast<double>(r.upstream_bytes) / 1024.0, versus.c_str(), p50, p99,
                static_cast<double>(r.latency.max()) / 1000.0, latency.c_str(),
                100.0 * r.client_cpu_s / r.window_s, complete ? "yes" : "NO");
    if (r.deliveries != r.expected) {
      std::printf("       %llu deliveries where %llu were due\n",
                  static_cast<unsigned long long>(r.deliveries),
                  static_cast<unsigned long long>(r.expected));
    }
    if (r.filters > 0) print_filtered(r, results);
    if (r.incomplete > 0) {
      std::printf("       %zu subscriber(s) did not get every record once, in order\n",
                  r.incomplete);
    }
    if (r.busy > 0) {
      std::printf("       %llu fetch(es) answered \"gateway busy\" (retried after %lld ms)\n",
                  static_cast<unsigned long long>(r.busy),
                  static_cast<long long>(kBusyRetry.count()));
    }
    for (const auto& e : r.errors) std::printf("       error: %s\n", e.c_str());
    if (!r.stalled.empty() && !print_stalled(r, results)) clean = false;
  }
  return clean;
}

bool print_idle(const std::vector<IdleResult>& results) {
  if (results.empty()) return true;
  std::printf("\nidle subscribed connections (nothing produced); target in [ ]\n");
  std::printf("%-6s %7s %14s %14s %20s %12s\n", "mode", "N", "RSS before KiB", "RSS after KiB",
              "B per conn [<=8192]", "gw CPU %");
  bool clean = true;
  for (const auto& r : results) {
    if (!r.failure.empty()) {
      std::printf("%-6s %7zu  failed: %s\n", r.mode.c_str(), r.connections, r.failure.c_str());
      clean = false;
      continue;
    }
    const double per = static_cast<double>(r.rss_after_kib - r.rss_before_kib) * 1024.0 /
                       static_cast<double>(r.connections);
    std::printf("%-6s %7zu %14ld %14ld %20s %12.1f\n", r.mode.c_str(), r.connections,
                r.rss_before_kib, r.rss_after_kib,
                (fmt("%.0f", per) + " " + verdict(per <= 8192)).c_str(), r.idle_cpu_percent);
  }
  return clean;
}

void raise_descriptor_limit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &limit);  // children (the gateway) inherit it
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "kpg-bench-fanout: one partition fanned out to K subscribers through kpg-gateway (push "
      "and the APISIX fetch loop) and straight from the broker (librdkafka), plus the memory "
      "of idle subscribed connections"};
  Options o;
  const auto here = std::filesystem::path(argv[0]).parent_path();
  o.gateway = (here / "../gateway/kpg-gateway").string();
  o.devkafka = (here / "../tools/kpg-devkafka").string();
  o.alloc_counter = (here / "libkpg-bench-alloc-counter.so").string();
  app.add_option("--subscribers", o.subscribers, "K values, one row each")
      ->delimiter(',')
      ->check(CLI::Range(1, 20000));
  app.add_option("--rate", o.rates,
                 "records/s the producer writes: one value for every K, or one per K")
      ->delimiter(',')
      ->check(CLI::Range(0.1, 1e6));
  app.add_option("--size", o.size, "value bytes")->check(CLI::Range(16, 1 << 20));
  app.add_option("--seconds", o.seconds, "seconds of producing per row")
      ->check(CLI::Range(0.5, 3600.0));
  app.add_option("--idle", o.idle, "idle subscribed connections (0: skip)")
      ->check(CLI::Range(0, 20000));
  app.add_option("--stalled", o.stalled,
                 "push: after each push row, the same row with N more subscribers that subscribe "
                 "with all the credit the gateway allows (4 KiB receive buffer, 4 MiB behind the "
                 "others) and never read again; every gateway of the run then has "
                 "max_write_queue_bytes 2 MiB and write_timeout_ms max(1000, seconds x 500) "
                 "(0: no stall rows)")
      ->check(CLI::Range(0, 100));
  app.add_option("--filters", o.filters,
                 "push: records carry one of N tags (record n: key k<n % N>, header f: k<n % N>); "
                 "after each push row (no filter, the baseline), the same K subscribers again, "
                 "subscriber i with a filter that matches tag i % N only (a push/filtered row per "
                 "--filter-kind), each checked to receive exactly its records; the table adds "
                 "the gateway's CPU per produced record (0: no filters, no tags)")
      ->check(CLI::Range(0, 10000));
  app.add_option("--filter-kind", o.filter_kinds,
                 "with --filters: key (key_equals), header (header f), json (json_in on /f; the "
                 "values become JSON, {\"t\":STAMP,\"f\":TAG,\"p\":\"xx..\"}); one row each")
      ->delimiter(',')
      ->check(CLI::IsMember({"key", "header", "json"}));
  app.add_option("--modes", o.modes, "push, fetch, direct")
      ->delimiter(',')
      ->check(CLI::IsMember({"push", "fetch", "direct"}));
  app.add_option("--direct-max", o.direct_max,
                 "largest K for direct librdkafka consumers (a thread and a Kafka client each)");
  app.add_option("--credit", o.credit, "push: frames of credit per subscription")
      ->check(CLI::Range(1, 1 << 20));
  app.add_option("--client-threads", o.client_threads, "load client I/O threads")
      ->check(CLI::Range(1, 8));
  app.add_option("--fetch-wait-ms", o.fetch_wait_ms,
                 "how long the broker may hold a read at the partition's end, for the gateway "
                 "(kafka_fetch_wait_ms) and the direct consumers alike; the mock broker holds "
                 "every empty read that long, so it adds up to this much latency")
      ->check(CLI::Range(1, 10000));
  app.add_option("--gateway-io-threads", o.gateway_io_threads,
                 "the gateway's I/O threads (0: its default, one per core)")
      ->check(CLI::Range(0, 64));
  app.add_option("--verify-every", o.verify_every,
                 "parse every Nth data frame in full with protobuf as well")
      ->check(CLI::Range(1, 1 << 30));
  app.add_option("--drain-seconds", o.drain_seconds,
                 "after producing, wait at most this long for the last deliveries");
  app.add_flag("--smoke", o.smoke,
               "a small correctness round for ctest: K=5, 100 records/s, 2 s, 20 idle, 1 stalled "
               "(each unless given), every frame verified; exits 1 when a subscriber missed a "
               "record or the stalled one was not closed by the gateway (speed is never judged)");
  app.add_option("--gateway", o.gateway, "kpg-gateway binary")->check(CLI::ExistingFile);
  app.add_option("--devkafka", o.devkafka, "kpg-devkafka binary")->check(CLI::ExistingFile);
  app.add_option("--alloc-counter", o.alloc_counter,
                 "LD_PRELOAD library counting the gateway's allocations (\"\": none)");
  app.set_version_flag("--version", "kpg-bench-fanout " KPG_VERSION);
  CLI11_PARSE(app, argc, argv);
  if (o.smoke) {
    const auto unless_given = [&app](const char* option, auto& field, auto value) {
      if (app.count(option) == 0) field = value;
    };
    unless_given("--subscribers", o.subscribers, std::vector<std::size_t>{5});
    unless_given("--rate", o.rates, std::vector<double>{100});
    unless_given("--seconds", o.seconds, 2.0);
    unless_given("--idle", o.idle, std::size_t{20});
    unless_given("--stalled", o.stalled, std::size_t{1});
    o.verify_every = 1;
    o.drain_seconds = 20;
  }
  if (o.rates.size() != 1 && o.rates.size() != o.subscribers.size()) {
    std::cerr << "kpg-bench-fanout: --rate takes one value or one per --subscribers value\n";
    return 2;
  }
  if (!o.alloc_counter.empty() && !std::filesystem::exists(o.alloc_counter)) {
    std::cerr << "kpg-bench-fanout: no allocation counter at " << o.alloc_counter << "\n";
    return 2;
  }
  raise_descriptor_limit();
  const auto wants = [&o](const std::string& mode) {
    return std::find(o.modes.begin(), o.modes.end(), mode) != o.modes.end();
  };
  if (o.stalled > 0 && !wants("push")) {
    std::cerr << "kpg-bench-fanout: --stalled adds rows to push: give push in --modes\n";
    return 2;
  }
  if (o.filters > 0 && !wants("push")) {
    std::cerr << "kpg-bench-fanout: --filters adds rows to push: give push in --modes\n";
    return 2;
  }
  std::vector<FilterKind> filter_kinds;
  for (const auto& kind : o.filter_kinds) {
    const auto k = kind == "header" ? FilterKind::header
                   : kind == "json" ? FilterKind::json
                                    : FilterKind::key;
    if (std::find(filter_kinds.begin(), filter_kinds.end(), k) == filter_kinds.end()) {
      filter_kinds.push_back(k);
    }
  }
  const bool json_values = o.filters > 0 && std::find(filter_kinds.begin(), filter_kinds.end(),
                                                      FilterKind::json) != filter_kinds.end();

  try {
    Bench bench;
    bench.options = o;
    bench.dir =
        std::filesystem::temp_directory_path() / ("kpg-bench-fanout-" + std::to_string(::getpid()));
    std::filesystem::create_directories(bench.dir);
    const int port = kpg::testing::free_port();
    kpg::testing::ChildProcess broker({o.devkafka, "mock", "--topic", std::string(kTopic) + ":1",
                                       "--topic", std::string(kIdleTopic) + ":1",
                                       "--listen-address", "127.0.0.2", "--port",
                                       std::to_string(port)});
    const auto line = broker.wait_for_line("bootstrap=", 15s);
    if (!line) throw std::runtime_error("kpg-devkafka did not start: " + broker.transcript());
    CountingRelay relay(port);
    RateProducer producer(kpg::testing::field(*line, "bootstrap"));
    producer.tag_records(o.filters, json_values);
    bench.bootstrap = kpg::testing::field(*line, "bootstrap");
    bench.relay = &relay;
    bench.producer = &producer;

    std::printf(
        "kpg-bench-fanout: broker %s (through a counting relay), gateway %s, %d client "
        "thread(s), push credit %u, broker fetch wait %d ms, gateway I/O threads %s\n",
        bench.bootstrap.c_str(), o.gateway.c_str(), o.client_threads, o.credit, o.fetch_wait_ms,
        o.gateway_io_threads > 0 ? std::to_string(o.gateway_io_threads).c_str() : "(one per core)");
    if (o.filters > 0) {
      std::string kinds;
      for (const auto kind : filter_kinds) {
        kinds += (kinds.empty() ? "" : ",") + std::string(filter_kind_name(kind));
      }
      std::printf(
          "filters: %zu; record n has key k<n %% %zu> and header f: k<n %% %zu>%s; filter "
          "kind(s) %s\n",
          o.filters, o.filters, o.filters, json_values ? " and a JSON value with \"f\"" : "",
          kinds.c_str());
    }
    std::vector<FanoutResult> results;
    for (std::size_t i = 0; i < o.subscribers.size(); ++i) {
      const auto k = o.subscribers[i];
      const double rate = o.rates.size() == 1 ? o.rates[0] : o.rates[i];
      for (const auto& mode : o.modes) {
        std::printf("  %s K=%zu at %.0f records/s...\n", mode.c_str(), k, rate);
        std::fflush(stdout);
        if (mode == "direct") {
          results.push_back(bench.run_direct(k, rate));
        } else {
          results.push_back(
              bench.run_gateway_mode(mode == "push" ? Mode::push : Mode::fetch, k, rate));
        }
        if (mode == "push" && o.filters > 0) {
          for (const auto kind : filter_kinds) {
            std::printf("  push K=%zu at %.0f records/s, %zu %s filters...\n", k, rate, o.filters,
                        filter_kind_name(kind));
            std::fflush(stdout);
            results.push_back(bench.run_gateway_mode(Mode::push, k, rate, 0, o.filters, kind));
          }
        }
        if (mode == "push" && o.stalled > 0) {
          std::printf("  push K=%zu at %.0f records/s with %zu stalled...\n", k, rate, o.stalled);
          std::fflush(stdout);
          results.push_back(bench.run_gateway_mode(Mode::push, k, rate, o.stalled));
        }
      }
    }
    std::vector<IdleResult> idle;
    if (o.idle > 0) {
      for (const auto& mode : {"push", "fetch"}) {
        if (!wants(mode)) continue;
        std::printf("  %s: %zu idle subscribed connections...\n", mode, o.idle);
        std::fflush(stdout);
        idle.push_back(
            bench.run_idle(std::string(mode) == "push" ? Mode::push : Mode::fetch, o.idle));
      }
    }
    const bool fanout_clean = print_fanout(results, o);
    const bool idle_clean = print_idle(idle);
    std::printf(
        "\ndeliv/core-s = deliveries / gateway CPU seconds (utime+stime, /proc/PID/stat); gw us/d "
        "= gateway CPU us per delivery; allocs/deliv: %s; upstream = bytes broker -> gateway "
        "(counting relay, gateway's sockets only; direct: broker -> this process, the "
        "producer's acks included); up vs K=1 = upstream bytes per produced record against the "
        "K=1 row of the same mode; latency = produce call -> subscriber's read, steady clock; "
        "idle B per conn = (RSS with N idle subscribers - RSS with 1) / N; stall = the push row "
        "again with --stalled more subscribers that stop reading (what became of them below it); "
        "%s"
        "bench CPU = this process (load client, relay, producer, direct consumers) in %% of one "
        "core.\n",
        o.alloc_counter.empty() ? "not measured"
                                : "heap allocations of the gateway (LD_PRELOAD counter) / "
                                  "deliveries",
        o.filters > 0 ? "push/filtered N = the push row's subscribers, subscriber i with a filter "
                        "matching tag i % N (1/N of the records each); gw us/prod = gateway CPU "
                        "us per produced record; "
                      : "");
    std::filesystem::remove_all(bench.dir);
    if (!fanout_clean || !idle_clean) {
      std::cerr << "kpg-bench-fanout: some subscribers did not get every record (see above)\n";
      return 1;
    }
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "kpg-bench-fanout: " << e.what() << "\n";
    return 1;
  }
}
