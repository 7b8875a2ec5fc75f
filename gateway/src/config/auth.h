// Authentication settings, APISIX-shaped: consumers (the admin API's /apisix/admin/consumers
// objects) with their key-auth / jwt-auth credentials, and the route plugins "key-auth" and
// "jwt-auth" that require one of them on the WebSocket upgrade.
//
//   consumer: {"username": "alice", "desc": "...", "labels": {...},
//              "plugins": {"key-auth": {"key": "k"},
//                          "jwt-auth": {"key": "alice-key", "secret": "s", "algorithm": "HS256"}}}
//   route:    "plugins": {"key-auth": {"header": "apikey", "query": "apikey"}}
//             "plugins": {"jwt-auth": {"header": "authorization", "query": "jwt", "cookie": "jwt"}}
#pragma once

#include <nlohmann/json.hpp>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <variant>

namespace kpg::config {

/// Longest consumer key (key-auth key, jwt-auth key) and HMAC secret kpg accepts.
inline constexpr std::size_t kMaxCredentialBytes = 1024;
/// Longest jwt-auth public key (PEM).
inline constexpr std::size_t kMaxPublicKeyBytes = 16 * 1024;

struct JwtCredential {
  std::string key;        ///< names the consumer: the token's payload claim "key"
  std::string algorithm;  ///< HS256, HS384, HS512, RS256 or ES256
  /// The verification key: the HMAC secret for HS*, the PEM public key for RS256 / ES256.
  std::string verification_key;
  /// Seconds of clock skew tolerated on exp and nbf (APISIX's lifetime_grace_period).
  long long grace_seconds = 0;
};

struct Consumer {
  std::string username;
  std::optional<std::string> key_auth_key;
  std::optional<JwtCredential> jwt;
};

/// An immutable, indexed set of consumers for the data plane (built once per change).
class ConsumerSet {
 public:
  ConsumerSet() = default;
  explicit ConsumerSet(const std::map<std::string, Consumer>& consumers);
  /// The consumer whose key-auth key is `key`; nullptr when none.
  const Consumer* by_api_key(const std::string& key) const;
  /// The consumer whose jwt-auth key is `key`; nullptr when none.
  const Consumer* by_jwt_key(const std::string& key) const;

 private:
  std::map<std::string, Consumer> consumers_;
  std::map<std::string, std::string> api_keys_;  // key-auth key -> username
  std::map<std::string, std::string> jwt_keys_;  // jwt-auth key -> username
};

/// Validates an APISIX consumer object. `username` is the one from the URL, if any (it must
/// match the body's). On failure returns "invalid configuration: ..." naming the field.
std::variant<Consumer, std::string> parse_consumer(const nlohmann::json& object,
                                                   const std::optional<std::string>& username);

/// True when `username` is a valid APISIX consumer name: 1-100 of [a-zA-Z0-9_-].
bool valid_username(const std::string& username);

/// The consumer object as the admin API shows it: secrets (the key-auth key, the jwt-auth
/// secret) replaced with "******".
nlohmann::json redact_consumer(const nlohmann::json& value);

/// The route plugin "key-auth": where the API key is looked for.
struct KeyAuthPlugin {
  std::string header = "apikey";
  std::string query = "apikey";
};

/// The route plugin "jwt-auth": where the token is looked for.
struct JwtAuthPlugin {
  std::string header = "authorization";
  std::string query = "jwt";
  std::string cookie = "jwt";
};

/// What a route requires of a client before its WebSocket upgrade.
struct RouteAuth {
  std::optional<KeyAuthPlugin> key_auth;
  std::optional<JwtAuthPlugin> jwt_auth;
  bool required() const { return key_auth || jwt_auth; }
};

/// True for the route plugins parsed by parse_auth_plugin.
bool is_auth_plugin(const std::string& name);

/// Parses the route plugin `name` (key-auth, jwt-auth) into `auth`. Returns the error message
/// ("invalid configuration: ...") or nothing.
std::optional<std::string> parse_auth_plugin(const std::string& name, const nlohmann::json& conf,
                                             RouteAuth& auth);

}  // namespace kpg::config
