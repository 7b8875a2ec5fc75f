// Embind surface of the WASM SDK. Deliberately thin and callback-based: js/index.mjs wraps it
// into the public Promise API. Offsets and timestamps cross as decimal strings (in) and BigInt
// (out) so no 64-bit value loses precision. No C++ exception crosses into JS.
#include "browser_transport.h"

#include <kpg/sdk/client.h>

#include <emscripten/bind.h>
#include <emscripten/val.h>

#include <charconv>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <type_traits>

namespace {

using emscripten::val;
using kpg::sdk::Error;

val big_int(std::int64_t value) {
  return val::global("BigInt")(val(std::to_string(value)));
}

val bytes(const std::string& data) {
  // A copy the JS side owns: the view into the wasm heap is only valid until the next allocation.
  return val(emscripten::typed_memory_view(data.size(),
                                           reinterpret_cast<const std::uint8_t*>(data.data())))
      .call<val>("slice");
}

val error_object(const Error& error) {
  val e = val::object();
  e.set("code", val(kpg::sdk::to_string(error.code)));
  e.set("message", val(error.message));
  // The gateway's own reason ("unknown_topic", ...); "unspecified" from APISIX or for non-server
  // errors.
  e.set("serverCode", val(kpg::sdk::to_string(error.server_code)));
  // Produce: whether the record may have been written although it failed.
  e.set("possiblyWritten", val(error.possibly_written));
  return e;
}

val records_to_js(const std::vector<kpg::sdk::Record>& batch) {
  val records = val::array();
  for (const auto& r : batch) {
    val record = val::object();
    record.set("offset", big_int(r.offset));
    record.set("timestamp", big_int(r.timestamp));
    record.set("key", bytes(r.key));
    record.set("value", bytes(r.value));
    record.set("partition", val(r.partition));
    val headers = val::array();
    for (const auto& h : r.headers) {
      val header = val::object();
      header.set("key", bytes(h.key));
      header.set("value", bytes(h.value));
      headers.call<void>("push", header);
    }
    record.set("headers", headers);
    record.set("snapshot", val(r.snapshot));
    records.call<void>("push", record);
  }
  return records;
}

// A Uint8Array (index.mjs encodes strings) copied into the wasm heap.
std::string bytes_from(const val& array) {
  const auto size = array["length"].as<unsigned>();
  std::string out(size, '\0');
  if (size > 0) {
    val(emscripten::typed_memory_view(size, reinterpret_cast<std::uint8_t*>(out.data())))
        .call<void>("set", array);
  }
  return out;
}

val positions_to_js(const std::vector<kpg::sdk::TopicPartitionOffset>& positions) {
  val out = val::array();
  for (const auto& p : positions) {
    val entry = val::object();
    entry.set("topic", val(p.topic));
    entry.set("partition", val(p.partition));
    entry.set("offset", big_int(p.offset));
    out.call<void>("push", entry);
  }
  return out;
}

val topics_to_js(const std::vector<kpg::sdk::TopicInfo>& topics) {
  val out = val::array();
  for (const auto& t : topics) {
    val topic = val::object();
    topic.set("name", val(t.name));
    val partitions = val::array();
    for (const auto& p : t.partitions) {
      val info = val::object();
      info.set("partition", val(p.partition));
      info.set("earliest", big_int(p.earliest));
      info.set("latest", big_int(p.latest));
      partitions.call<void>("push", info);
    }
    topic.set("partitions", partitions);
    out.call<void>("push", topic);
  }
  return out;
}

// Control of a running subscription; a copy shares the same subscription.
class WasmSubscription {
 public:
  explicit WasmSubscription(std::shared_ptr<kpg::sdk::Subscription> inner)
      : inner_(std::move(inner)) {}
  void pause() { inner_->pause(); }
  void resume() { inner_->resume(); }
  void request(int batches) {
    if (batches > 0) inner_->request(static_cast<std::uint32_t>(batches));
  }
  void cancel() { inner_->cancel(); }
  bool active() const { return inner_->active(); }
  bool paused() const { return inner_->paused(); }
  val next_offset() const { return big_int(inner_->next_offset()); }
  // [[partition, BigInt], ...] ascending by partition.
  val next_offsets() const {
    val out = val::array();
    for (const auto& [partition, offset] : inner_->next_offsets()) {
      val pair = val::array();
      pair.call<void>("push", val(partition));
      pair.call<void>("push", big_int(offset));
      out.call<void>("push", pair);
    }
    return out;
  }

