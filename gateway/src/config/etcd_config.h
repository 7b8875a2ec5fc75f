// Cluster mode: where the routes and consumers live when several gateways share them (etcd v3,
// APISIX's key layout: PREFIX/routes/{id}, PREFIX/consumers/{username}).
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <variant>
#include <vector>

namespace kpg::config {

/// One etcd endpoint: http://host:port or https://host:port.
struct EtcdEndpoint {
  bool tls = false;
  std::string host;
  std::string port;
  std::string text() const { return (tls ? "https://" : "http://") + host + ":" + port; }
};

struct EtcdConfig {
  std::vector<EtcdEndpoint> endpoints;  ///< empty: cluster mode is off (the file store is used)
  std::string prefix = "/apisix";       ///< no trailing '/'
  int timeout_ms = 5'000;               ///< one request to etcd (a watch is not bounded by it)
  /// etcd's own authentication (`etcdctl auth enable`): both or neither.
  std::string user;
  std::string password;
  /// For https:// endpoints: the CA that signed etcd's certificate (empty: the system's), a
  /// client certificate and key for etcd's --client-cert-auth (both or neither), and whether the
  /// server certificate is verified at all (only a test set-up turns it off).
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
  bool verify = true;

  bool enabled() const { return !endpoints.empty(); }
};

/// Parses the YAML `etcd:` mapping (as JSON):
///   {host: ["http://127.0.0.1:2379", ...], prefix: "/apisix", timeout_ms: 5000,
///    user: ..., password: ..., tls: {ca_file: ..., cert_file: ..., key_file: ..., verify: true}}
/// The error names the key and what is wrong.
std::variant<EtcdConfig, std::string> parse_etcd_config(const nlohmann::json& object);

}  // namespace kpg::config
