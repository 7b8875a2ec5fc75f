#include <kpg/sdk/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace kpg::sdk {

namespace {

// The JSON string starting at text[pos] (the opening quote), decoded; nullopt when it is not a
// well-formed one. Enough JSON for {"message": "..."}: no number or nesting is ever needed.
std::optional<std::string> json_string(std::string_view text, std::size_t pos) {
  if (pos >= text.size() || text[pos] != '"') return std::nullopt;
  std::string out;
  for (std::size_t i = pos + 1; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '"') return out;
    if (c != '\\') {
      out += c;
      continue;
    }
    if (++i >= text.size()) return std::nullopt;
    switch (text[i]) {
      case '"': out += '"'; break;
      case '\\': out += '\\'; break;
      case '/': out += '/'; break;
      case 'b': out += '\b'; break;
      case 'f': out += '\f'; break;
      case 'n': out += '\n'; break;
      case 'r': out += '\r'; break;
      case 't': out += '\t'; break;
      case 'u': {
        if (i + 4 >= text.size()) return std::nullopt;
        std::uint32_t code = 0;
        for (std::size_t k = 1; k <= 4; ++k) {
          const char h = text[i + k];
          code <<= 4;
          if (h >= '0' && h <= '9') {
            code |= static_cast<std::uint32_t>(h - '0');
          } else if (h >= 'a' && h <= 'f') {
            code |= static_cast<std::uint32_t>(h - 'a' + 10);
          } else if (h >= 'A' && h <= 'F') {
            code |= static_cast<std::uint32_t>(h - 'A' + 10);
          } else {
            return std::nullopt;
          }
        }
        i += 4;
        // UTF-8 of the BMP code point (a lone surrogate half becomes U+FFFD).
        if (code >= 0xD800 && code <= 0xDFFF) code = 0xFFFD;
        if (code < 0x80) {
          out += static_cast<char>(code);
        } else if (code < 0x800) {
          out += static_cast<char>(0xC0 | (code >> 6));
          out += static_cast<char>(0x80 | (code & 0x3F));
        } else {
          out += static_cast<char>(0xE0 | (code >> 12));
          out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
          out += static_cast<char>(0x80 | (code & 0x3F));
        }
        break;
      }
      default: return std::nullopt;
    }
  }
  return std::nullopt;
}

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

// The value of the top-level "message" member of a JSON object body, if there is one.
std::optional<std::string> message_of(std::string_view body) {
  std::size_t i = 0;
  while (i < body.size() && is_space(body[i])) ++i;
  if (i >= body.size() || body[i] != '{') return std::nullopt;
  static constexpr std::string_view kKey = "\"message\"";
  const auto key = body.find(kKey, i);
  if (key == std::string_view::npos) return std::nullopt;
  i = key + kKey.size();
  while (i < body.size() && is_space(body[i])) ++i;
  if (i >= body.size() || body[i] != ':') return std::nullopt;
  ++i;
  while (i < body.size() && is_space(body[i])) ++i;
  return json_string(body, i);
}

}  // namespace

Error http_refusal(int status, std::string_view body) {
  const ErrorCode code = status == 401   ? ErrorCode::unauthorized
                         : status == 403 ? ErrorCode::forbidden
                                         : ErrorCode::transport;
  std::string message;
  if (auto m = message_of(body)) {
    message = std::move(*m);
  } else {
    // Some other server's page: its first line, kept short, says more than the status alone.
    body = body.substr(0, body.find_first_of("\r\n"));
    message = std::string(body.substr(0, 200));
  }
  const std::string status_text = "HTTP " + std::to_string(status);
  if (message.empty()) return Error{code, status_text};
  if (code == ErrorCode::transport) return Error{code, status_text + ": " + message};
  return Error{code, std::move(message)};
}

}  // namespace kpg::sdk
