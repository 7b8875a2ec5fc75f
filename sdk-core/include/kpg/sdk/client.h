// kpg::sdk::Client — the typed PubSub client, written once over the Transport seam and used as is
// by the native and the WASM build.
//
// Threading: not thread-safe. Call it, and receive its callbacks, on the transport's thread (the
// native wrapper in sdk-native takes care of that). Every callback runs exactly once.
// Errors: never throws; failures arrive as Result errors (see ErrorCode; a gateway's own reason
// is Error::server_code, never to be parsed from the message).
// Negotiation: on every (re)connect the client sends hello before anything else. A kpg gateway
// answers with its features and limits (server_info(), "kpg mode"); a gateway that does not know
// hello (Apache APISIX) answers "unknown command" and the client keeps to the APISIX subset
// ("APISIX mode"; also when hello gets no answer within hello_timeout_ms). connect() and
// on_reconnect complete once that is known.
// Lifetime: destroying the Client closes the connection; pending callbacks are then failed with
// ErrorCode::closed before the destructor returns.
#pragma once

#include <kpg/sdk/filter.h>
#include <kpg/sdk/group.h>
#include <kpg/sdk/protocol_session.h>
#include <kpg/sdk/subscription.h>
#include <kpg/sdk/transport.h>
#include <kpg/sdk/types.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace kpg::sdk {

struct ClientOptions {
  std::int64_t connect_timeout_ms = 10'000;
  std::int64_t request_timeout_ms = 15'000;
  /// A subscription whose fetch comes back empty sooner than this waits the rest before the
  /// next fetch, so a gateway that does not wait at the end of the log is not polled in a loop.
  std::int64_t idle_fetch_interval_ms = 100;
  /// A gateway that does not answer hello within this time is taken for one that serves only
  /// the APISIX subset (kpg gateways older than hello ignore it; APISIX answers at once).
  std::int64_t hello_timeout_ms = 5'000;
  /// Sent in hello, for the gateway's log; empty: "kpg-sdk/<version>".
  std::string client_name;

  /// Credentials for a route with key-auth (`api_key`) or jwt-auth (`token`), presented on
  /// every (re)connect. Never logged by the SDK.
  std::string api_key;
  std::string token;
  /// Completes a token_provider call, once, with a token or an Error.
  using TokenCallback = std::function<void(Result<std::string>)>;
  /// Asked for a token before every connect and reconnect (so an expiring token is replaced
  /// when the gateway closes the connection at its expiry, 1008 "token expired"); it replaces
  /// `token`. Call `done` once, on the client's thread (NativeClient accepts it from any
  /// thread), now or later. An Error fails that attempt: connect() with it, a reconnect like a
  /// refused one. The connect timeout includes the provider's time.
  std::function<void(TokenCallback done)> token_provider;

  /// Automatic reconnect after an established connection drops. Attempts wait
  /// min(max_delay, initial_delay * 2^n) +/- jitter; subscriptions resume at their next offset.
  /// A refused credential is not retried: a reconnect answered forbidden (403), or unauthorized
  /// (401) while no token_provider can supply another token, ends the client (on_close with
  /// that error). With a token_provider each attempt asks it for a fresh token.
  struct Reconnect {
    bool enabled = true;
    std::int64_t initial_delay_ms = 200;
    std::int64_t max_delay_ms = 10'000;
    double jitter = 0.25;  ///< fraction of the delay, drawn uniformly in [-jitter, +jitter]
    int max_attempts = 0;  ///< 0 = keep trying until close()
  } reconnect;
};

struct Connected {};

class Client {
 public:
  using ConnectHandler = std::function<void(Result<Connected>)>;
  using DisconnectHandler = std::function<void(const Error&)>;

  explicit Client(std::unique_ptr<Transport> transport, ClientOptions options = {});
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  /// Opens the WebSocket and negotiates (hello). Completes once, with Connected or an Error
  /// (transport / timeout; unauthorized / forbidden when the gateway refused the credential or
  /// the client, with its reason; the token_provider's own error).
  void connect(const std::string& url, ConnectHandler handler);
  /// Called each time an open connection drops (not after close()). With reconnect enabled the
  /// client then reconnects; pending calls have failed with ErrorCode::closed.
  void on_disconnect(DisconnectHandler handler) { on_disconnect_ = std::move(handler); }
  /// Called each time an automatic reconnect succeeds; subscriptions carry on by themselves.
  void on_reconnect(std::function<void()> handler) { on_reconnect_ = std::move(handler); }
  /// Called once when the client ends for good other than through close(): the connection
  /// dropped with reconnect disabled, reconnecting gave up (max_attempts), or a reconnect was
  /// refused (ErrorCode::unauthorized / forbidden; see ClientOptions::reconnect).
  void on_close(DisconnectHandler handler) { on_close_ = std::move(handler); }

