// kpg: a command-line client for kpg (and APISIX PubSub) gateways on the native SDK, in the manner
// of kcat: list topics, offsets, fetch and tail records, as text or JSON lines.
#include "output.h"

#include <kpg/sdk/native_client.h>

#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace {

namespace sdk = kpg::sdk;
namespace cli = kpg::cli;

constexpr const char* kExitCodes = R"(
Exit codes:
  0  success                     4  credential refused (401)
  1  other error                 5  client or topic not allowed (403, topic ACL)
  2  bad arguments               6  unknown topic or partition
  3  gateway unreachable         7  offset out of range
     (refused, TLS, no route)    8  timeout

Environment: KPG_URL, KPG_API_KEY, KPG_TOKEN stand for --url, --api-key, --token (keeps the
secrets off the process list).)";

volatile std::sig_atomic_t g_stop = 0;
extern "C" void on_stop_signal(int) {
  g_stop = 1;
}

struct Options {
  std::string url;
  std::string api_key;
  std::string token;
  std::string ca_file;
  bool insecure = false;
  std::int64_t timeout_ms = 10'000;
  std::string output = "text";
  cli::Format format() const { return output == "json" ? cli::Format::json : cli::Format::text; }
};

int fail(const sdk::Error& error) {
  std::cerr << "kpg: " << cli::error_label(error) << ": " << error.message << "\n";
  return cli::exit_code(error);
}

int usage(const std::string& message) {
  std::cerr << "kpg: " << message << "\n";
  return cli::kUsage;
}

std::unique_ptr<sdk::NativeClient> make_client(const Options& o, bool reconnect) {
  sdk::ClientOptions options;
  options.connect_timeout_ms = o.timeout_ms;
  options.request_timeout_ms = o.timeout_ms;
  options.hello_timeout_ms = std::min<std::int64_t>(o.timeout_ms, options.hello_timeout_ms);
  options.client_name = "kpg/" KPG_VERSION;
  options.api_key = o.api_key;
  options.token = o.token;
  options.reconnect.enabled = reconnect;
  return std::make_unique<sdk::NativeClient>(options, sdk::TlsOptions{!o.insecure, o.ca_file});
}

void write(const std::string& text) {
  std::cout << text;
}

/// The partitions to work on with their offsets now: the one named by -p (>= 0), or every
/// partition of the topic (kpg gateways only: APISIX has no command that lists them).
sdk::Result<std::vector<sdk::PartitionInfo>> partitions_of(sdk::NativeClient& client,
                                                           const std::string& topic,
                                                           std::int32_t partition) {
  if (partition >= 0) {
    auto earliest = client.list_offsets(topic, partition, sdk::kEarliest);
    if (!earliest) return earliest.error();
    auto latest = client.list_offsets(topic, partition, sdk::kLatest);
    if (!latest) return latest.error();
    return std::vector<sdk::PartitionInfo>{{partition, earliest.value(), latest.value()}};
  }
  if (!client.server_info().has("metadata")) {
    return sdk::Error{sdk::ErrorCode::server,
                      "this gateway cannot list a topic's partitions (no metadata command): name "
                      "one with -p",
                      sdk::ServerCode::unknown_command};
  }
  auto topics = client.metadata({topic});
  if (!topics) return topics.error();
  if (topics.value().empty()) return std::vector<sdk::PartitionInfo>{};
  return topics.value().front().partitions;
}

int run_metadata(sdk::NativeClient& client, const Options& o,
                 const std::vector<std::string>& topics) {
  auto listed = client.metadata(topics);
  if (!listed) return fail(listed.error());
  for (const auto& topic : listed.value()) {
    for (const auto& p : topic.partitions) {
      write(cli::format_range(o.format(), topic.name, p.partition, p.earliest, p.latest));
    }
  }
  return cli::kOk;
}

int run_offsets(sdk::NativeClient& client, const Options& o, const std::string& topic,
                std::int32_t partition, const std::string& at_text) {
  std::optional<std::int64_t> at;
  if (!at_text.empty() && !(at = cli::parse_at(at_text))) {
    return usage("--at must be earliest, latest or a time in ms since the epoch, not '" + at_text +
                 "'");
  }
  auto partitions = partitions_of(client, topic, partition);
  if (!partitions) return fail(partitions.error());
  for (const auto& p : partitions.value()) {
    if (!at) {
      write(cli::format_range(o.format(), topic, p.partition, p.earliest, p.latest));
      continue;
    }
    auto offset = client.list_offsets(topic, p.partition, *at);
    if (!offset) return fail(offset.error());
    write(cli::format_offset(o.format(), topic, p.partition, offset.value()));
  }
  return cli::kOk;
}

