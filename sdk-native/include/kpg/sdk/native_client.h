// kpg::sdk::NativeClient — the SDK for native programs: the core Client over a Boost.Beast
// WebSocket transport.
//
// Two ways to use it:
//  - async_*: callbacks run on the client's io_context thread (never on the caller's thread);
//  - blocking calls (connect, ping, list_offsets, fetch) for small programs and tests; they wait
//    for the async call to complete. Never call a blocking method from a callback.
//
// Threading: every public method is safe to call from any thread; work is serialized on an
// internal strand. Lifetime: the destructor closes the connection, fails pending calls with
// ErrorCode::closed and, when the client owns its io_context, joins its thread.
#pragma once

#include <kpg/sdk/client.h>
#include <kpg/sdk/producer.h>
#include <kpg/sdk/types.h>

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace boost::asio {
class io_context;
}

namespace kpg::sdk {

/// Thread-safe control of a subscription made by NativeClient::subscribe.
class NativeSubscription {
 public:
  virtual ~NativeSubscription() = default;
  virtual void pause() = 0;
  virtual void resume() = 0;
  /// Pull mode (SubscribeOptions::pull): allows `batches` more on_records calls.
  virtual void request(std::uint32_t batches) = 0;
  virtual void cancel() = 0;
  /// False once cancelled or ended by an error.
  virtual bool active() const = 0;
  /// True between pause() and resume().
  virtual bool paused() const = 0;
  /// Offset after the last record delivered to on_records (-1 before the first batch): where a
  /// new subscription would continue. (Subscription::next_offset on the I/O thread is the next
  /// offset to fetch, which runs ahead of this while records are held by pause().)
  virtual std::int64_t next_offset() const = 0;
  /// Per partition: the offset after the last record delivered to on_records.
  virtual std::map<std::int32_t, std::int64_t> next_offsets() const = 0;
};

/// Thread-safe control of a consumer-group membership made by NativeClient::subscribe_group.
class NativeGroupSubscription {
 public:
  virtual ~NativeGroupSubscription() = default;
  /// See GroupSubscription::commit; the handler runs on the I/O thread.
  virtual void async_commit(std::vector<TopicPartitionOffset> offsets,
                            GroupSubscription::CommitHandler handler) = 0;
  /// Blocking commit (never from a callback of this client).
  virtual Result<std::vector<TopicPartitionOffset>> commit(
      std::vector<TopicPartitionOffset> offsets = {}) = 0;
  virtual void cancel() = 0;
  /// False once cancelled or ended by an error.
  virtual bool active() const = 0;
};

/// Thread-safe batching producer made by NativeClient::producer (see kpg/sdk/producer.h for
/// its ordering and failure semantics). send() never blocks; handlers run on the I/O thread.
class NativeProducer {
 public:
  virtual ~NativeProducer() = default;
  virtual void send(const std::string& topic, std::optional<std::string> value,
                    ProduceOptions options, ProtocolSession::ProduceHandler handler) = 0;
  /// Waits until every record sent before it has been answered (never from a callback).
  virtual void flush() = 0;
  virtual void async_flush(std::function<void()> done) = 0;
};

/// TLS for wss:// URLs (OpenSSL). The default verifies the gateway's certificate chain against
/// the system's CAs and that it names the URL's host.
struct TlsOptions {
  bool verify = true;   ///< false accepts any certificate: for development only
  std::string ca_file;  ///< PEM CA bundle to trust instead of the system's CAs
};

/// Credentials: ClientOptions::api_key (sent as header `apikey`) and token (header
/// `Authorization: Bearer`), or a token_provider, which runs on the I/O thread and may complete
/// from any thread. A refused upgrade fails with ErrorCode::unauthorized (401) or forbidden
/// (403) and the gateway's reason.
class NativeClient {
 public:
  /// Owns an io_context and one thread that runs it.
  explicit NativeClient(ClientOptions options = {}, TlsOptions tls = {});
  /// Runs on a caller-supplied io_context; the caller keeps it running and alive longer.
  NativeClient(boost::asio::io_context& io, ClientOptions options = {}, TlsOptions tls = {});
  ~NativeClient();
  NativeClient(const NativeClient&) = delete;
  NativeClient& operator=(const NativeClient&) = delete;

