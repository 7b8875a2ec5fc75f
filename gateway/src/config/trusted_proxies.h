// The `trusted_proxies` setting: the networks (CIDRs) of the proxies in front of the gateway whose
// X-Forwarded-For / X-Real-IP headers are believed. Anyone else can write those headers, so a peer
// outside these networks is its own client address.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace kpg::config {

/// An IPv4 or IPv6 address, IPv4 held as its IPv4-mapped IPv6 form (::ffff:a.b.c.d) so that a
/// dual-stack listener's mapped peers match IPv4 networks.
struct IpAddress {
  std::array<std::uint8_t, 16> bytes{};
  bool is_v4() const noexcept;
  /// Canonical text: dotted quad for IPv4 (mapped or not), RFC 5952 for IPv6.
  std::string to_string() const;
  friend bool operator==(const IpAddress&, const IpAddress&) = default;
};

/// A plain address ("192.0.2.1", "2001:db8::1"); nothing else (no port, brackets, zone, spaces).
std::optional<IpAddress> parse_ip(std::string_view text);

class TrustedProxies {
 public:
  /// Each entry "ADDRESS/PREFIX" or a bare address (one host). The error names the entry.
  static std::variant<TrustedProxies, std::string> parse(const std::vector<std::string>& cidrs);

  bool empty() const noexcept { return networks_.empty(); }
  bool trusts(const IpAddress& address) const noexcept;

 private:
  struct Network {
    IpAddress base;  // host bits cleared
    int prefix = 0;  // of the 128-bit form
  };
  std::vector<Network> networks_;
};

}  // namespace kpg::config
