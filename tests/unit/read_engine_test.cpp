// The read path's logic (kafka/read_engine.*, kafka/record_window.*) against an in-memory Kafka
// cluster: windows, cursors far apart, waits at the end, failures and recovery, bounded state,
// and a property test of random requests checked against a model of the partition.
#include "kafka/read_engine.h"
#include "kafka/record_window.h"

#include "fake_kafka_cluster.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <future>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <thread>

namespace {

using kpg::kafka::ErrorKind;
using kpg::kafka::FetchLimits;
using kpg::kafka::FetchResult;
using kpg::kafka::OffsetResult;
using kpg::kafka::ReadEngine;
using kpg::kafka::ReadOptions;
using kpg::kafka::Record;
using kpg::kafka::RecordWindow;
using kpg::testing::FakeKafkaCluster;
using namespace std::chrono_literals;

Record rec(std::int64_t offset, std::size_t size) {
  return Record{offset, offset, "", std::string(size, 'v')};
}

TEST(RecordWindow, HoldsWhatWasAppendedAndReadsAtLeastOneRecord) {
  RecordWindow w(1000);
  w.reset(10);
  EXPECT_FALSE(w.holds(10));
  EXPECT_TRUE(w.append(rec(10, 100)));
  EXPECT_TRUE(w.append(rec(12, 100)));  // 11 compacted away
  EXPECT_FALSE(w.append(rec(12, 100))) << "a duplicate is refused";
  EXPECT_FALSE(w.append(rec(5, 100))) << "a record before the window's end is refused";
  EXPECT_TRUE(w.holds(11));
  EXPECT_FALSE(w.holds(13));
  const auto from_11 = w.read(11, 1);
  ASSERT_EQ(from_11.size(), 1u) << "at least one record, whatever the limit";
  EXPECT_EQ(from_11[0].offset, 12);
  EXPECT_EQ(w.read(10, 200).size(), 2u);
  EXPECT_EQ(w.read(10, 199).size(), 1u);
  EXPECT_TRUE(w.read(13, 1000).empty());
}

TEST(RecordWindow, EvictsTheOldestButNeverWhatSomeoneWaitsFor) {
  RecordWindow w(250);
  w.reset(0);
  for (int i = 0; i < 5; ++i) w.append(rec(i, 100));
  EXPECT_EQ(w.from(), 3) << "over budget: the oldest go";
  EXPECT_LE(w.bytes(), 250u);
  RecordWindow pinned(250);
  pinned.reset(0);
  for (int i = 0; i < 5; ++i) pinned.append(rec(i, 100), /*keep_from=*/1);
  EXPECT_EQ(pinned.from(), 1) << "records a waiter needs are kept over budget";
  RecordWindow gaps(150);
  gaps.reset(0);
  gaps.append(rec(0, 100));
  gaps.append(rec(5, 100));  // 1-4 compacted away
  EXPECT_EQ(gaps.from(), 1) << "the gap after a dropped record stays covered";
  ASSERT_TRUE(gaps.holds(3));
  EXPECT_EQ(gaps.read(3, 1000).front().offset, 5);
}

// A fetch through the engine, waited for.
FetchResult fetch(ReadEngine& engine, const std::string& topic, std::int32_t partition,
                  std::int64_t offset, FetchLimits limits = {}) {
  std::promise<FetchResult> p;
  engine.fetch(topic, partition, offset, limits, nullptr,
               [&p](FetchResult r) { p.set_value(std::move(r)); });
  return p.get_future().get();
}

OffsetResult list_offset(ReadEngine& engine, const std::string& topic, std::int64_t timestamp) {
  std::promise<OffsetResult> p;
  engine.list_offset(topic, 0, timestamp, nullptr,
                     [&p](OffsetResult r) { p.set_value(std::move(r)); });
  return p.get_future().get();
}

struct Engine {
  explicit Engine(ReadOptions options = {}, int partitions = 1) {
    auto owned = std::make_unique<FakeKafkaCluster>();
    cluster = owned.get();
    cluster->create_topic("t", partitions);
    engine = std::make_unique<ReadEngine>(std::move(owned), options, "test");
  }
  FakeKafkaCluster* cluster;
  std::unique_ptr<ReadEngine> engine;
};

ReadOptions small_options() {
  ReadOptions o;
  o.window_bytes = 4096;
  o.request_timeout = 1500ms;
  o.reader_idle = 200ms;
  o.lane_idle = 200ms;
  return o;
}

TEST(ReadEngine, ServesRecordsAndReportsTheEnds) {
  Engine e(small_options());
  for (int i = 0; i < 10; ++i) e.cluster->append("t", 0, "k", "v" + std::to_string(i));
  auto r = fetch(*e.engine, "t", 0, 3);
  ASSERT_FALSE(r.error) << r.error->text;
  ASSERT_EQ(r.records.size(), 7u);
  EXPECT_EQ(r.records.front().offset, 3);
  EXPECT_EQ(r.records.front().value, "v3");
  EXPECT_EQ(list_offset(*e.engine, "t", -2).offset, 0);
  EXPECT_EQ(list_offset(*e.engine, "t", -1).offset, 10);
  auto past = fetch(*e.engine, "t", 0, 11);
  ASSERT_TRUE(past.error);
  EXPECT_EQ(past.error->kind, ErrorKind::offset_out_of_range);
  FetchLimits quick;
  quick.max_wait = 50ms;
  auto at_end = fetch(*e.engine, "t", 0, 10, quick);
  EXPECT_FALSE(at_end.error);
  EXPECT_TRUE(at_end.records.empty()) << "no records at the end, after the wait";
}

TEST(ReadEngine, RefusesInvalidNamesBeforeAskingTheCluster) {
  Engine e(small_options());
  for (const std::string& bad : {std::string(600, 'x'), std::string(40000, 'x'),
                                 std::string("many\0x", 6), std::string("a/b"), std::string()}) {
    auto r = fetch(*e.engine, bad, 0, 0);
    ASSERT_TRUE(r.error);
    EXPECT_EQ(r.error->kind, ErrorKind::invalid_request);
  }
  EXPECT_EQ(e.cluster->topic_calls(), 0);
  EXPECT_EQ(e.cluster->starts(), 0);
}

TEST(ReadEngine, AFloodOfUnknownTopicsCostsOneLookUpPerRefreshInterval) {
  Engine e(small_options());
  for (int i = 0; i < 500; ++i) {
    auto r = list_offset(*e.engine, "missing-" + std::to_string(i), -1);
    ASSERT_TRUE(r.error);
    EXPECT_EQ(r.error->kind, ErrorKind::unknown_topic);
  }
  EXPECT_LE(e.cluster->topic_calls(), 3) << "unknown topics are answered from the topic list";
}

TEST(ReadEngine, IdenticalOffsetLookUpsInFlightShareOneBrokerCall) {
  Engine e(small_options());
  for (int i = 0; i < 7; ++i) e.cluster->append("t", 0, "", "v");
  e.cluster->set_latency(50ms);
  std::vector<std::future<OffsetResult>> replies;
  std::vector<std::promise<OffsetResult>> promises(300);
  for (auto& p : promises) {
    replies.push_back(p.get_future());
    e.engine->list_offset("t", 0, -1, nullptr, [&p](OffsetResult r) { p.set_value(std::move(r)); });
  }
  for (auto& r : replies) {
    auto result = r.get();
    ASSERT_FALSE(result.error) << result.error->text;
    EXPECT_EQ(result.offset, 7);
  }
  EXPECT_LE(e.cluster->watermark_calls(), 10) << "300 identical look-ups, a handful of calls";
}

TEST(ReadEngine, AWaitAtTheEndIsAnsweredByTheNextRecordWithoutPolling) {
  Engine e(small_options());
  e.cluster->append("t", 0, "", "first");
  FetchLimits limits;
  limits.max_wait = 5000ms;
  std::promise<FetchResult> p;
  const auto asked = std::chrono::steady_clock::now();
  e.engine->fetch("t", 0, 1, limits, nullptr, [&p](FetchResult r) { p.set_value(std::move(r)); });
  std::this_thread::sleep_for(100ms);
  e.cluster->append("t", 0, "", "second");
  auto r = p.get_future().get();
  ASSERT_FALSE(r.error);
  ASSERT_EQ(r.records.size(), 1u);
  EXPECT_EQ(r.records[0].value, "second");
  EXPECT_LT(std::chrono::steady_clock::now() - asked, 4000ms) << "woken by the record";
}

TEST(ReadEngine, WhileBrokersAreAwayClientsGetAnErrorNotEmptyRepliesAndReadersRecover) {
  Engine e(small_options());
  for (int i = 0; i < 5; ++i) e.cluster->append("t", 0, "", "v");
  ASSERT_EQ(fetch(*e.engine, "t", 0, 0).records.size(), 5u);
  e.cluster->set_down(true);
  FetchLimits quick;
  quick.max_wait = 50ms;
  auto at_end = fetch(*e.engine, "t", 0, 5, quick);
  ASSERT_TRUE(at_end.error) << "an empty reply would hide the outage";
  EXPECT_EQ(at_end.error->kind, ErrorKind::unreachable);
  auto fresh = fetch(*e.engine, "t", 0, 2);  // served from the window: the records exist
  EXPECT_FALSE(fresh.error);
  e.cluster->set_down(false);
  // The broker lost the cursor's position (as a restarted broker does): the cursor fails once
  // and is replaced; the next fetch reads again.
  e.cluster->inject_error({"t", 0}, {ErrorKind::other, "_STATE", "fake: erroneous state"});
  e.cluster->append("t", 0, "", "after");
  std::int64_t next = 5;
  for (int attempt = 0; attempt < 20 && next == 5; ++attempt) {
    auto r = fetch(*e.engine, "t", 0, 5, quick);
    if (!r.error && !r.records.empty()) next = r.records.back().offset + 1;
  }
  EXPECT_EQ(next, 6) << "the reader recovered";
}

TEST(ReadEngine, IdleCursorsAndConnectionsAreReleased) {
  auto options = small_options();
  Engine e(options, 16);
  for (int p = 0; p < 16; ++p) e.cluster->append("t", p, "", "v");
  for (int p = 0; p < 16; ++p) ASSERT_EQ(fetch(*e.engine, "t", p, 0).records.size(), 1u);
  EXPECT_EQ(e.engine->stats().readers, 16u);
  for (int i = 0; i < 50 && (e.engine->stats().readers > 0 || e.engine->stats().open_lanes > 0);
       ++i) {
    std::this_thread::sleep_for(100ms);
  }
  EXPECT_EQ(e.engine->stats().readers, 0u);
  EXPECT_EQ(e.engine->stats().open_lanes, 0u);
}

TEST(ReadEngine, CursorsAreBoundedAndTheLeastRecentlyUsedIsReleased) {
  auto options = small_options();
  options.max_readers = 4;
  options.reader_idle = 60s;
  Engine e(options, 10);
  for (int p = 0; p < 10; ++p) e.cluster->append("t", p, "", "v");
  for (int p = 0; p < 10; ++p) {
    auto r = fetch(*e.engine, "t", p, 0);
    ASSERT_FALSE(r.error) << r.error->text;
    ASSERT_EQ(r.records.size(), 1u);
  }
  EXPECT_LE(e.engine->stats().readers, 4u);
}

// Property: random fetches and list_offsets (in range, out of range, negative, huge, pipelined,
// from many clients at once, with records arriving meanwhile and offsets with gaps) each get
// exactly what a model of the partition says: the records from the offset on, contiguous, within
// the byte limit (at least one); "no records" only at the end; out of range only outside the log.
TEST(ReadEngine, RandomRequestsGetExactlyWhatTheModelSays) {
  auto options = small_options();
  options.window_bytes = 64 * 1024;
  options.lanes = 2;
  options.max_readers = 3;
  Engine e(options, 2);
  e.cluster->set_latency(200us);
  std::mt19937 rng(20261129);
  auto random_value = [&rng] {
    return std::string(std::uniform_int_distribution<std::size_t>(0, 3000)(rng), 'x');
  };
  for (int p = 0; p < 2; ++p) {
    for (int i = 0; i < 400; ++i) {
      e.cluster->append("t", p, "k" + std::to_string(i), random_value(),
                        std::uniform_int_distribution<int>(0, 9)(rng) == 0 ? 2 : 0);
    }
  }
  e.cluster->truncate("t", 1, 20);

  std::mutex mutex;
  std::condition_variable cv;
  int outstanding = 0;
  int empty_replies = 0;
  std::vector<std::string> failures;
  std::atomic<bool> producing{true};
  std::thread producer([&] {
    std::mt19937 r(7);
    while (producing) {
      e.cluster->append("t", static_cast<std::int32_t>(r() % 2), "late",
                        std::string(r() % 500, 'y'));
      std::this_thread::sleep_for(1ms);
    }
  });

  auto check_fetch = [&](std::int32_t partition, std::int64_t offset, std::int64_t high_when_asked,
                         std::size_t max_bytes, FetchResult r) {
    // The log only grows at the end: what was there when asked is still there now.
    const auto log = e.cluster->log("t", partition);
    std::string failure;
    if (r.error) {
      const bool outside = offset < log.low || offset > high_when_asked;
      if (r.error->kind != ErrorKind::offset_out_of_range || !outside) {
        failure = "offset " + std::to_string(offset) + ": error " + r.error->text;
      }
    } else if (r.records.empty()) {
      // Empty is right only at the end as it was when asked (it may have moved on since).
      if (offset < log.low) failure = "empty below the log start";
      if (offset < high_when_asked) {
        failure = "empty at " + std::to_string(offset) + " below the end " +
                  std::to_string(high_when_asked);
      }
      std::lock_guard lock(mutex);
      ++empty_replies;
    } else {
      auto it = std::lower_bound(log.records.begin(), log.records.end(), offset,
                                 [](const Record& x, std::int64_t o) { return x.offset < o; });
      std::size_t bytes = 0;
      for (std::size_t i = 0; i < r.records.size() && failure.empty(); ++i, ++it) {
        if (it == log.records.end() || it->offset != r.records[i].offset ||
            it->value != r.records[i].value || it->key != r.records[i].key) {
          failure = "partition " + std::to_string(partition) + " offset " + std::to_string(offset) +
                    ": record " + std::to_string(i) + " (offset " +
                    std::to_string(r.records[i].offset) + ") differs from the log (" +
                    (it == log.records.end() ? std::string("end") : std::to_string(it->offset)) +
                    ")";
        }
        bytes += r.records[i].key.size() + r.records[i].value.size();
      }
      if (r.records.size() > 1 && bytes > max_bytes) failure = "over the byte limit";
    }
    std::lock_guard lock(mutex);
    if (!failure.empty()) failures.push_back(failure);
    --outstanding;
    cv.notify_all();
  };

  for (int round = 0; round < 60; ++round) {
    for (int i = 0; i < 20; ++i) {
      const auto partition = static_cast<std::int32_t>(rng() % 2);
      const auto log = e.cluster->log("t", partition);
      const int kind = static_cast<int>(rng() % 10);
      std::int64_t offset;
      if (kind == 0) {
        offset = -1 - static_cast<std::int64_t>(rng() % 5);
      } else if (kind == 1) {
        offset = log.high + static_cast<std::int64_t>(rng() % 3);
      } else if (kind == 2) {
        offset = std::numeric_limits<std::int64_t>::max() - static_cast<std::int64_t>(rng() % 3);
      } else {
        offset = static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(log.high + 1));
      }
      FetchLimits limits;
      limits.max_bytes = 1 + rng() % 20000;
      limits.max_wait = 20ms;
      {
        std::lock_guard lock(mutex);
        ++outstanding;
      }
      if (rng() % 8 == 0) {
        const std::int64_t ts = rng() % 2 ? -1 : -2;
        e.engine->list_offset("t", partition, ts, nullptr, [&, partition, ts](OffsetResult r) {
          const auto now = e.cluster->log("t", partition);
          std::lock_guard lock(mutex);
          if (r.error) {
            failures.push_back("list_offset: " + r.error->text);
          } else if (ts == -2 && r.offset != now.low) {
            failures.push_back("earliest " + std::to_string(r.offset));
          } else if (ts == -1 && (r.offset < 0 || r.offset > now.high)) {
            failures.push_back("latest " + std::to_string(r.offset));
          }
          --outstanding;
          cv.notify_all();
        });
        continue;
      }
      e.engine->fetch(
          "t", partition, offset, limits, nullptr,
          [&, partition, offset, high = log.high, max = limits.max_bytes](FetchResult r) {
            check_fetch(partition, offset, high, max, std::move(r));
          });
    }
    std::unique_lock lock(mutex);
    ASSERT_TRUE(cv.wait_for(lock, 30s, [&] { return outstanding == 0; })) << "a request hung";
  }
  producing = false;
  producer.join();
  for (const auto& f : failures) ADD_FAILURE() << f;
  EXPECT_TRUE(failures.empty());
  EXPECT_LT(empty_replies, 400) << "empty replies are the exception (only at the end)";
}

