#include "store/etcd_client.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/ssl.h>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <stdexcept>

namespace kpg::store {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using beast::error_code;

namespace {

constexpr std::size_t kMaxResponseBytes = 64 * 1024 * 1024;  // a range of every route and consumer
constexpr std::size_t kMaxWatchLineBytes = 16 * 1024 * 1024;

// Starts one asynchronous operation (`initiate(handler)`) and runs `context` on this thread until
// it completes. The asynchronous forms are used for their deadlines (beast::tcp_stream's expiry),
// which blocking calls do not have. operation_aborted when `cancelled` is set (cancel_watch()
// sets it, then stops the context).
template <class Initiate>
error_code complete(asio::io_context& context, const std::atomic<bool>* cancelled,
                    Initiate&& initiate) {
  // Shared: a handler that runs after this returned (cancelled) still has somewhere to write.
  auto done = std::make_shared<std::optional<error_code>>();
  initiate([done](error_code ec, auto&&...) { *done = ec; });
  context.restart();
  // Checked after restart(): a cancel that came later stops the context again.
  if (cancelled && cancelled->load()) return asio::error::operation_aborted;
  while (!*done && context.run_one() > 0) {
  }
  return done->value_or(asio::error::operation_aborted);
}

http::request<http::string_body> post(const config::EtcdEndpoint& endpoint, const std::string& path,
                                      const std::string& body, const std::string& token) {
  http::request<http::string_body> req{http::verb::post, path, 11};
  req.set(http::field::host, endpoint.host + ":" + endpoint.port);
  req.set(http::field::content_type, "application/json");
  if (!token.empty()) req.set(http::field::authorization, token);
  req.body() = body;
  req.prepare_payload();
  return req;
}

EtcdError unavailable(const config::EtcdEndpoint& endpoint, const std::string& what,
                      const error_code& ec) {
  return {EtcdErrc::unavailable, endpoint.text() + ": " + what + ": " + ec.message()};
}

// TCP keep-alive probes after 5 s of silence, every 2 s, 3 unanswered: a watch on an etcd that
// vanished (host down, cable cut) ends within about 11 s instead of never.
void keep_alive(tcp::socket& socket) {
  error_code ignored;
  socket.set_option(asio::socket_base::keep_alive(true), ignored);
  const int idle = 5, interval = 2, count = 3;
  ::setsockopt(socket.native_handle(), IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
  ::setsockopt(socket.native_handle(), IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof interval);
  ::setsockopt(socket.native_handle(), IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof count);
}

// Closes the stream's socket and runs what that ends (operations a cancel cut short) before the
// objects they use go: declared after them, it is destroyed first.
template <class Stream>
struct DrainOnExit {
  asio::io_context& context;
  Stream& stream;
  ~DrainOnExit() {
    error_code ignored;
    beast::get_lowest_layer(stream).socket().close(ignored);
    context.restart();
    context.poll();
  }
};

// Runs `f(stream)` on a connected stream to `endpoint`: plain TCP, or TLS on top of it. `f`
// returns EtcdResult<R> and runs its operations with complete().
template <class R, class F>
EtcdResult<R> with_stream(asio::io_context& context, const std::atomic<bool>* cancelled,
                          const config::EtcdEndpoint& endpoint, asio::ssl::context* tls,
                          std::chrono::milliseconds timeout, F f) {
  tcp::resolver resolver(context);
  tcp::resolver::results_type addresses;
  auto ec = complete(context, cancelled, [&](auto handler) {
    resolver.async_resolve(endpoint.host, endpoint.port,
                           [&addresses, handler](error_code e, tcp::resolver::results_type r) {
                             addresses = std::move(r);
                             handler(e);
                           });
  });
  if (ec) return unavailable(endpoint, "cannot resolve", ec);
  beast::tcp_stream tcp_stream(context);
  tcp_stream.expires_after(timeout);
  ec = complete(context, cancelled,
                [&](auto handler) { tcp_stream.async_connect(addresses, handler); });
  if (ec) return unavailable(endpoint, "cannot connect", ec);
  // Operations cut short by a cancel still refer to the stream: they finish before it goes.
  auto drained = [&](auto& stream, EtcdResult<R> result) {
    error_code ignored;
    beast::get_lowest_layer(stream).socket().close(ignored);
    context.restart();
    context.poll();
    return result;
  };
  if (!endpoint.tls || !tls) return drained(tcp_stream, f(tcp_stream));

  beast::ssl_stream<beast::tcp_stream> tls_stream(std::move(tcp_stream), *tls);
  // SSL_ctrl is what the SSL_set_tlsext_host_name macro expands to, without its C cast.
  if (!SSL_ctrl(tls_stream.native_handle(), SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
                const_cast<char*>(endpoint.host.c_str()))) {
    return EtcdError{EtcdErrc::unavailable, endpoint.text() + ": cannot set the TLS name"};
  }
  tls_stream.set_verify_callback(asio::ssl::host_name_verification(endpoint.host));
  ec = complete(context, cancelled, [&](auto handler) {
    tls_stream.async_handshake(asio::ssl::stream_base::client, handler);
  });
  if (ec) return drained(tls_stream, unavailable(endpoint, "TLS handshake failed", ec));
  return drained(tls_stream, f(tls_stream));
}

}  // namespace

EtcdClient::EtcdClient(config::EtcdConfig config) : config_(std::move(config)) {
  bool any_tls = false;
  for (const auto& e : config_.endpoints) any_tls = any_tls || e.tls;
  if (!any_tls) return;
  tls_ = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_client);
  error_code ec;
  if (config_.ca_file.empty()) {
    tls_->set_default_verify_paths(ec);
  } else {
    tls_->load_verify_file(config_.ca_file, ec);
  }
  if (ec) throw std::runtime_error("etcd.tls.ca_file: cannot load: " + ec.message());
  if (!config_.cert_file.empty()) {
    tls_->use_certificate_chain_file(config_.cert_file, ec);
    if (ec) throw std::runtime_error("etcd.tls.cert_file: cannot load: " + ec.message());
    tls_->use_private_key_file(config_.key_file, asio::ssl::context::pem, ec);
    if (ec) throw std::runtime_error("etcd.tls.key_file: cannot load: " + ec.message());
  }
  tls_->set_verify_mode(config_.verify ? asio::ssl::verify_peer : asio::ssl::verify_none);
}

EtcdClient::~EtcdClient() = default;

std::string EtcdClient::token() {
  std::lock_guard lock(mutex_);
  return token_;
}

EtcdResult<std::string> EtcdClient::call_once(const std::string& path, const std::string& body,
                                              const std::string& token) {
  const auto timeout = std::chrono::milliseconds(config_.timeout_ms);
  const std::size_t n = config_.endpoints.size();
  const std::size_t first = preferred_endpoint_.load();
  EtcdError last{EtcdErrc::unavailable, "no etcd endpoint"};
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t index = (first + i) % n;
    const auto& endpoint = config_.endpoints[index];
    asio::io_context context;
    auto exchange = [&](auto& stream) -> EtcdResult<std::string> {
      auto req = post(endpoint, path, body, token);
      beast::get_lowest_layer(stream).expires_after(timeout);
      auto ec = complete(context, nullptr,
                         [&](auto handler) { http::async_write(stream, req, handler); });
      if (ec) return unavailable(endpoint, "cannot send", ec);
      beast::flat_buffer buffer;
      http::response_parser<http::string_body> parser;
      parser.body_limit(kMaxResponseBytes);
      ec = complete(context, nullptr,
                    [&](auto handler) { http::async_read(stream, buffer, parser, handler); });
      if (ec) return unavailable(endpoint, "no answer", ec);
      auto res = parser.release();
      if (res.result() != http::status::ok)
        return error_of(static_cast<int>(res.result_int()), res.body());
      return std::move(res.body());
    };
    auto result =
        with_stream<std::string>(context, nullptr, endpoint, tls_.get(), timeout, exchange);
    auto* error = std::get_if<EtcdError>(&result);
    if (!error) {
      preferred_endpoint_ = index;
      return result;
    }
    if (error->code != EtcdErrc::unavailable) return result;  // etcd answered: do not retry
    last = *error;
  }
  return last;
}

