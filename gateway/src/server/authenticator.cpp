#include "server/authenticator.h"

#include "config/route.h"

#include <jwt.h>
#include <openssl/evp.h>

#include <algorithm>
#include <cctype>
#include <memory>

namespace kpg::server {

namespace http = boost::beast::http;
using nlohmann::json;

namespace {

// A token longer than this is refused before any decoding (the header limit bounds it anyway).
constexpr std::size_t kMaxTokenBytes = 8 * 1024;

AuthRefusal refuse(std::string plugin, std::string message) {
  return AuthRefusal{401, std::move(message), std::move(plugin)};
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Like nginx's argument decoding: %XX and '+' (a space); a malformed escape stays as it is.
std::string percent_decode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '+') {
      out += ' ';
    } else if (text[i] == '%' && i + 2 < text.size() && hex_value(text[i + 1]) >= 0 &&
               hex_value(text[i + 2]) >= 0) {
      out += static_cast<char>(hex_value(text[i + 1]) * 16 + hex_value(text[i + 2]));
      i += 2;
    } else {
      out += text[i];
    }
  }
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// base64url without padding (RFC 7515) to bytes; nullopt when not base64url.
std::optional<std::string> base64url_decode(std::string_view text) {
  if (text.empty() || text.size() % 4 == 1) return std::nullopt;
  std::string standard(text);
  for (char& c : standard) {
    if (c == '-') {
      c = '+';
    } else if (c == '_') {
      c = '/';
    } else if (!std::isalnum(static_cast<unsigned char>(c))) {
      return std::nullopt;  // '+', '/', '=' are not base64url
    }
  }
  const std::size_t padding = (4 - standard.size() % 4) % 4;
  standard.append(padding, '=');
  std::string out(standard.size() / 4 * 3, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(standard.data()),
                                static_cast<int>(standard.size()));
  if (n < 0) return std::nullopt;
  out.resize(static_cast<std::size_t>(n) - padding);
  return out;
}

// A JSON object from one base64url segment of a token; nullopt when it is not one.
std::optional<json> json_segment(std::string_view segment) {
  auto bytes = base64url_decode(segment);
  if (!bytes) return std::nullopt;
  auto parsed = config::parse_json_bounded(*bytes, 8);
  auto* object = std::get_if<json>(&parsed);
  if (!object || !object->is_object()) return std::nullopt;
  return std::move(*object);
}

std::optional<std::string> header_value(const http::fields& headers, std::string_view name) {
  auto it = headers.find(boost::beast::string_view(name.data(), name.size()));
  if (it == headers.end()) return std::nullopt;
  return std::string(trim(std::string_view(it->value().data(), it->value().size())));
}

// Non-empty value of the header, else of the query parameter, else of the cookie (APISIX's order).
std::optional<std::string> find_credential(const http::fields& headers, std::string_view target,
                                           std::string_view header, std::string_view query,
                                           std::string_view cookie) {
  if (auto value = header_value(headers, header); value && !value->empty()) return value;
  if (auto value = query_parameter(target, query); value && !value->empty()) return value;
  if (cookie.empty()) return std::nullopt;
  if (auto value = cookie_value(headers, cookie); value && !value->empty()) return value;
  return std::nullopt;
}

AuthDecision key_auth(const http::fields& headers, std::string_view target,
                      const config::KeyAuthPlugin& plugin, const config::ConsumerSet& consumers) {
  const auto key = find_credential(headers, target, plugin.header, plugin.query, {});
  if (!key) return refuse("key-auth", "Missing API key found in request");
  const config::Consumer* consumer =
      key->size() <= config::kMaxCredentialBytes ? consumers.by_api_key(*key) : nullptr;
  if (!consumer) return refuse("key-auth", "Invalid API key in request");
  return ClientIdentity{consumer->username, "key-auth", nullptr, std::nullopt};
}

// A NumericDate claim (RFC 7519: seconds, possibly fractional); nullopt when absent. Throws
// nothing: a claim that is not a number makes `valid` false.
std::optional<double> numeric_date(const json& claims, const char* name, bool& valid) {
  auto it = claims.find(name);
  if (it == claims.end()) return std::nullopt;
  if (!it->is_number()) {
    valid = false;
    return std::nullopt;
  }
  return it->get<double>();
}

AuthDecision jwt_auth(const http::fields& headers, std::string_view target,
                      const config::JwtAuthPlugin& plugin, const config::ConsumerSet& consumers,
                      std::int64_t now) {
  auto token = find_credential(headers, target, plugin.header, plugin.query, plugin.cookie);
  if (!token) return refuse("jwt-auth", "Missing JWT token in request");
  // "Authorization: Bearer <token>"; the raw token is accepted too (as APISIX does).
  if (token->size() >= 6 && (token->size() == 6 || (*token)[6] == ' ')) {
    std::string scheme = token->substr(0, 6);
    for (char& c : scheme) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (scheme == "bearer") *token = std::string(trim(std::string_view(*token).substr(6)));
  }
  if (token->empty()) return refuse("jwt-auth", "Missing JWT token in request");
  if (token->size() > kMaxTokenBytes) return refuse("jwt-auth", "JWT token invalid");

  const std::string_view text = *token;
  const auto dot1 = text.find('.');
  const auto dot2 = dot1 == std::string_view::npos ? dot1 : text.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || text.find('.', dot2 + 1) != std::string_view::npos) {
    return refuse("jwt-auth", "JWT token invalid");
  }
  auto header = json_segment(text.substr(0, dot1));
  auto claims = json_segment(text.substr(dot1 + 1, dot2 - dot1 - 1));
  if (!header || !claims) return refuse("jwt-auth", "JWT token invalid");

