#include "rate_limit_figures.hpp"

#include <random>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <unistd.h>

#include "distkit/distkit.hpp"
#include "session.hpp"

namespace distkit::bench {
namespace {

using namespace std::chrono_literals;

// 1,000/s over the default 10 s window: 10,000 per key, far more than a
// run calls any one of rate_limit_keys, so every decision admits.
constexpr double rate = 1000;

// The redis figures and their ceiling share one prefix, so that both call
// on the same population of keys (windows with buckets to drop, not only
// fresh ones); the others take a fresh one.
std::shared_ptr<RateLimiter> limiter_on(Session& s, bool shared = false) {
  static int n = 0;
  const std::string prefix = shared ? fmt::format("rl{}", getpid()) : fmt::format("rl{}-{}", getpid(), ++n);
  return RateLimiter::create({RedisKey(prefix), s.conn});
}

// Keys named as redis-benchmark -r names its __rand_int__: 12 digits, other
// ones each run as redis-benchmark's are (the same ones would find their
// windows fuller of buckets to drop, and cost the script more).
struct RandomKeys {
  std::mt19937_64 rng{std::random_device{}()};
  std::string next() { return fmt::format("{:012d}", rng() % static_cast<std::uint64_t>(rate_limit_keys)); }
};

std::vector<std::string> warm_keys() {
  std::vector<std::string> keys;
  for (int i = 0; i < 16; ++i) keys.push_back(fmt::format("warm{:02d}", i));
  return keys;
}

std::uint64_t hot_ops(const Setup& s) { return s.quick ? 1'000'000 : 10'000'000; }

// A rate so high that a warm key never runs out: the figure is the cost of
// a decision, not of waiting for a lease.
constexpr double unbounded_rate = 1e9;

}  // namespace

Args rate_limit_command(const Setup& setup) {
  Session s(setup.port);
  auto limiter = limiter_on(s, true);
  s.run(limiter->redis().absolute().inc("hot", rate));  // loads the script
  auto args = capture_evalsha(setup.port, [&] { s.run(limiter->redis().absolute().inc("hot", rate)); });
  auto& key = args.at(3);
  const auto at = key.find(":hot}");
  if (at == std::string::npos) throw std::runtime_error("rate_limit_command: the captured key is " + key);
  key.replace(at, 5, ":__rand_int__}");
  return args;
}

ThroughputResult rate_limit_throughput(const Setup& setup) {
  Session s(setup.port);
  auto limiter = limiter_on(s, true);
  s.run(limiter->redis().absolute().inc("hot", rate));
  ServerWatch watch(setup.port);
  const double cpu0 = process_cpu_us();
  const auto t0 = Clock::now();
  const auto end = t0 + (setup.quick ? 500ms : 2s);
  std::uint64_t ops = 0, admitted = 0;
  RandomKeys keys;
  s.run_all(64, [&](int) -> asio::awaitable<void> {
    while (Clock::now() < end) {
      admitted += (co_await limiter->redis().absolute().inc(keys.next(), rate)).admitted;
      ++ops;
    }
  });
  if (admitted != ops) throw std::runtime_error("rate_limit_throughput: a decision rejected");
  return {static_cast<double>(ops) / seconds_since(t0), (process_cpu_us() - cpu0) / static_cast<double>(ops),
          watch.stop()};
}

double rate_limit_p50_us(const Setup& setup, std::size_t ops) {
  Session s(setup.port);
  auto limiter = limiter_on(s, true);
  s.run(limiter->redis().absolute().inc("hot", rate));
  std::vector<double> latencies(ops);
  RandomKeys keys;
  s.run([&]() -> asio::awaitable<void> {
    for (auto& latency : latencies) {
      const std::string key = keys.next();
      const auto t0 = Clock::now();
      co_await limiter->redis().absolute().inc(key, rate);
      latency = seconds_since(t0) * 1e6;
    }
  }());
  std::nth_element(latencies.begin(), latencies.begin() + static_cast<std::ptrdiff_t>(latencies.size() / 2),
                   latencies.end());
  return latencies[latencies.size() / 2];
}

double local_limit_ops(const Setup& setup) {
  Session s(setup.port);
  auto limiter = limiter_on(s);
  auto& limit = limiter->local().absolute();
  const auto keys = warm_keys();
  for (const auto& k : keys) limit.inc_now(k, unbounded_rate);
  const std::uint64_t ops = hot_ops(setup);
  std::uint64_t admitted = 0;
  const auto t0 = Clock::now();
  for (std::uint64_t i = 0; i < ops; ++i) admitted += limit.inc_now(keys[i % keys.size()], unbounded_rate).admitted;
  const double rate_of = static_cast<double>(ops) / seconds_since(t0);
  if (admitted != ops) throw std::runtime_error("local_limit_ops: a decision rejected");
  return rate_of;
}

double hybrid_limit_ops(const Setup& setup) {
  Session s(setup.port);
  auto limiter = limiter_on(s);
  auto& limit = limiter->hybrid().absolute();
  const auto keys = warm_keys();
  const std::uint64_t ops = hot_ops(setup);
  double rate_of = 0;
  s.run([&]() -> asio::awaitable<void> {
    // Warm: a lease per key, then leases sized for this demand.
    for (int round = 0; round < 2000; ++round)
      for (const auto& k : keys) co_await limit.inc(k, unbounded_rate);
    const auto t0 = Clock::now();
    for (std::uint64_t i = 0; i < ops; ++i) co_await limit.inc(keys[i % keys.size()], unbounded_rate);
    rate_of = static_cast<double>(ops) / seconds_since(t0);
  }());
  return rate_of;
}

double rate_limit_bytes_per_key(const Setup& setup) {
  Session s(setup.port);
  auto limiter = limiter_on(s);
  Admin admin(setup.port);
  const auto used = [&] {
    const std::string info = admin.command({"INFO", "memory"});
    const auto at = info.find("used_memory:");
    return std::stod(info.substr(at + 12));
  };
  constexpr int keys = 200;
  const double before = used();
  const auto t0 = Clock::now();
  // One call per key in each 100 ms bucket of a 10 s window.
  s.run([&]() -> asio::awaitable<void> {
    asio::steady_timer timer(co_await asio::this_coro::executor);
    for (int bucket = 0; bucket <= 100; ++bucket) {
      for (int k = 0; k < keys; ++k) co_await limiter->redis().absolute().inc(fmt::format("key{:03d}", k), rate);
      timer.expires_at(t0 + (bucket + 1) * 100ms);
      co_await timer.async_wait(asio::use_awaitable);
    }
  }());
  return (used() - before) / keys;
}

}  // namespace distkit::bench
