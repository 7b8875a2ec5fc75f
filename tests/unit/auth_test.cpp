// Consumers, the key-auth / jwt-auth route plugins and the upgrade's authentication decision.
#include "config/auth.h"
#include "config/route.h"
#include "jwt_tokens.h"
#include "server/authenticator.h"
#include "server/consumer_manager.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <variant>

namespace {

using kpg::config::ConsumerSet;
using kpg::config::parse_consumer;
using kpg::config::RouteAuth;
using kpg::server::authenticate;
using kpg::server::AuthRefusal;
using kpg::server::ClientIdentity;
using kpg::testing::jwt_test_key;
using kpg::testing::sign_jwt;
using kpg::testing::unsigned_jwt;
using nlohmann::json;
namespace http = boost::beast::http;

constexpr std::int64_t kNow = 1'800'000'000;

std::string consumer_error(const json& body, std::optional<std::string> username = std::nullopt) {
  auto parsed = parse_consumer(body, username);
  auto* error = std::get_if<std::string>(&parsed);
  return error ? *error : std::string();
}

TEST(ConsumerConfig, AcceptsApisixShapesWithDefaults) {
  auto parsed = parse_consumer(
      {{"username", "alice_1-x"},
       {"desc", "d"},
       {"plugins", {{"key-auth", {{"key", "k1"}}}, {"jwt-auth", {{"key", "a"}, {"secret", "s"}}}}}},
      std::nullopt);
  ASSERT_TRUE(std::holds_alternative<kpg::config::Consumer>(parsed))
      << std::get<std::string>(parsed);
  const auto& c = std::get<kpg::config::Consumer>(parsed);
  EXPECT_EQ(c.username, "alice_1-x");
  EXPECT_EQ(c.key_auth_key, "k1");
  ASSERT_TRUE(c.jwt);
  EXPECT_EQ(c.jwt->algorithm, "HS256");
  EXPECT_EQ(c.jwt->verification_key, "s");
  // The username may come from the URL alone.
  EXPECT_EQ(consumer_error({{"plugins", json::object()}}, "bob"), "");
}

TEST(ConsumerConfig, RefusesWhatBreaksARuleNamingIt) {
  struct Case {
    json body;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{{"username", "a b"}}, "\"username\" validation failed"},
      {{{"username", std::string(101, 'a')}}, "\"username\" validation failed"},
      {{{"username", ""}}, "\"username\" validation failed"},
      {json::object(), "\"username\" is required"},
      {{{"username", "a"}, {"group_id", "g"}}, "\"group_id\" is not supported"},
      {{{"username", "a"}, {"plugins", {{"basic-auth", json::object()}}}},
       "plugin \"basic-auth\" is not supported"},
      {{{"username", "a"}, {"plugins", {{"key-auth", json::object()}}}},
       "\"plugins.key-auth.key\" is required"},
      {{{"username", "a"}, {"plugins", {{"key-auth", {{"key", ""}}}}}},
       "\"plugins.key-auth.key\" validation failed: string too short"},
      {{{"username", "a"}, {"plugins", {{"key-auth", {{"key", std::string(1025, 'k')}}}}}},
       "\"plugins.key-auth.key\" validation failed: longer than 1024"},
      {{{"username", "a"}, {"plugins", {{"key-auth", {{"key", "k"}, {"hide", true}}}}}},
       "\"plugins.key-auth.hide\" is not supported"},
      {{{"username", "a"}, {"plugins", {{"key-auth", {{"key", "******"}}}}}},
       "what GET shows instead of the secret"},
      {{{"username", "a"}, {"plugins", {{"jwt-auth", {{"key", "k"}}}}}},
       "\"plugins.jwt-auth.secret\" is required for HS256"},
      {{{"username", "a"},
        {"plugins", {{"jwt-auth", {{"key", "k"}, {"secret", "s"}, {"algorithm", "none"}}}}}},
       "\"plugins.jwt-auth.algorithm\" validation failed"},
      {{{"username", "a"},
        {"plugins", {{"jwt-auth", {{"key", "k"}, {"secret", "s"}, {"algorithm", "RS256"}}}}}},
       "\"plugins.jwt-auth.secret\" is for HS256"},
      {{{"username", "a"}, {"plugins", {{"jwt-auth", {{"key", "k"}, {"algorithm", "ES256"}}}}}},
       "\"plugins.jwt-auth.public_key\" is required for ES256"},
      {{{"username", "a"},
        {"plugins",
         {{"jwt-auth", {{"key", "k"}, {"algorithm", "RS256"}, {"public_key", "not pem"}}}}}},
       "expected a PEM public key"},
      {{{"username", "a"},
        {"plugins", {{"jwt-auth", {{"key", "k"}, {"secret", "s"}, {"exp", 1}}}}}},
       "\"plugins.jwt-auth.exp\" is not supported"},
  };
  for (const auto& c : cases) {
    const auto error = consumer_error(c.body);
    EXPECT_NE(error.find(c.message), std::string::npos) << c.body << " -> " << error;
    EXPECT_EQ(error.rfind("invalid configuration: ", 0), 0u) << error;
  }
  EXPECT_NE(consumer_error({{"username", "a"}}, "b").find("does not match the username in the URL"),
            std::string::npos);
}

