// An in-memory Transport for SDK core tests: records what was sent, lets the test deliver frames
// and move a virtual clock.
#pragma once

#include <kpg/sdk/client.h>
#include <kpg/sdk/transport.h>

#include <functional>
#include <string>
#include <vector>

namespace kpg::testing {

struct FakeTransport : kpg::sdk::Transport {
  struct State {
    std::string url;
    Handlers handlers;
    std::vector<std::string> sent;
    std::int64_t now = 1000;
    std::int64_t timer_at = -1;
    std::function<void()> timer;
    bool closed = false;
    int opens = 0;
  };
  explicit FakeTransport(State& s) : state(s) {}
  void open(const std::string& url, Handlers h) override {
    state.url = url;
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

}  // namespace kpg::testing
