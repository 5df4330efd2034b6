#pragma once
// Which sub-family of a counter family a key belongs to (the options'
// `shards`). Part of the data's layout in Redis: it never changes.

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace distkit::detail {

// FNV-1a (64 bits) of the key, mixed by MurmurHash3's 64-bit finalizer,
// modulo `shards`. The mixing: FNV-1a's low bits depend on the bytes' low
// bits alone, and a count that is a power of two would keep only those.
inline std::size_t sub_family_of(std::string_view key, std::size_t shards) noexcept {
  if (shards <= 1) return 0;
  std::uint64_t hash = 14695981039346656037ull;
  for (unsigned char c : key) {
    hash ^= c;
    hash *= 1099511628211ull;
  }
  hash ^= hash >> 33;
  hash *= 0xff51afd7ed558ccdull;
  hash ^= hash >> 33;
  hash *= 0xc4ceb9fe1a85ec53ull;
  hash ^= hash >> 33;
  return static_cast<std::size_t>(hash % shards);
}

}  // namespace distkit::detail
