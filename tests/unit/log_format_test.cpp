// The log lines' formats: key="quoted" values a client chose cannot break a line or add fields,
// JSON lines carry the key=value fields as members, and the access line's topic list is bounded.
#include "server/log_format.h"
#include "pubsub/topic_set.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace {

using kpg::server::json_log_line;
using kpg::server::log_quoted;
using kpg::server::parse_log_fields;
using nlohmann::json;

TEST(LogQuoted, EscapesQuotesBackslashesAndControlCharacters) {
  EXPECT_EQ(log_quoted("plain"), "\"plain\"");
  EXPECT_EQ(log_quoted("a \"b\" \\ c"), R"("a \"b\" \\ c")");
  EXPECT_EQ(log_quoted("x\ny\r\tz\x01\x7f"), R"("x\ny\r\tz\x01\x7f")");
  EXPECT_EQ(log_quoted("caf\xc3\xa9"), "\"caf\xc3\xa9\"");
}

TEST(LogFields, KeyValueWordsBecomeFieldsAndQuotedValuesRoundTrip) {
  const std::string tricky = "bye \"now\" code=1 \\ \n{";
  const auto fields = parse_log_fields(
      "event=access route=r1 records=42 reason=" + log_quoted(tricky) + " port=007");
  ASSERT_TRUE(fields);
  ASSERT_EQ(fields->size(), 5u);
  EXPECT_EQ((*fields)[0], (std::pair<std::string, json>("event", "access")));
  EXPECT_EQ((*fields)[2].second, 42);
  EXPECT_EQ((*fields)[3], (std::pair<std::string, json>("reason", tricky)));
  EXPECT_EQ((*fields)[4].second, "007");  // not written as a number prints: text
}

TEST(LogFields, AMessageThatIsNotOnlyKeyValueWordsHasNone) {
  for (const char* message : {"generated an admin API key in /x", "", "a=1 b", "a=\"open",
                              "a=1  b=2", "=1", "a=x\"y", "a=\"bad \\q escape\"", "a-b=1"}) {
    EXPECT_FALSE(parse_log_fields(message)) << message;
  }
}

TEST(JsonLogLine, OneObjectWithTimeLevelMessageAndTheFields) {
  const auto time = std::chrono::system_clock::time_point(std::chrono::milliseconds(1700000000123));
  const auto line =
      json_log_line(time, "info", "event=access client=\"x\\\"y\" level=evil records=3");
  EXPECT_EQ(line.find('\n'), std::string::npos);
  const auto object = json::parse(line);
  EXPECT_EQ(object["time"], "2023-11-14T22:13:20.123Z");
  EXPECT_EQ(object["level"], "info");  // a field named like a member stays in the message only
  EXPECT_EQ(object["message"], "event=access client=\"x\\\"y\" level=evil records=3");
  EXPECT_EQ(object["event"], "access");
  EXPECT_EQ(object["client"], "x\"y");
  EXPECT_EQ(object["records"], 3);
  EXPECT_EQ(line.rfind("{\"time\":", 0), 0u);
}

TEST(JsonLogLine, BytesThatAreNotUtf8AreReplacedNotThrownOn) {
  const auto line = json_log_line({}, "warn", std::string("reason=\"\xff\xfe\" x\xc3"));
  const auto object = json::parse(line);
  EXPECT_EQ(object["level"], "warn");
  EXPECT_FALSE(object.contains("x"));
}

TEST(TopicSet, NamesTheFirstFewThenCountsDistinctOthersWithinABound) {
  kpg::pubsub::TopicSet topics;
  EXPECT_EQ(topics.summary(), "");
  topics.add("a");
  topics.add("b");
  topics.add("a");
  EXPECT_EQ(topics.summary(), "a,b");
  for (int i = 0; i < 10; ++i) topics.add("t" + std::to_string(i));
  topics.add("t9");
  EXPECT_EQ(topics.summary(), "a,b,t0,t1,t2,t3,t4,t5 +4 more");
  for (int i = 0; i < 5000; ++i) topics.add("u" + std::to_string(i));
  EXPECT_EQ(topics.summary(), "a,b,t0,t1,t2,t3,t4,t5 +" +
                                  std::to_string(kpg::pubsub::TopicSet::kMaxCounted) + " more");
}

}  // namespace
