// The kpg command-line tool as a user runs it: the real binary against the real gateway and a
// kpg-devkafka broker. Each command's output is checked exactly (text and JSON lines), and each
// kind of failure by its message on stderr and its exit code.
#include "admin_fixture.h"
#include "kpg_cli_run.h"

#include <kpg/sdk/native_client.h>

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

namespace {

using namespace std::chrono_literals;
using kpg::testing::KpgRun;
using kpg::testing::run_kpg;
using nlohmann::json;

class CliTest : public kpg::testing::AdminFixture {
 protected:
  // Topic "cli": partition 0 holds a text record with a header and one whose value is not UTF-8;
  // partition 1 a record without key whose value has a tab and a newline. "live" is written by
  // the --follow tests.
  static void SetUpTestSuite() {
    broker_ = new kpg::testing::ChildProcess(
        {KPG_DEVKAFKA_BIN, "mock", "--topic", "cli:2", "--topic", "live:1"});
    auto line = broker_->wait_for_line("bootstrap=", 15s);
    ASSERT_TRUE(line) << broker_->transcript();
    bootstrap_ = kpg::testing::field(*line, "bootstrap");
    kpg::kafka::Producer producer(bootstrap_);
    ASSERT_EQ(producer.produce("cli", 0, "k1", "hello", 10'000, {{"trace", "t1"}}).error, "");
    ASSERT_EQ(producer
                  .produce("cli", 0, "k2",
                           "\xff\xfe"
                           "bin",
                           10'000, {{"bin", std::string("\x00\xff", 2)}})
                  .error,
              "");
    ASSERT_EQ(producer.produce("cli", 1, std::nullopt, "tab\there\nnew").error, "");
  }

  void SetUp() override {
    AdminFixture::SetUp();
    put_route("open", "/kafka", json::object());
    put_consumer({{"username", "alice"}, {"plugins", {{"key-auth", {{"key", "alice-key"}}}}}});
    put_route("keyed", "/keyed", {{"key-auth", json::object()}});
    put_route("acl", "/acl", {{"kafka-proxy", {{"topics", {"live"}}}}});
  }

  /// Runs kpg with `args` (after --url `path`'s URL unless `path` is empty).
  KpgRun kpg(std::vector<std::string> args, const std::string& path = "/kafka",
             const std::vector<std::string>& env = {}) const {
    if (!path.empty()) args.insert(args.begin(), {"--url", url(path)});
    return run_kpg(args, dir_, env);
  }

  /// The timestamps the broker gave the records of a partition, through the SDK.
  std::vector<std::string> timestamps(const std::string& topic, std::int32_t partition) const {
    kpg::sdk::NativeClient client;
    std::vector<std::string> out;
    if (auto c = client.connect(url("/kafka")); !c) {
      ADD_FAILURE() << c.error().message;
      return out;
    }
    // One fetch answers with what the broker had delivered at that moment, which under load may
    // be less than the partition holds: fetch up to its end.
    const auto end = client.list_offsets(topic, partition, kpg::sdk::kLatest);
    if (!end) {
      ADD_FAILURE() << end.error().message;
      return out;
    }
    std::int64_t next = 0;
    for (int i = 0; i < 50 && next < end.value(); ++i) {
      auto records = client.fetch(topic, partition, next);
      if (!records) {
        ADD_FAILURE() << records.error().message;
        return out;
      }
      for (const auto& r : records.value()) {
        out.push_back(std::to_string(r.timestamp));
        next = r.offset + 1;
      }
    }
    return out;
  }
  std::int64_t latest(const std::string& topic) const {
    kpg::sdk::NativeClient client;
    if (auto c = client.connect(url("/kafka")); !c) return -1;
    auto offset = client.list_offsets(topic, 0, kpg::sdk::kLatest);
    return offset ? offset.value() : -1;
  }
  std::string text_records_p0() const {
    const auto ts = timestamps("cli", 0);
    if (ts.size() != 2) return "";
    return "0\t0\t" + ts[0] + "\tk1\thello\n0\t1\t" + ts[1] + "\tk2\t\\xff\\xfebin\n";
  }
  std::string text_record_p1() const {
    const auto ts = timestamps("cli", 1);
    if (ts.size() != 1) return "";
    return "1\t0\t" + ts[0] + "\t\ttab\\there\\nnew\n";
  }
};

#define EXPECT_RUN(run, status_, out_, err_)                                       \
  do {                                                                             \
    const KpgRun& r_ = (run);                                                      \
    EXPECT_EQ(r_.status, status_) << "stdout: " << r_.out << "stderr: " << r_.err; \
    EXPECT_EQ(r_.out, out_);                                                       \
    EXPECT_EQ(r_.err, err_);                                                       \
  } while (0)

TEST_F(CliTest, MetadataListsPartitionsWithTheirOffsets) {
  EXPECT_RUN(kpg({"metadata", "cli"}), 0, "cli\t0\t0\t2\ncli\t1\t0\t1\n", "");
  EXPECT_RUN(kpg({"--output", "json", "metadata", "cli"}), 0,
             "{\"topic\":\"cli\",\"partition\":0,\"earliest\":0,\"latest\":2}\n"
             "{\"topic\":\"cli\",\"partition\":1,\"earliest\":0,\"latest\":1}\n",
             "");
  // Every topic, in name order; common options may follow the command.
  auto all = kpg({"metadata", "--output", "text"});
  EXPECT_EQ(all.status, 0) << all.err;
  EXPECT_EQ(all.out.rfind("cli\t0\t0\t2\ncli\t1\t0\t1\nlive\t0\t0\t", 0), 0u) << all.out;
}

TEST_F(CliTest, OffsetsOfEveryPartitionOrOfOneAtATime) {
  EXPECT_RUN(kpg({"offsets", "cli"}), 0, "cli\t0\t0\t2\ncli\t1\t0\t1\n", "");
  EXPECT_RUN(kpg({"offsets", "cli", "-p", "1", "--at", "latest"}), 0, "cli\t1\t1\n", "");
  EXPECT_RUN(kpg({"offsets", "cli", "--at", "earliest", "--output", "json"}), 0,
             "{\"topic\":\"cli\",\"partition\":0,\"offset\":0}\n"
             "{\"topic\":\"cli\",\"partition\":1,\"offset\":0}\n",
             "");
  // kpg-devkafka answers every lookup by time with -1 (no record that recent).
  EXPECT_RUN(kpg({"offsets", "cli", "-p", "0", "--at", "1000"}), 0, "cli\t0\t-1\n", "");
}

TEST_F(CliTest, FetchPrintsRecordsAsTextAndJsonLines) {
  const auto ts = timestamps("cli", 0);
  ASSERT_EQ(ts.size(), 2u);
  EXPECT_RUN(kpg({"fetch", "cli", "-p", "0", "-o", "0", "-n", "2"}), 0, text_records_p0(), "");
  EXPECT_RUN(kpg({"fetch", "cli", "-p", "0", "-o", "1"}), 0,
             "0\t1\t" + ts[1] + "\tk2\t\\xff\\xfebin\n", "");
  EXPECT_RUN(kpg({"--output", "json", "fetch", "cli", "-p", "0", "-o", "0", "-n", "2"}), 0,
             "{\"topic\":\"cli\",\"partition\":0,\"offset\":0,\"timestamp\":" + ts[0] +
                 ",\"key\":\"k1\",\"value\":\"hello\",\"headers\":[{\"key\":\"trace\","
                 "\"value\":\"t1\"}]}\n"
                 "{\"topic\":\"cli\",\"partition\":0,\"offset\":1,\"timestamp\":" +
                 ts[1] +
                 ",\"key\":\"k2\",\"value_base64\":\"//5iaW4=\",\"headers\":[{\"key\":\"bin\","
                 "\"value_base64\":\"AP8=\"}]}\n",
             "");
  const auto ts1 = timestamps("cli", 1);
  ASSERT_EQ(ts1.size(), 1u);
  EXPECT_RUN(kpg({"--output", "json", "fetch", "cli", "-p", "1", "-o", "0"}), 0,
             "{\"topic\":\"cli\",\"partition\":1,\"offset\":0,\"timestamp\":" + ts1[0] +
                 ",\"key\":\"\",\"value\":\"tab\\there\\nnew\",\"headers\":[]}\n",
             "");
}

TEST_F(CliTest, TailPrintsWhatTheTopicHoldsPartitionByPartition) {
  const auto p0 = text_records_p0();
  const auto p1 = text_record_p1();
  ASSERT_FALSE(p0.empty());
  ASSERT_FALSE(p1.empty());
  EXPECT_RUN(kpg({"tail", "cli"}), 0, p0 + p1, "");  // the last 10 of each partition
  EXPECT_RUN(kpg({"tail", "cli", "--from", "earliest"}), 0, p0 + p1, "");
  EXPECT_RUN(kpg({"tail", "cli", "--from", "-1"}), 0, p0.substr(p0.find('\n') + 1) + p1, "");
  EXPECT_RUN(kpg({"tail", "cli", "-p", "0", "--from", "1"}), 0, p0.substr(p0.find('\n') + 1), "");
  EXPECT_RUN(kpg({"tail", "cli", "--from", "earliest", "-n", "1"}), 0,
             p0.substr(0, p0.find('\n') + 1), "");
  EXPECT_RUN(kpg({"tail", "cli", "--from", "latest"}), 0, "", "");
  // kpg-devkafka finds no record for any time: the tail starts at the end.
  EXPECT_RUN(kpg({"tail", "cli", "--from", "@0"}), 0, "", "");
}

TEST_F(CliTest, TailFollowPrintsRecordsAsTheyAreWritten) {
  const std::int64_t end = latest("live");
  ASSERT_GE(end, 0);
  kpg::testing::ChildProcess tail({KPG_CLI_BIN, "--url", url("/kafka"), "tail", "live", "--from",
                                   std::to_string(end), "--follow", "-n", "2"});
  kpg::kafka::Producer producer(bootstrap_);
  ASSERT_EQ(producer.produce("live", 0, "a", "one").error, "");
  ASSERT_EQ(producer.produce("live", 0, "b", "two").error, "");
  auto first = tail.read_line(10s);
  auto second = tail.read_line(10s);
  ASSERT_TRUE(first && second) << tail.transcript();
  EXPECT_EQ(tail.stop(0, 10s), 0) << tail.transcript();  // exits by itself after -n records
  const auto ts = timestamps("live", 0);
  ASSERT_EQ(ts.size(), static_cast<std::size_t>(end + 2));
  const auto at = static_cast<std::size_t>(end);
  EXPECT_EQ(*first, "0\t" + std::to_string(end) + "\t" + ts[at] + "\ta\tone");
  EXPECT_EQ(*second, "0\t" + std::to_string(end + 1) + "\t" + ts[at + 1] + "\tb\ttwo");
  EXPECT_EQ(tail.read_line(1s), std::nullopt);
}

TEST_F(CliTest, TailFollowStopsCleanlyOnInterrupt) {
  kpg::testing::ChildProcess tail(
      {KPG_CLI_BIN, "--url", url("/kafka"), "tail", "live", "-p", "0", "--follow"});
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(tail.stop(SIGINT, 10s), 0) << tail.transcript();
}

TEST_F(CliTest, CredentialsComeFromOptionsOrTheEnvironmentAndARefusalIsExit4) {
  EXPECT_RUN(kpg({"offsets", "cli", "-p", "1"}, "/keyed"), 4, "",
             "kpg: unauthorized: Missing API key found in request\n");
  EXPECT_RUN(kpg({"offsets", "cli", "-p", "1"}, "/keyed", {"KPG_API_KEY=mallory"}), 4, "",
             "kpg: unauthorized: Invalid API key in request\n");
  EXPECT_RUN(kpg({"offsets", "cli", "-p", "1"}, "/keyed", {"KPG_API_KEY=alice-key"}), 0,
             "cli\t1\t0\t1\n", "");
  EXPECT_RUN(kpg({"--api-key", "alice-key", "offsets", "cli", "-p", "1"}, "/keyed"), 0,
             "cli\t1\t0\t1\n", "");
}

TEST_F(CliTest, EachKindOfFailureHasItsExitCode) {
  EXPECT_RUN(kpg({"offsets", "nope", "-p", "0"}), 6, "",
             "kpg: unknown_topic: failed to list offset, topic: nope, partition: 0, err: not "
             "found topic\n");
  auto whole = kpg({"tail", "nope"});
  EXPECT_EQ(whole.status, 6) << whole.err;
  EXPECT_EQ(whole.err.rfind("kpg: unknown_topic: ", 0), 0u) << whole.err;
  EXPECT_RUN(kpg({"offsets", "cli", "-p", "0"}, "/acl"), 5, "",
             "kpg: not_allowed: failed to list offset, topic: cli, partition: 0, err: topic not "
             "allowed\n");
  auto beyond = kpg({"fetch", "cli", "-p", "0", "-o", "100"});
  EXPECT_EQ(beyond.status, 7) << beyond.err;
  EXPECT_EQ(beyond.err.rfind("kpg: offset_out_of_range: ", 0), 0u) << beyond.err;

  auto refused = kpg({"--url", "ws://127.0.0.1:1/kafka", "metadata"}, "");
  EXPECT_EQ(refused.status, 3) << refused.err;
  EXPECT_EQ(refused.err.rfind("kpg: transport: ", 0), 0u) << refused.err;
  auto no_route = kpg({"metadata"}, "/no-such-route");
  EXPECT_EQ(no_route.status, 3) << no_route.err;
  EXPECT_NE(no_route.err.find("404"), std::string::npos) << no_route.err;
}

TEST_F(CliTest, BadArgumentsAreExit2) {
  for (const std::vector<std::string>& args : {std::vector<std::string>{},
                                               {"tail"},
                                               {"fetch", "cli", "-p", "0"},
                                               {"fetch", "cli", "-p", "-1", "-o", "0"},
                                               {"offsets", "cli", "--at", "soon"},
                                               {"tail", "cli", "--from", "bogus"},
                                               {"--output", "xml", "metadata"},
                                               {"frobnicate"}}) {
    auto run = kpg(args);
    EXPECT_EQ(run.status, 2) << ::testing::PrintToString(args) << run.err;
    EXPECT_EQ(run.out, "");
    EXPECT_FALSE(run.err.empty());
  }
  EXPECT_RUN(kpg({"tail", "cli", "--from", "bogus"}), 2, "",
             "kpg: --from must be earliest, latest, OFFSET, -N or @TIMESTAMP_MS, not 'bogus'\n");
  auto no_url = kpg({"metadata"}, "");
  EXPECT_EQ(no_url.status, 2);
  EXPECT_NE(no_url.err.find("--url"), std::string::npos) << no_url.err;
  auto http = kpg({"--url", "http://127.0.0.1:1/kafka", "metadata"}, "");
  EXPECT_EQ(http.status, 2);
  EXPECT_NE(http.err.find("ws://"), std::string::npos) << http.err;
}

TEST_F(CliTest, HelpShowsExamplesAndExitCodes) {
  auto help = kpg({"--help"}, "");
  EXPECT_EQ(help.status, 0);
  for (const char* want :
       {"Examples:", "Exit codes:", "metadata", "offsets", "fetch", "tail", "KPG_API_KEY"}) {
    EXPECT_NE(help.out.find(want), std::string::npos) << want << "\n" << help.out;
  }
  for (const char* command : {"metadata", "offsets", "fetch", "tail"}) {
    auto sub = kpg({command, "--help"}, "");
    EXPECT_EQ(sub.status, 0) << command;
    EXPECT_NE(sub.out.find(std::string("kpg --url ws://127.0.0.1:9080/kafka ") + command),
              std::string::npos)
        << sub.out;
  }
}

}  // namespace

namespace {

// Against a gateway with APISIX's commands only (kpg-apisix-double: topic "apisix", 5 records,
// record n at 1700000000000 + n * 1000 ms, a fetch answers with the whole batch of 8 holding the
// offset): what needs partition lists says so, the rest works the same.
class CliApisixTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<kpg::testing::ChildProcess>(
        std::vector<std::string>{KPG_APISIX_DOUBLE_BIN, "--records", "5", "--max", "5"});
    auto line = server_->wait_for_line("listening port=", 10s);
    ASSERT_TRUE(line) << server_->transcript();
    url_ = "ws://127.0.0.1:" + kpg::testing::field(*line, "port") + "/kafka";
    dir_ =
        std::filesystem::temp_directory_path() / ("kpg-cli-apisix-" + std::to_string(::getpid()));
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  KpgRun kpg(std::vector<std::string> args) const {
    args.insert(args.begin(), {"--url", url_});
    return run_kpg(args, dir_);
  }
  std::unique_ptr<kpg::testing::ChildProcess> server_;
  std::string url_;
  std::filesystem::path dir_;
};

TEST_F(CliApisixTest, OffsetsFetchAndTailOfANamedPartition) {
  EXPECT_RUN(kpg({"offsets", "apisix", "-p", "0"}), 0, "apisix\t0\t0\t5\n", "");
  EXPECT_RUN(kpg({"offsets", "apisix", "-p", "0", "--at", "1700000002000"}), 0, "apisix\t0\t2\n",
             "");
  // The batch holding offset 3 starts at 0: the records before 3 are not printed.
  EXPECT_RUN(kpg({"fetch", "apisix", "-p", "0", "-o", "3", "--output", "json"}), 0,
             "{\"topic\":\"apisix\",\"partition\":0,\"offset\":3,\"timestamp\":1700000003000,"
             "\"key\":\"k3\",\"value\":\"apisix-3\",\"headers\":[]}\n"
             "{\"topic\":\"apisix\",\"partition\":0,\"offset\":4,\"timestamp\":1700000004000,"
             "\"key\":\"k4\",\"value\":\"apisix-4\",\"headers\":[]}\n",
             "");
  EXPECT_RUN(kpg({"tail", "apisix", "-p", "0", "--from", "@1700000003500"}), 0,
             "0\t4\t1700000004000\tk4\tapisix-4\n", "");
  EXPECT_RUN(kpg({"tail", "apisix", "-p", "0", "--from", "-2"}), 0,
             "0\t3\t1700000003000\tk3\tapisix-3\n0\t4\t1700000004000\tk4\tapisix-4\n", "");
}

TEST_F(CliApisixTest, WholeTopicsAndMetadataNeedAKpgGateway) {
  auto tail = kpg({"tail", "apisix"});
  EXPECT_EQ(tail.status, 1);
  EXPECT_EQ(tail.err,
            "kpg: unknown_command: this gateway cannot list a topic's partitions (no metadata "
            "command): name one with -p\n");
  auto metadata = kpg({"metadata"});
  EXPECT_EQ(metadata.status, 1);
  EXPECT_EQ(metadata.err.rfind("kpg: ", 0), 0u) << metadata.err;
  EXPECT_EQ(metadata.out, "");
}

}  // namespace
