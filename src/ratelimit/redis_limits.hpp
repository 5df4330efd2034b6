#pragma once
// The Redis side of RateLimiter: lua/rate_limit.lua, one call per decision
// (redis provider) or per batch of up to 100 keys (hybrid syncs). Each
// limited key is a family of its own, `{prefix:key}:<strategy>`, so limits
// spread over a cluster's masters.

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <asio/awaitable.hpp>

#include "distkit/ratelimit/decision.hpp"
#include "distkit/redis/connection.hpp"
#include "limits.hpp"

namespace distkit::detail::ratelimit {

class RedisLimits {
 public:
  RedisLimits(const Settings& s, std::string prefix, std::shared_ptr<redis::Connection> connection);

  asio::awaitable<Decision> absolute(std::string_view key, std::int64_t limit, std::int64_t n, bool count);
  asio::awaitable<Decision> suppressed(std::string_view key, std::int64_t limit, std::int64_t n, bool count,
                                       double draw);

  // Hybrid absolute: a quota lease per key, in calls of at most 100 keys
  // (on a cluster, of one slot each), all at once.
  struct LeaseAsk {
    std::string_view key;
    std::int64_t limit, want, give_back, give_back_bucket;
  };
  struct Lease {
    std::int64_t granted, bucket, lasts_ms;
  };
  asio::awaitable<std::vector<Lease>> lease(std::span<const LeaseAsk> asks, std::int64_t extra_buckets);

  // Hybrid suppressed: adds what this process asked for and admitted since
  // its last report; the fleet's windows after them.
  struct Report {
    std::string_view key;
    std::int64_t asked, admitted;
  };
  struct Totals {
    std::int64_t asked, admitted;
  };
  asio::awaitable<std::vector<Totals>> report(std::span<const Report> reports);

  redis::Connection& connection() const noexcept { return *connection_; }

 private:
  std::string hash_of(std::string_view key, std::string_view strategy) const;
  // The script call's head: the keys (`hashes`) and the four shared arguments.
  redis::Command head(std::span<const std::string> hashes, std::string_view op, std::int64_t extra_buckets) const;
  // Splits `count` items into the calls a batch takes; `hashes_of(i)` are item i's.
  template <class HashesOf>
  std::vector<std::vector<std::size_t>> calls_of(std::size_t count, HashesOf hashes_of) const;

  const Settings settings_;
  std::string prefix_;
  std::shared_ptr<redis::Connection> connection_;
};

}  // namespace distkit::detail::ratelimit
