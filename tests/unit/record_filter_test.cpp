// Record filters (pubsub/record_filter.*): every condition kind matching and not matching,
// untrusted values (invalid JSON, absent fields, wrong types, deep nesting, huge values), refusals
// naming the bad part, one evaluation per (filter, batch) shared by its subscribers, interning,
// and route conditions pinned to claims that a client's filter cannot widen.
#include "pubsub/record_filter.h"
#include "pubsub/frames.h"

#include "config/pinned_filter.h"

#include <kpg/pubsub.pb.h>
#include <nlohmann/json.hpp>

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace {

using kpg::kafka::Record;
using kpg::pubsub::compile_filter;
using kpg::pubsub::FilterCondition;
using kpg::pubsub::FilterPtr;
using kpg::pubsub::FilterRegistry;
using kpg::pubsub::JsonFieldCompare;
using kpg::pubsub::KafkaFetchResp;
using kpg::pubsub::KafkaFilter;
using kpg::pubsub::PinnedConditions;

FilterPtr compiled(const KafkaFilter& filter, const std::vector<std::string>& pinned = {}) {
  auto result = compile_filter(&filter, pinned);
  if (auto* why = std::get_if<std::string>(&result)) {
    ADD_FAILURE() << "refused: " << *why;
    return nullptr;
  }
  return std::get<FilterPtr>(result);
}

std::string refusal(const KafkaFilter& filter, const std::vector<std::string>& pinned = {}) {
  auto result = compile_filter(&filter, pinned);
  if (auto* why = std::get_if<std::string>(&result)) return *why;
  return "(accepted)";
}

KafkaFilter key_equals(const std::string& key) {
  KafkaFilter f;
  f.add_all()->set_key_equals(key);
  return f;
}

FilterCondition* json_in(KafkaFilter& f, const std::string& path) {
  auto* c = f.add_all();
  c->mutable_json_in()->set_path(path);
  return c;
}

KafkaFilter json_string_in(const std::string& path, std::vector<std::string> values) {
  KafkaFilter f;
  auto* in = json_in(f, path)->mutable_json_in();
  for (auto& v : values) in->add_values()->set_string_value(v);
  return f;
}

KafkaFilter json_compare(const std::string& path, JsonFieldCompare::Op op, double value) {
  KafkaFilter f;
  auto* c = f.add_all()->mutable_json_compare();
  c->set_path(path);
  c->set_op(op);
  c->set_value(value);
  return f;
}

Record value_record(std::string value, std::string key = "k") {
  return Record{0, 0, std::move(key), std::move(value), {}};
}

TEST(RecordFilter, KeyEqualsAndPrefix) {
  auto eq = compiled(key_equals("user-1"));
  EXPECT_TRUE(eq->matches(value_record("", "user-1")));
  EXPECT_FALSE(eq->matches(value_record("", "user-10")));
  EXPECT_FALSE(eq->matches(value_record("", "")));
  KafkaFilter prefix;
  prefix.add_all()->set_key_prefix("user-");
  auto p = compiled(prefix);
  EXPECT_TRUE(p->matches(value_record("", "user-")));
  EXPECT_TRUE(p->matches(value_record("", "user-42")));
  EXPECT_FALSE(p->matches(value_record("", "use")));
  EXPECT_FALSE(p->matches(value_record("", "admin-user-1")));
  // Keys are bytes: a NUL inside is part of the key.
  auto nul = compiled(key_equals(std::string("a\0b", 3)));
  EXPECT_TRUE(nul->matches(value_record("", std::string("a\0b", 3))));
  EXPECT_FALSE(nul->matches(value_record("", "a")));
}

TEST(RecordFilter, HeaderEqualsLooksAtEveryHeaderWithTheKey) {
  KafkaFilter f;
  f.add_all()->mutable_header()->set_key("tenant");
  f.mutable_all(0)->mutable_header()->set_value("acme");
  auto filter = compiled(f);
  Record r = value_record("x");
  EXPECT_FALSE(filter->matches(r)) << "no headers";
  r.headers = {{"tenant", "globex"}};
  EXPECT_FALSE(filter->matches(r));
  r.headers = {{"tenant", "globex"}, {"tenant", "acme"}};
  EXPECT_TRUE(filter->matches(r)) << "a repeated header: any of its values";
  r.headers = {{"Tenant", "acme"}};
  EXPECT_FALSE(filter->matches(r)) << "header keys are compared exactly";
  r.headers = {{"tenant", "acme "}};
  EXPECT_FALSE(filter->matches(r));
}

TEST(RecordFilter, JsonFieldEqualsOneOfASet) {
  auto f = compiled(json_string_in("/order/region", {"eu", "uk"}));
  EXPECT_TRUE(f->matches(value_record(R"({"order":{"region":"eu"}})")));
  EXPECT_TRUE(
      f->matches(value_record(R"({"id":1,"order":{"x":[1,2,{"region":"no"}],"region":"uk"}})")));
  EXPECT_FALSE(f->matches(value_record(R"({"order":{"region":"us"}})")));
  EXPECT_FALSE(f->matches(value_record(R"({"region":"eu"})"))) << "the path, not any member";
  EXPECT_FALSE(f->matches(value_record(R"({"order":{}})"))) << "absent field";
  EXPECT_FALSE(f->matches(value_record(R"({"order":{"region":["eu"]}})"))) << "an array";
  EXPECT_FALSE(f->matches(value_record(R"({"order":{"region":{"eu":1}}})"))) << "an object";
  EXPECT_FALSE(f->matches(value_record(R"({"order":"eu"})")));
  // Duplicate members: the last one counts, as a browser's JSON.parse reads them.
  EXPECT_TRUE(f->matches(value_record(R"({"order":{"region":"us","region":"eu"}})")));
  EXPECT_FALSE(f->matches(value_record(R"({"order":{"region":"eu","region":"us"}})")));
  // JSON escapes are decoded before comparing.
  EXPECT_TRUE(f->matches(value_record(R"({"order":{"region":"\u0065u"}})")));
}

TEST(RecordFilter, JsonTypesMustMatch) {
  KafkaFilter f;
  auto* in = json_in(f, "/v")->mutable_json_in();
  in->add_values()->set_number_value(42);
  in->add_values()->set_bool_value(true);
  in->add_values()->set_null_value(true);
  auto filter = compiled(f);
  EXPECT_TRUE(filter->matches(value_record(R"({"v":42})")));
  EXPECT_TRUE(filter->matches(value_record(R"({"v":42.0})")));
  EXPECT_TRUE(filter->matches(value_record(R"({"v":4.2e1})")));
  EXPECT_TRUE(filter->matches(value_record(R"({"v":true})")));
  EXPECT_TRUE(filter->matches(value_record(R"({"v":null})")));
  EXPECT_FALSE(filter->matches(value_record(R"({"v":"42"})"))) << "a string is not a number";
  EXPECT_FALSE(filter->matches(value_record(R"({"v":false})")));
  EXPECT_FALSE(filter->matches(value_record(R"({"v":43})")));
  EXPECT_FALSE(filter->matches(value_record(R"({"w":null})"))) << "absent is not null";
  auto strings = compiled(json_string_in("/v", {"true", "null", "42"}));
  EXPECT_FALSE(strings->matches(value_record(R"({"v":true})")));
  EXPECT_FALSE(strings->matches(value_record(R"({"v":null})")));
  EXPECT_FALSE(strings->matches(value_record(R"({"v":42})")));
  EXPECT_TRUE(strings->matches(value_record(R"({"v":"42"})")));
}

TEST(RecordFilter, JsonPointersFollowRfc6901) {
  auto index = compiled(json_string_in("/items/1/sku", {"b"}));
  EXPECT_TRUE(index->matches(value_record(R"({"items":[{"sku":"a"},{"sku":"b"}]})")));
  EXPECT_FALSE(index->matches(value_record(R"({"items":[{"sku":"b"},{"sku":"a"}]})")));
  EXPECT_FALSE(index->matches(value_record(R"({"items":{"1":{"sku":"c"}}})")));
  auto member = compiled(json_string_in("/items/1", {"x"}));
  EXPECT_TRUE(member->matches(value_record(R"({"items":{"1":"x"}})"))) << "\"1\" names a member";
  auto escaped = compiled(json_string_in("/a~1b/c~0d", {"yes"}));
  EXPECT_TRUE(escaped->matches(value_record(R"({"a/b":{"c~d":"yes"}})")));
  EXPECT_FALSE(escaped->matches(value_record(R"({"a":{"b":{"c~d":"yes"}}})")));
  auto whole = compiled(json_string_in("", {"plain"}));
  EXPECT_TRUE(whole->matches(value_record(R"("plain")"))) << "\"\" is the whole value";
  EXPECT_FALSE(whole->matches(value_record(R"({"":"plain"})")));
  auto empty_member = compiled(json_string_in("/", {"e"}));
  EXPECT_TRUE(empty_member->matches(value_record(R"({"":"e"})"))) << "\"/\" is member \"\"";
}

TEST(RecordFilter, NumericComparisons) {
  auto gt = compiled(json_compare("/price", JsonFieldCompare::GT, 100));
  auto le = compiled(json_compare("/price", JsonFieldCompare::LE, 100));
  auto lt = compiled(json_compare("/price", JsonFieldCompare::LT, -1.5));
  auto ge = compiled(json_compare("/price", JsonFieldCompare::GE, 1e300));
  EXPECT_TRUE(gt->matches(value_record(R"({"price":100.01})")));
  EXPECT_FALSE(gt->matches(value_record(R"({"price":100})")));
  EXPECT_TRUE(le->matches(value_record(R"({"price":100})")));
  EXPECT_TRUE(le->matches(value_record(R"({"price":-7})")));
  EXPECT_TRUE(lt->matches(value_record(R"({"price":-2})")));
  EXPECT_FALSE(lt->matches(value_record(R"({"price":-1.5})")));
  EXPECT_TRUE(ge->matches(value_record(R"({"price":1.5e300})")));
  EXPECT_TRUE(gt->matches(value_record(R"({"price":18446744073709551615})"))) << "unsigned";
  for (const char* wrong : {R"({"price":"200"})", R"({"price":null})", R"({"price":[200]})",
                            R"({"price":true})", R"({})", R"([])", "200 apples"}) {
    EXPECT_FALSE(gt->matches(value_record(wrong))) << wrong;
  }
}

TEST(RecordFilter, ValuesThatAreNotJsonNeverMatchAndNeverThrow) {
  auto f = compiled(json_string_in("/a", {"b"}));
  for (const std::string& bad :
       {std::string(), std::string("{"), std::string(R"({"a":"b")"), std::string(R"({"a":"b"}x)"),
        std::string(R"({"a":"b"} {"a":"b"})"), std::string(R"({'a':'b'})"),
        std::string("{\"a\":\"b\xff\"}"), std::string(R"({"a":"b",})"),
        std::string("\0{\"a\":\"b\"}", 10), std::string(R"({"a":"b", "n": 1e999})"),
        std::string(R"({"a":"b"}/*c*/)")}) {
    EXPECT_FALSE(f->matches(value_record(bad))) << bad;
  }
  // Nesting: 64 levels are read, deeper values match nothing (and cost no stack).
  std::string deep = R"({"a":"b","n":)" + std::string(63, '[') + "1" + std::string(63, ']') + "}";
  EXPECT_TRUE(f->matches(value_record(deep)));
  std::string deeper = R"({"a":"b","n":)" + std::string(64, '[') + "1" + std::string(64, ']') + "}";
  EXPECT_FALSE(f->matches(value_record(deeper)));
  std::string hostile(1'000'000, '[');
  EXPECT_FALSE(f->matches(value_record(hostile)));
}

TEST(RecordFilter, HugeValuesAreReadToTheEnd) {
  auto f = compiled(json_string_in("/tail", {"found"}));
  std::string big = R"({"pad":")" + std::string(4 * 1024 * 1024, 'x') + R"(","tail":"found"})";
  EXPECT_TRUE(f->matches(value_record(big)));
  big.pop_back();  // no longer valid JSON: the field before the damage does not count
  EXPECT_FALSE(f->matches(value_record(big)));
}

TEST(RecordFilter, ConditionsAreAConjunction) {
  KafkaFilter f = json_string_in("/region", {"eu"});
  f.add_all()->set_key_prefix("order-");
  auto* h = f.add_all()->mutable_header();
  h->set_key("tenant");
  h->set_value("acme");
  auto* c = f.add_all()->mutable_json_compare();
  c->set_path("/total");
  c->set_op(JsonFieldCompare::GE);
  c->set_value(10);
  auto filter = compiled(f);
  Record r{0, 0, "order-1", R"({"region":"eu","total":12})", {{"tenant", "acme"}}};
  EXPECT_TRUE(filter->matches(r));
  auto broken = [&](auto change) {
    Record copy = r;
    change(copy);
    return filter->matches(copy);
  };
  EXPECT_FALSE(broken([](Record& x) { x.key = "refund-1"; }));
  EXPECT_FALSE(broken([](Record& x) { x.headers.clear(); }));
  EXPECT_FALSE(broken([](Record& x) { x.value = R"({"region":"us","total":12})"; }));
  EXPECT_FALSE(broken([](Record& x) { x.value = R"({"region":"eu","total":9})"; }));
}

TEST(RecordFilter, InvalidFiltersAreRefusedNamingTheBadPart) {
  KafkaFilter two_ok_then_bad = key_equals("a");
  json_in(two_ok_then_bad, "no-slash")->mutable_json_in()->add_values()->set_string_value("x");
  EXPECT_EQ(refusal(two_ok_then_bad),
            "filter condition 2 (json_in): path must be empty or start with '/' (a JSON "
            "Pointer)");
  KafkaFilter empty_condition;
  empty_condition.add_all();
  EXPECT_EQ(refusal(empty_condition), "filter condition 1 (empty): no condition set");
  KafkaFilter prefix;
  prefix.add_all()->set_key_prefix("");
  EXPECT_EQ(refusal(prefix),
            "filter condition 1 (key_prefix): prefix is empty (it would match every key)");
  KafkaFilter header;
  header.add_all()->mutable_header()->set_value("v");
  EXPECT_EQ(refusal(header), "filter condition 1 (header): header key is empty");
  KafkaFilter no_values;
  json_in(no_values, "/a");
  EXPECT_EQ(refusal(no_values),
            "filter condition 1 (json_in): no values (it would match no record)");
  KafkaFilter many_values;
  auto* in = json_in(many_values, "/a")->mutable_json_in();
  for (int i = 0; i < 257; ++i) in->add_values()->set_number_value(i);
  EXPECT_EQ(refusal(many_values), "filter condition 1 (json_in): more than 256 values");
  KafkaFilter kindless;
  json_in(kindless, "/a")->mutable_json_in()->add_values();
  EXPECT_EQ(refusal(kindless), "filter condition 1 (json_in): value 1 has no kind");
  KafkaFilter nan;
  json_in(nan, "/a")->mutable_json_in()->add_values()->set_number_value(std::nan(""));
  EXPECT_EQ(refusal(nan), "filter condition 1 (json_in): value 1 is not a finite number");
  EXPECT_EQ(refusal(json_compare("/a", JsonFieldCompare::OP_UNSPECIFIED, 1)),
            "filter condition 1 (json_compare): op must be LT, LE, GT or GE");
  EXPECT_EQ(refusal(json_compare("/a", JsonFieldCompare::GT, INFINITY)),
            "filter condition 1 (json_compare): value is not a finite number");
  EXPECT_EQ(refusal(json_string_in("/a~2", {"x"})),
            "filter condition 1 (json_in): path has '~' not followed by 0 or 1");
  std::string long_path;
  for (int i = 0; i < 33; ++i) long_path += "/a";
  EXPECT_EQ(refusal(json_string_in(long_path, {"x"})),
            "filter condition 1 (json_in): path has more than 32 segments");
  EXPECT_EQ(refusal(key_equals(std::string(4097, 'k'))),
            "filter condition 1 (key_equals): key longer than 4096 bytes");
  EXPECT_EQ(refusal(json_string_in("/a", {"ok", std::string(4097, 'v')})),
            "filter condition 1 (json_in): value 2 longer than 4096 bytes");
  KafkaFilter too_many;
  for (int i = 0; i < 17; ++i) too_many.add_all()->set_key_prefix("p");
  EXPECT_EQ(refusal(too_many), "filter: more than 16 conditions");
  KafkaFilter with_pinned;
  for (int i = 0; i < 15; ++i) with_pinned.add_all()->set_key_prefix("p");
  FilterCondition pinned;
  pinned.set_key_prefix("tenant-");
  EXPECT_EQ(refusal(with_pinned, {pinned.SerializeAsString(), pinned.SerializeAsString()}),
            "filter: more than 16 conditions (with the 2 the route adds)");
}

TEST(RecordFilter, NoConditionIsNoFilter) {
  KafkaFilter none;
  auto result = compile_filter(&none);
  ASSERT_TRUE(std::holds_alternative<FilterPtr>(result));
  EXPECT_EQ(std::get<FilterPtr>(result), nullptr);
  auto absent = compile_filter(nullptr);
  EXPECT_EQ(std::get<FilterPtr>(absent), nullptr);
}

// ---- batches --------------------------------------------------------------------------------

kpg::kafka::BatchPtr batch_of(const std::vector<Record>& records, std::int64_t high) {
  auto b = std::make_shared<kpg::kafka::RecordBatch>();
  b->first_offset = records.front().offset;
  b->next_offset = records.back().offset + 1;
  b->high_watermark = high;
  b->records = records.size();
  b->body = kpg::pubsub::encode_messages(records, /*with_headers=*/true);
  return b;
}

std::vector<Record> orders(int n) {
  std::vector<Record> out;
  for (int i = 0; i < n; ++i) {
    const std::string region = i % 3 == 0 ? "eu" : "us";
    out.push_back(Record{100 + i,
                         5000 + i,
                         "order-" + std::to_string(i),
                         R"({"region":")" + region + R"(","n":)" + std::to_string(i) + "}",
                         {{"tenant", i % 2 == 0 ? "acme" : "globex"}}});
  }
  return out;
}

TEST(RecordFilterBatch, KeepsTheMatchingRecordsBytesAndTheBatchsRange) {
  auto batch = batch_of(orders(30), 200);
  auto filter = compiled(json_string_in("/region", {"eu"}));
  auto filtered = filter->apply(batch);
  ASSERT_NE(filtered, nullptr);
  EXPECT_EQ(filtered->first_offset, 100);
  EXPECT_EQ(filtered->next_offset, 130) << "the subscriber continues after every record read";
  EXPECT_EQ(filtered->high_watermark, 200);
  EXPECT_EQ(filtered->records, 10u);
  KafkaFetchResp decoded;
  ASSERT_TRUE(decoded.ParseFromString(filtered->body));
  ASSERT_EQ(decoded.messages_size(), 10);
  for (int i = 0; i < 10; ++i) {
    const auto& m = decoded.messages(i);
    EXPECT_EQ(m.offset(), 100 + 3 * i);
    EXPECT_EQ(m.timestamp(), 5000 + 3 * i);
    EXPECT_EQ(m.key(), "order-" + std::to_string(3 * i));
    ASSERT_EQ(m.headers_size(), 1);
    EXPECT_EQ(m.headers(0).value(), (3 * i) % 2 == 0 ? "acme" : "globex");
  }
  // Header conditions read the headers inside the shared body.
  KafkaFilter by_tenant;
  by_tenant.add_all()->mutable_header()->set_key("tenant");
  by_tenant.mutable_all(0)->mutable_header()->set_value("globex");
  auto globex = compiled(by_tenant)->apply(batch);
  EXPECT_EQ(globex->records, 15u);
  // Nothing matching: an empty batch that still covers the whole range.
  auto none = compiled(key_equals("absent"))->apply(batch);
  EXPECT_EQ(none->records, 0u);
  EXPECT_TRUE(none->body.empty());
  EXPECT_EQ(none->next_offset, 130);
}

TEST(RecordFilterBatch, OneEvaluationPerBatchWhateverTheNumberOfSubscribers) {
  auto batch = batch_of(orders(50), 150);
  auto filter = compiled(json_string_in("/region", {"eu"}));
  auto first = filter->apply(batch);
  for (int subscriber = 0; subscriber < 1000; ++subscriber) {
    EXPECT_EQ(filter->apply(batch), first);  // the same bytes, not an equal copy
  }
  EXPECT_EQ(filter->evaluations(), 1u);
  // Another batch (even with equal contents) is evaluated on its own.
  auto other = batch_of(orders(50), 150);
  EXPECT_NE(filter->apply(other), first);
  EXPECT_EQ(filter->evaluations(), 2u);
  // A batch whose every record matches is shared as it is.
  KafkaFilter orders_only;
  orders_only.add_all()->set_key_prefix("order-");
  EXPECT_EQ(compiled(orders_only)->apply(batch), batch);
}

TEST(RecordFilterBatch, EqualFiltersAreInternedWhileInUse) {
  FilterRegistry registry;
  KafkaFilter a = json_string_in("/region", {"eu"});
  a.add_all()->set_key_prefix("order-");
  KafkaFilter b;  // the same conditions in another order
  b.add_all()->set_key_prefix("order-");
  *b.add_all() = a.all(0);
  auto first = registry.intern(compiled(a));
  auto second = registry.intern(compiled(b));
  EXPECT_EQ(first, second);
  auto batch = batch_of(orders(10), 10);
  first->apply(batch);
  second->apply(batch);
  EXPECT_EQ(first->evaluations(), 1u) << "two subscribers, one evaluation";
  auto different = registry.intern(compiled(json_string_in("/region", {"us"})));
  EXPECT_NE(different, first);
  EXPECT_EQ(registry.size(), 2u);
  first.reset();
  second.reset();
  EXPECT_EQ(registry.size(), 1u) << "a filter nobody uses is not kept";
}

// ---- conditions pinned by the route ---------------------------------------------------------

kpg::config::PinnedFilter tenant_pin() {
  kpg::config::PinnedFilter pin;
  pin.conditions.push_back(
      {kpg::config::PinnedFilter::Kind::header_equals, "tenant", "", "tenant"});
  pin.conditions.push_back({kpg::config::PinnedFilter::Kind::json_equals, "/region", "eu", ""});
  return pin;
}

TEST(PinnedFilter, ResolvedWithTheClaimsAndNeverWidenedByTheClient) {
  const auto pin = tenant_pin();
  const nlohmann::json claims = {{"tenant", "acme"}, {"sub", "u1"}};
  PinnedConditions pinned(&pin, &claims);
  ASSERT_FALSE(pinned.error());
  ASSERT_EQ(pinned.conditions().size(), 2u);
  auto only_route = std::get<FilterPtr>(compile_filter(nullptr, pinned.conditions()));
  ASSERT_NE(only_route, nullptr);
  Record acme_eu{0, 0, "k", R"({"region":"eu"})", {{"tenant", "acme"}}};
  Record globex_eu{0, 0, "k", R"({"region":"eu"})", {{"tenant", "globex"}}};
  Record acme_us{0, 0, "k", R"({"region":"us"})", {{"tenant", "acme"}}};
  EXPECT_TRUE(only_route->matches(acme_eu));
  EXPECT_FALSE(only_route->matches(globex_eu));
  EXPECT_FALSE(only_route->matches(acme_us));
  // The client asks for globex's records: its conditions are added, so it gets none.
  KafkaFilter widen;
  auto* h = widen.add_all()->mutable_header();
  h->set_key("tenant");
  h->set_value("globex");
  auto combined = std::get<FilterPtr>(compile_filter(&widen, pinned.conditions()));
  EXPECT_FALSE(combined->matches(globex_eu));
  EXPECT_FALSE(combined->matches(acme_eu));
}

TEST(PinnedFilter, AMissingOrMistypedClaimRefusesReads) {
  const auto pin = tenant_pin();
  const nlohmann::json without = {{"sub", "u1"}};
  PinnedConditions missing(&pin, &without);
  ASSERT_TRUE(missing.error());
  EXPECT_EQ(*missing.error(), "the route filters by claim \"tenant\", which the token lacks");
  PinnedConditions no_token(&pin, nullptr);
  ASSERT_TRUE(no_token.error());
  const nlohmann::json array = {{"tenant", {"acme", "globex"}}};
  PinnedConditions mistyped(&pin, &array);
  ASSERT_TRUE(mistyped.error());
  EXPECT_EQ(*mistyped.error(), "the route filters by claim \"tenant\", which is not a string");
  PinnedConditions none(nullptr, &without);
  EXPECT_TRUE(none.empty());
}

}  // namespace
