#include "kafka/read_engine.h"

#include "kafka/record_window.h"
#include "kafka/topic_name.h"

#include <spdlog/spdlog.h>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>

#include <malloc.h>

#include <algorithm>
#include <atomic>
#include <deque>
#include <future>
#include <map>
#include <mutex>
#include <thread>
#include <tuple>
#include <vector>

namespace kpg::kafka {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

namespace {

// Partitions are looked up by what a lane reports (a topic name it owns and a partition) without
// building a string per record.
struct TopicPartitionLess {
  using is_transparent = void;
  using View = std::pair<std::string_view, std::int32_t>;
  static View view(const TopicPartition& tp) { return {tp.topic, tp.partition}; }
  bool operator()(const TopicPartition& a, const TopicPartition& b) const {
    return view(a) < view(b);
  }
  bool operator()(const TopicPartition& a, const View& b) const { return view(a) < b; }
  bool operator()(const View& a, const TopicPartition& b) const { return a < view(b); }
};

KafkaError busy() {
  return {ErrorKind::overloaded, "gateway busy, try again", "request queue of the cluster is full"};
}

std::optional<KafkaError> check_request(const std::string& topic, std::int32_t partition) {
  if (!is_valid_topic_name(topic)) {
    return KafkaError{ErrorKind::invalid_request, "invalid topic name"};
  }
  if (partition < 0) return KafkaError{ErrorKind::unknown_partition, "not found partition"};
  return std::nullopt;
}

std::optional<KafkaError> check_fetch(const std::string& topic, std::int32_t partition,
                                      std::int64_t offset) {
  auto error = check_request(topic, partition);
  if (!error && offset < 0) {
    error = KafkaError{ErrorKind::offset_out_of_range, "OFFSET_OUT_OF_RANGE"};
  }
  return error;
}

KafkaError read_timeout() {
  return {ErrorKind::unreachable, "not found topic (no broker reachable)",
          "records known to exist did not arrive within the request timeout"};
}

}  // namespace

struct ReadEngine::Impl {
  struct Reader;

  // One fetch waiting for records, a cursor, or a look-up. It is answered with records (`done`) or
  // with a shared encoded batch (`batch_done`), exactly one of which is set.
  struct Waiter {
    Waiter(asio::io_context& io, TopicPartition tp_, std::int64_t offset_, FetchLimits limits_,
           CancelToken cancel_)
        : tp(std::move(tp_)),
          offset(offset_),
          limits(limits_),
          cancel(std::move(cancel_)),
          timer(io),
          arrived(Clock::now()) {}
    bool waits_forever() const { return limits.max_wait == FetchLimits::kWaitForever; }
    TopicPartition tp;
    std::int64_t offset;
    FetchLimits limits;
    CancelToken cancel;
    std::function<void(FetchResult)> done;
    std::function<void(BatchResult)> batch_done;
    asio::steady_timer timer;
    // Counts the timer's arms and disarms: an expiry already queued when the timer was re-armed
    // or cancelled (cancel() cannot recall it) belongs to an older wait and is ignored. A stream's
    // waiter lingering for 2 ms, answered, then asked again at once, would otherwise expire at the
    // start of its next read.
    std::uint64_t armed = 0;
    Clock::time_point arrived;
    Reader* reader = nullptr;  // the cursor it waits on, if any
    bool finished = false;
    bool data_expected = true;  // the offset is below the high watermark
    bool lingering = false;     // records are there, the rest of a fetch response may follow
    int failures = 0;           // cursors that failed under it; bounded
    bool stream = false;        // a BatchStream's: answered again and again, its callback kept
    bool opened = false;        // (streams) the first request was checked like a fetch
  };
  using WaiterPtr = std::shared_ptr<Waiter>;

  // One cursor over a partition, on one lane.
  struct Reader {
    Reader(TopicPartition tp_, int lane_, std::size_t budget)
        : tp(std::move(tp_)), lane(lane_), window(budget) {}
    TopicPartition tp;
    int lane;
    RecordWindow window;
    bool positioning = false;  // a start is under way
    bool removed = false;
    bool paused = false;
    std::uint64_t generation = 0;  // of the latest start: what the lane reads carries it
    std::int64_t target = 0;
    std::vector<WaiterPtr> waiters;
    Clock::time_point last_used = Clock::now();
    std::int64_t last_requested = 0;
    // Batches encoded from this window (newest last), shared by everyone who asks for the same
    // stretch with the same byte limit. Emptied when the cursor moves.
    struct CachedBatch {
      std::size_t max_bytes;
      BatchPtr batch;
    };
    std::deque<CachedBatch> batches;
    std::size_t batch_bytes = 0;
  };
  using ReaderPtr = std::shared_ptr<Reader>;

  struct Partition {
    std::vector<ReaderPtr> readers;  // at most one per lane
    std::deque<WaiterPtr> pending;   // waiting for a cursor to be free
    std::int64_t high = -1;          // highest high watermark known (-1: none yet)
  };

  struct Lane {
    std::unique_ptr<ConsumerLane> lane;
    std::unique_ptr<asio::strand<asio::thread_pool::executor_type>> strand;
    std::size_t readers = 0;
    bool open = false;  // started a cursor since the last close
    Clock::time_point unused_since = Clock::now();
    std::atomic<bool> wake_posted{false};
  };

  Impl(std::unique_ptr<KafkaCluster> cluster_, ReadOptions options_, std::string name_)
      : cluster(std::move(cluster_)),
        options(options_),
        name(std::move(name_)),
        blocking(static_cast<std::size_t>(std::max(1, options.blocking_threads))),
        work(asio::make_work_guard(io)),
        sweep_timer(io),
        lanes(static_cast<std::size_t>(std::max(1, options.lanes))) {}

  void start() {
    for (std::size_t i = 0; i < lanes.size(); ++i) {
      lanes[i].strand =
          std::make_unique<asio::strand<asio::thread_pool::executor_type>>(blocking.get_executor());
      // Called on librdkafka's threads: only schedule a drain, once until it has run.
      lanes[i].lane = cluster->new_lane(static_cast<int>(i), [this, i] {
        if (!lanes[i].wake_posted.exchange(true)) asio::post(io, [this, i] { drain(i); });
      });
    }
    thread = std::thread([this] { io.run(); });
    arm_sweep();
  }

