#include "server/websocket_session.h"

#include "pubsub/connection.h"
#include "server/listener.h"
#include "server/log_format.h"

#include <spdlog/spdlog.h>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include <boost/container/devector.hpp>

#include <algorithm>
#include <array>
#include <memory>

namespace kpg::server {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;

namespace {

// Beast (1.81) accepts close codes of 5000 and above and echoes them back; RFC 6455 defines
// none there (Autobahn 7.9.x: a protocol error). Beast already refuses the others.
bool is_undefined_close_code(std::uint16_t code) {
  return code >= 5000;
}

// NextLayer: beast::tcp_stream (ws://) or beast::ssl_stream<beast::tcp_stream> (wss://).
//
// Flow control, as in Beast's advanced server example: reading pauses while max_inflight_requests
// requests are with Kafka or while half of max_write_queue_bytes waits to be written, and
// resumes when a reply is queued or a write completes. Push subscriptions stop reading Kafka at
// that same half-full mark (their credit bounds them otherwise). Every request in flight holds the
// session, so a paused session (no read, maybe no write pending) stays alive to send its replies.
// Closing a client is the last resort, always with a logged reason: its queue overflows, the
// gateway's total queue is full while the client still has replies waiting, or a write makes no
// progress for write_timeout.
template <class NextLayer>
class WebSocketSession final : public ClosableSession,
                               public std::enable_shared_from_this<WebSocketSession<NextLayer>> {
  using std::enable_shared_from_this<WebSocketSession<NextLayer>>::shared_from_this;

 public:
  template <class Transport>
  WebSocketSession(Transport&& transport, const server::ActiveRoute& route, ServerContext& context,
                   std::string client, ConnectionSlot slot,
                   std::shared_ptr<const ClientIdentity> identity, std::shared_ptr<void> route_hold)
      : ws_(std::forward<Transport>(transport)),
        write_timer_(ws_.get_executor()),
        route_(route),
        context_(context),
        client_(std::move(client)),
        slot_(std::move(slot)),
        identity_(std::move(identity)),
        route_hold_(std::move(route_hold)),
        metrics_(context_.metrics ? context_.metrics->route(route_.route->id) : nullptr),
        connection_(*route_.source, context_.pubsub_limits, connection_callbacks(),
                    context_.server_name, topic_access(), produce_access(), group_context(),
                    read_context()) {}

  ~WebSocketSession() override {
    log_access();  // when nothing ended the session before (e.g. closed while reading paused)
    if (counted_) metrics_->connection_closed();
    context_.queued_write_bytes -= queued_bytes_;
    context_.sessions.remove(this);
  }

  /// `headers`: extra fields of the 101 answer (limit-count's quota).
  void run(http::request<http::string_body> request, HeaderList headers) {
    const auto& limits = context_.session_limits;
    auto timeouts = websocket::stream_base::timeout::suggested(beast::role_type::server);
    timeouts.handshake_timeout = limits.handshake_timeout;  // the 101 answer, and closing
    ws_.set_option(timeouts);
    ws_.set_option(websocket::stream_base::decorator(
        [headers = std::move(headers)](websocket::response_type& res) {
          res.set(http::field::server, "kpg-gateway");
          for (const auto& [name, value] : headers) res.set(name, value);
        }));
    ws_.read_message_max(limits.max_frame_bytes);
    ws_.auto_fragment(false);  // one frame per message: fewer syscalls for large replies
    ws_.binary(true);
    // The stream (and so the callback) lives inside this session; it runs only during reads.
    ws_.control_callback([this](websocket::frame_type kind, beast::string_view) {
      if (kind == websocket::frame_type::close) on_close_frame();
    });
    ws_.async_accept(request,
                     [self = shared_from_this()](beast::error_code ec) { self->on_accept(ec); });
  }

  void close_async(std::uint16_t code, std::string reason) override {
    asio::post(ws_.get_executor(), [self = shared_from_this(), code, reason = std::move(reason)] {
      self->close_with(code, reason);
    });
  }

  const std::string& route_id() const override { return route_.route->id; }
  std::string_view consumer() const override {
    return identity_ ? std::string_view(identity_->consumer) : std::string_view();
  }
  /// Who the upgrade authenticated as (its verified claims for jwt-auth); nullptr when the route
  /// requires no authentication.
  const ClientIdentity* identity() const { return identity_.get(); }

 private:
  void on_accept(beast::error_code ec) {
    if (ec) {
      spdlog::info("event=handshake_failed route={} client={} err=\"{}\"", route_id(), client_,
                   ec.message());
      return;
    }
    context_.sessions.add(shared_from_this());
    accepted_ = true;
    started_ = std::chrono::steady_clock::now();
    if (metrics_) {
      metrics_->connection_opened();
      counted_ = true;
    }
    spdlog::info("event=connect route={} client={} consumer={}", route_id(), client_,
                 identity_ ? identity_->consumer : "-");
    // Registered before the flag is read, and the drain sets it before asking every registered
    // session to close: a session accepted during the drain is closed by one or the other.
    if (context_.draining.load()) {
      close_with(static_cast<std::uint16_t>(websocket::close_code::going_away),
                 "server shutting down");
      return;
    }
    watch_credential_expiry();
    read_next();
  }

  // A token with exp authenticates the connection until then only: the session closes at that
  // time with 1008 so the client reconnects with a fresh token. The wait is cut into pieces of
  // at most a day (a far-away exp must not overflow the steady clock).
  void watch_credential_expiry() {
    if (!identity_ || !identity_->expires_at) return;
    // In milliseconds: exp (capped at the year 9999) in nanoseconds would overflow.
    const std::int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                    std::chrono::system_clock::now().time_since_epoch())
                                    .count();
    const std::int64_t left_ms = *identity_->expires_at * 1000 - now_ms;
    if (left_ms <= 0) {
      close_with(static_cast<std::uint16_t>(websocket::close_code::policy_error), "token expired");
      return;
    }
    if (!expiry_timer_) expiry_timer_ = std::make_unique<asio::steady_timer>(ws_.get_executor());
    expiry_timer_->expires_after(
        std::chrono::milliseconds(std::min<std::int64_t>(left_ms, 24 * 3600 * 1000)));
    expiry_timer_->async_wait([self = shared_from_this()](beast::error_code ec) {
      if (!ec && !self->closing_ && !self->ended_) self->watch_credential_expiry();
    });
  }

