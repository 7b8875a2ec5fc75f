#include "kafka/rdkafka_sink.h"

#include "kafka/rdkafka_client.h"

#include <librdkafka/rdkafka.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <string_view>
#include <thread>

namespace kpg::kafka {

namespace {

// Consumer-only properties of kafka_properties() that a producer would warn about.
bool producer_property(std::string_view key) {
  return key == "bootstrap.servers" || key == "client.id" || key == "reconnect.backoff.max.ms" ||
         key == "log.connection.close" || key.rfind("security.", 0) == 0 ||
         key.rfind("ssl.", 0) == 0 || key.rfind("enable.ssl.", 0) == 0 ||
         key.rfind("sasl.", 0) == 0;
}

// Client-visible words are fixed; librdkafka's text goes to the log only.
KafkaError produce_error(rd_kafka_resp_err_t err) {
  std::string detail = std::string(rd_kafka_err2name(err)) + ": " + rd_kafka_err2str(err);
  switch (err) {
    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
    case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
      return {ErrorKind::unknown_topic, "not found topic", std::move(detail)};
    case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
      return {ErrorKind::unknown_partition, "not found partition", std::move(detail)};
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
      return {ErrorKind::record_too_large, "record too large for the broker", std::move(detail)};
    case RD_KAFKA_RESP_ERR__QUEUE_FULL:
      return {ErrorKind::overloaded, "too many records waiting for this Kafka cluster",
              std::move(detail)};
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED:
      return {ErrorKind::rejected, "not authorized by the broker", std::move(detail)};
    case RD_KAFKA_RESP_ERR__AUTHENTICATION:
    case RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED:
      return {ErrorKind::rejected, "SASL authentication failed", std::move(detail)};
    case RD_KAFKA_RESP_ERR__SSL:
      return {ErrorKind::rejected, "TLS handshake with the broker failed (see the gateway log)",
              std::move(detail)};
    case RD_KAFKA_RESP_ERR__MSG_TIMED_OUT:
    case RD_KAFKA_RESP_ERR__TIMED_OUT:
    case RD_KAFKA_RESP_ERR__TRANSPORT:
    case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
    case RD_KAFKA_RESP_ERR__RESOLVE:
    case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
    case RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS:
    case RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND:
    case RD_KAFKA_RESP_ERR__PURGE_QUEUE:
    case RD_KAFKA_RESP_ERR__PURGE_INFLIGHT:
      return {ErrorKind::unreachable, "broker unavailable", std::move(detail)};
    case RD_KAFKA_RESP_ERR_INVALID_TIMESTAMP:
    case RD_KAFKA_RESP_ERR_INVALID_RECORD:
      return {ErrorKind::invalid_request, "record refused by the broker", std::move(detail)};
    default: return {ErrorKind::other, rd_kafka_err2name(err), std::move(detail)};
  }
}

using Done = std::function<void(ProduceResult)>;

class RdKafkaSink final : public RecordSink {
 public:
  RdKafkaSink(rd_kafka_t* rk, std::chrono::milliseconds delivery_timeout)
      : rk_(rk), delivery_timeout_(delivery_timeout), poller_([this] { poll_loop(); }) {}

