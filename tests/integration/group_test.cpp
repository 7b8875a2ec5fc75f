// Consumer groups (cmd_kafka_group_subscribe, kafka_group_assignment, cmd_kafka_commit) on the
// real kpg-gateway process and kpg-devkafka's mock cluster, whose group coordinator runs the
// joins, rebalances and commits: members share a topic's partitions, hand them over when one
// leaves or stops granting credit, and resume from committed offsets; tenants never share a group.
#include "admin_fixture.h"

#include <kpg/pubsub.pb.h>

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <set>
#include <thread>

namespace {

using namespace std::chrono_literals;
using kpg::pubsub::CmdKafkaGroupSubscribe;
using kpg::pubsub::CmdKafkaSubscribe;
using kpg::pubsub::ErrorCode;
using kpg::pubsub::KafkaGroupAssignment;
using kpg::pubsub::PubSubReq;
using kpg::pubsub::PubSubResp;
using nlohmann::json;
using verb = boost::beast::http::verb;
namespace beast = boost::beast;
namespace websocket = beast::websocket;

constexpr int kPartitions = 6;
using Key = std::pair<std::int32_t, std::int64_t>;  // partition, offset

// One group member as a client sees it: a WebSocket speaking the protocol frame by frame. What
// the gateway pushes is read by a background thread into the fields below (under `mutex`).
class Member {
 public:
  Member(const std::string& port, const std::string& target) : ws_(io_) {
    boost::asio::ip::tcp::resolver resolver(io_);
    boost::asio::connect(ws_.next_layer(), resolver.resolve("127.0.0.1", port));
    ws_.handshake("127.0.0.1:" + port, target);
    ws_.binary(true);
  }
  ~Member() {
    close();
    if (reader_.joinable()) reader_.join();
  }

  void send(const PubSubReq& req) {
    std::lock_guard lock(write_mutex_);
    beast::error_code ec;
    ws_.write(boost::asio::buffer(req.SerializeAsString()), ec);
  }
  // Before start(): reads the next frame itself.
  PubSubResp next() {
    beast::flat_buffer buffer;
    const auto ec = kpg::testing::read_within(io_, ws_, buffer, std::chrono::seconds(30));
    PubSubResp resp;
    if (ec || !resp.ParseFromString(beast::buffers_to_string(buffer.data()))) {
      ADD_FAILURE() << "no frame: " << ec.message();
    }
    return resp;
  }
  PubSubResp request(const PubSubReq& req) {
    send(req);
    return next();
  }
  PubSubResp hello() {
    PubSubReq req;
    req.set_sequence(1);
    req.mutable_cmd_hello()->set_protocol_version(1);
    return request(req);
  }
  static PubSubReq group_subscribe(const std::string& group, std::vector<std::string> topics,
                                   std::uint32_t credit,
                                   CmdKafkaSubscribe::Start start = CmdKafkaSubscribe::EARLIEST) {
    PubSubReq req;
    req.set_sequence(2);
    auto* cmd = req.mutable_cmd_kafka_group_subscribe();
    cmd->set_group(group);
    for (auto& t : topics) cmd->add_topics(t);
    cmd->set_credit(credit);
    cmd->set_start(start);
    return req;
  }
  /// Joins `group` and starts the reader; the subscription id.
  std::int64_t join(const std::string& group, std::uint32_t credit,
                    const std::string& name = "jobs") {
    topic = name;
    hello();
    const auto resp = request(group_subscribe(group, {topic}, credit));
    EXPECT_TRUE(resp.has_kafka_group_subscribe_resp()) << resp.ShortDebugString();
    id = resp.kafka_group_subscribe_resp().subscription_id();
    reader_ = std::thread([this] { read_loop(); });
    return id;
  }
  void grant(std::uint32_t credit) {
    PubSubReq req;
    req.set_sequence(3);
    req.mutable_cmd_credit()->set_subscription_id(id);
    req.mutable_cmd_credit()->set_credit(credit);
    send(req);
  }
  /// Commits (empty: everything delivered) and waits for the answer.
  PubSubResp commit(const std::map<std::int32_t, std::int64_t>& offsets = {}) {
    PubSubReq req;
    req.set_sequence(next_sequence_++);
    req.mutable_cmd_kafka_commit()->set_subscription_id(id);
    for (const auto& [p, o] : offsets) {
      auto* tp = req.mutable_cmd_kafka_commit()->add_offsets();
      tp->set_topic(topic);
      tp->set_partition(p);
      tp->set_offset(o);
    }
    const auto sequence = req.sequence();
    send(req);
    std::unique_lock lock(mutex);
    changed.wait_for(lock, 20s, [&] { return replies.count(sequence) > 0; });
    return replies[sequence];
  }
  // Closes the connection abruptly (the reader thread is inside a read of the same stream, so no
  // close handshake): the gateway sees the socket end, as when a browser tab goes away.
  void close() {
    std::lock_guard lock(write_mutex_);
    if (!closed_) ::shutdown(ws_.next_layer().native_handle(), SHUT_RDWR);
    closed_ = true;
  }
  std::set<std::int32_t> owned_now() {
    std::lock_guard lock(mutex);
    return owned;
  }
  /// Waits (bounded) until `done` holds, under the lock.
  template <class Pred>
  bool wait(Pred done, std::chrono::seconds limit = 30s) {
    std::unique_lock lock(mutex);
    return changed.wait_for(lock, limit, [&] { return done(); });
  }