  // An undefined close code fails the connection. Beast would echo the code in its close reply
  // and sending another close frame from this callback is undefined behaviour in Beast, so the
  // connection is dropped (Autobahn accepts "close with 1002 or drop TCP").
  void on_close_frame() {
    const std::uint16_t code = ws_.reason().code;
    if (!is_undefined_close_code(code)) return;
    closing_ = true;
    note_end("gateway", static_cast<std::uint16_t>(websocket::close_code::protocol_error),
             "protocol error: invalid close code " + std::to_string(code));
    ended("protocol error: invalid close code " + std::to_string(code));
    drop_connection();
  }

  bool must_pause_reading() const {
    const auto& limits = context_.session_limits;
    return in_flight_ >= limits.max_inflight_requests ||
           queued_bytes_ >= limits.max_write_queue_bytes / 2;
  }

  void read_next() {
    if (closing_ || ended_) return;
    if (must_pause_reading()) {
      read_paused_ = true;  // back-pressure; resumed by on_async_reply / on_write
      return;
    }
    ws_.async_read(buffer_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      self->on_read(ec);
    });
  }

  void resume_reading_if_paused() {
    if (read_paused_ && !must_pause_reading()) {
      read_paused_ = false;
      read_next();
    }
  }

  void on_read(beast::error_code ec) {
    if (ec) {
      if (ec == websocket::error::closed) {
        const auto& reason = ws_.reason();
        note_end("client",
                 reason.code != 0 ? static_cast<std::uint16_t>(reason.code)
                                  : static_cast<std::uint16_t>(websocket::close_code::no_status),
                 std::string(reason.reason.data(), reason.reason.size()));
      } else {
        note_end("client", kAbnormalClose, ec.message());
      }
      ended(ec == websocket::error::closed ? "client closed" : ec.message());
      return;
    }
    if (!ws_.got_binary()) {
      // One line per address and second at most: a client sending text in a loop must not
      // turn into a log line per frame.
      if (const auto count = context_.client_log.admit("text_frame " + peer_ip(client_))) {
        spdlog::warn("event=text_frame_skipped route={} client={} bytes={} count={}", route_id(),
                     client_, buffer_.size(), *count);
      }
    } else {
      const auto data = buffer_.cdata();
      const std::string_view frame(static_cast<const char*>(data.data()), data.size());
      const auto refusals_before = connection_.rate_refusals();
      auto outcome = connection_.on_frame(frame);
      if (connection_.rate_refusals() != refusals_before) {
        if (const auto count = context_.client_log.admit("rate_limited " + peer_ip(client_))) {
          spdlog::warn("event=request_rate_limited route={} client={} limit_per_second={} count={}",
                       route_id(), client_, context_.pubsub_limits.max_requests_per_second, *count);
        }
      }
      switch (outcome.kind) {
        case pubsub::Outcome::Kind::reply:
          send(pubsub::Frame{std::move(outcome.reply), nullptr});
          break;
        case pubsub::Outcome::Kind::pending: ++in_flight_; break;
        case pubsub::Outcome::Kind::none: break;
      }
    }
    buffer_.consume(buffer_.size());
    read_next();
  }

