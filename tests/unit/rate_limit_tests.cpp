// The rate limiter's arithmetic and the local provider, on a fake clock,
// against a reference model that keeps every admitted call: no Redis.
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "distkit/distkit.hpp"
#include "../support/catch_errc.hpp"
#include "ratelimit/limits.hpp"
#include "ratelimit/local_limits.hpp"
#include "ratelimit/window.hpp"

using namespace distkit;
using namespace distkit::detail::ratelimit;
using namespace std::chrono_literals;

namespace {

// The absolute strategy as its definition says, with no ring and no
// running total: a call at `now` is admitted if the units admitted in the
// buckets of the window ending at now's bucket, plus n, are at most limit.
struct ReferenceWindow {
  std::int64_t bucket_ms, buckets;
  std::vector<std::pair<std::int64_t, std::int64_t>> admitted;  // (bucket, units)

  std::int64_t total_at(std::int64_t now) const {
    const std::int64_t b = now / bucket_ms;
    std::int64_t total = 0;
    for (auto [at, units] : admitted)
      if (at > b - buckets && at <= b) total += units;
    return total;
  }
  bool admits(std::int64_t now, std::int64_t n, std::int64_t limit) const { return total_at(now) + n <= limit; }
  // The first ms at which nothing more admitted, n would fit.
  std::int64_t first_fit(std::int64_t now, std::int64_t n, std::int64_t limit) const {
    for (std::int64_t t = now;; t = (t / bucket_ms + 1) * bucket_ms)
      if (admits(t, n, limit)) return t;
  }
};

RateLimiterOptions options_of(std::chrono::milliseconds window, std::chrono::milliseconds bucket) {
  RateLimiterOptions o{RedisKey("rl"), nullptr};
  o.window = window;
  o.bucket = bucket;
  return o;
}

using distkit::test::error_thrown_by;

}  // namespace

TEST_CASE("the window admits exactly what the reference model admits, and rejections say when n will fit",
          "[rate_limit]") {
  std::mt19937_64 rng(GENERATE(1, 2, 3, 4, 5));
  const std::int64_t bucket_ms = std::uniform_int_distribution<std::int64_t>(1, 50)(rng);
  const std::int64_t buckets = std::uniform_int_distribution<std::int64_t>(1, 20)(rng);
  const std::int64_t limit = std::uniform_int_distribution<std::int64_t>(1, 60)(rng);
  Window window(bucket_ms, buckets);
  ReferenceWindow model{bucket_ms, buckets, {}};
  std::int64_t now = std::uniform_int_distribution<std::int64_t>(0, 1000)(rng);
  for (int call = 0; call < 3000; ++call) {
    now += std::uniform_int_distribution<std::int64_t>(0, bucket_ms * 2)(rng);
    // Mostly single units, sometimes up to the whole limit.
    const std::int64_t n = rng() % 4 == 0 ? std::uniform_int_distribution<std::int64_t>(1, limit)(rng) : 1;
    const bool expected = model.admits(now, n, limit);
    const Window::Verdict v = window.inc(now, n, limit);
    REQUIRE(v.admitted == expected);
    if (v.admitted) {
      model.admitted.emplace_back(now / bucket_ms, n);
      continue;
    }
    const std::int64_t fit = model.first_fit(now, n, limit);
    REQUIRE(v.retry_after_ms == fit - now);
    REQUIRE(v.remaining_after_waiting == limit - model.total_at(fit) - n);
    // The boundary: a ms before retry_after still rejects, at it n fits.
    Window later = window;  // a copy: check moves the window on to its time
    REQUIRE(later.check(now + v.retry_after_ms - 1, n, limit).admitted == false);
    REQUIRE(later.check(now + v.retry_after_ms, n, limit).admitted);
  }
  // Over every window aligned to bucket boundaries, at most `limit` admitted.
  const std::int64_t last = now / bucket_ms;
  for (std::int64_t end = 0; end <= last; ++end) {
    std::int64_t total = 0;
    for (auto [at, units] : model.admitted)
      if (at > end - buckets && at <= end) total += units;
    REQUIRE(total <= limit);
  }
}

