#include "instance_id.hpp"

#include <cstdint>
#include <random>

#include <fmt/format.h>

namespace distkit::detail {

std::string make_instance_id() {
  std::random_device rd;
  auto word = [&] { return (std::uint64_t{rd()} << 32) | rd(); };
  std::uint64_t hi = word(), lo = word();
  hi = (hi & ~0xF000ull) | 0x4000ull;                      // version 4
  lo = (lo & ~(0xC0ull << 56)) | (0x80ull << 56);          // RFC 4122 variant
  return fmt::format("{:08x}-{:04x}-{:04x}-{:04x}-{:012x}", hi >> 32, (hi >> 16) & 0xFFFF, hi & 0xFFFF,
                     lo >> 48, lo & 0xFFFFFFFFFFFFull);
}

}  // namespace distkit::detail
