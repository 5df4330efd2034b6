#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace distkit::detail {

// `text` in double quotes, safe to print and log: bytes outside printable
// ASCII (control characters, NUL, non-UTF-8) become \xNN, and '"' and '\'
// are escaped. Longer text shows its first `max` bytes, then `...`.
std::string quoted(std::string_view text, std::size_t max = 64);

}  // namespace distkit::detail
