#pragma once
// Reading the decimal strings the scripts return.

#include <charconv>
#include <cstdint>
#include <string_view>

#include <fmt/format.h>

#include "distkit/error.hpp"
#include "distkit/redis/reply.hpp"

namespace distkit::detail {

inline std::int64_t to_int64(const redis::Reply& r) {
  if (r.type == redis::Reply::Type::integer) return r.integer;
  std::int64_t value = 0;
  auto [end, ec] = std::from_chars(r.str.data(), r.str.data() + r.str.size(), value);
  if (r.type != redis::Reply::Type::string || ec != std::errc{} || end != r.str.data() + r.str.size())
    throw Error(errc::script_error, fmt::format("expected an integer from redis, got \"{}\"", r.str));
  return value;
}

}  // namespace distkit::detail
