#include "config/etcd_config.h"

#include "config/route.h"

#include <set>

namespace kpg::config {

namespace {

std::variant<EtcdEndpoint, std::string> parse_endpoint(const std::string& url) {
  EtcdEndpoint endpoint;
  std::string rest;
  if (url.rfind("http://", 0) == 0) {
    rest = url.substr(7);
  } else if (url.rfind("https://", 0) == 0) {
    endpoint.tls = true;
    rest = url.substr(8);
  } else {
    return "etcd.host: '" + url + "' must start with http:// or https://";
  }
  if (!rest.empty() && rest.back() == '/') rest.pop_back();
  const auto node = parse_host_port(rest);
  if (!node) return "etcd.host: '" + url + "' is not http(s)://HOST:PORT";
  endpoint.host = node->host;
  endpoint.port = std::to_string(node->port);
  return endpoint;
}

}  // namespace

std::variant<EtcdConfig, std::string> parse_etcd_config(const nlohmann::json& object) {
  if (!object.is_object()) return std::string("etcd: must be a mapping");
  static const std::set<std::string> known = {"host", "prefix",   "timeout_ms",
                                              "user", "password", "tls"};
  EtcdConfig config;
  auto text = [&](const nlohmann::json& v, const std::string& key) -> std::string {
    if (!v.is_string()) throw std::string("etcd." + key + ": must be a string");
    return v.get<std::string>();
  };
  try {
    for (const auto& [key, v] : object.items()) {
      if (!known.count(key)) throw std::string("etcd: unknown key '" + key + "'");
      if (key == "host") {
        if (!v.is_array() || v.empty() || v.size() > 16)
          throw std::string("etcd.host: must be a list of 1 to 16 URLs");
        for (const auto& item : v) {
          auto parsed = parse_endpoint(text(item, "host"));
          if (auto* error = std::get_if<std::string>(&parsed)) throw *error;
          config.endpoints.push_back(std::get<EtcdEndpoint>(parsed));
        }
      } else if (key == "prefix") {
        config.prefix = text(v, key);
        if (config.prefix.size() < 2 || config.prefix.size() > 256 || config.prefix[0] != '/' ||
            config.prefix.back() == '/') {
          throw std::string("etcd.prefix: '" + config.prefix +
                            "' must start with '/', not end with '/', and be 2-256 characters");
        }
      } else if (key == "timeout_ms") {
        if (!v.is_number_integer() || v.get<long long>() < 100 || v.get<long long>() > 60'000)
          throw std::string("etcd.timeout_ms: must be an integer in 100..60000");
        config.timeout_ms = v.get<int>();
      } else if (key == "user") {
        config.user = text(v, key);
      } else if (key == "password") {
        config.password = text(v, key);
      } else if (key == "tls") {
        if (!v.is_object()) throw std::string("etcd.tls: must be a mapping");
        for (const auto& [tls_key, tv] : v.items()) {
          if (tls_key == "ca_file")
            config.ca_file = text(tv, "tls.ca_file");
          else if (tls_key == "cert_file")
            config.cert_file = text(tv, "tls.cert_file");
          else if (tls_key == "key_file")
            config.key_file = text(tv, "tls.key_file");
          else if (tls_key == "verify") {
            if (!tv.is_boolean()) throw std::string("etcd.tls.verify: must be true or false");
            config.verify = tv.get<bool>();
          } else {
            throw std::string("etcd.tls: unknown key '" + tls_key + "'");
          }
        }
      }
    }
  } catch (const std::string& error) {
    return error;
  }
  if (config.endpoints.empty()) return std::string("etcd.host: at least one URL is required");
  if (config.user.empty() != config.password.empty())
    return std::string("etcd.user and etcd.password go together: give both or neither");
  if (config.cert_file.empty() != config.key_file.empty())
    return std::string("etcd.tls.cert_file and etcd.tls.key_file go together");
  return config;
}

}  // namespace kpg::config