TEST(ConsumerConfig, RedactionHidesKeyAndSecretOnly) {
  const json value = {{"username", "a"},
                      {"plugins",
                       {{"key-auth", {{"key", "k-secret"}}},
                        {"jwt-auth", {{"key", "jk"}, {"secret", "j-secret"}}}}}};
  const json shown = kpg::config::redact_consumer(value);
  EXPECT_EQ(shown["plugins"]["key-auth"]["key"], "******");
  EXPECT_EQ(shown["plugins"]["jwt-auth"]["secret"], "******");
  EXPECT_EQ(shown["plugins"]["jwt-auth"]["key"], "jk");  // names the consumer; not a secret
  EXPECT_EQ(shown.dump().find("secret\":\"j-secret"), std::string::npos);
}

json route_with(const json& plugins) {
  return {{"uri", "/a"},
          {"upstream", {{"scheme", "kafka"}, {"nodes", {{"127.0.0.1:9092", 1}}}}},
          {"plugins", plugins}};
}

TEST(RouteAuthPlugins, AcceptedWithTheirOptionsOthersRefusedByName) {
  auto parsed = kpg::config::parse_route(
      route_with({{"jwt-auth", {{"header", "x-token"}, {"query", "t"}, {"cookie", "c"}}}}), "r");
  ASSERT_TRUE(std::holds_alternative<kpg::config::Route>(parsed)) << std::get<std::string>(parsed);
  const auto& auth = std::get<kpg::config::Route>(parsed).auth;
  ASSERT_TRUE(auth.jwt_auth);
  EXPECT_EQ(auth.jwt_auth->header, "x-token");
  EXPECT_EQ(auth.jwt_auth->query, "t");
  EXPECT_EQ(auth.jwt_auth->cookie, "c");
  EXPECT_FALSE(auth.key_auth);

  auto key = kpg::config::parse_route(route_with({{"key-auth", json::object()}}), "r");
  ASSERT_TRUE(std::holds_alternative<kpg::config::Route>(key));
  EXPECT_EQ(std::get<kpg::config::Route>(key).auth.key_auth->header, "apikey");

  auto error = [](const json& plugins) {
    auto r = kpg::config::parse_route(route_with(plugins), "r");
    return std::holds_alternative<std::string>(r) ? std::get<std::string>(r) : std::string();
  };
  EXPECT_NE(error({{"key-auth", {{"hide_credentials", true}}}})
                .find("\"plugins.key-auth.hide_credentials\" is not supported"),
            std::string::npos);
  EXPECT_NE(error({{"jwt-auth", {{"header", "a b"}}}}).find("\"plugins.jwt-auth.header\""),
            std::string::npos);
  EXPECT_NE(error({{"jwt-auth", json::array()}}).find("\"plugins.jwt-auth\""), std::string::npos);
  EXPECT_NE(error({{"key-auth", json::object()}, {"jwt-auth", json::object()}})
                .find("cannot both be set"),
            std::string::npos);
  EXPECT_NE(error({{"basic-auth", json::object()}}).find("plugin \"basic-auth\" is not supported"),
            std::string::npos);
}

