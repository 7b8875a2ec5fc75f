#include "config/gateway_config.h"

#include "config/trusted_proxies.h"

#include <yaml-cpp/yaml.h>

#include <set>

namespace kpg::config {

namespace {

// Aliases make a YAML document a graph: a few lines can stand for billions of values ("billion
// laughs"), and converting to JSON expands every alias. A route is a few dozen values; the bound
// is for all routes of a file together, so that many small bombs add up to no more than one.
constexpr std::size_t kMaxRouteValues = 100'000;

// YAML allows lists and mappings as mapping keys ("? [a, b]: c"); JSON and our keys do not.
std::string key_text(const YAML::Node& key) {
  if (key.IsScalar() || key.IsNull()) return key.as<std::string>();
  const auto mark = key.Mark();
  throw ConfigError(
      (mark.is_null() ? std::string() : "line " + std::to_string(mark.line + 1) + ": ") +
      "a mapping key must be a plain value, not a list or a mapping");
}

// YAML scalars carry no type; plain (unquoted) scalars that read as bool/int/float become those.
// `budget`: how many more values may be produced (see kMaxRouteValues).
nlohmann::json yaml_to_json(const YAML::Node& node, std::size_t& budget, std::size_t depth = 0) {
  // Routes nest a few levels; deeper input would only cost stack (found by fuzz_config_yaml).
  if (depth > kMaxJsonDepth) {
    throw ConfigError("a route nests deeper than " + std::to_string(kMaxJsonDepth) + " levels");
  }
  if (budget == 0) {
    throw ConfigError("the routes hold more than " + std::to_string(kMaxRouteValues) +
                      " values once aliases are expanded");
  }
  --budget;
  switch (node.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined: return nullptr;
    case YAML::NodeType::Sequence: {
      auto out = nlohmann::json::array();
      for (const auto& item : node) out.push_back(yaml_to_json(item, budget, depth + 1));
      return out;
    }
    case YAML::NodeType::Map: {
      auto out = nlohmann::json::object();
      for (const auto& kv : node)
        out[key_text(kv.first)] = yaml_to_json(kv.second, budget, depth + 1);
      return out;
    }
    case YAML::NodeType::Scalar: {
      const std::string& text = node.Scalar();
      if (node.Tag() == "?") {
        if (text == "true" || text == "True" || text == "TRUE") return true;
        if (text == "false" || text == "False" || text == "FALSE") return false;
        if (text == "null" || text == "~") return nullptr;
        long long integer = 0;
        if (YAML::convert<long long>::decode(node, integer)) return integer;
        double real = 0;
        if (YAML::convert<double>::decode(node, real)) return real;
      }
      return text;
    }
  }
  return nullptr;
}

template <class T>
T get_as(const YAML::Node& node, const std::string& key) {
  try {
    return node.as<T>();
  } catch (const YAML::Exception&) {
    throw ConfigError("'" + key + "' has the wrong type");
  }
}

// Applies a parsed document over `config`; `path` names its origin in every error.
void apply_yaml(const YAML::Node& root, const std::string& path, GatewayConfig& config) {
  if (root.IsNull()) return;
  if (!root.IsMap()) throw ConfigError(path + ": the top level must be a mapping");

  static const std::set<std::string> known = {"listen",
                                              "admin_key",
                                              "admin_listen",
                                              "status_listen",
                                              "tls_cert_file",
                                              "tls_key_file",
                                              "data_dir",
                                              "embedded_kafka",
                                              "log_level",
                                              "io_threads",
                                              "kafka_threads",
                                              "max_frame_bytes",
                                              "fetch_max_bytes",
                                              "fetch_max_wait_ms",
                                              "max_write_queue_bytes",
                                              "max_inflight_requests",
                                              "max_total_write_queue_bytes",
                                              "write_timeout_ms",
                                              "max_connections",
                                              "max_connections_per_address",
                                              "handshake_timeout_ms",
                                              "max_requests_per_second",
                                              "kafka_timeout_ms",
                                              "kafka_produce_timeout_ms",
                                              "kafka_reader_idle_ms",
                                              "kafka_fetch_wait_ms",
                                              "kafka_max_readers",
                                              "kafka_max_queued_requests",
                                              "max_subscriptions",
                                              "max_credit",
                                              "max_snapshot_bytes",
                                              "max_total_snapshot_bytes",
                                              "etcd",
                                              "routes",
                                              "log_format",
                                              "trusted_proxies"};
  try {
    for (const auto& kv : root) {
      const auto key = key_text(kv.first);
      if (!known.count(key)) throw ConfigError("unknown key '" + key + "'");
      const YAML::Node& v = kv.second;
      if (key == "listen")
        config.listen = get_as<std::string>(v, key);
      else if (key == "admin_listen")
        config.admin_listen = get_as<std::string>(v, key);
      else if (key == "status_listen")
        config.status_listen = get_as<std::string>(v, key);
      else if (key == "tls_cert_file")
        config.tls_cert_file = get_as<std::string>(v, key);
      else if (key == "tls_key_file")
        config.tls_key_file = get_as<std::string>(v, key);
      else if (key == "data_dir")
        config.data_dir = get_as<std::string>(v, key);
      else if (key == "embedded_kafka")
        config.embedded_kafka = get_as<bool>(v, key);
      else if (key == "admin_key")
        config.admin_key = get_as<std::string>(v, key);
      else if (key == "log_level")
        config.log_level = get_as<std::string>(v, key);
      else if (key == "io_threads")
        config.io_threads = get_as<int>(v, key);
      else if (key == "kafka_threads")
        config.kafka_threads = get_as<int>(v, key);
      else if (key == "max_frame_bytes")
        config.max_frame_bytes = get_as<std::size_t>(v, key);
      else if (key == "fetch_max_bytes")
        config.fetch_max_bytes = get_as<std::size_t>(v, key);
      else if (key == "fetch_max_wait_ms")
        config.fetch_max_wait_ms = get_as<int>(v, key);
      else if (key == "max_write_queue_bytes")
        config.max_write_queue_bytes = get_as<std::size_t>(v, key);
      else if (key == "max_inflight_requests")
        config.max_inflight_requests = get_as<int>(v, key);
      else if (key == "max_total_write_queue_bytes")
        config.max_total_write_queue_bytes = get_as<std::size_t>(v, key);
      else if (key == "write_timeout_ms")
        config.write_timeout_ms = get_as<int>(v, key);
      else if (key == "max_connections")
        config.max_connections = get_as<int>(v, key);
      else if (key == "max_connections_per_address")
        config.max_connections_per_address = get_as<int>(v, key);
      else if (key == "handshake_timeout_ms")
        config.handshake_timeout_ms = get_as<int>(v, key);
      else if (key == "max_requests_per_second")
        config.max_requests_per_second = get_as<int>(v, key);
      else if (key == "kafka_timeout_ms")
        config.kafka_timeout_ms = get_as<int>(v, key);
      else if (key == "kafka_produce_timeout_ms")
        config.kafka_produce_timeout_ms = get_as<int>(v, key);
      else if (key == "kafka_reader_idle_ms")
        config.kafka_reader_idle_ms = get_as<int>(v, key);
      else if (key == "kafka_fetch_wait_ms")
        config.kafka_fetch_wait_ms = get_as<int>(v, key);
      else if (key == "kafka_max_readers")
        config.kafka_max_readers = get_as<int>(v, key);
      else if (key == "kafka_max_queued_requests")
        config.kafka_max_queued_requests = get_as<int>(v, key);
      else if (key == "max_subscriptions")
        config.max_subscriptions = get_as<int>(v, key);
      else if (key == "max_credit")
        config.max_credit = get_as<int>(v, key);
      else if (key == "max_snapshot_bytes")
        config.max_snapshot_bytes = get_as<std::size_t>(v, key);
      else if (key == "max_total_snapshot_bytes")
        config.max_total_snapshot_bytes = get_as<std::size_t>(v, key);
      else if (key == "etcd") {
        std::size_t budget = 1'000;
        auto parsed = parse_etcd_config(yaml_to_json(v, budget));
        if (auto* error = std::get_if<std::string>(&parsed)) throw ConfigError(*error);
        config.etcd = std::get<EtcdConfig>(std::move(parsed));
      } else if (key == "log_format")
        config.log_format = get_as<std::string>(v, key);
      else if (key == "trusted_proxies") {
        if (!v.IsSequence()) throw ConfigError("'trusted_proxies' must be a list of CIDRs");
        config.trusted_proxies = get_as<std::vector<std::string>>(v, key);
      } else if (key == "routes") {
        if (!v.IsSequence()) throw ConfigError("'routes' must be a list");
        std::set<std::string> ids;
        std::size_t budget = kMaxRouteValues;
        for (std::size_t i = 0; i < v.size(); ++i) {
          nlohmann::json object;
          try {
            object = yaml_to_json(v[i], budget);
          } catch (const ConfigError& e) {
            throw ConfigError("routes[" + std::to_string(i) + "]: " + e.what());
          }
          if (!object.is_object() || !object.contains("id") ||
              !(object["id"].is_string() || object["id"].is_number_integer())) {
            throw ConfigError("routes[" + std::to_string(i) + "]: 'id' (string) is required");
          }
          std::string id = object["id"].is_string() ? object["id"].get<std::string>()
                                                    : std::to_string(object["id"].get<long long>());
          object.erase("id");
          if (!ids.insert(id).second) {
            throw ConfigError("routes[" + std::to_string(i) + "]: duplicate id '" + id + "'");
          }
          auto parsed = parse_route(object, id);
          if (auto* error = std::get_if<std::string>(&parsed)) {
            throw ConfigError("routes[" + std::to_string(i) + "] (id '" + id + "'): " + *error);
          }
          config.routes.push_back(std::get<Route>(std::move(parsed)));
        }
      }
    }
  } catch (const ConfigError& e) {
    throw ConfigError(path + ": " + e.what());
  } catch (const YAML::Exception& e) {
    // Whatever else yaml-cpp rejects while reading the document is still a configuration error.
    throw ConfigError(path + ": " + e.what());
  }
}

}  // namespace

void load_yaml_file(const std::string& path, GatewayConfig& config) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::BadFile&) {
    throw ConfigError(path + ": cannot open the file");
  } catch (const YAML::Exception& e) {
    throw ConfigError(path + ": not valid YAML: " + e.what());
  }
  apply_yaml(root, path, config);
}

