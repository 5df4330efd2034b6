#pragma once

#include <chrono>
#include <memory>
#include <optional>

#include "distkit/redis/connection.hpp"
#include "distkit/redis_key.hpp"

namespace distkit {

struct StrictInstanceAwareCounterOptions {
  RedisKey prefix;
  std::shared_ptr<redis::Connection> connection;
  // An instance whose last heartbeat is older than this is dead: its slices
  // leave the cumulative at the next op of any instance.
  std::chrono::milliseconds dead_instance_threshold{30'000};
  // How often an idle instance proves it is alive; default threshold / 3.
  std::optional<std::chrono::milliseconds> heartbeat_interval{};
};

struct LaxInstanceAwareCounterOptions {
  RedisKey prefix;
  std::shared_ptr<redis::Connection> connection;
  std::chrono::milliseconds dead_instance_threshold{30'000};
  std::optional<std::chrono::milliseconds> heartbeat_interval{};
  std::chrono::milliseconds flush_interval{20};  // flush loop period while there is activity
  std::chrono::milliseconds allowed_lag{20};     // a key's delta is flushed once at least this old
};

}  // namespace distkit
