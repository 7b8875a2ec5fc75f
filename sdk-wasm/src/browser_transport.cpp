#include "browser_transport.h"

#include <kpg/sdk/ws_url.h>

#include <emscripten/eventloop.h>
#include <emscripten/html5.h>
#include <emscripten/websocket.h>

#include <string>

namespace kpg::sdk {
namespace {

class BrowserTransport final : public Transport {
 public:
  explicit BrowserTransport(HttpProbe probe) : probe_(std::move(probe)) {}
  ~BrowserTransport() override {
    close();
    set_timer(-1, nullptr);
  }

  void open(const std::string& url, const Credentials& credentials, Handlers handlers) override {
    close_socket();  // a re-open (reconnect) starts from a clean slate
    ++attempt_;      // a probe of an earlier attempt reports nothing
    saw_error_ = false;
    opened_ = false;
    handlers_ = std::move(handlers);
    if (!emscripten_websocket_is_supported()) {
      return fail_soon(
          "this environment has no WebSocket (in node, run with "
          "--experimental-websocket or provide globalThis.WebSocket)");
    }
    // Validate here: a browser would resolve a relative "foo" against the page, or throw.
    std::string why;
    if (!parse_ws_url(url, &why)) return fail_soon("invalid URL '" + url + "': " + why);
    // url_ (for messages) never carries the credentials; the socket's URL does.
    const std::string socket_url =
        with_query_credentials(url, credentials.api_key, credentials.token);
    EmscriptenWebSocketCreateAttributes attrs;
    emscripten_websocket_init_create_attributes(&attrs);
    attrs.url = socket_url.c_str();
    attrs.protocols = nullptr;
    attrs.createOnMainThread = EM_TRUE;
    const EMSCRIPTEN_WEBSOCKET_T socket = emscripten_websocket_new(&attrs);
    if (socket <= 0) return fail_soon("cannot open a WebSocket to '" + url + "'");
    socket_ = socket;
    url_ = url;
    probe_url_ = http_url_of(socket_url);
    emscripten_websocket_set_onopen_callback(socket_, this, &BrowserTransport::on_open);
    emscripten_websocket_set_onmessage_callback(socket_, this, &BrowserTransport::on_message);
    emscripten_websocket_set_onerror_callback(socket_, this, &BrowserTransport::on_error);
    emscripten_websocket_set_onclose_callback(socket_, this, &BrowserTransport::on_close);
  }

  void send(std::string frame) override {
    if (socket_ <= 0) return;
    emscripten_websocket_send_binary(socket_, frame.data(),
                                     static_cast<std::uint32_t>(frame.size()));
  }

  void close() override {
    close_socket();
    ++attempt_;
    handlers_ = {};
  }

  void set_timer(std::int64_t delay_ms, std::function<void()> callback) override {
    if (timer_id_ != 0) {
      emscripten_clear_timeout(timer_id_);
      timer_id_ = 0;
    }
    timer_callback_ = std::move(callback);
    if (delay_ms < 0 || !timer_callback_) return;
    timer_id_ =
        emscripten_set_timeout(&BrowserTransport::on_timer, static_cast<double>(delay_ms), this);
  }

  std::int64_t now_ms() override { return static_cast<std::int64_t>(emscripten_get_now()); }

 private:
  void close_socket() {
    if (socket_ > 0) {
      emscripten_websocket_close(socket_, 1000, "client closed");
      emscripten_websocket_delete(socket_);  // also detaches our callbacks
      socket_ = 0;
    }
  }

  void fail_soon(std::string message) {
    pending_failure_ = std::move(message);
    set_timer(0, [this] {
      auto on_close = std::move(handlers_.on_close);
      handlers_ = {};
      if (on_close) on_close(Error{ErrorCode::transport, pending_failure_});
    });
  }

  static EM_BOOL on_open(int, const EmscriptenWebSocketOpenEvent*, void* user) {
    auto* self = static_cast<BrowserTransport*>(user);
    self->opened_ = true;
    if (self->handlers_.on_open) self->handlers_.on_open();
    return EM_TRUE;
  }

  static EM_BOOL on_message(int, const EmscriptenWebSocketMessageEvent* event, void* user) {
    auto* self = static_cast<BrowserTransport*>(user);
    if (!event->isText && self->handlers_.on_binary) {
      self->handlers_.on_binary(
          std::string_view(reinterpret_cast<const char*>(event->data), event->numBytes));
    }
    return EM_TRUE;
  }

  static EM_BOOL on_error(int, const EmscriptenWebSocketErrorEvent*, void* user) {
    // Browsers report no detail on errors and follow with a close event that carries the code.
    // Some WebSocket implementations (node's) send no close event when opening fails, so a
    // failure before open ends the attempt here.
    auto* self = static_cast<BrowserTransport*>(user);
    self->saw_error_ = true;
    if (!self->opened_) self->closed(1006, "");
    return EM_TRUE;
  }

  static EM_BOOL on_close(int, const EmscriptenWebSocketCloseEvent* event, void* user) {
    static_cast<BrowserTransport*>(user)->closed(event->code, event->reason);
    return EM_TRUE;
  }

  void closed(unsigned short code, const char* reason) {
    if (socket_ <= 0) return;
    // Browsers hide why a handshake failed: refused, unreachable and an HTTP error such as 404
    // (wrong route path) all look the same here.
    std::string message =
        saw_error_ && code == 1006
            ? "cannot open " + url_ +
                  " (connection refused or failed, or the server declined the WebSocket upgrade: "
                  "check host, port and route path)"
            : "connection closed (code " + std::to_string(code) +
                  (reason[0] ? ": " + std::string(reason) : "") + ")";
    emscripten_websocket_delete(socket_);
    socket_ = 0;
    auto on_close_handler = std::move(handlers_.on_close);
    handlers_ = {};
    if (!on_close_handler) return;
    if (opened_ || !probe_) return on_close_handler(Error{ErrorCode::transport, message});
    // Refused or unreachable? Only an HTTP request can tell (see make_browser_transport).
    probe_(probe_url_, [this, attempt = attempt_, on_close_handler = std::move(on_close_handler),
                        message = std::move(message)](int status, std::string body) {
      if (attempt != attempt_) return;  // closed, or a new attempt started meanwhile
      if (status == 401 || status == 403) return on_close_handler(http_refusal(status, body));
      on_close_handler(Error{ErrorCode::transport, message});
    });
  }

  static void on_timer(void* user) {
    auto* self = static_cast<BrowserTransport*>(user);
    self->timer_id_ = 0;
    auto callback = std::move(self->timer_callback_);
    self->timer_callback_ = nullptr;
    if (callback) callback();
  }

  HttpProbe probe_;
  EMSCRIPTEN_WEBSOCKET_T socket_ = 0;
  Handlers handlers_;
  std::string url_;
  std::string probe_url_;      // carries the credentials: never in a message
  std::uint64_t attempt_ = 0;  // counts open() and close() calls
  bool saw_error_ = false;
  bool opened_ = false;
  long timer_id_ = 0;
  std::function<void()> timer_callback_;
  std::string pending_failure_;
};

}  // namespace

std::unique_ptr<Transport> make_browser_transport(HttpProbe probe) {
  return std::make_unique<BrowserTransport>(std::move(probe));
}

}  // namespace kpg::sdk
