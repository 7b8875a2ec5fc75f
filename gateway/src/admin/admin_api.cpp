#include "admin/admin_api.h"

#include <filesystem>
#include <fstream>
#include <random>
#include <stdexcept>
#include <variant>

namespace kpg::admin {

using nlohmann::json;

namespace {

constexpr std::string_view kPrefix = "/apisix/admin/routes";
constexpr std::string_view kConsumersPrefix = "/apisix/admin/consumers";

AdminResponse reply(int status, const json& body) {
  // Messages can quote what the client sent (a route id, a parse error): invalid UTF-8 there is
  // replaced, never thrown out of the handler.
  return {status, body.dump(-1, ' ', false, json::error_handler_t::replace)};
}
AdminResponse error(int status, const std::string& message) {
  return reply(status, json{{"error_msg", message}});
}

bool same_key(const std::string& a, const std::string& b) {
  // Constant time in the length of the expected key.
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (std::size_t i = 0; i < b.size(); ++i) {
    diff |= static_cast<unsigned char>((i < a.size() ? a[i] : 0) ^ b[i]);
  }
  return diff == 0;
}

// The id after `prefix` in `path` ("" for the collection itself); nullopt when `path` is not
// under `prefix`.
std::optional<std::string> id_under(std::string_view path, std::string_view prefix) {
  if (path.substr(0, prefix.size()) != prefix) return std::nullopt;
  std::string_view rest = path.substr(prefix.size());
  if (rest.empty()) return std::string();
  if (rest.front() != '/') return std::nullopt;
  rest.remove_prefix(1);
  if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  return std::string(rest);
}

// Nesting is bounded while parsing: a body of "[[[[..." must cost neither stack nor memory.
std::optional<AdminResponse> parse_body(const AdminRequest& request, json& out) {
  auto parsed = config::parse_json_bounded(request.body);
  if (auto* message = std::get_if<std::string>(&parsed)) {
    return error(400, "invalid request body: " + *message);
  }
  out = std::get<json>(std::move(parsed));
  return std::nullopt;
}

AdminResponse outcome(const server::RouteManager::Outcome& o) {
  return reply(o.status, o.body);
}

}  // namespace

AdminApi::AdminApi(server::RouteManager& routes, server::ConsumerManager& consumers,
                   std::string api_key)
    : routes_(routes), consumers_(consumers), api_key_(std::move(api_key)) {}

AdminResponse AdminApi::handle_consumers(const AdminRequest& request,
                                         const std::string& username) const {
  const std::string& m = request.method;
  if (m == "PUT") {
    json body;
    if (auto bad = parse_body(request, body)) return *bad;
    return outcome(consumers_.put(
        username.empty() ? std::nullopt : std::optional<std::string>(username), body));
  }
  if (username.empty()) {
    if (m == "GET") return outcome(consumers_.list());
    return error(405, "method " + m + " is not allowed on " + std::string(kConsumersPrefix));
  }
  if (m == "GET") return outcome(consumers_.get(username));
  if (m == "DELETE") return outcome(consumers_.remove(username));
  return error(405, "method " + m + " is not allowed on a consumer");
}

AdminResponse AdminApi::handle(const AdminRequest& request) const {
  if (!request.api_key || !same_key(*request.api_key, api_key_)) {
    return error(401, request.api_key ? "failed to check token: wrong X-API-KEY"
                                      : "failed to check token: missing X-API-KEY header");
  }
  std::string_view path = request.target;
  path = path.substr(0, path.find('?'));
  if (auto username = id_under(path, kConsumersPrefix)) {
    return handle_consumers(request, *username);
  }
  const auto route_id = id_under(path, kPrefix);
  if (!route_id) return error(404, "not found");
  const std::string& id = *route_id;

  const std::string& m = request.method;
  if (id.empty()) {
    if (m == "GET") return outcome(routes_.list());
    if (m == "POST") {
      json body;
      if (auto bad = parse_body(request, body)) return *bad;
      return outcome(routes_.create(body));
    }
    return error(405, "method " + m + " is not allowed on " + std::string(kPrefix));
  }
  if (m == "GET") return outcome(routes_.get(id));
  if (m == "DELETE") return outcome(routes_.remove(id));
  if (m == "PUT") {
    json body;
    if (auto bad = parse_body(request, body)) return *bad;
    return outcome(routes_.put(id, body));
  }
  return error(405, "method " + m + " is not allowed on a route");
}

std::string resolve_admin_key(const char* env_value, const std::string& configured,
                              const std::string& data_dir, bool* generated) {
  if (generated) *generated = false;
  if (env_value && *env_value) return env_value;
  if (!configured.empty()) return configured;
  const auto path = std::filesystem::path(data_dir) / "admin.key";
  if (std::filesystem::exists(path)) {
    std::ifstream in(path);
    std::string key;
    std::getline(in, key);
    if (!in && !in.eof()) throw std::runtime_error(path.string() + ": cannot read the admin key");
    if (key.size() < 16) {
      throw std::runtime_error(path.string() +
                               ": the admin key there is shorter than 16 characters");
    }
    return key;
  }
  std::random_device random;
  static constexpr char hex[] = "0123456789abcdef";
  std::string key;
  for (int i = 0; i < 32; ++i) key += hex[random() % 16];
  // Whole or absent even after a crash (a half-written key would stop every later start).
  try {
    server::write_file_atomically(path.string(), key + "\n");
  } catch (const server::StoreError& e) {
    throw std::runtime_error(std::string("cannot store the admin key: ") + e.what());
  }
  if (generated) *generated = true;
  return key;
}

}  // namespace kpg::admin
