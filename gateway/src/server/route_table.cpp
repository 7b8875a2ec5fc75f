#include "server/route_table.h"

namespace kpg::server {

RouteTable::RouteTable(std::vector<ActiveRoute> routes) : routes_(std::move(routes)) {}

const ActiveRoute* RouteTable::match(std::string_view path, std::string_view host) const {
  const ActiveRoute* best_prefix = nullptr;
  std::size_t best_len = 0;
  for (const auto& active : routes_) {
    if (!active.route->matches_host(host)) continue;
    for (const auto& uri : active.route->uris) {
      if (!uri.empty() && uri.back() == '*') {
        const std::string_view prefix(uri.data(), uri.size() - 1);
        if (path.substr(0, prefix.size()) == prefix && prefix.size() + 1 > best_len) {
          best_prefix = &active;
          best_len = prefix.size() + 1;
        }
      } else if (path == uri) {
        return &active;
      }
    }
  }
  return best_prefix;
}

}  // namespace kpg::server