/// Prints the records of one partition from `offset` on, stopping before `end` (-1: none), after
/// `limit` records (0: none, and then after one answer only when `one_answer`) or at the end of
/// the log. Returns the records printed, or the error.
sdk::Result<std::int64_t> print_range(sdk::NativeClient& client, const Options& o,
                                      const std::string& topic, std::int32_t partition,
                                      std::int64_t offset, std::int64_t end, std::int64_t limit,
                                      bool one_answer) {
  std::int64_t printed = 0;
  while ((end < 0 || offset < end) && (limit == 0 || printed < limit) && !g_stop) {
    auto fetched = client.fetch(topic, partition, offset);
    if (!fetched) return fetched.error();
    auto records = std::move(fetched).value();
    if (records.empty()) break;  // the end of the log (the gateway waited for more first)
    const std::int64_t asked = offset;
    for (auto& record : records) {
      // APISIX answers with the whole record batch holding `offset`, earlier records included.
      if (record.offset < offset) continue;
      if ((end >= 0 && record.offset >= end) || (limit != 0 && printed == limit)) break;
      record.partition = partition;
      write(cli::format_record(o.format(), topic, record));
      ++printed;
      offset = record.offset + 1;
    }
    if (one_answer || offset == asked) break;  // nothing new in it: at the end
  }
  return printed;
}

int run_fetch(sdk::NativeClient& client, const Options& o, const std::string& topic,
              std::int32_t partition, std::int64_t offset, std::int64_t count) {
  auto printed = print_range(client, o, topic, partition, offset, -1, count, count == 0);
  return printed ? cli::kOk : fail(printed.error());
}

/// Where `from` starts in partition `p` (an offset inside or at the end of the log).
sdk::Result<std::int64_t> start_offset(sdk::NativeClient& client, const std::string& topic,
                                       const sdk::PartitionInfo& p, const cli::From& from) {
  switch (from.kind) {
    case cli::From::Kind::earliest: return p.earliest;
    case cli::From::Kind::latest: return p.latest;
    case cli::From::Kind::offset: return from.value;
    case cli::From::Kind::before_end: return std::max(p.earliest, p.latest - from.value);
    case cli::From::Kind::timestamp: {
      auto offset = client.list_offsets(topic, p.partition, from.value);
      if (!offset) return offset.error();
      return offset.value() < 0 ? p.latest : offset.value();  // -1: no record that recent
    }
  }
  return p.latest;
}

/// What --follow's handlers share with the main thread. Held by the handlers too: the client
/// may still run one after follow() has returned.
struct FollowState {
  std::mutex mutex;
  std::condition_variable changed;
  std::int64_t printed = 0;
  std::optional<sdk::Error> failure;
  bool done = false;

  void finish(std::optional<sdk::Error> error) {
    std::lock_guard lock(mutex);
    if (done) return;
    failure = std::move(error);
    done = true;
    changed.notify_all();
  }
};

/// Prints pushed records until `limit` (0: none) is reached, an error ends a subscription or the
/// process is told to stop (SIGINT, SIGTERM).
int follow(sdk::NativeClient& client, const Options& o, const std::string& topic,
           const std::vector<std::pair<std::int32_t, std::int64_t>>& starts, std::int64_t limit) {
  auto state = std::make_shared<FollowState>();
  client.on_disconnect([](const sdk::Error& e) {
    std::cerr << "kpg: connection lost (" << e.message << "), reconnecting\n";
  });
  client.on_reconnect([] { std::cerr << "kpg: reconnected\n"; });
  client.on_close([state](const sdk::Error& e) { state->finish(e); });

  const auto format = o.format();
  std::vector<std::shared_ptr<sdk::NativeSubscription>> subscriptions;
  for (const auto& [partition, offset] : starts) {
    sdk::SubscriptionHandlers handlers{
        .on_records =
            [state, format, topic, limit](const std::vector<sdk::Record>& batch) {
              bool reached = false;
              {
                std::lock_guard lock(state->mutex);
                std::string out;
                for (const auto& record : batch) {
                  if (state->done || (limit != 0 && state->printed >= limit)) break;
                  out += cli::format_record(format, topic, record);
                  ++state->printed;
                }
                reached = limit != 0 && state->printed >= limit;
                std::cout << out << std::flush;
              }
              if (reached) state->finish(std::nullopt);
            },
        .on_error = [state](const sdk::Error& e) { state->finish(e); }};
    subscriptions.push_back(
        client.subscribe(topic, partition, sdk::StartAt::offset(offset), std::move(handlers)));
  }
  std::unique_lock lock(state->mutex);
  while (!state->done && !g_stop) state->changed.wait_for(lock, std::chrono::milliseconds(100));
  state->done = true;  // batches already on their way print nothing
  const auto failure = state->failure;
  lock.unlock();
  for (auto& s : subscriptions) s->cancel();
  return failure ? fail(*failure) : cli::kOk;
}

