#include "config/auth.h"

#include "config/route.h"
#include "config/validation.h"

#include <algorithm>
#include <cctype>
#include <initializer_list>
#include <string_view>

namespace kpg::config {

using nlohmann::json;
using validation::Invalid;
using validation::invalid;
using validation::only_known;

namespace {

constexpr const char* kRedacted = "******";

// A non-empty string of at most `max` bytes.
std::string bounded_string(const json& object, const std::string& key, const std::string& path,
                           std::size_t max) {
  const json& value = object.at(key);
  if (!value.is_string()) {
    invalid(path, std::string("validation failed: wrong type: expected string, got ") +
                      value.type_name());
  }
  auto text = value.get<std::string>();
  if (text.empty()) invalid(path, "validation failed: string too short, expected at least 1");
  if (text.size() > max) {
    invalid(path, "validation failed: longer than " + std::to_string(max) + " characters");
  }
  return text;
}

// A secret: bounded, and not the marker GET shows instead of it (a read-modify-write of the
// consumer would otherwise replace the secret with the marker).
std::string secret_string(const json& object, const std::string& key, const std::string& path) {
  auto text = bounded_string(object, key, path, kMaxCredentialBytes);
  if (text == kRedacted) {
    invalid(path, "validation failed: \"" + std::string(kRedacted) +
                      "\" is what GET shows instead of the secret; send the secret itself");
  }
  return text;
}

// An HTTP header / query / cookie name: a token, bounded.
std::string parameter_name(const json& conf, const std::string& key, const std::string& path) {
  auto name = bounded_string(conf, key, path, 128);
  const bool token = std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
  });
  if (!token) invalid(path, "validation failed: expected letters, digits, '-', '_' or '.'");
  return name;
}

JwtCredential parse_jwt_credential(const json& conf) {
  const std::string prefix = "plugins.jwt-auth.";
  if (!conf.is_object())
    invalid("plugins.jwt-auth", "validation failed: wrong type: expected object");
  only_known(conf, {"key", "secret", "public_key", "algorithm", "lifetime_grace_period"}, prefix);
  JwtCredential jwt;
  if (!conf.contains("key")) invalid(prefix + "key", "is required");
  jwt.key = bounded_string(conf, "key", prefix + "key", kMaxCredentialBytes);
  jwt.algorithm = "HS256";  // APISIX's default
  if (conf.contains("algorithm")) {
    jwt.algorithm = bounded_string(conf, "algorithm", prefix + "algorithm", 16);
    const std::initializer_list<std::string_view> known = {"HS256", "HS384", "HS512", "RS256",
                                                           "ES256"};
    if (std::find(known.begin(), known.end(), jwt.algorithm) == known.end()) {
      invalid(prefix + "algorithm",
              "validation failed: expected one of HS256, HS384, HS512, RS256, ES256");
    }
  }
  const bool hmac = jwt.algorithm.rfind("HS", 0) == 0;
  // Each algorithm takes its own kind of key; the other one would be silently unused.
  if (hmac) {
    if (conf.contains("public_key")) {
      invalid(prefix + "public_key", "is for RS256 / ES256, not " + jwt.algorithm);
    }
    if (!conf.contains("secret")) invalid(prefix + "secret", "is required for " + jwt.algorithm);
    jwt.verification_key = secret_string(conf, "secret", prefix + "secret");
  } else {
    if (conf.contains("secret")) {
      invalid(prefix + "secret", "is for HS256 / HS384 / HS512, not " + jwt.algorithm);
    }
    if (!conf.contains("public_key")) {
      invalid(prefix + "public_key", "is required for " + jwt.algorithm);
    }
    jwt.verification_key =
        bounded_string(conf, "public_key", prefix + "public_key", kMaxPublicKeyBytes);
    if (jwt.verification_key.find("-----BEGIN PUBLIC KEY-----") == std::string::npos) {
      invalid(prefix + "public_key", "validation failed: expected a PEM public key");
    }
  }
  if (conf.contains("lifetime_grace_period")) {
    const json& grace = conf.at("lifetime_grace_period");
    if (!grace.is_number_integer() || grace.get<long long>() < 0 ||
        grace.get<long long>() > 86400) {
      invalid(prefix + "lifetime_grace_period",
              "validation failed: expected an integer from 0 to 86400 (seconds)");
    }
    jwt.grace_seconds = grace.get<long long>();
  }
  return jwt;
}

