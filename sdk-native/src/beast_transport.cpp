#include "beast_transport.h"

#include <kpg/sdk/ws_url.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include <chrono>
#include <deque>
#include <optional>
#include <string>
#include <type_traits>

namespace kpg::sdk {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
namespace ssl = asio::ssl;

using PlainStream = websocket::stream<beast::tcp_stream>;
using TlsStream = websocket::stream<beast::ssl_stream<beast::tcp_stream>>;

class ConnectionBase {
 public:
  virtual ~ConnectionBase() = default;
  virtual void open(WsUrl url, Credentials credentials, Transport::Handlers handlers) = 0;
  virtual void send(std::string frame) = 0;
  virtual void close() = 0;
};

// One WebSocket connection attempt, ws:// (PlainStream) or wss:// (TlsStream). The state lives
// in a shared object that outstanding async operations keep alive, so the Transport (owned by
// the Client) may be destroyed at any time after close().
template <class Stream>
class Connection final : public ConnectionBase,
                         public std::enable_shared_from_this<Connection<Stream>> {
  static constexpr bool kTls = std::is_same_v<Stream, TlsStream>;

 public:
  explicit Connection(asio::any_io_executor ex) requires(!kTls)
      : executor_(ex), resolver_(ex), ws_(ex) {}
  Connection(asio::any_io_executor ex, ssl::context& tls) requires(kTls)
      : executor_(ex), resolver_(ex), ws_(ex, tls) {}

  void open(WsUrl url, Credentials credentials, Transport::Handlers handlers) override {
    handlers_ = std::move(handlers);
    url_ = std::move(url);
    credentials_ = std::move(credentials);
    resolver_.async_resolve(
        url_.host, url_.port,
        [self = shared_from_this()](beast::error_code ec, tcp::resolver::results_type results) {
          self->on_resolve(ec, std::move(results));
        });
  }

  void send(std::string frame) override {
    if (closed_ || !open_) return;
    outbox_.push_back(std::move(frame));
    if (outbox_.size() == 1) write_next();
  }

  void close() override {
    if (closed_) return;
    closed_ = true;
    handlers_ = {};
    resolver_.cancel();
    if (open_) {
      ws_.async_close(websocket::close_code::normal,
                      [self = shared_from_this()](beast::error_code) {});
    } else {
      beast::get_lowest_layer(ws_).close();
    }
  }

 private:
  using std::enable_shared_from_this<Connection<Stream>>::shared_from_this;

  void fail(ErrorCode code, const std::string& message) {
    if (closed_) return;
    closed_ = true;
    auto on_close = std::move(handlers_.on_close);
    handlers_ = {};
    beast::error_code ignored;
    beast::get_lowest_layer(ws_).socket().close(ignored);
    if (on_close) on_close(Error{code, message});
  }

  void on_resolve(beast::error_code ec, tcp::resolver::results_type results) {
    if (closed_) return;
    if (ec) return fail(ErrorCode::transport, "cannot resolve " + url_.host + ": " + ec.message());
    beast::get_lowest_layer(ws_).async_connect(
        results, [self = shared_from_this()](beast::error_code ec2, const tcp::endpoint&) {
          self->on_connect(ec2);
        });
  }

  void on_connect(beast::error_code ec) {
    if (closed_) return;
    if (ec) {
      return fail(ErrorCode::transport,
                  "cannot connect to " + url_.host + ":" + url_.port + ": " + ec.message());
    }
    beast::get_lowest_layer(ws_).socket().set_option(tcp::no_delay(true));
    if constexpr (kTls) {
      auto& tls = ws_.next_layer();
      // SNI (for names, not IP literals), and the certificate must name the host we asked for.
      // SSL_ctrl is what the SSL_set_tlsext_host_name macro expands to, without its C cast.
      beast::error_code not_ip;
      asio::ip::make_address(url_.host, not_ip);
      if (not_ip &&
          SSL_ctrl(tls.native_handle(), SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
                   const_cast<char*>(url_.host.c_str())) != 1) {
        return fail(ErrorCode::transport, "cannot set TLS server name " + url_.host);
      }
      tls.set_verify_callback(ssl::host_name_verification(url_.host));
      beast::get_lowest_layer(ws_).expires_after(std::chrono::seconds(30));
      tls.async_handshake(
          ssl::stream_base::client,
          [self = shared_from_this()](beast::error_code ec2) { self->on_tls_handshake(ec2); });
    } else {
      start_websocket_handshake();
    }
  }

  void on_tls_handshake(beast::error_code ec) {
    if (closed_) return;
    if (ec) {
      std::string message = "TLS handshake with " + url_.host + ":" + url_.port + " failed: ";
      const auto reason = ERR_GET_REASON(static_cast<unsigned long>(ec.value()));
      message += ec.category() == asio::error::get_ssl_category() &&
                         reason == SSL_R_CERTIFICATE_VERIFY_FAILED
                     ? "certificate rejected (" + ec.message() + ")"
                     : ec.message();
      return fail(ErrorCode::transport, message);
    }
    start_websocket_handshake();
  }

  void start_websocket_handshake() {
    beast::get_lowest_layer(ws_).expires_never();  // the websocket timeouts take over
    ws_.set_option(websocket::stream_base::timeout::suggested(beast::role_type::client));
    ws_.read_message_max(64 * 1024 * 1024);
    ws_.auto_fragment(false);
    ws_.binary(true);
    // Headers, not the query: a URL ends up in logs more easily than a header.
    ws_.set_option(websocket::stream_base::decorator(
        [credentials = std::move(credentials_)](websocket::request_type& request) {
          if (!credentials.api_key.empty()) request.set("apikey", credentials.api_key);
          if (!credentials.token.empty()) {
            request.set(beast::http::field::authorization, "Bearer " + credentials.token);
          }
        }));
    const std::string host = url_.host.find(':') != std::string::npos
                                 ? "[" + url_.host + "]:" + url_.port
                                 : url_.host + ":" + url_.port;
    ws_.async_handshake(
        handshake_response_, host, url_.target,
        [self = shared_from_this()](beast::error_code ec2) { self->on_handshake(ec2); });
  }

  void on_handshake(beast::error_code ec) {
    if (closed_) return;
    if (ec) {
      const unsigned status = handshake_response_.result_int();
      if (status == 401 || status == 403) {
        // The gateway's reason ("Invalid API key in request", ...) is the whole story.
        const Error refusal = http_refusal(static_cast<int>(status), handshake_response_.body());
        return fail(refusal.code, refusal.message);
      }
      // The path only: the query may carry a credential.
      std::string message = "WebSocket handshake with " + url_.host + ":" + url_.port +
                            url_.target.substr(0, url_.target.find('?')) +
                            " failed: " + ec.message();
      if (status != 0 && status != 101) message += " (HTTP " + std::to_string(status) + ")";
      return fail(ErrorCode::transport, message);
    }
    open_ = true;
    if (handlers_.on_open) handlers_.on_open();
    read_next();
  }

  void read_next() {
    if (closed_) return;
    ws_.async_read(buffer_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      self->on_read(ec);
    });
  }

