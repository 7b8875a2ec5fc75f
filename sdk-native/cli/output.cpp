#include "output.h"

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
// Boost.JSON header-only: the SDK already needs Boost's headers, so the tool needs no other JSON
// library (and no compiled Boost library).
#include <boost/json/src.hpp>

#include <openssl/evp.h>

#include <charconv>

namespace kpg::cli {

namespace {

/// The code point and length of the UTF-8 sequence at `i`, or length 0 when it is not one.
struct Decoded {
  std::size_t length = 0;
  char32_t code_point = 0;
};

Decoded decode_utf8(std::string_view s, std::size_t i) noexcept {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char lead = byte(i);
  if (lead < 0x80) return {1, lead};
  std::size_t length = 0;
  char32_t cp = 0;
  char32_t min = 0;
  if ((lead & 0xE0) == 0xC0) {
    length = 2, cp = lead & 0x1F, min = 0x80;
  } else if ((lead & 0xF0) == 0xE0) {
    length = 3, cp = lead & 0x0F, min = 0x800;
  } else if ((lead & 0xF8) == 0xF0) {
    length = 4, cp = lead & 0x07, min = 0x10000;
  } else {
    return {};
  }
  if (s.size() - i < length) return {};
  for (std::size_t k = 1; k < length; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return {};
    cp = (cp << 6) | (byte(i + k) & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return {};
  return {length, cp};
}

template <class T>
std::optional<T> parse_number(std::string_view text) {
  T value{};
  const auto* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec != std::errc() || ptr != end || text.empty()) return std::nullopt;
  return value;
}

/// Adds `bytes` under `name`, or base64-encoded under name + "_base64" when it is not UTF-8.
void put_bytes(boost::json::object& object, std::string_view name, std::string_view bytes) {
  if (valid_utf8(bytes)) {
    object[name] = bytes;
  } else {
    object[std::string(name) + "_base64"] = base64(bytes);
  }
}

std::string line(const boost::json::object& object) {
  return boost::json::serialize(object) + "\n";
}

std::string columns(std::initializer_list<std::string> fields) {
  std::string out;
  for (const auto& field : fields) {
    if (!out.empty()) out += '\t';
    out += field;
  }
  return out + "\n";
}

}  // namespace

int exit_code(const sdk::Error& error) noexcept {
  using sdk::ErrorCode;
  using sdk::ServerCode;
  switch (error.code) {
    case ErrorCode::transport: return kUnreachable;
    case ErrorCode::unauthorized: return kUnauthorized;
    case ErrorCode::forbidden: return kForbidden;
    case ErrorCode::timeout: return kTimeout;
    case ErrorCode::server:
      switch (error.server_code) {
        case ServerCode::unknown_topic:
        case ServerCode::unknown_partition: return kUnknownTopic;
        case ServerCode::not_allowed: return kForbidden;
        case ServerCode::offset_out_of_range: return kOutOfRange;
        default: return kFailed;
      }
    default: return kFailed;
  }
}

std::string error_label(const sdk::Error& error) {
  if (error.code == sdk::ErrorCode::server && error.server_code != sdk::ServerCode::unspecified) {
    return sdk::to_string(error.server_code);
  }
  return sdk::to_string(error.code);
}

std::optional<From> parse_from(std::string_view text) {
  if (text == "earliest") return From{From::Kind::earliest, 0};
  if (text == "latest") return From{From::Kind::latest, 0};
  if (text.starts_with('@')) {
    auto ms = parse_number<std::int64_t>(text.substr(1));
    if (!ms || *ms < 0) return std::nullopt;
    return From{From::Kind::timestamp, *ms};
  }
  if (text.starts_with('-')) {
    auto count = parse_number<std::int64_t>(text.substr(1));
    if (!count || *count < 0) return std::nullopt;
    return From{From::Kind::before_end, *count};
  }
  auto offset = parse_number<std::int64_t>(text);
  if (!offset) return std::nullopt;
  return From{From::Kind::offset, *offset};
}

std::optional<std::int64_t> parse_at(std::string_view text) {
  if (text == "earliest") return sdk::kEarliest;
  if (text == "latest") return sdk::kLatest;
  auto ms = parse_number<std::int64_t>(text);
  if (!ms || *ms < 0) return std::nullopt;
  return ms;
}

bool valid_utf8(std::string_view bytes) noexcept {
  for (std::size_t i = 0; i < bytes.size();) {
    const auto d = decode_utf8(bytes, i);
    if (d.length == 0) return false;
    i += d.length;
  }
  return true;
}

std::string base64(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');  // EVP_EncodeBlock adds a NUL
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(bytes.data()),
                                static_cast<int>(bytes.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

std::string text_escape(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size());
  const auto hex = [&](unsigned char b) {
    out += "\\x";
    out += kHex[b >> 4];
    out += kHex[b & 0x0F];
  };
  for (std::size_t i = 0; i < bytes.size();) {
    const auto d = decode_utf8(bytes, i);
    if (d.length == 0) {
      hex(static_cast<unsigned char>(bytes[i++]));
      continue;
    }
    const char32_t cp = d.code_point;
    if (cp == '\\') {
      out += "\\\\";
    } else if (cp == '\t') {
      out += "\\t";
    } else if (cp == '\n') {
      out += "\\n";
    } else if (cp == '\r') {
      out += "\\r";
    } else if (cp < 0x20 || (cp >= 0x7F && cp <= 0x9F)) {
      // Control characters (C1 too: U+009B is a terminal's CSI) must not reach a terminal raw.
      for (std::size_t k = 0; k < d.length; ++k) hex(static_cast<unsigned char>(bytes[i + k]));
    } else {
      out.append(bytes.substr(i, d.length));
    }
    i += d.length;
  }
  return out;
}

std::string format_record(Format format, std::string_view topic, const sdk::Record& record) {
  if (format == Format::text) {
    return columns({std::to_string(record.partition), std::to_string(record.offset),
                    std::to_string(record.timestamp), text_escape(record.key),
                    text_escape(record.value)});
  }
  boost::json::object o;
  put_bytes(o, "topic", topic);
  o["partition"] = record.partition;
  o["offset"] = record.offset;
  o["timestamp"] = record.timestamp;
  put_bytes(o, "key", record.key);
  put_bytes(o, "value", record.value);
  boost::json::array headers;
  for (const auto& h : record.headers) {
    boost::json::object header;
    put_bytes(header, "key", h.key);
    put_bytes(header, "value", h.value);
    headers.emplace_back(std::move(header));
  }
  o["headers"] = std::move(headers);
  return line(o);
}

std::string format_range(Format format, std::string_view topic, std::int32_t partition,
                         std::int64_t earliest, std::int64_t latest) {
  if (format == Format::text) {
    return columns({text_escape(topic), std::to_string(partition), std::to_string(earliest),
                    std::to_string(latest)});
  }
  boost::json::object o;
  put_bytes(o, "topic", topic);
  o["partition"] = partition;
  o["earliest"] = earliest;
  o["latest"] = latest;
  return line(o);
}

std::string format_offset(Format format, std::string_view topic, std::int32_t partition,
                          std::int64_t offset) {
  if (format == Format::text) {
    return columns({text_escape(topic), std::to_string(partition), std::to_string(offset)});
  }
  boost::json::object o;
  put_bytes(o, "topic", topic);
  o["partition"] = partition;
  o["offset"] = offset;
  return line(o);
}

std::string format_produced(Format format, std::string_view topic, const sdk::Produced& produced) {
  if (format == Format::text) {
    return columns({text_escape(topic), std::to_string(produced.partition),
                    std::to_string(produced.offset), std::to_string(produced.timestamp)});
  }
  boost::json::object o;
  put_bytes(o, "topic", topic);
  o["partition"] = produced.partition;
  o["offset"] = produced.offset;
  o["timestamp"] = produced.timestamp;
  return line(o);
}

std::optional<sdk::Header> parse_header(std::string_view text) {
  const auto eq = text.find('=');
  if (eq == std::string_view::npos || eq == 0) return std::nullopt;
  return sdk::Header{std::string(text.substr(0, eq)), std::string(text.substr(eq + 1))};
}

}  // namespace kpg::cli
