#include "config/route.h"

#include "config/route_groups.h"
#include "config/validation.h"

#include <algorithm>
#include <cctype>
#include <initializer_list>
#include <utility>

namespace kpg::config {

using nlohmann::json;
using validation::Invalid;
using validation::invalid;
using validation::only_known;

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

bool Route::matches_host(std::string_view host_header) const {
  if (hosts.empty()) return true;
  // Like nginx's $host, which APISIX matches on: the port is dropped, case does not matter.
  std::string_view name = host_header;
  if (!name.empty() && name.front() == '[') {
    name =
        name.substr(0, name.find(']') == std::string_view::npos ? name.size() : name.find(']') + 1);
  } else if (const auto colon = name.find(':'); colon != std::string_view::npos) {
    name = name.substr(0, colon);
  }
  auto iequal = [](std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
             return std::tolower(static_cast<unsigned char>(x)) ==
                    std::tolower(static_cast<unsigned char>(y));
           });
  };
  for (const std::string& host : hosts) {
    if (host.front() == '*') {
      // "*.example.com": any name ending in ".example.com" (at least one character before it).
      const std::string_view suffix = std::string_view(host).substr(1);
      if (name.size() > suffix.size() && iequal(name.substr(name.size() - suffix.size()), suffix)) {
        return true;
      }
    } else if (iequal(name, host)) {
      return true;
    }
  }
  return false;
}

namespace {

// Counts nesting while nlohmann's parser (an explicit state machine, not recursion) reads, and
// stops it at the limit, before any tree is built.
class DepthLimit final : public json::json_sax_t {
 public:
  explicit DepthLimit(std::size_t max_depth) : max_depth_(max_depth) {}
  std::string error;

  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t) override { return true; }
  bool number_unsigned(number_unsigned_t) override { return true; }
  bool number_float(number_float_t, const string_t&) override { return true; }
  bool string(string_t&) override { return true; }
  bool binary(binary_t&) override { return true; }
  bool key(string_t&) override { return true; }
  bool start_object(std::size_t) override { return enter(); }
  bool end_object() override { return leave(); }
  bool start_array(std::size_t) override { return enter(); }
  bool end_array() override { return leave(); }
  bool parse_error(std::size_t, const std::string&, const json::exception& e) override {
    error = e.what();
    return false;
  }

 private:
  bool enter() {
    if (++depth_ <= max_depth_) return true;
    error = "JSON nested deeper than " + std::to_string(max_depth_) + " levels (kpg's limit)";
    return false;
  }
  bool leave() {
    --depth_;
    return true;
  }
  std::size_t max_depth_;
  std::size_t depth_ = 0;
};

// True when `value` nests deeper than `max_depth` (iterative: `value` may be hostile).
bool deeper_than(const json& value, std::size_t max_depth) {
  std::vector<std::pair<const json*, std::size_t>> pending{{&value, 0}};
  while (!pending.empty()) {
    const auto [node, depth] = pending.back();
    pending.pop_back();
    if (!node->is_structured()) continue;
    if (depth + 1 > max_depth) return true;
    for (const auto& child : *node) pending.emplace_back(&child, depth + 1);
  }
  return false;
}

}  // namespace

std::variant<json, std::string> parse_json_bounded(std::string_view text, std::size_t max_depth) {
  DepthLimit limit(max_depth);
  if (!json::sax_parse(text, &limit)) return limit.error;
  try {
    return json::parse(text);
  } catch (const json::exception& e) {  // not expected: the first pass accepted the text
    return std::string(e.what());
  }
}

