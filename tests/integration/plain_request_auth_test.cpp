// A plain (non-upgrade) GET on a PubSub route meets the same Origin and credential checks as the
// WebSocket upgrade and is answered with the same 401 / 403 and JSON message, readable by the
// page that sent it (Access-Control-Allow-Origin): browsers show a page nothing of a refused
// WebSocket handshake, so the browser SDK asks this way why it was refused.
#include "admin_fixture.h"
#include "jwt_tokens.h"

#include <gtest/gtest.h>

namespace {

using kpg::testing::sign_jwt;
using kpg::testing::unix_now;
using nlohmann::json;
using verb = boost::beast::http::verb;
using Headers = std::vector<std::pair<std::string, std::string>>;

class PlainRequestAuthTest : public kpg::testing::AdminFixture {
 protected:
  void SetUp() override {
    AdminFixture::SetUp();
    put_consumer({{"username", "alice"}, {"plugins", {{"key-auth", {{"key", "alice-key"}}}}}});
    put_consumer({{"username", "bob"},
                  {"plugins", {{"jwt-auth", {{"key", "bob-key"}, {"secret", "bob-secret"}}}}}});
    put_route("keyed", "/keyed", {{"key-auth", json::object()}});
    put_route("jwt", "/jwt", {{"jwt-auth", json::object()}});
    put_route("web", "/web",
              {{"key-auth", json::object()}, {"cors", {{"allow_origins", "https://app.example"}}}});
    put_route("open", "/open", json::object());
  }
  kpg::testing::HttpResult get(const std::string& target, const Headers& headers = {}) const {
    return kpg::testing::http_request(gateway_.port, verb::get, target, std::nullopt, "", headers);
  }
  static json message(const std::string& text) { return json{{"message", text}}; }
};

TEST_F(PlainRequestAuthTest, RefusedCredentialsAre401WithTheUpgradesMessage) {
  const Headers page{{"Origin", "http://localhost:5173"}};
  auto missing = get("/keyed", page);
  EXPECT_EQ(missing.status, 401);
  EXPECT_EQ(missing.json(), message("Missing API key found in request"));
  EXPECT_EQ(missing.header("Content-Type"), "application/json");
  // The page that asked may read the answer (a route without an origin list allows any page).
  EXPECT_EQ(missing.header("Access-Control-Allow-Origin"), "http://localhost:5173");
  EXPECT_EQ(missing.header("Vary"), "Origin");

  auto wrong = get("/keyed?apikey=mallory", page);
  EXPECT_EQ(wrong.status, 401);
  EXPECT_EQ(wrong.json(), message("Invalid API key in request"));

  auto no_token = get("/jwt");
  EXPECT_EQ(no_token.status, 401);
  EXPECT_EQ(no_token.json(), message("Missing JWT token in request"));
  EXPECT_EQ(no_token.header("Access-Control-Allow-Origin"), "");  // no Origin, nothing to name
  auto expired = get("/jwt?jwt=" + sign_jwt("HS256", "bob-secret",
                                            {{"key", "bob-key"}, {"exp", unix_now() - 10}}));
  EXPECT_EQ(expired.status, 401);
  EXPECT_EQ(expired.json(), message("failed to verify jwt: token expired"));
}

TEST_F(PlainRequestAuthTest, AcceptedCredentialsStillGet400) {
  const auto token = sign_jwt("HS256", "bob-secret", {{"key", "bob-key"}});
  for (const auto& target :
       {std::string("/keyed?apikey=alice-key"), "/jwt?jwt=" + token, std::string("/open")}) {
    auto r = get(target, {{"Origin", "https://app.example"}});
    EXPECT_EQ(r.status, 400) << target;
    EXPECT_EQ(r.body, "this is a PubSub route: connect with a WebSocket upgrade\n");
    EXPECT_EQ(r.header("Access-Control-Allow-Origin"), "https://app.example") << target;
    EXPECT_EQ(r.header("Vary"), "Origin");
  }
  // Only a GET is checked: other methods get the 400 as before, credential or not.
  auto post = kpg::testing::http_request(gateway_.port, verb::post, "/keyed", std::nullopt, "x");
  EXPECT_EQ(post.status, 400);
  EXPECT_EQ(post.header("Access-Control-Allow-Origin"), "");
}

TEST_F(PlainRequestAuthTest, OriginNotAllowedIs403BeforeAnyCredentialCheck) {
  // Whatever the credential, a refused page learns only that its origin is refused.
  for (const auto& target : {"/web", "/web?apikey=alice-key", "/web?apikey=mallory"}) {
    auto r = get(target, {{"Origin", "https://evil.example"}});
    EXPECT_EQ(r.status, 403) << target;
    EXPECT_EQ(r.json(), message("origin not allowed on this route")) << target;
    EXPECT_EQ(r.header("Access-Control-Allow-Origin"), "https://evil.example");
    EXPECT_EQ(r.header("Vary"), "Origin");
  }
  auto allowed = get("/web", {{"Origin", "https://app.example"}});
  EXPECT_EQ(allowed.status, 401);
  EXPECT_EQ(allowed.json(), message("Missing API key found in request"));
  EXPECT_EQ(allowed.header("Access-Control-Allow-Origin"), "https://app.example");
  EXPECT_EQ(get("/web?apikey=alice-key", {{"Origin", "https://app.example"}}).status, 400);

  // Something that is not an origin is refused and never echoed.
  auto odd = get("/web", {{"Origin", "not an origin"}});
  EXPECT_EQ(odd.status, 403);
  EXPECT_EQ(odd.header("Access-Control-Allow-Origin"), "");
  // Unknown paths are untouched.
  auto unknown = get("/nowhere", {{"Origin", "https://app.example"}});
  EXPECT_EQ(unknown.status, 404);
  EXPECT_EQ(unknown.header("Access-Control-Allow-Origin"), "");
}

}  // namespace