TEST_CASE("a rejected call is not counted, and n counts in full", "[rate_limit]") {
  Window w(100, 10);  // one second
  REQUIRE(w.inc(0, 7, 10).admitted);
  REQUIRE_FALSE(w.inc(50, 4, 10).admitted);  // 7 + 4 > 10: not counted
  REQUIRE(w.inc(60, 3, 10).admitted);        // so 3 still fits
  REQUIRE(w.total(60) == 10);
  const auto v = w.inc(950, 1, 10);
  REQUIRE_FALSE(v.admitted);
  REQUIRE(v.retry_after_ms == 50);           // bucket 0 leaves at 1000 ms
  REQUIRE(v.remaining_after_waiting == 9);   // all 10 leave with it; 1 taken
  REQUIRE(w.inc(1000, 10, 10).admitted);
}

TEST_CASE("a limit is rate x window in whole units, and bad rates and units are refused", "[rate_limit]") {
  REQUIRE(limit_of(100, 10'000) == 1000);
  REQUIRE(limit_of(2.9, 10'000) == 29);  // 28999.999... in doubles
  REQUIRE(limit_of(0.15, 10'000) == 1);
  REQUIRE(limit_of(1.99, 1000) == 1);
  for (double bad : {0.0, -1.0, 0.09, std::nan(""), std::numeric_limits<double>::infinity(), 1e300})
    REQUIRE(error_thrown_by([&] { limit_of(bad, 10'000); }) == errc::invalid_argument);
  REQUIRE(error_thrown_by([] { check_units(0, 10); }) == errc::invalid_argument);
  REQUIRE(error_thrown_by([] { check_units(-1, 10); }) == errc::invalid_argument);
  REQUIRE(error_thrown_by([] { check_units(11, 10); }) == errc::invalid_argument);
  REQUIRE_FALSE(error_thrown_by([] { check_units(10, 10); }));
}

TEST_CASE("bad rate limiter options are refused", "[rate_limit]") {
  auto refused = [](auto change) {
    RateLimiterOptions o = options_of(10s, 100ms);
    change(o);
    return error_thrown_by([&] { RateLimiter::create(o); });
  };
  REQUIRE(refused([](auto&) {}) == std::nullopt);
  REQUIRE(refused([](auto& o) { o.window = 0ms; }) == errc::invalid_argument);
  REQUIRE(refused([](auto& o) { o.bucket = -1ms; }) == errc::invalid_argument);
  REQUIRE(refused([](auto& o) { o.window = 1050ms; }) == errc::invalid_argument);  // not a multiple
  REQUIRE(refused([](auto& o) { o.bucket = 5ms; }) == errc::invalid_argument);     // under 10 ms
  REQUIRE(refused([](auto& o) { o.window = 20s, o.bucket = 10ms; }) == errc::invalid_argument);  // 2,000 buckets
  REQUIRE(refused([](auto& o) { o.hard_limit_factor = 0.5; }) == errc::invalid_argument);
  REQUIRE(refused([](auto& o) { o.hard_limit_factor = std::nan(""); }) == errc::invalid_argument);
  REQUIRE(refused([](auto& o) { o.sync_interval = 0ms; }) == errc::invalid_argument);
  REQUIRE(refused([](auto& o) { o.sync_interval = 101ms; }) == errc::invalid_argument);  // over a bucket
  REQUIRE(refused([](auto& o) { o.forget_after = 0ms; }) == errc::invalid_argument);
  REQUIRE(refused([](auto& o) { o.on_outage = static_cast<OutagePolicy>(7); }) == errc::invalid_argument);
  // A limiter without a connection has only the local provider.
  auto limiter = RateLimiter::create(options_of(1s, 100ms));
  REQUIRE(error_thrown_by([&] { limiter->redis(); }) == errc::invalid_argument);
  REQUIRE(error_thrown_by([&] { limiter->hybrid(); }) == errc::invalid_argument);
}

TEST_CASE("the local provider refuses bad keys, rates and units before counting anything", "[rate_limit]") {
  auto limiter = RateLimiter::create(options_of(1s, 100ms));
  auto& limit = limiter->local().absolute();
  REQUIRE(error_thrown_by([&] { limit.inc_now("", 10); }) == errc::invalid_key);
  REQUIRE(error_thrown_by([&] { limit.inc_now("a:b", 10); }) == errc::invalid_key);
  REQUIRE(error_thrown_by([&] { limit.inc_now("k", 0); }) == errc::invalid_argument);
  REQUIRE(error_thrown_by([&] { limit.inc_now("k", 10, 11); }) == errc::invalid_argument);  // 10/s over 1 s
  REQUIRE(error_thrown_by([&] { limiter->local().suppressed().inc_now("k", 10, 0); }) == errc::invalid_argument);
  for (int i = 0; i < 10; ++i) REQUIRE(limit.inc_now("k", 10));
  const Decision d = limit.inc_now("k", 10);
  REQUIRE(d.kind == Decision::Kind::rejected);
  REQUIRE(d.retry_after > 0ms);
  REQUIRE(d.retry_after <= 1000ms);
  REQUIRE(limit.check_now("other", 10).kind == Decision::Kind::allowed);
}

TEST_CASE("the local provider keeps a window per key and forgets keys idle past forget_after", "[rate_limit]") {
  RateLimiterOptions o = options_of(1s, 100ms);
  o.forget_after = 2s;
  const Settings s(o);
  LocalAbsolute limits(s);
  for (int k = 0; k < 100; ++k) REQUIRE(limits.decide("key" + std::to_string(k), 0, 1, 1, true).admitted);
  REQUIRE_FALSE(limits.decide("key7", 500, 1, 1, true).admitted);  // each key its own window
  REQUIRE(limits.keys() == 100);
  // Every stripe is swept once it is used after forget_after: a key used
  // now survives, the idle ones go.
  for (int k = 0; k < 200; ++k) limits.decide("late" + std::to_string(k), 3000 + k, 1, 1, false);
  REQUIRE(limits.keys() == 200);  // key7, used at 500 ms, has been idle 2.5 s too
  REQUIRE(limits.decide("key7", 4000, 1, 1, true).admitted);
}

TEST_CASE("the suppressed strategy admits within 5% of the limit over 30 windows at 3x demand", "[rate_limit]") {
  RateLimiterOptions o = options_of(10s, 100ms);
  const Settings s(o);
  LocalSuppressed limits(s);
  std::mt19937_64 rng(GENERATE(11, 12, 13));
  std::uniform_real_distribution<double> uniform(0, 1);
  const std::int64_t limit = limit_of(100, s.window_ms);  // 1,000 per window
  // 300 calls/s, at random times, for 31 windows; the first is warm-up.
  std::int64_t admitted = 0, now = 0, suppressed_seen = 0;
  std::exponential_distribution<double> gap(0.3);  // per ms
  while (now < 31 * s.window_ms) {
    now += static_cast<std::int64_t>(gap(rng));
    const Decision d = limits.decide("k", now, limit, 1, true, uniform(rng));
    REQUIRE(d.kind == Decision::Kind::suppressed);
    if (d.factor > 0) ++suppressed_seen;
    if (d.admitted && now >= s.window_ms) ++admitted;
  }
  const double rate = static_cast<double>(admitted) / 30.0 / 10.0;  // per second
  INFO("admitted " << rate << "/s against 100/s");
  REQUIRE(rate >= 95.0);
  REQUIRE(rate <= 105.0);
  REQUIRE(suppressed_seen > 0);
}

TEST_CASE("the suppressed strategy never admits past the hard limit in a window", "[rate_limit]") {
  RateLimiterOptions o = options_of(1s, 100ms);
  o.hard_limit_factor = 1.5;
  const Settings s(o);
  LocalSuppressed limits(s);
  // Draws of 0.99 pass any factor below 1: only the hard limit stops them.
  std::int64_t admitted = 0;
  for (int i = 0; i < 100; ++i) admitted += limits.decide("k", i, 10, 1, true, 0.99).admitted ? 1 : 0;
  REQUIRE(admitted == 15);
  const Decision d = limits.decide("k", 200, 10, 1, true, 0.99);
  REQUIRE(d.factor == 1.0);
  REQUIRE_FALSE(d.admitted);
  REQUIRE(limits.decide("k", 200, 10, 1, false, 0).admitted == false);  // check says so too
  REQUIRE(limits.decide("k", 1100, 10, 1, false, 0).admitted);          // a window later, room again
}

TEST_CASE("a suppressed factor is 1 - limit / asked, kept for suppression_cache", "[rate_limit]") {
  REQUIRE(suppression_factor(100, 100) == 0.0);
  REQUIRE(suppression_factor(300, 100) == Approx(2.0 / 3.0));
  RateLimiterOptions o = options_of(1s, 100ms);
  o.suppression_cache = 100ms;
  o.hard_limit_factor = 100;
  const Settings s(o);
  LocalSuppressed limits(s);
  for (int i = 0; i < 30; ++i) limits.decide("k", 0, 10, 1, true, 0.5);
  // Worked out at the first call (1 asked): 0, kept for 100 ms.
  REQUIRE(limits.decide("k", 99, 10, 1, true, 0.5).factor == 0.0);
  REQUIRE(limits.decide("k", 100, 10, 1, true, 0.5).factor == Approx(1.0 - 10.0 / 32.0));
}
