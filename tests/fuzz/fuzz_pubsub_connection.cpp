// One client connection's protocol state (pubsub::Connection: hello, metadata, push subscriptions
// with credit, unsubscribe, produce and produce batches, and the APISIX commands) driven by a
// script of frames, Kafka answers,
// congestion toggles and shutdown. The Kafka side is a fake that queues every call and answers
// whichever one the script names (with records, an error, nothing, or never: dropped once
// cancelled); answers hop to the connection's thread through `post`, whose tasks the script runs.
//
// Input: byte 0 holds options (bit 0: a cmd_hello goes first; bit 1: small limits; bit 2: a bound
// on produced records per second), then ops, each
// an opcode byte (low 3 bits) and its arguments:
//   0 LEN FRAME         a frame of LEN (one byte) bytes, as the client sent it
//   1 WHAT ARGS...      a well-formed command built from a few bytes (see `command`)
//   2 PICK MODE         answers the queued Kafka call PICK % calls with MODE (see `answer`)
//   3 N                 runs N % 16 + 1 posted tasks (oldest first)
//   4 ON                set_congested(ON & 1); the socket is busy writing (write_pending) while
//                       ON & 2; ON & 4: on_written()
//   5 MODE              answers every queued call with MODE, then runs every task
//   6                   shutdown()
//   7 LO HI FRAME       a frame of LO + 256 * HI bytes
// At the end: shutdown(), every queued call is answered or dropped, every task runs.
//
// Checked (an exception escaping aborts as well): every frame out decodes as a PubSubResp; replies
// never outnumber the requests that went pending; subscription ids count from 1; a subscription's
// kafka_records frames carry its sequence, never outnumber its credit (initial + granted credit
// that was not refused), and per partition follow one another without gap or duplicate (each
// frame's records are what the connection read from the previous frame's end) in increasing
// offsets; nothing of a subscription is pushed after its unsubscribe_resp or its end; nothing is
// sent and the source is never called after shutdown(); shutdown() cancels every queued call, and
// once they are gone nothing holds the owner alive; each produce request is answered once, a
// batch with one result per record (written or an error), and every record handed to the
// producer belongs to a request that was not refused.
#include "fuzz_check.h"
#include "fuzz_script.h"
#include "pubsub/connection.h"
#include "pubsub/frames.h"

#include <kpg/pubsub.pb.h>

#include <google/protobuf/stubs/logging.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>
#include <vector>

namespace {

using kpg::fuzz::check;
namespace kafka = kpg::kafka;
namespace pubsub = kpg::pubsub;

// KPG_FUZZ_TRACE=1 prints what goes in and out (to read a crashing input).
bool tracing() {
  static const bool on = std::getenv("KPG_FUZZ_TRACE") != nullptr;
  return on;
}
template <class... Args>
void trace(const char* format, Args... args) {
  if (tracing()) std::fprintf(stderr, format, args...);
}
long long ll(std::int64_t v) {
  return static_cast<long long>(v);
}

// A small, fixed model of the cluster, so that offsets the connection checks against (explicit
// subscribe offsets) are sometimes right: watermarks derived from the topic and partition.
std::int64_t low_of(const std::string& topic, std::int32_t partition) {
  return static_cast<std::int64_t>((topic.size() + static_cast<std::size_t>(partition)) % 3);
}
std::int64_t high_of(const std::string& topic, std::int32_t partition) {
  return low_of(topic, partition) +
         static_cast<std::int64_t>((topic.size() * 5 + static_cast<std::size_t>(partition) * 7) %
                                   12);
}

struct ListOffsetCall {
  std::string topic;
  std::int32_t partition;
  std::int64_t timestamp;
  std::function<void(kafka::OffsetResult)> done;
};
struct FetchCall {
  std::int32_t partition;
  std::int64_t offset;
  std::size_t max_bytes;
  std::function<void(kafka::FetchResult)> done;
};
struct BatchCall {
  std::int32_t partition;
  std::int64_t offset;
  std::function<void(kafka::BatchResult)> done;
};
struct TopicsCall {
  std::vector<std::string> names;
  std::function<void(kafka::TopicsResult)> done;
};
// A record handed to the cluster's producer. Not cancellable: the producer answers every record
// once, even after the connection is gone.
struct ProduceCall {
  kafka::ProduceRecord record;
  std::function<void(kafka::ProduceResult)> done;
};
struct Call {
  kafka::CancelToken cancel;
  std::variant<ListOffsetCall, FetchCall, BatchCall, TopicsCall, ProduceCall> what;
};

// What the fake made for a fetch_batch: the read it answered.
struct BatchOrigin {
  std::int32_t partition;
  std::int64_t requested;
};

struct FakeSource : kafka::RecordSource {
  explicit FakeSource(const bool& shut_down) : shut_down_(shut_down) {}