  std::int64_t id = 0;
  std::string topic;
  std::mutex mutex;
  std::condition_variable changed;
  std::set<std::int32_t> owned;
  std::vector<Key> received;                   // every record, in arrival order
  std::map<std::int64_t, PubSubResp> replies;  // by sequence
  std::vector<std::string> errors;             // pushed error frames
  std::vector<int> error_codes;
  std::vector<std::string> order_violations;      // a record of a partition not assigned
  std::map<std::int32_t, std::int64_t> assigned;  // partition -> start offset of its assignment

 private:
  void read_loop() {
    for (;;) {
      beast::flat_buffer buffer;
      beast::error_code ec;
      ws_.read(buffer, ec);
      if (ec) return;
      PubSubResp resp;
      if (!resp.ParseFromString(beast::buffers_to_string(buffer.data()))) continue;
      std::lock_guard lock(mutex);
      if (resp.has_kafka_group_assignment()) {
        const auto& a = resp.kafka_group_assignment();
        for (const auto& p : a.partitions()) {
          EXPECT_EQ(p.topic(), topic);
          if (a.kind() == KafkaGroupAssignment::ASSIGNED) {
            owned.insert(p.partition());
            assigned[p.partition()] = p.offset();
          } else {
            owned.erase(p.partition());
          }
        }
      } else if (resp.has_kafka_records()) {
        const auto& r = resp.kafka_records();
        EXPECT_EQ(r.subscription_id(), id);
        EXPECT_EQ(r.topic(), topic);
        if (!owned.count(r.partition())) {
          order_violations.push_back("record of partition " + std::to_string(r.partition()));
        }
        for (const auto& m : r.messages()) {
          received.emplace_back(r.partition(), m.offset());
          EXPECT_EQ(m.key(),
                    "p" + std::to_string(r.partition()) + "-" + std::to_string(m.offset()));
        }
      } else if (resp.has_error_resp() && resp.sequence() == 2) {
        errors.push_back(resp.error_resp().message());
        error_codes.push_back(resp.error_resp().code());
      } else {
        replies[resp.sequence()] = resp;
      }
      changed.notify_all();
    }
  }