ConsumerSet consumers() {
  std::map<std::string, kpg::config::Consumer> all;
  auto add = [&](const json& body) {
    auto parsed = parse_consumer(body, std::nullopt);
    ASSERT_TRUE(std::holds_alternative<kpg::config::Consumer>(parsed))
        << std::get<std::string>(parsed);
    auto c = std::get<kpg::config::Consumer>(std::move(parsed));
    all.emplace(c.username, std::move(c));
  };
  add({{"username", "keyed"}, {"plugins", {{"key-auth", {{"key", "k e/y+1"}}}}}});
  add({{"username", "hs"},
       {"plugins", {{"jwt-auth", {{"key", "hs-key"}, {"secret", "hs-secret"}}}}}});
  add({{"username", "graced"},
       {"plugins",
        {{"jwt-auth", {{"key", "grace-key"}, {"secret", "g"}, {"lifetime_grace_period", 10}}}}}});
  add({{"username", "rs"},
       {"plugins",
        {{"jwt-auth",
          {{"key", "rs-key"},
           {"algorithm", "RS256"},
           {"public_key", jwt_test_key("rs256-public.pem")}}}}}});
  add({{"username", "es"},
       {"plugins",
        {{"jwt-auth",
          {{"key", "es-key"},
           {"algorithm", "ES256"},
           {"public_key", jwt_test_key("es256-public.pem")}}}}}});
  return ConsumerSet(all);
}

RouteAuth key_auth() {
  RouteAuth auth;
  auth.key_auth.emplace();
  return auth;
}
RouteAuth jwt_auth() {
  RouteAuth auth;
  auth.jwt_auth.emplace();
  return auth;
}

std::string refusal(const kpg::server::AuthDecision& d) {
  auto* r = std::get_if<AuthRefusal>(&d);
  if (!r) return "allowed as " + std::get<ClientIdentity>(d).consumer;
  EXPECT_EQ(r->status, 401);
  return r->message;
}

std::string consumer_of(const kpg::server::AuthDecision& d) {
  auto* id = std::get_if<ClientIdentity>(&d);
  return id ? id->consumer : "refused: " + std::get<AuthRefusal>(d).message;
}

http::fields with(std::initializer_list<std::pair<std::string, std::string>> headers) {
  http::fields fields;
  for (const auto& [name, value] : headers) fields.insert(name, value);
  return fields;
}

TEST(Authenticate, KeyAuthByHeaderOrQueryParameter) {
  const auto set = consumers();
  EXPECT_EQ(consumer_of(authenticate(with({{"apikey", "k e/y+1"}}), "/a", key_auth(), set, kNow)),
            "keyed");
  EXPECT_EQ(consumer_of(authenticate({}, "/a?x=1&apikey=k%20e%2Fy%2B1", key_auth(), set, kNow)),
            "keyed");
  EXPECT_EQ(refusal(authenticate({}, "/a", key_auth(), set, kNow)),
            "Missing API key found in request");
  EXPECT_EQ(refusal(authenticate({}, "/a?apikey=", key_auth(), set, kNow)),
            "Missing API key found in request");
  EXPECT_EQ(refusal(authenticate(with({{"apikey", "wrong"}}), "/a", key_auth(), set, kNow)),
            "Invalid API key in request");
  // The header is looked at first, as in APISIX.
  EXPECT_EQ(refusal(authenticate(with({{"APIKEY", "wrong"}}), "/a?apikey=k+e%2Fy%2B1", key_auth(),
                                 set, kNow)),
            "Invalid API key in request");
  // A route without auth plugins lets everyone in, anonymously.
  EXPECT_EQ(consumer_of(authenticate({}, "/a", RouteAuth{}, set, kNow)), "");
}

