// The gateway's Kafka read path under the loads and failures that once broke it, on the real
// kpg-gateway process and a real broker (kpg-devkafka): readers of one partition starving each
// other, a broker killed and restarted, a route whose broker never answers next to a healthy one,
// a flood of unknown topics, cursors over many partitions that must be released, and a route
// retired after a refused topic name. Outcomes are asserted (what every reply holds, what the log
// says, which reply came first), never speeds; every wait is bounded.
#include "child_process.h"
#include "gateway_process.h"
#include "kafka/producer.h"
#include "local_net.h"
#include "process_stats.h"
#include "test_clients.h"

#include <kpg/pubsub.pb.h>
#include <kpg/sdk/native_client.h>

#include <gtest/gtest.h>
#include <unistd.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <filesystem>
#include <future>
#include <iostream>
#include <mutex>
#include <optional>
#include <random>
#include <sstream>
#include <thread>

namespace {

using namespace std::chrono_literals;
using kpg::testing::ChildProcess;
using kpg::testing::Gateway;
using Clock = std::chrono::steady_clock;
using Records = std::vector<kpg::sdk::Record>;

constexpr const char* kAdminKey = "kafka-read-admin-key-0123456789";
// "history" holds about 3 MB: more than one cursor's window (2 MiB), so readers far apart need
// cursors of their own.
constexpr std::int64_t kHistory = 3000;
constexpr std::int64_t kOrders = 3;

std::string key_of(std::int64_t offset) {
  return "k" + std::to_string(offset);
}

std::string value_of(std::int64_t offset) {
  std::string v = "r" + std::to_string(offset) + ":";
  v.resize(1000, static_cast<char>('a' + offset % 26));
  return v;
}

// "" when `records` are exactly what was produced into "history" from `from` on: contiguous, with
// their keys and values, and at least one while `from` is below the end. Otherwise what is wrong.
std::string check_history(const Records& records, std::int64_t from) {
  const std::string at = "fetch at " + std::to_string(from) + ": ";
  if (records.empty()) return from < kHistory ? at + "no records below the end" : "";
  for (std::size_t i = 0; i < records.size(); ++i) {
    const auto expected = from + static_cast<std::int64_t>(i);
    const auto& r = records[i];
    if (r.offset != expected) {
      return at + "record " + std::to_string(i) + " has offset " + std::to_string(r.offset);
    }
    if (expected >= kHistory) return at + "offset " + std::to_string(expected) + " past the end";
    if (r.key != key_of(expected) || r.value != value_of(expected)) {
      return at + "offset " + std::to_string(expected) + " holds another record's key or value";
    }
  }
  return "";
}

// Failures seen on client threads, reported by the test thread (the first few in full).
class Problems {
 public:
  void add(std::string what) {
    std::lock_guard lock(mutex_);
    ++count_;
    if (first_.size() < 10) first_.push_back(std::move(what));
  }
  std::size_t count() const {
    std::lock_guard lock(mutex_);
    return count_;
  }
  std::string summary() const {
    std::lock_guard lock(mutex_);
    std::string s = std::to_string(count_) + " problem(s):";
    for (const auto& p : first_) s += "\n  " + p;
    return s;
  }

 private:
  mutable std::mutex mutex_;
  std::size_t count_ = 0;
  std::vector<std::string> first_;
};

// Reads a process's output on a thread of its own while the test thread waits on clients, so that
// the process never blocks on a full pipe. Nothing else may touch the process meanwhile.
class OutputDrain {
 public:
  explicit OutputDrain(ChildProcess& process)
      : thread_([this, &process] {
          while (!stop_) process.read_line(20ms);
        }) {}
  ~OutputDrain() {
    stop_ = true;
    thread_.join();
  }
  OutputDrain(const OutputDrain&) = delete;
  OutputDrain& operator=(const OutputDrain&) = delete;