 private:
  std::shared_ptr<kpg::sdk::Subscription> inner_;
};

// A filter as index.mjs checked and encoded it: [{kind, key, value, path, values, op, number}]
// with kind "keyEquals" | "keyPrefix" | "header" | "jsonIn" | "jsonCompare"; bytes as Uint8Array,
// values as [{type: "string" | "number" | "bool" | "null", value}].
kpg::sdk::Filter filter_from(const val& conditions) {
  kpg::sdk::Filter filter;
  if (conditions.isUndefined() || conditions.isNull()) return filter;
  const auto count = conditions["length"].as<unsigned>();
  for (unsigned i = 0; i < count; ++i) {
    val c = conditions[i];
    const auto kind = c["kind"].as<std::string>();
    if (kind == "keyEquals") {
      filter = filter && kpg::sdk::Filter::key_equals(bytes_from(c["key"]));
    } else if (kind == "keyPrefix") {
      filter = filter && kpg::sdk::Filter::key_prefix(bytes_from(c["key"]));
    } else if (kind == "header") {
      filter =
          filter && kpg::sdk::Filter::header_equals(bytes_from(c["key"]), bytes_from(c["value"]));
    } else if (kind == "jsonIn") {
      std::vector<kpg::sdk::JsonValue> values;
      val list = c["values"];
      const auto n = list["length"].as<unsigned>();
      for (unsigned j = 0; j < n; ++j) {
        val v = list[j];
        const auto type = v["type"].as<std::string>();
        if (type == "string") {
          values.emplace_back(v["value"].as<std::string>());
        } else if (type == "number") {
          values.emplace_back(v["value"].as<double>());
        } else if (type == "bool") {
          values.emplace_back(v["value"].as<bool>());
        } else {
          values.emplace_back(nullptr);
        }
      }
      filter = filter && kpg::sdk::Filter::json_in(c["path"].as<std::string>(), std::move(values));
    } else if (kind == "jsonCompare") {
      const auto op = c["op"].as<std::string>();
      using Op = kpg::sdk::Filter::Op;
      filter = filter && kpg::sdk::Filter::json_compare(c["path"].as<std::string>(),
                                                        op == "<"    ? Op::lt
                                                        : op == "<=" ? Op::le
                                                        : op == ">"  ? Op::gt
                                                                     : Op::ge,
                                                        c["number"].as<double>());
    }
  }
  return filter;
}

bool parse_int64(const std::string& text, std::int64_t& out) {
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, out);
  return ec == std::errc() && ptr == end;
}

// [{topic, partition, offset: decimal string}] (index.mjs checked them).
bool positions_from(const val& list, std::vector<kpg::sdk::TopicPartitionOffset>& out) {
  const auto count = list["length"].as<unsigned>();
  for (unsigned i = 0; i < count; ++i) {
    val p = list[i];
    kpg::sdk::TopicPartitionOffset position{p["topic"].as<std::string>(),
                                            p["partition"].as<std::int32_t>(), 0};
    if (!parse_int64(p["offset"].as<std::string>(), position.offset)) return false;
    out.push_back(std::move(position));
  }
  return true;
}