  void shutdown() {
    // Blocking work first (it posts its results to io), then the read logic, then the lanes.
    blocking.stop();
    blocking.join();
    work.reset();
    io.stop();
    if (thread.joinable()) thread.join();
    for (auto& lane : lanes) {
      if (lane.lane) lane.lane->close();
    }
  }

  // ---- blocking work ----------------------------------------------------------------------

  // Runs `job` off the read thread (on `executor`), then `then(result)` on it. False when too
  // much is queued already.
  template <class Executor, class Job, class Then>
  bool run_blocking(const Executor& executor, Job job, Then then) {
    if (blocking_queued >= options.max_waiting) return false;
    ++blocking_queued;
    asio::post(executor, [this, job = std::move(job), then = std::move(then)]() mutable {
      auto result = job();
      asio::post(io, [this, then = std::move(then), result = std::move(result)]() mutable {
        --blocking_queued;
        then(std::move(result));
      });
    });
    return true;
  }
  // `job`, reporting how long it took and how it ended to the observer. A job whose requesters
  // all cancelled before it ran is not a round trip and is not reported.
  template <class Job>
  auto timed(Request request, Job job) {
    return [observer = options.observer, request, job = std::move(job)]() mutable {
      const auto started = Clock::now();
      auto result = job();
      if (observer) {
        const bool cancelled = result.error && result.error->text == "cancelled";
        if (!cancelled) {
          observer->request_done(request, Clock::now() - started,
                                 result.error ? std::optional(result.error->kind) : std::nullopt);
        }
      }
      return result;
    };
  }
  template <class Job, class Then>
  bool run_blocking(Job job, Then then) {
    return run_blocking(blocking.get_executor(), std::move(job), std::move(then));
  }

  // ---- topic metadata ---------------------------------------------------------------------

  using Continuation = std::function<void(std::optional<KafkaError>)>;

  // Checks that the topic and partition exist (from a cached topic list), then continues.
  void with_partition(const TopicPartition& tp, Continuation next) {
    const auto now = Clock::now();
    const bool fresh = topics_loaded && now - topics_at < options.topic_max_age;
    if (fresh) {
      auto it = topics.find(tp.topic);
      if (it != topics.end()) return next(check_partition(it->second, tp.partition));
      if (now - topics_at < options.topic_refresh) {
        return next(KafkaError{ErrorKind::unknown_topic, "not found topic"});
      }
    }
    if (metadata_waiters.size() + list_waiters.size() >= options.max_waiting) return next(busy());
    metadata_waiters.emplace_back(tp, std::move(next));
    refresh_topics();
  }

  // The topic list, for `names` (empty: every topic). A name missing from a fresh list is looked
  // up again, at most once per topic_refresh; names still missing then are left out.
  struct ListWaiter {
    std::vector<std::string> names;
    CancelToken cancel;
    std::function<void(TopicsResult)> done;
  };
  void topic_list(ListWaiter waiter) {
    if (is_cancelled(waiter.cancel)) return;
    const auto now = Clock::now();
    const bool fresh = topics_loaded && now - topics_at < options.topic_max_age;
    const bool all_known = std::all_of(waiter.names.begin(), waiter.names.end(),
                                       [&](const std::string& n) { return topics.contains(n); });
    if (fresh && (all_known || now - topics_at < options.topic_refresh)) {
      return waiter.done(TopicsResult{std::nullopt, select_topics(waiter.names)});
    }
    if (metadata_waiters.size() + list_waiters.size() >= options.max_waiting) {
      return waiter.done(TopicsResult{busy(), {}});
    }
    list_waiters.push_back(std::move(waiter));
    refresh_topics();
  }

  TopicPartitionCounts select_topics(const std::vector<std::string>& names) const {
    if (names.empty()) return topics;
    TopicPartitionCounts selected;
    for (const auto& n : names) {
      if (auto it = topics.find(n); it != topics.end()) selected.emplace(*it);
    }
    return selected;
  }

  void refresh_topics() {
    if (metadata_in_flight) return;
    metadata_in_flight = true;
    const bool queued = run_blocking(
        timed(Request::metadata, [cluster = cluster.get()] { return cluster->topics(); }),
        [this](Expected<KafkaCluster::TopicMap> result) { on_topics(std::move(result)); });
    if (!queued) {
      metadata_in_flight = false;
      on_topics({busy(), {}});
    }
  }

  static std::optional<KafkaError> check_partition(int partitions, std::int32_t partition) {
    if (partition >= partitions)
      return KafkaError{ErrorKind::unknown_partition, "not found partition"};
    return std::nullopt;
  }

  void on_topics(Expected<KafkaCluster::TopicMap> result) {
    metadata_in_flight = false;
    if (!result.error) {
      topics = std::move(result.value);
      topics_at = Clock::now();
      topics_loaded = true;
    } else {
      spdlog::warn("event=kafka_metadata_failed source={} err=\"{}\"", name, result.error->detail);
    }
    auto lists = std::move(list_waiters);
    list_waiters.clear();
    for (auto& waiter : lists) {
      if (is_cancelled(waiter.cancel)) continue;
      if (result.error && !topics_loaded) {
        waiter.done(TopicsResult{result.error, {}});
      } else {
        waiter.done(TopicsResult{std::nullopt, select_topics(waiter.names)});
      }
    }
    auto waiters = std::move(metadata_waiters);
    metadata_waiters.clear();
    for (auto& [tp, next] : waiters) {
      auto it = topics.find(tp.topic);
      if (it != topics.end()) {
        // (After a failed refresh, a topic known before is still served: its cursors may work.)
        next(check_partition(it->second, tp.partition));
      } else if (result.error) {
        next(result.error);
      } else {
        next(KafkaError{ErrorKind::unknown_topic, "not found topic"});
      }
    }
  }

