// The gateway's RecordSource for one Kafka cluster: ReadEngine over librdkafka.
#pragma once

#include "config/route.h"
#include "kafka/read_engine.h"
#include "kafka/record_source.h"

#include <boost/asio/thread_pool.hpp>

#include <memory>
#include <string>

namespace kpg::kafka {

struct SourceOptions {
  std::chrono::milliseconds request_timeout{2500};  ///< metadata, offset look-ups, reads
  int blocking_threads = 2;  ///< threads for this cluster's blocking librdkafka calls
  ReadOptions read;          ///< the rest of the read path's bounds (request_timeout and
                             ///< blocking_threads above take precedence)
};

/// Creates the source for one cluster. Returns nullptr with `error` set when librdkafka rejects the
/// settings. The source is destroyed on `reaper` (destruction joins the source's threads and
/// closes its Kafka connections, which blocks): `reaper` must outlive every source.
std::shared_ptr<RecordSource> make_rdkafka_source(const config::ClusterSettings& settings,
                                                  boost::asio::thread_pool& reaper,
                                                  const SourceOptions& options, std::string* error);

}  // namespace kpg::kafka
