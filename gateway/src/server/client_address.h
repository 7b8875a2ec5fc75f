// Who the client of a data-plane request is, for logs and per-client limits: the TCP peer, or,
// when the peer is one of the configured trusted proxies, the address the proxies say they were
// asked by (X-Forwarded-For, else X-Real-IP).
#pragma once

#include "config/trusted_proxies.h"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kpg::server {

/// The standard right-to-left walk: X-Forwarded-For lists the addresses each proxy was asked by,
/// the nearest last. From the peer (which must be trusted) entries are skipped while they are
/// trusted proxies themselves; the first one that is not is the client. An entry that is not an
/// IP address ends the walk: nothing left of a forgery can be believed, so the peer is the
/// client. When every entry is trusted, the left-most is. Without X-Forwarded-For, X-Real-IP
/// (one address) is taken from a trusted peer.
///
/// `forwarded_for`: the values of every X-Forwarded-For header, in order. At most
/// kMaxForwardedEntries entries are examined (the walk falls back to the peer beyond).
/// Returns the client's canonical address, or nothing when the peer's own address stands.
std::optional<std::string> forwarded_client(const config::IpAddress& peer,
                                            const config::TrustedProxies& proxies,
                                            const std::vector<std::string_view>& forwarded_for,
                                            std::optional<std::string_view> real_ip);

inline constexpr std::size_t kMaxForwardedEntries = 64;

}  // namespace kpg::server