  // ---- list_offset ------------------------------------------------------------------------

  void list_offset(TopicPartition tp, std::int64_t timestamp, CancelToken cancel,
                   std::function<void(OffsetResult)> done_) {
    // A cancelled request's callback is dropped unheard, whatever stage it reached.
    auto done = [cancel, done = std::move(done_)](OffsetResult r) {
      if (!is_cancelled(cancel)) done(std::move(r));
    };
    if (is_cancelled(cancel)) return;
    with_partition(tp, [this, tp, timestamp, cancel,
                        done = std::move(done)](std::optional<KafkaError> error) mutable {
      if (error) return done(OffsetResult{std::move(error), -1});
      if (timestamp == -2 || timestamp == -1) {
        return watermarks_of(
            tp, cancel, [timestamp, done = std::move(done)](Expected<Watermarks> w) {
              if (w.error) return done(OffsetResult{std::move(w.error), -1});
              done(OffsetResult{std::nullopt, timestamp == -2 ? w.value.low : w.value.high});
            });
      }
      auto shared_done = std::make_shared<decltype(done)>(std::move(done));
      const bool queued =
          run_blocking(timed(Request::offset_for_time,
                             [cluster = cluster.get(), tp, timestamp, cancel]() -> OffsetResult {
                               if (is_cancelled(cancel)) return {cancelled_error(), -1};
                               auto r = cluster->offset_for_time(tp, timestamp);
                               return {std::move(r.error), r.value};
                             }),
                       [shared_done](OffsetResult r) { (*shared_done)(std::move(r)); });
      if (!queued) (*shared_done)(OffsetResult{busy(), -1});
    });
  }

  // Who still wants the answer of a blocking call shared by several requests. Read on the
  // blocking thread just before the call, so that a call nobody wants any more (its connections
  // have gone) is skipped instead of holding up the cluster's threads.
  class Interest {
   public:
    void add(const CancelToken& token) {
      std::lock_guard lock(mutex_);
      if (!token) {
        always_ = true;
      } else {
        tokens_.push_back(token);
      }
    }
    bool wanted() const {
      std::lock_guard lock(mutex_);
      return always_ || std::any_of(tokens_.begin(), tokens_.end(),
                                    [](const CancelToken& t) { return !t->cancelled(); });
    }

   private:
    mutable std::mutex mutex_;
    bool always_ = false;
    std::vector<CancelToken> tokens_;
  };

  static KafkaError cancelled_error() {
    return {ErrorKind::other, "cancelled", "every requester cancelled before the call"};
  }

  // One watermark look-up per partition at a time, answering everyone who asked meanwhile: a
  // flood of identical requests costs one call, and one nobody waits for any more costs none.
  using WatermarkReply = std::function<void(Expected<Watermarks>)>;
  struct WatermarkCall {
    std::shared_ptr<Interest> interest = std::make_shared<Interest>();
    std::vector<WatermarkReply> replies;
  };
  void watermarks_of(const TopicPartition& tp, const CancelToken& cancel, WatermarkReply reply) {
    auto& call = watermark_calls[tp];
    call.interest->add(cancel);
    call.replies.push_back(std::move(reply));
    if (call.replies.size() > 1) return;
    const bool queued = run_blocking(
        timed(Request::watermarks,
              [cluster = cluster.get(), tp, interest = call.interest]() -> Expected<Watermarks> {
                if (!interest->wanted()) return {cancelled_error(), {}};
                return cluster->watermarks(tp);
              }),
        [this, tp](Expected<Watermarks> result) { answer_watermarks(tp, result); });
    if (!queued) answer_watermarks(tp, {busy(), {}});
  }

  void answer_watermarks(const TopicPartition& tp, const Expected<Watermarks>& result) {
    auto it = watermark_calls.find(tp);
    if (it == watermark_calls.end()) return;
    auto replies = std::move(it->second.replies);
    watermark_calls.erase(it);
    for (auto& reply : replies) reply(result);
  }

  // ---- fetch ------------------------------------------------------------------------------

  // Fetches that wait at the end of a partition for as long as it takes (push subscriptions) are
  // bounded separately: there is one per subscribed partition, not one per request in flight.
  std::size_t& count_of(const Waiter& w) { return w.waits_forever() ? standing : waiting; }

  void fetch(WaiterPtr w) {
    if (is_cancelled(w->cancel)) return;
    const auto limit = w->waits_forever() ? options.max_standing : options.max_waiting;
    if (++count_of(*w) > limit) return finish(w, FetchResult{busy(), {}});
    with_partition(w->tp, [this, w](std::optional<KafkaError> error) {
      if (error) return finish(w, FetchResult{std::move(error), {}});
      dispatch(w);
    });
  }

  // Marks `w` answered; false when it was already, or when nobody wants the answer any more (its
  // callback is then dropped unheard).
  bool close_out(const WaiterPtr& w) {
    if (w->finished) return false;
    w->finished = true;
    --count_of(*w);
    disarm(*w);
    w->reader = nullptr;
    if (is_cancelled(w->cancel)) {
      w->done = nullptr;
      w->batch_done = nullptr;
      return false;
    }
    return true;
  }

  // Answers with an error, or with no records (batch waiters get a null batch).
  void finish(const WaiterPtr& w, FetchResult result) {
    if (!close_out(w)) return;
    if (result.error && !result.error->detail.empty()) {
      spdlog::debug("event=fetch_failed source={} topic={} partition={} offset={} err=\"{}\"", name,
                    w->tp.topic, w->tp.partition, w->offset, result.error->detail);
    }
    if (w->batch_done) {
      answer_batch(w, BatchResult{std::move(result.error), nullptr});
    } else {
      auto done = std::move(w->done);
      done(std::move(result));
    }
  }

  // A one-off request's callback is released once called (with what it holds); a stream's stays
  // for its next answer.
  static void answer_batch(const WaiterPtr& w, BatchResult result) {
    if (w->stream) return w->batch_done(std::move(result));
    auto done = std::move(w->batch_done);
    done(std::move(result));
  }

