#include "kafka/rdkafka_source.h"

#include <librdkafka/rdkafka.h>
#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>

namespace kpg::kafka {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

std::vector<std::pair<std::string, std::string>> kafka_properties(const config::Route& route) {
  std::string bootstrap;
  for (const auto& node : route.nodes) {
    if (!bootstrap.empty()) bootstrap += ",";
    bootstrap += node.to_string();
  }
  std::vector<std::pair<std::string, std::string>> props = {
      {"bootstrap.servers", bootstrap},
      {"client.id", "kpg-gateway/" + route.id},
      // Fetch promptly; a PubSub fetch waits at most ~100 ms for new data anyway.
      {"fetch.wait.max.ms", "50"},
      {"fetch.error.backoff.ms", "50"},
      // Prefetch is per partition: the byte bound keeps memory from growing with partitions
      // touched. The message-count threshold stays high on purpose: librdkafka 2.0.2 backs a
      // partition off for a whole second whenever its queue crosses it, which capped a client
      // reading history at ~1,400 records/s with 1000 here (kpg-bench-subscribe: 275k/s now).
      {"queued.max.messages.kbytes", "4096"},
      {"queued.min.messages", "100000"},
      {"fetch.message.max.bytes", "1048576"},
      {"enable.partition.eof", "false"},
      {"allow.auto.create.topics", "false"},
      {"reconnect.backoff.max.ms", "2000"},
      {"log.connection.close", "false"},
  };
  const bool tls = route.tls.has_value();
  const bool sasl = route.sasl.has_value();
  props.emplace_back("security.protocol",
                     sasl ? (tls ? "sasl_ssl" : "sasl_plaintext") : (tls ? "ssl" : "plaintext"));
  if (tls) {
    props.emplace_back("enable.ssl.certificate.verification", route.tls->verify ? "true" : "false");
    props.emplace_back("ssl.endpoint.identification.algorithm",
                       route.tls->verify ? "https" : "none");
    if (!route.tls->ca_file.empty()) props.emplace_back("ssl.ca.location", route.tls->ca_file);
    if (!route.tls->cert_file.empty()) {
      props.emplace_back("ssl.certificate.location", route.tls->cert_file);
      props.emplace_back("ssl.key.location", route.tls->key_file);
    }
  }
  if (sasl) {
    props.emplace_back("sasl.mechanisms", route.sasl->mechanism);
    props.emplace_back("sasl.username", route.sasl->username);
    props.emplace_back("sasl.password", route.sasl->password);
  }
  return props;
}

namespace {

KafkaError to_error(rd_kafka_resp_err_t err, const std::string& detail = {}) {
  switch (err) {
    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
    case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC: return {ErrorKind::unknown_topic, "not found topic"};
    case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
      return {ErrorKind::unknown_partition, "not found partition"};
    case RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE:
    case RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET:
      return {ErrorKind::offset_out_of_range, "OFFSET_OUT_OF_RANGE"};
    case RD_KAFKA_RESP_ERR__TRANSPORT:
    case RD_KAFKA_RESP_ERR__TIMED_OUT:
    case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
    case RD_KAFKA_RESP_ERR__RESOLVE:
      // APISIX reports unreachable brokers as "not found topic"; keep that prefix, add the cause.
      return {ErrorKind::unreachable, std::string("not found topic (no broker reachable: ") +
                                          rd_kafka_err2str(err) +
                                          (detail.empty() ? "" : "; " + detail) + ")"};
    case RD_KAFKA_RESP_ERR__SSL:
      return {ErrorKind::rejected, (detail.find("certificate verify failed") != std::string::npos
                                        ? "TLS certificate rejected: "
                                        : "TLS handshake with the broker failed: ") +
                                       detail};
    case RD_KAFKA_RESP_ERR__AUTHENTICATION:
    case RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED:
      return {ErrorKind::rejected, "SASL authentication failed: " + detail};
    default:
      return {ErrorKind::other, std::string(rd_kafka_err2name(err)) + ": " + rd_kafka_err2str(err)};
  }
}

// One consumed-position cursor over a topic-partition, used by every session that fetches it.
// Records read from Kafka stay in a window of recent records, so sessions reading the same
// stretch of the partition (tabs tailing it, clients catching up side by side) are all served
// from one read instead of seeking the cursor back and forth: the first step towards reading a
// hot partition once for every client.
struct PartitionReader {
  explicit PartitionReader(asio::thread_pool& pool) : strand(asio::make_strand(pool)) {}
  asio::strand<asio::thread_pool::executor_type> strand;
  rd_kafka_topic_t* topic = nullptr;  // owned by the source's topic map
  std::int32_t partition = 0;
  bool started = false;
  std::int64_t cursor = -1;       // offset at which librdkafka's queue continues; -1 = must seek
  std::int64_t window_from = -1;  // the window holds every record in [window_from, cursor)
  std::deque<Record> window;      // in offset order
  std::size_t window_bytes = 0;
  std::int64_t known_high = -1;  // high watermark seen when last positioned
  // Fetches start one at a time per partition, in arrival order: interleaving them would make
  // the single cursor seek back and forth. One that has to wait for new records parks (it
  // re-polls on a timer) so that the next can be served meanwhile.
  std::deque<std::shared_ptr<struct FetchJob>> jobs;
  bool busy = false;
};

struct FetchJob {
  std::string topic;
  std::int32_t partition;
  std::int64_t offset;
  FetchLimits limits;
  Clock::time_point started;   // when the job reached the head of its partition's queue
  Clock::time_point deadline;  // end of the wait for new records
  std::function<void(FetchResult)> done;
  bool parked = false;  // waiting for new records, no longer holding the partition's queue
};

class RdKafkaSource final : public RecordSource,
                            public std::enable_shared_from_this<RdKafkaSource> {
 public:
  RdKafkaSource(std::string route_id, rd_kafka_t* rk, asio::thread_pool& workers,
                SourceOptions options)
      : route_id_(std::move(route_id)), rk_(rk), workers_(workers), options_(options) {}

  ~RdKafkaSource() override {
    for (auto& [key, reader] : readers_) {
      if (reader->started) rd_kafka_consume_stop(reader->topic, reader->partition);
    }
    for (auto& [name, topic] : topics_) rd_kafka_topic_destroy(topic);
    rd_kafka_destroy(rk_);
  }

  void list_offset(std::string topic, std::int32_t partition, std::int64_t timestamp,
                   std::function<void(OffsetResult)> done) override {
    asio::post(workers_, [self = shared_from_this(), topic = std::move(topic), partition, timestamp,
                          done = std::move(done)] {
      done(self->do_list_offset(topic, partition, timestamp));
    });
  }

  void fetch(std::string topic, std::int32_t partition, std::int64_t offset, FetchLimits limits,
             std::function<void(FetchResult)> done) override {
    auto job = std::make_shared<FetchJob>(
        FetchJob{std::move(topic), partition, offset, limits, {}, {}, std::move(done)});
    asio::post(workers_, [self = shared_from_this(), job] {
      rd_kafka_topic_t* rkt = nullptr;
      if (auto error = self->check_partition(job->topic, job->partition, &rkt)) {
        job->done(FetchResult{std::move(error), {}});
        return;
      }
      auto reader = self->reader_for(rkt, job->topic, job->partition);
      asio::post(reader->strand, [self, reader, job] {
        reader->jobs.push_back(job);
        self->start_next(reader);
      });
    });
  }

 private:
  // Resolves the topic handle and checks that the partition exists (cached metadata).
  std::optional<KafkaError> check_partition(const std::string& name, std::int32_t partition,
                                            rd_kafka_topic_t** out) {
    if (partition < 0) return KafkaError{ErrorKind::unknown_partition, "not found partition"};
    {
      std::lock_guard lock(mutex_);
      auto it = partition_counts_.find(name);
      if (it != partition_counts_.end() && Clock::now() - it->second.second < kMetadataTtl) {
        if (partition >= it->second.first) {
          return KafkaError{ErrorKind::unknown_partition, "not found partition"};
        }
        *out = topics_.at(name);
        return std::nullopt;
      }
    }
    rd_kafka_topic_t* rkt = topic_handle(name);
    const rd_kafka_metadata_t* md = nullptr;
    const auto err = rd_kafka_metadata(rk_, 0, rkt, &md, options_.request_timeout_ms);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) return broker_error(err);
    std::optional<KafkaError> result;
    int partitions = 0;
    if (md->topic_cnt < 1 || md->topics[0].err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      const auto topic_err =
          md->topic_cnt < 1 ? RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART : md->topics[0].err;
      result = to_error(topic_err == RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE
                            ? RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART
                            : topic_err);
    } else {
      partitions = md->topics[0].partition_cnt;
      if (partition >= partitions) {
        result = KafkaError{ErrorKind::unknown_partition, "not found partition"};
      }
    }
    rd_kafka_metadata_destroy(md);
    if (partitions > 0) {
      std::lock_guard lock(mutex_);
      partition_counts_[name] = {partitions, Clock::now()};
    }
    *out = rkt;
    return result;
  }

