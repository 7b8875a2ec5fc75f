#include "server/client_address.h"

#include <algorithm>
#include <iterator>

namespace kpg::server {

namespace {

std::string_view trimmed(std::string_view text) {
  const auto first = text.find_first_not_of(" \t");
  if (first == std::string_view::npos) return {};
  return text.substr(first, text.find_last_not_of(" \t") - first + 1);
}

}  // namespace

std::optional<std::string> forwarded_client(const config::IpAddress& peer,
                                            const config::TrustedProxies& proxies,
                                            const std::vector<std::string_view>& forwarded_for,
                                            std::optional<std::string_view> real_ip) {
  if (!proxies.trusts(peer)) return std::nullopt;
  // Every header's comma-separated entries in order; several headers are one list (RFC 9110).
  std::vector<std::string_view> entries;
  for (const auto value : forwarded_for) {
    std::size_t start = 0;
    while (start <= value.size()) {
      const auto comma = std::min(value.find(',', start), value.size());
      const auto entry = trimmed(value.substr(start, comma - start));
      if (!entry.empty()) {
        if (entries.size() == kMaxForwardedEntries) return std::nullopt;
        entries.push_back(entry);
      }
      start = comma + 1;
    }
  }
  if (entries.empty()) {
    if (!real_ip) return std::nullopt;
    const auto address = config::parse_ip(trimmed(*real_ip));
    if (!address) return std::nullopt;
    return address->to_string();
  }
  for (auto it = entries.rbegin(); it != entries.rend(); ++it) {
    const auto address = config::parse_ip(*it);
    if (!address) return std::nullopt;
    if (!proxies.trusts(*address) || std::next(it) == entries.rend()) return address->to_string();
  }
  return std::nullopt;  // not reached: the loop returns at the left-most entry
}

}  // namespace kpg::server
