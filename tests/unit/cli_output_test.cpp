// The kpg tool's pure parts: --from / --at values, UTF-8 and escaping, the text and JSON line
// formats, and the exit code of each kind of error.
#include "output.h"

#include <gtest/gtest.h>

namespace {

using namespace kpg::cli;
namespace sdk = kpg::sdk;

TEST(CliFrom, ParsesEveryForm) {
  EXPECT_EQ(parse_from("earliest")->kind, From::Kind::earliest);
  EXPECT_EQ(parse_from("latest")->kind, From::Kind::latest);
  auto offset = parse_from("42");
  ASSERT_TRUE(offset);
  EXPECT_EQ(offset->kind, From::Kind::offset);
  EXPECT_EQ(offset->value, 42);
  auto before = parse_from("-10");
  ASSERT_TRUE(before);
  EXPECT_EQ(before->kind, From::Kind::before_end);
  EXPECT_EQ(before->value, 10);
  auto at = parse_from("@1767225600000");
  ASSERT_TRUE(at);
  EXPECT_EQ(at->kind, From::Kind::timestamp);
  EXPECT_EQ(at->value, 1767225600000);
}

TEST(CliFrom, RefusesAnythingElse) {
  for (const char* bad :
       {"", "earliest ", "x", "12x", "--3", "@", "@-5", "@x", "-", "1.5", "99999999999999999999"}) {
    EXPECT_FALSE(parse_from(bad)) << bad;
  }
}

TEST(CliAt, ParsesEarliestLatestAndTimes) {
  EXPECT_EQ(parse_at("earliest"), sdk::kEarliest);
  EXPECT_EQ(parse_at("latest"), sdk::kLatest);
  EXPECT_EQ(parse_at("1767225600000"), 1767225600000);
  EXPECT_FALSE(parse_at("-1"));
  EXPECT_FALSE(parse_at("now"));
  EXPECT_FALSE(parse_at(""));
}

TEST(CliUtf8, AcceptsWellFormedAndRefusesTheRest) {
  EXPECT_TRUE(valid_utf8(""));
  EXPECT_TRUE(valid_utf8("plain"));
  EXPECT_TRUE(valid_utf8("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"));
  EXPECT_FALSE(valid_utf8("\xff"));
  EXPECT_FALSE(valid_utf8("\xc3"));              // truncated
  EXPECT_FALSE(valid_utf8("\xc0\xaf"));          // overlong '/'
  EXPECT_FALSE(valid_utf8("\xed\xa0\x80"));      // a surrogate half
  EXPECT_FALSE(valid_utf8("\xf4\x90\x80\x80"));  // above U+10FFFF
  EXPECT_FALSE(valid_utf8("\xe2\x28\xa1"));      // bad continuation
}

TEST(CliBase64, EncodesWithPadding) {
  EXPECT_EQ(base64(""), "");
  EXPECT_EQ(base64("f"), "Zg==");
  EXPECT_EQ(base64("fo"), "Zm8=");
  EXPECT_EQ(base64("foo"), "Zm9v");
  EXPECT_EQ(base64(std::string("\xff\xfe\x00", 3)), "//4A");
}

TEST(CliTextEscape, KeepsPrintableUtf8AndEscapesTheRest) {
  EXPECT_EQ(text_escape("caf\xc3\xa9 ok"), "caf\xc3\xa9 ok");
  EXPECT_EQ(text_escape("a\tb\nc\rd\\e"), "a\\tb\\nc\\rd\\\\e");
  EXPECT_EQ(text_escape(std::string("\x1b[2J\x00\x7f", 6)), "\\x1b[2J\\x00\\x7f");
  EXPECT_EQ(text_escape("\xc2\x9b"), "\\xc2\\x9b");  // C1 CSI
  EXPECT_EQ(text_escape("\xff\xfe"
                        "ok"),
            "\\xff\\xfeok");
}

sdk::Record sample() {
  sdk::Record r;
  r.partition = 1;
  r.offset = 7;
  r.timestamp = 1767225600123;
  r.key = "k\t1";
  r.value = "{\"a\":\"\xc3\xa9\"}";
  r.headers = {{"trace", "abc"}, {"bin", std::string("\x00\xff", 2)}};
  return r;
}

TEST(CliFormat, RecordAsText) {
  EXPECT_EQ(format_record(Format::text, "orders", sample()),
            "1\t7\t1767225600123\tk\\t1\t{\"a\":\"\xc3\xa9\"}\n");
}

TEST(CliFormat, RecordAsJsonWithBase64ForBytesThatAreNotUtf8) {
  EXPECT_EQ(format_record(Format::json, "orders", sample()),
            R"({"topic":"orders","partition":1,"offset":7,"timestamp":1767225600123,)"
            R"("key":"k\t1","value":"{\"a\":\")"
            "\xc3\xa9"
            R"(\"}","headers":[{"key":"trace","value":"abc"},{"key":"bin","value_base64":"AP8="}]})"
            "\n");
  sdk::Record binary;
  binary.key = "";
  binary.value = "\xff";
  EXPECT_EQ(format_record(Format::json, "t", binary),
            R"({"topic":"t","partition":0,"offset":0,"timestamp":0,"key":"","value_base64":"/w==",)"
            R"("headers":[]})"
            "\n");
}

