#pragma once
// The rate limiter's figures (issue #16): the redis provider's decisions
// against redis-benchmark of the same EVALSHA over random keys, the local
// and hybrid hot paths, and Redis memory per limited key.

#include <cstddef>

#include "ceiling.hpp"
#include "figures.hpp"

namespace distkit::bench {

// How many keys the redis figures draw from, as redis-benchmark -r does.
inline constexpr long rate_limit_keys = 100'000;
// The captured redis().absolute().inc, its key made __rand_int__.
Args rate_limit_command(const Setup& s);
ThroughputResult rate_limit_throughput(const Setup& s);      // 64 coroutines, random keys
double rate_limit_p50_us(const Setup& s, std::size_t ops);  // one coroutine, random keys
// Decisions per second on 16 warm keys, admitted: local().absolute().inc_now
// in a loop, and co_await hybrid().absolute().inc in a loop.
double local_limit_ops(const Setup& s);
double hybrid_limit_ops(const Setup& s);
// used_memory growth per key of 200 keys limited at the default window and
// bucket, each called once per bucket for a whole window: every bucket held.
double rate_limit_bytes_per_key(const Setup& s);

}  // namespace distkit::bench