  void list_offset(std::string topic, std::int32_t partition, std::int64_t timestamp,
                   kafka::CancelToken cancel,
                   std::function<void(kafka::OffsetResult)> done) override {
    called();
    calls.push_back({std::move(cancel),
                     ListOffsetCall{std::move(topic), partition, timestamp, std::move(done)}});
  }
  void fetch(std::string, std::int32_t partition, std::int64_t offset, kafka::FetchLimits limits,
             kafka::CancelToken cancel, std::function<void(kafka::FetchResult)> done) override {
    called();
    calls.push_back(
        {std::move(cancel), FetchCall{partition, offset, limits.max_bytes, std::move(done)}});
  }
  void fetch_batch(std::string, std::int32_t partition, std::int64_t offset,
                   kafka::FetchLimits limits, kafka::CancelToken cancel,
                   std::function<void(kafka::BatchResult)> done) override {
    called();
    check(limits.max_wait == kafka::FetchLimits::kWaitForever, "a push read that does not wait");
    calls.push_back({std::move(cancel), BatchCall{partition, offset, std::move(done)}});
  }
  void topics(std::vector<std::string> names, kafka::CancelToken cancel,
              std::function<void(kafka::TopicsResult)> done) override {
    called();
    calls.push_back({std::move(cancel), TopicsCall{std::move(names), std::move(done)}});
  }

  void called() const {
    check(!shut_down_, "the source is called after shutdown()");
    ++issued;
  }

  // MODE: low 3 bits 7 -> an error (kind from the next bits); otherwise an answer whose shape the
  // other bits pick (how many records, a gap before them, headers, topics left out).
  void answer(Call call, std::uint8_t mode) {
    const auto error = [&]() -> std::optional<kafka::KafkaError> {
      if ((mode & 7) != 7) return std::nullopt;
      return kafka::KafkaError{static_cast<kafka::ErrorKind>((mode >> 3) % 8), "Broker: fuzz"};
    }();
    std::visit(
        [&](auto& c) {
          using C = std::decay_t<decltype(c)>;
          if constexpr (std::is_same_v<C, ListOffsetCall>) {
            kafka::OffsetResult r;
            r.error = error;
            const auto low = low_of(c.topic, c.partition);
            const auto high = high_of(c.topic, c.partition);
            if (c.timestamp == -2) {
              r.offset = low;
            } else if (c.timestamp == -1) {
              r.offset = high;
            } else {
              // The first record at or after the time, or none (-1) for the recent ones.
              r.offset = c.timestamp >= 1000 ? -1 : std::min(high, low + c.timestamp % 8);
            }
            c.done(std::move(r));
          } else if constexpr (std::is_same_v<C, FetchCall>) {
            kafka::FetchResult r;
            r.error = error;
            if (!error) r.records = records(c.offset, mode, c.max_bytes);
            c.done(std::move(r));
          } else if constexpr (std::is_same_v<C, BatchCall>) {
            kafka::BatchResult r;
            r.error = error;
            if (!error && (mode & 7) != 6) {  // 6: nothing (the wait ended without records)
              auto b = std::make_shared<kafka::RecordBatch>();
              const auto rs = records(c.offset, mode, std::size_t{64});
              b->first_offset = rs.front().offset;
              b->next_offset = rs.back().offset + 1;
              b->high_watermark = b->next_offset + (mode >> 6);
              b->records = (mode & 7) == 5 ? 0 : rs.size();  // 5: a batch of no records
              b->body = pubsub::encode_messages(rs, (mode & 0x40) != 0);
              origins[b.get()] = {c.partition, c.offset};
              batches.push_back(b);  // kept, so that no other batch reuses its address
              r.batch = std::move(b);
            }
            c.done(std::move(r));
          } else if constexpr (std::is_same_v<C, ProduceCall>) {
            kafka::ProduceResult r;
            if (error) {
              r.error = error;
              r.possibly_written = (mode & 0x40) != 0;
            } else {
              r.partition = c.record.partition.value_or(0);
              r.offset = static_cast<std::int64_t>(++written);
              r.timestamp = c.record.timestamp.value_or(1'700'000'000'000);
            }
            c.done(std::move(r));
          } else {
            kafka::TopicsResult r;
            r.error = error;
            const int count = (mode >> 3) % 5;
            const bool leave_out = (mode & 0x80) != 0;
            if (c.names.empty()) {
              for (const char* name : {"t", "orders", "__consumer_offsets"}) {
                r.topics.emplace(name, count);
              }
            } else {
              for (const auto& name : c.names) {
                if (!leave_out || name.size() % 2 == 0) r.topics.emplace(name, count);
              }
            }
            c.done(std::move(r));
          }
        },
        call.what);
  }