  // A request that timed out because no broker connection could be established is explained by
  // the last connection error librdkafka reported: a refused SASL login or a rejected TLS
  // certificate says much more than "timed out".
  KafkaError broker_error(rd_kafka_resp_err_t err) const {
    std::lock_guard lock(mutex_);
    const bool recent = Clock::now() - last_broker_error_at_ < std::chrono::seconds(60);
    const bool unreachable = err == RD_KAFKA_RESP_ERR__TRANSPORT ||
                             err == RD_KAFKA_RESP_ERR__TIMED_OUT ||
                             err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN;
    if (unreachable && recent &&
        (last_broker_code_ == RD_KAFKA_RESP_ERR__AUTHENTICATION ||
         last_broker_code_ == RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED ||
         last_broker_code_ == RD_KAFKA_RESP_ERR__SSL)) {
      return to_error(last_broker_code_, last_broker_error_);
    }
    return to_error(err, recent ? last_broker_error_ : std::string());
  }

  rd_kafka_topic_t* topic_handle(const std::string& name) {
    std::lock_guard lock(mutex_);
    auto it = topics_.find(name);
    if (it != topics_.end()) return it->second;
    rd_kafka_topic_conf_t* tconf = rd_kafka_topic_conf_new();
    char errstr[256];
    // Never jump silently to another offset: out-of-range surfaces as an error to the client.
    rd_kafka_topic_conf_set(tconf, "auto.offset.reset", "error", errstr, sizeof errstr);
    rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk_, name.c_str(), tconf);
    topics_.emplace(name, rkt);
    return rkt;
  }

