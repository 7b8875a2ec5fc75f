#include <kpg/sdk/ws_url.h>

#include <algorithm>
#include <cctype>

namespace kpg::sdk {

namespace {
std::optional<WsUrl> fail(std::string* why, const char* message) {
  if (why) *why = message;
  return std::nullopt;
}
}  // namespace

std::optional<WsUrl> parse_ws_url(std::string_view url, std::string* why) {
  WsUrl out;
  if (url.substr(0, 5) == "ws://") {
    url.remove_prefix(5);
  } else if (url.substr(0, 6) == "wss://") {
    out.secure = true;
    url.remove_prefix(6);
  } else {
    return fail(why, "URL must start with ws:// or wss://");
  }
  const auto slash = url.find_first_of("/?");
  std::string_view authority = url.substr(0, slash);
  out.target = slash == std::string_view::npos ? "/" : std::string(url.substr(slash));
  if (out.target.front() == '?') out.target.insert(out.target.begin(), '/');
  if (authority.find('@') != std::string_view::npos) {
    return fail(why, "credentials in the URL are not supported");
  }
  std::string_view port;
  if (!authority.empty() && authority.front() == '[') {
    const auto close = authority.find(']');
    if (close == std::string_view::npos) return fail(why, "unterminated IPv6 address");
    out.host = std::string(authority.substr(1, close - 1));
    std::string_view rest = authority.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return fail(why, "junk after IPv6 address");
      port = rest.substr(1);
    }
  } else {
    const auto colon = authority.rfind(':');
    out.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port = authority.substr(colon + 1);
  }
  if (out.host.empty()) return fail(why, "URL has no host");
  if (!port.empty()) {
    if (port.size() > 5 || !std::all_of(port.begin(), port.end(), [](char c) {
          return std::isdigit(static_cast<unsigned char>(c));
        })) {
      return fail(why, "port is not a number");
    }
    const int value = std::stoi(std::string(port));
    if (value < 1 || value > 65535) return fail(why, "port out of range 1-65535");
    out.port = std::string(port);
  } else {
    out.port = out.secure ? "443" : "80";
  }
  return out;
}

}  // namespace kpg::sdk

namespace kpg::sdk {

namespace {
// RFC 3986 unreserved characters stay; every other byte is %XX.
void append_percent_encoded(std::string& out, std::string_view value) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (const char c : value) {
    const auto byte = static_cast<unsigned char>(c);
    if (std::isalnum(byte) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += c;
    } else {
      out += '%';
      out += kHex[byte >> 4];
      out += kHex[byte & 0xF];
    }
  }
}
}  // namespace

std::string with_query_credentials(std::string_view url, std::string_view api_key,
                                   std::string_view token) {
  std::string out(url);
  auto add = [&out](std::string_view name, std::string_view value) {
    if (value.empty()) return;
    const bool has_query = out.find('?') != std::string::npos;
    if (has_query && out.back() != '?' && out.back() != '&') out += '&';
    if (!has_query) out += '?';
    out += name;
    out += '=';
    append_percent_encoded(out, value);
  };
  add("apikey", api_key);
  add("jwt", token);
  return out;
}

std::string http_url_of(std::string_view ws_url) {
  if (ws_url.substr(0, 5) == "ws://") return "http://" + std::string(ws_url.substr(5));
  if (ws_url.substr(0, 6) == "wss://") return "https://" + std::string(ws_url.substr(6));
  return std::string(ws_url);
}

}  // namespace kpg::sdk
