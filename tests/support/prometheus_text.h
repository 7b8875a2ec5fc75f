// Reads samples out of the Prometheus text format, for tests that check a gateway's /metrics.
// Not a validator (promtool is the reference parser): finds a sample by name and labels.
#pragma once

#include <map>
#include <optional>
#include <sstream>
#include <string>

namespace kpg::testing {

using Labels = std::map<std::string, std::string>;

/// The value of the sample `name` whose labels are exactly `labels` (in any order); nullopt when
/// there is none. Label values must not contain '"', ',' or '}' (the gateway's do not).
inline std::optional<double> sample(const std::string& text, const std::string& name,
                                    const Labels& labels = {}) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    const auto name_end = line.find_first_of("{ ");
    if (name_end == std::string::npos || line.substr(0, name_end) != name) continue;
    Labels found;
    std::size_t pos = name_end;
    if (line[pos] == '{') {
      const auto close = line.find('}', pos);
      if (close == std::string::npos) continue;
      std::string body = line.substr(pos + 1, close - pos - 1);
      std::size_t at = 0;
      while (at < body.size()) {
        const auto eq = body.find('=', at);
        const auto quote_end = body.find('"', eq + 2);
        if (eq == std::string::npos || quote_end == std::string::npos) break;
        found[body.substr(at, eq - at)] = body.substr(eq + 2, quote_end - eq - 2);
        at = quote_end + 2;  // past '",'
      }
      pos = close + 1;
    }
    if (found != labels) continue;
    return std::stod(line.substr(pos + 1));
  }
  return std::nullopt;
}

}  // namespace kpg::testing
