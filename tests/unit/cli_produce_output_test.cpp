// kpg produce's pure parts: --header parsing and how a written record is printed.
#include "output.h"

#include <gtest/gtest.h>

namespace {

using kpg::cli::Format;

TEST(CliProduceOutput, HeaderIsKeyEqualsValueSplitAtTheFirstEquals) {
  EXPECT_EQ(kpg::cli::parse_header("source=cli"), (kpg::sdk::Header{"source", "cli"}));
  EXPECT_EQ(kpg::cli::parse_header("eq=a=b"), (kpg::sdk::Header{"eq", "a=b"}));
  EXPECT_EQ(kpg::cli::parse_header("empty="), (kpg::sdk::Header{"empty", ""}));
  EXPECT_FALSE(kpg::cli::parse_header("novalue"));
  EXPECT_FALSE(kpg::cli::parse_header("=nokey"));
}

TEST(CliProduceOutput, WrittenRecordAsTextAndJson) {
  const kpg::sdk::Produced p{2, 118, 1767225600123};
  EXPECT_EQ(kpg::cli::format_produced(Format::text, "demo", p), "demo\t2\t118\t1767225600123\n");
  EXPECT_EQ(kpg::cli::format_produced(Format::json, "demo", p),
            "{\"topic\":\"demo\",\"partition\":2,\"offset\":118,\"timestamp\":1767225600123}\n");
  EXPECT_EQ(kpg::cli::format_produced(Format::text, "a\tb", p), "a\\tb\t2\t118\t1767225600123\n");
}

}  // namespace
