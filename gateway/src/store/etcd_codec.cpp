#include "store/etcd_codec.h"

#include <openssl/evp.h>

#include <nlohmann/json.hpp>

namespace kpg::store {

using nlohmann::json;

namespace {

// Responses from etcd are trusted less than its operator would think: a proxy, a wrong port or a
// damaged value must give an error, not an exception.
std::optional<json> parse_json(std::string_view text) {
  auto parsed = json::parse(text, nullptr, false);
  if (parsed.is_discarded() || !parsed.is_object()) return std::nullopt;
  return parsed;
}

// 64-bit integers travel as strings ("123"); absent means 0 (proto3 omits zero values).
std::optional<std::int64_t> int_field(const json& object, const char* name) {
  if (!object.contains(name)) return 0;
  const json& v = object[name];
  if (v.is_number_integer()) return v.get<std::int64_t>();
  if (!v.is_string()) return std::nullopt;
  try {
    std::size_t used = 0;
    const auto s = v.get<std::string>();
    const long long n = std::stoll(s, &used);
    if (used != s.size()) return std::nullopt;
    return n;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

bool bool_field(const json& object, const char* name) {
  return object.contains(name) && object[name].is_boolean() && object[name].get<bool>();
}

EtcdError bad(const std::string& what) {
  return {EtcdErrc::bad_response, "etcd answered an unexpected " + what};
}

std::optional<KeyValue> key_value(const json& kv) {
  if (!kv.is_object() || !kv.contains("key") || !kv["key"].is_string()) return std::nullopt;
  KeyValue out;
  auto key = base64_decode(kv["key"].get<std::string>());
  if (!key) return std::nullopt;
  out.key = std::move(*key);
  if (kv.contains("value")) {
    if (!kv["value"].is_string()) return std::nullopt;
    auto value = base64_decode(kv["value"].get<std::string>());
    if (!value) return std::nullopt;
    out.value = std::move(*value);
  }
  const auto rev = int_field(kv, "mod_revision");
  if (!rev) return std::nullopt;
  out.mod_revision = *rev;
  return out;
}

std::optional<std::int64_t> header_revision(const json& object) {
  if (!object.contains("header") || !object["header"].is_object()) return std::nullopt;
  return int_field(object["header"], "revision");
}

}  // namespace

std::string base64_encode(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3), '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(bytes.data()),
                                static_cast<int>(bytes.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

std::optional<std::string> base64_decode(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  if (text.empty()) return std::string();
  std::string out(3 * text.size() / 4, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(text.data()),
                                static_cast<int>(text.size()));
  if (n < 0) return std::nullopt;
  // EVP_DecodeBlock counts the padding as zero bytes.
  std::size_t size = static_cast<std::size_t>(n);
  if (text.back() == '=') --size;
  if (text[text.size() - 2] == '=') --size;
  out.resize(size);
  return out;
}

std::string prefix_range_end(std::string prefix) {
  // The smallest key greater than every key with this prefix: the last byte that is not 0xff,
  // plus one, with what follows it dropped.
  while (!prefix.empty()) {
    auto& last = reinterpret_cast<unsigned char&>(prefix.back());
    if (last < 0xff) {
      ++last;
      return prefix;
    }
    prefix.pop_back();
  }
  return std::string(1, '\0');  // every key
}

std::string range_request(const std::string& prefix) {
  return json{{"key", base64_encode(prefix)},
              {"range_end", base64_encode(prefix_range_end(prefix))}}
      .dump();
}

std::string put_request(const std::string& key, const std::string& value) {
  return json{{"key", base64_encode(key)}, {"value", base64_encode(value)}}.dump();
}

std::string delete_request(const std::string& key) {
  return json{{"key", base64_encode(key)}}.dump();
}

std::string watch_request(const std::string& prefix, std::int64_t start_revision) {
  return json{{"create_request",
               {{"key", base64_encode(prefix)},
                {"range_end", base64_encode(prefix_range_end(prefix))},
                {"start_revision", std::to_string(start_revision)}}}}
      .dump();
}

std::string authenticate_request(const std::string& user, const std::string& password) {
  return json{{"name", user}, {"password", password}}.dump();
}

EtcdResult<RangeResult> parse_range(std::string_view body) {
  auto object = parse_json(body);
  if (!object) return bad("range response");
  RangeResult out;
  const auto rev = header_revision(*object);
  if (!rev) return bad("range response (no revision)");
  out.revision = *rev;
  if (object->contains("kvs")) {
    const json& kvs = (*object)["kvs"];
    if (!kvs.is_array()) return bad("range response (kvs)");
    for (const auto& kv : kvs) {
      auto parsed = key_value(kv);
      if (!parsed) return bad("range response (a key-value)");
      out.kvs.push_back(std::move(*parsed));
    }
  }
  return out;
}

EtcdResult<std::int64_t> parse_revision(std::string_view body) {
  auto object = parse_json(body);
  if (!object) return bad("response");
  const auto rev = header_revision(*object);
  if (!rev) return bad("response (no revision)");
  return *rev;
}

EtcdResult<std::string> parse_token(std::string_view body) {
  auto object = parse_json(body);
  if (!object || !object->contains("token") || !(*object)["token"].is_string())
    return bad("authenticate response");
  return (*object)["token"].get<std::string>();
}

EtcdResult<WatchResponse> parse_watch_line(std::string_view line) {
  auto object = parse_json(line);
  if (!object) return bad("watch response");
  if (object->contains("error")) return error_of(200, line);
  if (!object->contains("result") || !(*object)["result"].is_object())
    return bad("watch response (no result)");
  const json& result = (*object)["result"];
  WatchResponse out;
  out.revision = header_revision(result).value_or(0);
  out.created = bool_field(result, "created");
  out.canceled = bool_field(result, "canceled");
  const auto compact = int_field(result, "compact_revision");
  if (!compact) return bad("watch response (compact_revision)");
  out.compact_revision = *compact;
  if (result.contains("cancel_reason") && result["cancel_reason"].is_string())
    out.cancel_reason = result["cancel_reason"].get<std::string>();
  if (result.contains("events")) {
    if (!result["events"].is_array()) return bad("watch response (events)");
    for (const auto& event : result["events"]) {
      if (!event.is_object() || !event.contains("kv")) return bad("watch event");
      auto kv = key_value(event["kv"]);
      if (!kv) return bad("watch event (kv)");
      const bool deleted = event.contains("type") && event["type"] == "DELETE";
      out.events.push_back({deleted, std::move(*kv)});
    }
  }
  return out;
}

EtcdError error_of(int http_status, std::string_view body) {
  auto object = parse_json(body);
  if (!object) {
    return {EtcdErrc::bad_response, "etcd answered HTTP " + std::to_string(http_status) +
                                        " with a body that is not etcd's JSON"};
  }
  // gRPC codes: 16 UNAUTHENTICATED, 7 PERMISSION_DENIED, 14 UNAVAILABLE, 4 DEADLINE_EXCEEDED.
  const auto code = int_field(*object, "code").value_or(0);
  std::string message = "etcd: ";
  if (object->contains("error") && (*object)["error"].is_string())
    message += (*object)["error"].get<std::string>();
  else
    message += "HTTP " + std::to_string(http_status);
  if (code == 16 || code == 7) return {EtcdErrc::unauthorized, message};
  if (code == 14 || code == 4) return {EtcdErrc::unavailable, message};
  return {EtcdErrc::refused, message};
}

}  // namespace kpg::store
