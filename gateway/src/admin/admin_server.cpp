#include "admin/admin_server.h"

#include "admin/status_endpoints.h"
#include "server/listener.h"

#include <spdlog/spdlog.h>
#include <boost/asio/post.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <optional>

namespace kpg::admin {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

namespace {

class AdminSession : public std::enable_shared_from_this<AdminSession> {
 public:
  AdminSession(asio::ip::tcp::socket socket, const AdminApi* api, server::Metrics& metrics)
      : stream_(std::move(socket)),
        api_(api),
        metrics_(metrics),
        client_(server::peer_address(stream_.socket())) {}

  void read_next() {
    parser_.emplace();
    parser_->header_limit(16 * 1024);
    parser_->body_limit(1024 * 1024);
    stream_.expires_after(std::chrono::seconds(30));
    http::async_read(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
  }

 private:
  void on_read(beast::error_code ec) {
    if (ec) {
      if (ec == http::error::body_limit) {
        return respond(413, R"({"error_msg":"request body larger than 1 MiB"})", false, 11);
      }
      if (ec != http::error::end_of_stream && ec != beast::error::timeout &&
          ec != asio::error::operation_aborted) {
        respond(400, R"({"error_msg":"malformed HTTP request"})", false, 11);
      }
      return;
    }
    auto request = parser_->release();
    if (auto status = status_response(request.method_string(), request.target(), metrics_)) {
      // Probes and scrapes come every few seconds: not worth an info line each.
      spdlog::debug("event=status_request client={} target=\"{}\" status={}", client_,
                    std::string(request.target()), status->status);
      const bool head = request.method() == http::verb::head;
      return respond(status->status, head ? std::string() : std::move(status->body),
                     request.keep_alive(), request.version(), status->content_type.c_str());
    }
    if (!api_) {
      return respond(404,
                     R"({"error_msg":"not found: this listener serves /metrics, /healthz and )"
                     R"(/readyz only"})",
                     request.keep_alive(), request.version());
    }
    AdminRequest admin{std::string(request.method_string()), std::string(request.target()),
                       std::nullopt, std::move(request.body())};
    if (auto it = request.find("X-API-KEY"); it != request.end()) {
      admin.api_key = std::string(it->value());
    }
    // The route manager does blocking work (fsync, creating Kafka clients): keep it off the
    // data plane's I/O threads by running the admin API on its own single-threaded io_context.
    auto response = api_->handle(admin);
    if (admin.method != "GET" && response.status >= 200 && response.status < 300) {
      metrics_.config_changed();
    }
    spdlog::info("event=admin_request client={} method={} target=\"{}\" status={}", client_,
                 admin.method, admin.target, response.status);
    respond(response.status, std::move(response.body), request.keep_alive(), request.version());
  }

  void respond(int status, std::string body, bool keep_alive, unsigned version,
               const char* content_type = "application/json") {
    auto res = std::make_shared<http::response<http::string_body>>(
        static_cast<http::status>(status), version);
    res->set(http::field::server, "kpg-gateway");
    res->set(http::field::content_type, content_type);
    res->keep_alive(keep_alive);
    res->body() = std::move(body);
    res->prepare_payload();
    http::async_write(
        stream_, *res, [self = shared_from_this(), res](beast::error_code ec, std::size_t) {
          if (ec || !res->keep_alive()) {
            beast::error_code ignored;
            self->stream_.socket().shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
            return;
          }
          self->read_next();
        });
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  const AdminApi* api_;
  server::Metrics& metrics_;
  std::string client_;
};

}  // namespace

void run_admin_session(asio::ip::tcp::socket socket, const AdminApi* api,
                       server::Metrics& metrics) {
  std::make_shared<AdminSession>(std::move(socket), api, metrics)->read_next();
}

}  // namespace kpg::admin
