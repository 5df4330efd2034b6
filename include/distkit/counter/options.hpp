#pragma once

#include <chrono>
#include <cstddef>
#include <memory>

#include "distkit/redis/connection.hpp"
#include "distkit/redis_key.hpp"

namespace distkit {

// How long a lax counter keeps a key that has been idle (see forget_after).
inline constexpr std::chrono::milliseconds default_forget_after = std::chrono::minutes(10);

// Options of StrictCounter and LaxCounter. Counters with the same prefix share
// their totals, whichever of the two kinds they are.
struct CounterOptions {
  RedisKey prefix;
  std::shared_ptr<redis::Connection> connection;
  // LaxCounter: how old a cached total may get before it is read again, and
  // how long a key's local delta may wait before it is flushed.
  std::chrono::milliseconds allowed_lag{20};
  // LaxCounter: a key with nothing to flush, neither read from Redis nor
  // flushed for this long, leaves the local map (its next touch reads it
  // again), so that ever new keys do not grow it without bound.
  std::chrono::milliseconds forget_after = default_forget_after;
  // How many sub-families the family's keys are spread over (1 to 1024),
  // each in a hash slot of its own: with at least as many as a Redis
  // Cluster has masters, one busy family loads all of them. Every client
  // of a family must use the same count (Redis keeps it; another count is
  // invalid_argument at the first op).
  std::size_t shards = 1;
};

}  // namespace distkit