  void on_read(beast::error_code ec) {
    if (closed_) return;
    if (ec) {
      std::string reason =
          ec == websocket::error::closed
              ? "closed by the server" + (ws_.reason().reason.empty()
                                              ? std::string()
                                              : ": " + std::string(ws_.reason().reason.c_str()))
              : ec.message();
      return fail(ErrorCode::transport, reason);
    }
    if (ws_.got_binary()) {
      const auto data = buffer_.cdata();
      const std::string_view frame(static_cast<const char*>(data.data()), data.size());
      if (handlers_.on_binary) handlers_.on_binary(frame);
    }
    buffer_.consume(buffer_.size());
    read_next();
  }

  void write_next() {
    ws_.async_write(asio::buffer(outbox_.front()),
                    [self = shared_from_this()](beast::error_code ec, std::size_t) {
                      if (self->closed_) return;
                      if (ec)
                        return self->fail(ErrorCode::transport, "write failed: " + ec.message());
                      self->outbox_.pop_front();
                      if (!self->outbox_.empty()) self->write_next();
                    });
  }

  asio::any_io_executor executor_;
  tcp::resolver resolver_;
  Stream ws_;
  websocket::response_type handshake_response_;
  beast::flat_buffer buffer_;
  std::deque<std::string> outbox_;
  Transport::Handlers handlers_;
  WsUrl url_;
  Credentials credentials_;  // until the handshake request carries them
  bool open_ = false;
  bool closed_ = false;
};

