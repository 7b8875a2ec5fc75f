#include "server/admission.h"

#include "server/http_session.h"

#include <spdlog/spdlog.h>
#include <boost/asio/write.hpp>
#include <boost/beast/core/tcp_stream.hpp>

#include <array>
#include <chrono>
#include <memory>
#include <string>

namespace kpg::server {

namespace asio = boost::asio;
namespace beast = boost::beast;

namespace {

// Answers one refused connection with a 503, then reads (and discards) what the client sent
// until it closes, so that closing does not reset the connection before the client has read the
// reply. Bounded in time and bytes.
class Refusal : public std::enable_shared_from_this<Refusal> {
 public:
  Refusal(asio::ip::tcp::socket socket, ConnectionCounter& counter, std::string_view why)
      : stream_(std::move(socket)), counter_(counter) {
    const std::string body = std::string(why) + "\n";
    response_ =
        "HTTP/1.1 503 Service Unavailable\r\nServer: kpg-gateway\r\nConnection: close\r\n"
        "Retry-After: 1\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: " +
        std::to_string(body.size()) + "\r\n\r\n" + body;
  }
  ~Refusal() { counter_.end_refusal(); }

  void start() {
    stream_.expires_after(std::chrono::seconds(2));
    asio::async_write(stream_, asio::buffer(response_),
                      [self = shared_from_this()](beast::error_code ec, std::size_t) {
                        if (ec) return;
                        beast::error_code ignored;
                        self->stream_.socket().shutdown(asio::ip::tcp::socket::shutdown_send,
                                                        ignored);
                        self->drain();
                      });
  }

 private:
  static constexpr std::size_t kMaxDrainBytes = 64 * 1024;

  void drain() {
    stream_.async_read_some(asio::buffer(scratch_),
                            [self = shared_from_this()](beast::error_code ec, std::size_t n) {
                              self->drained_ += n;
                              if (!ec && self->drained_ < kMaxDrainBytes) self->drain();
                            });
  }

  beast::tcp_stream stream_;
  ConnectionCounter& counter_;
  std::string response_;
  std::array<char, 2048> scratch_{};
  std::size_t drained_ = 0;
};

}  // namespace

void admit_connection(asio::ip::tcp::socket socket, ServerContext& context) {
  beast::error_code ec;
  const auto remote = socket.remote_endpoint(ec);
  if (ec) return;  // the client is already gone
  const std::string address = remote.address().to_string();
  auto slot = context.connections.try_acquire(address);
  if (auto* held = std::get_if<ConnectionSlot>(&slot)) {
    run_http_session(std::move(socket), context, std::move(*held));
    return;
  }
  const char* why = std::get<const char*>(slot);
  if (context.metrics) context.metrics->handshake_refused("connection_limit");
  if (const auto refused = context.connections.refusal_log.admit(address)) {
    spdlog::warn("event=connection_refused client={} reason=\"{}\" refused={} open={}", address,
                 why, *refused, context.connections.open());
  }
  // A 503 in clear text means nothing to a TLS client, and a TLS handshake is the expensive
  // part a limit is there to avoid: those are closed at once.
  if (context.tls || !context.connections.begin_refusal()) return;  // socket closes here
  std::make_shared<Refusal>(std::move(socket), context.connections, why)->start();
}

}  // namespace kpg::server
