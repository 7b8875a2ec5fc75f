// Small synchronous HTTP and WebSocket clients for integration tests (Boost.Beast).
#pragma once

#include <kpg/pubsub.pb.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace kpg::testing {

struct HttpResult {
  int status = 0;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  ///< as received, in order
  /// The first header of that name (any case), or "" when there is none.
  std::string header(std::string_view name) const {
    for (const auto& [n, v] : headers) {
      if (boost::beast::iequals(n, name)) return v;
    }
    return "";
  }
  nlohmann::json json() const { return nlohmann::json::parse(body, nullptr, false); }
};

/// `headers` are set last, so they may replace the Host header.
inline HttpResult http_request(
    const std::string& port, boost::beast::http::verb method, const std::string& target,
    const std::optional<std::string>& api_key = std::nullopt, const std::string& body = "",
    const std::vector<std::pair<std::string, std::string>>& headers = {}) {
  namespace beast = boost::beast;
  boost::asio::io_context io;
  beast::tcp_stream stream(io);
  boost::asio::ip::tcp::resolver resolver(io);
  stream.connect(resolver.resolve("127.0.0.1", port));
  beast::http::request<beast::http::string_body> req(method, target, 11);
  req.set(beast::http::field::host, "127.0.0.1");
  if (api_key) req.set("X-API-KEY", *api_key);
  if (!body.empty()) {
    req.set(beast::http::field::content_type, "application/json");
    req.body() = body;
    req.prepare_payload();
  }
  for (const auto& [name, value] : headers) req.set(name, value);
  beast::http::write(stream, req);
  beast::flat_buffer buffer;
  beast::http::response<beast::http::string_body> res;
  beast::http::read(stream, buffer, res);
  HttpResult result{static_cast<int>(res.result_int()), res.body(), {}};
  for (const auto& field : res) {
    result.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
  }
  return result;
}

/// Reads one WebSocket message into `buffer` on `io` (which nothing else runs), waiting at most
/// `timeout`; past it the read is cancelled and boost::asio::error::timed_out returned (the stream
/// is then unusable). A socket's SO_RCVTIMEO would not bound a blocking read: Asio polls the
/// socket again, with no timeout, when recv gives EAGAIN.
template <class WebSocket>
boost::beast::error_code read_within(boost::asio::io_context& io, WebSocket& ws,
                                     boost::beast::flat_buffer& buffer,
                                     std::chrono::milliseconds timeout) {
  std::optional<boost::beast::error_code> result;
  ws.async_read(buffer, [&result](boost::beast::error_code ec, std::size_t) { result = ec; });
  io.restart();
  io.run_for(timeout);
  if (result) return *result;
  boost::beast::error_code ignored;
  boost::beast::get_lowest_layer(ws).cancel(ignored);  // the read completes, aborted
  io.restart();
  io.run_for(std::chrono::seconds(5));
  return boost::asio::error::timed_out;
}

/// Raw WebSocket access for protocol edge cases the SDK never produces.
class RawSocket {
 public:
  /// `receive_buffer_bytes` > 0 sets SO_RCVBUF before connecting, so that the TCP window the
  /// peer sees is small from the first byte (set after connecting, the kernel may already have
  /// offered a large window, and how much it then takes depends on the machine's tcp_rmem).
  explicit RawSocket(const std::string& port, const std::string& path = "/kafka",
                     int receive_buffer_bytes = 0)
      : ws_(io_) {
    auto& socket = ws_.next_layer();
    socket.open(boost::asio::ip::tcp::v4());
    if (receive_buffer_bytes > 0)
      socket.set_option(boost::asio::socket_base::receive_buffer_size(receive_buffer_bytes));
    socket.connect(
        {boost::asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(std::stoi(port))});
    ws_.handshake("127.0.0.1:" + port, path);
  }
  void send_binary(const std::string& bytes) {
    ws_.binary(true);
    ws_.write(boost::asio::buffer(bytes));
  }
  void send_text(const std::string& text) {
    ws_.text(true);
    ws_.write(boost::asio::buffer(text));
  }
  /// How long receive() waits for a frame (30 s unless set; see read_within()).
  void set_receive_timeout(std::chrono::milliseconds timeout) { receive_timeout_ = timeout; }
  /// Next response; nullopt when the connection closed instead (see close_code()), or when none
  /// came within the receive timeout (see timed_out(); the connection is then unusable).
  std::optional<pubsub::PubSubResp> receive() {
    boost::beast::flat_buffer buffer;
    const auto ec = read_within(io_, ws_, buffer, receive_timeout_);
    if (ec == boost::asio::error::timed_out) timed_out_ = true;
    if (ec) return std::nullopt;
    pubsub::PubSubResp resp;
    if (!resp.ParseFromString(boost::beast::buffers_to_string(buffer.data()))) return std::nullopt;
    return resp;
  }
  bool timed_out() const { return timed_out_; }
  /// Sends a close frame with `code` and waits for the reply; the error when none came back.
  boost::beast::error_code close(std::uint16_t code) {
    boost::beast::error_code ec;
    ws_.close(boost::beast::websocket::close_reason(code), ec);
    return ec;
  }
  int close_code() const { return static_cast<int>(ws_.reason().code); }
  /// The TCP socket's descriptor (socket options).
  int native_handle() { return ws_.next_layer().native_handle(); }
  std::string close_reason() const {
    return timed_out_ ? std::string("no frame within the receive timeout")
                      : std::string(ws_.reason().reason.c_str());
  }