TEST(Authenticate, JwtAcceptedFromHeaderQueryOrCookieWithClaimsAndExpiry) {
  const auto set = consumers();
  const json claims = {{"key", "hs-key"}, {"exp", kNow + 60}, {"topic", "orders"}};
  const auto token = sign_jwt("HS256", "hs-secret", claims);
  const auto bearer =
      authenticate(with({{"Authorization", "Bearer " + token}}), "/a", jwt_auth(), set, kNow);
  ASSERT_EQ(consumer_of(bearer), "hs");
  const auto& identity = std::get<ClientIdentity>(bearer);
  EXPECT_EQ(identity.plugin, "jwt-auth");
  EXPECT_EQ(identity.claims["topic"], "orders");
  EXPECT_EQ(identity.expires_at, kNow + 60);
  EXPECT_EQ(
      consumer_of(authenticate(with({{"authorization", token}}), "/a", jwt_auth(), set, kNow)),
      "hs");
  EXPECT_EQ(consumer_of(authenticate({}, "/a?jwt=" + token, jwt_auth(), set, kNow)), "hs");
  EXPECT_EQ(consumer_of(authenticate(with({{"Cookie", "a=b; jwt=" + token + "; c=d"}}), "/a",
                                     jwt_auth(), set, kNow)),
            "hs");
  // Without exp the connection does not expire.
  const auto forever = sign_jwt("HS256", "hs-secret", {{"key", "hs-key"}});
  EXPECT_FALSE(std::get<ClientIdentity>(
                   authenticate(with({{"Authorization", forever}}), "/a", jwt_auth(), set, kNow))
                   .expires_at);
}

TEST(Authenticate, JwtWithPublicKeyAlgorithms) {
  const auto set = consumers();
  const auto rs = sign_jwt("RS256", jwt_test_key("rs256-private.pem"), {{"key", "rs-key"}});
  EXPECT_EQ(consumer_of(authenticate({}, "/a?jwt=" + rs, jwt_auth(), set, kNow)), "rs");
  const auto es = sign_jwt("ES256", jwt_test_key("es256-private.pem"), {{"key", "es-key"}});
  EXPECT_EQ(consumer_of(authenticate({}, "/a?jwt=" + es, jwt_auth(), set, kNow)), "es");
  // The RS256 consumer's public key used as an HMAC secret: the classic algorithm confusion.
  const auto confused = sign_jwt("HS256", jwt_test_key("rs256-public.pem"), {{"key", "rs-key"}});
  EXPECT_EQ(refusal(authenticate({}, "/a?jwt=" + confused, jwt_auth(), set, kNow)),
            "failed to verify jwt: the token's algorithm is not the consumer's (RS256)");
  // Signed by another key pair (the ES key signing for the RS consumer's name) .
  const auto forged = sign_jwt("RS256", jwt_test_key("rs256-private.pem"), {{"key", "es-key"}});
  EXPECT_EQ(refusal(authenticate({}, "/a?jwt=" + forged, jwt_auth(), set, kNow)),
            "failed to verify jwt: the token's algorithm is not the consumer's (ES256)");
}

TEST(Authenticate, JwtRefusalsSayWhy) {
  const auto set = consumers();
  auto check = [&](const std::string& token) {
    return refusal(
        authenticate(with({{"Authorization", "Bearer " + token}}), "/a", jwt_auth(), set, kNow));
  };
  EXPECT_EQ(refusal(authenticate({}, "/a", jwt_auth(), set, kNow)), "Missing JWT token in request");
  EXPECT_EQ(
      refusal(authenticate(with({{"Authorization", "Bearer "}}), "/a", jwt_auth(), set, kNow)),
      "Missing JWT token in request");
  EXPECT_EQ(check("not-a-token"), "JWT token invalid");
  EXPECT_EQ(check("a.b.c.d"), "JWT token invalid");
  EXPECT_EQ(check("!!.@@.##"), "JWT token invalid");
  EXPECT_EQ(check(std::string(9000, 'a')), "JWT token invalid");
  EXPECT_EQ(check(sign_jwt("HS256", "hs-secret", {{"sub", "x"}})), "missing user key in JWT token");
  EXPECT_EQ(check(sign_jwt("HS256", "hs-secret", {{"key", "nobody"}})),
            "Invalid user key in JWT token");
  EXPECT_EQ(check(sign_jwt("HS256", "other-secret", {{"key", "hs-key"}})),
            "failed to verify jwt: signature mismatch");
  EXPECT_EQ(check(sign_jwt("HS384", "hs-secret", {{"key", "hs-key"}})),
            "failed to verify jwt: the token's algorithm is not the consumer's (HS256)");
  EXPECT_EQ(check(unsigned_jwt({{"key", "hs-key"}})),
            "failed to verify jwt: unsigned tokens (alg none) are not accepted");
  // A valid signature over other claims, with the claims swapped: the signature no longer fits.
  const auto good = sign_jwt("HS256", "hs-secret", {{"key", "hs-key"}, {"exp", kNow + 5}});
  const auto other = sign_jwt("HS256", "hs-secret", {{"key", "hs-key"}, {"exp", kNow + 999}});
  const auto spliced = good.substr(0, good.find('.')) +
                       other.substr(other.find('.'), other.rfind('.') - other.find('.')) +
                       good.substr(good.rfind('.'));
  EXPECT_EQ(check(spliced), "failed to verify jwt: signature mismatch");
  EXPECT_EQ(check(sign_jwt("HS256", "hs-secret", {{"key", "hs-key"}, {"exp", kNow}})),
            "failed to verify jwt: token expired");
  EXPECT_EQ(check(sign_jwt("HS256", "hs-secret", {{"key", "hs-key"}, {"nbf", kNow + 1}})),
            "failed to verify jwt: token not yet valid");
  EXPECT_EQ(check(sign_jwt("HS256", "hs-secret", {{"key", "hs-key"}, {"exp", "soon"}})),
            "JWT token invalid: exp and nbf must be numbers");
}

