#include <kpg/sdk/native_client.h>

#include "beast_transport.h"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>

#include <chrono>
#include <future>
#include <mutex>
#include <thread>

namespace kpg::sdk {

namespace asio = boost::asio;

struct NativeClient::OwnedLoop {
  asio::io_context io{1};
  asio::executor_work_guard<asio::io_context::executor_type> guard{io.get_executor()};
  std::promise<void> finished;  // set when io.run() returned
  std::thread thread;
};

namespace {
// The core wants the provider's answer on its thread: an answer from any thread is posted there.
ClientOptions on_strand(ClientOptions options,
                        const asio::strand<asio::io_context::executor_type>& strand) {
  if (!options.token_provider) return options;
  options.token_provider = [provider = std::move(options.token_provider),
                            strand](ClientOptions::TokenCallback done) {
    provider([strand, done = std::move(done)](Result<std::string> token) {
      asio::post(strand, [done, token = std::move(token)]() mutable { done(std::move(token)); });
    });
  };
  return options;
}
}  // namespace

struct NativeClient::Impl {
  Impl(asio::io_context& io, ClientOptions options, TlsOptions tls)
      : strand(asio::make_strand(io)),
        client(make_beast_transport(strand, std::move(tls)),
               on_strand(std::move(options), strand)) {
    client.on_reconnect([this] {
      publish_server_info();
      if (on_reconnect) on_reconnect();
    });
  }

  // On the strand: the copy that server_info() reads from any thread.
  void publish_server_info() {
    std::lock_guard lock(info_mutex);
    info = client.server_info();
  }

  asio::strand<asio::io_context::executor_type> strand;
  Client client;
  std::function<void()> on_reconnect;  // the user's; strand only
  mutable std::mutex info_mutex;
  ServerInfo info;
};

NativeClient::NativeClient(ClientOptions options, TlsOptions tls)
    : loop_(std::make_unique<OwnedLoop>()) {
  impl_ = std::make_shared<Impl>(loop_->io, options, std::move(tls));
  loop_->thread = std::thread([loop = loop_.get()] {
    loop->io.run();
    loop->finished.set_value();
  });
}

NativeClient::NativeClient(asio::io_context& io, ClientOptions options, TlsOptions tls)
    : impl_(std::make_shared<Impl>(io, options, std::move(tls))) {}

NativeClient::~NativeClient() {
  if (!loop_) {
    // The caller's io_context: close on the strand; posted work keeps Impl alive until then.
    asio::post(impl_->strand, [impl = impl_] { impl->client.close(); });
    return;
  }
  std::promise<void> closed;
  asio::post(impl_->strand, [impl = impl_, &closed] {
    impl->client.close();
    closed.set_value();
  });
  closed.get_future().wait();
  // Let the WebSocket close handshake finish (the loop runs out of work), but never wait long
  // for a peer that does not answer.
  loop_->guard.reset();
  if (loop_->finished.get_future().wait_for(std::chrono::seconds(1)) != std::future_status::ready) {
    loop_->io.stop();
  }
  loop_->thread.join();
  impl_.reset();  // destroyed after the loop stopped: no handler can run concurrently
}

void NativeClient::async_connect(const std::string& url, Client::ConnectHandler handler) {
  asio::post(impl_->strand, [impl = impl_, url, handler = std::move(handler)]() mutable {
    impl->client.connect(url, [impl, handler = std::move(handler)](Result<Connected> r) {
      impl->publish_server_info();
      if (handler) handler(std::move(r));
    });
  });
}

void NativeClient::async_ping(std::string state, ProtocolSession::PingHandler handler) {
  asio::post(impl_->strand,
             [impl = impl_, state = std::move(state), handler = std::move(handler)]() mutable {
               impl->client.ping(std::move(state), std::move(handler));
             });
}

void NativeClient::async_list_offsets(const std::string& topic, std::int32_t partition,
                                      std::int64_t at, ProtocolSession::OffsetHandler handler) {
  asio::post(impl_->strand,
             [impl = impl_, topic, partition, at, handler = std::move(handler)]() mutable {
               impl->client.list_offsets(topic, partition, at, std::move(handler));
             });
}

void NativeClient::async_fetch(const std::string& topic, std::int32_t partition,
                               std::int64_t offset, ProtocolSession::FetchHandler handler) {
  asio::post(impl_->strand,
             [impl = impl_, topic, partition, offset, handler = std::move(handler)]() mutable {
               impl->client.fetch(topic, partition, offset, std::move(handler));
             });
}

void NativeClient::async_fetch(const std::string& topic, std::int32_t partition,
                               std::int64_t offset, Filter filter,
                               ProtocolSession::FilteredFetchHandler handler) {
  asio::post(impl_->strand, [impl = impl_, topic, partition, offset, filter = std::move(filter),
                             handler = std::move(handler)]() mutable {
    impl->client.fetch(topic, partition, offset, filter, std::move(handler));
  });
}

void NativeClient::on_disconnect(Client::DisconnectHandler handler) {
  asio::post(impl_->strand, [impl = impl_, handler = std::move(handler)]() mutable {
    impl->client.on_disconnect(std::move(handler));
  });
}

void NativeClient::on_reconnect(std::function<void()> handler) {
  asio::post(impl_->strand, [impl = impl_, handler = std::move(handler)]() mutable {
    impl->on_reconnect = std::move(handler);
  });
}

void NativeClient::on_close(Client::DisconnectHandler handler) {
  asio::post(impl_->strand, [impl = impl_, handler = std::move(handler)]() mutable {
    impl->client.on_close(std::move(handler));
  });
}

void NativeClient::async_metadata(std::vector<std::string> topics,
                                  ProtocolSession::MetadataHandler handler) {
  asio::post(impl_->strand,
             [impl = impl_, topics = std::move(topics), handler = std::move(handler)]() mutable {
               impl->client.metadata(std::move(topics), std::move(handler));
             });
}

ServerInfo NativeClient::server_info() const {
  std::lock_guard lock(impl_->info_mutex);
  return impl_->info;
}

namespace {

// What the application has been given, per partition, readable from any thread.
struct DeliveredOffsets {
  mutable std::mutex mutex;
  std::map<std::int32_t, std::int64_t> next;
};

class StrandSubscription final : public NativeSubscription {
 public:
  StrandSubscription(asio::strand<asio::io_context::executor_type> strand, bool single)
      : strand_(std::move(strand)), single_(single) {}