  // Drops a cancelled waiter wherever it waits.
  void drop(const WaiterPtr& w) {
    detach(w);
    close_out(w);
  }

  Partition& partition_of(const TopicPartition& tp) { return partitions[tp]; }

  std::size_t read_ahead_records(const Partition& p) const {
    std::size_t average = 1024;  // a guess until records have been seen
    for (const auto& r : p.readers) {
      if (r->window.size() > 0) average = r->window.average_record_bytes();
    }
    return std::max<std::size_t>(1, options.window_bytes / 2 / average);
  }

  // Whether `r` is about to read `offset`: it is positioned there, or reads on towards it.
  bool about_to_read(const Partition& p, const Reader& r, std::int64_t offset) const {
    const auto ahead = static_cast<std::int64_t>(read_ahead_records(p));
    if (offset < r.window.next() || offset - r.window.next() > ahead) return false;
    return r.positioning || offset <= p.high;
  }

  void dispatch(const WaiterPtr& w) {
    if (w->finished) return;
    if (is_cancelled(w->cancel)) return drop(w);
    Partition& p = partition_of(w->tp);
    // 1. A window holds it: served from memory (at once, or within kLinger when the rest of a
    // fetch response is still arriving).
    // Only this request is looked at: thousands of subscribers may wait on the same cursor.
    for (const auto& r : p.readers) {
      if (!r->window.holds(w->offset)) continue;
      if (ready_to_answer(p, *r, *w)) {
        touch(*r, w->offset);
        return reply_from(*r, w);
      }
      attach(p, r, w);
      w->lingering = true;
      return arm(w, kLinger);
    }
    // Past every end known: learn where the end is now before deciding anything.
    if (p.high >= 0 && w->offset > p.high) return refresh_high(w);
    // 2. A cursor is about to read it: wait on it.
    for (const auto& r : p.readers) {
      if (about_to_read(p, *r, w->offset)) return attach(p, r, w);
    }
    // 3. A cursor of its own on a lane this partition does not use yet.
    if (p.readers.size() < lanes.size() && make_room_for_reader()) {
      std::vector<bool> used(lanes.size(), false);
      for (const auto& r : p.readers) used[static_cast<std::size_t>(r->lane)] = true;
      const auto lane = static_cast<int>(std::find(used.begin(), used.end(), false) - used.begin());
      auto r = std::make_shared<Reader>(w->tp, lane, options.window_bytes);
      p.readers.push_back(r);
      ++lanes[static_cast<std::size_t>(lane)].readers;
      ++reader_count;
      attach(p, r, w);
      return position(r, w->offset);
    }
    // 4. The least recently used free cursor of this partition moves to it.
    ReaderPtr idle;
    for (const auto& r : p.readers) {
      if (r->waiters.empty() && !r->positioning && (!idle || r->last_used < idle->last_used)) {
        idle = r;
      }
    }
    if (idle) {
      attach(p, idle, w);
      return position(idle, w->offset);
    }
    // 5. Every cursor is busy: wait for one (each is busy for a bounded time).
    p.pending.push_back(w);
    arm(w, longest_wait(*w));
  }

  // The bound on a wait that may include a wait at the end of the partition.
  std::chrono::milliseconds longest_wait(const Waiter& w) const {
    return options.request_timeout + std::min(w.limits.max_wait, options.request_timeout * 4);
  }

  void touch(Reader& r, std::int64_t offset) {
    r.last_used = Clock::now();
    r.last_requested = offset;
  }

  void attach(Partition& p, const ReaderPtr& r, const WaiterPtr& w) {
    r->waiters.push_back(w);
    w->reader = r.get();
    touch(*r, w->offset);
    if (r->paused) {
      r->paused = false;
      lanes[static_cast<std::size_t>(r->lane)].lane->pause(r->tp, false);
    }
    arm_for_data(p, w);
  }

  // Records below the high watermark are worth the whole request timeout; at the end of the
  // partition a fetch waits its max_wait for new ones.
  void arm_for_data(const Partition& p, const WaiterPtr& w) {
    if (w->lingering) return;  // records are there; the reply goes out within kLinger
    w->data_expected = p.high < 0 || w->offset < p.high;
    if (!w->data_expected && w->waits_forever()) {
      disarm(*w);  // woken by records or cancellation only
      return;
    }
    const auto wait = w->data_expected ? options.request_timeout : w->limits.max_wait;
    arm(w, wait - std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - w->arrived));
  }

  void arm(const WaiterPtr& w, std::chrono::milliseconds wait) {
    const std::uint64_t armed = ++w->armed;
    w->timer.expires_after(std::max(wait, std::chrono::milliseconds(0)));
    w->timer.async_wait([this, w, armed](boost::system::error_code ec) {
      if (!ec && !w->finished && w->armed == armed) expired(w);
    });
  }

  static void disarm(Waiter& w) {
    ++w.armed;
    w.timer.cancel();
  }

  void detach(const WaiterPtr& w) {
    Partition& p = partition_of(w->tp);
    if (w->reader) {
      auto& list = w->reader->waiters;
      list.erase(std::remove(list.begin(), list.end(), w), list.end());
      w->reader = nullptr;
    }
    p.pending.erase(std::remove(p.pending.begin(), p.pending.end(), w), p.pending.end());
  }

  // Replies to `w` with what `r`'s window holds from its offset on (it must hold the offset).
  void answer(Reader& r, const WaiterPtr& w) {
    detach(w);
    reply_from(r, w);
  }

  // Like answer, for a waiter already detached from `r`.
  void reply_from(Reader& r, const WaiterPtr& w) {
    if (w->batch_done) {
      BatchPtr batch = batch_at(r, w->offset, w->limits.max_bytes);
      if (!close_out(w)) return;
      return answer_batch(w, BatchResult{std::nullopt, std::move(batch)});
    }
    FetchResult result;
    result.records = r.window.read(w->offset, w->limits.max_bytes);
    finish(w, std::move(result));
  }

