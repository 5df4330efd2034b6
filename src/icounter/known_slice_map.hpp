#pragma once
// A StrictInstanceAwareCounter's own record of its acknowledged slices.

#include <mutex>
#include <string>
#include <unordered_map>

#include "distkit/detail/known_slices.hpp"

namespace distkit::detail {

class KnownSliceMap final : public KnownSlices {
 public:
  KnownSlice find(std::string_view key) override {
    std::lock_guard lock(mutex_);
    auto it = map_.find(key);
    return it == map_.end() ? KnownSlice{} : it->second;
  }
  void remember(std::string_view key, KnownSlice known) override {
    std::lock_guard lock(mutex_);
    auto it = map_.find(key);  // no std::string built for a key already known: every op remembers
    if (it == map_.end()) map_.emplace(std::string(key), known);
    else if (known.order >= it->second.order) it->second = known;
  }
  void forget_all() override {
    std::lock_guard lock(mutex_);
    map_.clear();
  }
  void zero_all(std::uint64_t order) override {
    std::lock_guard lock(mutex_);
    for (auto& [key, known] : map_)
      if (order >= known.order) known = {0, known.epoch, order};
  }
  std::vector<std::pair<std::string, KnownSlice>> nonzero() override {
    std::lock_guard lock(mutex_);
    std::vector<std::pair<std::string, KnownSlice>> out;
    for (const auto& [key, known] : map_)
      if (known.slice != 0) out.emplace_back(key, known);
    return out;
  }

 private:
  std::mutex mutex_;
  std::unordered_map<std::string, KnownSlice, StringHash, std::equal_to<>> map_;
};

}  // namespace distkit::detail
