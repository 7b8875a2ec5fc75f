#include "admin/status_endpoints.h"

namespace kpg::admin {

std::optional<StatusResponse> status_response(std::string_view method, std::string_view target,
                                              const server::Metrics& metrics) {
  const std::string_view path = target.substr(0, target.find('?'));
  if (path != "/metrics" && path != "/healthz" && path != "/readyz") return std::nullopt;
  constexpr const char* kText = "text/plain; charset=utf-8";
  if (method != "GET" && method != "HEAD") {
    return StatusResponse{405, kText, "method not allowed: use GET\n"};
  }
  if (path == "/metrics") {
    return StatusResponse{200, "text/plain; version=0.0.4; charset=utf-8", metrics.text()};
  }
  if (path == "/healthz") return StatusResponse{200, kText, "ok\n"};
  const std::string not_ready = metrics.readiness.not_ready();
  if (!not_ready.empty()) return StatusResponse{503, kText, "not ready\n" + not_ready};
  return StatusResponse{200, kText, "ready\n"};
}

}  // namespace kpg::admin
