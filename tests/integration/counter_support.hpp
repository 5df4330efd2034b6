#pragma once
// What the StrictCounter and LaxCounter tests share.

#include <chrono>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "run.hpp"

namespace distkit::test {


constexpr std::int64_t int64_max = std::numeric_limits<std::int64_t>::max();
constexpr std::int64_t int64_min = std::numeric_limits<std::int64_t>::min();
constexpr auto no_background_flush = std::chrono::hours(1);  // LaxCounter flushes only when told to

inline std::shared_ptr<StrictCounter> strict_on(Env& env, const RedisKey& prefix) {
  return StrictCounter::create({.prefix = prefix, .connection = env.conn});
}
inline std::shared_ptr<StrictCounter> strict_on(Env& env) { return strict_on(env, env.prefix); }

inline std::shared_ptr<LaxCounter> lax_on(Env& env, std::chrono::milliseconds allowed_lag = std::chrono::milliseconds(20)) {
  return LaxCounter::create({.prefix = env.prefix, .connection = env.conn, .allowed_lag = allowed_lag});
}

// A LaxCounter that flushes only when told to, and a StrictCounter on its prefix.
struct LaxFixture {
  Env env;
  std::shared_ptr<StrictCounter> strict = strict_on(env);
  std::shared_ptr<LaxCounter> lax = lax_on(env, no_background_flush);
};

// The totals of `keys`, read one after another.
// (Variadic: g++ 12 miscompiles an initializer_list parameter of a coroutine.)
template <class Counter, class... Key>
asio::awaitable<std::vector<std::int64_t>> totals(Counter& c, Key... keys) {
  std::vector<std::int64_t> out;
  (out.push_back(co_await c.get(keys)), ...);
  co_return out;
}

// What under_load() saw: rounds of increments, and the increments that returned.
struct Load {
  int rounds = 0;
  std::int64_t made = 0;
};

// Increments 100 keys of `lax` once, then runs `op` while it goes on doing
// so, yielding after each round, until `op` is done, or the counter is shut
// down, or (so that a hang shows as a failed check) 500 rounds have passed.
inline asio::awaitable<Load> under_load(LaxCounter& lax, asio::awaitable<void> op) {
  constexpr int max_rounds = 500, keys = 100;
  Load load;
  bool done = false;
  auto round = [&]() -> asio::awaitable<bool> {
    for (int i = 0; i < keys; ++i) {
      try {
        co_await lax.inc("k" + std::to_string(i), 1);
        ++load.made;
      } catch (const Error& e) {
        if (e.value() != errc::shut_down) throw;
        co_return false;
      }
    }
    co_return ++load.rounds < max_rounds;
  };
  auto increment = [&]() -> asio::awaitable<void> {
    while (!done && co_await round()) co_await asio::post(co_await asio::this_coro::executor, asio::use_awaitable);
  };
  auto finish = [&]() -> asio::awaitable<void> {
    co_await std::move(op);
    done = true;
  };
  co_await round();  // every key seeded and pending when `op` begins
  using namespace asio::experimental::awaitable_operators;
  co_await (increment() && finish());
  co_return load;
}

// Keys that break the RedisKey rules.
inline std::vector<std::string> bad_keys() {
  return {"", std::string(256, 'k'), "a:b", "{a", "a}", "ctl\x01", "del\x7f", std::string("nul\0x", 5)};
}


}  // namespace distkit::test
