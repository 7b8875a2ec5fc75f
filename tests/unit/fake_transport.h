// An in-memory Transport for SDK core tests: records what was sent, lets the test deliver frames
// and move a virtual clock.
#pragma once

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
  };
  explicit FakeTransport(State& s) : state(s) {}
  void open(const std::string& url, Handlers h) override {
    state.url = url;
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
