// HTTP transport of the admin API (Boost.Beast), on --admin-listen.
#pragma once

#include "admin/admin_api.h"

#include <boost/asio/ip/tcp.hpp>

namespace kpg::admin {

/// Serves admin requests on `socket` (keep-alive) until the peer closes. `api` must outlive it.
void run_admin_session(boost::asio::ip::tcp::socket socket, const AdminApi& api);

}  // namespace kpg::admin
