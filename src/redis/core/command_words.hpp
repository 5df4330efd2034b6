#pragma once
// Command names and options as Redis reads them: in any case.

#include <algorithm>
#include <cctype>
#include <string_view>

namespace distkit::redis::detail {

// Whether `word` is `upper` (given in upper case), in any case.
inline bool same_word(std::string_view word, std::string_view upper) {
  return std::ranges::equal(word, upper,
                            [](char x, char y) { return std::toupper(static_cast<unsigned char>(x)) == y; });
}

// Whether `word` is one of `uppers`, in any case.
template <class Words>
bool one_of(std::string_view word, const Words& uppers) {
  return std::ranges::any_of(uppers, [&](std::string_view upper) { return same_word(word, upper); });
}

}  // namespace distkit::redis::detail