// Control of a consumer-group membership; a copy shares the same membership.
class WasmGroupSubscription {
 public:
  explicit WasmGroupSubscription(std::shared_ptr<kpg::sdk::GroupSubscription> inner)
      : inner_(std::move(inner)) {}
  // offsets: [{topic, partition, offset: decimal string}], [] = everything delivered.
  // callback(error|null, [{topic, partition, offset: BigInt}])
  void commit(val offsets, val callback) {
    std::vector<kpg::sdk::TopicPartitionOffset> list;
    if (!positions_from(offsets, list)) {
      callback(error_object({kpg::sdk::ErrorCode::protocol, "invalid commit offset"}),
               val::undefined());
      return;
    }
    inner_->commit(std::move(list),
                   [callback](kpg::sdk::Result<std::vector<kpg::sdk::TopicPartitionOffset>> r) {
                     if (!r) {
                       callback(error_object(r.error()), val::undefined());
                       return;
                     }
                     callback(val::null(), positions_to_js(r.value()));
                   });
  }
  void cancel() { inner_->cancel(); }
  bool active() const { return inner_->active(); }
  val assignment() const { return positions_to_js(inner_->assignment()); }

 private:
  std::shared_ptr<kpg::sdk::GroupSubscription> inner_;
};

// Reads {connectTimeoutMs, requestTimeoutMs, idleFetchIntervalMs, helloTimeoutMs, reconnect: false
// | {initialDelayMs, maxDelayMs, jitter, maxAttempts}, apiKey, token}; index.mjs has validated
// the values.
kpg::sdk::ClientOptions options_from(const val& js) {
  kpg::sdk::ClientOptions o;
  o.client_name = "kpg-sdk-wasm/" KPG_SDK_VERSION;  // in hello, for the gateway's log
  auto number = [&js](const char* name, auto& out) {
    val v = js[name];
    if (v.isNumber()) out = static_cast<std::remove_reference_t<decltype(out)>>(v.as<double>());
  };
  number("connectTimeoutMs", o.connect_timeout_ms);
  number("requestTimeoutMs", o.request_timeout_ms);
  number("idleFetchIntervalMs", o.idle_fetch_interval_ms);
  number("helloTimeoutMs", o.hello_timeout_ms);
  auto text = [&js](const char* name, std::string& out) {
    val v = js[name];
    if (v.isString()) out = v.as<std::string>();
  };
  text("apiKey", o.api_key);
  text("token", o.token);
  val reconnect = js["reconnect"];
  if (reconnect.isFalse()) {
    o.reconnect.enabled = false;
  } else if (!reconnect.isNull() && reconnect.typeOf().as<std::string>() == "object") {
    auto field = [&reconnect](const char* name, auto& out) {
      val v = reconnect[name];
      if (v.isNumber()) out = static_cast<std::remove_reference_t<decltype(out)>>(v.as<double>());
    };
    field("initialDelayMs", o.reconnect.initial_delay_ms);
    field("maxDelayMs", o.reconnect.max_delay_ms);
    field("jitter", o.reconnect.jitter);
    field("maxAttempts", o.reconnect.max_attempts);
  }
  return o;
}

// The JS side of the client's asynchronous hooks (index.mjs): hooks.token(id) runs the
// application's tokenProvider and hooks.probe(url, id) a fetch(); each answers through
// WasmClient::token_done / probe_done with the same id. Ids, not JS closures over C++ state:
// embind cannot make a JS function of a C++ lambda, and an answer arriving after the client was
// deleted must find nothing.
class WasmClient {
 public:
  explicit WasmClient(val options)
      : hooks_(options["hooks"]),
        client_(kpg::sdk::make_browser_transport(probe()),
                with_token_provider(options_from(options), options["tokenProvider"].isTrue())) {}

  // error: a message, or "" when `token` is the answer.
  void token_done(int id, const std::string& error, const std::string& token) {
    auto it = tokens_.find(id);
    if (it == tokens_.end()) return;
    auto done = std::move(it->second);
    tokens_.erase(it);
    if (error.empty()) {
      done(token);
    } else {
      done(Error{kpg::sdk::ErrorCode::unauthorized, "tokenProvider failed: " + error});
    }
  }

  // status 0: no readable answer.
  void probe_done(int id, int status, const std::string& body) {
    auto it = probes_.find(id);
    if (it == probes_.end()) return;
    auto done = std::move(it->second);
    probes_.erase(it);
    done(status, body);
  }