 private:
  boost::asio::io_context io_;
  boost::beast::websocket::stream<boost::asio::ip::tcp::socket> ws_;
  std::chrono::milliseconds receive_timeout_{30'000};
  bool timed_out_ = false;
};

/// An upgrade that may carry extra headers (repeated names allowed): an open WebSocket connection,
/// or the HTTP answer that refused it (status, headers, body).
class Upgrade {
 public:
  Upgrade(const std::string& port, const std::string& target,
          const std::vector<std::pair<std::string, std::string>>& headers = {})
      : ws_(io_) {
    namespace websocket = boost::beast::websocket;
    boost::asio::ip::tcp::resolver resolver(io_);
    boost::asio::connect(ws_.next_layer(), resolver.resolve("127.0.0.1", port));
    ws_.set_option(websocket::stream_base::decorator([headers](websocket::request_type& req) {
      for (const auto& [name, value] : headers) req.insert(name, value);
    }));
    boost::beast::error_code ec;
    ws_.handshake(response_, "127.0.0.1:" + port, target, ec);
    open_ = !ec;
    if (open_) local_port_ = std::to_string(ws_.next_layer().local_endpoint().port());
  }
  bool open() const { return open_; }
  int status() const { return static_cast<int>(response_.result_int()); }
  std::string header(const std::string& name) const {
    const auto it = response_.find(name);
    return it == response_.end() ? "(none)" : std::string(it->value());
  }
  nlohmann::json body() const { return nlohmann::json::parse(response_.body(), nullptr, false); }
  /// "127.0.0.1:PORT": this connection as the gateway sees its TCP peer.
  std::string peer() const { return "127.0.0.1:" + local_port_; }
  /// Sends `frame` and returns the reply (default when there is none).
  pubsub::PubSubResp request(const std::string& frame) {
    ws_.binary(true);
    ws_.write(boost::asio::buffer(frame));
    boost::beast::flat_buffer buffer;
    boost::beast::error_code ec;
    ws_.read(buffer, ec);
    pubsub::PubSubResp resp;
    if (!ec) resp.ParseFromString(boost::beast::buffers_to_string(buffer.data()));
    return resp;
  }
  void close(std::uint16_t code, const std::string& reason = "") {
    namespace websocket = boost::beast::websocket;
    boost::beast::error_code ec;
    ws_.close(websocket::close_reason(static_cast<websocket::close_code>(code), reason), ec);
  }
  /// Reads until the gateway closes the connection; the close code it sent.
  int wait_closed() {
    boost::beast::flat_buffer buffer;
    boost::beast::error_code ec;
    while (!ec) ws_.read(buffer, ec);
    return static_cast<int>(ws_.reason().code);
  }

 private:
  boost::asio::io_context io_;
  boost::beast::websocket::stream<boost::asio::ip::tcp::socket> ws_;
  boost::beast::websocket::response_type response_;
  bool open_ = false;
  std::string local_port_;
};

inline std::string ping_frame(std::int64_t sequence, const std::string& state) {
  pubsub::PubSubReq req;
  req.set_sequence(sequence);
  req.mutable_cmd_ping()->set_state(state);
  return req.SerializeAsString();
}

inline std::string list_offset_frame(std::int64_t sequence, const std::string& topic,
                                     std::int32_t partition, std::int64_t timestamp) {
  pubsub::PubSubReq req;
  req.set_sequence(sequence);
  auto* cmd = req.mutable_cmd_kafka_list_offset();
  cmd->set_topic(topic);
  cmd->set_partition(partition);
  cmd->set_timestamp(timestamp);
  return req.SerializeAsString();
}

inline std::string fetch_frame(std::int64_t sequence, const std::string& topic,
                               std::int32_t partition, std::int64_t offset) {
  pubsub::PubSubReq req;
  req.set_sequence(sequence);
  auto* cmd = req.mutable_cmd_kafka_fetch();
  cmd->set_topic(topic);
  cmd->set_partition(partition);
  cmd->set_offset(offset);
  return req.SerializeAsString();
}

}  // namespace kpg::testing