  boost::asio::io_context io_;
  websocket::stream<boost::asio::ip::tcp::socket> ws_;
  std::mutex write_mutex_;
  bool closed_ = false;
  std::int64_t next_sequence_ = 100;
  std::thread reader_;
};

class GroupTest : public kpg::testing::AdminFixture {
 protected:
  static void SetUpTestSuite() {
    broker_ =
        new kpg::testing::ChildProcess({KPG_DEVKAFKA_BIN, "mock", "--topic", "jobs:6", "--topic",
                                        "tenants:6", "--topic", "idle:6", "--topic", "secret:1"});
    auto line = broker_->wait_for_line("bootstrap=", 15s);
    ASSERT_TRUE(line) << broker_->transcript();
    bootstrap_ = kpg::testing::field(*line, "bootstrap");
  }

  static json groups(int idle_timeout_ms = 20000) {
    return {{"session_timeout_ms", 6000}, {"idle_timeout_ms", idle_timeout_ms}};
  }
  // Produces `count` records to every partition, keyed "p<partition>-<offset>", starting at
  // `from`.
  void produce(int from, int count, const std::string& topic = "jobs") const {
    kpg::kafka::Producer producer(bootstrap_);
    for (int p = 0; p < kPartitions; ++p) {
      for (int i = from; i < from + count; ++i) {
        ASSERT_EQ(producer.produce(topic, p, "p" + std::to_string(p) + "-" + std::to_string(i), "v")
                      .error,
                  "");
      }
    }
  }
  // Waits until the members own disjoint sets covering all partitions, `each` apiece.
  static bool settled(std::vector<Member*> members, std::size_t each) {
    const auto deadline = std::chrono::steady_clock::now() + 40s;
    while (std::chrono::steady_clock::now() < deadline) {
      std::set<std::int32_t> all;
      bool ok = true;
      for (auto* m : members) {
        const auto owned = m->owned_now();
        ok = ok && owned.size() == each;
        all.insert(owned.begin(), owned.end());
      }
      if (ok && all.size() == kPartitions) return true;
      std::this_thread::sleep_for(50ms);
    }
    return false;
  }
  static std::size_t total(std::vector<Member*> members) {
    std::size_t n = 0;
    for (auto* m : members) {
      std::lock_guard lock(m->mutex);
      n += m->received.size();
    }
    return n;
  }
  static bool wait_total(std::vector<Member*> members, std::size_t n) {
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    while (std::chrono::steady_clock::now() < deadline) {
      if (total(members) >= n) return true;
      std::this_thread::sleep_for(20ms);
    }
    return false;
  }
};

TEST_F(GroupTest, ThreeMembersShareSixPartitionsAndTakeOverFromCommittedOffsets) {
  put_route("g", "/g", {{"kafka-proxy", {{"groups", groups()}}}});
  Member a(gateway_.port, "/g");
  Member b(gateway_.port, "/g");
  Member c(gateway_.port, "/g");
  a.join("workers", 100);
  b.join("workers", 100);
  c.join("workers", 100);
  ASSERT_TRUE(settled({&a, &b, &c}, 2));

  // Every record exactly once, to the member that owns its partition, after its assignment.
  produce(0, 10);
  ASSERT_TRUE(wait_total({&a, &b, &c}, 60));
  std::this_thread::sleep_for(500ms);  // nothing more arrives
  std::map<Key, int> seen;
  for (auto* m : {&a, &b, &c}) {
    std::lock_guard lock(m->mutex);
    EXPECT_TRUE(m->order_violations.empty()) << m->order_violations.front();
    for (const auto& k : m->received) {
      ++seen[k];
      EXPECT_TRUE(m->owned.count(k.first)) << "partition " << k.first;
    }
  }
  ASSERT_EQ(seen.size(), 60u);
  for (const auto& [k, n] : seen) EXPECT_EQ(n, 1) << k.first << "/" << k.second;

  // b and c commit everything; a commits half of each of its partitions, then leaves.
  for (auto* m : {&b, &c}) {
    const auto r = m->commit();
    ASSERT_TRUE(r.has_kafka_commit_resp()) << r.ShortDebugString();
    EXPECT_EQ(r.kafka_commit_resp().committed_size(), 2);
    for (const auto& o : r.kafka_commit_resp().committed()) EXPECT_EQ(o.offset(), 10);
  }
  const auto a_owned = a.owned_now();
  std::map<std::int32_t, std::int64_t> half;
  for (auto p : a_owned) half[p] = 5;
  const auto r = a.commit(half);
  ASSERT_TRUE(r.has_kafka_commit_resp()) << r.ShortDebugString();
  // Beyond what was delivered, and a partition a does not own.
  std::map<std::int32_t, std::int64_t> beyond{{*a_owned.begin(), 11}};
  EXPECT_EQ(a.commit(beyond).error_resp().code(), ErrorCode::BAD_REQUEST);
  std::int32_t foreign = 0;
  while (a_owned.count(foreign)) ++foreign;
  EXPECT_EQ(a.commit({{foreign, 1}}).error_resp().code(), ErrorCode::REBALANCED);

  for (auto* m : {&b, &c}) {
    std::lock_guard lock(m->mutex);
    m->received.clear();
  }
  const auto left_at = std::chrono::steady_clock::now();
  a.close();
  ASSERT_TRUE(settled({&b, &c}, 3));
  EXPECT_LT(std::chrono::steady_clock::now() - left_at, 6s) << "within the session timeout";
  for (auto* m : {&b, &c}) {
    std::lock_guard lock(m->mutex);
    for (const auto& [p, offset] : m->assigned) {
      if (m->owned.count(p)) {
        EXPECT_EQ(offset, a_owned.count(p) ? 5 : 10) << "partition " << p;
      }
    }
  }
  // From the committed offsets on: a's uncommitted half again, then new records, each once.
  produce(10, 1);
  const std::size_t expected = a_owned.size() * 6 + (kPartitions - a_owned.size());
  ASSERT_TRUE(wait_total({&b, &c}, expected));
  std::this_thread::sleep_for(500ms);
  seen.clear();
  for (auto* m : {&b, &c}) {
    std::lock_guard lock(m->mutex);
    EXPECT_TRUE(m->order_violations.empty());
    for (const auto& k : m->received) ++seen[k];
  }
  EXPECT_EQ(seen.size(), expected);
  for (const auto& [k, n] : seen) {
    EXPECT_EQ(n, 1) << k.first << "/" << k.second;
    EXPECT_GE(k.second, a_owned.count(k.first) ? 5 : 10);
  }
}

TEST_F(GroupTest, TenantsNamingTheSameGroupEachGetEveryPartition) {
  put_route("t", "/t", {{"key-auth", json::object()}, {"kafka-proxy", {{"groups", groups()}}}});
  put_consumer({{"username", "alice"}, {"plugins", {{"key-auth", {{"key", "alice-key"}}}}}});
  put_consumer({{"username", "bob"}, {"plugins", {{"key-auth", {{"key", "bob-key"}}}}}});
  Member alice(gateway_.port, "/t?apikey=alice-key");
  Member bob(gateway_.port, "/t?apikey=bob-key");
  alice.join("shared", 10, "tenants");
  bob.join("shared", 10, "tenants");
  // Two groups of one member each: both own all six partitions at once.
  const auto all = [](Member& m) { return m.owned.size() == kPartitions; };
  EXPECT_TRUE(alice.wait([&] { return all(alice); }));
  EXPECT_TRUE(bob.wait([&] { return all(bob); }));
  std::this_thread::sleep_for(1s);
  EXPECT_EQ(alice.owned_now().size(), 6u);
  EXPECT_EQ(bob.owned_now().size(), 6u);
}

TEST_F(GroupTest, RefusesWhatTheRouteDoesNotAllow) {
  put_route("acl", "/acl",
            {{"kafka-proxy", {{"topics", json::array({"jobs"})}, {"groups", groups()}}}});
  put_route("plain", "/plain", json::object());

  Member off(gateway_.port, "/plain");
  auto hello = off.hello();
  EXPECT_EQ(hello.hello_resp().limits().max_group_subscriptions(), 0u);
  for (const auto& f : hello.hello_resp().features()) EXPECT_NE(f, "groups");
  auto refused = off.request(Member::group_subscribe("g", {"jobs"}, 1));
  EXPECT_EQ(refused.error_resp().code(), ErrorCode::NOT_ALLOWED);
  EXPECT_NE(refused.error_resp().message().find("consumer groups are not enabled on this route"),
            std::string::npos)
      << refused.error_resp().message();

  Member on(gateway_.port, "/acl");
  hello = on.hello();
  EXPECT_EQ(hello.hello_resp().limits().max_group_subscriptions(), 4u);
  bool groups_feature = false;
  for (const auto& f : hello.hello_resp().features()) groups_feature |= f == "groups";
  EXPECT_TRUE(groups_feature);
  EXPECT_EQ(on.request(Member::group_subscribe("g", {"jobs", "secret"}, 1)).error_resp().code(),
            ErrorCode::NOT_ALLOWED);
  EXPECT_EQ(on.request(Member::group_subscribe(std::string("bad\x01name"), {"jobs"}, 1))
                .error_resp()
                .code(),
            ErrorCode::BAD_REQUEST);
  EXPECT_EQ(
      on.request(Member::group_subscribe(std::string(201, 'g'), {"jobs"}, 1)).error_resp().code(),
      ErrorCode::BAD_REQUEST);
  EXPECT_EQ(on.request(Member::group_subscribe("g", {"jobs"}, 1, CmdKafkaSubscribe::TIMESTAMP))
                .error_resp()
                .code(),
            ErrorCode::BAD_REQUEST);
  EXPECT_EQ(on.request(Member::group_subscribe("g", {"jobs"}, 1'000'000)).error_resp().code(),
            ErrorCode::LIMIT_EXCEEDED);
  PubSubReq commit;
  commit.set_sequence(7);
  commit.mutable_cmd_kafka_commit()->set_subscription_id(42);
  EXPECT_EQ(on.request(commit).error_resp().code(), ErrorCode::UNKNOWN_SUBSCRIPTION);

  // Route configuration: every field checked and named.
  for (const auto& [bad, field] : std::vector<std::pair<json, std::string>>{
           {{{"max_per_connection", 0}}, "plugins.kafka-proxy.groups.max_per_connection"},
           {{{"session_timeout_ms", "6000"}}, "plugins.kafka-proxy.groups.session_timeout_ms"},
           {{{"idle_timeout_ms", 999999999}}, "plugins.kafka-proxy.groups.idle_timeout_ms"},
           {{{"auto_commit", true}}, "plugins.kafka-proxy.groups.auto_commit"}}) {
    auto body = route("/bad");
    body["plugins"] = {{"kafka-proxy", {{"groups", bad}}}};
    auto r = admin(verb::put, "/apisix/admin/routes/bad", body.dump());
    EXPECT_EQ(r.status, 400) << r.body;
    EXPECT_NE(r.body.find(field), std::string::npos) << r.body;
  }
}

TEST_F(GroupTest, AMemberWithoutCreditLeavesAndItsPartitionsGoToTheOther) {
  put_route("idle", "/idle", {{"kafka-proxy", {{"groups", groups(2000)}}}});
  Member stuck(gateway_.port, "/idle");
  Member busy(gateway_.port, "/idle");
  stuck.join("idle-workers", 1, "idle");
  busy.join("idle-workers", 100, "idle");
  ASSERT_TRUE(settled({&stuck, &busy}, 3));
  produce(0, 2, "idle");
  // The stuck member spends its one credit and grants no more: it is removed from the group.
  ASSERT_TRUE(stuck.wait([&] { return !stuck.errors.empty(); }, 20s));
  EXPECT_NE(stuck.errors.front().find("no credit for 2000 ms"), std::string::npos)
      << stuck.errors.front();
  EXPECT_EQ(stuck.error_codes.front(), ErrorCode::LIMIT_EXCEEDED);
  EXPECT_TRUE(busy.wait([&] { return busy.owned.size() == kPartitions; }, 20s));
}

}  // namespace
