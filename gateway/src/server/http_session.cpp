#include "server/http_session.h"

#include "server/client_address.h"
#include "server/listener.h"
#include "server/log_format.h"
#include "server/upgrade_auth.h"
#include "server/websocket_session.h"

#include <spdlog/spdlog.h>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <nlohmann/json.hpp>

#include <optional>
#include <string_view>
#include <type_traits>

namespace kpg::server {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

namespace {

using TlsStream = beast::ssl_stream<beast::tcp_stream>;

// One data-plane connection before (or instead of) the WebSocket upgrade; Stream is
// beast::tcp_stream (ws://) or TlsStream (wss://).
template <class Stream>
class HttpSession : public std::enable_shared_from_this<HttpSession<Stream>> {
  static constexpr bool kTls = std::is_same_v<Stream, TlsStream>;
  using std::enable_shared_from_this<HttpSession<Stream>>::shared_from_this;

 public:
  HttpSession(asio::ip::tcp::socket socket, ServerContext& context,
              ConnectionSlot slot) requires(!kTls)
      : peer_(peer_address(socket)),
        client_(peer_),
        stream_(std::move(socket)),
        context_(context),
        slot_(std::move(slot)) {}
  HttpSession(asio::ip::tcp::socket socket, ServerContext& context,
              ConnectionSlot slot) requires(kTls)
      : peer_(peer_address(socket)),
        client_(peer_),
        stream_(std::move(socket), *context.tls),
        context_(context),
        slot_(std::move(slot)) {}

  void start() {
    // One deadline from accept to the upgrade, never renewed: bytes trickling in (or plain HTTP
    // requests on a kept-alive connection) do not extend it.
    beast::get_lowest_layer(stream_).expires_after(context_.session_limits.handshake_timeout);
    if constexpr (kTls) {
      stream_.async_handshake(asio::ssl::stream_base::server,
                              [self = shared_from_this()](beast::error_code ec) {
                                if (ec) {
                                  spdlog::info("event=tls_handshake_failed client={} err=\"{}\"",
                                               self->peer_, ec.message());
                                  return;
                                }
                                self->read_next();
                              });
    } else {
      read_next();
    }
  }