  std::shared_ptr<PartitionReader> reader_for(rd_kafka_topic_t* rkt, const std::string& topic,
                                              std::int32_t partition) {
    std::lock_guard lock(mutex_);
    auto& slot = readers_[{topic, partition}];
    if (!slot) {
      slot = std::make_shared<PartitionReader>(workers_);
      slot->topic = rkt;
      slot->partition = partition;
    }
    return slot;
  }

  OffsetResult do_list_offset(const std::string& topic, std::int32_t partition,
                              std::int64_t timestamp) {
    rd_kafka_topic_t* rkt = nullptr;
    if (auto error = check_partition(topic, partition, &rkt)) return {std::move(error), -1};
    if (timestamp == -1 || timestamp == -2) {
      std::int64_t low = 0;
      std::int64_t high = 0;
      const auto err = rd_kafka_query_watermark_offsets(rk_, topic.c_str(), partition, &low, &high,
                                                        options_.request_timeout_ms);
      if (err) return {broker_error(err), -1};
      return {std::nullopt, timestamp == -2 ? low : high};
    }
    if (timestamp < 0) {
      return {KafkaError{ErrorKind::other, "timestamp must be -2, -1 or >= 0"}, -1};
    }
    rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(list, topic.c_str(), partition)->offset = timestamp;
    const auto err = rd_kafka_offsets_for_times(rk_, list, options_.request_timeout_ms);
    OffsetResult result{std::nullopt, -1};
    if (err) {
      result.error = broker_error(err);
    } else if (list->elems[0].err) {
      result.error = to_error(list->elems[0].err);
    } else {
      result.offset = list->elems[0].offset;  // -1 when no record has timestamp >= it
    }
    rd_kafka_topic_partition_list_destroy(list);
    return result;
  }

