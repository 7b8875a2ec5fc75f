// A small synchronous Kafka producer for the demo feed and the developer tool (not on the
// gateway's data plane).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace kpg::kafka {

class Producer {
 public:
  /// compression: none, gzip, snappy, lz4 or zstd. Throws std::runtime_error when the client
  /// cannot be created.
  /// `extra`: more librdkafka properties (e.g. security.protocol for a TLS test).
  explicit Producer(const std::string& bootstrap, const std::string& compression = "none",
                    const std::vector<std::pair<std::string, std::string>>& extra = {});
  ~Producer();
  Producer(const Producer&) = delete;
  Producer& operator=(const Producer&) = delete;

  struct Delivered {
    std::int32_t partition = -1;
    std::int64_t offset = -1;
    std::string error;  ///< empty on success
  };

  /// Produces one record and waits (up to timeout_ms) for the broker's acknowledgement.
  /// partition -1 lets the partitioner choose (by key). A missing key is sent as null.
  Delivered produce(const std::string& topic, std::int32_t partition,
                    const std::optional<std::string>& key, const std::string& value,
                    int timeout_ms = 10'000,
                    const std::vector<std::pair<std::string, std::string>>& headers = {});

  /// Produces many values (no key) to one partition as fast as the client batches them and waits
  /// (up to timeout_ms) for every acknowledgement. Returns "" or the first delivery error.
  std::string produce_many(const std::string& topic, std::int32_t partition,
                           const std::vector<std::string>& values, int timeout_ms = 60'000);

  struct Impl;  // librdkafka state, defined in producer.cpp (public for its callbacks)

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace kpg::kafka
