// What a running process costs, from /proc (Linux): CPU time used and resident memory.
#pragma once

#include <unistd.h>

#include <chrono>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

namespace kpg::testing {

// Under AddressSanitizer (the native-asan preset) the gateway's memory and descriptor use are the
// sanitizer's, not kpg's: figures that measure them are checked in the plain build only.
#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool kSanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
inline constexpr bool kSanitized = true;
#else
inline constexpr bool kSanitized = false;
#endif
#else
inline constexpr bool kSanitized = false;
#endif

/// user + system CPU time of a process, from /proc/PID/stat.
inline std::chrono::milliseconds cpu_time(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::istringstream fields(stat.substr(stat.rfind(')') + 2));
  std::vector<std::string> f{std::istream_iterator<std::string>(fields), {}};
  const long ticks = std::stol(f.at(11)) + std::stol(f.at(12));  // utime, stime
  return std::chrono::milliseconds(ticks * 1000 / ::sysconf(_SC_CLK_TCK));
}

/// Resident memory of a process in KiB, from /proc/PID/status; -1 when it is gone.
inline long rss_kib(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

/// Resident memory of a process in MiB; -1 when it is gone.
inline long rss_mib(int pid) {
  const long kib = rss_kib(pid);
  return kib < 0 ? -1 : kib / 1024;
}

}  // namespace kpg::testing
