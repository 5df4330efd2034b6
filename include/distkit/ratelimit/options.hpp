#pragma once

#include <chrono>
#include <memory>

#include "distkit/counter/options.hpp"
#include "distkit/redis/connection.hpp"
#include "distkit/redis_key.hpp"

namespace distkit {

// What the hybrid provider decides while it cannot reach Redis (a sync
// failed, and the quota it holds is spent or has expired).
enum class OutagePolicy {
  fail_open,    // admit every call
  fail_closed,  // reject every call
  local_only,   // each process applies the whole limit on its own (the default)
};

// Options of RateLimiter. `rate` is given per call, in units per second; a
// key's limit is rate x window, in units, rounded down.
struct RateLimiterOptions {
  RedisKey prefix;
  // Needed by redis() and hybrid(); a limiter without one has only local().
  std::shared_ptr<redis::Connection> connection;
  // The sliding window, kept in buckets of at least 10 ms: a multiple of
  // `bucket`, of at most 1,000 buckets. Every process limiting a key must use the same window
  // and bucket (Redis keeps them; others are refused with invalid_argument).
  std::chrono::milliseconds window = std::chrono::seconds(10);
  std::chrono::milliseconds bucket{100};
  // Suppressed strategy: no call is admitted once the admitted units of the
  // window reach hard_limit_factor x the limit (at least 1).
  double hard_limit_factor = 1.0;
  // Suppressed strategy, local and hybrid: how long a key's suppression
  // factor is kept before it is worked out again.
  std::chrono::milliseconds suppression_cache{100};
  // Hybrid: how often the quota of each busy key is synced with Redis, in
  // one script call per 100 keys; at most a bucket.
  std::chrono::milliseconds sync_interval{10};
  // Local and hybrid: a key idle this long (and at least a window) leaves
  // the process's memory.
  std::chrono::milliseconds forget_after = default_forget_after;
  OutagePolicy on_outage = OutagePolicy::local_only;
};

}  // namespace distkit