  // callback(error|null)
  void connect(const std::string& url, val callback) {
    client_.on_disconnect([this](const Error& error) {
      if (!on_event_.isUndefined()) on_event_(val("disconnect"), error_object(error));
    });
    client_.on_reconnect([this] {
      if (!on_event_.isUndefined()) on_event_(val("reconnect"), val::null());
    });
    client_.on_close([this](const Error& error) {
      if (!on_event_.isUndefined()) on_event_(val("close"), error_object(error));
    });
    client_.connect(url, [callback](kpg::sdk::Result<kpg::sdk::Connected> result) {
      callback(result ? val::null() : error_object(result.error()));
    });
  }

  // callback(kind, error|null): kind is "disconnect", "reconnect" or "close".
  void set_on_event(val callback) { on_event_ = std::move(callback); }

  // callback(error|null, Uint8Array)
  void ping(const std::string& state, val callback) {
    client_.ping(state, [callback](kpg::sdk::Result<std::string> result) {
      if (!result) {
        callback(error_object(result.error()), val::undefined());
        return;
      }
      callback(val::null(), bytes(result.value()));
    });
  }

  // at: decimal string (-2 earliest, -1 latest, or a timestamp). callback(error|null, BigInt)
  void list_offsets(const std::string& topic, int partition, const std::string& at, val callback) {
    std::int64_t at_value = 0;
    if (!parse_int64(at, at_value)) {
      callback(error_object({kpg::sdk::ErrorCode::protocol, "invalid 'at': " + at}),
               val::undefined());
      return;
    }
    client_.list_offsets(topic, partition, at_value,
                         [callback](kpg::sdk::Result<std::int64_t> result) {
                           if (!result) {
                             callback(error_object(result.error()), val::undefined());
                             return;
                           }
                           callback(val::null(), big_int(result.value()));
                         });
  }

  // offset: decimal string. callback(error|null, Array<{offset, timestamp, key, value}>)
  void fetch(const std::string& topic, int partition, const std::string& offset, val callback) {
    std::int64_t offset_value = 0;
    if (!parse_int64(offset, offset_value)) {
      callback(error_object({kpg::sdk::ErrorCode::protocol, "invalid offset: " + offset}),
               val::undefined());
      return;
    }
    client_.fetch(topic, partition, offset_value,
                  [callback](kpg::sdk::Result<std::vector<kpg::sdk::Record>> result) {
                    if (!result) {
                      callback(error_object(result.error()), val::undefined());
                      return;
                    }
                    callback(val::null(), records_to_js(result.value()));
                  });
  }

  // offset: decimal string; filter: see filter_from. callback(error|null, {records, nextOffset:
  // BigInt})
  void fetch_filtered(const std::string& topic, int partition, const std::string& offset,
                      val filter, val callback) {
    std::int64_t offset_value = 0;
    if (!parse_int64(offset, offset_value)) {
      callback(error_object({kpg::sdk::ErrorCode::protocol, "invalid offset: " + offset}),
               val::undefined());
      return;
    }
    client_.fetch(topic, partition, offset_value, filter_from(filter),
                  [callback](kpg::sdk::Result<kpg::sdk::ProtocolSession::FetchPage> result) {
                    if (!result) {
                      callback(error_object(result.error()), val::undefined());
                      return;
                    }
                    val page = val::object();
                    page.set("records", records_to_js(result.value().records));
                    page.set("nextOffset", big_int(result.value().next_offset));
                    callback(val::null(), page);
                  });
  }

