#include "config/trusted_proxies.h"

#include <arpa/inet.h>

#include <algorithm>

#include <charconv>
#include <cstring>

namespace kpg::config {

namespace {

constexpr std::array<std::uint8_t, 12> kMappedPrefix = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

// Clears the bits after `prefix` (of 128).
IpAddress masked(IpAddress address, int prefix) {
  for (int i = 0; i < 16; ++i) {
    const int keep = std::clamp(prefix - i * 8, 0, 8);
    address.bytes[i] &= static_cast<std::uint8_t>(0xff00 >> keep);
  }
  return address;
}

}  // namespace

bool IpAddress::is_v4() const noexcept {
  return std::memcmp(bytes.data(), kMappedPrefix.data(), kMappedPrefix.size()) == 0;
}

std::string IpAddress::to_string() const {
  char text[INET6_ADDRSTRLEN] = {};
  if (is_v4()) {
    ::inet_ntop(AF_INET, bytes.data() + 12, text, sizeof text);
  } else {
    ::inet_ntop(AF_INET6, bytes.data(), text, sizeof text);
  }
  return text;
}

std::optional<IpAddress> parse_ip(std::string_view text) {
  // inet_pton needs a terminated string; longer text is no address anyway.
  if (text.empty() || text.size() >= INET6_ADDRSTRLEN) return std::nullopt;
  char buffer[INET6_ADDRSTRLEN] = {};
  std::memcpy(buffer, text.data(), text.size());
  IpAddress address;
  if (::inet_pton(AF_INET, buffer, address.bytes.data() + 12) == 1) {
    std::memcpy(address.bytes.data(), kMappedPrefix.data(), kMappedPrefix.size());
    return address;
  }
  if (::inet_pton(AF_INET6, buffer, address.bytes.data()) == 1) return address;
  return std::nullopt;
}

std::variant<TrustedProxies, std::string> TrustedProxies::parse(
    const std::vector<std::string>& cidrs) {
  TrustedProxies proxies;
  for (const auto& entry : cidrs) {
    const std::string_view text = entry;
    const auto slash = text.find('/');
    const auto address = parse_ip(text.substr(0, slash));
    const auto invalid = [&entry](const std::string& why) {
      return "trusted_proxies: '" + entry + "' " + why;
    };
    if (!address) return invalid("is not an IPv4 or IPv6 address or ADDRESS/PREFIX network");
    const int max_prefix = address->is_v4() ? 32 : 128;
    int prefix = max_prefix;
    if (slash != std::string_view::npos) {
      const auto digits = text.substr(slash + 1);
      const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), prefix);
      if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size() ||
          prefix < 0 || prefix > max_prefix) {
        return invalid("has a prefix length that is not 0.." + std::to_string(max_prefix));
      }
    }
    const int full = address->is_v4() ? prefix + 96 : prefix;
    proxies.networks_.push_back({masked(*address, full), full});
  }
  return proxies;
}

bool TrustedProxies::trusts(const IpAddress& address) const noexcept {
  for (const auto& network : networks_) {
    if (masked(address, network.prefix) == network.base) return true;
  }
  return false;
}

}  // namespace kpg::config