Consumer parse(const json& object, const std::optional<std::string>& url_username) {
  if (!object.is_object()) invalid("consumer", "validation failed: wrong type: expected object");
  if (object.contains("plugins") && object.at("plugins").is_object() &&
      object.at("plugins").size() > 16) {
    invalid("plugins", "validation failed: more than 16 plugins");
  }
  only_known(object, {"username", "desc", "labels", "plugins"}, "");
  if (auto error = metadata_error(object)) throw Invalid{*error};
  Consumer consumer;
  if (object.contains("username")) {
    consumer.username = bounded_string(object, "username", "username", 100);
    if (!valid_username(consumer.username)) {
      invalid("username", "validation failed: expected 1-100 of [a-zA-Z0-9_-]");
    }
    if (url_username && *url_username != consumer.username) {
      invalid("username", "does not match the username in the URL");
    }
  } else if (url_username) {
    consumer.username = *url_username;
  } else {
    invalid("username", "is required");
  }
  if (object.contains("plugins")) {
    const json& plugins = object.at("plugins");
    if (!plugins.is_object()) invalid("plugins", "validation failed: wrong type: expected object");
    for (const auto& [name, conf] : plugins.items()) {
      if (name == "key-auth") {
        if (!conf.is_object()) {
          invalid("plugins.key-auth", "validation failed: wrong type: expected object");
        }
        only_known(conf, {"key"}, "plugins.key-auth.");
        if (!conf.contains("key")) invalid("plugins.key-auth.key", "is required");
        consumer.key_auth_key = secret_string(conf, "key", "plugins.key-auth.key");
      } else if (name == "jwt-auth") {
        consumer.jwt = parse_jwt_credential(conf);
      } else {
        throw Invalid{"invalid configuration: plugin \"" + name +
                      "\" is not supported by kpg on a consumer"};
      }
    }
  }
  return consumer;
}

}  // namespace

bool valid_username(const std::string& username) {
  return !username.empty() && username.size() <= 100 &&
         std::all_of(username.begin(), username.end(), [](char c) {
           return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
         });
}

std::variant<Consumer, std::string> parse_consumer(const json& object,
                                                   const std::optional<std::string>& username) {
  try {
    if (object.dump(-1, ' ', false, json::error_handler_t::replace).size() > 64 * 1024) {
      return std::string("invalid configuration: the consumer is larger than 64 KiB");
    }
    return parse(object, username);
  } catch (const Invalid& e) {
    return e.message;
  } catch (const json::exception& e) {
    return std::string("invalid configuration: ") + e.what();
  }
}

json redact_consumer(const json& value) {
  json out = value;
  if (!out.is_object() || !out.contains("plugins") || !out["plugins"].is_object()) return out;
  json& plugins = out["plugins"];
  if (plugins.contains("key-auth") && plugins["key-auth"].is_object() &&
      plugins["key-auth"].contains("key")) {
    plugins["key-auth"]["key"] = kRedacted;
  }
  if (plugins.contains("jwt-auth") && plugins["jwt-auth"].is_object() &&
      plugins["jwt-auth"].contains("secret")) {
    plugins["jwt-auth"]["secret"] = kRedacted;
  }
  return out;
}

ConsumerSet::ConsumerSet(const std::map<std::string, Consumer>& consumers) : consumers_(consumers) {
  for (const auto& [name, consumer] : consumers_) {
    if (consumer.key_auth_key) api_keys_[*consumer.key_auth_key] = name;
    if (consumer.jwt) jwt_keys_[consumer.jwt->key] = name;
  }
}

const Consumer* ConsumerSet::by_api_key(const std::string& key) const {
  auto it = api_keys_.find(key);
  return it == api_keys_.end() ? nullptr : &consumers_.at(it->second);
}

const Consumer* ConsumerSet::by_jwt_key(const std::string& key) const {
  auto it = jwt_keys_.find(key);
  return it == jwt_keys_.end() ? nullptr : &consumers_.at(it->second);
}

bool is_auth_plugin(const std::string& name) {
  return name == "key-auth" || name == "jwt-auth";
}

std::optional<std::string> parse_auth_plugin(const std::string& name, const json& conf,
                                             RouteAuth& auth) {
  const std::string prefix = "plugins." + name + ".";
  try {
    if (!conf.is_object()) {
      invalid("plugins." + name, "validation failed: wrong type: expected object");
    }
    if (name == "key-auth") {
      only_known(conf, {"header", "query"}, prefix);
      KeyAuthPlugin plugin;
      if (conf.contains("header"))
        plugin.header = parameter_name(conf, "header", prefix + "header");
      if (conf.contains("query")) plugin.query = parameter_name(conf, "query", prefix + "query");
      auth.key_auth = plugin;
    } else if (name == "jwt-auth") {
      only_known(conf, {"header", "query", "cookie"}, prefix);
      JwtAuthPlugin plugin;
      if (conf.contains("header"))
        plugin.header = parameter_name(conf, "header", prefix + "header");
      if (conf.contains("query")) plugin.query = parameter_name(conf, "query", prefix + "query");
      if (conf.contains("cookie"))
        plugin.cookie = parameter_name(conf, "cookie", prefix + "cookie");
      auth.jwt_auth = plugin;
    } else {
      return "invalid configuration: plugin \"" + name + "\" is not supported by kpg";
    }
    if (auth.key_auth && auth.jwt_auth) {
      // APISIX would demand both credentials at once; kpg keeps one consumer per connection.
      return std::string(
          "invalid configuration: plugins \"key-auth\" and \"jwt-auth\" cannot both be set on "
          "a route (kpg)");
    }
  } catch (const Invalid& e) {
    return e.message;
  }
  return std::nullopt;
}

}  // namespace kpg::config
