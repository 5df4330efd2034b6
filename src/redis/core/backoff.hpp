#pragma once
// The wait before each reconnect attempt: doubling from `min` up to `max`,
// plus up to a quarter more at random, so that a fleet that lost its Redis at
// once does not reconnect in lockstep. Pure: the randomness is seeded by the
// caller.

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <random>

namespace distkit::redis::detail {

class Backoff {
 public:
  // A `min` above `max` is `max`: the cap wins.
  Backoff(std::chrono::milliseconds min, std::chrono::milliseconds max, std::uint32_t seed)
      : min_(std::clamp(min, std::chrono::milliseconds(0), std::max(max, std::chrono::milliseconds(0)))),
        max_(std::max(max, min_)),
        jitter_(seed) {}

  // `attempt` counts from 0, the first attempt after the link was lost.
  std::chrono::milliseconds next(int attempt) {
    const auto doublings = std::clamp(attempt, 0, 30);
    auto base = max_;
    if (min_.count() <= max_.count() >> doublings) base = min_ * (std::int64_t{1} << doublings);  // no overflow
    std::uniform_int_distribution<std::int64_t> spread(0, base.count() / 4);
    return base + std::chrono::milliseconds(spread(jitter_));
  }

 private:
  std::chrono::milliseconds min_, max_;
  std::minstd_rand jitter_;
};

}  // namespace distkit::redis::detail