int run_tail(sdk::NativeClient& client, const Options& o, const std::string& topic,
             std::int32_t partition, const std::string& from_text, std::int64_t count,
             bool follow_on) {
  auto from = cli::parse_from(from_text);
  if (!from) {
    return usage("--from must be earliest, latest, OFFSET, -N or @TIMESTAMP_MS, not '" + from_text +
                 "'");
  }
  auto partitions = partitions_of(client, topic, partition);
  if (!partitions) return fail(partitions.error());
  std::vector<std::pair<std::int32_t, std::int64_t>> starts;
  for (const auto& p : partitions.value()) {
    auto start = start_offset(client, topic, p, *from);
    if (!start) return fail(start.error());
    starts.emplace_back(p.partition, start.value());
  }
  if (follow_on) return follow(client, o, topic, starts, count);
  // Without --follow: what each partition held when the command started, partition by partition.
  std::int64_t printed = 0;
  for (std::size_t i = 0; i < starts.size() && (count == 0 || printed < count); ++i) {
    const auto& [p, start] = starts[i];
    auto n = print_range(client, o, topic, p, start, partitions.value()[i].latest,
                         count == 0 ? 0 : count - printed, false);
    if (!n) return fail(n.error());
    printed += n.value();
  }
  return cli::kOk;
}

/// Writes records through the batching producer: `value` when given, else one record per line of
/// stdin. Prints where each was written, in input order; a failed record is reported on stderr
/// and makes the exit code that of the first failure.
int run_produce(sdk::NativeClient& client, const Options& o, const std::string& topic,
                const std::optional<std::string>& value, const std::optional<std::string>& key,
                std::vector<sdk::Header> headers, std::int32_t partition) {
  sdk::ProduceOptions options;
  options.key = key;
  options.headers = std::move(headers);
  if (partition >= 0) options.partition = partition;
  if (!client.server_info().has("produce")) {
    return fail(sdk::Error{sdk::ErrorCode::server,
                           client.server_info().kpg()
                               ? "this route does not allow produce (the gateway does not offer "
                                 "it: the route has no plugins.kafka-proxy.produce)"
                               : "this gateway cannot produce: it speaks only the read-only "
                                 "APISIX PubSub subset",
                           sdk::ServerCode::unknown_command});
  }
  // Results arrive on the I/O thread in any order; they are printed in input order.
  struct Results {
    std::mutex mutex;
    std::map<std::uint64_t, sdk::Result<sdk::Produced>> ready;
    std::uint64_t next_to_print = 0;
    std::optional<sdk::Error> first_failure;
  };
  auto results = std::make_shared<Results>();
  const auto format = o.format();
  auto print_ready = [results, format, topic] {
    std::string out;
    for (auto it = results->ready.find(results->next_to_print); it != results->ready.end();
         it = results->ready.find(results->next_to_print)) {
      if (it->second) {
        out += cli::format_produced(format, topic, it->second.value());
      } else {
        const auto& e = it->second.error();
        std::cerr << "kpg: record " << it->first + 1 << ": " << cli::error_label(e) << ": "
                  << e.message << (e.possibly_written ? " (it may have been written)" : "") << "\n";
        if (!results->first_failure) results->first_failure = e;
      }
      results->ready.erase(it);
      ++results->next_to_print;
    }
    std::cout << out << std::flush;
  };
  auto producer = client.producer();
  std::uint64_t sent = 0;
  auto send = [&](std::string record) {
    producer->send(topic, std::move(record), options,
                   [results, print_ready, index = sent](sdk::Result<sdk::Produced> r) {
                     std::lock_guard lock(results->mutex);
                     results->ready.emplace(index, std::move(r));
                     print_ready();
                   });
    ++sent;
  };
  if (value) {
    send(*value);
  } else {
    std::string line;
    while (!g_stop && std::getline(std::cin, line)) send(std::move(line));
  }
  producer->flush();
  std::lock_guard lock(results->mutex);
  return results->first_failure ? cli::exit_code(*results->first_failure) : cli::kOk;
}