  // {protocolVersion, features, limits: {...}, server}; protocolVersion 0 in APISIX mode.
  val server_info() const {
    const auto& info = client_.server_info();
    val out = val::object();
    out.set("protocolVersion", val(info.protocol_version));
    val features = val::array();
    for (const auto& f : info.features) features.call<void>("push", val(f));
    out.set("features", features);
    val limits = val::object();
    limits.set("maxFrameBytes", val(info.limits.max_frame_bytes));
    limits.set("maxBatchBytes", val(info.limits.max_batch_bytes));
    limits.set("maxInflightRequests", val(info.limits.max_inflight_requests));
    limits.set("maxSubscriptions", val(info.limits.max_subscriptions));
    limits.set("maxCredit", val(info.limits.max_credit));
    limits.set("maxMetadataPartitions", val(info.limits.max_metadata_partitions));
    limits.set("maxRequestsPerSecond", val(info.limits.max_requests_per_second));
    limits.set("maxRecordBytes", val(info.limits.max_record_bytes));
    limits.set("maxProduceInflightBytes", val(info.limits.max_produce_inflight_bytes));
    limits.set("maxProduceRecordsPerSecond", val(info.limits.max_produce_records_per_second));
    limits.set("maxGroupSubscriptions", val(info.limits.max_group_subscriptions));
    limits.set("maxProduceBatchRecords", val(info.limits.max_produce_batch_records));
    limits.set("maxFilterConditions", val(info.limits.max_filter_conditions));
    limits.set("maxFilterValues", val(info.limits.max_filter_values));
    limits.set("maxSnapshotBytes", val(info.limits.max_snapshot_bytes));
    out.set("limits", limits);
    out.set("server", val(info.server));
    return out;
  }

  // topics: Array<string>. callback(error|null, Array<{name, partitions: [{partition,
  // earliest: BigInt, latest: BigInt}]}>)
  void metadata(val topics, val callback) {
    std::vector<std::string> names;
    const auto count = topics["length"].as<unsigned>();
    for (unsigned i = 0; i < count; ++i) names.push_back(topics[i].as<std::string>());
    client_.metadata(std::move(names),
                     [callback](kpg::sdk::Result<std::vector<kpg::sdk::TopicInfo>> result) {
                       if (!result) {
                         callback(error_object(result.error()), val::undefined());
                         return;
                       }
                       callback(val::null(), topics_to_js(result.value()));
                     });
  }

  // partitions: Array<number> (index.mjs checked them); single: a one-partition subscribe().
  // kind: earliest | latest | offset | timestamp | snapshot; value: decimal string (offset or
  // ms). pull: batches are delivered only as asked for with request(n) (the async iterator).
  // filter: see filter_from (undefined: none).
  // on_records(Array<record>) per batch; on_error(error) once when it ends on an error;
  // on_snapshot(partition) at a partition's snapshot end, on_snapshot(-1) once all ended.
  WasmSubscription subscribe(const std::string& topic, val partitions, bool single,
                             const std::string& kind, const std::string& value, bool pull,
                             val filter, val on_records, val on_error, val on_snapshot) {
    std::int64_t number = 0;
    kpg::sdk::StartAt from = kpg::sdk::StartAt::latest();
    if (kind == "earliest") {
      from = kpg::sdk::StartAt::earliest();
    } else if (kind == "snapshot") {
      from = kpg::sdk::StartAt::snapshot();
    } else if (kind == "offset" && parse_int64(value, number)) {
      from = kpg::sdk::StartAt::offset(number);
    } else if (kind == "timestamp" && parse_int64(value, number)) {
      from = kpg::sdk::StartAt::timestamp(number);
    }
    std::vector<std::int32_t> list;
    const auto count = partitions["length"].as<unsigned>();
    for (unsigned i = 0; i < count; ++i) list.push_back(partitions[i].as<std::int32_t>());
    kpg::sdk::SubscribeOptions options;
    options.pull = pull;
    options.filter = filter_from(filter);
    kpg::sdk::SubscriptionHandlers handlers{
        [on_records](const std::vector<kpg::sdk::Record>& batch) {
          on_records(records_to_js(batch));
        },
        [on_error](const Error& error) { on_error(error_object(error)); },
        [on_snapshot](std::int32_t partition) { on_snapshot(val(partition)); },
        [on_snapshot] { on_snapshot(val(-1)); }};
    if (single && list.size() == 1) {
      return WasmSubscription(
          client_.subscribe(topic, list.front(), from, std::move(handlers), options));
    }
    return WasmSubscription(
        client_.subscribe_topic(topic, std::move(list), from, std::move(handlers), options));
  }

