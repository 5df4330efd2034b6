#pragma once

#include <chrono>
#include <memory>

#include "distkit/redis/connection.hpp"
#include "distkit/redis_key.hpp"

namespace distkit {

// Options of StrictCounter and LaxCounter. Counters with the same prefix share
// their totals, whichever of the two kinds they are.
struct CounterOptions {
  RedisKey prefix;
  std::shared_ptr<redis::Connection> connection;
  // LaxCounter: how old a cached total may get before it is read again, and
  // how long a key's local delta may wait before it is flushed.
  std::chrono::milliseconds allowed_lag{20};
};

}  // namespace distkit
