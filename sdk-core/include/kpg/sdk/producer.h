// kpg::sdk::Producer — produce at high rates without awaiting each record.
//
// send() never waits: it hands the record to the client, which keeps as many in flight as the
// gateway allows (max_inflight_requests, max_produce_inflight_bytes, records/s) and queues the
// rest, so the pipe stays full. Records handed over together leave together, as one
// cmd_kafka_produce_batch where the gateway offers batches (as many records as its limits allow);
// linger_ms lets more of them gather. Each record's handler runs once, with where it was written
// or an Error. flush() completes once every record sent before it has been answered.
//
// Ordering: records are sent in the order of send() calls, and the gateway's idempotent producer
// writes the records of one connection to a partition in the order it received them, so the
// records of one partition are written in send() order. Failures: a failed record (e.g.
// unavailable, possibly_written true) does not stop the ones after it; they may be written after
// it, so a retry of the failed one lands after them. An application that needs strict order
// across failures retries nothing itself but stops at the first error (the handler sees it) and
// resends from there.
//
// Threading: same as the Client it uses (NativeClient::producer makes one usable from any
// thread).
#pragma once

#include <kpg/sdk/client.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace kpg::sdk {

struct ProducerOptions {
  /// Records in flight (sent, not answered) at most; 0: as many as the gateway's limits allow.
  std::uint32_t max_in_flight = 0;
  /// How long a record may wait for others before records are handed to the client together
  /// (0: at once). Coalesces bursts into fewer, larger batches.
  std::int64_t linger_ms = 0;
};

class Producer {
 public:
  /// `client` must outlive the Producer.
  explicit Producer(Client& client, ProducerOptions options = {});
  ~Producer();
  Producer(const Producer&) = delete;
  Producer& operator=(const Producer&) = delete;

  void send(const std::string& topic, std::optional<std::string> value, ProduceOptions options,
            ProtocolSession::ProduceHandler handler);
  /// Completes once every record sent so far has been answered (at once when none is pending).
  void flush(std::function<void()> done);
  /// Records sent and not answered yet (lingering, queued or in flight).
  std::size_t pending() const noexcept { return lingering_.size() + handed_; }
  std::uint64_t succeeded() const noexcept { return succeeded_; }
  std::uint64_t failed() const noexcept { return failed_; }

 private:
  struct Item {
    std::string topic;
    std::optional<std::string> value;
    ProduceOptions options;
    ProtocolSession::ProduceHandler handler;
  };
  void hand_over();
  void answered();

  Client& client_;
  ProducerOptions options_;
  std::deque<Item> lingering_;
  bool linger_armed_ = false;
  std::size_t handed_ = 0;     // given to the client, not answered
  std::size_t in_flight_ = 0;  // of those, counted against max_in_flight
  std::uint64_t succeeded_ = 0;
  std::uint64_t failed_ = 0;
  std::vector<std::function<void()>> flushes_;
  std::shared_ptr<char> alive_ = std::make_shared<char>();
};

}  // namespace kpg::sdk