  // The shared batch of `r`'s window from `offset` on: the cached one when somebody asked for
  // this stretch before, else encoded now (once, whoever asks next).
  BatchPtr batch_at(Reader& r, std::int64_t offset, std::size_t max_bytes) {
    for (const auto& cached : r.batches) {
      if (cached.batch->first_offset == offset && cached.max_bytes == max_bytes) {
        return cached.batch;
      }
    }
    auto records = r.window.read(offset, max_bytes);
    auto batch = std::make_shared<RecordBatch>();
    batch->first_offset = offset;
    batch->next_offset = records.empty() ? offset : records.back().offset + 1;
    batch->high_watermark = std::max(partition_of(r.tp).high, batch->next_offset);
    batch->records = records.size();
    batch->body = options.encoder ? options.encoder(records) : std::string();
    r.batch_bytes += batch->body.size();
    r.batches.push_back({max_bytes, batch});
    // Bounded like the window itself; a batch still being sent lives on with its senders.
    while (r.batches.size() > kMaxCachedBatches ||
           (r.batches.size() > 1 && r.batch_bytes > options.window_bytes)) {
      r.batch_bytes -= r.batches.front().batch->body.size();
      r.batches.pop_front();
    }
    return batch;
  }

  void expired(const WaiterPtr& w) {
    Partition& p = partition_of(w->tp);
    if (w->reader && w->reader->window.holds(w->offset)) return answer(*w->reader, w);
    const bool was_pending = !w->reader;
    detach(w);
    if (was_pending) {
      finish(w, FetchResult{busy(), {}});
    } else if (w->data_expected) {
      finish(w, FetchResult{read_timeout(), {}});
    } else if (cluster->brokers_in_doubt()) {
      verify_then_answer(w);  // an empty answer only if a broker still answers
    } else {
      finish(w, FetchResult{});
    }
    pump(p);
  }

  // At the end of the partition while brokers may be gone: ask for the watermarks (one call for
  // all such waiters); an error is reported instead of "no records".
  void verify_then_answer(const WaiterPtr& w) {
    watermarks_of(w->tp, w->cancel, [this, w](Expected<Watermarks> result) {
      Partition& p = partition_of(w->tp);
      if (!result.error) p.high = std::max(p.high, result.value.high);
      if (result.error) {
        finish(w, FetchResult{result.error, {}});
      } else if (w->offset < p.high) {
        dispatch(w);  // records arrived meanwhile
      } else {
        finish(w, FetchResult{});
      }
    });
  }

  // Past every end known: learn where the end is now, then answer out of range or go on.
  void refresh_high(const WaiterPtr& w) {
    arm(w, longest_wait(*w));
    watermarks_of(w->tp, w->cancel, [this, w](Expected<Watermarks> result) {
      if (w->finished) return;
      disarm(*w);
      Partition& p = partition_of(w->tp);
      if (!result.error) p.high = std::max(p.high, result.value.high);
      if (result.error) {
        finish(w, FetchResult{result.error, {}});
      } else if (w->offset > p.high) {
        finish(w,
               FetchResult{KafkaError{ErrorKind::offset_out_of_range, "OFFSET_OUT_OF_RANGE"}, {}});
      } else {
        dispatch(w);
      }
    });
  }

  // ---- cursors ----------------------------------------------------------------------------

  struct Positioned {
    std::optional<KafkaError> error;
    std::optional<Watermarks> marks;
  };

  // Moves the cursor to `offset`, checking first that it is inside the log.
  void position(const ReaderPtr& r, std::int64_t offset) {
    r->positioning = true;
    r->target = offset;
    r->window.reset(offset);
    r->batches.clear();
    r->batch_bytes = 0;
    const auto generation = r->generation = ++last_generation;
    Lane& lane = lanes[static_cast<std::size_t>(r->lane)];
    if (r->paused) {
      r->paused = false;
      lane.lane->pause(r->tp, false);
    }
    lane.open = true;
    auto job = [cluster = cluster.get(), consumer = lane.lane.get(), tp = r->tp, offset,
                generation]() -> Positioned {
      auto marks = cluster->watermarks(tp);
      if (marks.error) return {std::move(marks.error), std::nullopt};
      if (offset < marks.value.low || offset > marks.value.high) {
        return {KafkaError{ErrorKind::offset_out_of_range, "OFFSET_OUT_OF_RANGE"}, marks.value};
      }
      return {consumer->start(tp, offset, generation), marks.value};
    };
    const bool queued = run_blocking(*lane.strand, timed(Request::position, std::move(job)),
                                     [this, r, generation](Positioned result) {
                                       on_positioned(r, generation, std::move(result));
                                     });
    if (!queued) on_positioned(r, generation, Positioned{busy(), std::nullopt});
  }

  void on_positioned(const ReaderPtr& r, std::uint64_t generation, Positioned result) {
    if (r->removed || generation != r->generation) return;
    Partition& p = partition_of(r->tp);
    if (result.marks) p.high = std::max(p.high, result.marks->high);
    if (result.error) {
      if (result.error->kind != ErrorKind::offset_out_of_range) {
        spdlog::warn("event=kafka_read_failed source={} topic={} partition={} err=\"{}\"", name,
                     r->tp.topic, r->tp.partition, result.error->detail);
      }
      auto waiters = std::move(r->waiters);
      r->waiters.clear();
      remove_reader(r);
      for (auto& w : waiters) {
        w->reader = nullptr;
        const bool outside =
            result.marks && (w->offset < result.marks->low || w->offset > result.marks->high);
        if (result.error->kind == ErrorKind::offset_out_of_range && !outside && ++w->failures < 3) {
          dispatch(w);  // another waiter's offset was out of range, not this one's
        } else {
          finish(w, FetchResult{result.error, {}});
        }
      }
      return pump(p);
    }
    r->positioning = false;
    auto waiters = r->waiters;
    for (auto& w : waiters) {
      if (w->offset > p.high) {
        detach(w);
        dispatch(w);  // past the end: dispatch learns the end again and answers
      } else {
        arm_for_data(p, w);
      }
    }
    serve(r);
  }

