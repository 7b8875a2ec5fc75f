// The gateway's log lines: "event=NAME key=value key=\"quoted value\" ..." messages, written as
// text or, with log_format json, as one JSON object per line whose members are those fields.
#pragma once

#include <spdlog/formatter.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace kpg::server {

/// `text` in double quotes for a key="value" field, `\` and `"` escaped and every control
/// character written as an escape (\n, \t, \r, \xHH), so that a value a client chose (a close
/// reason, a header) can neither end the line nor fake other fields.
std::string log_quoted(std::string_view text);

using LogFields = std::vector<std::pair<std::string, nlohmann::json>>;

/// The fields of a message made only of key=value words (values unquoted, or quoted as by
/// log_quoted()); unquoted integers become numbers. Nothing when the message is not such a list.
std::optional<LogFields> parse_log_fields(std::string_view message);

/// One JSON object (no newline): time (UTC, ISO 8601 with milliseconds), level, message, and the
/// message's fields when it has them (one named like the first three is left in the message).
/// Bytes that are not UTF-8 are replaced, never thrown on.
std::string json_log_line(std::chrono::system_clock::time_point time, std::string_view level,
                          std::string_view message);

/// spdlog's formatter for json_log_line(), one per line.
std::unique_ptr<spdlog::formatter> make_json_log_formatter();

}  // namespace kpg::server
