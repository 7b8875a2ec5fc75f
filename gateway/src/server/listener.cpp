#include "server/listener.h"

#include <spdlog/spdlog.h>
#include <boost/asio/strand.hpp>

namespace kpg::server {

namespace asio = boost::asio;

std::string peer_address(const asio::ip::tcp::socket& socket) {
  boost::system::error_code ec;
  const auto remote = socket.remote_endpoint(ec);
  return ec ? "unknown" : remote.address().to_string() + ":" + std::to_string(remote.port());
}

Listener::Listener(asio::io_context& io, const asio::ip::tcp::endpoint& endpoint,
                   ConnectionHandler on_connection)
    : io_(io), acceptor_(asio::make_strand(io)), on_connection_(std::move(on_connection)) {
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
  });
}

void Listener::accept_next() {
  acceptor_.async_accept(
      asio::make_strand(io_),
      [self = shared_from_this()](boost::system::error_code ec, asio::ip::tcp::socket socket) {
        if (ec == asio::error::operation_aborted) return;
        if (ec) {
          // e.g. EMFILE: log and keep accepting rather than taking the process down.
          spdlog::warn("event=accept_error err=\"{}\"", ec.message());
        } else {
          self->on_connection_(std::move(socket));
        }
        if (self->acceptor_.is_open()) self->accept_next();
      });
}

}  // namespace kpg::server
