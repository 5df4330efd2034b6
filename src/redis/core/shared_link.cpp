#include "shared_link.hpp"

#include <array>

#include "command_words.hpp"

namespace distkit::redis::detail {

namespace {

constexpr std::array<std::string_view, 23> link_state{
    "MULTI",        "EXEC",       "DISCARD",      "WATCH",   "UNWATCH", "SUBSCRIBE", "UNSUBSCRIBE", "PSUBSCRIBE",
    "PUNSUBSCRIBE", "SSUBSCRIBE", "SUNSUBSCRIBE", "MONITOR", "SELECT",  "AUTH",      "HELLO",       "RESET",
    "QUIT",         "READONLY",   "READWRITE",    "ASKING",  "SYNC",    "PSYNC",     "REPLCONF"};

constexpr std::array<std::string_view, 10> blocking{"BLPOP",    "BRPOP",  "BLMOVE", "BRPOPLPUSH", "BLMPOP",
                                                    "BZPOPMIN", "BZPOPMAX", "BZMPOP", "WAIT",       "WAITAOF"};

bool blocks(const Command& cmd) {
  const auto name = cmd.arg(0);
  if (same_word(name, "XREAD") || same_word(name, "XREADGROUP")) {
    for (std::size_t i = 1; i < cmd.size() && !same_word(cmd.arg(i), "STREAMS"); ++i)  // options come first
      if (same_word(cmd.arg(i), "BLOCK")) return true;
    return false;
  }
  return one_of(name, blocking);
}

}  // namespace

std::string_view unshareable(const Command& cmd) {
  const auto name = cmd.arg(0);
  const bool changes_state = one_of(name, link_state) ||
                             (same_word(name, "CLIENT") && same_word(cmd.arg(1), "REPLY")) ||
                             (same_word(name, "SCRIPT") && same_word(cmd.arg(1), "DEBUG"));
  if (changes_state) return "changes the state of the link, which every caller of this connection shares";
  if (blocks(cmd)) return "blocks the link, which every caller of this connection shares";
  return {};
}

}  // namespace distkit::redis::detail
