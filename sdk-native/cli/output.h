// The kpg command-line tool's pure parts: argument values (--from, --at), how records and offsets
// are printed (text and JSON lines) and which exit code an SDK error gives. No I/O here, so all of
// it is unit-tested.
#pragma once

#include <kpg/sdk/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace kpg::cli {

/// Exit codes (documented in `kpg --help`).
enum Exit : int {
  kOk = 0,
  kFailed = 1,        ///< any other error (gateway, protocol, connection lost)
  kUsage = 2,         ///< bad arguments
  kUnreachable = 3,   ///< the WebSocket could not be opened (refused, unknown host, TLS, 404)
  kUnauthorized = 4,  ///< the gateway refused the credential (HTTP 401)
  kForbidden = 5,     ///< the gateway refused the client (HTTP 403) or the route refuses the topic
  kUnknownTopic = 6,  ///< no such topic or partition
  kOutOfRange = 7,    ///< the offset is not (or no longer) in the log
  kTimeout = 8,       ///< no answer in time
};

/// The exit code for an SDK error.
int exit_code(const sdk::Error& error) noexcept;
/// "unknown_topic", "unauthorized", ...: the server code when the gateway gave one, else the
/// SDK's error code.
std::string error_label(const sdk::Error& error);

/// Where `kpg tail --from` starts in each partition.
struct From {
  enum class Kind { earliest, latest, offset, before_end, timestamp };
  Kind kind = Kind::before_end;
  std::int64_t value = 10;  ///< the offset, the count before the end, or the time in ms
};
/// earliest | latest | OFFSET | -N | @TIMESTAMP_MS; nullopt when it is none of them.
std::optional<From> parse_from(std::string_view text);
/// earliest | latest | TIMESTAMP_MS -> kEarliest, kLatest or the time; nullopt otherwise.
std::optional<std::int64_t> parse_at(std::string_view text);

/// True when `bytes` is well-formed UTF-8 (no overlong forms, surrogates or code points above
/// U+10FFFF).
bool valid_utf8(std::string_view bytes) noexcept;
/// Standard base64 with padding.
std::string base64(std::string_view bytes);
/// Bytes made safe for one field of a tab-separated line on a terminal: printable UTF-8 stays;
/// backslash, tab, newline and carriage return become \\ \t \n \r; other control characters
/// (C0, DEL, C1) and bytes that are not UTF-8 become \xNN.
std::string text_escape(std::string_view bytes);

enum class Format { text, json };

/// One record as a line (with its newline). Text: PARTITION OFFSET TIMESTAMP KEY VALUE, separated
/// by tabs (headers only in JSON). JSON: {"topic","partition","offset","timestamp","key","value",
/// "headers":[{"key","value"}]}; a key or value that is not valid UTF-8 is given base64-encoded
/// under the same name with "_base64" appended instead ("value_base64": "...").
std::string format_record(Format format, std::string_view topic, const sdk::Record& record);
/// A partition's earliest and latest offsets. Text: TOPIC PARTITION EARLIEST LATEST.
std::string format_range(Format format, std::string_view topic, std::int32_t partition,
                         std::int64_t earliest, std::int64_t latest);
/// The offset list_offset gave for a time (or earliest / latest). Text: TOPIC PARTITION OFFSET.
std::string format_offset(Format format, std::string_view topic, std::int32_t partition,
                          std::int64_t offset);

/// Where `kpg produce` wrote a record. Text: TOPIC PARTITION OFFSET TIMESTAMP. JSON:
/// {"topic","partition","offset","timestamp"}.
std::string format_produced(Format format, std::string_view topic, const sdk::Produced& produced);
/// `--header KEY=VALUE` (the first '=' separates; the value may be empty or hold '='); nullopt
/// without '=' or with an empty key.
std::optional<sdk::Header> parse_header(std::string_view text);

}  // namespace kpg::cli
