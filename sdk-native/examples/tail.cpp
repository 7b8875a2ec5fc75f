// kpg-tail: prints the records of one partition as they arrive, through a kpg (or APISIX) gateway.
//   kpg-tail ws://127.0.0.1:9080/kafka demo 0 [--from earliest|latest|OFFSET]
#include <kpg/sdk/native_client.h>

#include <CLI/CLI.hpp>

#include <iostream>
#include <thread>

int main(int argc, char** argv) {
  CLI::App app{"kpg-tail: print the records of a Kafka partition through a kpg gateway",
               "kpg-tail"};
  std::string url, topic, from = "latest";
  int partition = 0;
  long long limit = -1;
  app.add_option("url", url, "gateway route, e.g. ws://127.0.0.1:9080/kafka")->required();
  app.add_option("topic", topic, "topic")->required();
  app.add_option("partition", partition, "partition (default 0)");
  app.add_option("--from", from, "earliest | latest | OFFSET (default latest)");
  app.add_option("--limit", limit, "stop after this many records");
  app.set_version_flag("--version", "kpg-tail " KPG_VERSION);
  CLI11_PARSE(app, argc, argv);

  kpg::sdk::NativeClient client;
  if (auto connected = client.connect(url); !connected) {
    std::cerr << "kpg-tail: " << connected.error().message << "\n";
    return 1;
  }
  std::int64_t offset = 0;
  if (from == "earliest" || from == "latest") {
    auto listed = client.list_offsets(topic, partition,
                                      from == "earliest" ? kpg::sdk::kEarliest : kpg::sdk::kLatest);
    if (!listed) {
      std::cerr << "kpg-tail: " << listed.error().message << "\n";
      return 1;
    }
    offset = listed.value();
  } else {
    try {
      offset = std::stoll(from);
    } catch (const std::exception&) {
      std::cerr << "kpg-tail: --from must be earliest, latest or an offset\n";
      return 2;
    }
  }
  long long printed = 0;
  while (limit < 0 || printed < limit) {
    auto fetched = client.fetch(topic, partition, offset);
    if (!fetched) {
      std::cerr << "kpg-tail: " << kpg::sdk::to_string(fetched.error().code) << ": "
                << fetched.error().message << "\n";
      return 1;
    }
    // The gateway waits briefly at the end of the log, so this loop does not spin.
    for (const auto& record : fetched.value()) {
      std::cout << record.offset << "\t" << record.timestamp << "\t" << record.key << "\t"
                << record.value << "\n";
      offset = record.offset + 1;
      if (limit >= 0 && ++printed >= limit) break;
    }
    std::cout.flush();
  }
  return 0;
}
