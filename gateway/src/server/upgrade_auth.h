// The authentication step of a WebSocket upgrade: runs the route's key-auth / jwt-auth against
// the live consumers and logs refusals (rate limited per client address, never the credential).
#pragma once

#include "server/authenticator.h"
#include "server/server_context.h"

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include <memory>
#include <string>
#include <variant>

namespace kpg::server {

/// The identity to keep on the session (nullptr when the route requires none), or the refusal
/// to answer with (status, and the body {"message": ...}).
using UpgradeAuthorization = std::variant<std::shared_ptr<const ClientIdentity>, AuthRefusal>;

UpgradeAuthorization authorize_upgrade(
    const boost::beast::http::request<boost::beast::http::string_body>& request,
    const ActiveRoute& route, ServerContext& context, const std::string& client);

}  // namespace kpg::server