  // Records from `offset` on (after a gap of 0 or 1 offset), at least one, at most 4.
  static std::vector<kafka::Record> records(std::int64_t offset, std::uint8_t mode,
                                            std::size_t max_bytes) {
    std::vector<kafka::Record> out;
    const std::int64_t first = offset + ((mode >> 5) & 1);
    const int n = 1 + ((mode >> 3) & 3);
    std::size_t bytes = 0;
    for (int i = 0; i < n; ++i) {
      kafka::Record r;
      r.offset = first + i;
      r.timestamp = 1'700'000'000'000 + r.offset;
      r.key = "k" + std::to_string(r.offset);
      r.value = std::string(static_cast<std::size_t>(mode % 23), 'v');
      if (i % 2 == 0) r.headers.push_back({"h", r.key});
      bytes += r.key.size() + r.value.size();
      if (i > 0 && bytes > max_bytes) break;
      out.push_back(std::move(r));
    }
    return out;
  }

  const bool& shut_down_;
  mutable std::size_t issued = 0;
  std::size_t written = 0;
  std::deque<Call> calls;
  std::map<const kafka::RecordBatch*, BatchOrigin> origins;
  std::vector<kafka::BatchPtr> batches;
};

// The cluster's shared producer: its records join the source's queue of calls, so that the script
// answers them among the reads, in any order. It may be called after shutdown() (records of a
// connection that are already accepted still leave), never inline.
struct FakeSink : kafka::RecordSink {
  explicit FakeSink(FakeSource& source) : source_(source) {}
  void produce(kafka::ProduceRecord record,
               std::function<void(kafka::ProduceResult)> done) override {
    ++source_.issued;
    ++records;
    source_.calls.push_back({nullptr, ProduceCall{std::move(record), std::move(done)}});
  }
  FakeSource& source_;
  std::size_t records = 0;
};

pubsub::PubSubResp decode(const pubsub::Frame& frame, const char* what) {
  std::string bytes = frame.head;
  if (frame.body) bytes += frame.body->body;
  pubsub::PubSubResp resp;
  check(resp.ParseFromString(bytes), what);
  return resp;
}

// What the client knows of one subscription, from the frames it sent and received.
struct Sub {
  std::int64_t sequence = 0;
  std::uint64_t credit = 0;  // initial + granted: the most frames it may receive
  std::uint64_t frames = 0;
  bool unsubscribed = false;
  bool ended = false;
  std::map<std::int32_t, std::int64_t> next;  // partition -> offset the next frame is read from
  std::map<std::int32_t, std::int64_t> last;  // partition -> last offset received
};

struct Harness {
  Harness(const pubsub::Limits& l, const kpg::config::ProducePolicy& p)
      : limits(l),
        policy(p),
        source(shut_down),
        sink(source),
        connection(source, limits, callbacks(), "kpg-gateway/fuzz", {},
                   pubsub::ProduceAccess{&sink, &policy, nullptr}) {}