  void pause() override {
    paused_->store(true);
    asio::post(strand_, [inner = inner_] {
      if (*inner) (*inner)->pause();
    });
  }
  void resume() override {
    paused_->store(false);
    asio::post(strand_, [inner = inner_] {
      if (*inner) (*inner)->resume();
    });
  }
  void request(std::uint32_t batches) override {
    asio::post(strand_, [inner = inner_, batches] {
      if (*inner) (*inner)->request(batches);
    });
  }
  void cancel() override {
    active_->store(false);
    asio::post(strand_, [inner = inner_] {
      if (*inner) (*inner)->cancel();
    });
  }
  bool active() const override { return active_->load(); }
  bool paused() const override { return paused_->load(); }
  std::int64_t next_offset() const override {
    std::lock_guard lock(delivered_->mutex);
    return single_ && !delivered_->next.empty() ? delivered_->next.begin()->second : -1;
  }
  std::map<std::int32_t, std::int64_t> next_offsets() const override {
    std::lock_guard lock(delivered_->mutex);
    return delivered_->next;
  }

  // Set on the strand before any control call posted after subscribe() runs.
  std::shared_ptr<std::shared_ptr<Subscription>> inner_ =
      std::make_shared<std::shared_ptr<Subscription>>();
  std::shared_ptr<std::atomic<bool>> active_ = std::make_shared<std::atomic<bool>>(true);
  std::shared_ptr<std::atomic<bool>> paused_ = std::make_shared<std::atomic<bool>>(false);
  std::shared_ptr<DeliveredOffsets> delivered_ = std::make_shared<DeliveredOffsets>();

