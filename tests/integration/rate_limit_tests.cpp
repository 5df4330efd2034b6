// The redis and hybrid rate limit providers against a real redis-server.
#include <chrono>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include <fmt/format.h>

#include "ratelimit/hybrid_limits.hpp"
#include "ratelimit/redis_limits.hpp"
#include "run.hpp"

using namespace distkit;
using namespace distkit::test;
using namespace std::chrono_literals;

namespace {

RateLimiterOptions options_on(Env& env, std::chrono::milliseconds window, std::chrono::milliseconds bucket) {
  RateLimiterOptions o{env.prefix, env.conn};
  o.window = window;
  o.bucket = bucket;
  return o;
}

// `size` limiters on one prefix, each with a connection of its own (on
// env's io_context), as processes of a fleet are; buckets of 100 ms.
std::vector<std::shared_ptr<RateLimiter>> fleet_on(Env& env, int size, std::chrono::milliseconds window) {
  std::vector<std::shared_ptr<RateLimiter>> fleet;
  for (int p = 0; p < size; ++p) {
    RateLimiterOptions o = options_on(env, window, 100ms);
    o.connection = env(redis::connect(env.io.get_executor(), server().url()));
    fleet.push_back(RateLimiter::create(o));
  }
  return fleet;
}

std::int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Admissions with the wall-clock span in which each was decided (Redis'
// TIME is the same clock): one whose span crosses a bucket boundary is left
// out of the per-window totals, which then never over-count.
struct Admissions {
  std::mutex mutex;
  std::vector<std::pair<std::int64_t, std::int64_t>> spans;  // (before, after), ms

  void add(std::int64_t before, std::int64_t after) {
    const std::lock_guard lock(mutex);
    spans.emplace_back(before, after);
  }
  // The most units admitted in any window of `buckets` aligned buckets, and
  // the units certainly admitted in [from, to) ms.
  std::int64_t most_in_a_window(std::int64_t bucket_ms, std::int64_t buckets) {
    std::map<std::int64_t, std::int64_t> per_bucket;
    for (auto [before, after] : spans)
      if (before / bucket_ms == after / bucket_ms) ++per_bucket[before / bucket_ms];
    std::int64_t most = 0;
    for (auto [end, _] : per_bucket) {
      std::int64_t total = 0;
      for (auto it = per_bucket.lower_bound(end - buckets + 1); it != per_bucket.end() && it->first <= end; ++it)
        total += it->second;
      most = std::max(most, total);
    }
    return most;
  }
  std::int64_t within(std::int64_t from, std::int64_t to) {
    std::int64_t n = 0;
    for (auto [before, after] : spans) n += before >= from && after < to ? 1 : 0;
    return n;
  }
};

// Calls `limit.inc(key, rate)` every `gap` until `until` (wall ms), noting
// each admission in `seen`.
asio::awaitable<void> paced(RemoteRateLimit& limit, std::string key, double rate, std::chrono::microseconds gap,
                            std::int64_t until, Admissions& seen) {
  auto next = std::chrono::steady_clock::now();
  asio::steady_timer timer(co_await asio::this_coro::executor);
  while (wall_ms() < until) {
    const std::int64_t before = wall_ms();
    const Decision d = co_await limit.inc(key, rate);
    if (d.admitted) seen.add(before, wall_ms());
    next += gap;
    timer.expires_at(next);
    co_await timer.async_wait(asio::use_awaitable);
  }
}

// Each limiter of a fleet of 4 asks hybrid().absolute() for 50 calls/s on
// one key limited to 100/s, for `run`.
void fleet_at_twice_100_per_s(Env& env, const std::vector<std::shared_ptr<RateLimiter>>& fleet,
                              std::chrono::milliseconds run, Admissions& seen) {
  const std::int64_t until = wall_ms() + run.count();
  env(
      [&]() -> asio::awaitable<void> {
        co_await concurrently(4, [&](int p) {
          return paced(fleet[static_cast<std::size_t>(p)]->hybrid().absolute(), "k", 100, 20ms, until, seen);
        });
      }(),
      60s);
}

}  // namespace

TEST_CASE("redis absolute: admits up to rate x window, counts n in full, and says when to retry", "[rate_limit]") {
  Env env;
  auto limiter = RateLimiter::create(options_on(env, 1s, 100ms));
  auto& limit = limiter->redis().absolute();
  std::vector<Decision> decisions;
  Decision after_waiting, check_full, check_other;
  env([&]() -> asio::awaitable<void> {
    decisions.push_back(co_await limit.inc("k", 20, 15));  // 20/s over 1 s: 20
    decisions.push_back(co_await limit.inc("k", 20, 6));   // 21 > 20: rejected, not counted
    decisions.push_back(co_await limit.inc("k", 20, 5));   // so 5 still fit
    decisions.push_back(co_await limit.inc("k", 20));
    check_full = co_await limit.check("k", 20);
    check_other = co_await limit.check("other", 20);
    co_await sleep_for(decisions[3].retry_after);  // Redis' clock has then moved on at least as far
    after_waiting = co_await limit.inc("k", 20);
  }());
  CHECK(decisions[0].kind == Decision::Kind::allowed);
  CHECK(decisions[1].kind == Decision::Kind::rejected);
  CHECK(decisions[2].kind == Decision::Kind::allowed);
  REQUIRE(decisions[3].kind == Decision::Kind::rejected);
  CHECK(decisions[3].retry_after > 0ms);
  CHECK(decisions[3].retry_after <= 1000ms);
  // 19 if all 20 units are in one bucket, less if a bucket boundary fell
  // between the calls (the unit tests pin it on a fake clock).
  CHECK(decisions[3].remaining_after_waiting >= 0);
  CHECK(decisions[3].remaining_after_waiting <= 20 - 1);
  CHECK_FALSE(check_full.admitted);
  CHECK(check_other.kind == Decision::Kind::allowed);
  CHECK(after_waiting.kind == Decision::Kind::allowed);
}

TEST_CASE("redis absolute: the bound holds over every aligned window on real time", "[rate_limit]") {
  Env env;
  auto limiter = RateLimiter::create(options_on(env, 500ms, 50ms));
  Admissions seen;
  const std::int64_t until = wall_ms() + 3000;
  // Three callers at random paces, 1.5x to 4x the limit of 40/s together.
  env([&]() -> asio::awaitable<void> {
    co_await concurrently(3, [&](int i) {
      return paced(limiter->redis().absolute(), "k", 40, std::chrono::microseconds(6000 + 4000 * i), until, seen);
    });
  }());
  CHECK(seen.most_in_a_window(50, 10) <= 20);
  CHECK(seen.spans.size() >= 3 * 20);  // 6 windows: the limit was reached, not starved
}

TEST_CASE("redis absolute: 4 threads x 1,000 calls at once admit exactly the limit", "[rate_limit][concurrency]") {
  Env env;
  // fail_closed: were the refusal to fail the calls of the keys synced
  // with it, those would be rejected.
  RateLimiterOptions o = options_on(env, 60s, 1s);  // no bucket leaves during the test
  o.on_outage = OutagePolicy::fail_closed;
  auto limiter = RateLimiter::create(o);
  std::atomic<std::int64_t> admitted{0}, rejected{0};
  run(
      env.io,
      [&]() -> asio::awaitable<void> {
        co_await concurrently(4, [&](int) -> asio::awaitable<void> {
          for (int i = 0; i < 1000; ++i) {
            const Decision d = co_await limiter->redis().absolute().inc("k", 10);  // 600 per window
            ++(d.admitted ? admitted : rejected);
          }
        });
      }(),
      60s, 4);
  CHECK(admitted == 600);
  CHECK(rejected == 3400);
}

TEST_CASE("redis suppressed: admits within 5% of the limit over 30 windows at 3x demand", "[rate_limit]") {
  Env env;
  auto limiter = RateLimiter::create(options_on(env, 500ms, 50ms));
  Admissions seen;
  const std::int64_t start = wall_ms(), until = start + 15'500;
  std::int64_t suppressed = 0;
  env(
      [&]() -> asio::awaitable<void> {
        // 3,000 calls/s against 1,000/s: three callers, one call per ms each.
        co_await concurrently(3, [&](int) -> asio::awaitable<void> {
          asio::steady_timer timer(co_await asio::this_coro::executor);
          auto next = std::chrono::steady_clock::now();
          while (wall_ms() < until) {
            const std::int64_t before = wall_ms();
            const Decision d = co_await limiter->redis().suppressed().inc("k", 1000);
            if (d.admitted) seen.add(before, wall_ms());
            else ++suppressed;
            next += 1ms;
            timer.expires_at(next);
            co_await timer.async_wait(asio::use_awaitable);
          }
        });
      }(),
      60s);
  const double rate = static_cast<double>(seen.within(start + 500, until)) / 15.0;
  INFO("admitted " << rate << "/s against 1000/s");
  CHECK(rate >= 950);
  CHECK(rate <= 1050);
  CHECK(suppressed > 0);
}

TEST_CASE("redis provider: bad keys, units and another window shape are refused", "[rate_limit]") {
  Env env;
  auto limiter = RateLimiter::create(options_on(env, 1s, 100ms));
  RateLimiterOptions other = options_on(env, 2s, 100ms);
  auto other_shape = RateLimiter::create(other);
  std::vector<std::optional<errc>> errors;
  env([&]() -> asio::awaitable<void> {
    auto& limit = limiter->redis().absolute();
    errors = co_await errors_of(limit.inc("a:b", 10), limit.inc("", 10), limit.inc("k", 10, 11), limit.inc("k", 0.5),
                                limiter->redis().suppressed().inc("k", 10, 0), limit.inc("k", 10),
                                other_shape->redis().absolute().inc("k", 10), limiter->hybrid().absolute().inc("a{b", 10));
  }());
  CHECK(errors[0] == errc::invalid_key);
  CHECK(errors[1] == errc::invalid_key);
  CHECK(errors[2] == errc::invalid_argument);
  CHECK(errors[3] == errc::invalid_argument);  // 0.5/s over 1 s admits nothing
  CHECK(errors[4] == errc::invalid_argument);
  CHECK(errors[5] == std::nullopt);
  CHECK(errors[6] == errc::invalid_argument);  // the key is limited over 1 s already
  CHECK(errors[7] == errc::invalid_key);
}

TEST_CASE("redis provider: a key's hashes expire by themselves once idle", "[rate_limit]") {
  Env env;
  auto limiter = RateLimiter::create(options_on(env, 200ms, 50ms));
  const std::string absolute = fmt::format("{{{}:k}}:absolute", env.prefix.str());
  std::int64_t ttl = 0;
  bool gone = false;
  env([&]() -> asio::awaitable<void> {
    co_await limiter->redis().absolute().inc("k", 100);
    co_await limiter->redis().suppressed().inc("k", 100);
    ttl = std::stoll(server().command({"PTTL", absolute}));
    gone = co_await eventually([&]() -> asio::awaitable<bool> {
      co_return server().command({"EXISTS", absolute, absolute.substr(0, absolute.size() - 8) + "asked",
                                  absolute.substr(0, absolute.size() - 8) + "admitted"}) == "0";
    });
  }());
  CHECK(ttl > 0);
  CHECK(ttl <= 250);  // a window and a bucket
  CHECK(gone);
}

TEST_CASE("redis provider: fails with timeout when Redis stalls and connection_lost when the link drops",
          "[rate_limit]") {
  redis::ConnectionOptions o = redis::ConnectionOptions::from_url(server().url());
  o.command_timeout = 300ms;
  Env env(o);
  auto limiter = RateLimiter::create(options_on(env, 1s, 100ms));
  std::optional<errc> stalled, lost;
  env([&]() -> asio::awaitable<void> {
    co_await limiter->redis().absolute().inc("k", 10);
    server().command({"CLIENT", "PAUSE", "1000", "ALL"});
    stalled = co_await error_of(limiter->redis().absolute().inc("k", 10));
    co_await eventually([&]() -> asio::awaitable<bool> {
      co_return !(co_await error_of(limiter->redis().absolute().check("k", 10))).has_value();
    });
    lost = co_await lose_reply(server(), limiter->redis().absolute().inc("k", 10));
  }());
  CHECK(stalled == errc::timeout);
  CHECK(lost == errc::connection_lost);
}

TEST_CASE("hybrid absolute: a fleet of 4 at twice the limit for 10 s stays within it and admits 95% of it",
          "[rate_limit]") {
  Env env;
  // 100/s over 10 s (the default window and bucket) is 1,000 per window.
  Admissions seen;
  fleet_at_twice_100_per_s(env, fleet_on(env, 4, 10s), 10s, seen);
  const auto admitted = static_cast<std::int64_t>(seen.spans.size());
  INFO(admitted << " admitted of 2,000 asked; at most " << seen.most_in_a_window(100, 100) << " in a window");
  CHECK(seen.most_in_a_window(100, 100) <= 1000);  // the bound, with no overshoot
  CHECK(admitted >= 950);
}

TEST_CASE("hybrid absolute: a fleet at twice the limit stays within it over every window as it slides",
          "[rate_limit]") {
  Env env;
  Admissions seen;
  fleet_at_twice_100_per_s(env, fleet_on(env, 4, 1s), 5s, seen);
  INFO("at most " << seen.most_in_a_window(100, 10) << " in a window, " << seen.spans.size() << " in all");
  CHECK(seen.most_in_a_window(100, 10) <= 100);
  CHECK(seen.spans.size() >= 4 * 100);  // 5 windows: not starved
}

TEST_CASE("hybrid absolute: a warm key decides with no round trip, and one sync serves 100 keys per call",
          "[rate_limit]") {
  Env env;
  detail::ratelimit::Settings settings(options_on(env, 10s, 100ms));
  settings.sync_interval_ms = 3'600'000;  // the test syncs by hand
  auto redis = std::make_shared<detail::ratelimit::RedisLimits>(settings, env.prefix.str(), env.conn);
  auto hybrid = std::make_shared<detail::ratelimit::HybridLimits>(settings, OutagePolicy::fail_closed, redis);
  std::int64_t cold_calls = 0, sync_calls = 0, warm_calls = 0, admitted = 0;
  env([&]() -> asio::awaitable<void> {
    auto calls = server().script_calls();
    for (int k = 0; k < 250; ++k) co_await hybrid->absolute("k" + std::to_string(k), 1000, 1, true);
    cold_calls = server().script_calls() - calls;  // each quiet key takes a lease for its call
    calls = server().script_calls();
    co_await hybrid->sync();  // 250 keys asked for 1 each: leases of 2 more, in 3 calls
    sync_calls = server().script_calls() - calls;
    calls = server().script_calls();
    for (int k = 0; k < 250; ++k)
      for (int i = 0; i < 2; ++i) admitted += (co_await hybrid->absolute("k" + std::to_string(k), 1000, 1, true)).admitted;
    warm_calls = server().script_calls() - calls;
  }());
  CHECK(cold_calls == 250);
  CHECK(sync_calls == 3);
  CHECK(warm_calls == 0);
  CHECK(admitted == 500);
}

TEST_CASE("hybrid: while Redis is down it decides by on_outage, without hanging, and takes leases again after",
          "[rate_limit]") {
  const OutagePolicy policy = GENERATE(OutagePolicy::fail_open, OutagePolicy::fail_closed, OutagePolicy::local_only);
  RedisServer own;
  redis::ConnectionOptions co = redis::ConnectionOptions::from_url(own.url());
  co.command_timeout = 300ms;
  Env env(co);
  RateLimiterOptions o = options_on(env, 60s, 1s);  // no bucket leaves during the test
  o.on_outage = policy;
  auto limiter = RateLimiter::create(o);
  auto& limit = limiter->hybrid().absolute();
  std::vector<Decision> down;
  bool leased_again = false;
  env([&]() -> asio::awaitable<void> {
    for (int i = 0; i < 5; ++i) co_await limit.inc("k", 0.5);  // 30 per window
    own.kill_hard();
    for (int i = 0; i < 40; ++i) down.push_back(co_await limit.inc("k", 0.5));
    own.start();
    const std::string hash = fmt::format("{{{}:k}}:hybrid", env.prefix.str());
    leased_again = co_await eventually([&]() -> asio::awaitable<bool> {
      co_await limit.inc("k", 0.5);
      co_return own.command({"EXISTS", hash}) == "1";
    });
  }());
  std::int64_t admitted = 0;
  for (const auto& d : down) admitted += d.admitted ? 1 : 0;
  INFO("admitted " << admitted << " of 40 while Redis was down");
  switch (policy) {
    case OutagePolicy::fail_open:
      CHECK(admitted == 40);
      break;
    case OutagePolicy::fail_closed:  // only what leases still held
      CHECK(admitted <= 30 - 5);
      CHECK_FALSE(down.back().admitted);
      break;
    case OutagePolicy::local_only:  // the whole limit, in this process alone
      CHECK(admitted == 30 - 5);
      CHECK_FALSE(down.back().admitted);
      break;
  }
  CHECK(leased_again);
}

TEST_CASE("hybrid: a stalled Redis delays a quiet key's call by the command timeout at most", "[rate_limit]") {
  redis::ConnectionOptions co = redis::ConnectionOptions::from_url(server().url());
  co.command_timeout = 300ms;
  Env env(co);
  RateLimiterOptions o = options_on(env, 1s, 100ms);
  o.on_outage = OutagePolicy::fail_open;  // Redis grants nothing meanwhile: an admission is the policy's
  auto limiter = RateLimiter::create(o);
  Decision cold, after;
  env([&]() -> asio::awaitable<void> {
    server().command({"CLIENT", "PAUSE", "1500", "ALL"});
    cold = co_await limiter->hybrid().absolute().inc("quiet", 10);  // its lease call times out
    after = co_await limiter->hybrid().absolute().inc("other", 10);  // the outage is known
  }());
  server().command({"CLIENT", "UNPAUSE"});
  CHECK(cold.kind == Decision::Kind::allowed);
  CHECK(after.kind == Decision::Kind::allowed);
}

TEST_CASE("hybrid suppressed: a fleet of 2 at 3x demand admits about the limit", "[rate_limit]") {
  Env env;
  const auto fleet = fleet_on(env, 2, 1s);
  Admissions seen;
  const std::int64_t start = wall_ms(), until = start + 6000;
  env(
      [&]() -> asio::awaitable<void> {
        // 600 calls/s against 200/s: each process 300/s.
        co_await concurrently(2, [&](int p) {
          return paced(fleet[static_cast<std::size_t>(p)]->hybrid().suppressed(), "k", 200, 3333us, until, seen);
        });
      }(),
      60s);
  const double rate = static_cast<double>(seen.within(start + 2000, until)) / 4.0;
  INFO("admitted " << rate << "/s against 200/s; most in a window " << seen.most_in_a_window(100, 10));
  CHECK(rate >= 180);
  CHECK(rate <= 220);
  // The hard limit, 200 per window, plus what each process may admit
  // between two syncs (3 calls per 10 ms), with room for late syncs.
  CHECK(seen.most_in_a_window(100, 10) <= 200 + 2 * 3 * 4);
}

TEST_CASE("hybrid suppressed: decides by on_outage while Redis is down and reports again after", "[rate_limit]") {
  RedisServer own;
  redis::ConnectionOptions co = redis::ConnectionOptions::from_url(own.url());
  co.command_timeout = 300ms;
  Env env(co);
  RateLimiterOptions o = options_on(env, 60s, 1s);
  o.on_outage = OutagePolicy::fail_closed;
  auto limiter = RateLimiter::create(o);
  auto& limit = limiter->hybrid().suppressed();
  std::int64_t down_admitted = 0;
  bool outage_seen = false, reported_again = false;
  env([&]() -> asio::awaitable<void> {
    co_await limit.inc("k", 10);
    own.kill_hard();
    outage_seen = co_await eventually([&]() -> asio::awaitable<bool> {  // the next report fails
      co_return !(co_await limit.inc("k", 10)).admitted;
    });
    for (int i = 0; i < 20; ++i) down_admitted += (co_await limit.inc("k", 10)).admitted;
    own.start();
    const std::string asked = fmt::format("{{{}:k}}:hybrid_asked", env.prefix.str());
    reported_again = co_await eventually([&]() -> asio::awaitable<bool> {
      co_await limit.inc("k", 10);
      co_return own.command({"EXISTS", asked}) == "1";
    });
  }());
  CHECK(outage_seen);
  CHECK(down_admitted == 0);
  CHECK(reported_again);
}

TEST_CASE("hybrid: a key Redis refuses fails its own calls only, not the others synced with it", "[rate_limit]") {
  Env env;
  // fail_closed: were the refusal to fail the calls of the keys synced
  // with it, those would be rejected.
  RateLimiterOptions o = options_on(env, 60s, 1s);  // no bucket leaves during the test
  o.on_outage = OutagePolicy::fail_closed;
  auto limiter = RateLimiter::create(o);
  // Another client limits "odd" over another window: its hash has another shape.
  RateLimiterOptions other = options_on(env, 120s, 1s);
  auto other_shape = RateLimiter::create(other);
  std::optional<errc> absolute_error, suppressed_error;
  std::int64_t admitted = 0;
  env([&]() -> asio::awaitable<void> {
    co_await other_shape->hybrid().absolute().inc("odd", 10);
    co_await other_shape->hybrid().suppressed().inc("odd", 10);
    absolute_error = co_await error_of(limiter->hybrid().absolute().inc("odd", 10));
    // Suppressed decisions are local: the refusal of its report comes at the next call.
    co_await limiter->hybrid().suppressed().inc("odd", 10);
    co_await eventually([&]() -> asio::awaitable<bool> {
      suppressed_error = co_await error_of(limiter->hybrid().suppressed().inc("odd", 10));
      co_return suppressed_error.has_value();
    });
    for (int round = 0; round < 20; ++round) {
      for (int k = 0; k < 5; ++k) {
        const std::string key = "even" + std::to_string(k);
        admitted += (co_await limiter->hybrid().absolute().inc(key, 0.25)).admitted;  // 15 per window
        co_await limiter->hybrid().suppressed().inc(key, 10);
      }
      // "odd" asks again each round, so the syncs carry it with the others.
      co_await error_of(limiter->hybrid().absolute().inc("odd", 10));
      co_await error_of(limiter->hybrid().suppressed().inc("odd", 10));
      co_await sleep_for(10ms);
    }
  }());
  CHECK(absolute_error == errc::invalid_argument);
  CHECK(suppressed_error == errc::invalid_argument);
  CHECK(admitted == 5 * 15);  // each key its whole limit, none lost to the refused key
}

TEST_CASE("hybrid: threads deciding while the sync loop runs never pass the limit", "[rate_limit][concurrency]") {
  Env env;
  auto limiter = RateLimiter::create(options_on(env, 60s, 1s));  // no bucket leaves during the test
  std::atomic<std::int64_t> absolute{0}, suppressed{0};
  run(
      env.io,
      [&]() -> asio::awaitable<void> {
        co_await concurrently(4, [&](int t) -> asio::awaitable<void> {
          for (int i = 0; i < 500; ++i) {
            const std::string key = "k" + std::to_string((i + t) % 3);
            absolute += (co_await limiter->hybrid().absolute().inc(key, 2)).admitted;  // 120 per window
            suppressed += (co_await limiter->hybrid().suppressed().inc(key, 2)).admitted;
          }
        });
      }(),
      60s, 4);
  CHECK(absolute <= 3 * 120);
  CHECK(absolute >= 3 * 100);
  CHECK(suppressed >= 3 * 100);
}