void load_yaml_string(const std::string& text, const std::string& origin, GatewayConfig& config) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    throw ConfigError(origin + ": not valid YAML: " + e.what());
  }
  apply_yaml(root, origin, config);
}

void validate(const GatewayConfig& c) {
  if (!parse_host_port(c.listen, true))
    throw ConfigError("--listen: '" + c.listen + "' is not HOST:PORT");
  if (!parse_host_port(c.admin_listen, true)) {
    throw ConfigError("--admin-listen: '" + c.admin_listen + "' is not HOST:PORT");
  }
  if (!c.status_listen.empty() && !parse_host_port(c.status_listen, true)) {
    throw ConfigError("--status-listen: '" + c.status_listen + "' is not HOST:PORT");
  }
  if (c.tls_cert_file.empty() != c.tls_key_file.empty()) {
    throw ConfigError(
        "--tls-cert and --tls-key go together: give both, or neither for plain ws://");
  }
  static const std::set<std::string> levels = {"trace", "debug", "info", "warn", "error", "off"};
  if (!levels.count(c.log_level)) {
    throw ConfigError("--log-level: '" + c.log_level +
                      "' is not one of trace, debug, info, warn, error, off");
  }
  if (c.log_format != "text" && c.log_format != "json") {
    throw ConfigError("--log-format: '" + c.log_format + "' is not one of text, json");
  }
  const auto proxies = TrustedProxies::parse(c.trusted_proxies);
  if (const auto* error = std::get_if<std::string>(&proxies)) throw ConfigError(*error);
  auto range = [](const char* name, long long value, long long lo, long long hi) {
    if (value < lo || value > hi) {
      throw ConfigError(std::string(name) + ": " + std::to_string(value) + " is outside " +
                        std::to_string(lo) + ".." + std::to_string(hi));
    }
  };
  range("--io-threads", c.io_threads, 0, 256);
  range("--kafka-threads", c.kafka_threads, 1, 256);
  range("--max-frame-bytes", static_cast<long long>(c.max_frame_bytes), 1024, 1LL << 30);
  range("--fetch-max-bytes", static_cast<long long>(c.fetch_max_bytes), 1024, 1LL << 30);
  range("--fetch-max-wait-ms", c.fetch_max_wait_ms, 0, 60'000);
  // Reading (requests and pushed records) pauses at half the write queue: one more reply of
  // fetch_max_bytes must still fit, or keeping up would be punished by closing the connection.
  if (c.max_write_queue_bytes < 2 * c.fetch_max_bytes) {
    throw ConfigError("max_write_queue_bytes (" + std::to_string(c.max_write_queue_bytes) +
                      ") must be at least twice fetch_max_bytes (" +
                      std::to_string(c.fetch_max_bytes) + ")");
  }
  range("--max-write-queue-bytes", static_cast<long long>(c.max_write_queue_bytes), 64 * 1024,
        1LL << 32);
  range("--max-inflight-requests", c.max_inflight_requests, 1, 100'000);
  range("max_total_write_queue_bytes", static_cast<long long>(c.max_total_write_queue_bytes),
        64 * 1024, 1LL << 40);
  range("write_timeout_ms", c.write_timeout_ms, 100, 3'600'000);
  range("max_connections", c.max_connections, 1, 1'000'000);
  range("max_connections_per_address", c.max_connections_per_address, 1, 1'000'000);
  range("handshake_timeout_ms", c.handshake_timeout_ms, 100, 600'000);
  range("max_requests_per_second", c.max_requests_per_second, 0, 1'000'000);
  range("--kafka-timeout-ms", c.kafka_timeout_ms, 100, 600'000);
  range("kafka_produce_timeout_ms", c.kafka_produce_timeout_ms, 1000, 300'000);
  range("kafka_reader_idle_ms", c.kafka_reader_idle_ms, 100, 3'600'000);
  range("kafka_fetch_wait_ms", c.kafka_fetch_wait_ms, 1, 10'000);
  range("kafka_max_readers", c.kafka_max_readers, 1, 100'000);
  range("kafka_max_queued_requests", c.kafka_max_queued_requests, 16, 1'000'000);
  range("max_subscriptions", c.max_subscriptions, 1, 10'000);
  range("max_credit", c.max_credit, 1, 1'000'000);
  // (Announced in hello_resp as a 32-bit count.)
  range("max_snapshot_bytes", static_cast<long long>(c.max_snapshot_bytes), 64 * 1024,
        0xFFFF'FFFFLL);
  range("max_total_snapshot_bytes", static_cast<long long>(c.max_total_snapshot_bytes), 64 * 1024,
        1LL << 40);
  std::set<std::string> uris;
  for (const auto& r : c.routes) {
    for (const auto& u : r.uris) {
      if (!uris.insert(u).second)
        throw ConfigError("route '" + r.id + "': uri '" + u + "' is used by two routes");
    }
  }
}

}  // namespace kpg::config
