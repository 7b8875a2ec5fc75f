// Which web pages may open a route's WebSocket: APISIX's `cors` plugin, as far as kpg implements
// it (`allow_origins`), plus kpg's `kpg_require_origin`. Browsers do not apply CORS to WebSocket
// upgrades: they send the page's Origin and open the connection whatever the server says, so the
// gateway refuses an upgrade from an origin not allowed itself. Pure logic, no I/O.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kpg::config {

/// Longest Origin accepted (a scheme, "://", a 253-character host and a port fit well within it):
/// a longer header is refused without being looked at further.
inline constexpr std::size_t kMaxOriginBytes = 512;

/// `origin` ("scheme://host[:port]") in the form origins are compared in: scheme and host in
/// lower case. nullopt when it is not such an origin (a path, user info, a bad port, "null",
/// longer than kMaxOriginBytes, characters outside a host name's).
std::optional<std::string> normalize_origin(std::string_view origin);

class OriginPolicy {
 public:
  /// Most origins of one list.
  static constexpr std::size_t kMaxOrigins = 1000;

  enum class Verdict {
    allowed,
    missing,      ///< no Origin header, and the route requires one
    not_allowed,  ///< an Origin header that is not in the list (or not an origin at all)
  };

  /// Allows every origin ("*", APISIX's default).
  void allow_any() { any_ = true; }
  /// Adds an origin; false, adding nothing, when normalize_origin refuses it.
  bool add(std::string_view origin);
  void require_origin(bool required) { require_origin_ = required; }

  /// `origin`: the request's Origin header, nullopt when it has none (native clients send none).
  Verdict check(std::optional<std::string_view> origin) const;

 private:
  bool any_ = false;
  bool require_origin_ = false;
  std::vector<std::string> origins_;  // normalized, sorted, unique
};

}  // namespace kpg::config
