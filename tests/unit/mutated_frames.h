// Deterministic mutations of valid frames, for tests that feed untrusted bytes to a decoder:
// bit flips, truncation, insertion, duplication and random bytes. Seeded: a failure reproduces.
#pragma once

#include <google/protobuf/stubs/logging.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace kpg::testing {

class FrameMutator {
 public:
  explicit FrameMutator(std::vector<std::string> seeds = {}, std::uint64_t seed = 20261125)
      : seeds_(std::move(seeds)), rng_(seed) {}

  /// A mutation of one of the seeds.
  std::string next() { return mutate(seeds_[pick(seeds_.size())]); }

  /// One to four random edits of `frame`.
  std::string mutate(std::string frame) {
    const int edits = 1 + static_cast<int>(pick(4));
    for (int e = 0; e < edits; ++e) {
      switch (pick(6)) {
        case 0:  // flip a bit
          if (!frame.empty()) frame[pick(frame.size())] ^= static_cast<char>(1u << pick(8));
          break;
        case 1:  // truncate
          frame.resize(pick(frame.size() + 1));
          break;
        case 2:  // insert a random byte
          frame.insert(frame.begin() + static_cast<std::ptrdiff_t>(pick(frame.size() + 1)),
                       static_cast<char>(pick(256)));
          break;
        case 3:  // overwrite with an extreme varint byte
          if (!frame.empty()) frame[pick(frame.size())] = static_cast<char>(pick(2) ? 0xff : 0x80);
          break;
        case 4:  // duplicate a slice
          if (!frame.empty()) {
            const auto at = pick(frame.size());
            frame += frame.substr(at, pick(frame.size() - at + 1));
          }
          break;
        default:  // pure noise
          frame.assign(pick(64), '\0');
          for (auto& c : frame) c = static_cast<char>(pick(256));
      }
    }
    return frame;
  }

  std::size_t pick(std::size_t bound) {
    return bound == 0 ? 0 : static_cast<std::size_t>(rng_() % bound);
  }

 private:
  std::vector<std::string> seeds_;
  std::mt19937_64 rng_;
};

/// Silences protobuf's error log (e.g. "String field contains invalid UTF-8") while it lives.
class QuietProtobufLog {
 public:
  QuietProtobufLog() : previous_(google::protobuf::SetLogHandler(nullptr)) {}
  ~QuietProtobufLog() { google::protobuf::SetLogHandler(previous_); }
  QuietProtobufLog(const QuietProtobufLog&) = delete;
  QuietProtobufLog& operator=(const QuietProtobufLog&) = delete;

 private:
  google::protobuf::LogHandler* previous_;
};

}  // namespace kpg::testing