 private:
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// Sum of the integer `key=` values of the output lines (read so far) that contain `needle`.
long sum_of_field(const ChildProcess& process, const std::string& needle, const std::string& key) {
  std::istringstream lines(process.transcript());
  long sum = 0;
  for (std::string line; std::getline(lines, line);) {
    if (line.find(needle) == std::string::npos) continue;
    const auto value = kpg::testing::field(line, key);
    if (!value.empty()) sum += std::stol(value);
  }
  return sum;
}

// "" when `records` are "orders" from offset 0 on (a reply holds what had arrived: at least one).
std::string check_orders(const kpg::sdk::Result<Records>& records) {
  if (!records) return records.error().message;
  if (records.value().empty()) return "no records";
  for (std::size_t i = 0; i < records.value().size(); ++i) {
    const auto& r = records.value()[i];
    const auto offset = static_cast<std::int64_t>(i);
    if (r.offset != offset || r.key != key_of(offset) || r.value != "v" + std::to_string(offset)) {
      return "record " + std::to_string(i) + " is not the one produced at offset " +
             std::to_string(offset);
    }
  }
  return "";
}

std::string route_yaml(const std::string& id, const std::string& uri, const std::string& node) {
  return "  - id: " + id + "\n    uri: " + uri + "\n    upstream: {scheme: kafka, nodes: {\"" +
         node + "\": 1}}\n";
}

class KafkaReadHardening : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    broker_ = new ChildProcess({KPG_DEVKAFKA_BIN, "mock", "--topic", "history:1", "--topic",
                                "orders:1", "--topic", "wide:64"});
    auto line = broker_->wait_for_line("bootstrap=", 15s);
    ASSERT_TRUE(line) << "mock broker did not start: " << broker_->transcript();
    bootstrap_ = kpg::testing::field(*line, "bootstrap");
    kpg::kafka::Producer producer(bootstrap_);
    for (std::int64_t i = 0; i < kOrders; ++i) {
      ASSERT_EQ(producer.produce("orders", 0, key_of(i), "v" + std::to_string(i)).error, "");
    }
    for (std::int64_t i = 0; i < kHistory; ++i) {
      const auto d = producer.produce("history", 0, key_of(i), value_of(i));
      ASSERT_EQ(d.error, "");
      ASSERT_EQ(d.offset, i);
    }
  }
  static void TearDownTestSuite() {
    delete broker_;
    broker_ = nullptr;
  }

  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("kpg-kread-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // kpg-gateway with route "kafka" on /kafka to the suite's broker, `extra` config lines and
  // `more_routes` (route_yaml entries).
  Gateway start(const std::string& extra, const std::string& more_routes = "",
                const std::string& bootstrap = "") {
    return kpg::testing::start_gateway(
        dir_, std::string("admin_key: ") + kAdminKey + "\n" + extra + "routes:\n" +
                  route_yaml("kafka", "/kafka", bootstrap.empty() ? bootstrap_ : bootstrap) +
                  more_routes);
  }

  // A connected SDK client (nullptr when it could not connect: reported as a failure). Replies
  // that do not come within `timeout` fail the call instead of hanging the test.
  static std::unique_ptr<kpg::sdk::NativeClient> connect(const Gateway& gw,
                                                         const std::string& path = "/kafka",
                                                         std::int64_t timeout_ms = 20'000) {
    kpg::sdk::ClientOptions options;
    options.request_timeout_ms = timeout_ms;
    options.reconnect.enabled = false;
    auto client = std::make_unique<kpg::sdk::NativeClient>(options);
    auto r = client->connect("ws://127.0.0.1:" + gw.port + path);
    if (!r) {
      ADD_FAILURE() << "cannot connect to " << path << ": " << r.error().message;
      return nullptr;
    }
    return client;
  }

  static inline ChildProcess* broker_ = nullptr;
  static inline std::string bootstrap_;
  std::filesystem::path dir_;
};

// Eight clients fetch random offsets of one partition while a ninth reads it from start to end:
// far-apart readers used to seek one shared cursor back and forth, and the sequential reader got
// empty replies and never reached the end.
TEST_F(KafkaReadHardening, RandomReadersOfAPartitionDoNotStarveASequentialReader) {
  // Small replies: many fetches per reader, so that they really interleave.
  auto gw = start("fetch_max_bytes: 65536\n");
  ASSERT_FALSE(gw.port.empty());
  OutputDrain drain(*gw.process);
  constexpr int kRandomReaders = 8;
  Problems problems;
  std::atomic<bool> done{false};
  std::vector<int> fetches(kRandomReaders, 0);
  std::vector<std::thread> readers;
  for (int c = 0; c < kRandomReaders; ++c) {
    readers.emplace_back([&, c] {
      auto client = connect(gw);
      if (!client) return;
      std::mt19937 random(static_cast<unsigned>(c) + 1);
      std::uniform_int_distribution<std::int64_t> offsets(0, kHistory - 1);
      while (!done) {
        const auto from = offsets(random);
        auto r = client->fetch("history", 0, from);
        if (!r) {
          problems.add("random reader " + std::to_string(c) + " at " + std::to_string(from) + ": " +
                       r.error().message);
          return;
        }
        if (auto wrong = check_history(r.value(), from); !wrong.empty()) {
          problems.add("random reader " + std::to_string(c) + ": " + wrong);
        }
        ++fetches[static_cast<std::size_t>(c)];
      }
    });
  }
  auto sequential = connect(gw);
  ASSERT_TRUE(sequential);
  std::int64_t next = 0;
  int sequential_fetches = 0;
  const auto started = Clock::now();
  const auto deadline = started + 45s;
  while (next < kHistory && Clock::now() < deadline) {
    auto r = sequential->fetch("history", 0, next);
    if (!r) {
      problems.add("sequential reader at " + std::to_string(next) + ": " + r.error().message);
      break;
    }
    if (auto wrong = check_history(r.value(), next); !wrong.empty()) {
      problems.add("sequential reader: " + wrong);
      break;
    }
    next += static_cast<std::int64_t>(r.value().size());
    ++sequential_fetches;
  }
  const auto took = Clock::now() - started;
  done = true;
  for (auto& t : readers) t.join();

  EXPECT_EQ(next, kHistory) << "the sequential reader did not reach the end";
  EXPECT_EQ(problems.count(), 0u) << problems.summary();
  int random_fetches = 0;
  for (int c = 0; c < kRandomReaders; ++c) {
    EXPECT_GE(fetches[static_cast<std::size_t>(c)], 1) << "random reader " << c << " was starved";
    random_fetches += fetches[static_cast<std::size_t>(c)];
  }
  std::cout << "sequential reader: " << sequential_fetches << " fetches in "
            << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
            << " ms; random readers: " << random_fetches << " fetches\n";
}

TEST_F(KafkaReadHardening, FiftyPipelinedFetchesOfOnePartitionGetFiftyCorrectReplies) {
  auto gw = start("fetch_max_bytes: 65536\n");
  ASSERT_FALSE(gw.port.empty());
  OutputDrain drain(*gw.process);
  auto client = connect(gw);
  ASSERT_TRUE(client);
  constexpr int kFetches = 50;
  // Offsets spread over the whole partition, in an order that jumps back and forth.
  std::vector<std::int64_t> offsets;
  for (int i = 0; i < kFetches; ++i) offsets.push_back((i * 59) % kHistory);
  std::shuffle(offsets.begin(), offsets.end(), std::mt19937(7));
  std::vector<std::promise<std::string>> replies(kFetches);
  for (std::size_t i = 0; i < offsets.size(); ++i) {
    client->async_fetch(
        "history", 0, offsets[i], [&replies, i, from = offsets[i]](kpg::sdk::Result<Records> r) {
          replies[i].set_value(r ? check_history(r.value(), from)
                                 : "fetch at " + std::to_string(from) + ": " + r.error().message);
        });
  }
  for (std::size_t i = 0; i < replies.size(); ++i) {
    auto future = replies[i].get_future();
    ASSERT_EQ(future.wait_for(60s), std::future_status::ready) << "fetch " << i;
    EXPECT_EQ(future.get(), "") << "fetch " << i;
  }
}

// The broker is killed (-9) under a tailing reader and a reader in the middle of the partition,
// then restarted on the same port with an empty log. Once, the tail got empty replies for the
// whole outage with no error, and afterwards every partition that had had a reader answered
// "_STATE: Local: Erroneous state" for good.
TEST_F(KafkaReadHardening, ABrokerKilledAndRestartedIsReportedThenReadAgain) {
  const int port = kpg::testing::free_port();
  ASSERT_GT(port, 0);
  auto start_broker = [port] {
    auto broker = std::make_unique<ChildProcess>(std::vector<std::string>{
        KPG_DEVKAFKA_BIN, "mock", "--port", std::to_string(port), "--topic", "orders:1"});
    auto line = broker->wait_for_line("bootstrap=", 15s);
    EXPECT_TRUE(line) << "mock broker did not start: " << broker->transcript();
    return line ? std::make_pair(std::move(broker), kpg::testing::field(*line, "bootstrap"))
                : std::make_pair(std::move(broker), std::string());
  };
  auto [broker, bootstrap] = start_broker();
  ASSERT_FALSE(bootstrap.empty());
  constexpr std::int64_t kOld = 20;
  {
    kpg::kafka::Producer producer(bootstrap);
    for (std::int64_t i = 0; i < kOld; ++i) {
      ASSERT_EQ(producer.produce("orders", 0, key_of(i), "old-" + std::to_string(i)).error, "");
    }
  }
  auto gw = start("", "", bootstrap);
  ASSERT_FALSE(gw.port.empty());
  OutputDrain drain(*gw.process);
  auto tail = connect(gw);
  auto middle = connect(gw);
  ASSERT_TRUE(tail && middle);

  // Every error any client sees in this test: none may be librdkafka's "erroneous state".
  std::vector<std::string> errors;
  auto error_of = [&errors](const kpg::sdk::Error& e) {
    errors.push_back(e.message);
    return e.message;
  };

  auto at_end = tail->fetch("orders", 0, kOld);
  ASSERT_TRUE(at_end) << at_end.error().message;
  EXPECT_TRUE(at_end.value().empty());
  auto from_middle = middle->fetch("orders", 0, 10);
  ASSERT_TRUE(from_middle) << from_middle.error().message;
  ASSERT_FALSE(from_middle.value().empty());
  EXPECT_EQ(from_middle.value().front().value, "old-10");

  broker->stop(SIGKILL, 5s);
  // The tail waits on the cursor at the end; the middle reader asks for an offset its cursor's
  // window does not hold (offset 10 on would still be served from memory, correctly), so both
  // need the broker. An error is due within seconds, and from then on no empty reply.
  const std::string kUnreachable = "no broker reachable";
  int tail_empty_before_error = 0;
  std::optional<std::string> tail_error;
  std::optional<std::string> middle_error;
  std::vector<std::string> wrong;
  const auto outage_deadline = Clock::now() + 20s;
  while ((!tail_error || !middle_error) && Clock::now() < outage_deadline) {
    if (!tail_error) {
      auto r = tail->fetch("orders", 0, kOld);
      if (!r) {
        tail_error = error_of(r.error());
      } else if (r.value().empty()) {
        ++tail_empty_before_error;
      } else {
        wrong.push_back("tail got records from a dead broker");
      }
    }
    if (!middle_error) {
      auto r = middle->fetch("orders", 0, 5);
      if (!r)
        middle_error = error_of(r.error());
      else
        wrong.push_back("middle reader got " + std::to_string(r.value().size()) +
                        " records at offset 5 from a dead broker");
    }
  }
  ASSERT_TRUE(tail_error) << "the tail got " << tail_empty_before_error
                          << " empty replies in 20 s and no error";
  ASSERT_TRUE(middle_error) << "no error for the middle reader in 20 s";
  EXPECT_NE(tail_error->find(kUnreachable), std::string::npos) << *tail_error;
  EXPECT_NE(middle_error->find(kUnreachable), std::string::npos) << *middle_error;
  EXPECT_TRUE(wrong.empty()) << wrong.front();
  // Once the gateway knows, a fetch at the end is an error, never "no records".
  for (int i = 0; i < 3; ++i) {
    auto r = tail->fetch("orders", 0, kOld);
    ASSERT_FALSE(r) << "an empty reply at the end while the broker is down";
    EXPECT_NE(error_of(r.error()).find(kUnreachable), std::string::npos) << r.error().message;
  }
  auto offset_down = middle->list_offsets("orders", 0, kpg::sdk::kLatest);
  ASSERT_FALSE(offset_down) << "list_offset answered " << offset_down.value() << " while down";
  EXPECT_NE(error_of(offset_down.error()).find(kUnreachable), std::string::npos);

  // Back on the same port, with a fresh, shorter log: offsets start at 0 again.
  auto [restarted, again] = start_broker();
  ASSERT_EQ(again, bootstrap);
  constexpr std::int64_t kNew = 5;
  {
    kpg::kafka::Producer producer(bootstrap);
    for (std::int64_t i = 0; i < kNew; ++i) {
      const auto d = producer.produce("orders", 0, key_of(i), "new-" + std::to_string(i));
      ASSERT_EQ(d.error, "");
      ASSERT_EQ(d.offset, i);
    }
  }
  bool tail_back = false;
  bool middle_back = false;
  int attempts = 0;
  const auto recovery_deadline = Clock::now() + 30s;
  while ((!tail_back || !middle_back) && Clock::now() < recovery_deadline) {
    ++attempts;
    if (!tail_back) {
      // A tailing client that lost its place asks where the end is, then reads on.
      auto end = tail->list_offsets("orders", 0, kpg::sdk::kLatest);
      auto r = tail->fetch("orders", 0, 0);
      if (!end) error_of(end.error());
      if (!r) error_of(r.error());
      tail_back = end && end.value() == kNew && r && !r.value().empty() &&
                  r.value().front().offset == 0 && r.value().front().value == "new-0" &&
                  r.value().back().offset < kNew;
    }
    if (!middle_back) {
      auto r = middle->fetch("orders", 0, 2);
      if (!r) error_of(r.error());
      middle_back = r && !r.value().empty() && r.value().front().offset == 2 &&
                    r.value().front().value == "new-2" && r.value().back().offset < kNew;
    }
    if (!tail_back || !middle_back) std::this_thread::sleep_for(200ms);
  }
  std::string all_errors;
  for (const auto& e : errors) all_errors += "\n  " + e;
  EXPECT_TRUE(tail_back) << "the tailing client never read the restarted broker:" << all_errors;
  EXPECT_TRUE(middle_back) << "the middle reader never read the restarted broker:" << all_errors;
  for (const auto& e : errors) {
    EXPECT_EQ(e.find("_STATE"), std::string::npos) << e;
    EXPECT_EQ(e.find("rroneous state"), std::string::npos) << e;
  }
  std::cout << "outage: " << tail_empty_before_error << " empty tail replies before the error; "
            << "recovered after " << attempts << " attempt(s); errors seen: " << errors.size()
            << "\n";
}

// /dead points at a broker that accepts connections and never answers: each of its requests
// waits the whole kafka_timeout_ms. They once held the gateway's one pool of blocking threads,
// and a healthy route's requests queued behind them.
TEST_F(KafkaReadHardening, ARouteWhoseBrokerNeverAnswersDoesNotHoldUpAHealthyOne) {
  boost::asio::io_context io;
  // Listening, never accepting: the kernel completes connections, nothing is ever read.
  boost::asio::ip::tcp::acceptor silent(
      io, {boost::asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(0)});
  const std::string silent_node = "127.0.0.1:" + std::to_string(silent.local_endpoint().port());
  auto gw = start("", route_yaml("dead", "/dead", silent_node));
  ASSERT_FALSE(gw.port.empty());
  OutputDrain drain(*gw.process);
  auto dead = connect(gw, "/dead");
  auto healthy = connect(gw);
  ASSERT_TRUE(dead && healthy);

  constexpr int kDead = 50;
  std::mutex mutex;
  std::optional<Clock::time_point> first_dead_answer;
  std::vector<std::promise<std::string>> dead_answers(kDead);
  auto answered = [&](int i, std::string what) {
    {
      std::lock_guard lock(mutex);
      if (!first_dead_answer) first_dead_answer = Clock::now();
    }
    dead_answers[static_cast<std::size_t>(i)].set_value(std::move(what));
  };
  for (int i = 0; i < kDead; ++i) {
    const std::string topic = "dead-" + std::to_string(i);
    if (i % 2 == 0) {
      dead->async_list_offsets(topic, 0, kpg::sdk::kLatest, [&answered, i](auto r) {
        answered(i, r ? "offset " + std::to_string(r.value()) : r.error().message);
      });
    } else {
      dead->async_fetch(topic, 0, 0, [&answered, i](auto r) {
        answered(i, r ? std::to_string(r.value().size()) + " records" : r.error().message);
      });
    }
  }
  std::vector<std::string> healthy_failures;
  for (int i = 0; i < 20; ++i) {
    auto r = healthy->list_offsets("orders", 0, kpg::sdk::kLatest);
    if (!r)
      healthy_failures.push_back(r.error().message);
    else if (r.value() != kOrders)
      healthy_failures.push_back("offset " + std::to_string(r.value()));
  }
  auto records = healthy->fetch("orders", 0, 0);
  const auto healthy_done = Clock::now();
  EXPECT_TRUE(healthy_failures.empty()) << healthy_failures.front();
  EXPECT_EQ(check_orders(records), "");

  for (int i = 0; i < kDead; ++i) {
    auto future = dead_answers[static_cast<std::size_t>(i)].get_future();
    ASSERT_EQ(future.wait_for(30s), std::future_status::ready) << "dead request " << i;
    const auto what = future.get();
    EXPECT_NE(what.find("not found topic (no broker reachable)"), std::string::npos)
        << "dead request " << i << ": " << what;
  }
  std::lock_guard lock(mutex);
  ASSERT_TRUE(first_dead_answer);
  EXPECT_LT(healthy_done, *first_dead_answer)
      << "the healthy route's 21 requests finished "
      << std::chrono::duration_cast<std::chrono::milliseconds>(healthy_done - *first_dead_answer)
             .count()
      << " ms after the first answer from the dead route";
}

// Thousands of names that do not exist once made librdkafka track (and keep refreshing) every one
// of them: its main thread stayed busy long after, and healthy requests slowed down 900-fold.
TEST_F(KafkaReadHardening, AFloodOfUnknownTopicsIsAnsweredAndLeavesTheGatewayIdle) {
  // What is under test is the flood of names Kafka does not know; the per-connection request
  // rate (which would refuse most of it sooner) is tested in connection_limits_test.cpp.
  auto gw = start("max_requests_per_second: 0\n");
  ASSERT_FALSE(gw.port.empty());
  std::optional<OutputDrain> drain(std::in_place, *gw.process);
  auto client = connect(gw, "/kafka", 60'000);
  ASSERT_TRUE(client);
  constexpr int kTopics = 2000;
  std::vector<std::promise<std::string>> answers(kTopics);
  for (int i = 0; i < kTopics; ++i) {
    client->async_list_offsets("unknown-" + std::to_string(i), 0, kpg::sdk::kLatest,
                               [&answers, i](kpg::sdk::Result<std::int64_t> r) {
                                 answers[static_cast<std::size_t>(i)].set_value(
                                     r ? "offset " + std::to_string(r.value()) : r.error().message);
                               });
  }
  int wrong = 0;
  for (int i = 0; i < kTopics; ++i) {
    auto future = answers[static_cast<std::size_t>(i)].get_future();
    ASSERT_EQ(future.wait_for(90s), std::future_status::ready) << "request " << i;
    const auto what = future.get();
    const auto expected = "failed to list offset, topic: unknown-" + std::to_string(i) +
                          ", partition: 0, err: not found topic";
    if (what != expected && ++wrong <= 5) ADD_FAILURE() << "request " << i << ": " << what;
  }
  EXPECT_EQ(wrong, 0);

  const int pid = gw.process->pid();
  std::this_thread::sleep_for(500ms);  // whatever the last replies set off has settled
  const auto before = kpg::testing::cpu_time(pid);
  std::this_thread::sleep_for(3s);
  const auto used = kpg::testing::cpu_time(pid) - before;
  drain.reset();
  EXPECT_LT(used, 900ms) << "CPU time used in 3 s of idleness after the flood (30% of a core)";

  EXPECT_EQ(check_orders(client->fetch("orders", 0, 0)), "") << "a healthy fetch after the flood";
  std::cout << "CPU time in 3 idle seconds after " << kTopics << " unknown topics: " << used.count()
            << " ms\n";
}

// One fetch on each of 64 partitions once grew the gateway from 11 to 375 MB, still 388 MB half
// an hour later: cursors were never released and their memory never handed back.
TEST_F(KafkaReadHardening, IdleCursorsAreReleasedAndTheirMemoryReturned) {
  constexpr int kPartitions = 64;
  constexpr int kPerPartition = 30;
  constexpr std::size_t kValueBytes = 50 * 1024;
  {
    kpg::kafka::Producer producer(bootstrap_);
    for (int p = 0; p < kPartitions; ++p) {
      std::vector<std::string> values;
      for (int i = 0; i < kPerPartition; ++i) {
        std::string v = "w" + std::to_string(p) + "-" + std::to_string(i) + ":";
        v.resize(kValueBytes, static_cast<char>('a' + (p + i) % 26));
        values.push_back(std::move(v));
      }
      ASSERT_EQ(producer.produce_many("wide", p, values), "") << "partition " << p;
    }
  }
  auto gw = start("kafka_reader_idle_ms: 1000\n");
  ASSERT_FALSE(gw.port.empty());
  const int pid = gw.process->pid();
  auto client = connect(gw, "/kafka", 60'000);
  ASSERT_TRUE(client);

  // What the broker kept of each partition (the mock keeps a few MB per partition).
  std::vector<std::int64_t> earliest(kPartitions);
  std::int64_t kept = 0;
  for (int p = 0; p < kPartitions; ++p) {
    auto low = client->list_offsets("wide", p, kpg::sdk::kEarliest);
    auto high = client->list_offsets("wide", p, kpg::sdk::kLatest);
    ASSERT_TRUE(low && high) << "partition " << p;
    earliest[static_cast<std::size_t>(p)] = low.value();
    kept += high.value() - low.value();
  }
  ASSERT_GE(kept, kPartitions * 10) << "the broker kept too little to read";

  // "" when `r` holds partition p's records from `from` on.
  auto check = [](int p, std::int64_t from, const kpg::sdk::Result<Records>& r) -> std::string {
    if (!r) return r.error().message;
    if (r.value().empty() || r.value().front().offset != from) return "no records";
    if (r.value().front().value.rfind("w" + std::to_string(p) + "-", 0) != 0) {
      return "another partition's record";
    }
    return "";
  };
  long baseline = 0;
  long peak = 0;
  std::vector<std::string> first_errors;
  {
    OutputDrain drain(*gw.process);
    baseline = kpg::testing::rss_mib(pid);
    std::vector<std::promise<std::string>> replies(kPartitions);
    for (int p = 0; p < kPartitions; ++p) {
      const auto from = earliest[static_cast<std::size_t>(p)];
      client->async_fetch("wide", p, from,
                          [&replies, &check, p, from](kpg::sdk::Result<Records> r) {
                            replies[static_cast<std::size_t>(p)].set_value(check(p, from, r));
                          });
    }
    std::vector<int> again;
    for (int p = 0; p < kPartitions; ++p) {
      auto future = replies[static_cast<std::size_t>(p)].get_future();
      ASSERT_EQ(future.wait_for(60s), std::future_status::ready) << "partition " << p;
      if (auto wrong = future.get(); !wrong.empty()) {
        first_errors.push_back("partition " + std::to_string(p) + ": " + wrong);
        again.push_back(p);
      }
      peak = std::max(peak, kpg::testing::rss_mib(pid));
    }
    // A burst over 64 partitions of large records can outrun kafka_timeout_ms (the gateway then
    // answers with an error, see the report below); what matters here is that each partition
    // gets read, so those are asked again.
    for (int p : again) {
      const auto from = earliest[static_cast<std::size_t>(p)];
      std::string wrong = "not tried";
      for (int attempt = 0; attempt < 5 && !wrong.empty(); ++attempt) {
        wrong = check(p, from, client->fetch("wide", p, from));
        peak = std::max(peak, kpg::testing::rss_mib(pid));
      }
      EXPECT_EQ(wrong, "") << "partition " << p << " was never served";
    }
  }
  // Watch the gateway until every cursor is released and the memory has gone back.
  long released = 0;
  std::string cursors_left;
  long after = -1;
  const auto deadline = Clock::now() + 15s;
  while (Clock::now() < deadline) {
    const auto until = Clock::now() + 250ms;
    while (Clock::now() < until) {
      if (auto l = gw.process->read_line(20ms);
          l && l->find("event=kafka_cursors_released") != std::string::npos) {
        cursors_left = kpg::testing::field(*l, "cursors");
      }
    }
    const long rss = kpg::testing::rss_mib(pid);
    if (cursors_left != "0") {
      peak = std::max(peak, rss);
      continue;
    }
    after = rss;
    if (after - baseline <= (peak - baseline) / 2) break;
  }
  released = sum_of_field(*gw.process, "event=kafka_cursors_released", "released");
  std::cout << "RSS: " << baseline << " MiB before, " << peak << " MiB at the peak, " << after
            << " MiB after " << released << " cursors were released (" << kept
            << " records of 50 KiB kept by the broker); " << first_errors.size()
            << " partition(s) answered with an error first";
  for (std::size_t i = 0; i < first_errors.size() && i < 3; ++i) {
    std::cout << (i ? "; " : ": ") << first_errors[i];
  }
  std::cout << "\n";
  EXPECT_EQ(cursors_left, "0") << "cursors still held after 15 s: " << gw.process->transcript();
  EXPECT_GE(released, kPartitions);
  if (!kpg::testing::kSanitized) {  // ASan's allocator keeps freed memory: no figure to check
    EXPECT_LE(after - baseline, (peak - baseline) / 2) << "MiB still held after the release";
  }
}

// A fetch with a 600-byte topic name, then the route replaced by one with other nodes (which
// retires its Kafka client), then SIGTERM: the gateway once exited non-zero here.
TEST_F(KafkaReadHardening, RetiringARouteAfterARefusedTopicNameThenStoppingExitsCleanly) {
  auto gw = start("");
  ASSERT_FALSE(gw.port.empty());
  // A route of the admin API (the config file's routes cannot be replaced through it).
  const nlohmann::json first = {
      {"uri", "/replaceable"},
      {"upstream", {{"scheme", "kafka"}, {"type", "none"}, {"nodes", {{bootstrap_, 1}}}}}};
  ASSERT_EQ(kpg::testing::http_request(gw.admin_port, boost::beast::http::verb::put,
                                       "/apisix/admin/routes/replaceable", std::string(kAdminKey),
                                       first.dump())
                .status,
            201);
  {
    kpg::testing::RawSocket ws(gw.port, "/replaceable");
    ws.send_binary(kpg::testing::fetch_frame(1, std::string(600, 'x'), 0, 0));
    auto resp = ws.receive();
    ASSERT_TRUE(resp && resp->has_error_resp()) << gw.process->transcript();
    EXPECT_NE(resp->error_resp().message().find("invalid topic name"), std::string::npos)
        << resp->error_resp().message();
  }
  int refusing_port = 0;
  const int refusing = kpg::testing::bind_refusing_port(&refusing_port);
  ASSERT_GE(refusing, 0);
  const nlohmann::json route = {
      {"uri", "/replaceable"},
      {"upstream",
       {{"scheme", "kafka"},
        {"type", "none"},
        {"nodes", {{bootstrap_, 1}, {"127.0.0.1:" + std::to_string(refusing_port), 1}}}}}};
  auto put = kpg::testing::http_request(gw.admin_port, boost::beast::http::verb::put,
                                        "/apisix/admin/routes/replaceable", std::string(kAdminKey),
                                        route.dump());
  EXPECT_EQ(put.status, 200) << put.body;
  // The replaced route serves: its new Kafka client finds the live broker among its nodes (its
  // first requests may fail while it tries the refusing one).
  {
    auto client = connect(gw, "/replaceable");
    ASSERT_TRUE(client);
    std::vector<std::string> errors;
    for (int attempt = 0; attempt < 5; ++attempt) {
      errors.push_back(check_orders(client->fetch("orders", 0, 0)));
      if (errors.back().empty()) break;
    }
    EXPECT_EQ(errors.back(), "") << errors.size() << " attempts, the first: " << errors.front();
  }
  EXPECT_EQ(gw.process->stop(SIGTERM, 10s), 0) << gw.process->transcript();
  ::close(refusing);
}

}  // namespace
