// trusted_proxies (CIDR parsing and matching) and the X-Forwarded-For walk that names the client
// behind trusted proxies, plus peer_ip() on the address texts the sessions carry.
#include "server/client_address.h"
#include "config/gateway_config.h"
#include "config/trusted_proxies.h"
#include "server/listener.h"

#include <gtest/gtest.h>

namespace {

using kpg::config::parse_ip;
using kpg::config::TrustedProxies;
using kpg::server::forwarded_client;

TrustedProxies proxies(const std::vector<std::string>& cidrs) {
  auto parsed = TrustedProxies::parse(cidrs);
  if (auto* error = std::get_if<std::string>(&parsed)) ADD_FAILURE() << *error;
  return std::get<TrustedProxies>(std::move(parsed));
}

std::string error_of(const std::vector<std::string>& cidrs) {
  auto parsed = TrustedProxies::parse(cidrs);
  auto* error = std::get_if<std::string>(&parsed);
  return error ? *error : "(accepted)";
}

bool trusts(const TrustedProxies& p, const std::string& address) {
  return p.trusts(*parse_ip(address));
}

std::optional<std::string> client(const TrustedProxies& p, const std::string& peer,
                                  std::vector<std::string_view> xff,
                                  std::optional<std::string_view> real_ip = std::nullopt) {
  return forwarded_client(*parse_ip(peer), p, xff, real_ip);
}

TEST(TrustedProxies, MatchIPv4AndIPv6NetworksAndSingleHosts) {
  const auto p = proxies({"10.0.0.0/8", "192.0.2.7", "2001:db8::/32", "::1/128"});
  EXPECT_TRUE(trusts(p, "10.1.2.3"));
  EXPECT_FALSE(trusts(p, "11.0.0.1"));
  EXPECT_TRUE(trusts(p, "192.0.2.7"));
  EXPECT_FALSE(trusts(p, "192.0.2.8"));
  EXPECT_TRUE(trusts(p, "2001:db8:ffff::1"));
  EXPECT_FALSE(trusts(p, "2001:db9::1"));
  EXPECT_TRUE(trusts(p, "::1"));
  // A dual-stack listener's IPv4-mapped peers match IPv4 networks.
  EXPECT_TRUE(trusts(p, "::ffff:10.9.9.9"));
  EXPECT_EQ(parse_ip("::ffff:10.9.9.9")->to_string(), "10.9.9.9");
}

TEST(TrustedProxies, HostBitsOfANetworkAreIgnoredAndPrefixZeroIsEveryAddressOfItsFamily) {
  EXPECT_TRUE(trusts(proxies({"10.1.2.3/8"}), "10.200.0.1"));
  const auto all_v4 = proxies({"0.0.0.0/0"});
  EXPECT_TRUE(trusts(all_v4, "203.0.113.9"));
  EXPECT_FALSE(trusts(all_v4, "2001:db8::1"));
  EXPECT_TRUE(trusts(proxies({"::/0"}), "2001:db8::1"));
}

TEST(TrustedProxies, EveryMalformedEntryIsRefusedNamingIt) {
  EXPECT_EQ(error_of({"10.0.0.0/8", "10.0.0.0/33"}),
            "trusted_proxies: '10.0.0.0/33' has a prefix length that is not 0..32");
  EXPECT_EQ(error_of({"::1/129"}),
            "trusted_proxies: '::1/129' has a prefix length that is not 0..128");
  for (const std::string bad :
       {"10.0.0/8", "localhost", "", "10.0.0.1:80", "[::1]", "10.0.0.1 ", "fe80::1%eth0"}) {
    EXPECT_EQ(error_of({bad}), "trusted_proxies: '" + bad +
                                   "' is not an IPv4 or IPv6 address or ADDRESS/PREFIX network");
  }
  for (const std::string bad :
       {"10.0.0.0/", "10.0.0.0/x", "10.0.0.0/-1", "10.0.0.0/8/8", "10.0.0.0/+8"}) {
    EXPECT_NE(error_of({bad}).find("prefix length"), std::string::npos) << bad;
  }
}

TEST(TrustedProxies, TheGatewayConfigurationRefusesABadList) {
  kpg::config::GatewayConfig config;
  kpg::config::load_yaml_string("trusted_proxies: [127.0.0.1/32, '::1']\n", "t.yaml", config);
  EXPECT_NO_THROW(kpg::config::validate(config));
  config.trusted_proxies.push_back("300.0.0.1");
  try {
    kpg::config::validate(config);
    ADD_FAILURE() << "accepted";
  } catch (const kpg::config::ConfigError& e) {
    EXPECT_STREQ(e.what(),
                 "trusted_proxies: '300.0.0.1' is not an IPv4 or IPv6 address or ADDRESS/PREFIX "
                 "network");
  }
  kpg::config::GatewayConfig other;
  EXPECT_THROW(kpg::config::load_yaml_string("trusted_proxies: 10.0.0.0/8\n", "t.yaml", other),
               kpg::config::ConfigError);
}

TEST(ForwardedFor, AnUntrustedPeerIsItsOwnClientWhateverItWrites) {
  const auto p = proxies({"10.0.0.0/8"});
  EXPECT_EQ(client(p, "203.0.113.5", {"198.51.100.1"}, "198.51.100.2"), std::nullopt);
  EXPECT_EQ(client(proxies({}), "10.0.0.1", {"198.51.100.1"}), std::nullopt);
}

TEST(ForwardedFor, TheRightMostUntrustedEntryIsTheClient) {
  const auto p = proxies({"10.0.0.0/8"});
  // The left part is what the client itself sent: never believed past a non-proxy entry.
  EXPECT_EQ(client(p, "10.0.0.1", {"6.6.6.6, 198.51.100.9, 10.0.0.2"}), "198.51.100.9");
  EXPECT_EQ(client(p, "10.0.0.1", {"198.51.100.9"}), "198.51.100.9");
  // Several headers are one list, in order.
  EXPECT_EQ(client(p, "10.0.0.1", {"6.6.6.6", "198.51.100.9,10.0.0.3"}), "198.51.100.9");
  // Every entry a proxy: the left-most.
  EXPECT_EQ(client(p, "10.0.0.1", {"10.0.0.5, 10.0.0.6"}), "10.0.0.5");
  // Written canonically, whatever the header's spelling.
  EXPECT_EQ(client(p, "10.0.0.1", {" 2001:DB8:0::1 "}), "2001:db8::1");
  EXPECT_EQ(client(p, "10.0.0.1", {",,198.51.100.9,"}), "198.51.100.9");
}

TEST(ForwardedFor, AnEntryThatIsNotAnAddressLeavesThePeerAsTheClient) {
  const auto p = proxies({"10.0.0.0/8"});
  EXPECT_EQ(client(p, "10.0.0.1", {"198.51.100.9, bogus"}), std::nullopt);
  EXPECT_EQ(client(p, "10.0.0.1", {"198.51.100.9:1234"}), std::nullopt);
  EXPECT_EQ(client(p, "10.0.0.1", {"\"><script>"}), std::nullopt);
  // Entries right of the bad one that are untrusted still name the client.
  EXPECT_EQ(client(p, "10.0.0.1", {"bogus, 198.51.100.9"}), "198.51.100.9");
}

TEST(ForwardedFor, TheWalkIsBounded) {
  const auto p = proxies({"10.0.0.0/8"});
  std::string many;
  for (std::size_t i = 0; i <= kpg::server::kMaxForwardedEntries; ++i) many += "10.0.0.9,";
  EXPECT_EQ(client(p, "10.0.0.1", {many}), std::nullopt);
}

TEST(ForwardedFor, XRealIpIsTakenFromATrustedPeerWithoutXForwardedFor) {
  const auto p = proxies({"127.0.0.1/32"});
  EXPECT_EQ(client(p, "127.0.0.1", {}, "198.51.100.4"), "198.51.100.4");
  EXPECT_EQ(client(p, "127.0.0.1", {}, "not an address"), std::nullopt);
  EXPECT_EQ(client(p, "127.0.0.1", {"198.51.100.9"}, "198.51.100.4"), "198.51.100.9");
}

TEST(PeerIp, TheAddressOfEveryClientText) {
  using kpg::server::peer_ip;
  EXPECT_EQ(peer_ip("127.0.0.1:5555"), "127.0.0.1");
  EXPECT_EQ(peer_ip("[::1]:5555"), "::1");
  EXPECT_EQ(peer_ip("198.51.100.9"), "198.51.100.9");
  EXPECT_EQ(peer_ip("2001:db8::1"), "2001:db8::1");
}

}  // namespace