CLI::App* with_help(CLI::App* command, const char* examples) {
  command->footer(std::string("\nExamples:\n") + examples + kExitCodes);
  return command;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"kpg: read (and write) Kafka through a kpg (or Apache APISIX PubSub) gateway",
               "kpg"};
  app.set_version_flag("--version", "kpg " KPG_VERSION);
  app.require_subcommand(1);
  app.fallthrough();  // common options may come after the command too
  with_help(&app,
            "  kpg --url ws://127.0.0.1:9080/kafka metadata\n"
            "  kpg --url ws://127.0.0.1:9080/kafka tail orders --follow\n"
            "  KPG_API_KEY=secret kpg --url wss://gw.example/kafka --output json fetch orders -p 0 "
            "-o 42\n"
            "Run kpg COMMAND --help for a command's options and examples.\n");

  Options o;
  app.add_option("--url", o.url, "the gateway route: ws://HOST:PORT/PATH or wss://...")
      ->envname("KPG_URL")
      ->required()
      ->check([](const std::string& url) {
        return url.starts_with("ws://") || url.starts_with("wss://")
                   ? std::string()
                   : "must start with ws:// or wss://";
      });
  app.add_option("--api-key", o.api_key, "API key for a key-auth route (better: KPG_API_KEY)")
      ->envname("KPG_API_KEY");
  app.add_option("--token", o.token, "JWT for a jwt-auth route (better: KPG_TOKEN)")
      ->envname("KPG_TOKEN");
  app.add_option("--ca-file", o.ca_file, "PEM CA bundle to trust for wss:// (default: system CAs)")
      ->check(CLI::ExistingFile);
  app.add_flag("--insecure", o.insecure,
               "wss:// without verifying the gateway's certificate (development only)");
  app.add_option("--timeout", o.timeout_ms, "ms to connect and for each request (default 10000)")
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{3'600'000}));
  app.add_option("--output", o.output,
                 "text (tab-separated) or json (JSON lines; bytes that are not UTF-8 are given "
                 "base64-encoded in a field named NAME_base64, e.g. value_base64)")
      ->check(CLI::IsMember({"text", "json"}));

  std::vector<std::string> meta_topics;
  auto* metadata = with_help(
      app.add_subcommand("metadata",
                         "topics, partitions and their earliest and latest offsets (kpg gateways "
                         "only: APISIX has no metadata command). Text: TOPIC PARTITION EARLIEST "
                         "LATEST per line"),
      "  kpg --url ws://127.0.0.1:9080/kafka metadata            # every topic the route serves\n"
      "  kpg --url ws://127.0.0.1:9080/kafka metadata orders payments\n");
  metadata->add_option("topics", meta_topics, "topics (default: every topic the route allows)");

  std::string topic;
  std::int32_t partition = -1;
  std::string at;
  auto* offsets = with_help(
      app.add_subcommand("offsets",
                         "a topic's offsets. Text: TOPIC PARTITION EARLIEST LATEST per partition; "
                         "with --at: TOPIC PARTITION OFFSET (-1: no record that recent)"),
      "  kpg --url ws://127.0.0.1:9080/kafka offsets orders\n"
      "  kpg --url ws://127.0.0.1:9080/kafka offsets orders -p 0 --at latest\n"
      "  kpg --url ws://127.0.0.1:9080/kafka offsets orders --at 1767225600000\n");
  offsets->add_option("topic", topic, "topic")->required();
  offsets->add_option("-p,--partition", partition, "partition (default: every partition)")
      ->check(CLI::NonNegativeNumber);
  offsets->add_option("--at", at,
                      "earliest | latest | TIMESTAMP_MS (the first offset whose record time is at "
                      "or after it)");

  std::int64_t offset = 0;
  std::int64_t count = 0;
  auto* fetch = with_help(
      app.add_subcommand("fetch",
                         "records of a partition from an offset on. Text: PARTITION OFFSET "
                         "TIMESTAMP KEY VALUE per record (tab-separated; control characters and "
                         "bytes that are not UTF-8 as \\xNN); headers with --output json"),
      "  kpg --url ws://127.0.0.1:9080/kafka fetch orders -p 0 -o 42           # one answer\n"
      "  kpg --url ws://127.0.0.1:9080/kafka fetch orders -p 0 -o 42 -n 1000   # up to 1000\n");
  fetch->add_option("topic", topic, "topic")->required();
  fetch->add_option("-p,--partition", partition, "partition")
      ->required()
      ->check(CLI::NonNegativeNumber);
  fetch->add_option("-o,--offset", offset, "first offset")
      ->required()
      ->check(CLI::NonNegativeNumber);
  fetch
      ->add_option("-n,--count", count,
                   "records to print, fetching on until the end of the log (default: what one "
                   "answer holds)")
      ->check(CLI::PositiveNumber);

  std::string from = "-10";
  bool follow_on = false;
  auto* tail = with_help(
      app.add_subcommand("tail",
                         "records of a partition or of a whole topic (partition by partition), "
                         "up to the end of the log, or on as they arrive with --follow. Same "
                         "output as fetch"),
      "  kpg --url ws://127.0.0.1:9080/kafka tail orders              # last 10 per partition\n"
      "  kpg --url ws://127.0.0.1:9080/kafka tail orders -p 2 --from earliest\n"
      "  kpg --url ws://127.0.0.1:9080/kafka tail orders --from latest --follow\n"
      "  kpg --url ws://127.0.0.1:9080/kafka tail orders --from @1767225600000 -n 100\n");
  tail->add_option("topic", topic, "topic")->required();
  tail->add_option("-p,--partition", partition,
                   "partition (default: every partition; needs a kpg gateway)")
      ->check(CLI::NonNegativeNumber);
  tail->add_option("--from", from,
                   "earliest | latest | OFFSET | -N (N before the end) | @TIMESTAMP_MS (first "
                   "record at or after it); default -10");
  tail->add_option("-n,--count", count, "stop after this many records")->check(CLI::PositiveNumber);
  tail->add_flag("-f,--follow", follow_on,
                 "keep printing records as they are written (pushed by the gateway, paced by "
                 "credit) until Ctrl-C or --count");

  std::optional<std::string> produce_value;
  std::optional<std::string> produce_key;
  std::vector<std::string> produce_headers;
  auto* produce = with_help(
      app.add_subcommand("produce",
                         "write records (a route that allows produce): one per line of stdin, "
                         "or --value. Prints TOPIC PARTITION OFFSET TIMESTAMP per record, in "
                         "input order; failures go to stderr (saying whether the record may "
                         "have been written) and set the exit code"),
      "  echo hello | kpg --url ws://127.0.0.1:9080/kafka produce demo\n"
      "  kpg --url ws://127.0.0.1:9080/kafka produce demo --key order-7 --value '{\"qty\":2}'\n"
      "  seq 1000 | kpg --url ws://127.0.0.1:9080/kafka --output json produce demo "
      "--header source=cli -p 1\n");
  produce->add_option("topic", topic, "topic")->required();
  produce->add_option("--value", produce_value, "the record's value (default: one per stdin line)");
  produce->add_option("-k,--key", produce_key, "the records' key (default: none, a null key)");
  produce->add_option("-H,--header", produce_headers, "a header KEY=VALUE (repeatable)");
  produce
      ->add_option("-p,--partition", partition,
                   "partition (default: Kafka's partitioner on the key)")
      ->check(CLI::NonNegativeNumber);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int status = app.exit(e);  // prints help, the version or the error
    return status == 0 ? cli::kOk : cli::kUsage;
  }

  std::vector<sdk::Header> headers;
  for (const auto& text : produce_headers) {  // checked before connecting: a usage error
    auto header = cli::parse_header(text);
    if (!header) return usage("--header must be KEY=VALUE, not '" + text + "'");
    headers.push_back(std::move(*header));
  }

  std::signal(SIGINT, on_stop_signal);
  std::signal(SIGTERM, on_stop_signal);
  // A reconnecting client suits only --follow: elsewhere a lost connection ends the command.
  auto client = make_client(o, tail->parsed() && follow_on);
  if (auto connected = client->connect(o.url); !connected) return fail(connected.error());
  if (metadata->parsed()) return run_metadata(*client, o, meta_topics);
  if (offsets->parsed()) return run_offsets(*client, o, topic, partition, at);
  if (fetch->parsed()) return run_fetch(*client, o, topic, partition, offset, count);
  if (produce->parsed()) {
    return run_produce(*client, o, topic, produce_value, produce_key, std::move(headers),
                       partition);
  }
  return run_tail(*client, o, topic, partition, from, count, follow_on);
}