 private:
  asio::strand<asio::io_context::executor_type> strand_;
  bool single_;
};

}  // namespace

namespace {

// Starts `subscribe` on the strand with handlers that keep the handle's view up to date.
template <class Subscribe>
std::shared_ptr<NativeSubscription> start_subscription(
    const asio::strand<asio::io_context::executor_type>& strand, bool single,
    SubscriptionHandlers handlers, Subscribe subscribe) {
  auto handle = std::make_shared<StrandSubscription>(strand, single);
  asio::post(strand, [handlers = std::move(handlers), subscribe = std::move(subscribe),
                      inner = handle->inner_, active = handle->active_,
                      delivered = handle->delivered_]() mutable {
    SubscriptionHandlers wrapped;
    wrapped.on_records = [on_records = std::move(handlers.on_records), delivered,
                          active](const std::vector<Record>& batch) {
      if (!active->load()) return;  // cancel() was called (from any thread): deliver no more
      // Snapshot records are older than where the partition continues: they move nothing.
      if (!batch.back().snapshot) {
        std::lock_guard lock(delivered->mutex);
        delivered->next[batch.back().partition] = batch.back().offset + 1;
      }
      if (on_records) on_records(batch);
    };
    wrapped.on_error = [on_error = std::move(handlers.on_error), active](const Error& error) {
      active->store(false);
      if (on_error) on_error(error);
    };
    // At a partition's snapshot end, everything up to where live reading starts was delivered.
    // (The subscription is held weakly: it owns these handlers.)
    wrapped.on_snapshot_end = [on_end = std::move(handlers.on_snapshot_end),
                               weak = std::weak_ptr<std::shared_ptr<Subscription>>(inner),
                               delivered, active](std::int32_t partition) {
      if (!active->load()) return;
      if (auto owner = weak.lock(); owner && *owner) {
        const auto next = (*owner)->next_offsets();
        if (auto it = next.find(partition); it != next.end()) {
          std::lock_guard lock(delivered->mutex);
          delivered->next[partition] = it->second;
        }
      }
      if (on_end) on_end(partition);
    };
    wrapped.on_snapshot_complete = [on_complete = std::move(handlers.on_snapshot_complete),
                                    active] {
      if (active->load() && on_complete) on_complete();
    };
    if (!active->load()) return;  // cancelled before it started
    *inner = subscribe(std::move(wrapped));
  });
  return handle;
}

}  // namespace

std::shared_ptr<NativeSubscription> NativeClient::subscribe(const std::string& topic,
                                                            std::int32_t partition, StartAt from,
                                                            SubscriptionHandlers handlers,
                                                            SubscribeOptions options) {
  return start_subscription(impl_->strand, true, std::move(handlers),
                            [impl = impl_, topic, partition, from, options](auto wrapped) {
                              return impl->client.subscribe(topic, partition, from,
                                                            std::move(wrapped), options);
                            });
}

std::shared_ptr<NativeSubscription> NativeClient::subscribe_topic(
    const std::string& topic, std::vector<std::int32_t> partitions, StartAt from,
    SubscriptionHandlers handlers, SubscribeOptions options) {
  return start_subscription(
      impl_->strand, false, std::move(handlers),
      [impl = impl_, topic, partitions = std::move(partitions), from, options](auto wrapped) {
        return impl->client.subscribe_topic(topic, partitions, from, std::move(wrapped), options);
      });
}

void NativeClient::async_produce(const std::string& topic, std::optional<std::string> value,
                                 ProduceOptions options, ProtocolSession::ProduceHandler handler) {
  asio::post(impl_->strand, [impl = impl_, topic, value = std::move(value),
                             options = std::move(options), handler = std::move(handler)]() mutable {
    impl->client.produce(topic, std::move(value), std::move(options), std::move(handler));
  });
}

namespace {

class StrandGroupSubscription final : public NativeGroupSubscription {
 public:
  explicit StrandGroupSubscription(asio::strand<asio::io_context::executor_type> strand)
      : strand_(std::move(strand)) {}
  void async_commit(std::vector<TopicPartitionOffset> offsets,
                    GroupSubscription::CommitHandler handler) override {
    asio::post(strand_, [inner = inner_, offsets = std::move(offsets),
                         handler = std::move(handler)]() mutable {
      if (*inner) return (*inner)->commit(std::move(offsets), std::move(handler));
      if (handler) handler(Error{ErrorCode::closed, "the group subscription has ended"});
    });
  }
  Result<std::vector<TopicPartitionOffset>> commit(
      std::vector<TopicPartitionOffset> offsets) override {
    std::promise<Result<std::vector<TopicPartitionOffset>>> promise;
    auto future = promise.get_future();
    async_commit(std::move(offsets), [&promise](Result<std::vector<TopicPartitionOffset>> r) {
      promise.set_value(std::move(r));
    });
    return future.get();
  }
  void cancel() override {
    active_->store(false);
    asio::post(strand_, [inner = inner_] {
      if (*inner) (*inner)->cancel();
    });
  }
  bool active() const override { return active_->load(); }

  std::shared_ptr<std::shared_ptr<GroupSubscription>> inner_ =
      std::make_shared<std::shared_ptr<GroupSubscription>>();
  std::shared_ptr<std::atomic<bool>> active_ = std::make_shared<std::atomic<bool>>(true);