// The timer outlives connections (the client uses it for reconnect back-off too).
struct TimerState {
  explicit TimerState(asio::any_io_executor ex) : timer(ex) {}
  asio::steady_timer timer;
  std::uint64_t generation = 0;
  bool stopped = false;
};

class BeastTransport final : public Transport {
 public:
  BeastTransport(asio::any_io_executor ex, TlsOptions tls)
      : executor_(ex), timer_(std::make_shared<TimerState>(ex)), tls_options_(std::move(tls)) {}
  ~BeastTransport() override {
    if (connection_) connection_->close();
    timer_->stopped = true;
    timer_->timer.cancel();
  }

  void open(const std::string& url, const Credentials& credentials, Handlers handlers) override {
    if (connection_) connection_->close();
    connection_.reset();
    std::string why;
    auto parsed = parse_ws_url(url, &why);
    if (!parsed) return fail_soon(std::move(handlers), "invalid URL '" + url + "': " + why);
    if (parsed->secure) {
      if (!tls_context_ && !make_tls_context(&why)) return fail_soon(std::move(handlers), why);
      connection_ = std::make_shared<Connection<TlsStream>>(executor_, *tls_context_);
    } else {
      connection_ = std::make_shared<Connection<PlainStream>>(executor_);  // one per attempt
    }
    connection_->open(std::move(*parsed), credentials, std::move(handlers));
  }
  void send(std::string frame) override {
    if (connection_) connection_->send(std::move(frame));
  }
  void close() override {
    if (connection_) connection_->close();
  }
  void set_timer(std::int64_t delay_ms, std::function<void()> callback) override {
    auto state = timer_;
    ++state->generation;
    state->timer.cancel();
    if (delay_ms < 0 || state->stopped) return;
    state->timer.expires_after(std::chrono::milliseconds(delay_ms));
    state->timer.async_wait([state, generation = state->generation,
                             callback = std::move(callback)](beast::error_code ec) {
      if (ec || state->stopped || generation != state->generation) return;
      callback();
    });
  }
  std::int64_t now_ms() override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }

 private:
  // Reports asynchronously: handlers must never run inside the call that started open().
  void fail_soon(Handlers handlers, std::string message) {
    asio::post(executor_, [on_close = std::move(handlers.on_close), message = std::move(message)] {
      if (on_close) on_close(Error{ErrorCode::transport, message});
    });
  }

  bool make_tls_context(std::string* error) {
    auto context = std::make_shared<ssl::context>(ssl::context::tls_client);
    beast::error_code ec;
    if (tls_options_.ca_file.empty()) {
      context->set_default_verify_paths(ec);
    } else {
      context->load_verify_file(tls_options_.ca_file, ec);
    }
    if (ec) {
      *error = "cannot load CA certificates" +
               (tls_options_.ca_file.empty() ? std::string() : " from " + tls_options_.ca_file) +
               ": " + ec.message();
      return false;
    }
    context->set_verify_mode(tls_options_.verify ? ssl::verify_peer : ssl::verify_none);
    tls_context_ = std::move(context);
    return true;
  }

  asio::any_io_executor executor_;
  std::shared_ptr<TimerState> timer_;
  TlsOptions tls_options_;
  // Shared: a connection being closed may still use it after a reconnect replaced it.
  std::shared_ptr<ssl::context> tls_context_;
  std::shared_ptr<ConnectionBase> connection_;
};

}  // namespace

std::unique_ptr<Transport> make_beast_transport(boost::asio::any_io_executor executor,
                                                TlsOptions tls) {
  return std::make_unique<BeastTransport>(std::move(executor), std::move(tls));
}

}  // namespace kpg::sdk
