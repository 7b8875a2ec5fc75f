// The admin API's semantics, APISIX v3 compatible (no I/O: admin_server.cpp feeds requests in).
//   PUT    /apisix/admin/routes/{id}     create or replace (201 created, 200 replaced)
//   POST   /apisix/admin/routes          create with a server-chosen id (201)
//   GET    /apisix/admin/routes[/{id}]   read (secrets masked)
//   DELETE /apisix/admin/routes/{id}
//   PUT    /apisix/admin/consumers[/{username}]  create or replace (username in the body or URL)
//   GET    /apisix/admin/consumers[/{username}]  read (key-auth key, jwt-auth secret: "******")
//   DELETE /apisix/admin/consumers/{username}
// Every request needs the header X-API-KEY.
#pragma once

#include "server/consumer_manager.h"
#include "server/route_manager.h"

#include <string>

namespace kpg::admin {

struct AdminRequest {
  std::string method;
  std::string target;
  std::optional<std::string> api_key;  ///< X-API-KEY header, when present
  std::string body;
};

struct AdminResponse {
  int status;
  std::string body;  ///< JSON
};

class AdminApi {
 public:
  AdminApi(server::RouteManager& routes, server::ConsumerManager& consumers, std::string api_key);
  /// Thread-safe. Never throws.
  AdminResponse handle(const AdminRequest& request) const;

 private:
  AdminResponse handle_consumers(const AdminRequest& request, const std::string& username) const;

  server::RouteManager& routes_;
  server::ConsumerManager& consumers_;
  std::string api_key_;
};

/// The admin key: KPG_ADMIN_KEY, else `configured`, else the key stored in
/// `data_dir`/admin.key, else a new random key stored there (mode 0600); `generated` tells the
/// caller to say where it is (the key itself never goes to the output, which ends up in logs).
/// Throws std::runtime_error when the key file cannot be read/written.
std::string resolve_admin_key(const char* env_value, const std::string& configured,
                              const std::string& data_dir, bool* generated);

}  // namespace kpg::admin