// A reader walking a partition from its start while others read random offsets of it keeps
// getting records: cursors far apart never take each other's position away for good.
TEST(ReadEngine, ASequentialReaderProgressesWhileOthersReadRandomOffsets) {
  auto options = small_options();
  options.window_bytes = 16 * 1024;
  Engine e(options);
  e.cluster->set_latency(100us);
  for (int i = 0; i < 2000; ++i) e.cluster->append("t", 0, "", std::string(200, 'v'));
  std::atomic<bool> stop{false};
  std::vector<std::thread> randoms;
  std::atomic<int> random_errors{0};
  for (int c = 0; c < 8; ++c) {
    randoms.emplace_back([&, c] {
      std::mt19937 rng(static_cast<unsigned>(c));
      while (!stop) {
        auto r = fetch(*e.engine, "t", 0, static_cast<std::int64_t>(rng() % 2000));
        if (r.error || r.records.empty()) ++random_errors;
      }
    });
  }
  std::int64_t next = 0;
  int empty = 0;
  while (next < 2000) {
    FetchLimits limits;
    limits.max_bytes = 2000;
    auto r = fetch(*e.engine, "t", 0, next, limits);
    ASSERT_FALSE(r.error) << r.error->text;
    if (r.records.empty()) {
      ++empty;
      continue;
    }
    ASSERT_EQ(r.records.front().offset, next);
    next = r.records.back().offset + 1;
  }
  stop = true;
  for (auto& t : randoms) t.join();
  EXPECT_EQ(empty, 0) << "records existed for every request";
  EXPECT_EQ(random_errors, 0);
}

}  // namespace