  // The route's topic ACL (route_ holds the route alive as long as the connection) and the claims
  // the upgrade verified (identity_ lives as long as the session). Without a verified token a
  // claim entry allows nothing.
  pubsub::TopicAccess topic_access() const {
    const nlohmann::json* claims =
        identity_ && identity_->claims.is_object() ? &identity_->claims : nullptr;
    return {route_.route->topics ? &*route_.route->topics : nullptr, claims};
  }

  pubsub::ProduceAccess produce_access() const {
    const nlohmann::json* claims =
        identity_ && identity_->claims.is_object() ? &identity_->claims : nullptr;
    if (!route_.route->produce || !route_.sink) return {};
    return {route_.sink.get(), &*route_.route->produce, claims};
  }

  // The route's pinned filter, resolved with the verified claims; equal filters of every session
  // share their evaluations through the gateway's registry; snapshots share its memory bound.
  pubsub::ReadContext read_context() {
    const nlohmann::json* claims =
        identity_ && identity_->claims.is_object() ? &identity_->claims : nullptr;
    const auto& route = *route_.route;
    return {&context_.filters, route.filter ? &*route.filter : nullptr, claims,
            &context_.snapshot_memory};
  }

  // Consumer groups are scoped to the route and the authenticated consumer.
  pubsub::GroupContext group_context() const {
    const auto& route = *route_.route;
    return {context_.groups, route.groups, route.cluster(), route.id, std::string(consumer())};
  }

  // The protocol layer's way out. Kafka answers hop onto this session's strand through `post`;
  // each pending one holds the session (keep_alive): with reading paused there may be no other
  // operation keeping it alive.
  pubsub::Connection::Callbacks connection_callbacks() {
    pubsub::Connection::Callbacks callbacks;
    callbacks.reply = [this](pubsub::Frame frame) { on_async_reply(std::move(frame)); };
    callbacks.push = [this](pubsub::Frame frame) {
      send(std::move(frame));
      update_congestion();
    };
    callbacks.post = [this](std::function<void()> task) {
      asio::post(ws_.get_executor(), std::move(task));
    };
    callbacks.keep_alive = [this] { return std::shared_ptr<void>(shared_from_this()); };
    callbacks.write_pending = [this] { return !outbox_.empty(); };
    // A timer of its own per task; it holds the session weakly, so that it never delays its end.
    callbacks.schedule = [this](std::chrono::milliseconds delay, std::function<void()> task) {
      auto timer = std::make_shared<asio::steady_timer>(ws_.get_executor(), delay);
      std::weak_ptr<WebSocketSession> session = this->weak_from_this();
      timer->async_wait([timer, session, task = std::move(task)](beast::error_code ec) {
        if (ec) return;
        if (auto alive = session.lock()) task();
      });
    };
    callbacks.observer = metrics_.get();
    return callbacks;
  }

