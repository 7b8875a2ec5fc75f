// GET /metrics, /healthz and /readyz: answered without the admin key, on the admin listener and on
// the optional status listener (Prometheus and load-balancer probes send no key). No I/O.
#pragma once

#include "server/metrics.h"

#include <optional>
#include <string>
#include <string_view>

namespace kpg::admin {

struct StatusResponse {
  int status;
  std::string content_type;
  std::string body;
};

/// The answer when `target` (its path) is one of the three; nullopt otherwise.
///   /metrics  200, the Prometheus text format
///   /healthz  200 "ok": the process serves requests
///   /readyz   200 "ready", or 503 with one line per thing not ready (Metrics::readiness)
/// Methods other than GET and HEAD get 405.
std::optional<StatusResponse> status_response(std::string_view method, std::string_view target,
                                              const server::Metrics& metrics);

}  // namespace kpg::admin