  // A cursor whose reading failed (the broker restarted, the log was truncated): it is dropped
  // and its fetches start again on a fresh one, which checks the offsets anew.
  void fail_reader(const ReaderPtr& r, const KafkaError& error) {
    spdlog::warn("event=kafka_cursor_failed source={} topic={} partition={} err=\"{}\"", name,
                 r->tp.topic, r->tp.partition, error.detail);
    Partition& p = partition_of(r->tp);
    auto waiters = std::move(r->waiters);
    r->waiters.clear();
    remove_reader(r);
    for (auto& w : waiters) {
      w->reader = nullptr;
      if (++w->failures < 3) {
        dispatch(w);
      } else {
        finish(w, FetchResult{error, {}});
      }
    }
    pump(p);
  }

  // By value: callers often pass an element of p.readers, which this erases.
  void remove_reader(ReaderPtr r) {
    r->removed = true;
    Partition& p = partition_of(r->tp);
    p.readers.erase(std::remove(p.readers.begin(), p.readers.end(), r), p.readers.end());
    --reader_count;
    Lane& lane = lanes[static_cast<std::size_t>(r->lane)];
    if (--lane.readers == 0) lane.unused_since = Clock::now();
    asio::post(*lane.strand, [consumer = lane.lane.get(), tp = r->tp, paused = r->paused] {
      if (paused) consumer->pause(tp, false);  // a later cursor on this lane must not inherit it
      consumer->stop(tp);
    });
  }

  // Keeps the number of cursors bounded: at the limit, the least recently used free cursor of
  // any partition is released. False when every cursor is busy.
  bool make_room_for_reader() {
    if (reader_count < options.max_readers) return true;
    ReaderPtr oldest;
    for (const auto& [tp, p] : partitions) {
      for (const auto& r : p.readers) {
        if (r->waiters.empty() && !r->positioning &&
            (!oldest || r->last_used < oldest->last_used)) {
          oldest = r;
        }
      }
    }
    if (!oldest) return false;
    remove_reader(oldest);
    return true;
  }

  // Fetches queued for a busy partition get another chance when a cursor frees up.
  void pump(Partition& p) {
    if (p.pending.empty()) return;
    auto queued = std::move(p.pending);
    p.pending.clear();
    for (auto& w : queued) {
      if (!w->finished) dispatch(w);
    }
  }

  // Records from a lane: appended to their cursor's window; waiting fetches are answered.
  void drain(std::size_t index) {
    Lane& lane = lanes[index];
    lane.wake_posted = false;
    std::vector<ReaderPtr> touched;
    std::vector<std::pair<ReaderPtr, KafkaError>> failed;
    std::map<const Reader*, std::int64_t> keep_from_of;  // computed once per cursor and drain
    const std::size_t n = lane.lane->poll(kDrainBatch, [&](LaneEvent& event) {
      auto it = partitions.find(TopicPartitionLess::View{event.topic, event.partition});
      if (it == partitions.end()) return;
      ReaderPtr reader;
      for (const auto& r : it->second.readers) {
        if (r->lane == static_cast<int>(index)) reader = r;
      }
      // Read for an earlier position of the cursor, or for a cursor since released: dropped.
      if (!reader || event.generation != reader->generation) return;
      if (event.error) {
        if (options.observer) options.observer->read_error(event.error->kind);
        failed.emplace_back(reader, std::move(*event.error));
        return;
      }
      auto [keep, fresh] =
          keep_from_of.try_emplace(reader.get(), std::numeric_limits<std::int64_t>::max());
      if (fresh) {
        for (const auto& w : reader->waiters) keep->second = std::min(keep->second, w->offset);
      }
      if (reader->window.append(std::move(event.record), keep->second)) {
        it->second.high = std::max(it->second.high, reader->window.next());
        if (touched.empty() || touched.back() != reader) touched.push_back(reader);
      }
    });
    for (auto& r : touched) {
      if (!r->removed) serve(r);
    }
    for (auto& [r, error] : failed) {
      if (!r->removed) fail_reader(r, error);
    }
    if (n == kDrainBatch && !lane.wake_posted.exchange(true)) {
      asio::post(io, [this, index] { drain(index); });  // more is there: after others had a turn
    }
  }

  // Answers every waiter of `r` its window can answer now. Thousands of subscribers may wait on
  // one cursor at the head of a partition: one pass, no per-waiter search.
  // Whether `r`'s window (which holds w's offset) answers `w` now: it reaches the end of the
  // partition, or holds the request's byte limit. Otherwise more records are on their way (they
  // are below the high watermark, and librdkafka hands a fetch response over record by record):
  // waiting a moment lets one reply carry what one fetch brought instead of its first record.
  bool ready_to_answer(const Partition& p, const Reader& r, const Waiter& w) const {
    return r.window.next() >= p.high ||
           r.window.bytes_from(w.offset, w.limits.max_bytes) >= w.limits.max_bytes;
  }

  void serve(ReaderPtr r) {  // by value: it may remove `r` from p.readers
    Partition& p = partition_of(r->tp);
    std::vector<WaiterPtr> ready;
    std::vector<WaiterPtr> still_waiting;
    for (auto& w : r->waiters) {
      if (w->finished) continue;
      if (!r->window.holds(w->offset)) {
        still_waiting.push_back(std::move(w));
        continue;
      }
      if (!ready_to_answer(p, *r, *w)) {
        if (!w->lingering) {
          w->lingering = true;
          arm(w, kLinger);
        }
        still_waiting.push_back(std::move(w));
        continue;
      }
      ready.push_back(std::move(w));
    }
    r->waiters = std::move(still_waiting);
    for (auto& w : ready) {
      w->reader = nullptr;
      reply_from(*r, w);
    }
    release_redundant(p);
    if (r->waiters.empty()) pump(p);
  }

  // Free cursors that only duplicate another one are released (see redundant()).
  void release_redundant(Partition& p) {
    for (bool again = true; again;) {
      again = false;
      for (const auto& r : p.readers) {
        if (r->waiters.empty() && redundant(p, *r)) {
          remove_reader(r);
          again = true;
          break;
        }
      }
    }
  }

