// WebSocket URL parsing shared by the transports (I/O-free).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace kpg::sdk {

struct WsUrl {
  bool secure = false;  ///< wss://
  std::string host;     ///< without brackets for IPv6 literals
  std::string port;     ///< defaults to 80 / 443
  std::string target;   ///< path + query, at least "/"
};

/// Parses ws://host[:port][/path] and wss://...; nullopt with `why` set when malformed.
std::optional<WsUrl> parse_ws_url(std::string_view url, std::string* why = nullptr);

/// `url` with the credentials as query parameters, for clients that cannot set upgrade headers
/// (browsers): `apikey=` and `jwt=`, percent-encoded, after any query the URL has.
std::string with_query_credentials(std::string_view url, std::string_view api_key,
                                   std::string_view token);

/// The http:// (https://) URL of a ws:// (wss://) one; other URLs are returned unchanged.
std::string http_url_of(std::string_view ws_url);

}  // namespace kpg::sdk
