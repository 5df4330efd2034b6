#include "distkit/redis_key.hpp"

#include <array>

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

namespace {

constexpr bool reserved(unsigned char c) noexcept { return c == ':' || c == '{' || c == '}'; }
constexpr bool control(unsigned char c) noexcept { return c < 0x20 || c == 0x7f; }

// The bytes a key may not hold, as a table: every lax op checks its key, so
// the check is one lookup per byte, without a branch.
constexpr auto refused_bytes = [] {
  std::array<bool, 256> out{};
  for (unsigned c = 0; c < 256; ++c) out[c] = reserved(static_cast<unsigned char>(c)) || control(static_cast<unsigned char>(c));
  return out;
}();

[[noreturn]] void fail(std::string_view key, std::string_view why) {
  throw Error(errc::invalid_key, fmt::format("invalid key {}: {}", detail::quoted(key), why));
}

}  // namespace

std::string_view RedisKey::validate(std::string_view key) {
  if (key.empty()) fail(key, "empty");
  if (key.size() > max_size) fail(key, fmt::format("{} bytes, at most {} allowed", key.size(), max_size));
  bool refused = false;
  for (unsigned char c : key) refused |= refused_bytes[c];
  if (!refused) return key;
  for (std::size_t i = 0; i < key.size(); ++i) {
    const auto c = static_cast<unsigned char>(key[i]);
    if (refused_bytes[c])
      fail(key, fmt::format("byte {} is {}, {}", i, detail::quoted(key.substr(i, 1)),
                            reserved(c) ? "which the key layout reserves" : "a control character"));
  }
  return key;
}

}  // namespace distkit
