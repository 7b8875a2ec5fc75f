// The topics one connection asked to read, for its access log line: a few names, then only a
// count, so that a client naming thousands of topics costs the gateway no more than a few.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

namespace kpg::pubsub {

class TopicSet {
 public:
  static constexpr std::size_t kMaxNames = 8;
  /// Distinct topics beyond the names are counted up to this many (their hashes are kept).
  static constexpr std::size_t kMaxCounted = 1024;

  void add(std::string_view topic) {
    for (const auto& name : names_) {
      if (name == topic) return;
    }
    if (names_.size() < kMaxNames) {
      names_.emplace_back(topic);
    } else if (others_.size() < kMaxCounted) {
      others_.insert(std::hash<std::string_view>{}(topic));
    }
  }

  /// "a,b,c", or the first kMaxNames names then "+K more"; "" when there is none.
  std::string summary() const {
    std::string out;
    for (const auto& name : names_) {
      if (!out.empty()) out += ',';
      out += name;
    }
    if (!others_.empty()) out += " +" + std::to_string(others_.size()) + " more";
    return out;
  }

 private:
  std::vector<std::string> names_;
  std::unordered_set<std::size_t> others_;
};

}  // namespace kpg::pubsub
