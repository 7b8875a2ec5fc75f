// Accepts TCP connections and hands each to a handler (the data plane's or the admin API's
// HTTP session).
#pragma once

#include "server/log_limiter.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace kpg::server {

/// "address:port" ("[address]:port" for IPv6) of the socket's peer, or "unknown" (for logs).
std::string peer_address(const boost::asio::ip::tcp::socket& socket);

/// The address part of peer_address()'s "address:port", or of a bare address (a client named by
/// a trusted proxy): what per-client logs and limits count by.
inline std::string peer_ip(std::string_view peer) {
  if (peer.starts_with('[')) return std::string(peer.substr(1, peer.find(']') - 1));
  const auto colon = peer.find(':');
  if (colon != std::string_view::npos && peer.find(':', colon + 1) == std::string_view::npos) {
    return std::string(peer.substr(0, colon));
  }
  return std::string(peer);  // IPv4 without port, or a bare IPv6 address
}

/// Accept errors (EMFILE when out of file descriptors, ENFILE, ENOBUFS, ...) usually last until
/// connections close: the listener retries after a delay doubling from 50 ms to 1 s (reset by the
/// next accepted connection) and logs once per second with a count, instead of spinning.
class Listener : public std::enable_shared_from_this<Listener> {
 public:
  /// Binds at once; throws boost::system::system_error when the address cannot be bound.
  using ConnectionHandler = std::function<void(boost::asio::ip::tcp::socket)>;

  /// Accepted sockets go to `session_contexts` in turn, each of which must be run by exactly one
  /// thread (a connection then needs no strand, and its threads never contend for one queue);
  /// empty: to a strand of `io`.
  Listener(boost::asio::io_context& io, const boost::asio::ip::tcp::endpoint& endpoint,
           ConnectionHandler on_connection,
           std::vector<boost::asio::io_context*> session_contexts = {});
  void start();
  /// Stops accepting (existing connections continue). Thread-safe.
  void stop();
  boost::asio::ip::tcp::endpoint local_endpoint() const { return acceptor_.local_endpoint(); }

 private:
  static constexpr std::chrono::milliseconds kFirstRetryDelay{50};
  static constexpr std::chrono::milliseconds kMaxRetryDelay{1000};

  void accept_next();
  void retry_after_error(const boost::system::error_code& ec);

  boost::asio::io_context& io_;
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::steady_timer retry_timer_;  // on the acceptor's strand
  std::chrono::milliseconds retry_delay_ = kFirstRetryDelay;
  LogLimiter error_log_;
  ConnectionHandler on_connection_;
  std::vector<boost::asio::io_context*> session_contexts_;
  std::size_t next_context_ = 0;  // on the acceptor's strand
};

}  // namespace kpg::server
