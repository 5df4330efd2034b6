#pragma once

#include <cstdint>
#include <memory>
#include <string_view>

#include <asio/awaitable.hpp>

#include "distkit/ratelimit/decision.hpp"
#include "distkit/ratelimit/options.hpp"

namespace distkit {

namespace detail::ratelimit {
class State;
}

// One strategy of the local provider: limits per process, decided under a
// lock in memory, on the steady clock. `rate` is in units per second; n
// counts in full. A bad key is Error(errc::invalid_key), a rate that admits
// nothing or an n that could never be admitted (n < 1, n > rate x window)
// is Error(errc::invalid_argument); nothing is counted then.
class LocalRateLimit {
 public:
  // Admits n units if the key's window has room (absolute) or the draw says
  // so (suppressed), and counts them; done when called.
  Decision inc_now(std::string_view key, double rate, std::int64_t n = 1);
  // What inc_now of 1 would answer now, counting nothing.
  Decision check_now(std::string_view key, double rate);
  // The same, as awaitables (for code written against any provider):
  // decided when called, as inc_now is, not when awaited.
  asio::awaitable<Decision> inc(std::string_view key, double rate, std::int64_t n = 1);
  asio::awaitable<Decision> check(std::string_view key, double rate);

 private:
  friend class RateLimiter;
  LocalRateLimit(std::shared_ptr<detail::ratelimit::State> state, bool suppressed);
  std::shared_ptr<detail::ratelimit::State> state_;
  bool suppressed_;
};

// One strategy of the redis provider (each decision one Lua script, on
// Redis' clock: exact across the fleet) or of the hybrid one (decisions in
// this process against quota synced with Redis; see the README's "Rate
// limiting" for its bounds). Errors as LocalRateLimit, and as the connection's: the redis
// provider fails with timeout or connection_lost as a counter does; the
// hybrid one decides by RateLimiterOptions::on_outage instead.
class RemoteRateLimit {
 public:
  asio::awaitable<Decision> inc(std::string_view key, double rate, std::int64_t n = 1);
  asio::awaitable<Decision> check(std::string_view key, double rate);

 private:
  friend class RateLimiter;
  enum class Kind { redis_absolute, redis_suppressed, hybrid_absolute, hybrid_suppressed };
  RemoteRateLimit(std::shared_ptr<detail::ratelimit::State> state, Kind kind);
  static asio::awaitable<Decision> remote(detail::ratelimit::State& s, Kind kind, std::string_view key,
                                          std::int64_t limit, std::int64_t n, bool count);
  std::shared_ptr<detail::ratelimit::State> state_;
  Kind kind_;
};

template <class Limit>
class RateLimitProvider {
 public:
  // Absolute: a sliding window of units; over any window aligned to its
  // buckets, at most rate x window are admitted, and a call that would
  // pass that is rejected (and not counted).
  Limit& absolute() noexcept { return absolute_; }
  // Suppressed: every call counts as asked for; once more than the limit
  // is asked for, calls are admitted at random with probability
  // rate / (rate asked for), and none once hard_limit_factor x the limit
  // have been admitted in the window.
  Limit& suppressed() noexcept { return suppressed_; }

 private:
  friend class RateLimiter;
  RateLimitProvider(Limit absolute, Limit suppressed) : absolute_(std::move(absolute)), suppressed_(std::move(suppressed)) {}
  Limit absolute_, suppressed_;
};

// Rate limits by key: `limiter->redis().absolute().inc("api:alice", 100)`
// admits a call if alice made fewer than 100 per second over the window.
// Each provider keeps its own state: a key limited by two providers or
// strategies is two limits.
class RateLimiter {
 public:
  // Throws Error(errc::invalid_argument) for bad options.
  static std::shared_ptr<RateLimiter> create(RateLimiterOptions options);
  RateLimiter(const RateLimiter&) = delete;
  RateLimiter& operator=(const RateLimiter&) = delete;
  ~RateLimiter();  // ends the hybrid sync loop; quota leases held expire in Redis by themselves

  RateLimitProvider<LocalRateLimit>& local() noexcept { return local_; }
  // Both throw Error(errc::invalid_argument) if the options had no connection.
  RateLimitProvider<RemoteRateLimit>& redis();
  RateLimitProvider<RemoteRateLimit>& hybrid();

 private:
  explicit RateLimiter(std::shared_ptr<detail::ratelimit::State> state);
  std::shared_ptr<detail::ratelimit::State> state_;
  RateLimitProvider<LocalRateLimit> local_;
  RateLimitProvider<RemoteRateLimit> redis_, hybrid_;
};

}  // namespace distkit
