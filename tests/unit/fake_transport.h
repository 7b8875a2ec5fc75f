// An in-memory Transport for SDK core tests: records what was sent, lets the test deliver frames
// and move a virtual clock.
#pragma once

#include <kpg/pubsub.pb.h>
#include <kpg/sdk/client.h>
#include <kpg/sdk/transport.h>

#include <functional>
#include <string>
#include <vector>

namespace kpg::testing {

struct FakeTransport : kpg::sdk::Transport {
  struct State {
    std::string url;
    kpg::sdk::Credentials credentials;  ///< of the last open
    Handlers handlers;
    std::vector<std::string> sent;
    std::int64_t now = 1000;
    std::int64_t timer_at = -1;
    std::function<void()> timer;
    bool closed = false;
    int opens = 0;
  };
  explicit FakeTransport(State& s) : state(s) {}
  void open(const std::string& url, const kpg::sdk::Credentials& c, Handlers h) override {
    state.url = url;
    state.credentials = c;
    ++state.opens;
    state.closed = false;
    state.handlers = std::move(h);
  }
  void send(std::string frame) override { state.sent.push_back(std::move(frame)); }
  void close() override { state.closed = true; }
  void set_timer(std::int64_t delay, std::function<void()> cb) override {
    state.timer_at = delay < 0 ? -1 : state.now + delay;
    state.timer = delay < 0 ? nullptr : std::move(cb);
  }
  std::int64_t now_ms() override { return state.now; }
  State& state;
};

/// Client options with the given timeouts; reconnect without jitter, so tests can count.
inline kpg::sdk::ClientOptions options(std::int64_t connect_ms, std::int64_t request_ms,
                                       std::int64_t idle_ms = 100) {
  kpg::sdk::ClientOptions o;
  o.connect_timeout_ms = connect_ms;
  o.request_timeout_ms = request_ms;
  o.idle_fetch_interval_ms = idle_ms;
  o.reconnect.jitter = 0;
  return o;
}

inline void advance(FakeTransport::State& s, std::int64_t ms) {
  s.now += ms;
  // Fire the (re-armed) timer as long as it is due.
  while (s.timer && s.timer_at >= 0 && s.timer_at <= s.now) {
    auto cb = std::move(s.timer);
    s.timer = nullptr;
    s.timer_at = -1;
    cb();
  }
}

/// Answers the client's hello (the last frame sent) and removes it from `sent`, so that tests
/// see only what the client sends once negotiated. kpg = false answers as Apache APISIX does
/// ("unknown command"); kpg = true as a kpg gateway offering push, metadata, headers and codes.
inline void answer_hello(FakeTransport::State& s, bool kpg, std::uint32_t max_credit = 64) {
  kpg::pubsub::PubSubReq req;
  if (s.sent.empty() || !req.ParseFromString(s.sent.back()) || !req.has_cmd_hello()) return;
  s.sent.pop_back();
  kpg::pubsub::PubSubResp resp;
  resp.set_sequence(req.sequence());
  if (kpg) {
    auto* hello = resp.mutable_hello_resp();
    hello->set_protocol_version(1);
    for (const char* f : {"push", "metadata", "headers", "error_codes"}) hello->add_features(f);
    hello->mutable_limits()->set_max_credit(max_credit);
    hello->mutable_limits()->set_max_batch_bytes(1 << 20);
    hello->set_server("kpg-gateway/test");
  } else {
    resp.mutable_error_resp()->set_message("unknown command");
  }
  s.handlers.on_binary(resp.SerializeAsString());
}

/// The connection opens and the gateway turns out to be Apache APISIX.
inline void open_apisix(FakeTransport::State& s) {
  s.handlers.on_open();
  answer_hello(s, false);
}

/// The connection opens on a kpg gateway.
inline void open_kpg(FakeTransport::State& s, std::uint32_t max_credit = 64) {
  s.handlers.on_open();
  answer_hello(s, true, max_credit);
}

}  // namespace kpg::testing
