#include "kafka/rdkafka_client.h"

#include <librdkafka/rdkafka.h>
#include <spdlog/spdlog.h>

#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <map>
#include <mutex>
#include <set>
#include <shared_mutex>

namespace kpg::kafka {

using Clock = std::chrono::steady_clock;

std::vector<std::pair<std::string, std::string>> kafka_properties(
    const config::ClusterSettings& settings) {
  std::string bootstrap;
  for (const auto& node : settings.nodes) {
    if (!bootstrap.empty()) bootstrap += ",";
    bootstrap += node.to_string();
  }
  std::vector<std::pair<std::string, std::string>> props = {
      {"bootstrap.servers", bootstrap},
      {"client.id", "kpg-gateway/" + settings.name},
      // A broker answers a read at a partition's end as soon as records arrive; this bounds how
      // long it holds an empty one (some, like librdkafka's mock cluster, hold it that long
      // whatever arrives: there it adds up to this much latency).
      {"fetch.wait.max.ms", std::to_string(settings.fetch_wait_ms)},
      {"fetch.error.backoff.ms", "50"},
      // Prefetch: every partition of a lane is forwarded to the lane's one queue, so these bounds
      // hold for the whole lane (all its partitions), and one fetch response is at most
      // fetch.max.bytes. The read path drains the queue as records arrive and keeps its own
      // bounded windows. Both thresholds stay well above one fetch response on purpose:
      // librdkafka 2.0.2 backs a partition off for a whole second whenever the queue crosses
      // either, which capped a client reading history at ~1,400 records/s with 1000 messages and
      // at ~46,000 records/s with 1 MiB (kpg-bench-subscribe --records 100000), and made fetches
      // on 64 partitions at once time out with 1 MiB.
      {"queued.max.messages.kbytes", "16384"},
      {"fetch.max.bytes", "8388608"},
      {"queued.min.messages", "100000"},
      {"fetch.message.max.bytes", "1048576"},
      {"enable.partition.eof", "false"},
      {"allow.auto.create.topics", "false"},
      {"reconnect.backoff.max.ms", "2000"},
      {"log.connection.close", "false"},
  };
  const bool tls = settings.tls.has_value();
  const bool sasl = settings.sasl.has_value();
  props.emplace_back("security.protocol",
                     sasl ? (tls ? "sasl_ssl" : "sasl_plaintext") : (tls ? "ssl" : "plaintext"));
  if (tls) {
    props.emplace_back("enable.ssl.certificate.verification",
                       settings.tls->verify ? "true" : "false");
    props.emplace_back("ssl.endpoint.identification.algorithm",
                       settings.tls->verify ? "https" : "none");
    if (!settings.tls->ca_file.empty())
      props.emplace_back("ssl.ca.location", settings.tls->ca_file);
    if (!settings.tls->cert_file.empty()) {
      props.emplace_back("ssl.certificate.location", settings.tls->cert_file);
      props.emplace_back("ssl.key.location", settings.tls->key_file);
    }
  }
  if (sasl) {
    props.emplace_back("sasl.mechanisms", settings.sasl->mechanism);
    props.emplace_back("sasl.username", settings.sasl->username);
    props.emplace_back("sasl.password", settings.sasl->password);
  }
  return props;
}

namespace {

// Client-visible words are fixed; librdkafka's text and broker addresses go to `detail` (logs).
KafkaError to_error(rd_kafka_resp_err_t err, std::string detail = {}) {
  if (detail.empty()) detail = std::string(rd_kafka_err2name(err)) + ": " + rd_kafka_err2str(err);
  switch (err) {
    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
    case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
    case RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE:
      return {ErrorKind::unknown_topic, "not found topic", std::move(detail)};
    case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
      return {ErrorKind::unknown_partition, "not found partition", std::move(detail)};
    case RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE:
    case RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET:
      return {ErrorKind::offset_out_of_range, "OFFSET_OUT_OF_RANGE", std::move(detail)};
    case RD_KAFKA_RESP_ERR__TRANSPORT:
    case RD_KAFKA_RESP_ERR__TIMED_OUT:
    case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
    case RD_KAFKA_RESP_ERR__RESOLVE:
      // APISIX reports unreachable brokers as "not found topic"; keep that prefix, add the cause.
      return {ErrorKind::unreachable, "not found topic (no broker reachable)", std::move(detail)};
    case RD_KAFKA_RESP_ERR__SSL:
      return {ErrorKind::rejected,
              detail.find("certificate verify failed") != std::string::npos
                  ? "TLS certificate rejected (see the gateway log)"
                  : "TLS handshake with the broker failed (see the gateway log)",
              std::move(detail)};
    case RD_KAFKA_RESP_ERR__AUTHENTICATION:
    case RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED:
      return {ErrorKind::rejected, "SASL authentication failed", std::move(detail)};
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
      return {ErrorKind::rejected, "not authorized by the broker", std::move(detail)};
    default: return {ErrorKind::other, rd_kafka_err2name(err), std::move(detail)};
  }
}

// What every librdkafka handle of one cluster reports about its brokers. Shared by the control
// handle and the lanes; outlives them all (their opaque points here).
struct BrokerHealth {
  std::atomic<bool> in_doubt{false};
  mutable std::mutex mutex;
  rd_kafka_resp_err_t last_code = RD_KAFKA_RESP_ERR_NO_ERROR;
  std::string last_text;
  Clock::time_point last_at{};