TEST(Authenticate, GracePeriodWidensExpAndNbf) {
  const auto set = consumers();
  auto token = [](const json& times) {
    json claims = times;
    claims["key"] = "grace-key";
    return "/a?jwt=" + sign_jwt("HS256", "g", claims);
  };
  EXPECT_EQ(consumer_of(authenticate({}, token({{"exp", kNow - 5}}), jwt_auth(), set, kNow)),
            "graced");
  EXPECT_EQ(consumer_of(authenticate({}, token({{"nbf", kNow + 5}}), jwt_auth(), set, kNow)),
            "graced");
  EXPECT_EQ(refusal(authenticate({}, token({{"exp", kNow - 10}}), jwt_auth(), set, kNow)),
            "failed to verify jwt: token expired");
  const auto late = authenticate({}, token({{"exp", kNow + 1}}), jwt_auth(), set, kNow);
  EXPECT_EQ(std::get<ClientIdentity>(late).expires_at, kNow + 11);
}

TEST(Authenticate, QueryAndCookieParsing) {
  using kpg::server::cookie_value;
  using kpg::server::query_parameter;
  EXPECT_EQ(query_parameter("/a?b=1&c=2", "c"), "2");
  EXPECT_EQ(query_parameter("/a?b=1&c", "c"), "");
  EXPECT_EQ(query_parameter("/a?bc=1", "c"), std::nullopt);
  EXPECT_EQ(query_parameter("/a", "c"), std::nullopt);
  EXPECT_EQ(query_parameter("/a?c=%zz%4", "c"), "%zz%4");  // malformed escapes kept as sent
  EXPECT_EQ(query_parameter("/a?%63=x", "c"), "x");
  EXPECT_EQ(cookie_value(with({{"Cookie", "a=1"}, {"Cookie", " b = 2 ;c=3"}}), "b"), "2");
  EXPECT_EQ(cookie_value(with({{"Cookie", "ab=1"}}), "b"), std::nullopt);
}

// Found by fuzzing the admin API: a body that is JSON but not an object (a number, a string, an
// array, null) made the store throw instead of answering 400.
TEST(ConsumerStore, ABodyThatIsNotAnObjectIsRefusedWith400) {
  kpg::server::ConsumerSnapshot live;
  kpg::server::ConsumerManager consumers(live, /*store_path=*/"");
  consumers.load();
  for (const auto& body :
       {nlohmann::json(3), nlohmann::json("x"), nlohmann::json::array(), nlohmann::json(nullptr)}) {
    EXPECT_EQ(consumers.put(std::string("alice"), body).status, 400) << body.dump();
    EXPECT_EQ(consumers.put(std::nullopt, body).status, 400) << body.dump();
  }
}

}  // namespace
