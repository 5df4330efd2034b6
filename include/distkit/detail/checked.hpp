#pragma once
// int64 arithmetic that refuses to wrap.

#include <cstdint>
#include <limits>
#include <string_view>

#include "distkit/error.hpp"

namespace distkit::detail {

[[noreturn]] void throw_overflow(std::string_view what, std::int64_t a, std::int64_t b);

inline std::int64_t checked_add(std::int64_t a, std::int64_t b, std::string_view what) {
  std::int64_t out;
  if (__builtin_add_overflow(a, b, &out)) throw_overflow(what, a, b);
  return out;
}

inline std::int64_t checked_neg(std::int64_t n, std::string_view what) {
  if (n == std::numeric_limits<std::int64_t>::min()) throw_overflow(what, 0, n);
  return -n;
}

}  // namespace distkit::detail