  // On the reader's strand: starts the oldest queued fetch unless one is running.
  void start_next(const std::shared_ptr<PartitionReader>& reader) {
    if (reader->busy || reader->jobs.empty()) return;
    reader->busy = true;
    auto job = std::move(reader->jobs.front());
    reader->jobs.pop_front();
    job->started = Clock::now();
    job->deadline = job->started + job->limits.max_wait;
    fetch_step(reader, job);
  }

  void finish(const std::shared_ptr<PartitionReader>& reader, const std::shared_ptr<FetchJob>& job,
              FetchResult result) {
    job->done(std::move(result));
    if (job->parked) return;  // the queue moved on when it parked
    reader->busy = false;
    start_next(reader);
  }

  // Runs on the reader's strand. Positions the reader unless the window covers the job's offset,
  // takes what librdkafka has queued, serves the job from the window and, when there is nothing
  // yet, re-polls briefly until the job's deadline (without holding a thread meanwhile).
  void fetch_step(const std::shared_ptr<PartitionReader>& reader,
                  const std::shared_ptr<FetchJob>& job) {
    if (!covers(*reader, job->offset)) {
      if (auto error = position(*reader, job->topic, job->offset)) {
        return finish(reader, job, FetchResult{std::move(error), {}});
      }
    }
    std::optional<KafkaError> error = drain(*reader, job->offset, job->limits.max_bytes);
    FetchResult result = serve(*reader, job->offset, job->limits);
    if (error) {
      reader->cursor = -1;  // force a fresh seek next time
      reader->window.clear();
      reader->window_bytes = 0;
      if (result.records.empty()) return finish(reader, job, FetchResult{std::move(error), {}});
    }
    evict(*reader);
    // Records known to exist below the high watermark are worth waiting for a little longer
    // (right after a seek the consumer needs a round trip); at the end of the log, max_wait.
    const auto now = Clock::now();
    const bool data_expected = job->offset < reader->known_high;
    if (result.records.empty() &&
        (now < job->deadline || (data_expected && now < job->started + kCatchUpWait))) {
      auto timer = std::make_shared<asio::steady_timer>(reader->strand);
      timer->expires_after(kPollInterval);
      timer->async_wait([self = shared_from_this(), reader, job, timer](boost::system::error_code) {
        self->fetch_step(reader, job);
      });
      if (!job->parked) {
        // A job waiting for new records must not hold up jobs the window can serve now: it
        // re-polls on its timer while the queue moves on.
        job->parked = true;
        reader->busy = false;
        start_next(reader);
      }
      return;
    }
    finish(reader, job, std::move(result));
  }

  // Whether a job at `offset` is served from the window and the cursor as they are: the offset is
  // in the window, or a little ahead of the cursor (reading on to it is cheaper than seeking, and
  // keeps the readers behind it in the window). Otherwise the cursor must seek.
  static bool covers(const PartitionReader& reader, std::int64_t offset) {
    if (!reader.started || reader.cursor < 0 || offset < reader.window_from) return false;
    if (offset <= reader.cursor) return true;
    // Ahead of the cursor only where records are known to exist: past the end of the log,
    // position() must check the bounds (and report OFFSET_OUT_OF_RANGE).
    if (reader.window.empty() || offset >= reader.known_high) return false;
    const auto records = static_cast<std::size_t>(reader.window.size());
    const std::size_t average = std::max<std::size_t>(1, reader.window_bytes / records);
    return static_cast<std::size_t>(offset - reader.cursor) * average <= kWindowBytes / 2;
  }

  // The window's first record at or after `offset` (the window is in offset order).
  static std::deque<Record>::const_iterator first_at(const PartitionReader& reader,
                                                     std::int64_t offset) {
    return std::lower_bound(
        reader.window.begin(), reader.window.end(), offset,
        [](const Record& record, std::int64_t wanted) { return record.offset < wanted; });
  }

  // Copies the window's records from `offset` on, up to limits.max_bytes (at least one).
  static FetchResult serve(const PartitionReader& reader, std::int64_t offset,
                           const FetchLimits& limits) {
    FetchResult result;
    auto it = first_at(reader, offset);
    std::size_t bytes = 0;
    for (; it != reader.window.end(); ++it) {
      const std::size_t size = it->key.size() + it->value.size();
      if (!result.records.empty() && bytes + size > limits.max_bytes) break;
      bytes += size;
      result.records.push_back(*it);
    }
    return result;
  }

