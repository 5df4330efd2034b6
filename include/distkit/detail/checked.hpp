#pragma once
// int64 arithmetic that refuses to wrap.

#include <cstdint>
#include <exception>
#include <limits>
#include <string_view>

#include "distkit/error.hpp"

namespace distkit::detail {

[[noreturn]] void throw_overflow(std::string_view what, std::int64_t a, std::int64_t b);

// Throws Error(errc::overflow) naming the key (escaped) and the refused
// change: `"k": adding 1 would leave int64; the value is unchanged`.
[[noreturn]] void throw_overflow_on(std::string_view key, std::string_view change, std::int64_t n,
                                    std::string_view range = "int64");

// The exception being handled; an overflow becomes one that names the key,
// as throw_overflow_on(key, "adding", n, range) does. For a handler that
// hands the failure on to an awaitable (detail::failing) instead of throwing.
std::exception_ptr failure_adding(std::string_view key, std::int64_t n, std::string_view range = "int64");

// What an instance-aware counter's overflow messages say of its range.
inline constexpr std::string_view instance_aware_range =
    "int64 (or make an instance-aware slice or operand INT64_MIN, which has no negation)";

inline std::int64_t checked_add(std::int64_t a, std::int64_t b, std::string_view what) {
  std::int64_t out;
  if (__builtin_add_overflow(a, b, &out)) throw_overflow(what, a, b);
  return out;
}

inline std::int64_t checked_neg(std::int64_t n, std::string_view what) {
  if (n == std::numeric_limits<std::int64_t>::min()) throw_overflow(what, 0, n);
  return -n;
}

// The delta of dec(key, n): -n, which INT64_MIN does not have.
inline std::int64_t dec_delta(std::string_view key, std::int64_t n) {
  if (n == std::numeric_limits<std::int64_t>::min()) throw_overflow_on(key, "dec by", n);
  return -n;
}

}  // namespace distkit::detail