  ~RdKafkaSink() override {
    // Records already accepted get a last chance; what cannot be delivered in time fails with a
    // purge error (reported to its requester as "broker unavailable", possibly written when it
    // was in flight).
    const auto flush_for =
        std::min<std::chrono::milliseconds>(delivery_timeout_, std::chrono::seconds(5));
    rd_kafka_flush(rk_, static_cast<int>(flush_for.count()));
    rd_kafka_purge(rk_, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    stop_ = true;
    poller_.join();
    rd_kafka_poll(rk_, 0);  // the purged records' reports
    rd_kafka_destroy(rk_);
  }

  void produce(ProduceRecord record, Done done) override {
    auto* owned = new Done(std::move(done));
    rd_kafka_headers_t* headers = nullptr;
    if (!record.headers.empty()) {
      headers = rd_kafka_headers_new(record.headers.size());
      for (const auto& h : record.headers) {
        rd_kafka_header_add(headers, h.key.data(), static_cast<ssize_t>(h.key.size()),
                            h.value.data(), h.value.size());
      }
    }
    // rd_kafka_produceva, not the RD_KAFKA_V_* macros (C casts): one field per entry.
    rd_kafka_vu_t fields[8];
    std::size_t n = 0;
    fields[n].vtype = RD_KAFKA_VTYPE_TOPIC;
    fields[n++].u.cstr = record.topic.c_str();
    fields[n].vtype = RD_KAFKA_VTYPE_PARTITION;
    fields[n++].u.i32 = record.partition.value_or(RD_KAFKA_PARTITION_UA);
    fields[n].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
    fields[n++].u.i = RD_KAFKA_MSG_F_COPY;
    if (record.key) {
      fields[n].vtype = RD_KAFKA_VTYPE_KEY;
      fields[n].u.mem.ptr = record.key->data();
      fields[n++].u.mem.size = record.key->size();
    }
    if (record.value) {
      fields[n].vtype = RD_KAFKA_VTYPE_VALUE;
      fields[n].u.mem.ptr = record.value->data();
      fields[n++].u.mem.size = record.value->size();
    }
    if (record.timestamp) {
      fields[n].vtype = RD_KAFKA_VTYPE_TIMESTAMP;
      fields[n++].u.i64 = *record.timestamp;
    }
    if (headers) {
      fields[n].vtype = RD_KAFKA_VTYPE_HEADERS;
      fields[n++].u.headers = headers;
    }
    fields[n].vtype = RD_KAFKA_VTYPE_OPAQUE;
    fields[n++].u.ptr = owned;
    rd_kafka_error_t* failure = rd_kafka_produceva(rk_, fields, n);
    const rd_kafka_resp_err_t err =
        failure ? rd_kafka_error_code(failure) : RD_KAFKA_RESP_ERR_NO_ERROR;
    if (failure) rd_kafka_error_destroy(failure);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return;  // the headers now belong to the message
    if (headers) rd_kafka_headers_destroy(headers);
    std::unique_ptr<Done> callback(owned);
    ProduceResult result;
    result.error = produce_error(err);
    // Answered from a Kafka thread, as promised, never inline.
    std::lock_guard lock(refused_mutex_);
    refused_.emplace_back(std::move(*callback), std::move(result));
  }

  // Runs on the poll thread (inside rd_kafka_poll).
  static void on_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void*) {
    std::unique_ptr<Done> done(static_cast<Done*>(m->_private));
    if (!done) return;
    ProduceResult result;
    if (m->err) {
      result.error = produce_error(m->err);
      result.possibly_written = rd_kafka_message_status(m) != RD_KAFKA_MSG_STATUS_NOT_PERSISTED;
      spdlog::debug("event=produce_failed topic={} err=\"{}\" possibly_written={}",
                    rd_kafka_topic_name(m->rkt), result.error->detail, result.possibly_written);
    } else {
      result.partition = m->partition;
      result.offset = m->offset;
      rd_kafka_timestamp_type_t type;
      result.timestamp = rd_kafka_message_timestamp(m, &type);
    }
    (*done)(std::move(result));
  }

 private:
  void poll_loop() {
    while (!stop_) {
      rd_kafka_poll(rk_, 20);
      std::vector<std::pair<Done, ProduceResult>> refused;
      {
        std::lock_guard lock(refused_mutex_);
        refused.swap(refused_);
      }
      for (auto& [done, result] : refused) done(std::move(result));
    }
    std::lock_guard lock(refused_mutex_);
    for (auto& [done, result] : refused_) done(std::move(result));
    refused_.clear();
  }

  rd_kafka_t* const rk_;
  const std::chrono::milliseconds delivery_timeout_;
  std::atomic<bool> stop_{false};
  std::mutex refused_mutex_;
  std::vector<std::pair<Done, ProduceResult>> refused_;  // refused by produce(), not yet answered
  std::thread poller_;                                   // last: it uses the members above
};

}  // namespace

std::unique_ptr<RecordSink> make_rdkafka_sink(const config::ClusterSettings& settings,
                                              const SinkOptions& options, std::string* error) {
  char errstr[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  auto props = kafka_properties(settings);
  props.erase(std::remove_if(props.begin(), props.end(),
                             [](const auto& p) { return !producer_property(p.first); }),
              props.end());
  for (auto& [key, value] : props) {
    if (key == "client.id") value += "-producer";
  }
  const std::pair<std::string, std::string> producer_props[] = {
      // Exactly once per partition and in order, whatever the retries: acks=all with the
      // producer id and sequence numbers the broker checks.
      {"enable.idempotence", "true"},
      {"acks", "all"},
      {"message.timeout.ms", std::to_string(options.delivery_timeout.count())},
      {"linger.ms", std::to_string(options.linger.count())},
      {"queue.buffering.max.kbytes",
       std::to_string(std::max<std::size_t>(1, options.max_queued_bytes / 1024))},
      {"queue.buffering.max.messages", "1000000"},
      // A client must never create topics by naming them.
      {"allow.auto.create.topics", "false"},
  };
  props.insert(props.end(), std::begin(producer_props), std::end(producer_props));
  for (const auto& [key, value] : props) {
    if (rd_kafka_conf_set(conf, key.c_str(), value.c_str(), errstr, sizeof errstr) !=
        RD_KAFKA_CONF_OK) {
      if (error) *error = "kafka setting " + key + ": " + errstr;
      rd_kafka_conf_destroy(conf);
      return nullptr;
    }
  }
  rd_kafka_conf_set_dr_msg_cb(conf, &RdKafkaSink::on_delivery);
  set_log_callbacks(conf);
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
  if (!rk) {
    if (error) *error = std::string("cannot create Kafka producer: ") + errstr;
    rd_kafka_conf_destroy(conf);
    return nullptr;
  }
  return std::make_unique<RdKafkaSink>(rk, options.delivery_timeout);
}

}  // namespace kpg::kafka