bool EtcdClient::authenticate(EtcdError& error) {
  auto result =
      call_once("/v3/auth/authenticate", authenticate_request(config_.user, config_.password), "");
  if (auto* e = std::get_if<EtcdError>(&result)) {
    error = *e;
    if (error.code == EtcdErrc::refused || error.code == EtcdErrc::unauthorized) {
      error = {EtcdErrc::unauthorized, "etcd refused user '" + config_.user + "': " + e->message};
    }
    return false;
  }
  auto token = parse_token(std::get<std::string>(result));
  if (auto* e = std::get_if<EtcdError>(&token)) {
    error = *e;
    return false;
  }
  std::lock_guard lock(mutex_);
  token_ = std::get<std::string>(std::move(token));
  return true;
}

EtcdResult<std::string> EtcdClient::call(const std::string& path, const std::string& body) {
  if (config_.user.empty()) return call_once(path, body, "");
  EtcdError error{};
  if (token().empty() && !authenticate(error)) return error;
  auto result = call_once(path, body, token());
  if (auto* e = std::get_if<EtcdError>(&result); e && e->code == EtcdErrc::unauthorized) {
    // Tokens expire (etcd's --auth-token-ttl); log in again once.
    if (!authenticate(error)) return error;
    result = call_once(path, body, token());
  }
  return result;
}

EtcdResult<RangeResult> EtcdClient::range_prefix(const std::string& prefix) {
  auto body = call("/v3/kv/range", range_request(prefix));
  if (auto* e = std::get_if<EtcdError>(&body)) return *e;
  return parse_range(std::get<std::string>(body));
}

