// Fakes of kafka::RecordSource for protocol-layer tests: derive from PullOnlySource to fake just
// the APISIX commands (list_offset, fetch); its push-side methods answer with an error at once.
#pragma once

#include "kafka/record_source.h"

#include <functional>
#include <string>
#include <vector>

namespace kpg::testing {

struct PullOnlySource : kafka::RecordSource {
  void fetch_batch(std::string, std::int32_t, std::int64_t, kafka::FetchLimits, kafka::CancelToken,
                   std::function<void(kafka::BatchResult)> done) override {
    done({kafka::KafkaError{kafka::ErrorKind::other, "no batches in this fake"}, nullptr});
  }
  void topics(std::vector<std::string>, kafka::CancelToken,
              std::function<void(kafka::TopicsResult)> done) override {
    done({kafka::KafkaError{kafka::ErrorKind::other, "no topics in this fake"}, {}});
  }
};

}  // namespace kpg::testing
