#include "shared_link.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <string_view>

namespace distkit::redis::detail {

namespace {

bool same_word(std::string_view a, std::string_view b) {
  return std::ranges::equal(a, b, [](char x, char y) { return std::toupper(static_cast<unsigned char>(x)) == y; });
}

}  // namespace

bool changes_link_state(const Command& cmd) {
  static constexpr std::array<std::string_view, 23> link_state{
      "MULTI",       "EXEC",        "DISCARD",  "WATCH",    "UNWATCH",    "SUBSCRIBE", "UNSUBSCRIBE", "PSUBSCRIBE",
      "PUNSUBSCRIBE", "SSUBSCRIBE", "SUNSUBSCRIBE", "MONITOR", "SELECT",  "AUTH",      "HELLO",       "RESET",
      "QUIT",        "READONLY",    "READWRITE", "ASKING",   "SYNC",       "PSYNC",     "REPLCONF"};
  const auto name = cmd.arg(0);
  if (same_word(name, "CLIENT")) return same_word(cmd.arg(1), "REPLY");
  return std::ranges::any_of(link_state, [&](std::string_view s) { return same_word(name, s); });
}

}  // namespace distkit::redis::detail
