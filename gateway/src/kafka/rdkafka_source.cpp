#include "kafka/rdkafka_source.h"

#include "kafka/rdkafka_client.h"

#include <boost/asio/post.hpp>

namespace kpg::kafka {

std::shared_ptr<RecordSource> make_rdkafka_source(const config::ClusterSettings& settings,
                                                  boost::asio::thread_pool& reaper,
                                                  const SourceOptions& options,
                                                  std::string* error) {
  auto cluster = make_rdkafka_cluster(settings, options.request_timeout, error);
  if (!cluster) return nullptr;
  ReadOptions read = options.read;
  read.request_timeout = options.request_timeout;
  read.blocking_threads = options.blocking_threads;
  // The last reference can be dropped on an I/O thread (the last session of a removed route):
  // destruction blocks, so it happens on the reaper.
  return std::shared_ptr<ReadEngine>(
      new ReadEngine(std::move(cluster), read, settings.name),
      [&reaper](ReadEngine* engine) { boost::asio::post(reaper, [engine] { delete engine; }); });
}

}  // namespace kpg::kafka
