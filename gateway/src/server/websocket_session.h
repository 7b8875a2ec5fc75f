// One PubSub WebSocket connection (internal to server/).
#pragma once

#include "server/authenticator.h"
#include "server/server_context.h"

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

namespace kpg::server {

/// Takes over an upgraded connection: completes the handshake and serves PubSub commands on
/// `route` until either side closes. One overload per transport: plain TCP (ws://) and TLS
/// (wss://, after the TLS handshake). `identity` is who the upgrade authenticated as (nullptr on
/// a route without authentication); a credential that expires closes the session then (1008).
void run_websocket_session(boost::asio::ip::tcp::socket socket,
                           boost::beast::http::request<boost::beast::http::string_body> request,
                           const server::ActiveRoute& route, ServerContext& context,
                           std::string client, ConnectionSlot slot,
                           std::shared_ptr<const ClientIdentity> identity,
                           RouteLimiter::Admission admission = {});
void run_websocket_session(boost::beast::ssl_stream<boost::beast::tcp_stream> stream,
                           boost::beast::http::request<boost::beast::http::string_body> request,
                           const server::ActiveRoute& route, ServerContext& context,
                           std::string client, ConnectionSlot slot,
                           std::shared_ptr<const ClientIdentity> identity,
                           RouteLimiter::Admission admission = {});

}  // namespace kpg::server
