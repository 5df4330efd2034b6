#pragma once
// Validation of the durations in options. They are added to clock readings,
// so one of centuries (say, milliseconds::max() meant as "never") would
// overflow: anything beyond ten years is refused as the mistake it is.

#include <chrono>
#include <string_view>

#include <fmt/format.h>

#include "distkit/error.hpp"

namespace distkit::detail {

inline constexpr std::chrono::milliseconds max_option_duration = std::chrono::hours(24 * 3653);  // ten years

// Throws Error(errc::invalid_argument) naming the option and its value if `d`
// is negative, zero (unless `zero_ok`), or longer than ten years.
inline void check_duration(std::string_view name, std::chrono::milliseconds d, bool zero_ok = false) {
  if (d.count() < 0 || (d.count() == 0 && !zero_ok))
    throw Error(errc::invalid_argument,
                fmt::format("{} must be {}, got {}ms", name, zero_ok ? ">= 0" : "positive", d.count()));
  if (d > max_option_duration)
    throw Error(errc::invalid_argument, fmt::format("{} must be at most {}ms (ten years), got {}ms", name,
                                                    max_option_duration.count(), d.count()));
}

}  // namespace distkit::detail
