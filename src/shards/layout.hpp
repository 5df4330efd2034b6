#pragma once
// How a counter family of `shards` sub-families is laid out (the `shards`
// option): each sub-family's hash tag (which one a key is in:
// detail::sub_family_of). Part of the data's layout in Redis: it never
// changes between versions. Pure: unit-tested without Redis.

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "distkit/detail/sub_family.hpp"

namespace distkit::detail::shards {

inline constexpr std::size_t max_shards = 1024;

// Throws Error(errc::invalid_argument) unless 1 <= shards <= max_shards.
void check(std::size_t shards, std::string_view option);

// The hash tags (between the braces of every key) of the sub-families, in
// order. With one, the prefix itself. Else "<prefix>:<j>", a RedisKey having
// no ':', so that no other prefix's tags are the same; sub-family i takes
// the smallest j whose slot lies in the i-th of `shards` equal parts of the
// slot range, so that the sub-families spread over the masters as evenly as
// the slots do.
std::vector<std::string> tags(std::string_view prefix, std::size_t shards);

}  // namespace distkit::detail::shards
