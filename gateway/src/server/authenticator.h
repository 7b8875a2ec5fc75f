// The authentication decision for a WebSocket upgrade (route plugins key-auth / jwt-auth): a
// pure function of the request's headers and target, the route's plugins, the consumers and the
// time. No I/O, no logging: the upgrade hook (http_session.cpp) answers and logs.
#pragma once

#include "config/auth.h"

#include <boost/beast/http/fields.hpp>
#include <nlohmann/json.hpp>

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace kpg::server {

/// The consumers upgrades are checked against; replaced whole on every change (ConsumerManager).
using ConsumerSnapshot = std::atomic<std::shared_ptr<const config::ConsumerSet>>;

/// Who a connection authenticated as; kept by the session (e.g. for topic rules on a claim).
struct ClientIdentity {
  std::string consumer;  ///< the consumer's username
  std::string plugin;    ///< "key-auth" or "jwt-auth"
  /// The token's payload once its signature, algorithm and times are verified (jwt-auth);
  /// null for key-auth.
  nlohmann::json claims;
  /// Unix seconds after which the credential no longer holds (the token's exp plus the grace
  /// period); the connection is closed then.
  std::optional<std::int64_t> expires_at;
};

struct AuthRefusal {
  int status = 401;
  std::string message;  ///< for the client's {"message": ...}; never contains the credential
  std::string plugin;   ///< which plugin refused, for the log
};

using AuthDecision = std::variant<ClientIdentity, AuthRefusal>;

/// Decides whether an upgrade request may use a route with `auth`. `target` is the request
/// target (path and query string). A route without auth plugins yields an anonymous identity.
AuthDecision authenticate(const boost::beast::http::fields& headers, std::string_view target,
                          const config::RouteAuth& auth, const config::ConsumerSet& consumers,
                          std::int64_t now_unix_seconds);

/// The value of query parameter `name` in `target`, percent-decoded; nullopt when absent.
std::optional<std::string> query_parameter(std::string_view target, std::string_view name);

/// The value of cookie `name` in the request's Cookie headers; nullopt when absent.
std::optional<std::string> cookie_value(const boost::beast::http::fields& headers,
                                        std::string_view name);

}  // namespace kpg::server