namespace {

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

// APISIX's metadata fields (name, desc, labels): stored and shown, with APISIX's limits.
void check_metadata(const json& object, const std::string& prefix) {
  if (object.contains("name")) {
    const auto name = require_string(object.at("name"), prefix + "name");
    if (name.size() > 100)
      invalid(prefix + "name", "validation failed: longer than 100 characters");
  }
  if (object.contains("desc")) {
    const auto desc = require_string(object.at("desc"), prefix + "desc", false);
    if (desc.size() > 256)
      invalid(prefix + "desc", "validation failed: longer than 256 characters");
  }
  if (object.contains("labels")) {
    const json& labels = object.at("labels");
    if (!labels.is_object() || labels.empty()) {
      invalid(prefix + "labels", "validation failed: expected a non-empty object of strings");
    }
    for (const auto& [key, value] : labels.items()) {
      const auto text = require_string(value, prefix + "labels." + key);
      if (key.size() > 256 || text.size() > 256) {
        invalid(prefix + "labels." + key, "validation failed: longer than 256 characters");
      }
    }
  }
}

// APISIX's host pattern: an optional leading '*' (a wildcard label), then name characters.
void check_host(const std::string& host, const std::string& path) {
  const std::string_view name = host.front() == '*' ? std::string_view(host).substr(1) : host;
  const bool valid =
      !name.empty() && host.size() <= 253 && std::all_of(name.begin(), name.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_' ||
               c == '[' || c == ']' || c == ':';
      });
  if (!valid) invalid(path, "validation failed: \"" + host + "\" is not a valid host name");
  if (host.front() == '*' && name.front() != '.') {
    invalid(path, "validation failed: \"" + host + "\": a wildcard is \"*.\" then a domain");
  }
}

void check_uri(const std::string& uri, const std::string& path) {
  if (uri.empty() || uri.front() != '/') invalid(path, "validation failed: must start with '/'");
  if (uri.size() > 4096) invalid(path, "validation failed: longer than 4096 characters");
}

// APISIX's pairs such as "uri" (one string) / "uris" (a non-empty array of strings): the values
// of whichever is present, each checked by `check`; none when neither is.
std::vector<std::string> one_or_many(const json& object, const std::string& single,
                                     const std::string& plural,
                                     void (*check)(const std::string&, const std::string&)) {
  std::vector<std::string> values;
  if (object.contains(single)) {
    values.push_back(require_string(object.at(single), single));
    check(values.back(), single);
  } else if (object.contains(plural)) {
    const json& array = object.at(plural);
    if (!array.is_array() || array.empty()) {
      invalid(plural, "validation failed: expected a non-empty array of strings");
    }
    for (const auto& item : array) {
      values.push_back(require_string(item, plural));
      check(values.back(), plural);
    }
  }
  return values;
}

// A route setting's value quoted in an error message: at most 64 bytes of it.
std::string excerpt(const std::string& text) {
  return "\"" + text.substr(0, 64) + (text.size() > 64 ? "...\"" : "\"");
}

// kpg's topic ACL: `plugins.kafka-proxy.topics`, a list of topic names, prefix patterns ("name*")
// and claim entries ({"claim": "name"}); `plugins` tells whether jwt-auth is there to verify
// those claims.
TopicAcl parse_topics(const json& topics, const json& plugins,
                      const std::string& path = "plugins.kafka-proxy.topics") {
  if (!topics.is_array() || topics.empty()) {
    invalid(path,
            "validation failed: expected a non-empty array of topic names, patterns "
            "(\"name*\") and {\"claim\": \"name\"} objects");
  }
  if (topics.size() > TopicAcl::kMaxEntries) {
    invalid(path, "validation failed: more than " + std::to_string(TopicAcl::kMaxEntries) +
                      " entries (kpg's limit)");
  }
  TopicAcl acl;
  for (std::size_t i = 0; i < topics.size(); ++i) {
    const json& entry = topics[i];
    const std::string where = "validation failed: entry " + std::to_string(i + 1) + " ";
    if (entry.is_string()) {
      const auto& text = entry.get_ref<const std::string&>();
      if (!acl.add(text)) {
        invalid(path, where + excerpt(text) +
                          " is neither a topic name ([a-zA-Z0-9._-], 1-249 characters) nor a "
                          "prefix pattern (such a name's beginning then '*', or \"*\")");
      }
    } else if (entry.is_object()) {
      only_known(entry, {"claim"}, path + ".");
      const std::string claim_path = path + ".claim";
      const auto claim = require_string(require(entry, "claim", claim_path), claim_path);
      if (!acl.add_claim(claim)) {
        invalid(claim_path, where + excerpt(claim) + " is not a claim name (1-" +
                                std::to_string(TopicAcl::kMaxClaimNameLength) +
                                " printable ASCII characters)");
      }
    } else {
      invalid(path, where + "has the wrong type " + entry.type_name() +
                        ": expected a string or {\"claim\": \"name\"}");
    }
  }
  if (acl.uses_claims() && !plugins.contains("jwt-auth")) {
    invalid(path,
            "validation failed: a {\"claim\": ...} entry requires jwt-auth on the route "
            "(the claims of a verified token)");
  }
  return acl;
}

