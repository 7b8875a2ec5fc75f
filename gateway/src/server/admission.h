// The data plane's door: every accepted connection is counted against max_connections and
// max_connections_per_address before any HTTP work is done for it.
#pragma once

#include "server/server_context.h"

#include <boost/asio/ip/tcp.hpp>

namespace kpg::server {

/// Serves `socket` (run_http_session) when the limits allow; otherwise answers HTTP 503 with the
/// reason and closes it (at once, without a reply, on TLS listeners or when too many refusals are
/// already being answered). Refusals are logged once per interval per address.
void admit_connection(boost::asio::ip::tcp::socket socket, ServerContext& context);

}  // namespace kpg::server