  void note(rd_kafka_resp_err_t code, std::string text) {
    if (code == RD_KAFKA_RESP_ERR__TRANSPORT || code == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN ||
        code == RD_KAFKA_RESP_ERR__RESOLVE || code == RD_KAFKA_RESP_ERR__AUTHENTICATION ||
        code == RD_KAFKA_RESP_ERR__SSL) {
      in_doubt = true;
    }
    std::lock_guard lock(mutex);
    last_code = code;
    last_text = std::move(text);
    last_at = Clock::now();
  }

  // A request that timed out because no broker connection could be established is explained by
  // the last connection error: a refused SASL login or a rejected TLS certificate says much more
  // than "timed out".
  KafkaError explain(rd_kafka_resp_err_t err) const {
    std::lock_guard lock(mutex);
    const bool recent = Clock::now() - last_at < std::chrono::seconds(60);
    const bool unreachable = err == RD_KAFKA_RESP_ERR__TRANSPORT ||
                             err == RD_KAFKA_RESP_ERR__TIMED_OUT ||
                             err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN;
    if (unreachable && recent &&
        (last_code == RD_KAFKA_RESP_ERR__AUTHENTICATION ||
         last_code == RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED ||
         last_code == RD_KAFKA_RESP_ERR__SSL)) {
      return to_error(last_code, last_text);
    }
    std::string detail = std::string(rd_kafka_err2str(err));
    if (recent && !last_text.empty()) detail += "; " + last_text;
    return to_error(err, std::move(detail));
  }
};

// librdkafka callbacks run on librdkafka's threads; spdlog is thread-safe.
void log_cb(const rd_kafka_t* rk, int level, const char* fac, const char* buf) {
  const char* name = rd_kafka_name(rk);
  if (level <= 3)
    spdlog::error("event=kafka_log client={} facility={} msg=\"{}\"", name, fac, buf);
  else if (level <= 4)
    spdlog::warn("event=kafka_log client={} facility={} msg=\"{}\"", name, fac, buf);
  else
    spdlog::debug("event=kafka_log client={} facility={} msg=\"{}\"", name, fac, buf);

  // Broker connection failures (facility FAIL) carry the reason a request will later time out
  // for: keep the latest one.
  if (std::string_view(fac) != "FAIL") return;
  std::string_view text(buf);
  if (text.rfind("[thrd:", 0) == 0) {
    const auto end = text.find("]: ");
    if (end != std::string_view::npos) text.remove_prefix(end + 3);
  }
  rd_kafka_resp_err_t code = RD_KAFKA_RESP_ERR__TRANSPORT;
  if (text.find("SASL") != std::string_view::npos)
    code = RD_KAFKA_RESP_ERR__AUTHENTICATION;
  else if (text.find("SSL") != std::string_view::npos)
    code = RD_KAFKA_RESP_ERR__SSL;
  if (auto* health = static_cast<BrokerHealth*>(rd_kafka_opaque(rk))) {
    health->note(code, std::string(text));
  }
}

void error_cb(rd_kafka_t* rk, int err, const char* reason, void* opaque) {
  if (auto* health = static_cast<BrokerHealth*>(opaque)) {
    health->note(static_cast<rd_kafka_resp_err_t>(err), reason);
  }
  spdlog::warn("event=kafka_error client={} err={} reason=\"{}\"", rd_kafka_name(rk),
               rd_kafka_err2name(static_cast<rd_kafka_resp_err_t>(err)), reason);
}

}  // namespace

void set_log_callbacks(rd_kafka_conf_s* conf) {
  rd_kafka_conf_set_log_cb(conf, log_cb);
  rd_kafka_conf_set_error_cb(conf, error_cb);
}

namespace {

// A consumer handle for `settings`, reporting to `health`. nullptr + error on failure.
rd_kafka_t* new_handle(const config::ClusterSettings& settings, const std::string& client_suffix,
                       BrokerHealth* health, std::string* error) {
  char errstr[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  for (auto [key, value] : kafka_properties(settings)) {
    if (key == "client.id") value += client_suffix;
    if (rd_kafka_conf_set(conf, key.c_str(), value.c_str(), errstr, sizeof errstr) !=
        RD_KAFKA_CONF_OK) {
      if (error) *error = "kafka setting " + key + ": " + errstr;
      rd_kafka_conf_destroy(conf);
      return nullptr;
    }
  }
  set_log_callbacks(conf);
  rd_kafka_conf_set_opaque(conf, health);
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
  if (!rk) {
    if (error) *error = std::string("cannot create Kafka client: ") + errstr;
    rd_kafka_conf_destroy(conf);  // rd_kafka_new frees conf only on success
  }
  return rk;
}

struct TopicDeleter {
  void operator()(rd_kafka_topic_t* rkt) const { rd_kafka_topic_destroy(rkt); }
};
using TopicHandle = std::unique_ptr<rd_kafka_topic_t, TopicDeleter>;

class RdKafkaLane final : public ConsumerLane {
 public:
  RdKafkaLane(config::ClusterSettings settings, std::shared_ptr<BrokerHealth> health, int index,
              std::function<void()> wake)
      : settings_(std::move(settings)),
        health_(std::move(health)),
        index_(index),
        wake_(std::move(wake)) {}

  ~RdKafkaLane() override { close(); }

  std::optional<KafkaError> start(const TopicPartition& tp, std::int64_t offset,
                                  std::uint64_t generation) override {
    if (auto error = open()) return error;
    std::shared_lock handle_lock(handle_mutex_);
    std::unique_lock lock(topics_mutex_);
    auto& topic = topics_[tp.topic];
    if (!topic.handle) {
      rd_kafka_topic_conf_t* tconf = rd_kafka_topic_conf_new();
      char errstr[256];
      // Never jump silently to another offset: out-of-range surfaces as an error.
      rd_kafka_topic_conf_set(tconf, "auto.offset.reset", "error", errstr, sizeof errstr);
      topic.handle.reset(rd_kafka_topic_new(rk_, tp.topic.c_str(), tconf));
      if (!topic.handle) {
        const auto err = rd_kafka_last_error();
        topics_.erase(tp.topic);
        return to_error(err);
      }
    }
    rd_kafka_topic_t* rkt = topic.handle.get();
    const bool running = topic.partitions.count(tp.partition) > 0;
    lock.unlock();
    if (running) {
      // Stop, then start afresh (rather than seek): once consume_stop returns, nothing read for
      // the old position is handed over (librdkafka drops outdated messages from the queue), so
      // everything polled after the generation changes below belongs to the new position. It
      // also recovers a partition whose fetcher stopped on an error, which refuses to seek.
      rd_kafka_consume_stop(rkt, tp.partition);
    }
    lock.lock();
    topic.generations[tp.partition] = generation;
    lock.unlock();
    if (rd_kafka_consume_start_queue(rkt, tp.partition, offset, queue_) == -1) {
      const auto err = rd_kafka_last_error();
      lock.lock();
      forget(tp);
      return to_error(err);
    }
    lock.lock();
    topic.partitions.insert(tp.partition);
    return std::nullopt;
  }

  void stop(const TopicPartition& tp) override {
    std::shared_lock handle_lock(handle_mutex_);
    std::unique_lock lock(topics_mutex_);
    auto it = topics_.find(tp.topic);
    if (it == topics_.end() || !it->second.partitions.count(tp.partition)) return;
    rd_kafka_topic_t* rkt = it->second.handle.get();
    lock.unlock();
    rd_kafka_consume_stop(rkt, tp.partition);  // also purges what was prefetched
    lock.lock();
    forget(tp);
  }

  void close() override {
    rd_kafka_t* rk = nullptr;
    rd_kafka_queue_t* queue = nullptr;
    std::map<std::string, Topic, std::less<>> topics;
    {
      std::unique_lock handle_lock(handle_mutex_);
      std::lock_guard lock(topics_mutex_);
      std::swap(rk, rk_);
      std::swap(queue, queue_);
      topics.swap(topics_);
    }
    if (!rk) return;
    for (auto& [name, topic] : topics) {
      for (auto partition : topic.partitions) rd_kafka_consume_stop(topic.handle.get(), partition);
    }
    topics.clear();
    rd_kafka_queue_cb_event_enable(queue, nullptr, nullptr);
    rd_kafka_queue_destroy(queue);
    rd_kafka_destroy(rk);
  }

  void pause(const TopicPartition& tp, bool paused) override {
    std::shared_lock handle_lock(handle_mutex_);
    if (!rk_) return;
    rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(list, tp.topic.c_str(), tp.partition);
    if (paused)
      rd_kafka_pause_partitions(rk_, list);
    else
      rd_kafka_resume_partitions(rk_, list);
    rd_kafka_topic_partition_list_destroy(list);
  }

  std::size_t poll(std::size_t max, const std::function<void(LaneEvent&)>& sink) override {
    std::shared_lock handle_lock(handle_mutex_);
    if (!queue_) return 0;
    rd_kafka_message_t* batch[kBatch];
    std::size_t total = 0;
    while (total < max) {
      const std::size_t want = std::min<std::size_t>(kBatch, max - total);
      const ssize_t n = rd_kafka_consume_batch_queue(queue_, 0, batch, want);
      if (n <= 0) break;
      for (ssize_t i = 0; i < n; ++i) {
        rd_kafka_message_t* m = batch[i];
        LaneEvent event;
        event.topic = m->rkt ? rd_kafka_topic_name(m->rkt) : std::string_view();
        event.partition = m->partition;
        event.generation = generation_of(event.topic, event.partition);
        if (m->err) {
          if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            event.error = to_error(m->err, rd_kafka_message_errstr(m));
            sink(event);
          }
        } else {
          // Null keys and values (tombstones) arrive as nullptr: empty bytes on the wire.
          const auto* key = static_cast<const char*>(m->key);
          const auto* value = static_cast<const char*>(m->payload);
          event.record = Record{m->offset, rd_kafka_message_timestamp(m, nullptr),
                                key ? std::string(key, m->key_len) : std::string(),
                                value ? std::string(value, m->len) : std::string()};
          copy_headers(m, event.record.headers);
          sink(event);
        }
        rd_kafka_message_destroy(m);
      }
      total += static_cast<std::size_t>(n);
      if (static_cast<std::size_t>(n) < want) break;
    }
    return total;
  }

 private:
  static constexpr std::size_t kBatch = 256;

  // A null header value (Kafka allows one) arrives as empty bytes, like null keys and values.
  static void copy_headers(rd_kafka_message_t* m, std::vector<Header>& out) {
    rd_kafka_headers_t* headers = nullptr;
    if (rd_kafka_message_headers(m, &headers) != RD_KAFKA_RESP_ERR_NO_ERROR || !headers) return;
    const char* name = nullptr;
    const void* value = nullptr;
    std::size_t size = 0;
    out.reserve(rd_kafka_header_cnt(headers));
    for (std::size_t i = 0;
         rd_kafka_header_get_all(headers, i, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR;
         ++i) {
      out.push_back(
          Header{name ? std::string(name) : std::string(),
                 value ? std::string(static_cast<const char*>(value), size) : std::string()});
    }
  }

  struct Topic {
    TopicHandle handle;
    std::set<std::int32_t> partitions;                  // started
    std::map<std::int32_t, std::uint64_t> generations;  // of the latest start()
  };

  // Connects on first use (and after close()).
  std::optional<KafkaError> open() {
    std::unique_lock handle_lock(handle_mutex_);
    if (rk_) return std::nullopt;
    std::string error;
    rk_ = new_handle(settings_, "/lane-" + std::to_string(index_), health_.get(), &error);
    if (!rk_) return KafkaError{ErrorKind::other, "cannot create a Kafka client", error};
    queue_ = rd_kafka_queue_new(rk_);
    rd_kafka_queue_cb_event_enable(queue_, &RdKafkaLane::on_queue_event, this);
    return std::nullopt;
  }

  static void on_queue_event(rd_kafka_t*, void* opaque) {
    static_cast<RdKafkaLane*>(opaque)->wake_();
  }

  std::uint64_t generation_of(std::string_view topic, std::int32_t partition) {
    std::lock_guard lock(topics_mutex_);
    auto it = topics_.find(topic);
    if (it == topics_.end()) return 0;
    auto g = it->second.generations.find(partition);
    return g == it->second.generations.end() ? 0 : g->second;
  }

  // topics_mutex_ held.
  void forget(const TopicPartition& tp) {
    auto it = topics_.find(tp.topic);
    if (it == topics_.end()) return;
    it->second.partitions.erase(tp.partition);
    it->second.generations.erase(tp.partition);
    if (it->second.partitions.empty()) topics_.erase(it);  // releases the topic handle
  }

  const config::ClusterSettings settings_;
  const std::shared_ptr<BrokerHealth> health_;
  const int index_;
  const std::function<void()> wake_;
  // rk_ and queue_ change only under an exclusive lock; librdkafka calls take a shared one.
  std::shared_mutex handle_mutex_;
  rd_kafka_t* rk_ = nullptr;
  rd_kafka_queue_t* queue_ = nullptr;
  std::mutex topics_mutex_;
  std::map<std::string, Topic, std::less<>> topics_;
};

class RdKafkaCluster final : public KafkaCluster {
 public:
  RdKafkaCluster(config::ClusterSettings settings, std::chrono::milliseconds timeout,
                 std::shared_ptr<BrokerHealth> health, rd_kafka_t* rk)
      : settings_(std::move(settings)), timeout_(timeout), health_(std::move(health)), rk_(rk) {}

  ~RdKafkaCluster() override { rd_kafka_destroy(rk_); }

  Expected<TopicMap> topics() override {
    const rd_kafka_metadata_t* md = nullptr;
    // All topics in one request: existence checks for any number of names (including a flood of
    // names that do not exist) cost one request, and no handle is made for a missing topic.
    const auto err = rd_kafka_metadata(rk_, 1, nullptr, &md, timeout_ms());
    if (err) return {health_->explain(err), {}};
    succeeded();
    Expected<TopicMap> result;
    for (int i = 0; i < md->topic_cnt; ++i) {
      const auto& t = md->topics[i];
      if (t.err == RD_KAFKA_RESP_ERR_NO_ERROR && t.partition_cnt > 0) {
        result.value.emplace(t.topic, t.partition_cnt);
      }
    }
    rd_kafka_metadata_destroy(md);
    return result;
  }

  Expected<Watermarks> watermarks(const TopicPartition& tp) override {
    // Two ListOffsets (earliest, latest) through rd_kafka_offsets_for_times, which gives up at its
    // timeout. rd_kafka_query_watermark_offsets does not (librdkafka 2.0.2): once the partition's
    // leader is known, it retries for as long as that broker is down, and held the cluster's
    // blocking threads for minutes after a broker was killed.
    const auto deadline = Clock::now() + timeout_;
    Watermarks w;
    for (auto [at, out] : {std::pair{std::int64_t{RD_KAFKA_OFFSET_BEGINNING}, &w.low},
                           std::pair{std::int64_t{RD_KAFKA_OFFSET_END}, &w.high}}) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      auto r = list_offset(tp, at, std::max(left, std::chrono::milliseconds(1)));
      if (r.error) return {std::move(r.error), {}};
      *out = r.value;
    }
    return {std::nullopt, w};
  }

  Expected<std::int64_t> offset_for_time(const TopicPartition& tp,
                                         std::int64_t timestamp) override {
    return list_offset(tp, timestamp, timeout_);
  }

  std::unique_ptr<ConsumerLane> new_lane(int index, std::function<void()> wake) override {
    return std::make_unique<RdKafkaLane>(settings_, health_, index, std::move(wake));
  }

  bool brokers_in_doubt() const override { return health_->in_doubt; }

 private:
  int timeout_ms() const { return static_cast<int>(timeout_.count()); }

  // ListOffsets for one partition: a timestamp, or -2 / -1 for the earliest / latest offset.
  Expected<std::int64_t> list_offset(const TopicPartition& tp, std::int64_t timestamp,
                                     std::chrono::milliseconds timeout) {
    rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(list, tp.topic.c_str(), tp.partition)->offset = timestamp;
    const auto err = rd_kafka_offsets_for_times(rk_, list, static_cast<int>(timeout.count()));
    Expected<std::int64_t> result{std::nullopt, -1};
    if (err) {
      result.error = health_->explain(err);
    } else if (list->elems[0].err) {
      result.error = to_error(list->elems[0].err);
    } else {
      succeeded();
      result.value = list->elems[0].offset;  // -1 when no record has timestamp >= it
    }
    rd_kafka_topic_partition_list_destroy(list);
    return result;
  }
  void succeeded() { health_->in_doubt = false; }

  const config::ClusterSettings settings_;
  const std::chrono::milliseconds timeout_;
  const std::shared_ptr<BrokerHealth> health_;
  rd_kafka_t* const rk_;
};

}  // namespace

std::unique_ptr<KafkaCluster> make_rdkafka_cluster(const config::ClusterSettings& settings,
                                                   std::chrono::milliseconds request_timeout,
                                                   std::string* error) {
  // Files named by the route must be readable: say which one and why, in the route's terms,
  // instead of librdkafka's "ssl.ca.location failed: ... system lib".
  if (settings.tls) {
    const std::pair<const char*, const std::string*> files[] = {
        {"upstream.tls.ca_file", &settings.tls->ca_file},
        {"upstream.tls.client_cert_file", &settings.tls->cert_file},
        {"upstream.tls.client_key_file", &settings.tls->key_file}};
    for (const auto& [field, path] : files) {
      if (path->empty()) continue;
      if (::access(path->c_str(), R_OK) != 0) {
        if (error) {
          *error = "invalid configuration: property \"" + std::string(field) +
                   "\" validation failed: cannot read '" + *path + "': " + std::strerror(errno);
        }
        return nullptr;
      }
    }
  }
  auto health = std::make_shared<BrokerHealth>();
  rd_kafka_t* rk = new_handle(settings, "", health.get(), error);
  if (!rk) return nullptr;
  return std::make_unique<RdKafkaCluster>(settings, request_timeout, std::move(health), rk);
}

}  // namespace kpg::kafka