// kpg's `plugins.kafka-proxy.filter` (pinned_filter.h): a list of conditions, each
// {"key_equals" | "key_prefix": V}, {"header": "name", "equals": V} or
// {"json": "/pointer", "equals": V}, where V is a string or {"claim": "name"}.
PinnedFilter parse_filter(const json& filter, const json& plugins) {
  const std::string path = "plugins.kafka-proxy.filter";
  if (!filter.is_array() || filter.empty()) {
    invalid(path, "validation failed: expected a non-empty array of conditions");
  }
  if (filter.size() > PinnedFilter::kMaxConditions) {
    invalid(path, "validation failed: more than " + std::to_string(PinnedFilter::kMaxConditions) +
                      " conditions (kpg's limit)");
  }
  PinnedFilter pinned;
  for (std::size_t i = 0; i < filter.size(); ++i) {
    const json& entry = filter[i];
    const std::string where = path + "[" + std::to_string(i + 1) + "]";
    if (!entry.is_object()) {
      invalid(where, std::string("validation failed: wrong type: expected object, got ") +
                         entry.type_name());
    }
    PinnedFilter::Condition c;
    const json* operand = nullptr;
    std::string operand_path;
    if (entry.contains("key_equals") || entry.contains("key_prefix")) {
      const bool equals = entry.contains("key_equals");
      const std::string name = equals ? "key_equals" : "key_prefix";
      only_known(entry, {name}, where + ".");
      c.kind = equals ? PinnedFilter::Kind::key_equals : PinnedFilter::Kind::key_prefix;
      operand = &entry.at(name);
      operand_path = where + "." + name;
    } else if (entry.contains("header") || entry.contains("json")) {
      const bool header = entry.contains("header");
      const std::string name = header ? "header" : "json";
      only_known(entry, {name, "equals"}, where + ".");
      c.kind = header ? PinnedFilter::Kind::header_equals : PinnedFilter::Kind::json_equals;
      c.field = require_string(entry.at(name), where + "." + name, header);
      if (c.field.size() > 4096) invalid(where + "." + name, "validation failed: too long");
      if (!header && !c.field.empty() && c.field.front() != '/') {
        invalid(where + ".json", "validation failed: expected a JSON Pointer (\"\" or \"/a/b\")");
      }
      operand_path = where + ".equals";
      operand = &require(entry, "equals", operand_path);
    } else {
      invalid(where,
              "validation failed: expected one of \"key_equals\", \"key_prefix\", \"header\" "
              "or \"json\"");
    }
    if (operand->is_object()) {
      only_known(*operand, {"claim"}, operand_path + ".");
      c.claim = require_string(require(*operand, "claim", operand_path + ".claim"),
                               operand_path + ".claim");
      if (!TopicAcl::is_valid_claim_name(c.claim)) {
        invalid(operand_path + ".claim",
                "validation failed: " + excerpt(c.claim) + " is not a claim name (1-" +
                    std::to_string(TopicAcl::kMaxClaimNameLength) + " printable ASCII characters)");
      }
    } else {
      c.value = require_string(*operand, operand_path, c.kind == PinnedFilter::Kind::key_prefix);
      if (c.value.size() > 4096) invalid(operand_path, "validation failed: too long");
    }
    pinned.conditions.push_back(std::move(c));
  }
  if (pinned.uses_claims() && !plugins.contains("jwt-auth")) {
    invalid(path,
            "validation failed: a {\"claim\": ...} value requires jwt-auth on the route (the "
            "claims of a verified token)");
  }
  return pinned;
}

