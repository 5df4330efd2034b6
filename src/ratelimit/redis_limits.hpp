#pragma once
// The Redis side of RateLimiter: lua/rate_limit.lua, one call per decision
// (redis provider) or per batch of up to 100 keys (hybrid syncs). Each
// limited key is a family of its own, `{prefix:key}:<strategy>`, so limits
// spread over a cluster's masters.

#include <cstdint>
#include <exception>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <asio/awaitable.hpp>

#include "distkit/error.hpp"
#include "distkit/ratelimit/decision.hpp"
#include "distkit/redis/connection.hpp"
#include "limits.hpp"

namespace distkit::detail::ratelimit {

// The error Redis' refusal of a key (a lease or report item) is thrown as:
// invalid_argument for a window of another shape, else script_error.
Error refusal_error(std::string_view refusal);

class RedisLimits {
 public:
  RedisLimits(const Settings& s, std::string prefix, std::shared_ptr<redis::Connection> connection);

  // `hybrid`: on the hybrid provider's window of the key (a check).
  asio::awaitable<Decision> absolute(std::string_view key, std::int64_t limit, std::int64_t n, bool count,
                                     bool hybrid = false);
  asio::awaitable<Decision> suppressed(std::string_view key, std::int64_t limit, std::int64_t n, bool count,
                                       double draw);

  // Hybrid absolute: a quota lease per key, in calls of at most 100 keys
  // (on a cluster, of one slot each), all at once. A key of a call that
  // failed has `failure`; one Redis refused (another window shape, not a
  // hash) has `refusal`, and the others of its call go on.
  struct LeaseAsk {
    std::string_view key;
    std::int64_t limit = 0, want = 0, give_back = 0, give_back_bucket = 0;
  };
  struct Lease {
    std::int64_t granted = 0, bucket = 0, lasts_ms = 0;
    std::exception_ptr failure;
    std::string refusal;
  };
  asio::awaitable<std::vector<Lease>> lease(std::span<const LeaseAsk> asks);

  // Hybrid suppressed: adds what this process asked for and admitted since
  // its last report; the fleet's windows after them.
  struct Report {
    std::string_view key;
    std::int64_t asked, admitted;
  };
  struct Totals {
    std::int64_t asked = 0, admitted = 0;
    std::exception_ptr failure;
    std::string refusal;
  };
  asio::awaitable<std::vector<Totals>> report(std::span<const Report> reports);

  redis::Connection& connection() const noexcept { return *connection_; }

 private:
  std::string hash_of(std::string_view key, std::string_view strategy) const;
  // The script call's head: the keys (`hashes`) and the four shared arguments.
  redis::Command head(std::span<const std::string> hashes, std::string_view op, std::int64_t extra_buckets) const;
  // The items of `op`, in the calls a batch takes, all at once: item
  // i's hashes are hashes[i] (the first says its slot), its arguments
  // args(cmd, i), and decode(reply, result) reads its part of a reply.
  // (By value: the callers return this coroutine, their frames gone.)
  template <class Result, class Args, class Decode>
  asio::awaitable<std::vector<Result>> batch(std::string_view op, std::int64_t extra_buckets,
                                             std::vector<std::vector<std::string>> hashes, Args args,
                                             Decode decode);

  const Settings settings_;
  std::string prefix_;
  std::shared_ptr<redis::Connection> connection_;
};

}  // namespace distkit::detail::ratelimit