TEST(CliFormat, OffsetsAsTextAndJson) {
  EXPECT_EQ(format_range(Format::text, "orders", 2, 5, 9), "orders\t2\t5\t9\n");
  EXPECT_EQ(format_range(Format::json, "orders", 2, 5, 9),
            "{\"topic\":\"orders\",\"partition\":2,\"earliest\":5,\"latest\":9}\n");
  EXPECT_EQ(format_offset(Format::text, "orders", 0, -1), "orders\t0\t-1\n");
  EXPECT_EQ(format_offset(Format::json, "orders", 0, 3),
            "{\"topic\":\"orders\",\"partition\":0,\"offset\":3}\n");
}

TEST(CliExitCode, OneCodePerKindOfError) {
  using sdk::ErrorCode;
  using sdk::ServerCode;
  EXPECT_EQ(exit_code({ErrorCode::transport, ""}), kUnreachable);
  EXPECT_EQ(exit_code({ErrorCode::unauthorized, ""}), kUnauthorized);
  EXPECT_EQ(exit_code({ErrorCode::forbidden, ""}), kForbidden);
  EXPECT_EQ(exit_code({ErrorCode::timeout, ""}), kTimeout);
  EXPECT_EQ(exit_code({ErrorCode::closed, ""}), kFailed);
  EXPECT_EQ(exit_code({ErrorCode::protocol, ""}), kFailed);
  EXPECT_EQ(exit_code({ErrorCode::server, "", ServerCode::unknown_topic}), kUnknownTopic);
  EXPECT_EQ(exit_code({ErrorCode::server, "", ServerCode::unknown_partition}), kUnknownTopic);
  EXPECT_EQ(exit_code({ErrorCode::server, "", ServerCode::not_allowed}), kForbidden);
  EXPECT_EQ(exit_code({ErrorCode::server, "", ServerCode::offset_out_of_range}), kOutOfRange);
  EXPECT_EQ(exit_code({ErrorCode::server, "", ServerCode::unavailable}), kFailed);
  EXPECT_EQ(exit_code({ErrorCode::server, "", ServerCode::unspecified}), kFailed);
  EXPECT_EQ(error_label({ErrorCode::server, "", ServerCode::unknown_topic}), "unknown_topic");
  EXPECT_EQ(error_label({ErrorCode::server, "", ServerCode::unspecified}), "server");
  EXPECT_EQ(error_label({ErrorCode::unauthorized, ""}), "unauthorized");
}

}  // namespace
