#include <kpg/sdk/client.h>

#include <utility>

namespace kpg::sdk {

Client::Client(std::unique_ptr<Transport> transport, ClientOptions options)
    : transport_(std::move(transport)), options_(options) {}

Client::~Client() {
  close();
}

void Client::connect(const std::string& url, ConnectHandler handler) {
  if (state_ != State::idle) {
    handler(Error{ErrorCode::closed, "connect() may be called once per Client"});
    return;
  }
  state_ = State::connecting;
  on_connect_ = std::move(handler);
  transport_->set_timer(options_.connect_timeout_ms, [this] {
    if (state_ != State::connecting) return;
    transport_->close();
    state_ = State::closed;
    if (auto h = std::exchange(on_connect_, nullptr)) {
      h(Error{ErrorCode::timeout, "connect timed out"});
    }
  });
  transport_->open(url, Transport::Handlers{
                            [this] {
                              state_ = State::open;
                              transport_->set_timer(-1, nullptr);
                              if (auto h = std::exchange(on_connect_, nullptr)) h(Connected{});
                            },
                            [this](std::string_view frame) {
                              // Unpaired / undecodable frames cannot be attributed to a
                              // request; they are dropped (the gateway's "wrong command" reply
                              // to a garbage frame is one of them).
                              session_.on_frame(frame);
                              arm_timer();
                            },
                            [this](Error error) { on_transport_closed(std::move(error)); },
                        });
}

void Client::on_transport_closed(Error error) {
  const bool was_connecting = state_ == State::connecting;
  state_ = State::closed;
  transport_->set_timer(-1, nullptr);
  if (was_connecting) {
    if (auto h = std::exchange(on_connect_, nullptr)) h(std::move(error));
    return;
  }
  session_.fail_all(Error{ErrorCode::closed, "connection lost: " + error.message});
  if (on_disconnect_) on_disconnect_(error);
}

template <class Handler>
bool Client::reject_if_not_open(Handler& handler) {
  if (state_ == State::open) return false;
  handler(Error{ErrorCode::closed,
                state_ == State::connecting ? "not connected yet" : "client is not connected"});
  return true;
}

void Client::ping(std::string state, ProtocolSession::PingHandler handler) {
  if (reject_if_not_open(handler)) return;
  send(session_.ping(std::move(state), transport_->now_ms() + options_.request_timeout_ms,
                     std::move(handler)));
}

void Client::list_offsets(const std::string& topic, std::int32_t partition, std::int64_t at,
                          ProtocolSession::OffsetHandler handler) {
  if (reject_if_not_open(handler)) return;
  send(session_.list_offsets(topic, partition, at,
                             transport_->now_ms() + options_.request_timeout_ms,
                             std::move(handler)));
}

void Client::fetch(const std::string& topic, std::int32_t partition, std::int64_t offset,
                   ProtocolSession::FetchHandler handler) {
  if (reject_if_not_open(handler)) return;
  send(session_.fetch(topic, partition, offset, transport_->now_ms() + options_.request_timeout_ms,
                      std::move(handler)));
}

void Client::send(ProtocolSession::Outgoing outgoing) {
  transport_->send(std::move(outgoing.frame));
  arm_timer();
}

void Client::arm_timer() {
  const std::int64_t deadline = session_.next_deadline();
  if (deadline < 0) {
    transport_->set_timer(-1, nullptr);
    return;
  }
  const std::int64_t delay = deadline - transport_->now_ms();
  transport_->set_timer(delay > 0 ? delay : 0, [this] {
    session_.expire(transport_->now_ms());
    arm_timer();
  });
}

void Client::close() {
  if (state_ == State::closed || state_ == State::idle) {
    state_ = State::closed;
    return;
  }
  const bool was_connecting = state_ == State::connecting;
  state_ = State::closed;
  transport_->set_timer(-1, nullptr);
  transport_->close();
  if (was_connecting) {
    if (auto h = std::exchange(on_connect_, nullptr)) {
      h(Error{ErrorCode::closed, "closed before the connection opened"});
    }
  }
  session_.fail_all(Error{ErrorCode::closed, "client closed"});
}

}  // namespace kpg::sdk
