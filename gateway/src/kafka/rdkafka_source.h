// RecordSource over librdkafka: one Kafka client handle per route, shared by every session on it.
#pragma once

#include "config/route.h"
#include "kafka/record_source.h"

#include <boost/asio/thread_pool.hpp>

#include <memory>
#include <string>

namespace kpg::kafka {

struct SourceOptions {
  int request_timeout_ms = 2500;  ///< metadata and offset look-ups
};

/// Creates the route's Kafka client. Blocking librdkafka calls run on `workers`, never on the
/// caller's thread. Returns nullptr with `error` set when librdkafka rejects the configuration.
/// `workers` must outlive the source.
std::shared_ptr<RecordSource> make_rdkafka_source(const config::Route& route,
                                                  boost::asio::thread_pool& workers,
                                                  const SourceOptions& options, std::string* error);

/// The librdkafka properties a route translates to (passwords included). Exposed for tests of
/// the TLS / SASL mapping, which the mock broker cannot exercise.
std::vector<std::pair<std::string, std::string>> kafka_properties(const config::Route& route);

}  // namespace kpg::kafka
