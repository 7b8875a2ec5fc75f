// A route's topic ACL (plugins.kafka-proxy.topics) and origin allow-list (plugins.cors): what the
// matchers allow, claims included, and what route validation refuses, naming the field.
#include "config/topic_acl.h"
#include "config/origin_policy.h"
#include "config/route.h"

#include <gtest/gtest.h>

#include <string>
#include <variant>

namespace {

using kpg::config::OriginPolicy;
using kpg::config::TopicAcl;
using nlohmann::json;
using Verdict = OriginPolicy::Verdict;

TopicAcl acl_of(std::initializer_list<const char*> entries) {
  TopicAcl acl;
  for (const char* e : entries) EXPECT_TRUE(acl.add(e)) << e;
  return acl;
}

TEST(TopicAcl, ExactNamesAndPrefixPatterns) {
  const auto acl = acl_of({"orders", "metrics.*", "tenant-*"});
  EXPECT_TRUE(acl.allowed("orders", nullptr));
  EXPECT_FALSE(acl.allowed("orders2", nullptr)) << "an exact name is not a prefix";
  EXPECT_FALSE(acl.allowed("order", nullptr));
  EXPECT_TRUE(acl.allowed("metrics.cpu", nullptr));
  EXPECT_TRUE(acl.allowed("metrics.", nullptr)) << "what precedes the '*' is a prefix of itself";
  EXPECT_FALSE(acl.allowed("metrics", nullptr));
  EXPECT_FALSE(acl.allowed("metricsXcpu", nullptr)) << "'.' is a character, not a wildcard";
  EXPECT_TRUE(acl.allowed("tenant-42", nullptr));
  EXPECT_FALSE(acl.allowed("Tenant-42", nullptr)) << "topic names are case-sensitive";
  EXPECT_FALSE(acl.allowed("secret", nullptr));
  EXPECT_EQ(acl.size(), 3u);
}

TEST(TopicAcl, ALoneStarAllowsEveryTopic) {
  const auto acl = acl_of({"*"});
  EXPECT_TRUE(acl.allowed("anything", nullptr));
  EXPECT_TRUE(acl.allowed("x", nullptr));
}

TEST(TopicAcl, EntriesAreKafkaNamesOrSuchANamesBeginningThenAStar) {
  for (const char* good : {"a", "a.b_c-D9", ".x", "..*", ".*", "a*", "*"}) {
    EXPECT_TRUE(TopicAcl::is_valid_entry(good)) << good;
  }
  EXPECT_TRUE(TopicAcl::is_valid_entry(std::string(249, 'a')));
  EXPECT_TRUE(TopicAcl::is_valid_entry(std::string(249, 'a') + "*"));
  for (const char* bad : {"", ".", "..", "**", "a**", "*a", "a*b", "a/b", "a b*", "ü", "a\n"}) {
    EXPECT_FALSE(TopicAcl::is_valid_entry(bad)) << bad;
  }
  EXPECT_FALSE(TopicAcl::is_valid_entry(std::string(250, 'a')));
  EXPECT_FALSE(TopicAcl::is_valid_entry(std::string(250, 'a') + "*"));
  TopicAcl acl;
  EXPECT_FALSE(acl.add("a/b"));
  EXPECT_EQ(acl.size(), 0u) << "a refused entry adds nothing";
}

TEST(TopicAcl, AClaimEntryAllowsTheNamesAndPatternsOfThatClaim) {
  TopicAcl acl = acl_of({"public"});
  ASSERT_TRUE(acl.add_claim("topics"));
  EXPECT_TRUE(acl.uses_claims());
  const json claims = {{"sub", "alice"}, {"topics", {"alice.orders", "alice.*"}}};
  EXPECT_TRUE(acl.allowed("alice.orders", &claims));
  EXPECT_TRUE(acl.allowed("alice.audit", &claims));
  EXPECT_TRUE(acl.allowed("public", &claims)) << "the route's own entries still apply";
  EXPECT_FALSE(acl.allowed("bob.orders", &claims));
  EXPECT_FALSE(acl.allowed("sub", &claims)) << "other claims are not topic lists";
  EXPECT_FALSE(acl.allowed("alice", &claims));
}

TEST(TopicAcl, WithoutClaimsAClaimEntryAllowsNothing) {
  TopicAcl acl;
  ASSERT_TRUE(acl.add_claim("topics"));
  EXPECT_FALSE(acl.allowed("alice.orders", nullptr));
  const json empty = json::object();
  EXPECT_FALSE(acl.allowed("alice.orders", &empty)) << "a token without the claim";
  const json not_object = json::array({"alice.orders"});
  EXPECT_FALSE(acl.allowed("alice.orders", &not_object));
}

TEST(TopicAcl, AClaimHoldingOneNameOrPatternIsAListOfOne) {
  TopicAcl acl;
  ASSERT_TRUE(acl.add_claim("topic"));
  const json name = {{"topic", "orders"}};
  EXPECT_TRUE(acl.allowed("orders", &name));
  EXPECT_FALSE(acl.allowed("orders-2", &name));
  const json pattern = {{"topic", "orders*"}};
  EXPECT_TRUE(acl.allowed("orders-2", &pattern));
  const json star = {{"topic", "*"}};
  EXPECT_TRUE(acl.allowed("anything", &star)) << "the issuer may grant every topic";
}

TEST(TopicAcl, WhatAClaimHoldsBesidesNamesAndPatternsAllowsNothing) {
  TopicAcl acl;
  ASSERT_TRUE(acl.add_claim("topics"));
  const json odd = {{"topics",
                     {1, nullptr, json::object({{"claim", "topics"}}), "a/b*", "**",
                      json::array({"orders"}), "", true}}};
  EXPECT_FALSE(acl.allowed("orders", &odd));
  EXPECT_FALSE(acl.allowed("a", &odd));
  const json number = {{"topics", 7}};
  EXPECT_FALSE(acl.allowed("7", &number));
  // Only the first kMaxEntries entries of a claim are looked at.
  json long_claim = {{"topics", json::array()}};
  for (std::size_t i = 0; i < TopicAcl::kMaxEntries; ++i) long_claim["topics"].push_back("x");
  long_claim["topics"].push_back("late");
  EXPECT_FALSE(acl.allowed("late", &long_claim));
  long_claim["topics"][0] = "late";
  EXPECT_TRUE(acl.allowed("late", &long_claim));
}

TEST(TopicAcl, ClaimNamesArePrintableAndBounded) {
  TopicAcl acl;
  EXPECT_TRUE(acl.add_claim("https://example.com/topics"));
  EXPECT_FALSE(acl.add_claim(""));
  EXPECT_FALSE(acl.add_claim("a\nb"));
  EXPECT_FALSE(acl.add_claim(std::string(TopicAcl::kMaxClaimNameLength + 1, 'c')));
  EXPECT_TRUE(acl.add_claim(std::string(TopicAcl::kMaxClaimNameLength, 'c')));
}

// ---- route validation ----------------------------------------------------------------------

json route_with(const json& plugins) {
  return {{"uri", "/kafka"},
          {"upstream", {{"scheme", "kafka"}, {"nodes", {{"127.0.0.1:9092", 1}}}}},
          {"plugins", plugins}};
}

std::string error_of(const json& route) {
  const auto r = kpg::config::parse_route(route, "1");
  const auto* e = std::get_if<std::string>(&r);
  return e ? *e : "";
}

kpg::config::Route parsed(const json& route) {
  auto r = kpg::config::parse_route(route, "1");
  EXPECT_TRUE(std::holds_alternative<kpg::config::Route>(r)) << std::get<std::string>(r);
  return std::holds_alternative<kpg::config::Route>(r) ? std::get<kpg::config::Route>(r)
                                                       : kpg::config::Route{};
}

TEST(RouteTopics, AbsentMeansEveryTopic) {
  const auto route = parsed(route_with({{"kafka-proxy", json::object()}}));
  EXPECT_FALSE(route.topics);
  EXPECT_FALSE(parsed(route_with(json::object())).topics);
}

TEST(RouteTopics, NamesAndPatternsAreParsed) {
  const auto route =
      parsed(route_with({{"kafka-proxy", {{"topics", {"orders", "metrics.*", "orders"}}}}}));
  ASSERT_TRUE(route.topics);
  EXPECT_TRUE(route.topics->allowed("orders", nullptr));
  EXPECT_TRUE(route.topics->allowed("metrics.cpu", nullptr));
  EXPECT_FALSE(route.topics->allowed("secret", nullptr));
}

TEST(RouteTopics, InvalidEntriesAreRefusedNamingTheField) {
  EXPECT_EQ(error_of(route_with({{"kafka-proxy", {{"topics", {"orders", "a/b*"}}}}})),
            "invalid configuration: property \"plugins.kafka-proxy.topics\" validation failed: "
            "entry 2 \"a/b*\" is neither a topic name ([a-zA-Z0-9._-], 1-249 characters) nor a "
            "prefix pattern (such a name's beginning then '*', or \"*\")");
  for (const json& bad : {json("orders"), json::array(), json::object(), json(3),
                          json::array({"a*b"}), json::array({"**"}), json::array({7}),
                          json::array({json::array({"orders"})}), json::array({nullptr})}) {
    const auto e = error_of(route_with({{"kafka-proxy", {{"topics", bad}}}}));
    EXPECT_EQ(e.rfind("invalid configuration: property \"plugins.kafka-proxy.topics\"", 0), 0u)
        << bad.dump() << ": " << e;
  }
  const auto long_name = error_of(
      route_with({{"kafka-proxy", {{"topics", json::array({std::string(10'000, '/')})}}}}));
  EXPECT_LT(long_name.size(), 400u) << "the message quotes a bounded part of the entry";
}

TEST(RouteTopics, TheNumberOfEntriesIsBounded) {
  json topics = json::array();
  for (std::size_t i = 0; i < TopicAcl::kMaxEntries; ++i) topics.push_back("t" + std::to_string(i));
  EXPECT_TRUE(parsed(route_with({{"kafka-proxy", {{"topics", topics}}}})).topics);
  topics.push_back("one-more");
  EXPECT_EQ(error_of(route_with({{"kafka-proxy", {{"topics", topics}}}})),
            "invalid configuration: property \"plugins.kafka-proxy.topics\" validation failed: "
            "more than 1000 entries (kpg's limit)");
}

TEST(RouteTopics, AClaimEntryRequiresJwtAuth) {
  const auto e =
      error_of(route_with({{"kafka-proxy", {{"topics", {"public", {{"claim", "topics"}}}}}}}));
  EXPECT_EQ(e,
            "invalid configuration: property \"plugins.kafka-proxy.topics\" validation failed: a "
            "{\"claim\": ...} entry requires jwt-auth on the route (the claims of a verified "
            "token)");
  EXPECT_EQ(
      error_of(route_with({{"kafka-proxy", {{"topics", {{{"claim", "topics"}, {"x", 1}}}}}}})),
      "invalid configuration: property \"plugins.kafka-proxy.topics.x\" is not supported by kpg");
  EXPECT_NE(error_of(route_with({{"kafka-proxy", {{"topics", {{{"claim", ""}}}}}}}))
                .find("\"plugins.kafka-proxy.topics.claim\""),
            std::string::npos);
  EXPECT_NE(error_of(route_with({{"kafka-proxy", {{"topics", {{{"claim", 5}}}}}}}))
                .find("\"plugins.kafka-proxy.topics.claim\""),
            std::string::npos);
  EXPECT_NE(error_of(route_with({{"kafka-proxy", {{"topics", {json::object()}}}}}))
                .find("\"plugins.kafka-proxy.topics.claim\" is required"),
            std::string::npos);
}

// ---- origins -------------------------------------------------------------------------------

TEST(Origin, NormalizedToLowerCaseSchemeAndHost) {
  EXPECT_EQ(kpg::config::normalize_origin("HTTPS://App.Example.COM"), "https://app.example.com");
  EXPECT_EQ(kpg::config::normalize_origin("http://localhost:8080"), "http://localhost:8080");
  EXPECT_EQ(kpg::config::normalize_origin("http://[::1]:3000"), "http://[::1]:3000");
  EXPECT_EQ(kpg::config::normalize_origin("http://[::1]"), "http://[::1]");
  for (const char* bad :
       {"", "null", "app.example.com", "https://", "https://a.example/", "https://a.example/path",
        "https://user@a.example", "https://a.example:", "https://a.example:0",
        "https://a.example:65536", "https://a.example:8x", "https://a b", "://a.example",
        "1https://a.example", "http://[::1", "http://[zz]", "http://[::1]x", "*"}) {
    EXPECT_FALSE(kpg::config::normalize_origin(bad)) << bad;
  }
  EXPECT_FALSE(kpg::config::normalize_origin("https://" + std::string(600, 'a')));
}

TEST(Origin, AListAllowsExactlyItsOrigins) {
  OriginPolicy policy;
  ASSERT_TRUE(policy.add("https://a.example"));
  ASSERT_TRUE(policy.add("http://localhost:8080"));
  EXPECT_EQ(policy.check("https://a.example"), Verdict::allowed);
  EXPECT_EQ(policy.check("https://A.Example"), Verdict::allowed) << "the host's case is no matter";
  EXPECT_EQ(policy.check("http://a.example"), Verdict::not_allowed) << "another scheme";
  EXPECT_EQ(policy.check("https://a.example:443"), Verdict::not_allowed) << "compared exactly";
  EXPECT_EQ(policy.check("https://a.example.evil"), Verdict::not_allowed);
  EXPECT_EQ(policy.check("https://evil.a.example"), Verdict::not_allowed);
  EXPECT_EQ(policy.check("http://localhost:8080"), Verdict::allowed);
  EXPECT_EQ(policy.check("http://localhost:8081"), Verdict::not_allowed);
  EXPECT_EQ(policy.check("null"), Verdict::not_allowed);
  EXPECT_EQ(policy.check(std::string(100'000, 'h')), Verdict::not_allowed);
  EXPECT_EQ(policy.check(std::nullopt), Verdict::allowed) << "native clients send no Origin";
  policy.require_origin(true);
  EXPECT_EQ(policy.check(std::nullopt), Verdict::missing);
  EXPECT_EQ(policy.check("https://a.example"), Verdict::allowed);
}

TEST(Origin, AStarAllowsAnyOrigin) {
  OriginPolicy policy;
  policy.allow_any();
  EXPECT_EQ(policy.check("https://anything.example"), Verdict::allowed);
  EXPECT_EQ(policy.check(std::nullopt), Verdict::allowed);
  policy.require_origin(true);
  EXPECT_EQ(policy.check(std::nullopt), Verdict::missing);
}

TEST(RouteCors, AllowOriginsIsParsedAsApisixWritesIt) {
  const auto route =
      parsed(route_with({{"cors", {{"allow_origins", "https://a.example, https://B.example"}}}}));
  EXPECT_EQ(route.check_origin("https://b.example"), Verdict::allowed);
  EXPECT_EQ(route.check_origin("https://a.example"), Verdict::allowed);
  EXPECT_EQ(route.check_origin("https://c.example"), Verdict::not_allowed);
  EXPECT_EQ(route.check_origin(std::nullopt), Verdict::allowed);

  const auto any = parsed(route_with({{"cors", json::object()}}));
  EXPECT_EQ(any.check_origin("https://c.example"), Verdict::allowed) << "APISIX's default: *";

  const auto strict = parsed(route_with(
      {{"cors", {{"allow_origins", "https://a.example"}, {"kpg_require_origin", true}}}}));
  EXPECT_EQ(strict.check_origin(std::nullopt), Verdict::missing);

  EXPECT_EQ(parsed(route_with(json::object())).check_origin("https://x.example"), Verdict::allowed)
      << "without cors, as before";
}

TEST(RouteCors, WhatKpgDoesNotImplementIsRefusedByName) {
  for (const char* field : {"allow_methods", "allow_headers", "expose_headers", "max_age",
                            "allow_credential", "allow_origins_by_regex"}) {
    EXPECT_EQ(error_of(route_with({{"cors", {{field, "x"}}}})),
              std::string("invalid configuration: property \"plugins.cors.") + field +
                  "\" is not supported by kpg");
  }
  EXPECT_EQ(error_of(route_with({{"cors", {{"allow_origins", "https://a.example,null"}}}})),
            "invalid configuration: property \"plugins.cors.allow_origins\" validation failed: "
            "\"null\" is not an origin (scheme://host[:port]); the value is \"*\" or origins "
            "separated by commas");
  for (const json& bad :
       {json("**"), json("https://a.example,"), json("https://a.example/x"), json(""), json(5)}) {
    EXPECT_EQ(error_of(route_with({{"cors", {{"allow_origins", bad}}}}))
                  .rfind("invalid configuration: property \"plugins.cors.allow_origins\"", 0),
              0u)
        << bad.dump();
  }
  EXPECT_EQ(error_of(route_with({{"cors", {{"kpg_require_origin", "yes"}}}})),
            "invalid configuration: property \"plugins.cors.kpg_require_origin\" validation "
            "failed: wrong type: expected boolean");
  EXPECT_EQ(error_of(route_with({{"cors", "*"}})),
            "invalid configuration: property \"plugins.cors\" validation failed: wrong type: "
            "expected object");
  std::string many;
  for (std::size_t i = 0; i <= OriginPolicy::kMaxOrigins; ++i) {
    many += (i ? "," : "") + std::string("https://h") + std::to_string(i) + ".example";
  }
  EXPECT_EQ(error_of(route_with({{"cors", {{"allow_origins", many}}}})),
            "invalid configuration: property \"plugins.cors.allow_origins\" validation failed: "
            "more than 1000 origins (kpg's limit)");
}

}  // namespace
