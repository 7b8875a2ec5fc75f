// Accepts TCP connections for the data plane and hands each to an HTTP session.
#pragma once

#include "server/server_context.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <memory>

namespace kpg::server {

class Listener : public std::enable_shared_from_this<Listener> {
 public:
  /// Binds at once; throws boost::system::system_error when the address cannot be bound.
  Listener(boost::asio::io_context& io, const boost::asio::ip::tcp::endpoint& endpoint,
           ServerContext& context);
  void start();
  /// Stops accepting (existing connections continue). Thread-safe.
  void stop();
  boost::asio::ip::tcp::endpoint local_endpoint() const { return acceptor_.local_endpoint(); }

 private:
  void accept_next();

  boost::asio::io_context& io_;
  boost::asio::ip::tcp::acceptor acceptor_;
  ServerContext& context_;
};

}  // namespace kpg::server
