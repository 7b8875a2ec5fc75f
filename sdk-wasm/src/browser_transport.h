// Transport over the browser's WebSocket (<emscripten/websocket.h>). Main thread only.
#pragma once

#include <kpg/sdk/transport.h>

#include <memory>

namespace kpg::sdk {

std::unique_ptr<Transport> make_browser_transport();

}  // namespace kpg::sdk
