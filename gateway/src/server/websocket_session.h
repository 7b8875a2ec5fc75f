// One PubSub WebSocket connection (internal to server/).
#pragma once

#include "server/server_context.h"

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

namespace kpg::server {

/// Takes over an upgraded connection: completes the handshake and serves PubSub commands on
/// `route` until either side closes.
void run_websocket_session(boost::asio::ip::tcp::socket socket,
                           boost::beast::http::request<boost::beast::http::string_body> request,
                           const config::ActiveRoute& route, ServerContext& context,
                           std::string client);

}  // namespace kpg::server