  void ping(std::string state, ProtocolSession::PingHandler handler);
  /// at: kEarliest, kLatest or a timestamp in ms.
  void list_offsets(const std::string& topic, std::int32_t partition, std::int64_t at,
                    ProtocolSession::OffsetHandler handler);
  /// Records of the partition from `offset` on (possibly none when at the end of the log).
  void fetch(const std::string& topic, std::int32_t partition, std::int64_t offset,
             ProtocolSession::FetchHandler handler);
  /// The records of the partition from `offset` on that match `filter`, and where to fetch from
  /// next (FetchPage::next_offset: past every record the gateway read, matching or not, so a
  /// loop fetching from there never reads a record twice and moves on when nothing matched).
  /// A non-empty filter needs a gateway offering "filters"; otherwise, and when the filter breaks
  /// the gateway's limits, it fails at once with ErrorCode::server (ServerCode::unknown_command,
  /// resp. the code of Filter::validate) without sending anything. An empty filter is a plain
  /// fetch, in APISIX mode too.
  void fetch(const std::string& topic, std::int32_t partition, std::int64_t offset,
             const Filter& filter, ProtocolSession::FilteredFetchHandler handler);

  /// Topics with their partitions and offsets (kpg mode; empty `topics` = every topic the route
  /// serves). In APISIX mode it fails with ErrorCode::server, ServerCode::unknown_command and a
  /// message saying the gateway does not offer metadata.
  void metadata(std::vector<std::string> topics, ProtocolSession::MetadataHandler handler);

  /// What hello negotiated on the current connection; empty (protocol_version 0) in APISIX mode
  /// and before the first connection.
  const ServerInfo& server_info() const noexcept { return server_info_; }

  /// Delivers every record of the partition from `from` on, in order, without gaps or
  /// duplicates. The client keeps the subscription running until it is cancelled, fails or the
  /// client closes; the handle (optional to keep) controls it and stays valid afterwards.
  std::shared_ptr<Subscription> subscribe(const std::string& topic, std::int32_t partition,
                                          StartAt from, SubscriptionHandlers handlers,
                                          SubscribeOptions options = {});
  /// The same over several partitions of a topic; records carry their partition. An empty
  /// `partitions` means every partition of the topic: kpg mode only (in APISIX mode the client
  /// cannot list partitions, and the subscription fails with a message saying so).
  /// StartAt::offset needs named partitions.
  std::shared_ptr<Subscription> subscribe_topic(const std::string& topic,
                                                std::vector<std::int32_t> partitions, StartAt from,
                                                SubscriptionHandlers handlers,
                                                SubscribeOptions options = {});

  /// Writes one record to `topic` (kpg mode, on a route that allows produce: the gateway lists
  /// "produce" among its hello features; otherwise it fails at once with ErrorCode::server,
  /// ServerCode::unknown_command and a message saying so). `value` nullopt is a null value (a
  /// tombstone), distinct from an empty one. Completes with the partition, offset and timestamp
  /// once the broker acknowledged the record, or with an Error whose server_code says why
  /// (not_allowed, unknown_topic, record_too_large, unavailable, limit_exceeded, ...) and whose
  /// possibly_written says whether the record may have been written anyway.
  ///
  /// Many produce calls may be in flight. Beyond the gateway's limits (max_inflight_requests,
  /// max_produce_inflight_bytes, max_produce_records_per_second) the client queues records here
  /// and sends them, in call order, as answers free room; the request timeout starts when a
  /// record is sent. A record over max_record_bytes fails with record_too_large without being
  /// sent. Queued records fail with ErrorCode::closed (possibly_written false) when the
  /// connection drops; sent ones with possibly_written true.
  ///
  /// Records that wait here together leave together: when the gateway offers batches
  /// (ServerLimits::max_produce_batch_records), as many as its limits leave room for go out as
  /// one cmd_kafka_produce_batch, each still answered on its own handler.
  void produce(const std::string& topic, std::optional<std::string> value, ProduceOptions options,
               ProtocolSession::ProduceHandler handler);
  /// One record for produce_many().
  struct ProduceItem {
    std::string topic;
    std::optional<std::string> value;
    ProduceOptions options;
    ProtocolSession::ProduceHandler handler;
  };
  /// Like produce() for each item, in order, queued before any is sent: they leave in as few
  /// requests as the gateway's limits allow (what Producer uses).
  void produce_many(std::vector<ProduceItem> items);
  /// Records accepted by produce() and not answered yet (queued here or in flight).
  std::size_t produce_pending() const noexcept { return produce_queue_.size() + produce_sent_; }