  pubsub::Connection::Callbacks callbacks() {
    pubsub::Connection::Callbacks c;
    c.reply = [this](pubsub::Frame f) { on_reply(decode(f, "a reply does not decode")); };
    c.push = [this](pubsub::Frame f) { on_push(f, decode(f, "a pushed frame does not decode")); };
    c.post = [this](std::function<void()> task) { tasks.push_back(std::move(task)); };
    c.keep_alive = [this]() -> std::shared_ptr<void> { return owner; };
    c.write_pending = [this] { return socket_busy; };
    return c;
  }

  void send(std::string_view frame) {
    pubsub::PubSubReq req;
    const bool decodes = req.ParseFromArray(frame.data(), static_cast<int>(frame.size()));
    const std::size_t issued = source.issued;
    const std::size_t records_before = sink.records;
    const bool hello_before = connection.said_hello();
    // A grant is sent on at once (pushed frames may come before on_frame returns), so it counts
    // from the start; refused, it is taken back.
    Sub* granted = nullptr;
    if (decodes && req.has_cmd_credit()) {
      if (auto it = subs.find(req.cmd_credit().subscription_id()); it != subs.end()) {
        granted = &it->second;
        granted->credit += req.cmd_credit().credit();
      }
    }
    const auto out = connection.on_frame(frame);
    if (granted && out.kind != pubsub::Outcome::Kind::none) {
      granted->credit -= req.cmd_credit().credit();
      check(granted->frames <= granted->credit, "frames pushed on a refused credit grant");
    }
    trace("frame in: %s command %d seq %lld -> outcome %d\n", decodes ? "" : "undecodable",
          static_cast<int>(req.req_case()), ll(req.sequence()), static_cast<int>(out.kind));
    if (shut_down) {
      check(out.kind == pubsub::Outcome::Kind::none, "an answer to a frame after shutdown()");
      return;
    }
    const bool produces =
        decodes && (req.has_cmd_kafka_produce() || req.has_cmd_kafka_produce_batch());
    switch (out.kind) {
      case pubsub::Outcome::Kind::reply: {
        const auto resp = decode(pubsub::Frame{out.reply, nullptr}, "a reply does not decode");
        check(resp.sequence() == (decodes ? req.sequence() : 0), "a reply of another sequence");
        check(sink.records == records_before, "records of a refused request reached the producer");
        if (resp.has_unsubscribe_resp()) {
          check(decodes && req.has_cmd_unsubscribe(), "unsubscribe_resp to another command");
          auto it = subs.find(resp.unsubscribe_resp().subscription_id());
          check(it != subs.end() && !it->second.unsubscribed,
                "unsubscribe_resp for a subscription that was never made or already ended");
          it->second.unsubscribed = true;
        }
        break;
      }
      case pubsub::Outcome::Kind::pending:
        // (A record may wait behind an earlier one's topic look-up, calling nothing yet.)
        check(produces || source.issued > issued, "pending, yet no Kafka call was made");
        ++pending;
        if (req.has_cmd_kafka_produce_batch()) {
          batch_records.emplace(req.sequence(), req.cmd_kafka_produce_batch().records_size());
        }
        if (req.has_cmd_kafka_subscribe()) {
          auto& credit = subscribe_credit[req.sequence()];
          credit = std::max(credit, req.cmd_kafka_subscribe().credit());
        }
        break;
      case pubsub::Outcome::Kind::none:
        check(decodes && (req.req_case() == pubsub::PubSubReq::REQ_NOT_SET ||
                          (hello_before && req.has_cmd_credit())),
              "no answer to a command that needs one");
        break;
    }
  }

