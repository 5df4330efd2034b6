#include "distkit/ratelimit/rate_limiter.hpp"

#include <random>

#include "distkit/detail/holding.hpp"
#include "distkit/error.hpp"
#include "distkit/redis_key.hpp"
#include "hybrid_limits.hpp"
#include "limits.hpp"
#include "local_limits.hpp"
#include "redis_limits.hpp"

namespace distkit {
namespace detail::ratelimit {

// Everything a RateLimiter has; each op holds it until it completes.
class State {
 public:
  explicit State(const RateLimiterOptions& o)
      : settings(o),
        connected(o.connection != nullptr),
        local_absolute(settings),
        local_suppressed(settings),
        redis(connected ? std::make_shared<RedisLimits>(settings, o.prefix.str(), o.connection) : nullptr),
        hybrid(connected ? std::make_shared<HybridLimits>(settings, o.on_outage, redis) : nullptr) {}

  const Settings settings;
  const bool connected;
  LocalAbsolute local_absolute;
  LocalSuppressed local_suppressed;
  const std::shared_ptr<RedisLimits> redis;
  const std::shared_ptr<HybridLimits> hybrid;
};

namespace {

// Uniform in [0, 1), from a generator per thread.
double draw() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return static_cast<double>(rng() >> 11) * 0x1.0p-53;
}

// The limit of `rate`, once key, rate and n are checked: each throws Error.
std::int64_t checked_limit(const State& s, std::string_view key, double rate, std::int64_t n) {
  RedisKey::validate(key);
  const std::int64_t limit = limit_of(rate, s.settings.window_ms);
  check_units(n, limit);
  return limit;
}

Decision local_decision(State& s, bool suppressed, std::string_view key, double rate, std::int64_t n, bool count) {
  const std::int64_t limit = checked_limit(s, key, rate, n);
  const std::int64_t now = steady_ms();
  if (suppressed) return s.local_suppressed.decide(key, now, limit, n, count, draw());
  return s.local_absolute.decide(key, now, limit, n, count);
}

}  // namespace
}  // namespace detail::ratelimit

using detail::ratelimit::State;

// ---- local ----

LocalRateLimit::LocalRateLimit(std::shared_ptr<State> state, bool suppressed)
    : state_(std::move(state)), suppressed_(suppressed) {}

Decision LocalRateLimit::inc_now(std::string_view key, double rate, std::int64_t n) {
  return detail::ratelimit::local_decision(*state_, suppressed_, key, rate, n, true);
}

Decision LocalRateLimit::check_now(std::string_view key, double rate) {
  return detail::ratelimit::local_decision(*state_, suppressed_, key, rate, 1, false);
}

asio::awaitable<Decision> LocalRateLimit::inc(std::string_view key, double rate, std::int64_t n) {
  try {
    return detail::ready(inc_now(key, rate, n));
  } catch (...) {
    return detail::failing<Decision>(std::current_exception());
  }
}

asio::awaitable<Decision> LocalRateLimit::check(std::string_view key, double rate) {
  try {
    return detail::ready(check_now(key, rate));
  } catch (...) {
    return detail::failing<Decision>(std::current_exception());
  }
}

// ---- redis and hybrid ----

RemoteRateLimit::RemoteRateLimit(std::shared_ptr<State> state, Kind kind) : state_(std::move(state)), kind_(kind) {}

asio::awaitable<Decision> RemoteRateLimit::inc(std::string_view key, double rate, std::int64_t n) {
  std::int64_t limit = 0;
  try {
    limit = detail::ratelimit::checked_limit(*state_, key, rate, n);
  } catch (...) {
    return detail::failing<Decision>(std::current_exception());
  }
  return detail::holding<Decision>(state_, key, [kind = kind_, limit, n](State& s, std::string_view k) {
    return remote(s, kind, k, limit, n, true);
  });
}

asio::awaitable<Decision> RemoteRateLimit::check(std::string_view key, double rate) {
  std::int64_t limit = 0;
  try {
    limit = detail::ratelimit::checked_limit(*state_, key, rate, 1);
  } catch (...) {
    return detail::failing<Decision>(std::current_exception());
  }
  return detail::holding<Decision>(state_, key, [kind = kind_, limit](State& s, std::string_view k) {
    return remote(s, kind, k, limit, 1, false);
  });
}

asio::awaitable<Decision> RemoteRateLimit::remote(State& s, Kind kind, std::string_view key, std::int64_t limit,
                                                  std::int64_t n, bool count) {
  switch (kind) {
    case Kind::redis_absolute:
      return s.redis->absolute(key, limit, n, count);
    case Kind::redis_suppressed:
      return s.redis->suppressed(key, limit, n, count, detail::ratelimit::draw());
    case Kind::hybrid_absolute:
      return s.hybrid->absolute(key, limit, n, count);
    case Kind::hybrid_suppressed:
      break;
  }
  return detail::ready(s.hybrid->suppressed(key, limit, n, count, detail::ratelimit::draw()));
}

// ---- the limiter ----

std::shared_ptr<RateLimiter> RateLimiter::create(RateLimiterOptions options) {
  return std::shared_ptr<RateLimiter>(new RateLimiter(std::make_shared<State>(options)));
}

RateLimiter::RateLimiter(std::shared_ptr<State> state)
    : state_(std::move(state)),
      local_(LocalRateLimit(state_, false), LocalRateLimit(state_, true)),
      redis_(RemoteRateLimit(state_, RemoteRateLimit::Kind::redis_absolute),
             RemoteRateLimit(state_, RemoteRateLimit::Kind::redis_suppressed)),
      hybrid_(RemoteRateLimit(state_, RemoteRateLimit::Kind::hybrid_absolute),
              RemoteRateLimit(state_, RemoteRateLimit::Kind::hybrid_suppressed)) {}

RateLimiter::~RateLimiter() = default;

RateLimitProvider<RemoteRateLimit>& RateLimiter::redis() {
  if (!state_->connected) throw Error(errc::invalid_argument, "RateLimiter::redis(): RateLimiterOptions::connection is null");
  return redis_;
}

RateLimitProvider<RemoteRateLimit>& RateLimiter::hybrid() {
  if (!state_->connected) throw Error(errc::invalid_argument, "RateLimiter::hybrid(): RateLimiterOptions::connection is null");
  return hybrid_;
}

}  // namespace distkit