  /// Joins consumer group `group` (scoped by the gateway to the route and the consumer) for
  /// `topics`: the gateway assigns this member some of their partitions and pushes their
  /// records. kpg mode, on a route that offers "groups"; otherwise the subscription fails with
  /// ServerCode::unknown_command. The client rejoins after a reconnect. See GroupHandlers for
  /// what is called when, and GroupOptions::commit for when offsets are committed.
  std::shared_ptr<GroupSubscription> subscribe_group(const std::string& group,
                                                     std::vector<std::string> topics,
                                                     GroupHandlers handlers,
                                                     GroupOptions options = {});

  /// Runs `task` after `delay_ms` on the client's thread (unless the client is closed first).
  void schedule(std::int64_t delay_ms, std::function<void()> task);

  /// Closes the connection; pending requests fail with ErrorCode::closed.
  void close();
  bool is_open() const noexcept { return state_ == State::open; }
  bool reconnecting() const noexcept { return state_ == State::reconnecting; }
  std::size_t pending() const noexcept { return session_.pending(); }

 private:
  // connecting / reconnecting last until hello is answered: calls made before are refused.
  enum class State { idle, connecting, open, reconnecting, closed };

  template <class Handler>
  bool reject_if_not_open(Handler& handler);
  void send(ProtocolSession::Outgoing outgoing);
  void unsubscribe(std::int64_t subscription_id);  // fire and forget
  void arm_timer();
  void on_transport_closed(Error error);
  void open_transport();
  void on_token(std::uint64_t generation, Result<std::string> token);
  bool refused_for_good(const Error& error) const;
  void on_opened();
  void on_hello(std::uint64_t generation, Result<ServerInfo> result);
  void on_established();
  void fail_attempt(const Error& error);
  void on_open_timeout();
  void schedule_reconnect(const Error& cause);
  void resume_subscriptions();

  class TopicSubscription;
  class GroupMember;
  struct QueuedProduce {
    ProtocolSession::ProduceRequest request;
    std::uint64_t bytes;
    ProtocolSession::ProduceHandler handler;
  };
  void pump_produce();
  // produce()'s checks; true when `item` was queued (otherwise its handler has run).
  bool queue_produce(ProduceItem& item);
  /// The backoff before retry number `retries` (from 0) after a retryable server error: the
  /// reconnect delays, without jitter.
  std::int64_t retry_delay_ms(int retries) const;
  void fail_queued_produce(const Error& error);
  std::shared_ptr<Subscription> add_subscription(std::shared_ptr<TopicSubscription> sub);
  void run_due_tasks();
  void stop_subscriptions(const Error& error);

  std::unique_ptr<Transport> transport_;
  std::multimap<std::int64_t, std::function<void()>> tasks_;       // by due time (transport clock)
  std::vector<std::shared_ptr<TopicSubscription>> subscriptions_;  // running ones
  std::vector<std::shared_ptr<GroupMember>> groups_;               // running ones
  // Produce: records waiting for room (call order), and what is in flight.
  std::deque<QueuedProduce> produce_queue_;
  std::size_t produce_sent_ = 0;
  std::uint64_t produce_sent_bytes_ = 0;
  double produce_tokens_ = 0;  // records/s bucket (max_produce_records_per_second)
  std::int64_t produce_tokens_at_ = -1;
  bool produce_wakeup_ = false;  // a task is scheduled to send when the bucket refills
  ClientOptions options_;
  ProtocolSession session_;
  ServerInfo server_info_;
  std::uint64_t generation_ = 0;  // counts attempts: a late hello reply or token is recognised
  bool negotiating_ = false;      // hello sent on the open transport, not answered yet
  State state_ = State::idle;
  ConnectHandler on_connect_;
  DisconnectHandler on_disconnect_;
  std::function<void()> on_reconnect_;
  DisconnectHandler on_close_;
  std::string url_;
  int reconnect_attempts_ = 0;
  std::uint64_t jitter_state_ = 0;
  // Token provider callbacks hold it weakly: one that completes after the Client is gone does
  // nothing.
  std::shared_ptr<char> alive_ = std::make_shared<char>();
};

}  // namespace kpg::sdk
