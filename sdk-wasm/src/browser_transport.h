// Transport over the browser's WebSocket (<emscripten/websocket.h>). Main thread only.
#pragma once

#include <kpg/sdk/transport.h>

#include <functional>
#include <memory>
#include <string>

namespace kpg::sdk {

/// Asks `url` (http:// or https://) with a plain GET and completes with the HTTP status (0 when
/// none could be read: network error, or the answer is not readable by the page) and the body.
/// Completes asynchronously, once.
using HttpProbe =
    std::function<void(const std::string& url, std::function<void(int status, std::string body)>)>;

/// Credentials go in the URL's query (browsers cannot set headers on a WebSocket). A browser
/// tells a page nothing about a refused WebSocket handshake, so when opening fails `probe` (if
/// any) asks the same URL over HTTP, which a kpg gateway answers with the upgrade's 401 / 403:
/// the attempt then fails as ErrorCode::unauthorized / forbidden with the gateway's reason.
std::unique_ptr<Transport> make_browser_transport(HttpProbe probe = nullptr);

}  // namespace kpg::sdk
