// Accepts TCP connections and hands each to a handler (the data plane's or the admin API's
// HTTP session).
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <functional>
#include <memory>
#include <string>

namespace kpg::server {

/// "address:port" of the socket's peer, or "unknown" (for logs).
std::string peer_address(const boost::asio::ip::tcp::socket& socket);

class Listener : public std::enable_shared_from_this<Listener> {
 public:
  /// Binds at once; throws boost::system::system_error when the address cannot be bound.
  using ConnectionHandler = std::function<void(boost::asio::ip::tcp::socket)>;

  Listener(boost::asio::io_context& io, const boost::asio::ip::tcp::endpoint& endpoint,
           ConnectionHandler on_connection);
  void start();
  /// Stops accepting (existing connections continue). Thread-safe.
  void stop();
  boost::asio::ip::tcp::endpoint local_endpoint() const { return acceptor_.local_endpoint(); }

 private:
  void accept_next();

  boost::asio::io_context& io_;
  boost::asio::ip::tcp::acceptor acceptor_;
  ConnectionHandler on_connection_;
};

}  // namespace kpg::server
