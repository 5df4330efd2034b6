#include "distkit/redis_key.hpp"

#include <fmt/format.h>

namespace distkit {
namespace {

std::string printable(std::string_view key) {
  std::string out;
  for (unsigned char c : key.substr(0, 64)) {
    if (c < 0x20 || c == 0x7f || c >= 0x80)
      out += fmt::format("\\x{:02x}", c);
    else
      out += static_cast<char>(c);
  }
  if (key.size() > 64) out += "...";
  return out;
}

}  // namespace

std::string_view RedisKey::validate(std::string_view key) {
  auto fail = [&](std::string_view why) {
    throw Error(errc::invalid_key, fmt::format("invalid key \"{}\": {}", printable(key), why));
  };
  if (key.empty()) fail("empty");
  if (key.size() > max_size) fail(fmt::format("{} bytes, at most {} allowed", key.size(), max_size));
  for (unsigned char c : key) {
    if (c == ':' || c == '{' || c == '}') fail("contains ':', '{' or '}'");
    if (c < 0x20 || c == 0x7f) fail("contains a control character");
  }
  return key;
}

}  // namespace distkit
