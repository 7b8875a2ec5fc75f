// etcd's JSON gateway encoding: what kpg sends and how it reads etcd's answers, including
// answers it must refuse without throwing (a proxy's error page, a damaged value).
#include "store/etcd_codec.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace {

using namespace kpg::store;
using nlohmann::json;

TEST(EtcdCodec, Base64RoundTripsEveryLengthAndRefusesGarbage) {
  std::string bytes;
  for (int n = 0; n < 10; ++n) {
    EXPECT_EQ(base64_decode(base64_encode(bytes)), bytes) << n;
    bytes.push_back(static_cast<char>(0xf0 + n));
  }
  EXPECT_EQ(base64_encode("/apisix/routes/a"), "L2FwaXNpeC9yb3V0ZXMvYQ==");
  EXPECT_FALSE(base64_decode("abc"));   // not a multiple of 4
  EXPECT_FALSE(base64_decode("ab!d"));  // not base64
}

TEST(EtcdCodec, PrefixRangeEndIsTheNextKeyAfterEveryKeyWithThePrefix) {
  EXPECT_EQ(prefix_range_end("/apisix/"), "/apisix0");
  EXPECT_EQ(prefix_range_end(std::string("a\xff", 2)), "b");
  EXPECT_EQ(prefix_range_end(std::string("\xff", 1)), std::string(1, '\0'));
}

TEST(EtcdCodec, RequestsCarryBase64KeysAndStringRevisions) {
  auto watch = json::parse(watch_request("/p/", 42));
  EXPECT_EQ(watch["create_request"]["key"], base64_encode("/p/"));
  EXPECT_EQ(watch["create_request"]["range_end"], base64_encode("/p0"));
  EXPECT_EQ(watch["create_request"]["start_revision"], "42");
  auto put = json::parse(put_request("/p/routes/a", "{}"));
  EXPECT_EQ(put["value"], base64_encode("{}"));
}

TEST(EtcdCodec, ARangeAnswerGivesItsRevisionAndDecodedKeyValues) {
  const std::string body =
      R"({"header":{"revision":"7"},"kvs":[{"key":"L2FwaXNpeC9yb3V0ZXMvYQ==","mod_revision":"5",)"
      R"("value":"eyJ4IjoxfQ=="}],"count":"1"})";
  auto result = parse_range(body);
  ASSERT_TRUE(std::holds_alternative<RangeResult>(result));
  const auto& range = std::get<RangeResult>(result);
  EXPECT_EQ(range.revision, 7);
  ASSERT_EQ(range.kvs.size(), 1u);
  EXPECT_EQ(range.kvs[0].key, "/apisix/routes/a");
  EXPECT_EQ(range.kvs[0].value, R"({"x":1})");
  EXPECT_EQ(range.kvs[0].mod_revision, 5);
  // No kvs at all (an empty prefix) is an empty result, not an error.
  auto empty = parse_range(R"({"header":{"revision":"3"}})");
  ASSERT_TRUE(std::holds_alternative<RangeResult>(empty));
  EXPECT_TRUE(std::get<RangeResult>(empty).kvs.empty());
}

TEST(EtcdCodec, WatchLinesGiveEventsDeletionsAndCompaction) {
  auto created = parse_watch_line(R"({"result":{"header":{"revision":"2"},"created":true}})");
  ASSERT_TRUE(std::holds_alternative<WatchResponse>(created));
  EXPECT_TRUE(std::get<WatchResponse>(created).created);

  auto events = parse_watch_line(R"({"result":{"header":{"revision":"9"},"events":[)"
                                 R"({"kv":{"key":"L2E=","mod_revision":"8","value":"eA=="}},)"
                                 R"({"type":"DELETE","kv":{"key":"L2I=","mod_revision":"9"}}]}})");
  ASSERT_TRUE(std::holds_alternative<WatchResponse>(events));
  const auto& e = std::get<WatchResponse>(events).events;
  ASSERT_EQ(e.size(), 2u);
  EXPECT_FALSE(e[0].deleted);
  EXPECT_EQ(e[0].kv.key, "/a");
  EXPECT_EQ(e[0].kv.value, "x");
  EXPECT_TRUE(e[1].deleted);
  EXPECT_EQ(e[1].kv.mod_revision, 9);

  auto compacted =
      parse_watch_line(R"({"result":{"header":{},"canceled":true,"compact_revision":"3"}})");
  ASSERT_TRUE(std::holds_alternative<WatchResponse>(compacted));
  EXPECT_TRUE(std::get<WatchResponse>(compacted).canceled);
  EXPECT_EQ(std::get<WatchResponse>(compacted).compact_revision, 3);
}

TEST(EtcdCodec, MalformedAnswersAreErrorsNotExceptions) {
  for (const char* body : {"", "<html>bad gateway</html>", "[]", R"({"header":{"revision":"x"}})",
                           R"({"header":{"revision":"1"},"kvs":{}})",
                           R"({"header":{"revision":"1"},"kvs":[{"key":"!!!!"}]})",
                           R"({"header":{"revision":"1"},"kvs":[{"key":"L2E=","value":7}]})"}) {
    auto result = parse_range(body);
    ASSERT_TRUE(std::holds_alternative<EtcdError>(result)) << body;
    EXPECT_EQ(std::get<EtcdError>(result).code, EtcdErrc::bad_response) << body;
  }
  for (const char* line : {"{", R"({"result":[]})", R"({"result":{"events":[{"kv":1}]}})",
                           R"({"result":{"created":"yes","compact_revision":{}}})"}) {
    EXPECT_TRUE(std::holds_alternative<EtcdError>(parse_watch_line(line))) << line;
  }
}

TEST(EtcdCodec, ErrorBodiesAreTypedByTheirGrpcCode) {
  EXPECT_EQ(error_of(401, R"({"error":"etcdserver: invalid auth token","code":16})").code,
            EtcdErrc::unauthorized);
  EXPECT_EQ(error_of(503, R"({"error":"etcdserver: request timed out","code":14})").code,
            EtcdErrc::unavailable);
  const auto refused = error_of(400, R"({"error":"etcdserver: key is not provided","code":3})");
  EXPECT_EQ(refused.code, EtcdErrc::refused);
  EXPECT_EQ(refused.message, "etcd: etcdserver: key is not provided");
  EXPECT_EQ(error_of(502, "<html>").code, EtcdErrc::bad_response);
  EXPECT_EQ(error_of(400, R"({"code":"16"})").code, EtcdErrc::unauthorized);
}

}  // namespace
