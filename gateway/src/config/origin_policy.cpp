#include "config/origin_policy.h"

#include <algorithm>
#include <cctype>

namespace kpg::config {

namespace {

char lower(char c) {
  return static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
}

bool is_scheme_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '+' || c == '-' || c == '.';
}

bool is_host_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '.' || c == '_';
}

}  // namespace

std::optional<std::string> normalize_origin(std::string_view origin) {
  if (origin.empty() || origin.size() > kMaxOriginBytes) return std::nullopt;
  const auto separator = origin.find("://");
  if (separator == std::string_view::npos || separator == 0) return std::nullopt;
  const std::string_view scheme = origin.substr(0, separator);
  if (std::isalpha(static_cast<unsigned char>(scheme.front())) == 0 ||
      !std::all_of(scheme.begin(), scheme.end(), is_scheme_char)) {
    return std::nullopt;
  }
  std::string_view rest = origin.substr(separator + 3);
  std::string_view host;
  std::string_view port;
  if (!rest.empty() && rest.front() == '[') {  // an IPv6 literal: "[::1]:8080"
    const auto close = rest.find(']');
    if (close == std::string_view::npos || close < 2) return std::nullopt;
    host = rest.substr(0, close + 1);
    const std::string_view address = host.substr(1, host.size() - 2);
    if (!std::all_of(address.begin(), address.end(), [](char c) {
          return std::isxdigit(static_cast<unsigned char>(c)) != 0 || c == ':' || c == '.';
        })) {
      return std::nullopt;
    }
    rest = rest.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return std::nullopt;
      port = rest.substr(1);
      if (port.empty()) return std::nullopt;
    }
  } else {
    const auto colon = rest.find(':');
    host = rest.substr(0, colon);
    if (colon != std::string_view::npos) {
      port = rest.substr(colon + 1);
      if (port.empty()) return std::nullopt;
    }
    if (host.empty() || host.size() > 253 || !std::all_of(host.begin(), host.end(), is_host_char)) {
      return std::nullopt;
    }
  }
  if (!port.empty()) {
    if (port.size() > 5 || !std::all_of(port.begin(), port.end(), [](char c) {
          return std::isdigit(static_cast<unsigned char>(c)) != 0;
        })) {
      return std::nullopt;
    }
    const int value = std::stoi(std::string(port));
    if (value < 1 || value > 65535) return std::nullopt;
  }
  std::string normalized;
  normalized.reserve(origin.size());
  for (const char c : scheme) normalized += lower(c);
  normalized += "://";
  for (const char c : host) normalized += lower(c);
  if (!port.empty()) {
    normalized += ':';
    normalized += port;
  }
  return normalized;
}

bool OriginPolicy::add(std::string_view origin) {
  auto normalized = normalize_origin(origin);
  if (!normalized) return false;
  const auto at = std::lower_bound(origins_.begin(), origins_.end(), *normalized);
  if (at == origins_.end() || *at != *normalized) origins_.insert(at, std::move(*normalized));
  return true;
}

OriginPolicy::Verdict OriginPolicy::check(std::optional<std::string_view> origin) const {
  if (!origin) return require_origin_ ? Verdict::missing : Verdict::allowed;
  if (any_) return Verdict::allowed;
  // Normalizing bounds the work: an over-long or malformed header is refused before any lookup.
  const auto normalized = normalize_origin(*origin);
  if (!normalized) return Verdict::not_allowed;
  return std::binary_search(origins_.begin(), origins_.end(), *normalized) ? Verdict::allowed
                                                                           : Verdict::not_allowed;
}

}  // namespace kpg::config
