// RecordSink over one idempotent librdkafka producer (acks=all): the gateway's produce path for
// one Kafka cluster.
#pragma once

#include "config/route.h"
#include "kafka/record_sink.h"

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

namespace kpg::kafka {

struct SinkOptions {
  /// How long a record may wait for its acknowledgement, retries included
  /// (librdkafka message.timeout.ms); then it fails as `unreachable`.
  std::chrono::milliseconds delivery_timeout{10'000};
  /// Record bytes queued in the producer for the whole cluster (all connections); beyond it a
  /// produce fails at once as `overloaded`.
  std::size_t max_queued_bytes = 64 * 1024 * 1024;
  /// How long the producer waits to gather records into one request (librdkafka linger.ms).
  std::chrono::milliseconds linger{2};
};

/// Returns nullptr with `error` set when librdkafka rejects the settings. The producer connects
/// on the first record. Destruction blocks (it flushes for up to delivery_timeout, bounded to
/// 5 s, then fails what is left): destroy it off the I/O threads.
std::unique_ptr<RecordSink> make_rdkafka_sink(const config::ClusterSettings& settings,
                                              const SinkOptions& options, std::string* error);

}  // namespace kpg::kafka