// ---- shared batches, waits without end, cancellation (push subscriptions) -------------------

namespace push {

using kpg::kafka::BatchPtr;
using kpg::kafka::BatchResult;
using kpg::kafka::Cancellation;

ReadOptions counting_encoder(std::atomic<int>& encodes) {
  ReadOptions o = small_options();
  o.encoder = [&encodes](const std::vector<Record>& records) {
    ++encodes;
    std::string body;
    for (const auto& r : records) body += std::to_string(r.offset) + ",";
    return body;
  };
  return o;
}

FetchLimits forever() {
  FetchLimits limits;
  limits.max_wait = FetchLimits::kWaitForever;
  return limits;
}

TEST(ReadEnginePush, EveryReaderOfOneStretchGetsTheSameBatchEncodedOnce) {
  std::atomic<int> encodes{0};
  Engine e(counting_encoder(encodes));
  for (int i = 0; i < 5; ++i) e.cluster->append("t", 0, "k", "v");
  constexpr int kReaders = 50;
  std::vector<std::promise<BatchResult>> promises(kReaders);
  for (auto& p : promises) {
    e.engine->fetch_batch("t", 0, 0, FetchLimits{}, nullptr,
                          [&p](BatchResult r) { p.set_value(std::move(r)); });
  }
  std::set<const kpg::kafka::RecordBatch*> distinct;
  for (auto& p : promises) {
    auto r = p.get_future().get();
    ASSERT_FALSE(r.error) << r.error->text;
    ASSERT_TRUE(r.batch);
    EXPECT_EQ(r.batch->first_offset, 0);
    EXPECT_EQ(r.batch->records, static_cast<std::size_t>(r.batch->next_offset));
    distinct.insert(r.batch.get());
  }
  // The first replies may be made before every record arrived (a second, longer batch then);
  // each distinct batch is encoded once whatever the number of readers.
  EXPECT_LE(distinct.size(), 2u);
  EXPECT_EQ(encodes.load(), static_cast<int>(distinct.size()));
}

TEST(ReadEnginePush, AWaitWithoutEndIsAnsweredByTheNextRecordOnly) {
  std::atomic<int> encodes{0};
  Engine e(counting_encoder(encodes));
  e.cluster->append("t", 0, "k", "first");
  std::promise<BatchResult> p;
  auto answered = p.get_future();
  e.engine->fetch_batch("t", 0, 1, forever(), nullptr,
                        [&p](BatchResult r) { p.set_value(std::move(r)); });
  // Longer than the request timeout (1.5 s) and any fetch wait: still waiting, no error.
  EXPECT_EQ(answered.wait_for(2s), std::future_status::timeout);
  EXPECT_EQ(e.engine->stats().standing, 1u);
  e.cluster->append("t", 0, "k", "second");
  ASSERT_EQ(answered.wait_for(5s), std::future_status::ready);
  auto r = answered.get();
  ASSERT_FALSE(r.error) << r.error->text;
  ASSERT_TRUE(r.batch);
  EXPECT_EQ(r.batch->first_offset, 1);
  EXPECT_EQ(r.batch->next_offset, 2);
  EXPECT_EQ(e.engine->stats().standing, 0u);
}

TEST(ReadEnginePush, ACancelledWaitEndsUnheardAndFreesItsCursor) {
  std::atomic<int> encodes{0};
  Engine e(counting_encoder(encodes));
  e.cluster->append("t", 0, "k", "v");
  auto token = std::make_shared<Cancellation>();
  std::atomic<bool> called{false};
  e.engine->fetch_batch("t", 0, 1, forever(), token, [&called](BatchResult) { called = true; });
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (e.engine->stats().standing == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);
  }
  ASSERT_EQ(e.engine->stats().standing, 1u);
  token->cancel();
  while ((e.engine->stats().standing > 0 || e.engine->stats().readers > 0) &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_EQ(e.engine->stats().standing, 0u) << "the wait ended";
  EXPECT_EQ(e.engine->stats().readers, 0u) << "its cursor was released as idle";
  e.cluster->append("t", 0, "k", "after");
  std::this_thread::sleep_for(100ms);
  EXPECT_FALSE(called) << "a cancelled request is never answered";
}

// Look-ups queued behind slow broker calls for a connection that has gone are skipped: they used
// to run to the end and hold the cluster's threads.
TEST(ReadEnginePush, CancelledLookUpsDoNotReachTheBroker) {
  Engine e(small_options(), 40);
  e.cluster->set_latency(50ms);
  auto token = std::make_shared<Cancellation>();
  std::atomic<int> answered{0};
  for (int p = 0; p < 40; ++p) {
    e.engine->list_offset("t", p, -1, token, [&answered](OffsetResult) { ++answered; });
  }
  std::this_thread::sleep_for(80ms);  // the first call or two are under way
  token->cancel();
  std::this_thread::sleep_for(1500ms);
  EXPECT_EQ(answered.load(), 0);
  EXPECT_LE(e.cluster->watermark_calls(), 6) << "of 40 queued calls, those not started are skipped";
  // The cluster's threads are free again: a live request is answered at once.
  EXPECT_FALSE(list_offset(*e.engine, "t", -1).error);
}

// A subscriber catching up from the start reads through a cursor of its own, then moves onto the
// cursor at the head without a gap or a duplicate; its own cursor is released.
TEST(ReadEnginePush, ACatchUpReaderJoinsTheHeadCursorWithoutGapOrDuplicate) {
  std::atomic<int> encodes{0};
  Engine e(counting_encoder(encodes));  // windows of 4 KiB
  for (int i = 0; i < 200; ++i) e.cluster->append("t", 0, "k", std::string(100, 'v'));
  // A reader waits at the head.
  std::promise<BatchResult> head;
  e.engine->fetch_batch("t", 0, 200, forever(), nullptr,
                        [&head](BatchResult r) { head.set_value(std::move(r)); });
  // Another reads everything from 0, one batch after the other.
  std::int64_t next = 0;
  while (next < 200) {
    std::promise<BatchResult> p;
    e.engine->fetch_batch("t", 0, next, forever(), nullptr,
                          [&p](BatchResult r) { p.set_value(std::move(r)); });
    auto r = p.get_future().get();
    ASSERT_FALSE(r.error) << r.error->text;
    ASSERT_TRUE(r.batch);
    ASSERT_EQ(r.batch->first_offset, next);
    std::string expected;
    for (auto o = r.batch->first_offset; o < r.batch->next_offset; ++o) {
      expected += std::to_string(o) + ",";
    }
    ASSERT_EQ(r.batch->body, expected) << "contiguous records from the requested offset";
    next = r.batch->next_offset;
  }
  e.cluster->append("t", 0, "k", "new");
  auto tail = head.get_future().get();
  ASSERT_TRUE(tail.batch);
  EXPECT_EQ(tail.batch->first_offset, 200);
  // Both now wait at 201: one cursor serves them.
  std::promise<BatchResult> a;
  std::promise<BatchResult> b;
  e.engine->fetch_batch("t", 0, 201, forever(), nullptr,
                        [&a](BatchResult r) { a.set_value(std::move(r)); });
  e.engine->fetch_batch("t", 0, 201, forever(), nullptr,
                        [&b](BatchResult r) { b.set_value(std::move(r)); });
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(e.engine->stats().readers, 1u) << "the catch-up cursor was released at the head";
  e.cluster->append("t", 0, "k", "newer");
  EXPECT_EQ(a.get_future().get().batch, b.get_future().get().batch) << "one shared batch";
}

// ---- standing reads (BatchStream) ---------------------------------------------------------

// A stream's answers, for a test to take one at a time.
struct StreamAnswers {
  std::mutex mutex;
  std::condition_variable arrived;
  std::deque<BatchResult> answers;
  std::function<void(BatchResult)> callback() {
    return [this](BatchResult r) {
      std::lock_guard lock(mutex);
      answers.push_back(std::move(r));
      arrived.notify_all();
    };
  }
  std::optional<BatchResult> take(std::chrono::milliseconds within = 5s) {
    std::unique_lock lock(mutex);
    if (!arrived.wait_for(lock, within, [&] { return !answers.empty(); })) return std::nullopt;
    auto r = std::move(answers.front());
    answers.pop_front();
    return r;
  }
};

std::size_t wait_for_standing(ReadEngine& engine, std::size_t expected) {
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (engine.stats().standing != expected && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(5ms);
  }
  return engine.stats().standing;
}

// One stream follows a partition while it is written: each request is answered from the offset
// asked, contiguous, until the end; then it waits for the next record.
TEST(ReadEngineStream, FollowsAPartitionBatchAfterBatchWithoutGapOrDuplicate) {
  std::atomic<int> encodes{0};
  Engine e(counting_encoder(encodes));
  for (int i = 0; i < 50; ++i) e.cluster->append("t", 0, "k", std::string(100, 'v'));
  StreamAnswers got;
  auto stream = e.engine->open_stream("t", 0, forever(), nullptr, got.callback());
  std::thread writer([&] {
    for (int i = 50; i < 300; ++i) {
      e.cluster->append("t", 0, "k", std::string(100, 'v'));
      if (i % 25 == 0) std::this_thread::sleep_for(5ms);
    }
  });
  std::int64_t next = 0;
  while (next < 300) {
    stream->next(next);
    auto r = got.take();
    ASSERT_TRUE(r) << "no answer for offset " << next;
    ASSERT_FALSE(r->error) << r->error->text;
    ASSERT_TRUE(r->batch) << "a wait without end is answered with records only";
    ASSERT_EQ(r->batch->first_offset, next);
    std::string expected;
    for (auto o = r->batch->first_offset; o < r->batch->next_offset; ++o) {
      expected += std::to_string(o) + ",";
    }
    ASSERT_EQ(r->batch->body, expected);
    next = r->batch->next_offset;
  }
  writer.join();
  EXPECT_EQ(next, 300);
  EXPECT_EQ(e.engine->stats().standing, 0u) << "answered and not asked again: nothing waits";
  stream->next(300);
  EXPECT_EQ(wait_for_standing(*e.engine, 1), 1u);
  EXPECT_FALSE(got.take(100ms)) << "nothing past the end yet";
  e.cluster->append("t", 0, "k", "tail");
  auto tail = got.take();
  ASSERT_TRUE(tail && tail->batch);
  EXPECT_EQ(tail->batch->first_offset, 300);
}

// Closing a stream ends its wait and releases its callback (and what that holds) at once, not
// at the next record nor the next sweep.
TEST(ReadEngineStream, ClosingEndsTheWaitAndReleasesTheCallback) {
  std::atomic<int> encodes{0};
  Engine e(counting_encoder(encodes));
  e.cluster->append("t", 0, "k", "v");
  auto held = std::make_shared<int>(1);
  std::weak_ptr<int> watch = held;
  std::atomic<bool> called{false};
  auto stream =
      e.engine->open_stream("t", 0, forever(), nullptr,
                            [held = std::move(held), &called](BatchResult) { called = true; });
  stream->next(1);
  ASSERT_EQ(wait_for_standing(*e.engine, 1), 1u);
  EXPECT_FALSE(watch.expired());
  stream.reset();
  EXPECT_EQ(wait_for_standing(*e.engine, 0), 0u);
  EXPECT_TRUE(watch.expired()) << "the callback was released with the stream";
  e.cluster->append("t", 0, "k", "after");
  std::this_thread::sleep_for(100ms);
  EXPECT_FALSE(called);
}

// A cancelled stream is not answered again, and a request it makes afterwards is not a wait.
TEST(ReadEngineStream, ACancelledStreamIsNotAnsweredAgain) {
  std::atomic<int> encodes{0};
  Engine e(counting_encoder(encodes));
  e.cluster->append("t", 0, "k", "v");
  auto token = std::make_shared<Cancellation>();
  StreamAnswers got;
  auto stream = e.engine->open_stream("t", 0, forever(), token, got.callback());
  stream->next(0);
  auto first = got.take();
  ASSERT_TRUE(first && first->batch);
  stream->next(1);
  ASSERT_EQ(wait_for_standing(*e.engine, 1), 1u);
  token->cancel();
  EXPECT_EQ(wait_for_standing(*e.engine, 0), 0u) << "its wait ended within a sweep";
  stream->next(1);
  e.cluster->append("t", 0, "k", "after");
  EXPECT_FALSE(got.take(300ms));
  EXPECT_EQ(e.engine->stats().standing, 0u);
}

// What a fetch refuses, a stream refuses too: bad offsets, partitions and names, as errors.
TEST(ReadEngineStream, RefusesWhatAFetchRefuses) {
  std::atomic<int> encodes{0};
  Engine e(counting_encoder(encodes));
  e.cluster->append("t", 0, "k", "v");
  StreamAnswers got;
  auto stream = e.engine->open_stream("t", 0, forever(), nullptr, got.callback());
  stream->next(-5);
  auto bad_offset = got.take();
  ASSERT_TRUE(bad_offset && bad_offset->error);
  EXPECT_EQ(bad_offset->error->kind, ErrorKind::offset_out_of_range);
  stream->next(0);
  auto fine = got.take();
  ASSERT_TRUE(fine && fine->batch) << "the stream goes on after a refused request";

  StreamAnswers none;
  auto missing = e.engine->open_stream("t", 7, forever(), nullptr, none.callback());
  missing->next(0);
  auto no_partition = none.take();
  ASSERT_TRUE(no_partition && no_partition->error);
  EXPECT_EQ(no_partition->error->kind, ErrorKind::unknown_partition);

  StreamAnswers invalid;
  auto bad_name = e.engine->open_stream("bad name!", 0, forever(), nullptr, invalid.callback());
  bad_name->next(0);
  auto refused = invalid.take();
  ASSERT_TRUE(refused && refused->error);
  EXPECT_EQ(refused->error->kind, ErrorKind::invalid_request);
  EXPECT_EQ(e.engine->stats().standing, 0u);
}

}  // namespace push