  // value, key: Uint8Array or null (null: a null value / key). headers: [{key, value}] of
  // Uint8Array. partition: -1 for the default partitioner. timestamp: decimal string or "".
  // callback(error|null, {partition, offset: BigInt, timestamp: BigInt})
  void produce(const std::string& topic, val value, val key, val headers, int partition,
               const std::string& timestamp, val callback) {
    auto item = produce_item(topic, value, key, headers, partition, timestamp, callback);
    if (item) {
      client_.produce(item->topic, std::move(item->value), std::move(item->options),
                      std::move(item->handler));
    }
  }

  // items: [{topic, value, key, headers, partition, timestamp, callback}], each as for produce():
  // queued together, so that they leave in as few requests as the gateway allows.
  void produce_many(val items) {
    std::vector<kpg::sdk::Client::ProduceItem> list;
    const auto count = items["length"].as<unsigned>();
    list.reserve(count);
    for (unsigned i = 0; i < count; ++i) {
      val it = items[i];
      auto item = produce_item(it["topic"].as<std::string>(), it["value"], it["key"], it["headers"],
                               it["partition"].as<int>(), it["timestamp"].as<std::string>(),
                               it["callback"]);
      if (item) list.push_back(std::move(*item));
    }
    client_.produce_many(std::move(list));
  }

  // A record for the core client, its callback answering with JS values; nullopt (the callback
  // has run with the error) when the timestamp does not parse.
  static std::optional<kpg::sdk::Client::ProduceItem> produce_item(const std::string& topic,
                                                                   val value, val key, val headers,
                                                                   int partition,
                                                                   const std::string& timestamp,
                                                                   val callback) {
    kpg::sdk::ProduceOptions o;
    if (!key.isNull() && !key.isUndefined()) o.key = bytes_from(key);
    const auto count = headers["length"].as<unsigned>();
    for (unsigned i = 0; i < count; ++i) {
      o.headers.push_back({bytes_from(headers[i]["key"]), bytes_from(headers[i]["value"])});
    }
    if (partition >= 0) o.partition = partition;
    if (!timestamp.empty()) {
      std::int64_t ms = 0;
      if (!parse_int64(timestamp, ms)) {
        callback(error_object({kpg::sdk::ErrorCode::protocol, "invalid timestamp: " + timestamp}),
                 val::undefined());
        return std::nullopt;
      }
      o.timestamp = ms;
    }
    std::optional<std::string> payload;
    if (!value.isNull() && !value.isUndefined()) payload = bytes_from(value);
    return kpg::sdk::Client::ProduceItem{topic, std::move(payload), std::move(o),
                                         [callback](kpg::sdk::Result<kpg::sdk::Produced> r) {
                                           if (!r) {
                                             callback(error_object(r.error()), val::undefined());
                                             return;
                                           }
                                           val out = val::object();
                                           out.set("partition", val(r.value().partition));
                                           out.set("offset", big_int(r.value().offset));
                                           out.set("timestamp", big_int(r.value().timestamp));
                                           callback(val::null(), out);
                                         }};
  }

  // topics: Array<string>; start: "earliest" | "latest"; window: credit in frames; commit:
  // "explicit" | "auto". on_records(topic, partition, records); on_assignment(kind, partitions)
  // with kind "assigned" | "revoked" | "lost"; on_error(error) once when it ends on an error.
  WasmGroupSubscription subscribe_group(const std::string& group, val topics,
                                        const std::string& start, int window,
                                        const std::string& commit, val on_records,
                                        val on_assignment, val on_error) {
    std::vector<std::string> names;
    const auto count = topics["length"].as<unsigned>();
    for (unsigned i = 0; i < count; ++i) names.push_back(topics[i].as<std::string>());
    kpg::sdk::GroupOptions options;
    options.start = start == "earliest" ? kpg::sdk::GroupOptions::Start::earliest
                                        : kpg::sdk::GroupOptions::Start::latest;
    if (window > 0) options.window = static_cast<std::uint32_t>(window);
    options.commit = commit == "auto" ? kpg::sdk::GroupOptions::Commit::automatic
                                      : kpg::sdk::GroupOptions::Commit::explicit_only;
    kpg::sdk::GroupHandlers handlers;
    handlers.on_records = [on_records](const std::string& topic, std::int32_t partition,
                                       const std::vector<kpg::sdk::Record>& records) {
      on_records(val(topic), val(partition), records_to_js(records));
    };
    auto assignment = [on_assignment](const char* kind) {
      return [on_assignment, kind](const std::vector<kpg::sdk::TopicPartitionOffset>& ps) {
        on_assignment(val(kind), positions_to_js(ps));
      };
    };
    handlers.on_assigned = assignment("assigned");
    handlers.on_revoked = assignment("revoked");
    handlers.on_lost = assignment("lost");
    handlers.on_error = [on_error](const Error& error) { on_error(error_object(error)); };
    return WasmGroupSubscription(
        client_.subscribe_group(group, std::move(names), std::move(handlers), options));
  }

