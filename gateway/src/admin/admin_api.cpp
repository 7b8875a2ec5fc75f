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

}  // namespace

AdminApi::AdminApi(server::RouteManager& routes, std::string api_key)
    : routes_(routes), api_key_(std::move(api_key)) {}

AdminResponse AdminApi::handle(const AdminRequest& request) const {
  if (!request.api_key || !same_key(*request.api_key, api_key_)) {
    return error(401, request.api_key ? "failed to check token: wrong X-API-KEY"
                                      : "failed to check token: missing X-API-KEY header");
  }
  std::string_view path = request.target;
  path = path.substr(0, path.find('?'));
  if (path.substr(0, kPrefix.size()) != kPrefix) return error(404, "not found");
  std::string_view rest = path.substr(kPrefix.size());
  std::string id;
  if (!rest.empty()) {
    if (rest.front() != '/') return error(404, "not found");
    rest.remove_prefix(1);
    if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
    id = std::string(rest);
  }

  // Nesting is bounded while parsing: a body of "[[[[..." must cost neither stack nor memory.
  auto parse_body = [&](json& out) -> std::optional<AdminResponse> {
    auto parsed = config::parse_json_bounded(request.body);
    if (auto* message = std::get_if<std::string>(&parsed)) {
      return error(400, "invalid request body: " + *message);
    }
    out = std::get<json>(std::move(parsed));
    return std::nullopt;
  };
  auto outcome = [](const server::RouteManager::Outcome& o) { return reply(o.status, o.body); };

  const std::string& m = request.method;
  if (id.empty()) {
    if (m == "GET") return outcome(routes_.list());
    if (m == "POST") {
      json body;
      if (auto bad = parse_body(body)) return *bad;
      return outcome(routes_.create(body));
    }
    return error(405, "method " + m + " is not allowed on " + std::string(kPrefix));
  }
  if (m == "GET") return outcome(routes_.get(id));
  if (m == "DELETE") return outcome(routes_.remove(id));
  if (m == "PUT") {
    json body;
    if (auto bad = parse_body(body)) return *bad;
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