  void on_reply(const pubsub::PubSubResp& resp) {
    trace("reply: %d seq %lld id %lld\n", static_cast<int>(resp.resp_case()), ll(resp.sequence()),
          ll(resp.kafka_subscribe_resp().subscription_id()));
    check(!shut_down, "a reply after shutdown()");
    check(++replies <= pending, "more replies than requests awaiting one");
    if (resp.has_kafka_produce_batch_resp()) {
      const auto& results = resp.kafka_produce_batch_resp().results();
      auto [from, to] = batch_records.equal_range(resp.sequence());
      auto it = std::find_if(from, to, [&](const auto& b) { return b.second == results.size(); });
      check(it != to, "a batch answer whose results do not match a batch of its sequence");
      batch_records.erase(it);
      for (const auto& r : results) {
        check(r.has_written() != r.has_error(), "a batch result neither written nor failed");
      }
      return;
    }
    if (!resp.has_kafka_subscribe_resp()) return;
    const auto& r = resp.kafka_subscribe_resp();
    check(r.subscription_id() == last_id + 1, "subscription ids do not count from 1");
    last_id = r.subscription_id();
    auto credit = subscribe_credit.find(resp.sequence());
    check(credit != subscribe_credit.end(), "kafka_subscribe_resp of no subscribe's sequence");
    Sub sub;
    sub.sequence = resp.sequence();
    sub.credit = credit->second;
    std::int32_t previous = -1;
    for (const auto& start : r.start()) {
      check(start.partition() > previous, "subscribe start not in ascending partition order");
      previous = start.partition();
      sub.next[start.partition()] = start.offset();
    }
    subs[r.subscription_id()] = std::move(sub);
  }

  void on_push(const pubsub::Frame& frame, const pubsub::PubSubResp& resp) {
    trace("push: %d seq %lld id %lld partition %d offsets %lld..%lld\n",
          static_cast<int>(resp.resp_case()), ll(resp.sequence()),
          ll(resp.kafka_records().subscription_id()), resp.kafka_records().partition(),
          ll(frame.body ? frame.body->first_offset : -1),
          ll(frame.body ? frame.body->next_offset : -1));
    check(!shut_down, "a frame pushed after shutdown()");
    if (resp.has_error_resp()) {
      // A subscription's end: one error with its sequence. When only one live subscription has
      // that sequence, it is the one that ended.
      Sub* ended = nullptr;
      int live = 0;
      for (auto& [id, sub] : subs) {
        if (sub.sequence == resp.sequence() && !sub.unsubscribed && !sub.ended) {
          ++live;
          ended = &sub;
        }
      }
      check(live > 0, "a subscription's end pushed with no live subscription of its sequence");
      if (live == 1) ended->ended = true;
      return;
    }
    check(resp.has_kafka_records(), "a pushed frame that is neither records nor an end");
    const auto& r = resp.kafka_records();
    auto it = subs.find(r.subscription_id());
    check(it != subs.end(), "records of a subscription that was never made");
    Sub& sub = it->second;
    check(!sub.unsubscribed, "records pushed after unsubscribe_resp");
    check(!sub.ended, "records pushed after the subscription's end");
    check(resp.sequence() == sub.sequence, "records without the subscribe's sequence");
    check(++sub.frames <= sub.credit, "more records frames than credit granted");
    check(r.messages_size() > 0, "an empty records frame");
    auto next = sub.next.find(r.partition());
    check(next != sub.next.end(), "records of a partition not subscribed");
    check(frame.body != nullptr, "a records frame without its shared batch");
    auto origin = source.origins.find(frame.body.get());
    check(origin != source.origins.end(), "a records frame of a batch the source never made");
    check(origin->second.partition == r.partition(), "a batch of one partition sent as another's");
    check(origin->second.requested == next->second,
          "records that do not follow the previous frame (a gap or a duplicate)");
    next->second = frame.body->next_offset;
    auto last = sub.last.find(r.partition());
    std::int64_t previous =
        last == sub.last.end() ? std::numeric_limits<std::int64_t>::min() : last->second;
    for (const auto& m : r.messages()) {
      check(m.offset() > previous, "pushed offsets do not strictly increase");
      previous = m.offset();
    }
    sub.last[r.partition()] = previous;
  }

