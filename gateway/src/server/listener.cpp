#include "server/listener.h"

#include <spdlog/spdlog.h>
#include <boost/asio/strand.hpp>

#include <algorithm>

namespace kpg::server {

namespace asio = boost::asio;

std::string peer_address(const asio::ip::tcp::socket& socket) {
  boost::system::error_code ec;
  const auto remote = socket.remote_endpoint(ec);
  if (ec) return "unknown";
  const auto address = remote.address().to_string();
  const auto port = std::to_string(remote.port());
  return remote.address().is_v6() ? "[" + address + "]:" + port : address + ":" + port;
}

Listener::Listener(asio::io_context& io, const asio::ip::tcp::endpoint& endpoint,
                   ConnectionHandler on_connection, std::vector<asio::io_context*> session_contexts)
    : io_(io),
      acceptor_(asio::make_strand(io)),
      retry_timer_(acceptor_.get_executor()),
      on_connection_(std::move(on_connection)),
      session_contexts_(std::move(session_contexts)) {
  acceptor_.open(endpoint.protocol());
  acceptor_.set_option(asio::socket_base::reuse_address(true));
  acceptor_.bind(endpoint);
  acceptor_.listen(asio::socket_base::max_listen_connections);
}

void Listener::start() {
  accept_next();
}

void Listener::stop() {
  asio::post(acceptor_.get_executor(), [self = shared_from_this()] {
    boost::system::error_code ignored;
    self->acceptor_.close(ignored);
    self->retry_timer_.cancel();
  });
}

void Listener::accept_next() {
  asio::any_io_executor executor = asio::make_strand(io_);
  if (!session_contexts_.empty()) {
    executor = session_contexts_[next_context_++ % session_contexts_.size()]->get_executor();
  }
  acceptor_.async_accept(executor, [self = shared_from_this()](boost::system::error_code ec,
                                                               asio::ip::tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !self->acceptor_.is_open()) return;
    if (ec) return self->retry_after_error(ec);
    self->retry_delay_ = kFirstRetryDelay;
    // Every frame is written whole: Nagle's algorithm would only hold a small reply (a produce
    // acknowledgement, a pong) back until the client's delayed ACK, up to 40 ms.
    boost::system::error_code ignored;
    socket.set_option(asio::ip::tcp::no_delay(true), ignored);
    self->on_connection_(std::move(socket));
    self->accept_next();
  });
}

void Listener::retry_after_error(const boost::system::error_code& ec) {
  if (const auto count = error_log_.admit(ec.message())) {
    spdlog::warn("event=accept_error err=\"{}\" count={} retry_ms={}", ec.message(), *count,
                 retry_delay_.count());
  }
  retry_timer_.expires_after(retry_delay_);
  retry_delay_ = std::min(retry_delay_ * 2, kMaxRetryDelay);
  retry_timer_.async_wait([self = shared_from_this()](const boost::system::error_code& wait_ec) {
    if (!wait_ec && self->acceptor_.is_open()) self->accept_next();
  });
}

}  // namespace kpg::server