  // The payload names the consumer, whose credential then verifies the token.
  auto key = claims->find("key");
  if (key == claims->end() || !key->is_string() || key->get<std::string>().empty()) {
    return refuse("jwt-auth", "missing user key in JWT token");
  }
  const config::Consumer* consumer = key->get<std::string>().size() <= config::kMaxCredentialBytes
                                         ? consumers.by_jwt_key(key->get<std::string>())
                                         : nullptr;
  if (!consumer || !consumer->jwt) return refuse("jwt-auth", "Invalid user key in JWT token");
  const config::JwtCredential& credential = *consumer->jwt;

  // The algorithm is the consumer's, never the token's choice: "none", or an HMAC signed with
  // the consumer's public key, are refused before any verification.
  auto alg = header->find("alg");
  const std::string token_alg =
      alg != header->end() && alg->is_string() ? alg->get<std::string>() : std::string();
  if (token_alg == "none" || token_alg.empty()) {
    return refuse("jwt-auth", "failed to verify jwt: unsigned tokens (alg none) are not accepted");
  }
  if (token_alg != credential.algorithm) {
    return refuse("jwt-auth",
                  "failed to verify jwt: the token's algorithm is not the consumer's (" +
                      credential.algorithm + ")");
  }

  jwt_t* raw = nullptr;
  const int rc =
      jwt_decode(&raw, token->c_str(),
                 reinterpret_cast<const unsigned char*>(credential.verification_key.data()),
                 static_cast<int>(credential.verification_key.size()));
  std::unique_ptr<jwt_t, decltype(&jwt_free)> verified(raw, &jwt_free);
  const char* verified_alg = verified ? jwt_alg_str(jwt_get_alg(verified.get())) : nullptr;
  if (rc != 0 || verified_alg == nullptr || credential.algorithm != verified_alg) {
    return refuse("jwt-auth", "failed to verify jwt: signature mismatch");
  }

  bool valid = true;
  const auto exp = numeric_date(*claims, "exp", valid);
  const auto nbf = numeric_date(*claims, "nbf", valid);
  if (!valid) return refuse("jwt-auth", "JWT token invalid: exp and nbf must be numbers");
  const auto grace = static_cast<double>(credential.grace_seconds);
  if (exp && static_cast<double>(now) >= *exp + grace) {
    return refuse("jwt-auth", "failed to verify jwt: token expired");
  }
  if (nbf && static_cast<double>(now) < *nbf - grace) {
    return refuse("jwt-auth", "failed to verify jwt: token not yet valid");
  }
  std::optional<std::int64_t> expires_at;
  // Capped at the year 9999: a huge exp must not overflow the conversion.
  if (exp) expires_at = static_cast<std::int64_t>(std::min(*exp + grace, 253402300799.0));
  return ClientIdentity{consumer->username, "jwt-auth", std::move(*claims), expires_at};
}

}  // namespace

std::optional<std::string> query_parameter(std::string_view target, std::string_view name) {
  const auto question = target.find('?');
  if (question == std::string_view::npos || name.empty()) return std::nullopt;
  std::string_view query = target.substr(question + 1);
  while (!query.empty()) {
    const auto amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    const auto eq = pair.find('=');
    if (percent_decode(pair.substr(0, eq)) != name) continue;
    return eq == std::string_view::npos ? std::string() : percent_decode(pair.substr(eq + 1));
  }
  return std::nullopt;
}

std::optional<std::string> cookie_value(const http::fields& headers, std::string_view name) {
  for (auto it = headers.find(http::field::cookie);
       it != headers.end() && it->name() == http::field::cookie; ++it) {
    std::string_view rest(it->value().data(), it->value().size());
    while (!rest.empty()) {
      const auto semi = rest.find(';');
      const std::string_view pair = trim(rest.substr(0, semi));
      rest = semi == std::string_view::npos ? std::string_view() : rest.substr(semi + 1);
      const auto eq = pair.find('=');
      if (eq != std::string_view::npos && trim(pair.substr(0, eq)) == name) {
        return std::string(trim(pair.substr(eq + 1)));
      }
    }
  }
  return std::nullopt;
}

AuthDecision authenticate(const http::fields& headers, std::string_view target,
                          const config::RouteAuth& auth, const config::ConsumerSet& consumers,
                          std::int64_t now_unix_seconds) {
  if (auth.key_auth) return key_auth(headers, target, *auth.key_auth, consumers);
  if (auth.jwt_auth) {
    return jwt_auth(headers, target, *auth.jwt_auth, consumers, now_unix_seconds);
  }
  return ClientIdentity{};
}

}  // namespace kpg::server
