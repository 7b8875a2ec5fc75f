// Shared by the libFuzzer targets that read their input as a script of ops: bytes and
// length-prefixed frames, with zeros (and short frames) once the input runs out, so that every
// input is a valid script.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace kpg::fuzz {

class Script {
 public:
  Script(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}
  bool done() const { return at_ >= size_; }
  std::uint8_t byte() { return done() ? 0 : data_[at_++]; }
  /// The next `n` bytes, or what is left.
  std::string_view take(std::size_t n) {
    n = std::min(n, size_ - at_);
    std::string_view out(reinterpret_cast<const char*>(data_ + at_), n);
    at_ += n;
    return out;
  }
  /// A frame after its length (two bytes, little-endian).
  std::string_view frame() {
    std::size_t length = byte();
    length |= static_cast<std::size_t>(byte()) << 8;
    return take(length);
  }

 private:
  const std::uint8_t* data_;
  std::size_t size_;
  std::size_t at_ = 0;
};

}  // namespace kpg::fuzz
