#include "config/route_limits.h"

#include "config/validation.h"

#include <initializer_list>
#include <string_view>

namespace kpg::config {

using nlohmann::json;
using validation::integer;
using validation::Invalid;
using validation::invalid;
using validation::only_known;

namespace {

const json& required(const json& conf, const char* key, const std::string& plugin) {
  if (!conf.contains(key)) {
    throw Invalid{"invalid configuration: property \"" + plugin +
                  "\" validation failed: property \"" + key + "\" is required"};
  }
  return conf.at(key);
}

LimitKey parse_key(const json& conf, const std::string& prefix, bool authenticated) {
  if (conf.contains("key_type")) {
    const json& type = conf.at("key_type");
    if (!type.is_string() || type.get<std::string>() != "var") {
      invalid(prefix + "key_type", "validation failed: kpg supports \"var\" only");
    }
  }
  if (!conf.contains("key")) return LimitKey::remote_addr;
  const json& key = conf.at("key");
  const std::string text = key.is_string() ? key.get<std::string>() : std::string();
  if (text == "remote_addr") return LimitKey::remote_addr;
  if (text == "consumer_name") {
    if (!authenticated) {
      invalid(prefix + "key",
              "validation failed: \"consumer_name\" needs key-auth or jwt-auth on the route");
    }
    return LimitKey::consumer_name;
  }
  invalid(prefix + "key",
          "validation failed: kpg counts by \"remote_addr\" or \"consumer_name\" only");
}

LimitRejection parse_rejection(const json& conf, const std::string& prefix) {
  LimitRejection rejection;
  if (conf.contains("rejected_code")) {
    rejection.status = integer(conf, "rejected_code", prefix, 200, 599);
  }
  if (conf.contains("rejected_msg")) {
    const json& message = conf.at("rejected_msg");
    if (!message.is_string() || message.get<std::string>().empty() ||
        message.get<std::string>().size() > 1024) {
      invalid(prefix + "rejected_msg", "validation failed: expected a string of 1-1024 bytes");
    }
    rejection.message = message.get<std::string>();
  }
  return rejection;
}

}  // namespace

bool is_limit_plugin(const std::string& name) {
  return name == "limit-conn" || name == "limit-count";
}

std::optional<std::string> parse_limit_plugin(const std::string& name, const json& conf,
                                              bool authenticated, RouteLimits& limits) {
  const std::string plugin = "plugins." + name;
  const std::string prefix = plugin + ".";
  try {
    if (!conf.is_object()) invalid(plugin, "validation failed: wrong type: expected object");
    if (name == "limit-conn") {
      only_known(conf,
                 {"conn", "burst", "default_conn_delay", "only_use_default_delay", "key_type",
                  "key", "rejected_code", "rejected_msg"},
                 prefix);
      LimitConnPlugin limit;
      required(conf, "conn", plugin);
      limit.conn = integer(conf, "conn", prefix, 1, 1'000'000);
      // APISIX requires burst and default_conn_delay. Upgrades beyond conn are refused at once,
      // never delayed, so only burst 0 (no delayed connections) means what it says.
      required(conf, "burst", plugin);
      if (integer(conf, "burst", prefix, 0, 1'000'000) != 0) {
        invalid(prefix + "burst",
                "validation failed: kpg refuses connections beyond conn at once, so burst must be "
                "0");
      }
      const json& delay = required(conf, "default_conn_delay", plugin);
      if (!delay.is_number() || delay.get<double>() <= 0) {
        invalid(prefix + "default_conn_delay", "validation failed: expected a number > 0");
      }
      if (conf.contains("only_use_default_delay") &&
          conf.at("only_use_default_delay") != json(false)) {
        invalid(prefix + "only_use_default_delay",
                "validation failed: kpg delays no connection, so only false is accepted");
      }
      required(conf, "key", plugin);
      limit.key = parse_key(conf, prefix, authenticated);
      limit.rejection = parse_rejection(conf, prefix);
      limits.limit_conn = limit;
    } else if (name == "limit-count") {
      only_known(conf,
                 {"count", "time_window", "key_type", "key", "rejected_code", "rejected_msg",
                  "policy", "show_limit_quota_header"},
                 prefix);
      LimitCountPlugin limit;
      required(conf, "count", plugin);
      limit.count = integer(conf, "count", prefix, 1, 1'000'000'000);
      required(conf, "time_window", plugin);
      limit.time_window = integer(conf, "time_window", prefix, 1, 86'400 * 366);
      limit.key = parse_key(conf, prefix, authenticated);
      limit.rejection = parse_rejection(conf, prefix);
      if (conf.contains("policy") && conf.at("policy") != json("local")) {
        invalid(prefix + "policy", "validation failed: kpg counts in the gateway: \"local\" only");
      }
      if (conf.contains("show_limit_quota_header")) {
        const json& show = conf.at("show_limit_quota_header");
        if (!show.is_boolean()) {
          invalid(prefix + "show_limit_quota_header", "validation failed: expected boolean");
        }
        limit.show_limit_quota_header = show.get<bool>();
      }
      limits.limit_count = limit;
    } else {
      return "invalid configuration: plugin \"" + name + "\" is not supported by kpg";
    }
  } catch (const Invalid& e) {
    return e.message;
  }
  return std::nullopt;
}

}  // namespace kpg::config
