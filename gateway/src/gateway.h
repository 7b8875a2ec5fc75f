// The gateway as one object: builds the layers from a validated configuration, wires them together,
// serves until SIGINT/SIGTERM, and releases everything in one documented order.
//
// Lifetime: start() builds these in this order; ~Gateway releases them in the reverse order.
//   1. data dir           created if missing
//   2. mock cluster       --embedded-kafka: the in-process cluster, its demo topic and route
//   3. demo feed          --embedded-kafka: writes to the demo topic
//   4. source reaper      one thread on which Kafka sources are destroyed (destruction blocks)
//   5. TLS context        for wss://, referenced by the server context
//   6. server context     route table, limits, session registry: shared by every connection
//   7. route manager      creates Kafka sources (handing them the reaper), persists routes
//   8. admin API          over the route manager
//   9. io contexts        the data plane's (run() threads) and the admin API's (its own thread)
//  10. listeners          data plane, then admin API; the admin thread starts here
//  11. signal handling    SIGINT/SIGTERM start the drain
//
// Release (~Gateway, also of what a failed start() built): the admin thread is joined first (its
// requests may be creating sources), the route table is emptied, then the io contexts are
// destroyed: what they still hold (sessions stuck past the drain) lets go of its Kafka sources,
// which are handed to the reaper. Joining the reaper destroys every source before the demo feed
// and the mock cluster go. A source still alive then (kept by a request the Kafka layer never
// completed) is logged as event=kafka_sources_leaked.
//
// Threading: start() and run() on one thread (run() once); stop() from any thread. The admin API
// serves on its own thread from start() on; the data plane serves while run() runs.
#pragma once

#include "config/gateway_config.h"

#include <memory>
#include <stdexcept>

namespace kpg::app {

/// The live topic of --embedded-kafka (route /kafka).
inline constexpr const char* kDemoTopic = "demo";

/// Start-up failed; what() is the reason as logged (event=startup_failed err="<what()>").
struct StartupError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class Gateway {
 public:
  /// Builds everything and starts listening; logs event=embedded_kafka, event=route_loaded,
  /// event=admin_listening and event=listening (their formats are relied upon by tools and
  /// tests). Prints where a generated admin key is stored. Throws StartupError; what it built
  /// until then is released as ~Gateway does.
  static std::unique_ptr<Gateway> start(config::GatewayConfig config);

  /// Serves on config.io_threads threads (this one included) until SIGINT/SIGTERM or stop(), then
  /// drains: stops accepting, closes sessions with 1001, and returns once they are gone and their
  /// Kafka sources released, or after 3 s at the latest. Returns the process exit code (0).
  int run();

  /// Starts the drain as a signal does. Thread-safe; does nothing when already draining.
  void stop();

  /// Releases everything in the order documented above, then logs event=stopped (when start()
  /// had completed). Blocks while Kafka sources are destroyed.
  ~Gateway();

  Gateway(const Gateway&) = delete;
  Gateway& operator=(const Gateway&) = delete;

 private:
  struct Parts;
  Gateway();
  std::unique_ptr<Parts> parts_;
};

}  // namespace kpg::app
