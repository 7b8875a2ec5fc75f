// KafkaCluster and ConsumerLane over librdkafka: the only place (with mock_cluster and producer)
// that includes librdkafka. Thin by design: it maps calls and errors, and decides nothing.
#pragma once

#include "config/route.h"
#include "kafka/kafka_client.h"

#include <chrono>
#include <memory>
#include <string>
#include <utility>
#include <vector>

struct rd_kafka_conf_s;

namespace kpg::kafka {

/// Sends librdkafka's log lines and error reports of a handle made with `conf` to the gateway's
/// log. (The handle's opaque, when set, must be the cluster's broker health record.)
void set_log_callbacks(rd_kafka_conf_s* conf);

/// Returns nullptr with `error` set (naming the route field where it can) when librdkafka rejects
/// the settings or a file they name is unreadable.
std::unique_ptr<KafkaCluster> make_rdkafka_cluster(const config::ClusterSettings& settings,
                                                   std::chrono::milliseconds request_timeout,
                                                   std::string* error);

/// The librdkafka properties a cluster's settings translate to (passwords included). Exposed for
/// tests of the TLS / SASL mapping, which the mock broker cannot exercise.
std::vector<std::pair<std::string, std::string>> kafka_properties(
    const config::ClusterSettings& settings);

}  // namespace kpg::kafka