 private:
  asio::strand<asio::io_context::executor_type> strand_;
};

class StrandProducer final : public NativeProducer {
 public:
  StrandProducer(asio::strand<asio::io_context::executor_type> strand, std::shared_ptr<void> owner,
                 std::shared_ptr<Producer> inner)
      : strand_(std::move(strand)), owner_(std::move(owner)), inner_(std::move(inner)) {}
  ~StrandProducer() override {
    // Destroyed on the I/O thread, where the Producer lives.
    asio::post(strand_, [inner = std::move(inner_), owner = std::move(owner_)] {});
  }
  void send(const std::string& topic, std::optional<std::string> value, ProduceOptions options,
            ProtocolSession::ProduceHandler handler) override {
    asio::post(strand_, [inner = inner_, topic, value = std::move(value),
                         options = std::move(options), handler = std::move(handler)]() mutable {
      inner->send(topic, std::move(value), std::move(options), std::move(handler));
    });
  }
  void async_flush(std::function<void()> done) override {
    asio::post(strand_, [inner = inner_, done = std::move(done)]() mutable {
      inner->flush(std::move(done));
    });
  }
  void flush() override {
    std::promise<void> promise;
    auto future = promise.get_future();
    async_flush([&promise] { promise.set_value(); });
    future.wait();
  }

 private:
  asio::strand<asio::io_context::executor_type> strand_;
  std::shared_ptr<void> owner_;  // keeps the client's core alive as long as the Producer
  std::shared_ptr<Producer> inner_;
};

}  // namespace

std::shared_ptr<NativeProducer> NativeClient::producer(ProducerOptions options) {
  return std::make_shared<StrandProducer>(impl_->strand, impl_,
                                          std::make_shared<Producer>(impl_->client, options));
}

std::shared_ptr<NativeGroupSubscription> NativeClient::subscribe_group(
    const std::string& group, std::vector<std::string> topics, GroupHandlers handlers,
    GroupOptions options) {
  auto handle = std::make_shared<StrandGroupSubscription>(impl_->strand);
  asio::post(impl_->strand, [impl = impl_, group, topics = std::move(topics),
                             handlers = std::move(handlers), options, inner = handle->inner_,
                             active = handle->active_]() mutable {
    if (!active->load()) return;  // cancelled before it started
    handlers.on_error = [on_error = std::move(handlers.on_error), active](const Error& error) {
      active->store(false);
      if (on_error) on_error(error);
    };
    auto on_records = std::move(handlers.on_records);
    handlers.on_records = [on_records = std::move(on_records), active](
                              const std::string& topic, std::int32_t partition,
                              const std::vector<Record>& records) {
      if (active->load() && on_records) on_records(topic, partition, records);
    };
    *inner = impl->client.subscribe_group(group, std::move(topics), std::move(handlers), options);
  });
  return handle;
}

void NativeClient::close() {
  asio::post(impl_->strand, [impl = impl_] { impl->client.close(); });
}

namespace {
// Runs an async_* call and waits for its single callback.
template <class T, class Start>
Result<T> wait_for(Start&& start) {
  std::promise<Result<T>> promise;
  auto future = promise.get_future();
  start([&promise](Result<T> result) { promise.set_value(std::move(result)); });
  return future.get();
}
}  // namespace

Result<Connected> NativeClient::connect(const std::string& url) {
  return wait_for<Connected>([&](auto done) { async_connect(url, done); });
}

Result<std::string> NativeClient::ping(std::string state) {
  return wait_for<std::string>([&](auto done) { async_ping(std::move(state), done); });
}

Result<std::int64_t> NativeClient::list_offsets(const std::string& topic, std::int32_t partition,
                                                std::int64_t at) {
  return wait_for<std::int64_t>([&](auto done) { async_list_offsets(topic, partition, at, done); });
}

Result<std::vector<TopicInfo>> NativeClient::metadata(std::vector<std::string> topics) {
  return wait_for<std::vector<TopicInfo>>(
      [&](auto done) { async_metadata(std::move(topics), done); });
}

Result<Produced> NativeClient::produce(const std::string& topic, std::optional<std::string> value,
                                       ProduceOptions options) {
  return wait_for<Produced>(
      [&](auto done) { async_produce(topic, std::move(value), std::move(options), done); });
}

Result<std::vector<Record>> NativeClient::fetch(const std::string& topic, std::int32_t partition,
                                                std::int64_t offset) {
  return wait_for<std::vector<Record>>(
      [&](auto done) { async_fetch(topic, partition, offset, done); });
}

Result<ProtocolSession::FetchPage> NativeClient::fetch(const std::string& topic,
                                                       std::int32_t partition, std::int64_t offset,
                                                       Filter filter) {
  return wait_for<ProtocolSession::FetchPage>(
      [&](auto done) { async_fetch(topic, partition, offset, std::move(filter), done); });
}

}  // namespace kpg::sdk