  // A free cursor that has caught up with another one of its partition (its next offset is inside
  // the other's window) would only read the same records again: readers behind the head move over
  // to the head's cursor (no gap, no duplicate: the other holds every offset from there on).
  static bool redundant(const Partition& p, const Reader& r) {
    if (r.positioning) return false;
    for (const auto& other : p.readers) {
      if (other.get() == &r || other->positioning || other->paused) continue;
      const bool same_end = other->window.next() == r.window.next();
      if (other->window.holds(r.window.next()) ||
          (same_end && (other->window.from() < r.window.from() ||
                        (other->window.from() == r.window.from() && other.get() < &r)))) {
        return true;
      }
    }
    return false;
  }

  // ---- standing reads (BatchStream) ------------------------------------------------------

  // A stream is one waiter, answered and then dispatched again at the next offset. Requests for
  // the next batch arrive from every connection's thread right after each answer: they are
  // queued and handled together, so a batch answered to thousands of streams costs a handful of
  // hops to this thread, not one each.
  class Stream final : public BatchStream {
   public:
    Stream(std::shared_ptr<Impl> impl, WaiterPtr waiter)
        : impl_(std::move(impl)), waiter_(std::move(waiter)) {}
    // Whatever the callback holds is released soon (on the engine's thread), even while a
    // request is outstanding.
    ~Stream() override { impl_->request_next(waiter_, std::nullopt); }
    void next(std::int64_t offset) override { impl_->request_next(waiter_, offset); }

   private:
    std::shared_ptr<Impl> impl_;
    WaiterPtr waiter_;
  };

  // offset: nullopt when the stream is closed.
  void request_next(WaiterPtr w, std::optional<std::int64_t> offset) {
    {
      std::lock_guard lock(next_mutex);
      next_requests.emplace_back(std::move(w), offset);
      if (next_posted) return;
      next_posted = true;
    }
    asio::post(io, [this] { take_next_requests(); });
  }

  void take_next_requests() {
    std::vector<std::pair<WaiterPtr, std::optional<std::int64_t>>> requests;
    {
      std::lock_guard lock(next_mutex);
      requests.swap(next_requests);
      next_posted = false;
    }
    for (auto& [w, offset] : requests) {
      if (!offset) {
        drop(w);
        w->batch_done = nullptr;
        continue;
      }
      // Asked again before the answer (a caller's mistake), or closed: nothing to do.
      if (!w->finished || !w->batch_done) continue;
      if (is_cancelled(w->cancel)) {
        w->batch_done = nullptr;
        continue;
      }
      w->finished = false;
      w->offset = *offset;
      w->arrived = Clock::now();
      w->lingering = false;
      w->data_expected = true;
      w->failures = 0;
      const bool first = !w->opened;
      w->opened = true;
      if (auto error = check_fetch(w->tp.topic, w->tp.partition, w->offset)) {
        ++count_of(*w);
        finish(w, FetchResult{std::move(error), {}});
      } else if (first) {
        // The first request is checked like any fetch (the partition exists); later ones go
        // straight to the partition: if it goes away, its cursor fails.
        fetch(w);
      } else if (++count_of(*w) > options.max_standing) {
        finish(w, FetchResult{busy(), {}});
      } else {
        dispatch(w);
      }
    }
  }

  // ---- housekeeping -----------------------------------------------------------------------

  // Waits of requests nobody wants any more end here (within a sweep interval): a subscriber
  // that went away does not keep its cursor busy.
  void drop_cancelled() {
    std::vector<WaiterPtr> cancelled;
    for (const auto& [tp, p] : partitions) {
      for (const auto& w : p.pending) {
        if (is_cancelled(w->cancel)) cancelled.push_back(w);
      }
      for (const auto& r : p.readers) {
        for (const auto& w : r->waiters) {
          if (is_cancelled(w->cancel)) cancelled.push_back(w);
        }
      }
    }
    for (auto& w : cancelled) drop(w);
  }

  void arm_sweep() {
    sweep_timer.expires_after(std::chrono::seconds(1));
    sweep_timer.async_wait([this](boost::system::error_code ec) {
      if (ec) return;
      sweep();
      arm_sweep();
    });
  }

  void sweep() {
    const auto now = Clock::now();
    drop_cancelled();
    std::vector<ReaderPtr> idle;
    for (const auto& [tp, p] : partitions) {
      for (const auto& r : p.readers) {
        if (r->waiters.empty() && !r->positioning && now - r->last_used >= options.reader_idle) {
          idle.push_back(r);
        }
      }
    }
    for (auto& r : idle) remove_reader(r);
    // A cursor nobody has asked anything for a while stops fetching once it has read half a window
    // past the last request: nothing more is read for nobody. (Not sooner: librdkafka resumes a
    // paused partition only after a backoff of about a second, which active readers must not pay.)
    for (const auto& [tp, p] : partitions) {
      for (const auto& r : p.readers) {
        if (r->waiters.empty() && !r->paused && !r->positioning &&
            now - r->last_used >= kPauseAfter &&
            r->window.bytes_from(r->last_requested, options.window_bytes / 2) >=
                options.window_bytes / 2) {
          r->paused = true;
          lanes[static_cast<std::size_t>(r->lane)].lane->pause(r->tp, true);
        }
      }
    }
    if (!idle.empty()) {
      spdlog::info("event=kafka_cursors_released source={} released={} cursors={}", name,
                   idle.size(), reader_count);
    }
    for (auto it = partitions.begin(); it != partitions.end();) {
      const Partition& p = it->second;
      const bool unused = p.readers.empty() && p.pending.empty();
      it = unused ? partitions.erase(it) : std::next(it);
    }
    bool released = !idle.empty();
    for (auto& lane : lanes) {
      if (lane.open && lane.readers == 0 && now - lane.unused_since >= options.lane_idle) {
        lane.open = false;
        released = true;
        asio::post(*lane.strand, [consumer = lane.lane.get()] { consumer->close(); });
      }
    }
    if (released) {
      // Windows and prefetch buffers are large and freed together: hand the memory back.
      asio::post(blocking, [] { ::malloc_trim(0); });
    }
  }