  void on_async_reply(pubsub::Frame frame) {
    --in_flight_;
    send(std::move(frame));
    resume_reading_if_paused();
  }

  // Subscriptions stop reading Kafka while half the write queue is taken, like reading requests.
  void update_congestion() {
    connection_.set_congested(queued_bytes_ >= context_.session_limits.max_write_queue_bytes / 2);
  }

  void send(pubsub::Frame frame) {
    if (closing_ || ended_) return;
    const auto& limits = context_.session_limits;
    const std::size_t size = frame.size();
    if (queued_bytes_ + size > limits.max_write_queue_bytes) {
      spdlog::warn("event=write_queue_overflow route={} client={} queued_bytes={}", route_id(),
                   client_, queued_bytes_);
      if (metrics_) metrics_->slow_client_closed(SlowClose::queue_overflow);
      close_with(static_cast<std::uint16_t>(websocket::close_code::policy_error),
                 "write queue overflow: client reads too slowly");
      return;
    }
    // A client with nothing queued is keeping up and still gets its reply; one with replies
    // waiting is what fills the gateway's memory.
    if (!outbox_.empty() &&
        context_.queued_write_bytes.load() + size > limits.max_total_write_queue_bytes) {
      spdlog::warn("event=total_write_queue_full route={} client={} queued_bytes={} total={}",
                   route_id(), client_, queued_bytes_, context_.queued_write_bytes.load());
      if (metrics_) metrics_->slow_client_closed(SlowClose::total_queue_full);
      close_with(static_cast<std::uint16_t>(websocket::close_code::try_again_later),
                 "gateway write buffers full: client reads too slowly");
      return;
    }
    queued_bytes_ += size;
    context_.queued_write_bytes += size;
    outbox_.push_back(std::move(frame));
    if (outbox_.size() == 1) write_next();
  }

