#include "distkit/redis_key.hpp"

#include <fmt/format.h>

#include "quoted.hpp"

namespace distkit {

std::string detail::quoted(std::string_view text, std::size_t max) {
  std::string out = "\"";
  for (unsigned char c : text.substr(0, max)) {
    if (c < 0x20 || c >= 0x7f)
      out += fmt::format("\\x{:02x}", c);
    else if (c == '"' || c == '\\')
      out += {'\\', static_cast<char>(c)};
    else
      out += static_cast<char>(c);
  }
  out += '"';
  if (text.size() > max) out += "...";
  return out;
}

std::string_view RedisKey::validate(std::string_view key) {
  auto fail = [&](std::string_view why) {
    throw Error(errc::invalid_key, fmt::format("invalid key {}: {}", detail::quoted(key), why));
  };
  if (key.empty()) fail("empty");
  if (key.size() > max_size) fail(fmt::format("{} bytes, at most {} allowed", key.size(), max_size));
  for (std::size_t i = 0; i < key.size(); ++i) {
    const auto c = static_cast<unsigned char>(key[i]);
    const bool layout = c == ':' || c == '{' || c == '}';
    if (layout || c < 0x20 || c == 0x7f)
      fail(fmt::format("byte {} is {}, {}", i, detail::quoted(key.substr(i, 1)),
                       layout ? "which the key layout reserves" : "a control character"));
  }
  return key;
}

}  // namespace distkit