  void async_connect(const std::string& url, Client::ConnectHandler handler);
  void async_ping(std::string state, ProtocolSession::PingHandler handler);
  void async_list_offsets(const std::string& topic, std::int32_t partition, std::int64_t at,
                          ProtocolSession::OffsetHandler handler);
  void async_fetch(const std::string& topic, std::int32_t partition, std::int64_t offset,
                   ProtocolSession::FetchHandler handler);
  /// See Client::fetch with a Filter: the matching records and where to fetch from next.
  void async_fetch(const std::string& topic, std::int32_t partition, std::int64_t offset,
                   Filter filter, ProtocolSession::FilteredFetchHandler handler);
  /// See Client::on_disconnect / on_reconnect / on_close; handlers run on the I/O thread.
  void on_disconnect(Client::DisconnectHandler handler);
  void on_reconnect(std::function<void()> handler);
  void on_close(Client::DisconnectHandler handler);
  /// See Client::metadata (kpg mode only; fails with ServerCode::unknown_command on APISIX).
  void async_metadata(std::vector<std::string> topics, ProtocolSession::MetadataHandler handler);
  /// Every record of the partition from `from` on, in order, no gaps, no duplicates. Handlers
  /// run on the client's I/O thread; keep them short or hand work off. In kpg mode the records
  /// are pushed and a batch is granted back when on_records returns (see SubscribeOptions).
  std::shared_ptr<NativeSubscription> subscribe(const std::string& topic, std::int32_t partition,
                                                StartAt from, SubscriptionHandlers handlers,
                                                SubscribeOptions options = {});
  /// Several partitions of a topic (empty: all of them, kpg mode only); see
  /// Client::subscribe_topic. Records carry their partition.
  std::shared_ptr<NativeSubscription> subscribe_topic(const std::string& topic,
                                                      std::vector<std::int32_t> partitions,
                                                      StartAt from, SubscriptionHandlers handlers,
                                                      SubscribeOptions options = {});
  /// See Client::produce: where the record was written, or a typed Error (server_code, and
  /// possibly_written). Many may be in flight; the client queues beyond the gateway's limits.
  void async_produce(const std::string& topic, std::optional<std::string> value,
                     ProduceOptions options, ProtocolSession::ProduceHandler handler);
  Result<Produced> produce(const std::string& topic, std::optional<std::string> value,
                           ProduceOptions options = {});
  /// A batching producer over this client (see kpg/sdk/producer.h); it must not outlive it.
  std::shared_ptr<NativeProducer> producer(ProducerOptions options = {});
  /// Joins consumer group `group` for `topics`; see Client::subscribe_group. Handlers run on
  /// the I/O thread; credit is granted back (and, with Commit::automatic, the frame committed)
  /// when on_records returns.
  std::shared_ptr<NativeGroupSubscription> subscribe_group(const std::string& group,
                                                           std::vector<std::string> topics,
                                                           GroupHandlers handlers,
                                                           GroupOptions options = {});
  /// What hello negotiated on the current connection (a copy; empty in APISIX mode). Updated
  /// before connect() / on_reconnect complete.
  ServerInfo server_info() const;
  void close();

  Result<Connected> connect(const std::string& url);
  Result<std::string> ping(std::string state);
  Result<std::int64_t> list_offsets(const std::string& topic, std::int32_t partition,
                                    std::int64_t at);
  Result<std::vector<Record>> fetch(const std::string& topic, std::int32_t partition,
                                    std::int64_t offset);
  Result<ProtocolSession::FetchPage> fetch(const std::string& topic, std::int32_t partition,
                                           std::int64_t offset, Filter filter);
  Result<std::vector<TopicInfo>> metadata(std::vector<std::string> topics);

 private:
  struct OwnedLoop;
  struct Impl;
  std::unique_ptr<OwnedLoop> loop_;  // only when the client owns its io_context
  std::shared_ptr<Impl> impl_;       // shared with posted work, which may outlive a call
};

}  // namespace kpg::sdk
