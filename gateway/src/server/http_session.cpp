#include "server/http_session.h"

#include "server/listener.h"
#include "server/websocket_session.h"

#include <spdlog/spdlog.h>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket/rfc6455.hpp>

#include <optional>

namespace kpg::server {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

namespace {

class HttpSession : public std::enable_shared_from_this<HttpSession> {
 public:
  HttpSession(asio::ip::tcp::socket socket, ServerContext& context)
      : stream_(std::move(socket)), context_(context), client_(peer_address(stream_.socket())) {}

  void read_next() {
    parser_.emplace();
    parser_->header_limit(16 * 1024);
    parser_->body_limit(64 * 1024);
    stream_.expires_after(std::chrono::seconds(30));
    http::async_read(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
  }

 private:
  void on_read(beast::error_code ec) {
    if (ec == http::error::end_of_stream || ec == beast::error::timeout) return close();
    if (ec) {
      if (ec != asio::error::operation_aborted && ec != asio::error::connection_reset) {
        respond(http::status::bad_request, "malformed HTTP request: " + ec.message(), false, 11);
      }
      return;
    }
    auto request = parser_->release();
    const std::string_view target = request.target();
    const std::string_view path = target.substr(0, target.find('?'));
    const auto table = context_.routes.get();
    const config::ActiveRoute* route = table->match(path);

    if (route && beast::websocket::is_upgrade(request)) {
      stream_.expires_never();
      run_websocket_session(stream_.release_socket(), std::move(request), *route, context_,
                            client_);
      return;
    }
    if (route) {
      spdlog::info("event=rejected_plain_http route={} client={} target=\"{}\"", route->route->id,
                   client_, std::string(target));
      return respond(http::status::bad_request,
                     "this is a PubSub route: connect with a WebSocket upgrade\n",
                     request.keep_alive(), request.version());
    }
    respond(http::status::not_found, "404 Not Found\n", request.keep_alive(), request.version());
  }

  void respond(http::status status, std::string body, bool keep_alive, unsigned version) {
    auto res = std::make_shared<http::response<http::string_body>>(status, version);
    res->set(http::field::server, "kpg-gateway");
    res->set(http::field::content_type, "text/plain; charset=utf-8");
    res->keep_alive(keep_alive);
    res->body() = std::move(body);
    res->prepare_payload();
    http::async_write(stream_, *res,
                      [self = shared_from_this(), res](beast::error_code ec, std::size_t) {
                        if (ec || !res->keep_alive()) return self->close();
                        self->read_next();
                      });
  }

  void close() {
    beast::error_code ignored;
    stream_.socket().shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  ServerContext& context_;
  std::string client_;
};

}  // namespace

void run_http_session(asio::ip::tcp::socket socket, ServerContext& context) {
  std::make_shared<HttpSession>(std::move(socket), context)->read_next();
}

}  // namespace kpg::server