EtcdResult<std::int64_t> EtcdClient::put(const std::string& key, const std::string& value) {
  auto body = call("/v3/kv/put", put_request(key, value));
  if (auto* e = std::get_if<EtcdError>(&body)) return *e;
  return parse_revision(std::get<std::string>(body));
}

EtcdResult<std::int64_t> EtcdClient::remove(const std::string& key) {
  auto body = call("/v3/kv/deleterange", delete_request(key));
  if (auto* e = std::get_if<EtcdError>(&body)) return *e;
  return parse_revision(std::get<std::string>(body));
}

EtcdError EtcdClient::watch(const std::string& prefix, std::int64_t start_revision,
                            const std::function<bool(const WatchResponse&)>& on_response) {
  if (!config_.user.empty() && token().empty()) {
    EtcdError error{};
    if (!authenticate(error)) return error;
  }
  const auto timeout = std::chrono::milliseconds(config_.timeout_ms);
  const auto& endpoint = config_.endpoints[preferred_endpoint_.load() % config_.endpoints.size()];
  const std::string token = this->token();
  asio::io_context context;
  const std::atomic<bool>* cancelled = &watch_cancelled_;
  auto stream_watch = [&](auto& stream) -> EtcdResult<bool> {
    auto req = post(endpoint, "/v3/watch", watch_request(prefix, start_revision), token);
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    std::string pending;
    std::optional<EtcdError> failed;
    bool stop = false;
    auto on_chunk = [&](std::uint64_t, beast::string_view data, error_code& chunk_ec) {
      pending.append(data.data(), data.size());
      std::size_t start = 0;
      for (auto end = pending.find('\n'); end != std::string::npos;
           end = pending.find('\n', start)) {
        auto response = parse_watch_line(std::string_view(pending).substr(start, end - start));
        start = end + 1;
        if (auto* e = std::get_if<EtcdError>(&response)) {
          failed = *e;
        } else if (!on_response(std::get<WatchResponse>(response))) {
          stop = true;
        }
        if (failed || stop) {
          chunk_ec = asio::error::operation_aborted;
          break;
        }
      }
      pending.erase(0, start);
      if (pending.size() > kMaxWatchLineBytes) {
        failed = EtcdError{EtcdErrc::bad_response, "etcd sent a watch line over 16 MiB"};
        chunk_ec = asio::error::operation_aborted;
      }
      return data.size();
    };
    parser.on_chunk_body(on_chunk);
    // Last: what a cancelled read still refers to above outlives it.
    const DrainOnExit<std::remove_reference_t<decltype(stream)>> drain{context, stream};
    auto& lowest = beast::get_lowest_layer(stream);
    lowest.expires_after(timeout);
    auto ec = complete(context, cancelled,
                       [&](auto handler) { http::async_write(stream, req, handler); });
    if (ec) return unavailable(endpoint, "cannot send", ec);
    parser.body_limit(boost::none);  // a stream: each line is bounded instead
    ec = complete(context, cancelled,
                  [&](auto handler) { http::async_read_header(stream, buffer, parser, handler); });
    if (ec) return unavailable(endpoint, "no answer to the watch", ec);
    if (parser.get().result() != http::status::ok) {
      parser.body_limit(kMaxResponseBytes);
      complete(context, cancelled,
               [&](auto handler) { http::async_read(stream, buffer, parser, handler); });
      return error_of(static_cast<int>(parser.get().result_int()), parser.get().body());
    }
    lowest.expires_never();
    keep_alive(lowest.socket());
    while (!parser.is_done()) {
      ec = complete(context, cancelled,
                    [&](auto handler) { http::async_read_some(stream, buffer, parser, handler); });
      if (failed) return *failed;
      if (stop) return true;
      if (ec) return unavailable(endpoint, "the watch stream ended", ec);
    }
    return unavailable(endpoint, "the watch stream ended", asio::error::eof);
  };
  {
    std::lock_guard lock(mutex_);
    watch_context_ = &context;
  }
  auto result = with_stream<bool>(context, cancelled, endpoint, tls_.get(), timeout, stream_watch);
  {
    std::lock_guard lock(mutex_);
    watch_context_ = nullptr;
  }
  if (watch_cancelled_) return EtcdError{EtcdErrc::unavailable, "cancelled"};
  if (auto* e = std::get_if<EtcdError>(&result)) {
    if (e->code == EtcdErrc::unavailable && config_.endpoints.size() > 1) {
      preferred_endpoint_ = (preferred_endpoint_.load() + 1) % config_.endpoints.size();
    }
    if (e->code == EtcdErrc::unauthorized) {
      std::lock_guard lock(mutex_);
      token_.clear();  // log in again on the next attempt
    }
    return *e;
  }
  return EtcdError{EtcdErrc::unavailable, "the watch was ended by its reader"};
}

void EtcdClient::cancel_watch() {
  std::lock_guard lock(mutex_);
  watch_cancelled_ = true;  // before stop(): see complete()
  if (watch_context_) watch_context_->stop();
}

}  // namespace kpg::store