  void close() { client_.close(); }
  bool is_open() const { return client_.is_open(); }
  bool reconnecting() const { return client_.reconnecting(); }
  int pending() const { return static_cast<int>(client_.pending()); }

 private:
  // No hooks (a WasmClient made without index.mjs): no probe, failures stay `transport`.
  kpg::sdk::HttpProbe probe() {
    if (hooks_.isUndefined() || hooks_.isNull()) return nullptr;
    return [this](const std::string& url, std::function<void(int, std::string)> done) {
      const int id = ++last_id_;
      probes_.emplace(id, std::move(done));
      hooks_.call<void>("probe", val(url), val(id));
    };
  }

  kpg::sdk::ClientOptions with_token_provider(kpg::sdk::ClientOptions o, bool wanted) {
    if (wanted && !hooks_.isUndefined() && !hooks_.isNull()) {
      o.token_provider = [this](kpg::sdk::ClientOptions::TokenCallback done) {
        const int id = ++last_id_;
        tokens_.emplace(id, std::move(done));
        hooks_.call<void>("token", val(id));
      };
    }
    return o;
  }

  // Declared before client_: the transport and the client call into them.
  val hooks_;
  int last_id_ = 0;
  std::map<int, kpg::sdk::ClientOptions::TokenCallback> tokens_;
  std::map<int, std::function<void(int, std::string)>> probes_;
  kpg::sdk::Client client_;
  val on_event_ = val::undefined();
};

}  // namespace

EMSCRIPTEN_BINDINGS(kpg_sdk) {
  emscripten::class_<WasmSubscription>("WasmSubscription")
      .function("pause", &WasmSubscription::pause)
      .function("resume", &WasmSubscription::resume)
      .function("request", &WasmSubscription::request)
      .function("nextOffsets", &WasmSubscription::next_offsets)
      .function("cancel", &WasmSubscription::cancel)
      .function("active", &WasmSubscription::active)
      .function("paused", &WasmSubscription::paused)
      .function("nextOffset", &WasmSubscription::next_offset);
  emscripten::class_<WasmGroupSubscription>("WasmGroupSubscription")
      .function("commit", &WasmGroupSubscription::commit)
      .function("cancel", &WasmGroupSubscription::cancel)
      .function("active", &WasmGroupSubscription::active)
      .function("assignment", &WasmGroupSubscription::assignment);
  emscripten::class_<WasmClient>("WasmClient")
      .constructor<val>()
      .function("connect", &WasmClient::connect)
      .function("setOnEvent", &WasmClient::set_on_event)
      .function("tokenDone", &WasmClient::token_done)
      .function("probeDone", &WasmClient::probe_done)
      .function("ping", &WasmClient::ping)
      .function("listOffsets", &WasmClient::list_offsets)
      .function("fetch", &WasmClient::fetch)
      .function("fetchFiltered", &WasmClient::fetch_filtered)
      .function("subscribe", &WasmClient::subscribe)
      .function("produce", &WasmClient::produce)
      .function("produceMany", &WasmClient::produce_many)
      .function("subscribeGroup", &WasmClient::subscribe_group)
      .function("serverInfo", &WasmClient::server_info)
      .function("metadata", &WasmClient::metadata)
      .function("close", &WasmClient::close)
      .function("isOpen", &WasmClient::is_open)
      .function("reconnecting", &WasmClient::reconnecting)
      .function("pending", &WasmClient::pending);
}
