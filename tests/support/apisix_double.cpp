// kpg-apisix-double: an independent PubSub server for SDK tests that speaks only what Apache
// APISIX's Kafka PubSub speaks (cmd_ping, cmd_kafka_list_offset, cmd_kafka_fetch, cmd_empty) and
// behaves as APISIX does where that is awkward for a client:
//  - a fetch replies with the whole record batch that contains the requested offset, so records
//    BEFORE the requested offset come back too (APISIX issue #9779);
//  - a fetch at the end of the log answers at once with no records (no long poll);
//  - timestamps are looked up for real (ListOffsets by time), which librdkafka's mock cannot do.
// One topic with one partition, held in memory; it grows by one record every --grow-every-ms
// until --max records. Record n has value "apisix-<n>", key "k<n>" and timestamp
// --base-timestamp + n * 1000. Sync Beast, one thread per connection: a test double, not a server.
#include <kpg/pubsub.pb.h>

#include <CLI/CLI.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <iostream>
#include <mutex>
#include <string>
#include <thread>

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using kpg::pubsub::PubSubReq;
using kpg::pubsub::PubSubResp;

constexpr std::int64_t kBatchRecords = 8;  // the "record batch" a fetch returns whole
constexpr std::int64_t kMaxRecordsPerReply = 20;

struct Log {
  std::string topic;
  std::int64_t base_timestamp = 0;
  std::mutex mutex;
  std::int64_t size = 0;

  std::int64_t end() {
    std::lock_guard lock(mutex);
    return size;
  }
};

void set_error(PubSubResp& resp, const std::string& message) {
  resp.mutable_error_resp()->set_code(0);
  resp.mutable_error_resp()->set_message(message);
}

PubSubResp handle(const PubSubReq& req, Log& log) {
  PubSubResp resp;
  resp.set_sequence(req.sequence());
  switch (req.req_case()) {
    case PubSubReq::kCmdPing: resp.mutable_pong_resp()->set_state(req.cmd_ping().state()); break;
    case PubSubReq::kCmdKafkaListOffset: {
      const auto& cmd = req.cmd_kafka_list_offset();
      if (cmd.topic() != log.topic || cmd.partition() != 0) {
        set_error(resp, "failed to list offset, topic: " + cmd.topic() + ", partition: " +
                            std::to_string(cmd.partition()) + ", err: not found topic");
        break;
      }
      const std::int64_t end = log.end();
      std::int64_t offset = -1;
      if (cmd.timestamp() == -2) {
        offset = 0;
      } else if (cmd.timestamp() == -1) {
        offset = end;
      } else {
        // Record n has timestamp base + n*1000: the first at or after the time, -1 when none.
        const std::int64_t since = cmd.timestamp() - log.base_timestamp;
        const std::int64_t n = since <= 0 ? 0 : (since + 999) / 1000;
        offset = n < end ? n : -1;
      }
      resp.mutable_kafka_list_offset_resp()->set_offset(offset);
      break;
    }
    case PubSubReq::kCmdKafkaFetch: {
      const auto& cmd = req.cmd_kafka_fetch();
      const std::int64_t end = log.end();
      if (cmd.topic() != log.topic || cmd.partition() != 0) {
        set_error(resp, "failed to fetch message, topic: " + cmd.topic() + ", partition: " +
                            std::to_string(cmd.partition()) + ", err: not found topic");
        break;
      }
      if (cmd.offset() < 0 || cmd.offset() > end) {
        set_error(resp, "failed to fetch message, topic: " + cmd.topic() + ", partition: " +
                            std::to_string(cmd.partition()) + ", err: OFFSET_OUT_OF_RANGE");
        break;
      }
      auto* fetched = resp.mutable_kafka_fetch_resp();
      const std::int64_t first = cmd.offset() - cmd.offset() % kBatchRecords;  // #9779
      const std::int64_t last = std::min(end, cmd.offset() + kMaxRecordsPerReply);
      for (std::int64_t n = cmd.offset() < end ? first : end; n < last; ++n) {
        auto* m = fetched->add_messages();
        m->set_offset(n);
        m->set_timestamp(log.base_timestamp + n * 1000);
        m->set_key("k" + std::to_string(n));
        m->set_value("apisix-" + std::to_string(n));
      }
      break;
    }
    case PubSubReq::kCmdEmpty:
    default: set_error(resp, "unknown command"); break;
  }
  return resp;
}

void serve(asio::ip::tcp::socket socket, Log& log) {
  beast::error_code ec;
  websocket::stream<asio::ip::tcp::socket> ws(std::move(socket));
  ws.accept(ec);
  if (ec) return;
  ws.binary(true);
  for (;;) {
    beast::flat_buffer buffer;
    ws.read(buffer, ec);
    if (ec) return;
    PubSubReq req;
    PubSubResp resp;
    if (!req.ParseFromString(beast::buffers_to_string(buffer.data()))) {
      set_error(resp, "wrong command");
    } else if (req.req_case() == PubSubReq::REQ_NOT_SET) {
      continue;
    } else {
      resp = handle(req, log);
    }
    ws.write(asio::buffer(resp.SerializeAsString()), ec);
    if (ec) return;
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"APISIX-behaviour PubSub server (test double): only ping, list_offset, fetch"};
  std::string listen_host = "127.0.0.1";
  int port = 0;
  Log log;
  log.topic = "apisix";
  std::int64_t initial = 100;
  std::int64_t max = 200;
  int grow_every_ms = 10;
  log.base_timestamp = 1'700'000'000'000;
  app.add_option("--host", listen_host, "address to listen on");
  app.add_option("--port", port, "port to listen on (0: any free port)")
      ->check(CLI::Range(0, 65535));
  app.add_option("--topic", log.topic, "the one topic served (partition 0)");
  app.add_option("--records", initial, "records present at start")->check(CLI::NonNegativeNumber);
  app.add_option("--max", max, "the log stops growing at this many records");
  app.add_option("--grow-every-ms", grow_every_ms, "append one record this often")
      ->check(CLI::PositiveNumber);
  app.add_option("--base-timestamp", log.base_timestamp, "timestamp (ms) of record 0");
  app.set_version_flag("--version", "kpg-apisix-double " KPG_VERSION);
  CLI11_PARSE(app, argc, argv);
  log.size = std::min(initial, max);

  try {
    asio::io_context io;
    asio::ip::tcp::acceptor acceptor(
        io, {asio::ip::make_address(listen_host), static_cast<unsigned short>(port)});
    std::cout << "listening port=" << acceptor.local_endpoint().port() << std::endl;
    std::thread grower([&log, max, grow_every_ms] {
      for (;;) {
        std::this_thread::sleep_for(std::chrono::milliseconds(grow_every_ms));
        std::lock_guard lock(log.mutex);
        if (log.size < max) ++log.size;
      }
    });
    grower.detach();
    for (;;) {
      asio::ip::tcp::socket socket(io);
      acceptor.accept(socket);
      std::thread(serve, std::move(socket), std::ref(log)).detach();
    }
  } catch (const std::exception& e) {
    std::cerr << "kpg-apisix-double: " << e.what() << "\n";
    return 1;
  }
}
