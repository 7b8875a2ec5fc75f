// Connection's hops from Kafka threads back to the connection's thread: private to the
// connection's translation units (connection.cpp, connection_produce.cpp).
#pragma once

#include "pubsub/connection.h"

#include <memory>
#include <utility>

namespace kpg::pubsub {

// The callback given to the source: it holds the owner alive (so that `this` is valid when the
// task runs) and hops to the connection's thread.
template <class Task>
auto Connection::on_thread(Task task) {
  std::shared_ptr<void> holder = callbacks_.keep_alive ? callbacks_.keep_alive() : nullptr;
  return [this, post = callbacks_.post, holder = std::move(holder),
          task = std::move(task)](auto result) {
    post([this, holder, task, result = std::move(result)]() mutable {
      if (!shut_down_) task(std::move(result));
    });
  };
}

template <class Task>
auto Connection::on_thread_while_owned(Task task) {
  std::weak_ptr<void> owner;
  if (callbacks_.keep_alive) owner = callbacks_.keep_alive();
  return [this, post = callbacks_.post, owned = static_cast<bool>(callbacks_.keep_alive), owner,
          task = std::move(task)](auto result) {
    std::shared_ptr<void> holder = owner.lock();
    if (owned && !holder) return;  // the owner is gone, and this Connection with it
    post([this, holder = std::move(holder), task, result = std::move(result)]() mutable {
      if (!shut_down_) task(std::move(result));
    });
  };
}

}  // namespace kpg::pubsub