  // Keeps the window within its budget; what falls out is read again (after a seek) if asked.
  static void evict(PartitionReader& reader) {
    while (reader.window_bytes > kWindowBytes && !reader.window.empty()) {
      const Record& oldest = reader.window.front();
      reader.window_bytes -= oldest.key.size() + oldest.value.size();
      reader.window_from = oldest.offset + 1;
      reader.window.pop_front();
    }
  }

  // Moves the reader to `offset`, checking bounds first so that out-of-range is reported
  // instead of being retried by the consumer.
  std::optional<KafkaError> position(PartitionReader& reader, const std::string& topic,
                                     std::int64_t offset) {
    std::int64_t low = 0;
    std::int64_t high = 0;
    const auto err = rd_kafka_query_watermark_offsets(rk_, topic.c_str(), reader.partition, &low,
                                                      &high, options_.request_timeout_ms);
    if (err) return broker_error(err);
    if (offset < low || offset > high) return to_error(RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE);
    reader.known_high = high;
    reader.window.clear();
    reader.window_bytes = 0;
    if (!reader.started) {
      if (rd_kafka_consume_start(reader.topic, reader.partition, offset) == -1) {
        return to_error(rd_kafka_last_error());
      }
      reader.started = true;
    } else {
      const auto seek_err =
          rd_kafka_seek(reader.topic, reader.partition, offset, options_.request_timeout_ms);
      if (seek_err) return to_error(seek_err);
    }
    reader.cursor = offset;
    reader.window_from = offset;
    return std::nullopt;
  }

  // Appends what librdkafka has queued (without waiting) to the window, until the window holds
  // `wanted` bytes from `offset` on: the cursor runs no further ahead than the fastest reader
  // needs, so readers a little behind it still find their records in the window.
  std::optional<KafkaError> drain(PartitionReader& reader, std::int64_t offset,
                                  std::size_t wanted) {
    std::size_t have = 0;
    for (auto it = first_at(reader, offset); it != reader.window.end() && have < wanted; ++it) {
      have += it->key.size() + it->value.size();
    }
    rd_kafka_message_t* batch[kBatch];
    std::optional<KafkaError> error;
    while (have < wanted) {
      const ssize_t n = rd_kafka_consume_batch(reader.topic, reader.partition, 0, batch, kBatch);
      if (n < 0) return to_error(rd_kafka_last_error());
      for (ssize_t i = 0; i < n; ++i) {
        rd_kafka_message_t* m = batch[i];
        if (m->err) {
          if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF && !error) {
            error = to_error(m->err, rd_kafka_message_errstr(m));
          }
        } else if (!error && m->offset >= reader.cursor) {
          // (A batch can start before the offset sought: those records are skipped.)
          // Null keys and values (tombstones) arrive as nullptr: empty bytes on the wire.
          const auto* key = static_cast<const char*>(m->key);
          const auto* value = static_cast<const char*>(m->payload);
          reader.window.push_back(Record{m->offset, rd_kafka_message_timestamp(m, nullptr),
                                         key ? std::string(key, m->key_len) : std::string(),
                                         value ? std::string(value, m->len) : std::string()});
          reader.window_bytes += m->key_len + m->len;
          if (m->offset >= offset) have += m->key_len + m->len;
          reader.cursor = m->offset + 1;
        }
        rd_kafka_message_destroy(m);
      }
      if (error || n < kBatch) return error;
    }
    return error;
  }

 public:
  void note_broker_error(rd_kafka_resp_err_t code, std::string text) {
    std::lock_guard lock(mutex_);
    last_broker_code_ = code;
    last_broker_error_ = std::move(text);
    last_broker_error_at_ = Clock::now();
  }

 private:
  static constexpr auto kMetadataTtl = std::chrono::seconds(30);
  static constexpr auto kPollInterval = std::chrono::milliseconds(10);
  static constexpr auto kCatchUpWait = std::chrono::milliseconds(2000);
  static constexpr int kBatch = 256;
  // Recent records kept per partition: several fetch replies' worth, so readers a few replies
  // apart are all served from it.
  static constexpr std::size_t kWindowBytes = 4 * 1024 * 1024;

  std::string route_id_;
  rd_kafka_t* rk_;
  asio::thread_pool& workers_;
  SourceOptions options_;
  mutable std::mutex mutex_;
  std::map<std::string, rd_kafka_topic_t*> topics_;
  std::map<std::string, std::pair<int, Clock::time_point>> partition_counts_;
  std::map<std::pair<std::string, std::int32_t>, std::shared_ptr<PartitionReader>> readers_;
  std::string last_broker_error_;
  rd_kafka_resp_err_t last_broker_code_ = RD_KAFKA_RESP_ERR_NO_ERROR;
  Clock::time_point last_broker_error_at_{};
};