  void answer(std::size_t pick, std::uint8_t mode) {
    if (source.calls.empty()) return;
    pick %= source.calls.size();
    Call call = std::move(source.calls[pick]);
    source.calls.erase(source.calls.begin() + static_cast<std::ptrdiff_t>(pick));
    // Work that was cancelled may be dropped (its callback destroyed, never called) or still be
    // answered (it was under way when the cancellation came).
    trace("answer call %zu (kind %zu%s) with mode %#x\n", pick, call.what.index(),
          kafka::is_cancelled(call.cancel) ? ", cancelled" : "", mode);
    if (kafka::is_cancelled(call.cancel) && (mode & 0x10) == 0) return;  // (produce: never)
    source.answer(std::move(call), mode);
  }

  void run_tasks(std::size_t n) {
    while (n-- > 0 && !tasks.empty()) {
      auto task = std::move(tasks.front());
      tasks.pop_front();
      task();
    }
  }

  void shutdown() {
    connection.shutdown();
    shut_down = true;
    for (const auto& call : source.calls) {
      check(std::holds_alternative<ProduceCall>(call.what) || kafka::is_cancelled(call.cancel),
            "Kafka work left uncancelled by shutdown()");
    }
  }

  // A record to produce from a few bytes: a topic of the write list or not, maybe a partition, a
  // key, a value (too large, sometimes), a header and a timestamp.
  void record(kpg::fuzz::Script& in, pubsub::CmdKafkaProduce* r) {
    static const char* const kTopics[] = {"t", "orders", "ro", "no topic!"};
    const std::uint8_t shape = in.byte();
    r->set_topic(kTopics[shape % 4]);
    if (shape & 0x04) r->set_partition(static_cast<std::int32_t>(in.byte() % 5) - 1);
    if (shape & 0x08) r->set_key("k");
    if (shape & 0x10) r->set_value(std::string(in.byte() % 40, 'v'));
    if (shape & 0x20) {
      auto* h = r->add_headers();
      h->set_key("h");
      h->set_value("v");
    }
    if (shape & 0x40) r->set_timestamp(static_cast<std::int64_t>(in.byte() % 3) - 1);
  }

  // A well-formed command from a few bytes (WHAT % 10 picks the command).
  void command(kpg::fuzz::Script& in) {
    static const char* const kTopics[] = {"t", "orders", "__consumer_offsets", "no topic!", "ab"};
    const std::uint8_t what = in.byte();
    pubsub::PubSubReq req;
    req.set_sequence(in.byte() % 8);
    auto topic = [&] { return std::string(kTopics[in.byte() % 5]); };
    auto some_id = [&] { return static_cast<std::int64_t>(in.byte() % (last_id + 2)); };
    switch (what % 10) {
      case 0: req.mutable_cmd_hello()->set_protocol_version(in.byte() % 3); break;
      case 1: {
        auto* m = req.mutable_cmd_kafka_metadata();
        const std::uint8_t n = in.byte() % 4;
        for (std::uint8_t i = 0; i < n; ++i) m->add_topics(topic());
        break;
      }
      case 2: {
        auto* s = req.mutable_cmd_kafka_subscribe();
        s->set_topic(topic());
        const std::uint8_t shape = in.byte();
        s->set_start(static_cast<pubsub::CmdKafkaSubscribe::Start>(shape % 3));
        s->set_timestamp((shape >> 2) % 4 == 3 ? 5000 : (shape >> 2) % 4);
        for (std::int32_t p = 0; p < 3; ++p) {
          if ((shape >> (4 + p)) & 1) s->add_partitions(p);
        }
        if (shape & 0x80) {
          auto* o = s->add_offsets();
          o->set_partition(in.byte() % 4);
          o->set_offset(in.byte() % 16);
        }
        s->set_credit(in.byte() % 6);
        break;
      }
      case 3:
        req.mutable_cmd_credit()->set_subscription_id(some_id());
        req.mutable_cmd_credit()->set_credit(in.byte() % 4);
        break;
      case 4: req.mutable_cmd_unsubscribe()->set_subscription_id(some_id()); break;
      case 5: {
        auto* f = req.mutable_cmd_kafka_fetch();
        f->set_topic(topic());
        f->set_partition(in.byte() % 3);
        f->set_offset(in.byte() % 16);
        break;
      }
      case 6: {
        auto* l = req.mutable_cmd_kafka_list_offset();
        l->set_topic(topic());
        l->set_partition(in.byte() % 3);
        l->set_timestamp(static_cast<std::int64_t>(in.byte() % 4) - 2);
        break;
      }
      case 8: record(in, req.mutable_cmd_kafka_produce()); break;
      case 9: {
        auto* batch = req.mutable_cmd_kafka_produce_batch();
        const std::uint8_t n = in.byte() % 6;
        for (std::uint8_t i = 0; i < n; ++i) record(in, batch->add_records());
        break;
      }
      default: req.mutable_cmd_ping()->set_state("s"); break;
    }
    send(req.SerializeAsString());
  }