  // ---- entry --------------------------------------------------------------------------------

  // fetch and fetch_batch differ only in how they are answered: `slot` is the waiter's callback.
  template <class Result>
  void post_fetch(std::optional<KafkaError> error, TopicPartition tp, std::int64_t offset,
                  FetchLimits limits, CancelToken cancel, std::function<void(Result)> done,
                  std::function<void(Result)> Waiter::*slot) {
    asio::post(io, [this, error = std::move(error), tp = std::move(tp), offset, limits,
                    cancel = std::move(cancel), done = std::move(done), slot]() mutable {
      if (is_cancelled(cancel)) return;
      if (error) return done(Result{std::move(error), {}});
      auto w = std::make_shared<Waiter>(io, std::move(tp), offset, limits, std::move(cancel));
      (*w).*slot = std::move(done);
      fetch(std::move(w));
    });
  }

  static constexpr std::size_t kDrainBatch = 1024;
  static constexpr std::size_t kMaxCachedBatches = 64;
  static constexpr auto kPauseAfter = std::chrono::seconds(2);
  static constexpr auto kLinger = std::chrono::milliseconds(2);

  std::unique_ptr<KafkaCluster> cluster;
  const ReadOptions options;
  const std::string name;
  asio::io_context io{1};
  asio::thread_pool blocking;
  asio::executor_work_guard<asio::io_context::executor_type> work;
  asio::steady_timer sweep_timer;
  std::thread thread;
  std::vector<Lane> lanes;

  // Everything below is touched on the read thread only.
  std::map<TopicPartition, Partition, TopicPartitionLess> partitions;
  std::size_t reader_count = 0;
  std::uint64_t last_generation = 0;
  std::size_t waiting = 0;          // fetches not yet answered
  std::size_t standing = 0;         // of which waiting for as long as it takes (push)
  std::size_t blocking_queued = 0;  // blocking calls queued or running
  KafkaCluster::TopicMap topics;
  Clock::time_point topics_at{};
  bool topics_loaded = false;
  bool metadata_in_flight = false;
  std::vector<std::pair<TopicPartition, Continuation>> metadata_waiters;
  std::vector<ListWaiter> list_waiters;
  std::map<TopicPartition, WatermarkCall, TopicPartitionLess> watermark_calls;

  // Streams' requests for their next batch, from any thread (see request_next).
  std::mutex next_mutex;
  std::vector<std::pair<WaiterPtr, std::optional<std::int64_t>>> next_requests;
  bool next_posted = false;
};

ReadEngine::ReadEngine(std::unique_ptr<KafkaCluster> cluster, ReadOptions options, std::string name)
    : impl_(std::make_shared<Impl>(std::move(cluster), options, std::move(name))) {
  impl_->start();
}

ReadEngine::~ReadEngine() {
  impl_->shutdown();
}

void ReadEngine::list_offset(std::string topic, std::int32_t partition, std::int64_t timestamp,
                             CancelToken cancel, std::function<void(OffsetResult)> done) {
  auto error = check_request(topic, partition);
  if (!error && timestamp < -2) {
    error = KafkaError{ErrorKind::invalid_request, "timestamp must be -2, -1 or >= 0"};
  }
  Impl* impl = impl_.get();
  asio::post(impl->io,
             [impl, error = std::move(error), tp = TopicPartition{std::move(topic), partition},
              timestamp, cancel = std::move(cancel), done = std::move(done)]() mutable {
               if (is_cancelled(cancel)) return;
               if (error) return done(OffsetResult{std::move(error), -1});
               impl->list_offset(std::move(tp), timestamp, std::move(cancel), std::move(done));
             });
}

void ReadEngine::fetch(std::string topic, std::int32_t partition, std::int64_t offset,
                       FetchLimits limits, CancelToken cancel,
                       std::function<void(FetchResult)> done) {
  auto error = check_fetch(topic, partition, offset);
  impl_->post_fetch(std::move(error), TopicPartition{std::move(topic), partition}, offset, limits,
                    std::move(cancel), std::move(done), &Impl::Waiter::done);
}

void ReadEngine::fetch_batch(std::string topic, std::int32_t partition, std::int64_t offset,
                             FetchLimits limits, CancelToken cancel,
                             std::function<void(BatchResult)> done) {
  auto error = check_fetch(topic, partition, offset);
  impl_->post_fetch(std::move(error), TopicPartition{std::move(topic), partition}, offset, limits,
                    std::move(cancel), std::move(done), &Impl::Waiter::batch_done);
}

BatchStreamPtr ReadEngine::open_stream(std::string topic, std::int32_t partition,
                                       FetchLimits limits, CancelToken cancel,
                                       std::function<void(BatchResult)> on_batch) {
  auto w = std::make_shared<Impl::Waiter>(impl_->io, TopicPartition{std::move(topic), partition}, 0,
                                          limits, std::move(cancel));
  w->stream = true;
  w->finished = true;  // nothing asked yet
  w->batch_done = std::move(on_batch);
  return std::make_unique<Impl::Stream>(impl_, std::move(w));
}

void ReadEngine::topics(std::vector<std::string> names, CancelToken cancel,
                        std::function<void(TopicsResult)> done) {
  Impl* impl = impl_.get();
  asio::post(impl->io, [impl, names = std::move(names), cancel = std::move(cancel),
                        done = std::move(done)]() mutable {
    impl->topic_list({std::move(names), std::move(cancel), std::move(done)});
  });
}

ReadEngine::Stats ReadEngine::stats() const {
  std::promise<Stats> promise;
  Impl* impl = impl_.get();
  asio::post(impl->io, [impl, &promise] {
    Stats s;
    s.readers = impl->reader_count;
    s.waiting = impl->waiting;
    s.standing = impl->standing;
    for (const auto& lane : impl->lanes) s.open_lanes += lane.open ? 1 : 0;
    promise.set_value(s);
  });
  return promise.get_future().get();
}

}  // namespace kpg::kafka
