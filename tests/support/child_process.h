// Runs a real program (gateway, mock broker) for integration tests: stdout is captured line by
// line, and the child is terminated (SIGTERM, then SIGKILL) when the object goes away or when
// the test process dies.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace kpg::testing {

class ChildProcess {
 public:
  /// Starts argv[0] with arguments; stderr is merged into stdout. Throws std::runtime_error.
  explicit ChildProcess(std::vector<std::string> argv);
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  /// Next output line, or nullopt at EOF / when `timeout` passes.
  std::optional<std::string> read_line(std::chrono::milliseconds timeout);
  /// Reads lines until one contains `needle`; returns it (nullopt on timeout/EOF).
  std::optional<std::string> wait_for_line(const std::string& needle,
                                           std::chrono::milliseconds timeout);
  /// All output read so far (for failure messages).
  const std::string& transcript() const { return transcript_; }

  /// Sends `signal` (0: none) and waits up to `timeout` for exit, then SIGKILL; returns the exit
  /// status, or -1 when it died of a signal.
  int stop(int signal, std::chrono::milliseconds timeout);
  int pid() const { return pid_; }

 private:
  int pid_ = -1;
  int out_fd_ = -1;
  std::string buffer_;
  std::string transcript_;
  bool exited_ = false;
  int status_ = -1;
};

/// The value after `key=` in a line of "k=v k=v" words, or "".
std::string field(const std::string& line, const std::string& key);

}  // namespace kpg::testing
