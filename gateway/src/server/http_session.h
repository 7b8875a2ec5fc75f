// Plain HTTP on the data plane: routes WebSocket upgrades to PubSub sessions and answers
// everything else (400 on a PubSub route without upgrade, or the upgrade's 401 / 403 to a GET
// that would not pass its checks; 404 elsewhere).
#pragma once

#include "server/server_context.h"

#include <boost/asio/ip/tcp.hpp>

namespace kpg::server {

/// `slot` counts the connection against the limits for as long as it lives (upgraded or not).
void run_http_session(boost::asio::ip::tcp::socket socket, ServerContext& context,
                      ConnectionSlot slot);

}  // namespace kpg::server
