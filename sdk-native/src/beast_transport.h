// Transport over Boost.Beast: ws:// and wss:// (OpenSSL). Internal to sdk-native.
#pragma once

#include <kpg/sdk/native_client.h>
#include <kpg/sdk/transport.h>

#include <boost/asio/any_io_executor.hpp>

#include <memory>

namespace kpg::sdk {

/// `executor` must be a strand (or a single-threaded io_context executor): every call into the
/// transport and every handler it invokes happen there.
/// `tls` applies to wss:// URLs.
std::unique_ptr<Transport> make_beast_transport(boost::asio::any_io_executor executor,
                                                TlsOptions tls = {});

}  // namespace kpg::sdk
