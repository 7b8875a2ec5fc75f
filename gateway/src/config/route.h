// A validated PubSub route, parsed from the APISIX-shaped JSON route object:
//   {"uri": "/kafka", "upstream": {"scheme": "kafka", "type": "none",
//    "nodes": {"127.0.0.1:9092": 1}, "tls": {"verify": false}},
//    "plugins": {"kafka-proxy": {"sasl": {"username": "u", "password": "p"}}}}
#pragma once

#include "config/auth.h"
#include "config/origin_policy.h"
#include "config/pinned_filter.h"
#include "config/route_groups.h"
#include "config/route_limits.h"
#include "config/topic_acl.h"

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace kpg::config {

struct BrokerNode {
  std::string host;
  std::uint16_t port = 0;
  std::string to_string() const;
};

struct TlsSettings {
  bool verify = true;
  std::string ca_file;    ///< kpg extension: PEM CA bundle for broker certificates
  std::string cert_file;  ///< kpg extension: client certificate (mutual TLS)
  std::string key_file;   ///< kpg extension: client private key
};

struct SaslSettings {
  std::string mechanism = "PLAIN";  ///< PLAIN, SCRAM-SHA-256, SCRAM-SHA-512
  std::string username;
  std::string password;
};

/// How to reach one Kafka cluster: everything the Kafka layer needs from a route.
struct ClusterSettings {
  std::string name;               ///< for client ids and logs (the route id)
  std::vector<BrokerNode> nodes;  ///< bootstrap brokers
  std::optional<TlsSettings> tls;
  std::optional<SaslSettings> sasl;
  /// How long a read at a partition's end may wait for records before the broker answers empty
  /// (librdkafka fetch.wait.max.ms). A gateway-wide setting (GatewayConfig::kafka_fetch_wait_ms).
  int fetch_wait_ms = 50;
};

/// kpg's `plugins.kafka-proxy.produce`: what the connections of a route may write. Absent: nothing.
struct ProducePolicy {
  TopicAcl topics;  ///< the write list (the read list, `topics`, does not grant writing)
  std::uint32_t max_record_bytes = 1'000'000;  ///< key + value + headers of one record
  /// Record bytes of one connection awaiting acknowledgement; beyond it the connection's produce
  /// requests are refused (LIMIT_EXCEEDED) until acknowledgements come.
  std::uint32_t max_inflight_bytes = 4 * 1024 * 1024;
  std::uint32_t max_records_per_second = 1000;  ///< per connection (a burst of as many); 0: none

  static constexpr std::uint32_t kMaxRecordBytes = 16 * 1024 * 1024;
  static constexpr std::uint32_t kMaxInflightBytes = 256 * 1024 * 1024;
};

struct Route {
  std::string id;
  std::vector<std::string> uris;  ///< exact paths; a trailing '*' matches a prefix
  /// APISIX `host` / `hosts`: the upgrade's Host (port stripped, any case) must be one of
  /// these; "*.example.com" matches any name ending in ".example.com". Empty = any host.
  std::vector<std::string> hosts;
  bool enabled = true;  ///< APISIX `status`: 0 disables the route (its URIs are not served)
  std::vector<BrokerNode> nodes;  ///< bootstrap brokers
  std::optional<TlsSettings> tls;
  std::optional<SaslSettings> sasl;
  RouteAuth auth;      ///< plugins "key-auth" / "jwt-auth": checked on the WebSocket upgrade
  RouteLimits limits;  ///< plugins "limit-conn" / "limit-count": checked on the upgrade
  /// kpg's `plugins.kafka-proxy.topics`: the topics its connections may name. Absent: every one.
  std::optional<TopicAcl> topics;
  /// kpg's `plugins.kafka-proxy.produce`. Absent: the route's connections cannot write.
  std::optional<ProducePolicy> produce;
  /// kpg's `plugins.kafka-proxy.filter`: conditions on every record read. Absent: none.
  std::optional<PinnedFilter> filter;
  /// kpg's `plugins.kafka-proxy.groups`: consumer groups. Absent: not offered.
  std::optional<GroupSettings> groups;
  /// APISIX's `plugins.cors`: the origins that may open its WebSocket. Absent: any.
  std::optional<OriginPolicy> cors;
  nlohmann::json definition;  ///< the object as given (for the admin API)

  /// True when both routes reach Kafka the same way (a Kafka client can be shared).
  bool same_kafka_settings(const Route& other) const;
  ClusterSettings cluster() const { return {id, nodes, tls, sasl}; }
  /// True when a request with this Host header value ("name", "name:port", "[v6]:port") may use
  /// the route.
  bool matches_host(std::string_view host_header) const;
  /// Whether an upgrade with this Origin header (nullopt: none) may open a WebSocket here.
  OriginPolicy::Verdict check_origin(std::optional<std::string_view> origin) const {
    return cors ? cors->check(origin) : OriginPolicy::Verdict::allowed;
  }
};

/// Deepest nesting of arrays/objects accepted in a route (APISIX's route objects need 4; the
/// rest is headroom). Bounds the work on untrusted JSON, whose handling elsewhere recurses.
inline constexpr std::size_t kMaxJsonDepth = 32;

/// Parses JSON text whose arrays/objects nest at most `max_depth` deep. The depth is checked
/// while reading, before any tree is built, so hostile nesting costs neither stack nor memory.
/// On failure returns a message naming the problem (e.g. the depth limit).
std::variant<nlohmann::json, std::string> parse_json_bounded(std::string_view text,
                                                             std::size_t max_depth = kMaxJsonDepth);

/// Validates an APISIX route object. On failure returns a message of the form
/// "invalid configuration: <field> <rule>", naming the field and the rule it breaks. Fields and
/// plugins kpg does not implement are refused by name (never stored and silently ignored).
std::variant<Route, std::string> parse_route(const nlohmann::json& object, std::string id);

/// The error naming the first key of `object` not in `known` ("invalid configuration: property
/// \"<prefix><key>\" is not supported by kpg"), or nothing: kpg never stores a setting it would
/// ignore.
std::optional<std::string> unsupported_property(const nlohmann::json& object,
                                                std::initializer_list<std::string_view> known,
                                                const std::string& prefix);

/// Checks APISIX's metadata fields (name, desc, labels) of any admin object; the message
/// naming the first one that breaks a rule, or nothing.
std::optional<std::string> metadata_error(const nlohmann::json& object);

/// Parses "host:port" / "[v6]:port"; nullopt when malformed. Port 0 ("any free port") is
/// accepted only for listen addresses.
std::optional<BrokerNode> parse_host_port(const std::string& text, bool allow_port_zero = false);

}  // namespace kpg::config
