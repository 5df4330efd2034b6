#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>

#include "distkit/counter/options.hpp"
#include "distkit/redis/connection.hpp"
#include "distkit/redis_key.hpp"

namespace distkit {

struct StrictInstanceAwareCounterOptions {
  RedisKey prefix;
  std::shared_ptr<redis::Connection> connection;
  // This instance is dead once this long has passed since its last op or
  // heartbeat (its own deadline: instances of one family may differ). Its
  // slices then leave the cumulatives and are parked. Keep it at least twice
  // the connection's command_timeout.
  std::chrono::milliseconds dead_instance_threshold{30'000};
  // How often an idle instance proves it is alive; default threshold / 3, at
  // most threshold / 2 (invalid_argument otherwise).
  std::optional<std::chrono::milliseconds> heartbeat_interval{};
  // How long a reaped instance's parked slices and flush records are kept
  // for its return; after that it counts as new. Also how long a leave's
  // tombstone stays.
  std::chrono::milliseconds parked_retention{std::chrono::hours(24)};
  // Sub-families (1 to 1024), each with its own heartbeat and reaping: see
  // CounterOptions::shards.
  std::size_t shards = 1;
};

struct LaxInstanceAwareCounterOptions {
  RedisKey prefix;
  std::shared_ptr<redis::Connection> connection;
  std::chrono::milliseconds dead_instance_threshold{30'000};
  std::optional<std::chrono::milliseconds> heartbeat_interval{};
  std::chrono::milliseconds flush_interval{20};  // flush loop period while there is activity
  std::chrono::milliseconds allowed_lag{20};     // a key's delta is flushed once at least this old
  std::chrono::milliseconds parked_retention{std::chrono::hours(24)};
  // A key with nothing to flush, neither read nor flushed for this long,
  // leaves the local map (see CounterOptions::forget_after).
  std::chrono::milliseconds forget_after = default_forget_after;
  std::size_t shards = 1;  // see StrictInstanceAwareCounterOptions::shards
};

}  // namespace distkit