  // One gather write: the frame's own head, then the batch body it shares with other sessions.
  void write_next() {
    arm_write_timer();
    const pubsub::Frame& frame = outbox_.front();
    const std::array<asio::const_buffer, 2> buffers{
        asio::buffer(frame.head),
        frame.body ? asio::buffer(frame.body->body) : asio::const_buffer()};
    ws_.async_write(buffers, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      self->on_write(ec);
    });
  }

  void on_write(beast::error_code ec) {
    writing_ = false;
    if (ec) {
      note_end("client", kAbnormalClose, "write failed: " + ec.message());
      ended("write failed: " + ec.message());
      return;
    }
    bytes_sent_ += outbox_.front().size();
    queued_bytes_ -= outbox_.front().size();
    context_.queued_write_bytes -= outbox_.front().size();
    outbox_.pop_front();
    update_congestion();
    if (outbox_.empty()) {
      connection_.on_written();
      // Idle: the timer (and the memory of its wait) is not held until it would have fired.
      write_timer_.cancel();
    }
    if (pending_close_) {
      start_close();  // close_with left nothing else in the outbox
      return;
    }
    if (!outbox_.empty()) write_next();
    resume_reading_if_paused();
  }

  // Starts the clock on the write (or close) just begun. Only progress stops it: a client that
  // stopped reading cannot hold its queue, a socket and a file descriptor for ever. While writes
  // follow each other the timer that watches the clock is set once per timeout period, not per
  // write (setting it under the timer queue's lock was a visible part of each write); it is
  // cancelled when the queue empties.
  void arm_write_timer() {
    writing_ = true;
    write_started_ = std::chrono::steady_clock::now();
    if (!write_timer_armed_) wait_write_timer(context_.session_limits.write_timeout);
  }

  void wait_write_timer(std::chrono::steady_clock::duration after) {
    write_timer_armed_ = true;
    write_timer_.expires_after(after);
    write_timer_.async_wait(
        [self = shared_from_this()](beast::error_code ec) { self->on_write_timer(ec); });
  }

  void on_write_timer(beast::error_code ec) {
    write_timer_armed_ = false;
    if (ended_ || !writing_) return;  // idle: the next write sets it again
    // Cancelled (the queue emptied), but a write began before this handler ran: that write found
    // the timer still armed and relies on it, so the clock keeps running for it.
    if (ec && ec != asio::error::operation_aborted) return;
    const auto timeout = context_.session_limits.write_timeout;
    const auto waited = std::chrono::steady_clock::now() - write_started_;
    if (waited >= timeout) return on_write_timeout();
    wait_write_timer(timeout - waited);
  }

  void on_write_timeout() {
    const auto ms = context_.session_limits.write_timeout.count();
    spdlog::warn("event=write_timeout route={} client={} queued_bytes={} timeout_ms={}", route_id(),
                 client_, queued_bytes_, ms);
    if (metrics_) metrics_->slow_client_closed(SlowClose::write_timeout);
    closing_ = true;
    note_end("gateway", kAbnormalClose,
             "write timeout: the client took no data for " + std::to_string(ms) + " ms");
    ended("write timeout: the client took no data for " + std::to_string(ms) + " ms");
    drop_connection();  // no close frame can get through a connection that takes no data
  }

  void drop_connection() {
    beast::error_code ignored;
    beast::get_lowest_layer(ws_).socket().close(ignored);
  }

  void close_with(std::uint16_t code, const std::string& reason) {
    if (closing_ || ended_) return;
    closing_ = true;
    note_end("gateway", code, reason);
    connection_.shutdown();
    if (expiry_timer_) expiry_timer_->cancel();
    close_reason_ =
        websocket::close_reason(static_cast<websocket::close_code>(code), reason.substr(0, 120));
    spdlog::info("event=closing route={} client={} code={} reason=\"{}\"", route_id(), client_,
                 code, reason);
    if (!outbox_.empty()) {
      // A write is in progress: close after it (Beast allows one writer). Only its frame must
      // stay alive; the replies behind it will never be sent and are freed now.
      while (outbox_.size() > 1) {
        queued_bytes_ -= outbox_.back().size();
        context_.queued_write_bytes -= outbox_.back().size();
        outbox_.pop_back();
      }
      pending_close_ = true;
      return;
    }
    start_close();
  }

  void start_close() {
    pending_close_ = false;
    arm_write_timer();
    ws_.async_close(close_reason_, [self = shared_from_this()](beast::error_code) {
      self->writing_ = false;
      self->write_timer_.cancel();
    });
  }

  void ended(const std::string& why) {
    if (ended_) return;
    ended_ = true;
    write_timer_.cancel();                       // it holds this session
    if (expiry_timer_) expiry_timer_->cancel();  // so does this one
    connection_.shutdown();  // its pending Kafka work holds this session; cancel it
    spdlog::info("event=disconnect route={} client={} reason=\"{}\"", route_id(), client_, why);
    log_access();
  }

  // The first cause of the end wins: the client's close or failure, or the gateway's reason for
  // closing (route or consumer deleted, shutdown, slow client, expired credential).
  void note_end(const char* by, std::uint16_t code, std::string reason) {
    if (closed_by_ != nullptr) return;
    closed_by_ = by;
    end_code_ = code;
    end_reason_ = std::move(reason);
    ended_at_ = std::chrono::steady_clock::now();
  }

  // One line per session, when it ends: who read what, how much, for how long, and why it ended.
  void log_access() {
    if (!accepted_ || access_logged_) return;
    access_logged_ = true;
    const auto end = closed_by_ != nullptr ? ended_at_ : std::chrono::steady_clock::now();
    spdlog::info(
        "event=access route={} client={} consumer={} topics={} records={} bytes={} "
        "duration_ms={} closed_by={} code={} reason={}",
        route_id(), client_, identity_ ? identity_->consumer : "-",
        log_quoted(connection_.topics_read().summary()), connection_.records_sent(), bytes_sent_,
        std::chrono::duration_cast<std::chrono::milliseconds>(end - started_).count(),
        closed_by_ != nullptr ? closed_by_ : "gateway", end_code_,
        log_quoted(closed_by_ != nullptr ? end_reason_ : "session released"));
  }

  // No close frame was exchanged (RFC 6455's 1006, never sent on the wire).
  static constexpr std::uint16_t kAbnormalClose = 1006;

  websocket::stream<NextLayer> ws_;
  asio::steady_timer write_timer_;
  beast::flat_buffer buffer_;
  server::ActiveRoute route_;  // holds the route's Kafka source alive while we use it
  ServerContext& context_;
  std::string client_;
  ConnectionSlot slot_;
  std::shared_ptr<const ClientIdentity> identity_;
  std::shared_ptr<void> route_hold_;  // this connection's place in the route's limit-conn count
  std::shared_ptr<RouteMetrics> metrics_;  // nullptr: not counted
  bool counted_ = false;                   // in the route's connections gauge
  // Only for credentials that expire: most sessions do not pay for a timer.
  std::unique_ptr<asio::steady_timer> expiry_timer_;
  // Not std::deque: libstdc++'s allocates half a KiB even while empty, per idle connection.
  boost::container::devector<pubsub::Frame> outbox_;
  std::size_t queued_bytes_ = 0;
  int in_flight_ = 0;
  std::chrono::steady_clock::time_point write_started_{};
  bool write_timer_armed_ = false;
  bool writing_ = false;
  bool read_paused_ = false;
  bool closing_ = false;
  bool pending_close_ = false;
  bool ended_ = false;
  websocket::close_reason close_reason_;
  // For the access line (log_access()).
  bool accepted_ = false;
  bool access_logged_ = false;
  std::chrono::steady_clock::time_point started_{};
  std::chrono::steady_clock::time_point ended_at_{};
  std::uint64_t bytes_sent_ = 0;
  const char* closed_by_ = nullptr;  // "client" or "gateway" once the end's cause is known
  std::uint16_t end_code_ = kAbnormalClose;
  std::string end_reason_;
  pubsub::Connection connection_;  // last: its callbacks use the members above
};

}  // namespace

void run_websocket_session(asio::ip::tcp::socket socket, http::request<http::string_body> request,
                           const server::ActiveRoute& route, ServerContext& context,
                           std::string client, ConnectionSlot slot,
                           std::shared_ptr<const ClientIdentity> identity,
                           RouteLimiter::Admission admission) {
  std::make_shared<WebSocketSession<beast::tcp_stream>>(
      std::move(socket), route, context, std::move(client), std::move(slot), std::move(identity),
      std::move(admission.hold))
      ->run(std::move(request), std::move(admission.headers));
}

void run_websocket_session(beast::ssl_stream<beast::tcp_stream> stream,
                           http::request<http::string_body> request,
                           const server::ActiveRoute& route, ServerContext& context,
                           std::string client, ConnectionSlot slot,
                           std::shared_ptr<const ClientIdentity> identity,
                           RouteLimiter::Admission admission) {
  std::make_shared<WebSocketSession<beast::ssl_stream<beast::tcp_stream>>>(
      std::move(stream), route, context, std::move(client), std::move(slot), std::move(identity),
      std::move(admission.hold))
      ->run(std::move(request), std::move(admission.headers));
}

}  // namespace kpg::server
