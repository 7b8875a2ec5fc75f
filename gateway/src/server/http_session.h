// Plain HTTP on the data plane: routes WebSocket upgrades to PubSub sessions and answers
// everything else (400 on a PubSub route without upgrade, 404 elsewhere).
#pragma once

#include "server/server_context.h"

#include <boost/asio/ip/tcp.hpp>

namespace kpg::server {

void run_http_session(boost::asio::ip::tcp::socket socket, ServerContext& context);

}  // namespace kpg::server
