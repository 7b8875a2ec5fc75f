#include "server/log_format.h"

#include <charconv>
#include <cstdio>
#include <ctime>

namespace kpg::server {

namespace {

bool is_key_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Reads a value quoted by log_quoted() at text[at] == '"'; moves `at` past the closing quote.
std::optional<std::string> unquote(std::string_view text, std::size_t& at) {
  std::string out;
  for (std::size_t i = at + 1; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '"') {
      at = i + 1;
      return out;
    }
    if (c != '\\') {
      out += c;
      continue;
    }
    if (++i == text.size()) return std::nullopt;
    switch (text[i]) {
      case '\\': out += '\\'; break;
      case '"': out += '"'; break;
      case 'n': out += '\n'; break;
      case 't': out += '\t'; break;
      case 'r': out += '\r'; break;
      case 'x': {
        if (i + 2 >= text.size()) return std::nullopt;
        const int high = hex_value(text[i + 1]);
        const int low = hex_value(text[i + 2]);
        if (high < 0 || low < 0) return std::nullopt;
        out += static_cast<char>(high * 16 + low);
        i += 2;
        break;
      }
      default: return std::nullopt;
    }
  }
  return std::nullopt;
}

nlohmann::json plain_value(std::string_view text) {
  long long number = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), number);
  // "007" or "+1" stay text: only what a number prints as is one.
  if (!text.empty() && ec == std::errc() && end == text.data() + text.size() &&
      std::to_string(number) == text) {
    return number;
  }
  return std::string(text);
}

class JsonLogFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    const auto level = spdlog::level::to_string_view(msg.level);
    const auto line = json_log_line(msg.time, std::string_view(level.data(), level.size()),
                                    std::string_view(msg.payload.data(), msg.payload.size()));
    dest.append(line.data(), line.data() + line.size());
    dest.push_back('\n');
  }
  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<JsonLogFormatter>();
  }
};

}  // namespace

std::string log_quoted(std::string_view text) {
  std::string out = "\"";
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '"': out += "\\\""; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      default:
        if (byte < 0x20 || byte == 0x7f) {
          char escaped[5];
          std::snprintf(escaped, sizeof escaped, "\\x%02x", byte);
          out += escaped;
        } else {
          out += c;
        }
    }
  }
  out += '"';
  return out;
}

std::optional<LogFields> parse_log_fields(std::string_view message) {
  LogFields fields;
  std::size_t at = 0;
  while (at < message.size()) {
    const auto key_end = message.find('=', at);
    if (key_end == std::string_view::npos || key_end == at) return std::nullopt;
    const auto key = message.substr(at, key_end - at);
    if (!std::all_of(key.begin(), key.end(), is_key_char)) return std::nullopt;
    at = key_end + 1;
    if (at < message.size() && message[at] == '"') {
      auto value = unquote(message, at);
      if (!value) return std::nullopt;
      fields.emplace_back(std::string(key), std::move(*value));
    } else {
      const auto end = std::min(message.find(' ', at), message.size());
      const auto value = message.substr(at, end - at);
      if (value.find('"') != std::string_view::npos) return std::nullopt;
      fields.emplace_back(std::string(key), plain_value(value));
      at = end;
    }
    if (at < message.size()) {
      if (message[at] != ' ') return std::nullopt;
      ++at;
    }
  }
  if (fields.empty()) return std::nullopt;
  return fields;
}

std::string json_log_line(std::chrono::system_clock::time_point time, std::string_view level,
                          std::string_view message) {
  const auto since_epoch = time.time_since_epoch();
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(since_epoch);
  const auto millis =
      std::chrono::duration_cast<std::chrono::milliseconds>(since_epoch - seconds).count();
  const std::time_t whole = static_cast<std::time_t>(seconds.count());
  std::tm utc{};
  ::gmtime_r(&whole, &utc);
  char stamp[96];  // room for any int the compiler cannot rule out
  std::snprintf(stamp, sizeof stamp, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", utc.tm_year + 1900,
                utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec,
                static_cast<int>(millis));
  nlohmann::ordered_json line = {
      {"time", stamp}, {"level", std::string(level)}, {"message", std::string(message)}};
  if (auto fields = parse_log_fields(message)) {
    for (auto& [key, value] : *fields) {
      if (!line.contains(key)) line[key] = std::move(value);
    }
  }
  return line.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

std::unique_ptr<spdlog::formatter> make_json_log_formatter() {
  return std::make_unique<JsonLogFormatter>();
}

}  // namespace kpg::server