  void read_next() {
    parser_.emplace();
    parser_->header_limit(16 * 1024);
    parser_->body_limit(64 * 1024);
    http::async_read(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
  }

 private:
  void on_read(beast::error_code ec) {
    if (ec == beast::error::timeout) {
      if (const auto count = context_.client_log.admit("handshake_timeout " + peer_ip(client_))) {
        spdlog::info("event=handshake_timeout client={} timeout_ms={} count={}", client_,
                     context_.session_limits.handshake_timeout.count(), *count);
      }
      if (context_.metrics) context_.metrics->handshake_refused("handshake_timeout");
      return close();
    }
    if (ec == http::error::end_of_stream) return close();
    if (ec) {
      if (ec != asio::error::operation_aborted && ec != asio::error::connection_reset) {
        respond(http::status::bad_request, "malformed HTTP request: " + ec.message(), false, 11);
      }
      return;
    }
    auto request = parser_->release();
    client_ = client_of(request);
    const std::string_view target = request.target();
    const std::string_view path = target.substr(0, target.find('?'));
    const auto table = context_.routes.get();
    const server::ActiveRoute* route = table->match(path, request[http::field::host]);

    if (route && beast::websocket::is_upgrade(request)) {
      auto checked = check_client(*route, request);
      if (!checked) return;
      auto identity = std::move(*checked);
      RouteLimiter::Admission admission;
      if (route->limiter) {
        auto admitted = route->limiter->admit(peer_ip(client_), identity ? identity->consumer : "");
        if (auto* refusal = std::get_if<RouteLimiter::Refusal>(&admitted)) {
          return refuse_over_limit(*route, request, std::move(*refusal));
        }
        admission = std::get<RouteLimiter::Admission>(std::move(admitted));
      }
      beast::get_lowest_layer(stream_).expires_never();
      if constexpr (kTls) {
        run_websocket_session(std::move(stream_), std::move(request), *route, context_, client_,
                              std::move(slot_), std::move(identity), std::move(admission));
      } else {
        run_websocket_session(stream_.release_socket(), std::move(request), *route, context_,
                              client_, std::move(slot_), std::move(identity), std::move(admission));
      }
      return;
    }
    if (route) return answer_plain_request(*route, request, path);
    if (path == "/apisix/admin" || path.starts_with("/apisix/admin/")) {
      // Where APISIX 2.x served its admin API (and where guides written for it send requests).
      return respond(
          http::status::not_found,
          nlohmann::json{{"error_msg", "the admin API is not served on this port: use http://" +
                                           context_.admin_listen + "/apisix/admin/..."}}
              .dump(),
          request.keep_alive(), request.version(), "application/json");
    }
    respond(http::status::not_found, "404 Not Found\n", request.keep_alive(), request.version());
  }

  // The TCP peer ("address:port"), or the address a trusted proxy in front names (see
  // client_address.h). Resolved per request: each one that passed the proxy says it anew.
  std::string client_of(const http::request<http::string_body>& request) const {
    if (context_.trusted_proxies.empty()) return peer_;
    const auto peer = config::parse_ip(peer_ip(peer_));
    if (!peer) return peer_;
    std::vector<std::string_view> forwarded_for;
    for (auto [it, end] = request.equal_range("X-Forwarded-For"); it != end; ++it) {
      forwarded_for.push_back(it->value());
    }
    std::optional<std::string_view> real_ip;
    if (request.count("X-Real-IP") == 1) real_ip = request["X-Real-IP"];
    return forwarded_client(*peer, context_.trusted_proxies, forwarded_for, real_ip)
        .value_or(peer_);
  }

  // A plain GET on a PubSub route meets the upgrade's Origin and credential checks and is
  // refused as the upgrade would be (403 / 401, same JSON); one that passes gets 400 as before.
  // Browsers tell a page nothing about a refused WebSocket handshake, so the browser SDK sends
  // this request (fetch) to learn why. The answer names the page's Origin in
  // Access-Control-Allow-Origin so that the page may read it: for an allowed origin (or a route
  // without an origin list) the status is what its WebSocket met anyway, and a refused origin
  // learns only that it is refused, whatever the credential.
  void answer_plain_request(const ActiveRoute& route,
                            const http::request<http::string_body>& request,
                            std::string_view path) {
    const bool probe = request.method() == http::verb::get;
    HeaderList cors;  // on every answer to a probe; caches keep one answer per Origin
    if (probe) {
      if (const auto field = request.find(http::field::origin);
          field != request.end() && request.count(http::field::origin) == 1 &&
          config::normalize_origin(field->value())) {
        // A well-formed origin: safe to echo.
        cors.emplace_back("Access-Control-Allow-Origin", std::string(field->value()));
      }
      cors.emplace_back("Vary", "Origin");
      if (!check_client(route, request, cors)) return;
    }
    // The path only: the query may carry a credential (?apikey=, ?jwt=).
    spdlog::info("event=rejected_plain_http route={} client={} target={}", route.route->id, client_,
                 log_quoted(path));
    respond(http::status::bad_request, "this is a PubSub route: connect with a WebSocket upgrade\n",
            request.keep_alive(), request.version(), "text/plain; charset=utf-8", std::move(cors));
  }

  // What an upgrade on `route` must pass before anything else: the Origin allow-list, then the
  // credential. Returns who the client is (nullptr when the route requires no credential), or
  // nothing once the refusal (403 / 401 with its JSON message, plus `headers`) is answered.
  std::optional<std::shared_ptr<const ClientIdentity>> check_client(
      const ActiveRoute& route, const http::request<http::string_body>& request,
      const HeaderList& headers = {}) {
    if (refuse_disallowed_origin(route, request, headers)) return std::nullopt;
    auto authorization = authorize_upgrade(request, route, context_, client_);
    if (auto* refusal = std::get_if<AuthRefusal>(&authorization)) {
      respond(static_cast<http::status>(refusal->status),
              nlohmann::json{{"message", refusal->message}}.dump(), request.keep_alive(),
              request.version(), "application/json", headers);
      return std::nullopt;
    }
    return std::get<std::shared_ptr<const ClientIdentity>>(std::move(authorization));
  }

  // The route's cors.allow_origins, enforced on the upgrade: browsers send the page's Origin but
  // do not apply CORS to WebSockets, so a page of any site could otherwise open one. True when
  // the upgrade was refused (answered 403).
  bool refuse_disallowed_origin(const ActiveRoute& route,
                                const http::request<http::string_body>& request,
                                const HeaderList& headers = {}) {
    std::optional<std::string_view> origin;
    if (const auto field = request.find(http::field::origin); field != request.end()) {
      origin = field->value();
      // Several Origin headers are never a browser's: none of them is believed.
      if (request.count(http::field::origin) > 1) origin = std::string_view();
    }
    const auto verdict = route.route->check_origin(origin);
    if (verdict == config::OriginPolicy::Verdict::allowed) return false;
    const bool missing = verdict == config::OriginPolicy::Verdict::missing;
    // One line per address and second at most: a page retrying in a loop is one client's doing.
    if (const auto count = context_.client_log.admit("origin_refused " + peer_ip(client_))) {
      // Only an origin that parses as one is logged as it is (its characters are a host name's).
      std::string shown = "(none)";
      if (origin) {
        shown = config::normalize_origin(*origin).value_or(
            "(malformed, " + std::to_string(origin->size()) + " bytes)");
      }
      spdlog::warn("event=origin_refused route={} client={} origin={} count={}", route.route->id,
                   client_, shown, *count);
    }
    respond(http::status::forbidden,
            missing ? R"({"message":"an Origin header is required on this route"})"
                    : R"({"message":"origin not allowed on this route"})",
            request.keep_alive(), request.version(), "application/json", headers);
    return true;
  }

  // An upgrade over the route's limit-conn or limit-count: its status and {"error_msg"}, logged at
  // most once per second per address and plugin.
  void refuse_over_limit(const ActiveRoute& route, const http::request<http::string_body>& request,
                         RouteLimiter::Refusal refusal) {
    if (const auto count = context_.client_log.admit(std::string(refusal.plugin) + "_refused " +
                                                     peer_ip(client_))) {
      spdlog::warn("event=limit_refused plugin={} route={} client={} status={} count={}",
                   refusal.plugin, route.route->id, client_, refusal.status, *count);
    }
    respond(static_cast<http::status>(refusal.status), std::move(refusal.body),
            request.keep_alive(), request.version(), "application/json",
            std::move(refusal.headers));
  }

  void respond(http::status status, std::string body, bool keep_alive, unsigned version,
               const char* content_type = "text/plain; charset=utf-8", HeaderList headers = {}) {
    if (context_.metrics && static_cast<int>(status) >= 400) {
      context_.metrics->handshake_refused(refusal_reason(static_cast<int>(status)));
    }
    auto res = std::make_shared<http::response<http::string_body>>(status, version);
    res->set(http::field::server, "kpg-gateway");
    for (const auto& [name, value] : headers) res->set(name, value);
    res->set(http::field::content_type, content_type);
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
    if constexpr (kTls) {
      stream_.async_shutdown([self = shared_from_this()](beast::error_code) {
        beast::error_code ignored;
        beast::get_lowest_layer(self->stream_).socket().close(ignored);
      });
    } else {
      beast::error_code ignored;
      stream_.socket().shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
    }
  }

  const std::string peer_;  // the TCP peer, "address:port"
  std::string client_;      // who the current request is from (client_of())
  Stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  ServerContext& context_;
  ConnectionSlot slot_;
};

}  // namespace

void run_http_session(asio::ip::tcp::socket socket, ServerContext& context, ConnectionSlot slot) {
  if (context.tls) {
    std::make_shared<HttpSession<TlsStream>>(std::move(socket), context, std::move(slot))->start();
  } else {
    std::make_shared<HttpSession<beast::tcp_stream>>(std::move(socket), context, std::move(slot))
        ->start();
  }
}

}  // namespace kpg::server