// kpg's `plugins.kafka-proxy.produce`: writing is off unless the route has it, and then limited
// to its own topic list.
ProducePolicy parse_produce(const json& produce, const json& plugins) {
  const std::string prefix = "plugins.kafka-proxy.produce.";
  if (!produce.is_object()) {
    invalid("plugins.kafka-proxy.produce", "validation failed: wrong type: expected object");
  }
  only_known(produce,
             {"topics", "max_record_bytes", "max_inflight_bytes", "max_records_per_second"},
             prefix);
  if (!produce.contains("topics")) {
    invalid(prefix + "topics",
            "is required: the topics the route's clients may write (\"*\" for every topic)");
  }
  ProducePolicy policy;
  policy.topics = parse_topics(produce.at("topics"), plugins, prefix + "topics");
  if (produce.contains("max_record_bytes")) {
    policy.max_record_bytes = static_cast<std::uint32_t>(validation::integer(
        produce, "max_record_bytes", prefix, 1, ProducePolicy::kMaxRecordBytes));
  }
  if (produce.contains("max_inflight_bytes")) {
    policy.max_inflight_bytes = static_cast<std::uint32_t>(validation::integer(
        produce, "max_inflight_bytes", prefix, 1, ProducePolicy::kMaxInflightBytes));
  }
  if (produce.contains("max_records_per_second")) {
    policy.max_records_per_second = static_cast<std::uint32_t>(
        validation::integer(produce, "max_records_per_second", prefix, 0, 1'000'000));
  }
  if (policy.max_inflight_bytes < policy.max_record_bytes) {
    invalid(prefix + "max_inflight_bytes",
            "validation failed: must be at least max_record_bytes (" +
                std::to_string(policy.max_record_bytes) + ")");
  }
  return policy;
}

// APISIX's cors plugin, as far as kpg implements it: `allow_origins` ("*", APISIX's default, or
// "https://a.example,https://b.example") and kpg's `kpg_require_origin`.
OriginPolicy parse_cors(const json& cors) {
  if (!cors.is_object()) invalid("plugins.cors", "validation failed: wrong type: expected object");
  only_known(cors, {"allow_origins", "kpg_require_origin"}, "plugins.cors.");
  OriginPolicy policy;
  const std::string path = "plugins.cors.allow_origins";
  const std::string origins =
      cors.contains("allow_origins") ? require_string(cors.at("allow_origins"), path) : "*";
  if (origins == "*") {
    policy.allow_any();
  } else {
    std::size_t count = 0;
    for (std::size_t start = 0; start <= origins.size();) {
      auto end = origins.find(',', start);
      if (end == std::string::npos) end = origins.size();
      std::string item = origins.substr(start, end - start);
      item.erase(0, item.find_first_not_of(' '));
      item.erase(item.find_last_not_of(' ') + 1);
      if (++count > OriginPolicy::kMaxOrigins) {
        invalid(path, "validation failed: more than " + std::to_string(OriginPolicy::kMaxOrigins) +
                          " origins (kpg's limit)");
      }
      if (!policy.add(item)) {
        invalid(path, "validation failed: " + excerpt(item) +
                          " is not an origin (scheme://host[:port]); the value is \"*\" or "
                          "origins separated by commas");
      }
      start = end + 1;
    }
  }
  if (cors.contains("kpg_require_origin")) {
    if (!cors.at("kpg_require_origin").is_boolean()) {
      invalid("plugins.cors.kpg_require_origin", "validation failed: wrong type: expected boolean");
    }
    policy.require_origin(cors.at("kpg_require_origin").get<bool>());
  }
  return policy;
}

