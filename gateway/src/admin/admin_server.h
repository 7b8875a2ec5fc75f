// HTTP transport of the admin API (Boost.Beast), on --admin-listen, and of the status endpoints
// (status_endpoints.h) there and on the optional status listener.
#pragma once

#include "admin/admin_api.h"
#include "server/metrics.h"

#include <boost/asio/ip/tcp.hpp>

namespace kpg::admin {

/// Serves admin requests on `socket` (keep-alive) until the peer closes: /metrics, /healthz and
/// /readyz without a key, everything else through `api`. `api` nullptr (the status listener):
/// only the status endpoints, 404 for the rest. Both must outlive the session.
void run_admin_session(boost::asio::ip::tcp::socket socket, const AdminApi* api,
                       server::Metrics& metrics);

}  // namespace kpg::admin
