// An in-process Kafka-protocol cluster (librdkafka's mock cluster) for development and tests.
// It speaks the real protocol on 127.0.0.1 random ports, so any Kafka client can use it.
// Gaps: no SASL, no TLS listener, no ListOffsets by timestamp (answers -1).
#pragma once

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>

namespace kpg::kafka {

class MockCluster {
 public:
  /// Starts `brokers` brokers. Unknown topics are not auto-created (Metadata is capped at v4 so
  /// clients see UNKNOWN_TOPIC_OR_PART, like a broker with auto-creation off).
  explicit MockCluster(int brokers = 1);
  ~MockCluster();
  MockCluster(const MockCluster&) = delete;
  MockCluster& operator=(const MockCluster&) = delete;

  /// "127.0.0.1:port[,...]"
  std::string bootstrap() const;
  /// Returns false with `error` set when the topic cannot be created.
  bool create_topic(const std::string& name, int partitions, std::string* error);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// Thrown by MockCluster's constructor.
struct MockClusterError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

}  // namespace kpg::kafka