// librdkafka callbacks: they run on librdkafka's threads; spdlog is thread-safe.
void log_cb(const rd_kafka_t* rk, int level, const char* fac, const char* buf) {
  const char* name = rd_kafka_name(rk);
  if (level <= 3)
    spdlog::error("event=kafka_log client={} facility={} msg=\"{}\"", name, fac, buf);
  else if (level <= 4)
    spdlog::warn("event=kafka_log client={} facility={} msg=\"{}\"", name, fac, buf);
  else
    spdlog::debug("event=kafka_log client={} facility={} msg=\"{}\"", name, fac, buf);

  // Broker connection failures (facility FAIL) carry the reason a request will later time out
  // for: keep the latest one so the client gets it instead of "timed out".
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
  auto* weak = static_cast<std::weak_ptr<RdKafkaSource>*>(rd_kafka_opaque(rk));
  if (!weak) return;
  if (auto source = weak->lock()) source->note_broker_error(code, std::string(text));
}

void error_cb(rd_kafka_t*, int err, const char* reason, void* opaque) {
  auto* weak = static_cast<std::weak_ptr<RdKafkaSource>*>(opaque);
  if (auto source = weak->lock())
    source->note_broker_error(static_cast<rd_kafka_resp_err_t>(err), reason);
  spdlog::warn("event=kafka_error err={} reason=\"{}\"",
               rd_kafka_err2name(static_cast<rd_kafka_resp_err_t>(err)), reason);
}

}  // namespace

std::shared_ptr<RecordSource> make_rdkafka_source(const config::Route& route,
                                                  boost::asio::thread_pool& workers,
                                                  const SourceOptions& options,
                                                  std::string* error) {
  // Files named by the route must be readable: say which one and why, in the route's terms,
  // instead of librdkafka's "ssl.ca.location failed: ... system lib".
  if (route.tls) {
    const std::pair<const char*, const std::string*> files[] = {
        {"upstream.tls.ca_file", &route.tls->ca_file},
        {"upstream.tls.client_cert_file", &route.tls->cert_file},
        {"upstream.tls.client_key_file", &route.tls->key_file}};
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
  char errstr[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  for (const auto& [key, value] : kafka_properties(route)) {
    if (rd_kafka_conf_set(conf, key.c_str(), value.c_str(), errstr, sizeof errstr) !=
        RD_KAFKA_CONF_OK) {
      if (error) *error = "kafka setting " + key + ": " + errstr;
      rd_kafka_conf_destroy(conf);
      return nullptr;
    }
  }
  rd_kafka_conf_set_log_cb(conf, log_cb);
  // The opaque outlives the handle: it is owned by the deleter of the returned shared_ptr chain.
  auto weak_holder = std::make_shared<std::weak_ptr<RdKafkaSource>>();
  rd_kafka_conf_set_opaque(conf, weak_holder.get());
  rd_kafka_conf_set_error_cb(conf, error_cb);
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
  if (!rk) {
    if (error) *error = std::string("cannot create Kafka client: ") + errstr;
    rd_kafka_conf_destroy(conf);  // rd_kafka_new frees conf only on success
    return nullptr;
  }
  // Destruction stops consumers and destroys the handle, which blocks: it must never run on an
  // I/O thread (where the last session of a removed route may drop its reference).
  auto source = std::shared_ptr<RdKafkaSource>(
      new RdKafkaSource(route.id, rk, workers, options), [weak_holder, &workers](RdKafkaSource* p) {
        asio::post(workers, [p, weak_holder] { delete p; });
      });
  *weak_holder = source;
  return source;
}

}  // namespace kpg::kafka
