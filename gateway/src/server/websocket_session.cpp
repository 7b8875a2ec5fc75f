#include "server/websocket_session.h"

#include <spdlog/spdlog.h>
#include <boost/asio/post.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include <deque>

namespace kpg::server {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;

namespace {

// NextLayer: beast::tcp_stream (ws://) or beast::ssl_stream<beast::tcp_stream> (wss://).
template <class NextLayer>
class WebSocketSession final : public ClosableSession,
                               public std::enable_shared_from_this<WebSocketSession<NextLayer>> {
  using std::enable_shared_from_this<WebSocketSession<NextLayer>>::shared_from_this;
  using std::enable_shared_from_this<WebSocketSession<NextLayer>>::weak_from_this;

 public:
  template <class Transport>
  WebSocketSession(Transport&& transport, const config::ActiveRoute& route, ServerContext& context,
                   std::string client)
      : ws_(std::forward<Transport>(transport)),
        route_(route),
        context_(context),
        client_(std::move(client)) {}

  ~WebSocketSession() override { context_.sessions.remove(this); }

  void run(http::request<http::string_body> request) {
    const auto& limits = context_.session_limits;
    ws_.set_option(websocket::stream_base::timeout::suggested(beast::role_type::server));
    ws_.set_option(websocket::stream_base::decorator(
        [](websocket::response_type& res) { res.set(http::field::server, "kpg-gateway"); }));
    ws_.read_message_max(limits.max_frame_bytes);
    ws_.auto_fragment(false);  // one frame per message: fewer syscalls for large replies
    ws_.binary(true);
    ws_.async_accept(request,
                     [self = shared_from_this()](beast::error_code ec) { self->on_accept(ec); });
  }

  void close_async(std::uint16_t code, std::string reason) override {
    asio::post(ws_.get_executor(), [self = shared_from_this(), code, reason = std::move(reason)] {
      self->close_with(code, reason);
    });
  }

  const std::string& route_id() const override { return route_.route->id; }

 private:
  void on_accept(beast::error_code ec) {
    if (ec) {
      spdlog::info("event=handshake_failed route={} client={} err=\"{}\"", route_id(), client_,
                   ec.message());
      return;
    }
    context_.sessions.add(shared_from_this());
    spdlog::info("event=connect route={} client={}", route_id(), client_);
    read_next();
  }

  void read_next() {
    if (closing_) return;
    if (in_flight_ >= context_.session_limits.max_inflight_requests) {
      read_paused_ = true;  // back-pressure: resume when a reply completes
      return;
    }
    ws_.async_read(buffer_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      self->on_read(ec);
    });
  }

  void on_read(beast::error_code ec) {
    if (ec) {
      ended(ec == websocket::error::closed ? "client closed" : ec.message());
      return;
    }
    if (!ws_.got_binary()) {
      spdlog::warn("event=text_frame_skipped route={} client={} bytes={}", route_id(), client_,
                   buffer_.size());
    } else {
      const auto data = buffer_.cdata();
      const std::string_view frame(static_cast<const char*>(data.data()), data.size());
      auto outcome =
          pubsub::handle_frame(frame, *route_.source, context_.pubsub_limits, async_reply());
      switch (outcome.kind) {
        case pubsub::Outcome::Kind::reply:
          send(std::make_shared<const std::string>(std::move(outcome.reply)));
          break;
        case pubsub::Outcome::Kind::pending: ++in_flight_; break;
        case pubsub::Outcome::Kind::none: break;
      }
    }
    buffer_.consume(buffer_.size());
    read_next();
  }

  pubsub::AsyncReply async_reply() {
    // Runs on a Kafka worker; hop back onto this session's strand. A session that is gone by
    // then simply drops the reply.
    return [weak = weak_from_this()](std::string frame) {
      if (auto self = weak.lock()) {
        asio::post(self->ws_.get_executor(), [self, frame = std::move(frame)]() mutable {
          self->on_async_reply(std::move(frame));
        });
      }
    };
  }

  void on_async_reply(std::string frame) {
    --in_flight_;
    send(std::make_shared<const std::string>(std::move(frame)));
    if (read_paused_ && !closing_) {
      read_paused_ = false;
      read_next();
    }
  }

  void send(std::shared_ptr<const std::string> frame) {
    if (closing_) return;
    queued_bytes_ += frame->size();
    if (queued_bytes_ > context_.session_limits.max_write_queue_bytes) {
      spdlog::warn("event=write_queue_overflow route={} client={} queued_bytes={}", route_id(),
                   client_, queued_bytes_);
      close_with(static_cast<std::uint16_t>(websocket::close_code::policy_error),
                 "write queue overflow: client reads too slowly");
      return;
    }
    outbox_.push_back(std::move(frame));
    if (outbox_.size() == 1) write_next();
  }

  void write_next() {
    ws_.async_write(
        asio::buffer(*outbox_.front()),
        [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_write(ec); });
  }

  void on_write(beast::error_code ec) {
    if (ec) {
      ended("write failed: " + ec.message());
      return;
    }
    queued_bytes_ -= outbox_.front()->size();
    outbox_.pop_front();
    if (pending_close_) {
      outbox_.clear();
      start_close();
    } else if (!outbox_.empty()) {
      write_next();
    }
  }

  void close_with(std::uint16_t code, const std::string& reason) {
    if (closing_ || ended_) return;
    closing_ = true;
    close_reason_ =
        websocket::close_reason(static_cast<websocket::close_code>(code), reason.substr(0, 120));
    spdlog::info("event=closing route={} client={} code={} reason=\"{}\"", route_id(), client_,
                 code, reason);
    if (!outbox_.empty()) {
      pending_close_ = true;  // a write is in progress; close after it (Beast allows one writer)
      return;
    }
    start_close();
  }

  void start_close() {
    pending_close_ = false;
    ws_.async_close(close_reason_, [self = shared_from_this()](beast::error_code) {});
  }

  void ended(const std::string& why) {
    if (ended_) return;
    ended_ = true;
    spdlog::info("event=disconnect route={} client={} reason=\"{}\"", route_id(), client_, why);
  }

  websocket::stream<NextLayer> ws_;
  beast::flat_buffer buffer_;
  config::ActiveRoute route_;  // holds the route's Kafka source alive while we use it
  ServerContext& context_;
  std::string client_;
  std::deque<std::shared_ptr<const std::string>> outbox_;
  std::size_t queued_bytes_ = 0;
  int in_flight_ = 0;
  bool read_paused_ = false;
  bool closing_ = false;
  bool pending_close_ = false;
  bool ended_ = false;
  websocket::close_reason close_reason_;
};

}  // namespace

void run_websocket_session(asio::ip::tcp::socket socket, http::request<http::string_body> request,
                           const config::ActiveRoute& route, ServerContext& context,
                           std::string client) {
  std::make_shared<WebSocketSession<beast::tcp_stream>>(std::move(socket), route, context,
                                                        std::move(client))
      ->run(std::move(request));
}

void run_websocket_session(beast::ssl_stream<beast::tcp_stream> stream,
                           http::request<http::string_body> request,
                           const config::ActiveRoute& route, ServerContext& context,
                           std::string client) {
  std::make_shared<WebSocketSession<beast::ssl_stream<beast::tcp_stream>>>(
      std::move(stream), route, context, std::move(client))
      ->run(std::move(request));
}

}  // namespace kpg::server
