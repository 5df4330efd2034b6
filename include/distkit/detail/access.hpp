#pragma once
// The one door through which the library's own parts reach what a public
// class keeps private: the flush engine reaches a lax counter's engine and
// batch sender, the tests an instance-aware counter's implementation.
// Users have no need of it.

#include <cstddef>
#include <cstdint>
#include <vector>

#include "distkit/detail/delta_map.hpp"

namespace distkit::detail {

struct Access {
  template <class Owner>
  static auto& engine(Owner& owner) noexcept {
    return owner.engine_;
  }
  // One flush batch, applied once per sequence of a lane (see LaxEngine).
  template <class Owner>
  static auto send_batch(Owner& owner, std::size_t lane, std::uint64_t sequence, const std::vector<KeyDelta>& batch) {
    return owner.send_batch(lane, sequence, batch);
  }
  template <class Counter>
  static auto& family(Counter& counter) noexcept {
    return *counter.family_;
  }
};

}  // namespace distkit::detail
