#include "server/upgrade_auth.h"

#include "server/listener.h"

#include <spdlog/spdlog.h>

#include <chrono>

namespace kpg::server {

UpgradeAuthorization authorize_upgrade(
    const boost::beast::http::request<boost::beast::http::string_body>& request,
    const ActiveRoute& route, ServerContext& context, const std::string& client) {
  const config::RouteAuth& auth = route.route->auth;
  if (!auth.required()) return std::shared_ptr<const ClientIdentity>();
  const auto consumers = context.consumers.load();
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  AuthDecision decision = authenticate(request.base(), request.target(), auth, *consumers, now);
  if (auto* identity = std::get_if<ClientIdentity>(&decision)) {
    return std::make_shared<const ClientIdentity>(std::move(*identity));
  }
  auto& refusal = std::get<AuthRefusal>(decision);
  // One line per address and second at most: a client retrying in a loop must not flood the log.
  if (const auto count = context.client_log.admit("auth_refused " + peer_ip(client))) {
    spdlog::warn("event=auth_refused route={} client={} plugin={} status={} reason=\"{}\" count={}",
                 route.route->id, client, refusal.plugin, refusal.status, refusal.message, *count);
  }
  return std::move(refusal);
}

}  // namespace kpg::server
