// `kpg produce` as a user runs it: the real binary against the real gateway and a kpg-devkafka
// broker. Records from stdin lines or --value, with key, headers and partition, print where they
// were written (text and JSON lines) and read back whole; refusals have their message and exit
// code.
#include "admin_fixture.h"
#include "kpg_cli_run.h"

#include <kpg/sdk/native_client.h>

#include <gtest/gtest.h>

namespace {

using namespace std::chrono_literals;
using kpg::testing::KpgRun;
using nlohmann::json;

class CliProduceTest : public kpg::testing::AdminFixture {
 protected:
  static void SetUpTestSuite() {
    broker_ = new kpg::testing::ChildProcess(
        {KPG_DEVKAFKA_BIN, "mock", "--topic", "cli-in:2", "--topic", "cli-closed:1"});
    auto line = broker_->wait_for_line("bootstrap=", 15s);
    ASSERT_TRUE(line) << broker_->transcript();
    bootstrap_ = kpg::testing::field(*line, "bootstrap");
  }

  void SetUp() override {
    AdminFixture::SetUp();
    put_route("writable", "/writable", {{"kafka-proxy", {{"produce", {{"topics", {"cli-in"}}}}}}});
    put_route("readonly", "/readonly", json::object());
  }

  KpgRun kpg(std::vector<std::string> args, const std::string& path,
             const std::string& input = {}) const {
    args.insert(args.begin(), {"--url", url(path)});
    return kpg::testing::run_kpg(args, dir_, {}, input);
  }

  std::vector<kpg::sdk::Record> read(const std::string& topic, std::int32_t partition) const {
    kpg::sdk::NativeClient client;
    if (auto c = client.connect(url("/writable")); !c) {
      ADD_FAILURE() << c.error().message;
      return {};
    }
    auto records = client.fetch(topic, partition, 0);
    if (!records) ADD_FAILURE() << records.error().message;
    return records ? records.value() : std::vector<kpg::sdk::Record>{};
  }
};

// The timestamp column varies: compare lines without it.
std::string without_timestamps(const std::string& out) {
  std::string kept;
  std::size_t start = 0;
  while (start < out.size()) {
    const auto end = out.find('\n', start);
    const auto line = out.substr(start, end - start);
    kept += line.substr(0, line.rfind('\t')) + "\n";
    start = end == std::string::npos ? out.size() : end + 1;
  }
  return kept;
}

TEST_F(CliProduceTest, StdinLinesBecomeRecordsPrintedInInputOrder) {
  const auto run =
      kpg({"produce", "cli-in", "-p", "0", "--key", "k1", "--header", "source=cli", "-H", "eq=a=b"},
          "/writable", "one\ntwo\nthree\n");
  ASSERT_EQ(run.status, 0) << run.err;
  EXPECT_EQ(run.err, "");
  EXPECT_EQ(without_timestamps(run.out), "cli-in\t0\t0\ncli-in\t0\t1\ncli-in\t0\t2\n");
  const auto records = read("cli-in", 0);
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(records[0].value, "one");
  EXPECT_EQ(records[2].value, "three");
  EXPECT_EQ(records[1].key, "k1");
  EXPECT_EQ(records[1].headers, (std::vector<kpg::sdk::Header>{{"source", "cli"}, {"eq", "a=b"}}));
}

TEST_F(CliProduceTest, ValueOptionAndJsonLines) {
  const auto run =
      kpg({"--output", "json", "produce", "cli-in", "-p", "1", "--value", "solo"}, "/writable");
  ASSERT_EQ(run.status, 0) << run.err;
  const auto line = json::parse(run.out);
  EXPECT_EQ(line["topic"], "cli-in");
  EXPECT_EQ(line["partition"], 1);
  EXPECT_EQ(line["offset"], 0);
  EXPECT_TRUE(line["timestamp"].is_number_integer());
  const auto records = read("cli-in", 1);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].value, "solo");
}

TEST_F(CliProduceTest, RefusalsHaveTheirMessageAndExitCode) {
  const auto readonly = kpg({"produce", "cli-in", "--value", "x"}, "/readonly");
  EXPECT_EQ(readonly.status, 1);
  EXPECT_EQ(readonly.out, "");
  EXPECT_EQ(readonly.err,
            "kpg: unknown_command: this route does not allow produce (the gateway does not offer "
            "it: the route has no plugins.kafka-proxy.produce)\n");
  const auto denied = kpg({"produce", "cli-closed", "--value", "x"}, "/writable");
  EXPECT_EQ(denied.status, 5) << denied.err;  // not allowed: like a topic the ACL refuses
  EXPECT_EQ(denied.err.rfind("kpg: record 1: not_allowed: ", 0), 0u) << denied.err;
  const auto bad = kpg({"produce", "cli-in", "--header", "nokey"}, "/writable");
  EXPECT_EQ(bad.status, 2);
  EXPECT_EQ(bad.err, "kpg: --header must be KEY=VALUE, not 'nokey'\n");
}

TEST_F(CliProduceTest, HelpShowsExamples) {
  const auto run = kpg::testing::run_kpg({"produce", "--help"}, dir_);
  EXPECT_EQ(run.status, 0);
  EXPECT_NE(run.out.find("echo hello | kpg --url ws://127.0.0.1:9080/kafka produce demo"),
            std::string::npos)
      << run.out;
  EXPECT_NE(run.out.find("--header"), std::string::npos);
}

}  // namespace