  void run(kpg::fuzz::Script& in) {
    while (!in.done()) {
      const std::uint8_t op = in.byte();
      trace("op %d\n", op % 8);
      switch (op % 8) {
        case 0: send(in.take(in.byte())); break;
        case 1: command(in); break;
        case 2: {
          const std::uint8_t pick = in.byte();
          answer(pick, in.byte());
          break;
        }
        case 3: run_tasks(in.byte() % 16 + 1u); break;
        case 4: {
          const std::uint8_t on = in.byte();
          connection.set_congested((on & 1) != 0);
          socket_busy = (on & 2) != 0;
          if ((on & 4) != 0) connection.on_written();
          break;
        }
        case 5: {
          const std::uint8_t mode = in.byte();
          for (std::size_t n = source.calls.size(); n > 0 && !source.calls.empty(); --n) {
            answer(0, mode);
          }
          run_tasks(tasks.size());
          break;
        }
        case 6: shutdown(); break;
        default: send(in.frame()); break;
      }
    }
    shutdown();
    // Whatever was under way may still come back; then everything is gone.
    std::uint8_t mode = 0;
    while (!source.calls.empty()) answer(0, mode += 0x11);
    run_tasks(tasks.size());
    check(tasks.empty(), "tasks posted after shutdown() kept coming");
    check(owner.use_count() == 1, "the owner is still held once all Kafka work is gone");
  }

  const pubsub::Limits limits;
  const kpg::config::ProducePolicy policy;
  bool shut_down = false;
  FakeSource source;
  FakeSink sink;
  std::deque<std::function<void()>> tasks;
  std::shared_ptr<int> owner = std::make_shared<int>(0);
  bool socket_busy = false;                                // what write_pending answers
  std::map<std::int64_t, std::uint32_t> subscribe_credit;  // sequence -> most credit asked
  std::map<std::int64_t, Sub> subs;
  std::int64_t last_id = 0;
  std::size_t pending = 0;
  std::size_t replies = 0;
  std::multimap<std::int64_t, int> batch_records;  // sequence -> records, of batches pending
  pubsub::Connection connection;  // last: destroyed first, while what it calls still exists
};

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  // Invalid UTF-8 in proto3 strings is expected input; protobuf would log every occurrence.
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  kpg::fuzz::Script in(data, size);
  const std::uint8_t options = in.byte();
  pubsub::Limits limits;
  limits.fetch.max_bytes = 64;  // small, so that the byte limit is reached
  if (options & 2) {
    limits.max_subscriptions = 2;
    limits.max_credit = 4;
    limits.max_subscription_partitions = 2;
    limits.max_metadata_partitions = 3;
  }
  // Writes to "t" and "orders" ("ro" is read-only), with bounds small enough to be reached.
  kpg::config::ProducePolicy policy;
  policy.topics.add("t");
  policy.topics.add("orders");
  policy.max_record_bytes = 30;
  policy.max_inflight_bytes = 80;
  policy.max_records_per_second = (options & 4) ? 6 : 0;
  try {
    Harness harness(limits, policy);
    if (options & 1) {
      pubsub::PubSubReq hello;
      hello.set_sequence(1);
      hello.mutable_cmd_hello()->set_protocol_version(1);
      harness.send(hello.SerializeAsString());
    }
    harness.run(in);
  } catch (...) {
    check(false, "an exception escaped the connection");
  }
  return 0;
}
