#include "kafka/producer.h"

#include <librdkafka/rdkafka.h>

#include <chrono>
#include <stdexcept>

namespace kpg::kafka {

namespace {
struct BatchOutcome {
  std::size_t acknowledged = 0;
  std::string first_error;
};
// The per-message opaque of produce_many's messages; produce() passes its Delivered instead.
constexpr int kBatchMessage = 1;
}  // namespace

struct Producer::Impl {
  rd_kafka_t* rk = nullptr;
  BatchOutcome* batch = nullptr;  // set during produce_many
};

namespace {
// Runs inside rd_kafka_poll / rd_kafka_flush, on the producing thread.
void delivery_cb(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
  if (m->_private == &kBatchMessage) {
    auto* impl = static_cast<Producer::Impl*>(opaque);
    if (!impl->batch) return;
    ++impl->batch->acknowledged;
    if (m->err && impl->batch->first_error.empty()) {
      impl->batch->first_error = rd_kafka_err2str(m->err);
    }
    return;
  }
  auto* out = static_cast<Producer::Delivered*>(m->_private);
  if (!out) return;
  out->partition = m->partition;
  out->offset = m->offset;
  out->error = m->err ? rd_kafka_err2str(m->err) : "";
}
}  // namespace

Producer::Producer(const std::string& bootstrap, const std::string& compression,
                   const std::vector<std::pair<std::string, std::string>>& extra)
    : impl_(std::make_unique<Impl>()) {
  char errstr[256];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  const std::pair<const char*, std::string> props[] = {
      {"bootstrap.servers", bootstrap}, {"linger.ms", "0"}, {"acks", "all"},
      {"message.timeout.ms", "15000"},  {"log_level", "3"}, {"compression.codec", compression}};
  for (const auto& [key, value] : props) {
    if (rd_kafka_conf_set(conf, key, value.c_str(), errstr, sizeof errstr) != RD_KAFKA_CONF_OK) {
      rd_kafka_conf_destroy(conf);
      throw std::runtime_error(std::string("producer setting ") + key + ": " + errstr);
    }
  }
  for (const auto& [key, value] : extra) {
    if (rd_kafka_conf_set(conf, key.c_str(), value.c_str(), errstr, sizeof errstr) !=
        RD_KAFKA_CONF_OK) {
      rd_kafka_conf_destroy(conf);
      throw std::runtime_error("producer setting " + key + ": " + errstr);
    }
  }
  rd_kafka_conf_set_dr_msg_cb(conf, delivery_cb);
  rd_kafka_conf_set_opaque(conf, impl_.get());
  impl_->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
  if (!impl_->rk) {
    rd_kafka_conf_destroy(conf);
    throw std::runtime_error(std::string("cannot create producer: ") + errstr);
  }
}

Producer::~Producer() {
  rd_kafka_flush(impl_->rk, 5000);
  rd_kafka_destroy(impl_->rk);
}

Producer::Delivered Producer::produce(
    const std::string& topic, std::int32_t partition, const std::optional<std::string>& key,
    const std::string& value, int timeout_ms,
    const std::vector<std::pair<std::string, std::string>>& headers) {
  Delivered delivered;
  delivered.error = "not delivered within the timeout";
  // rd_kafka_produceva instead of the producev macros, which expand to C casts.
  rd_kafka_vu_t vus[7];
  int n = 0;
  vus[n].vtype = RD_KAFKA_VTYPE_TOPIC;
  vus[n++].u.cstr = topic.c_str();
  vus[n].vtype = RD_KAFKA_VTYPE_PARTITION;
  vus[n++].u.i32 = partition < 0 ? RD_KAFKA_PARTITION_UA : partition;
  vus[n].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
  vus[n++].u.i = RD_KAFKA_MSG_F_COPY;
  if (key) {
    vus[n].vtype = RD_KAFKA_VTYPE_KEY;
    vus[n].u.mem.ptr = const_cast<char*>(key->data());
    vus[n++].u.mem.size = key->size();
  }
  vus[n].vtype = RD_KAFKA_VTYPE_VALUE;
  vus[n].u.mem.ptr = const_cast<char*>(value.data());
  vus[n++].u.mem.size = value.size();
  vus[n].vtype = RD_KAFKA_VTYPE_OPAQUE;
  vus[n++].u.ptr = &delivered;
  rd_kafka_headers_t* record_headers = nullptr;
  if (!headers.empty()) {
    record_headers = rd_kafka_headers_new(headers.size());
    for (const auto& [name, bytes] : headers) {
      rd_kafka_header_add(record_headers, name.data(), static_cast<ssize_t>(name.size()),
                          bytes.data(), static_cast<ssize_t>(bytes.size()));
    }
    vus[n].vtype = RD_KAFKA_VTYPE_HEADERS;
    vus[n++].u.headers = record_headers;  // owned by the message once produced
  }
  if (rd_kafka_error_t* error = rd_kafka_produceva(impl_->rk, vus, static_cast<std::size_t>(n))) {
    delivered.error = rd_kafka_error_string(error);
    rd_kafka_error_destroy(error);
    if (record_headers) rd_kafka_headers_destroy(record_headers);
    return delivered;
  }
  // The delivery callback writes `delivered`; flush serves it on this thread.
  if (rd_kafka_flush(impl_->rk, timeout_ms) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    // The message is still queued and may be delivered later; detach our stack object first.
    rd_kafka_purge(impl_->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_flush(impl_->rk, 1000);
    delivered.error = "not delivered within " + std::to_string(timeout_ms) + " ms";
  }
  return delivered;
}

std::string Producer::produce_many(const std::string& topic, std::int32_t partition,
                                   const std::vector<std::string>& values, int timeout_ms) {
  BatchOutcome outcome;
  impl_->batch = &outcome;
  std::string error;
  rd_kafka_topic_t* rkt = rd_kafka_topic_new(impl_->rk, topic.c_str(), nullptr);
  for (std::size_t i = 0; i < values.size() && error.empty(); ++i) {
    auto* payload = const_cast<char*>(values[i].data());
    auto* tag = const_cast<int*>(&kBatchMessage);
    while (rd_kafka_produce(rkt, partition < 0 ? RD_KAFKA_PARTITION_UA : partition,
                            RD_KAFKA_MSG_F_COPY, payload, values[i].size(), nullptr, 0, tag) != 0) {
      if (rd_kafka_last_error() != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        error = rd_kafka_err2str(rd_kafka_last_error());
        break;
      }
      rd_kafka_poll(impl_->rk, 10);  // the local queue is full: let deliveries drain
    }
  }
  rd_kafka_topic_destroy(rkt);
  if (rd_kafka_flush(impl_->rk, timeout_ms) != RD_KAFKA_RESP_ERR_NO_ERROR && error.empty()) {
    rd_kafka_purge(impl_->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_flush(impl_->rk, 1000);
    error = "not delivered within " + std::to_string(timeout_ms) + " ms";
  }
  impl_->batch = nullptr;
  if (error.empty()) error = outcome.first_error;
  return error;
}

}  // namespace kpg::kafka
