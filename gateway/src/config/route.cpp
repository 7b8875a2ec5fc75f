#include "config/route.h"

#include <algorithm>
#include <cctype>

namespace kpg::config {

using nlohmann::json;

std::string BrokerNode::to_string() const {
  const bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

std::optional<BrokerNode> parse_host_port(const std::string& text, bool allow_port_zero) {
  BrokerNode node;
  std::string port;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return std::nullopt;
    }
    node.host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string::npos) return std::nullopt;
    node.host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (node.host.find(':') != std::string::npos) return std::nullopt;
  }
  if (node.host.empty() || port.empty() || port.size() > 5 ||
      !std::all_of(port.begin(), port.end(),
                   [](char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; })) {
    return std::nullopt;
  }
  const int value = std::stoi(port);
  if (value < (allow_port_zero ? 0 : 1) || value > 65535) return std::nullopt;
  node.port = static_cast<std::uint16_t>(value);
  return node;
}

bool Route::same_kafka_settings(const Route& other) const {
  auto nodes_key = [](const std::vector<BrokerNode>& ns) {
    std::vector<std::string> keys;
    for (const auto& n : ns) keys.push_back(n.to_string());
    std::sort(keys.begin(), keys.end());
    return keys;
  };
  auto tls_key = [](const std::optional<TlsSettings>& t) {
    return t ? std::make_tuple(true, t->verify, t->ca_file, t->cert_file, t->key_file)
             : std::make_tuple(false, false, std::string(), std::string(), std::string());
  };
  auto sasl_key = [](const std::optional<SaslSettings>& s) {
    return s ? std::make_tuple(true, s->mechanism, s->username, s->password)
             : std::make_tuple(false, std::string(), std::string(), std::string());
  };
  return nodes_key(nodes) == nodes_key(other.nodes) && tls_key(tls) == tls_key(other.tls) &&
         sasl_key(sasl) == sasl_key(other.sasl);
}

