#pragma once
// What Redis last acknowledged of this instance's slice of each key, with the
// key's epoch then. An instance reaped as dead while it was alive offers these
// back (lua/instance_aware.lua, restore). A StrictInstanceAwareCounter keeps
// them in a map of its own; the backend of a LaxInstanceAwareCounter keeps
// them in the lax counter's delta map, so that each key is stored once.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "distkit/counts.hpp"
#include "distkit/detail/delta_map.hpp"

namespace distkit::detail {

struct KnownSlice {
  std::int64_t slice = 0;
  std::int64_t epoch = 0;
  std::uint64_t order = 0;  // the redis::Reply::order that told it: replies may resume out of order
};

class KnownSlices {
 public:
  virtual ~KnownSlices() = default;
  virtual KnownSlice find(std::string_view key) = 0;  // {0, 0} if unknown
  // Keeps `known` unless what it holds for key came from a later reply.
  virtual void remember(std::string_view key, KnownSlice known) = 0;
  virtual void forget_all() = 0;                  // after clear
  virtual void zero_all(std::uint64_t order) = 0;  // after clear_on_instance, whose reply had this order
  virtual std::vector<std::pair<std::string, KnownSlice>> nonzero() = 0;
};

// The slices a lax instance-aware counter's delta map holds: a key's
// acknowledged slice is its remote `instance`, with the entry's epoch and
// order.
class DeltaMapKnownSlices final : public KnownSlices {
 public:
  using Map = DeltaMap<Counts>;
  explicit DeltaMapKnownSlices(std::shared_ptr<Map> map) : map_(std::move(map)) {}

  KnownSlice find(std::string_view key) override {
    return map_->read(
        key, [](const Map::Entry& e) { return KnownSlice{e.remote.instance, e.epoch, e.order()}; }, KnownSlice{});
  }
  void remember(std::string_view key, KnownSlice known) override {
    map_->modify(key, [&](Map::Entry& e) {
      if (known.order < e.order()) return;
      e.remote.instance = known.slice;
      e.epoch = known.epoch;
      e.set_order(known.order);
    });
  }
  void forget_all() override { map_->clear(); }
  void zero_all(std::uint64_t order) override {
    map_->for_each([&](std::string_view, Map::Entry& e) {
      if (order < e.order()) return;
      e.remote.instance = 0;
      e.set_order(order);
    });
  }
  std::vector<std::pair<std::string, KnownSlice>> nonzero() override {
    std::vector<std::pair<std::string, KnownSlice>> out;
    map_->for_each([&](std::string_view key, const Map::Entry& e) {
      if (e.remote.instance != 0) out.emplace_back(std::string(key), KnownSlice{e.remote.instance, e.epoch, e.order()});
    });
    return out;
  }

 private:
  std::shared_ptr<Map> map_;
};

}  // namespace distkit::detail