Route parse(const json& object, std::string id) {
  if (!object.is_object()) invalid("route", "validation failed: wrong type: expected object");
  if (deeper_than(object, kMaxJsonDepth)) {
    invalid("route", "validation failed: nested deeper than " + std::to_string(kMaxJsonDepth) +
                         " levels (kpg's limit)");
  }
  only_known(
      object,
      {"uri", "uris", "upstream", "plugins", "status", "host", "hosts", "name", "desc", "labels"},
      "");
  check_metadata(object, "");
  Route route;
  route.id = std::move(id);

  if (object.contains("uri") == object.contains("uris"))
    invalid("uri", "validation failed: exactly one of \"uri\" and \"uris\" is required");
  route.uris = one_or_many(object, "uri", "uris", check_uri);

  if (object.contains("status")) {
    const json& status = object.at("status");
    if (!status.is_number_integer() ||
        (status.get<long long>() != 0 && status.get<long long>() != 1)) {
      invalid("status", "validation failed: expected 1 (enabled) or 0 (disabled)");
    }
    route.enabled = status.get<long long>() == 1;
  }
  if (object.contains("host") && object.contains("hosts")) {
    invalid("host", "validation failed: \"host\" and \"hosts\" cannot both be given");
  }
  route.hosts = one_or_many(object, "host", "hosts", check_host);

  const json& upstream = require(object, "upstream", "upstream");
  if (!upstream.is_object()) invalid("upstream", "validation failed: wrong type: expected object");
  only_known(upstream, {"scheme", "type", "nodes", "tls", "name", "desc", "labels"}, "upstream.");
  check_metadata(upstream, "upstream.");
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
      // The weight is accepted as in APISIX; kpg uses the nodes only to bootstrap.
      only_known(n, {"host", "port", "weight"}, "upstream.nodes.");
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
    only_known(tls, {"verify", "ca_file", "client_cert_file", "client_key_file"}, "upstream.tls.");
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
    for (const auto& [name, conf] : plugins.items()) {
      if (is_auth_plugin(name)) {
        if (auto error = parse_auth_plugin(name, conf, route.auth)) throw Invalid{*error};
        continue;
      }
      if (is_limit_plugin(name)) {
        const bool authenticated = plugins.contains("key-auth") || plugins.contains("jwt-auth");
        if (auto error = parse_limit_plugin(name, conf, authenticated, route.limits)) {
          throw Invalid{*error};
        }
        continue;
      }
      if (name != "kafka-proxy" && name != "cors") {
        throw Invalid{"invalid configuration: plugin \"" + name + "\" is not supported by kpg"};
      }
    }
    if (plugins.contains("cors")) route.cors = parse_cors(plugins.at("cors"));
    if (plugins.contains("kafka-proxy")) {
      const json& proxy = plugins.at("kafka-proxy");
      if (!proxy.is_object())
        invalid("kafka-proxy", "validation failed: wrong type: expected object");
      only_known(proxy, {"sasl", "topics", "produce", "groups", "filter"}, "plugins.kafka-proxy.");
      if (proxy.contains("topics")) route.topics = parse_topics(proxy.at("topics"), plugins);
      if (proxy.contains("produce")) route.produce = parse_produce(proxy.at("produce"), plugins);
      if (proxy.contains("groups")) route.groups = parse_groups(proxy.at("groups"));
      if (proxy.contains("filter")) {
        route.filter = parse_filter(proxy.at("filter"), plugins);
        // Group deliveries are not filtered: offering them would let a client around the filter.
        if (route.groups) {
          invalid("plugins.kafka-proxy.filter",
                  "validation failed: cannot be combined with plugins.kafka-proxy.groups "
                  "(consumer-group deliveries are not filtered)");
        }
      }
      if (proxy.contains("sasl")) {
        const json& sasl = proxy.at("sasl");
        if (!sasl.is_object()) invalid("sasl", "validation failed: wrong type: expected object");
        only_known(sasl, {"username", "password", "mechanism"}, "plugins.kafka-proxy.sasl.");
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
  route.definition = object;  // copied only once it is known to be small and well-formed
  return route;
}

}  // namespace

std::optional<std::string> unsupported_property(const json& object,
                                                std::initializer_list<std::string_view> known,
                                                const std::string& prefix) {
  for (const auto& [key, value] : object.items()) {
    if (std::find(known.begin(), known.end(), key) == known.end()) {
      return "invalid configuration: property \"" + prefix + key + "\" is not supported by kpg";
    }
  }
  return std::nullopt;
}

std::optional<std::string> metadata_error(const json& object) {
  try {
    check_metadata(object, "");
  } catch (const Invalid& e) {
    return e.message;
  }
  return std::nullopt;
}

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