namespace {

struct Invalid {
  std::string message;
};

[[noreturn]] void invalid(const std::string& field, const std::string& rule) {
  throw Invalid{"invalid configuration: property \"" + field + "\" " + rule};
}

const json& require(const json& object, const std::string& key, const std::string& path) {
  auto it = object.find(key);
  if (it == object.end()) invalid(path, "is required");
  return *it;
}

std::string require_string(const json& value, const std::string& path, bool non_empty = true) {
  if (!value.is_string()) {
    // APISIX's (jsonschema's) wording, so existing tooling that matches on it keeps working.
    invalid(path, std::string("validation failed: wrong type: expected string, got ") +
                      value.type_name());
  }
  auto s = value.get<std::string>();
  if (non_empty && s.empty())
    invalid(path, "validation failed: string too short, expected at least 1");
  return s;
}

void check_uri(const std::string& uri, const std::string& path) {
  if (uri.empty() || uri.front() != '/') invalid(path, "validation failed: must start with '/'");
  if (uri.size() > 4096) invalid(path, "validation failed: longer than 4096 characters");
}

Route parse(const json& object, std::string id) {
  if (!object.is_object()) invalid("route", "validation failed: wrong type: expected object");
  Route route;
  route.id = std::move(id);
  route.definition = object;

  const bool has_uri = object.contains("uri");
  const bool has_uris = object.contains("uris");
  if (has_uri == has_uris)
    invalid("uri", "validation failed: exactly one of \"uri\" and \"uris\" is required");
  if (has_uri) {
    route.uris.push_back(require_string(object.at("uri"), "uri"));
    check_uri(route.uris.back(), "uri");
  } else {
    const json& uris = object.at("uris");
    if (!uris.is_array() || uris.empty()) {
      invalid("uris", "validation failed: expected a non-empty array of strings");
    }
    for (const auto& u : uris) {
      route.uris.push_back(require_string(u, "uris"));
      check_uri(route.uris.back(), "uris");
    }
  }

  const json& upstream = require(object, "upstream", "upstream");
  if (!upstream.is_object()) invalid("upstream", "validation failed: wrong type: expected object");
  const std::string scheme =
      require_string(require(upstream, "scheme", "upstream.scheme"), "upstream.scheme");
  if (scheme != "kafka") {
    invalid("upstream.scheme",
            "validation failed: unknown scheme \"" + scheme + "\", kpg serves only \"kafka\"");
  }
  if (upstream.contains("type")) {
    const auto type = require_string(upstream.at("type"), "upstream.type");
    if (type != "none" && type != "roundrobin" && type != "chash" && type != "ewma" &&
        type != "least_conn") {
      invalid("upstream.type", "validation failed: unknown balancer type \"" + type + "\"");
    }
  }
  const json& nodes = require(upstream, "nodes", "upstream.nodes");
  auto add_node = [&route](const std::string& text) {
    auto node = parse_host_port(text);
    if (!node) {
      invalid("upstream.nodes", "validation failed: \"" + text + "\" is not a valid host:port");
    }
    route.nodes.push_back(*node);
  };
  if (nodes.is_object()) {
    for (const auto& [key, weight] : nodes.items()) {
      if (!weight.is_number_integer() || weight.get<long long>() < 0) {
        invalid("upstream.nodes",
                "validation failed: weight of \"" + key + "\" must be a non-negative integer");
      }
      add_node(key);
    }
  } else if (nodes.is_array()) {
    for (const auto& n : nodes) {
      if (!n.is_object()) invalid("upstream.nodes", "validation failed: expected objects");
      const auto host =
          require_string(require(n, "host", "upstream.nodes.host"), "upstream.nodes.host");
      const json& port = require(n, "port", "upstream.nodes.port");
      if (!port.is_number_integer() || port.get<long long>() < 1 || port.get<long long>() > 65535) {
        invalid("upstream.nodes.port", "validation failed: expected an integer from 1 to 65535");
      }
      add_node(host + ":" + std::to_string(port.get<long long>()));
    }
  } else {
    invalid("upstream.nodes", "validation failed: wrong type: expected object or array");
  }
  if (route.nodes.empty()) invalid("upstream.nodes", "validation failed: expect at least 1 node");

  if (upstream.contains("tls")) {
    const json& tls = upstream.at("tls");
    if (!tls.is_object()) invalid("upstream.tls", "validation failed: wrong type: expected object");
    TlsSettings settings;
    if (tls.contains("verify")) {
      if (!tls.at("verify").is_boolean()) {
        invalid("upstream.tls.verify", "validation failed: wrong type: expected boolean");
      }
      settings.verify = tls.at("verify").get<bool>();
    } else {
      settings.verify = false;  // APISIX's default for upstream.tls.verify
    }
    if (tls.contains("ca_file"))
      settings.ca_file = require_string(tls.at("ca_file"), "upstream.tls.ca_file");
    if (tls.contains("client_cert_file")) {
      settings.cert_file =
          require_string(tls.at("client_cert_file"), "upstream.tls.client_cert_file");
    }
    if (tls.contains("client_key_file")) {
      settings.key_file = require_string(tls.at("client_key_file"), "upstream.tls.client_key_file");
    }
    if (settings.cert_file.empty() != settings.key_file.empty()) {
      invalid("upstream.tls",
              "validation failed: client_cert_file and client_key_file go together");
    }
    route.tls = settings;
  }

  if (object.contains("plugins")) {
    const json& plugins = object.at("plugins");
    if (!plugins.is_object()) invalid("plugins", "validation failed: wrong type: expected object");
    if (plugins.contains("kafka-proxy")) {
      const json& proxy = plugins.at("kafka-proxy");
      if (!proxy.is_object())
        invalid("kafka-proxy", "validation failed: wrong type: expected object");
      if (proxy.contains("sasl")) {
        const json& sasl = proxy.at("sasl");
        if (!sasl.is_object()) invalid("sasl", "validation failed: wrong type: expected object");
        SaslSettings settings;
        // Nested like APISIX: property "sasl" validation failed: property "password" ...
        const std::string username_path = "sasl\" validation failed: property \"username";
        const std::string password_path = "sasl\" validation failed: property \"password";
        settings.username =
            require_string(require(sasl, "username", username_path), username_path, false);
        settings.password =
            require_string(require(sasl, "password", password_path), password_path, false);
        if (sasl.contains("mechanism")) {
          settings.mechanism = require_string(sasl.at("mechanism"), "sasl.mechanism");
          if (settings.mechanism != "PLAIN" && settings.mechanism != "SCRAM-SHA-256" &&
              settings.mechanism != "SCRAM-SHA-512") {
            invalid("sasl.mechanism",
                    "validation failed: expected PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512");
          }
        }
        route.sasl = settings;
      }
    }
  }
  return route;
}

}  // namespace

std::variant<Route, std::string> parse_route(const json& object, std::string id) {
  try {
    return parse(object, std::move(id));
  } catch (const Invalid& e) {
    return e.message;
  } catch (const json::exception& e) {
    return std::string("invalid configuration: ") + e.what();
  }
}

}  // namespace kpg::config
