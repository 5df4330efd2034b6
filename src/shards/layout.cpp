#include "layout.hpp"

#include <cstdint>

#include <fmt/format.h>

#include "distkit/error.hpp"
#include "redis/core/cluster.hpp"

namespace distkit::detail::shards {

void check(std::size_t shards, std::string_view option) {
  if (shards < 1 || shards > max_shards)
    throw Error(errc::invalid_argument, fmt::format("{} is {}: it must be from 1 to {}", option, shards, max_shards));
}

std::vector<std::string> tags(std::string_view prefix, std::size_t shards) {
  if (shards == 1) return {std::string(prefix)};
  constexpr std::size_t slots = redis::detail::cluster::slot_count;
  std::vector<std::string> out(shards);
  // One pass over j, each part taking the first j that lands in it: about
  // shards * ln(shards) tries. Every part has slots (shards <= slot count)
  // and CRC16 reaches every slot, so the loop ends.
  for (std::size_t j = 0, filled = 0; filled < shards; ++j) {
    std::string tag = fmt::format("{}:{}", prefix, j);
    const std::size_t part = redis::detail::cluster::key_slot(fmt::format("{{{}}}", tag)) * shards / slots;
    if (out[part].empty()) {
      out[part] = std::move(tag);
      ++filled;
    }
  }
  return out;
}

}  // namespace distkit::detail::shards
