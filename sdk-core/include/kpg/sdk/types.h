// Typed values and errors shared by every kpg SDK build (native and WebAssembly).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace kpg::sdk {

/// Why a call failed. Stable across builds; the WASM module exposes the same names as strings.
enum class ErrorCode {
  transport,  ///< the WebSocket could not be opened or broke (network, TLS, HTTP upgrade refused)
  timeout,    ///< no response within the request timeout
  closed,     ///< the client was closed (by the user or the server) while the call was pending
  server,     ///< the gateway answered with an error_resp; message is the server's text
  protocol,   ///< the peer sent something that is not a valid PubSub response
};

/// Lower-case name of an error code ("transport", "timeout", ...).
const char* to_string(ErrorCode code) noexcept;

struct Error {
  ErrorCode code;
  std::string message;
};

/// One Kafka record as the gateway returns it. key and value are raw bytes.
struct Record {
  std::int64_t offset = 0;
  std::int64_t timestamp = 0;  ///< milliseconds since the epoch (CreateTime or LogAppendTime)
  std::string key;
  std::string value;
};

/// Special `at` values for listOffsets (the Kafka ListOffsets convention).
inline constexpr std::int64_t kEarliest = -2;
inline constexpr std::int64_t kLatest = -1;

/// Either a value or an Error. Small by design: no exceptions cross the SDK boundary.
template <class T>
class Result {
 public:
  Result(T value) : state_(std::move(value)) {}      // NOLINT(google-explicit-constructor)
  Result(Error error) : state_(std::move(error)) {}  // NOLINT(google-explicit-constructor)

  bool ok() const noexcept { return state_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }
  /// Precondition: ok().
  const T& value() const& { return std::get<0>(state_); }
  T&& value() && { return std::get<0>(std::move(state_)); }
  /// Precondition: !ok().
  const Error& error() const& { return std::get<1>(state_); }

 private:
  std::variant<T, Error> state_;
};

}  // namespace kpg::sdk
