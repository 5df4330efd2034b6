// Conditional writes (inc_if, set_if) against a real redis-server.
#include <thread>

#include <fmt/format.h>
#include <fmt/ostream.h>

#include "counter_support.hpp"

using namespace distkit;
using namespace distkit::test;

namespace {

// Every comparison, holding and not, against a current value of v.
struct Case {
  Compare cmp;
  bool holds;
};
std::vector<Case> comparisons_at(std::int64_t v) {
  return {{Compare::eq(v), true},      {Compare::eq(v - 1), false}, {Compare::ne(v - 1), true},
          {Compare::ne(v), false},     {Compare::lt(v + 1), true},  {Compare::lt(v), false},
          {Compare::le(v), true},      {Compare::le(v - 1), false}, {Compare::gt(v - 1), true},
          {Compare::gt(v), false},     {Compare::ge(v), true},      {Compare::ge(v + 1), false},
          {Compare::always(), true}};
}

template <class T>
std::string shown(const T& value) {
  return fmt::format("{}", fmt::streamed(value));
}
std::string shown(const std::optional<errc>& error) { return error ? make_error_code(*error).message() : "no error"; }

// What went wrong, as text.
struct Mismatches {
  std::vector<std::string> wrong;
  template <class T>
  void expect(const std::string& what, const T& got, const T& want) {
    if (!(got == want)) wrong.push_back(fmt::format("{}: got {}, want {}", what, shown(got), shown(want)));
  }
};

// Each comparison, with inc_if(+5) and with set_if(42), on a key at 10.
// `remote` reads the total Redis holds.
template <class C, class Remote>
asio::awaitable<std::vector<std::string>> every_comparison(C& counter, Remote remote) {
  Mismatches m;
  int n = 0;
  for (const auto& [cmp, holds] : comparisons_at(10)) {
    const auto key = fmt::format("k{}", n++);
    const auto what = fmt::format("{}", fmt::streamed(cmp));
    co_await counter.set(key, 10);
    m.expect("inc_if " + what, co_await counter.inc_if(key, cmp, 5), Outcome<std::int64_t>{holds ? 15 : 10, 10, holds});
    m.expect("total after inc_if " + what, co_await remote(key), std::int64_t{holds ? 15 : 10});
    co_await counter.set(key, 10);
    m.expect("set_if " + what, co_await counter.set_if(key, cmp, 42), Outcome<std::int64_t>{holds ? 42 : 10, 10, holds});
    m.expect("total after set_if " + what, co_await remote(key), std::int64_t{holds ? 42 : 10});
  }
  // A change of 0 whose comparison holds is applied; a missing key is 0.
  m.expect("inc_if of 0", co_await counter.inc_if("missing", Compare::eq(0), 0), Outcome<std::int64_t>{0, 0, true});
  const auto now = co_await counter.get("k0");
  m.expect("set_if to the same value", co_await counter.set_if("k0", Compare::always(), now),
           Outcome<std::int64_t>{now, now, true});
  co_return m.wrong;
}

// The instance-aware ops, on a key where another instance holds 5
// (`other_inc(key)` makes it so) and `mine` 10: inc_if(+1) and set_if(42)
// compare the cumulative (15), set_on_instance_if(3) mine. `remote` reads
// the cumulative Redis holds.
template <class C, class OtherInc, class Remote>
asio::awaitable<std::vector<std::string>> every_instance_aware_comparison(C& mine, OtherInc other_inc,
                                                                          Remote remote) {
  Mismatches m;
  int n = 0;
  const Counts start{15, 10};
  auto fresh_key = [&]() -> asio::awaitable<std::string> {
    auto key = fmt::format("k{}", n++);
    co_await other_inc(key);
    co_await mine.inc(key, 10);
    co_return key;
  };
  for (const auto& [cmp, holds] : comparisons_at(15)) {
    const auto what = fmt::format("{}", fmt::streamed(cmp));
    auto key = co_await fresh_key();
    m.expect("inc_if " + what, co_await mine.inc_if(key, cmp, 1),
             Outcome<Counts>{holds ? Counts{16, 11} : start, start, holds});
    m.expect("cumulative after inc_if " + what, co_await remote(key), std::int64_t{holds ? 16 : 15});
    key = co_await fresh_key();
    m.expect("set_if " + what, co_await mine.set_if(key, cmp, 42),
             Outcome<Counts>{holds ? Counts{42, 42} : start, start, holds});
    m.expect("cumulative after set_if " + what, co_await remote(key), std::int64_t{holds ? 42 : 15});
  }
  for (const auto& [cmp, holds] : comparisons_at(10)) {
    const auto what = fmt::format("{}", fmt::streamed(cmp));
    const auto key = co_await fresh_key();
    m.expect("set_on_instance_if " + what, co_await mine.set_on_instance_if(key, cmp, 3),
             Outcome<Counts>{holds ? Counts{8, 3} : start, start, holds});
    m.expect("cumulative after set_on_instance_if " + what, co_await remote(key), std::int64_t{holds ? 8 : 15});
  }
  co_return m.wrong;
}

}  // namespace

TEST_CASE("conditional writes: every comparison on a StrictCounter, holding and not; a change of 0 is applied") {
  Env env;
  auto strict = strict_on(env);
  auto wrong = env(every_comparison(*strict, [&](const std::string& k) { return strict->get(k); }));
  CHECK(wrong == std::vector<std::string>{});
}

TEST_CASE("conditional writes: every comparison on a LaxCounter, decided on its local view and flushed") {
  Env env;
  auto strict = strict_on(env);
  auto lax = lax_on(env, no_background_flush);
  auto wrong = env(every_comparison(*lax, [&](const std::string& k) -> asio::awaitable<std::int64_t> {
    co_await lax->flush();
    co_return co_await strict->get(k);
  }));
  env(lax->shutdown());
  CHECK(wrong == std::vector<std::string>{});
}

TEST_CASE("conditional writes: every comparison on a StrictInstanceAwareCounter, on the cumulative and on the "
          "slice") {
  Env env;
  auto mine = StrictInstanceAwareCounter::create({.prefix = env.prefix, .connection = env.conn});
  auto other = StrictInstanceAwareCounter::create({.prefix = env.prefix, .connection = env.conn});
  auto wrong = env(every_instance_aware_comparison(
      *mine, [&](const std::string& k) -> asio::awaitable<void> { co_await other->inc(k, 5); },
      [&](const std::string& k) -> asio::awaitable<std::int64_t> { co_return (co_await other->get(k)).cumulative; }));
  env(mine->shutdown());
  env(other->shutdown());
  CHECK(wrong == std::vector<std::string>{});
}

TEST_CASE("conditional writes: every comparison on a LaxInstanceAwareCounter: inc_if and set_on_instance_if on "
          "its local view, set_if in Redis") {
  Env env;
  auto mine = LaxInstanceAwareCounter::create(
      {.prefix = env.prefix, .connection = env.conn, .flush_interval = no_background_flush,
       .allowed_lag = no_background_flush});
  auto other = LaxInstanceAwareCounter::create({.prefix = env.prefix, .connection = env.conn});
  const std::string cumulatives = "{" + env.prefix.str() + "}:ialax:v2:cum";
  auto wrong = env(every_instance_aware_comparison(
      *mine,
      [&](const std::string& k) -> asio::awaitable<void> {
        co_await other->inc(k, 5);
        co_await other->flush();
      },
      [&](const std::string& k) -> asio::awaitable<std::int64_t> {
        co_await mine->flush();
        co_return std::stoll(server().command({"HGET", cumulatives, k}));
      }));
  env(mine->shutdown());
  env(other->shutdown());
  CHECK(wrong == std::vector<std::string>{});
}

TEST_CASE("conditional writes: set_on_instance_if compares a stale slice (its key's epoch moved on) as 0; an "
          "instance-aware change of 0 writes nothing") {
  Env env;
  auto mine = StrictInstanceAwareCounter::create({.prefix = env.prefix, .connection = env.conn});
  auto other = StrictInstanceAwareCounter::create({.prefix = env.prefix, .connection = env.conn});
  env([&]() -> asio::awaitable<void> {
    co_await mine->inc("k", 10);
    co_await other->set("k", 100);  // a new epoch: mine is stale
    // (No co_await inside CHECK: g++ 12 evaluates it twice.)
    const auto as_it_was = co_await mine->set_on_instance_if("k", Compare::eq(10), 7);
    const auto as_zero = co_await mine->set_on_instance_if("k", Compare::eq(0), 7);
    const auto others = co_await other->get("k");
    CHECK(as_it_was == Outcome<Counts>{{100, 0}, {100, 0}, false});
    CHECK(as_zero == Outcome<Counts>{{107, 7}, {100, 0}, true});
    CHECK(others == Counts{107, 100});
    // A change of 0, applied, writes nothing: no cumulative, no epoch.
    const auto zero = co_await mine->inc_if("none", Compare::eq(0), 0);
    CHECK(zero == Outcome<Counts>{{0, 0}, {0, 0}, true});
    const std::string base = "{" + env.prefix.str() + "}:ia:v2:";
    CHECK(server().command({"HEXISTS", base + "cum", "none"}) == "0");
    CHECK(server().command({"HEXISTS", base + "epoch", "none"}) == "0");
    co_await mine->shutdown();
    co_await other->shutdown();
  }());
}

TEST_CASE("conditional writes: values past 2^53 are compared exactly; int64 overflow is refused, nothing changed") {
  Env env;
  auto strict = strict_on(env);
  auto lax = LaxCounter::create({.prefix = unique_prefix("cond"), .connection = env.conn});
  Mismatches m;
  env([&]() -> asio::awaitable<void> {
    constexpr std::int64_t big = (std::int64_t{1} << 53) + 1;  // a double rounds it to 2^53
    using Out = Outcome<std::int64_t>;
    co_await strict->set("big", big);
    m.expect("eq(2^53)", co_await strict->inc_if("big", Compare::eq(big - 1), 1), Out{big, big, false});
    m.expect("eq(2^53 + 1)", co_await strict->inc_if("big", Compare::eq(big), 1), Out{big + 1, big, true});
    m.expect("lt(-(2^53 + 1))", co_await strict->set_if("big", Compare::lt(-big), 0), Out{big + 1, big + 1, false});
    co_await strict->set("neg", -big);
    m.expect("lt(-2^53)", co_await strict->set_if("neg", Compare::lt(-big + 1), 7), Out{7, -big, true});
    co_await strict->set("neg", -100);  // negatives of different lengths
    m.expect("-100 lt(-99)", co_await strict->inc_if("neg", Compare::lt(-99), 1), Out{-99, -100, true});
    m.expect("-99 gt(-100)", co_await strict->inc_if("neg", Compare::gt(-100), 1), Out{-98, -99, true});
    m.expect("-98 le(-100)", co_await strict->inc_if("neg", Compare::le(-100), 1), Out{-98, -98, false});
    m.expect("gt(INT64_MIN)", co_await strict->inc_if("neg", Compare::gt(int64_min), 1), Out{-97, -98, true});
    m.expect("eq(INT64_MIN)", co_await strict->inc_if("neg", Compare::eq(int64_min), 1), Out{-97, -97, false});
    // Neither a failed comparison nor a change of 0 leaves a field behind.
    m.expect("failed on a missing key", co_await strict->inc_if("none", Compare::gt(0), 1), Out{0, 0, false});
    m.expect("0 on a missing key", co_await strict->inc_if("none", Compare::eq(0), 0), Out{0, 0, true});
    m.expect("field of neither", server().command({"HEXISTS", "{" + env.prefix.str() + "}:totals", "none"}),
             std::string("0"));
    co_await strict->set("max", int64_max);
    const std::optional<errc> overflow = errc::overflow, none, bad_key = errc::invalid_key;
    m.expect("strict overflow", co_await error_of(strict->inc_if("max", Compare::always(), 1)), overflow);
    m.expect("strict total after overflow", co_await strict->get("max"), int64_max);
    m.expect("not applied: nothing to overflow", co_await strict->inc_if("max", Compare::lt(0), 1),
             Out{int64_max, int64_max, false});
    co_await lax->set("max", int64_max);
    m.expect("lax overflow", co_await error_of(lax->inc_if("max", Compare::ge(0), 1)), overflow);
    m.expect("lax total after overflow", co_await lax->get("max"), int64_max);
    m.expect("lax set_if to INT64_MIN", co_await error_of(lax->set_if("min", Compare::always(), int64_min)), none);
    m.expect("lax value set to INT64_MIN", co_await lax->get("min"), int64_min);
    m.expect("strict bad key", co_await error_of(strict->inc_if("bad:key", Compare::always(), 1)), bad_key);
    m.expect("lax bad key", co_await error_of(lax->inc_if("bad{key", Compare::always(), 1)), bad_key);
    co_await lax->shutdown();
  }());
  CHECK(m.wrong == std::vector<std::string>{});
}

namespace {

// 8 coroutines x 10,000 inc_if(k, lt(5,000), 1) on 4 threads, while the
// counter flushes in the background; how many were admitted, and the total
// Redis holds once they are flushed (`remote`).
template <class Lax, class Remote>
std::pair<int, std::int64_t> admitted_under_contention(Env& env, Lax& lax, Remote remote) {
  constexpr int coroutines = 8, calls = 10'000, limit = 5'000;
  std::atomic<int> admitted{0};
  std::int64_t total = 0;
  run(
      env.io,
      [&]() -> asio::awaitable<void> {
        co_await concurrently(coroutines, [&](int) -> asio::awaitable<void> {
          for (int i = 0; i < calls; ++i) {
            const auto outcome = co_await lax.inc_if("k", Compare::lt(limit), 1);
            if (outcome.applied) admitted.fetch_add(1);
          }
        });
        co_await lax.flush();
        total = co_await remote();
        co_await lax.shutdown();
      }(),
      std::chrono::seconds(120), 4);
  return {admitted.load(), total};
}

}  // namespace

TEST_CASE("conditional writes: 8 coroutines on 4 threads x 10,000 lax inc_if(k, lt(5000), 1) on one key admit "
          "exactly 5,000, flushing meanwhile", "[concurrency]") {
  Env env;
  auto strict = strict_on(env);
  auto lax = lax_on(env);
  CHECK(admitted_under_contention(env, *lax, [&] { return strict->get("k"); }) ==
        std::pair<int, std::int64_t>{5'000, 5'000});
  const auto prefix = unique_prefix("cond");
  auto lax_ia = LaxInstanceAwareCounter::create({.prefix = prefix, .connection = env.conn});
  const std::string cumulatives = "{" + prefix.str() + "}:ialax:v2:cum";
  CHECK(admitted_under_contention(env, *lax_ia, [&]() -> asio::awaitable<std::int64_t> {
          co_return std::stoll(server().command({"HGET", cumulatives, "k"}));
        }) == std::pair<int, std::int64_t>{5'000, 5'000});
}

TEST_CASE("conditional writes: strict inc_if(k, le(limit - 1), 1) from two connections admits exactly the limit",
          "[concurrency]") {
  Env env, other;
  auto a = strict_on(env);
  auto b = strict_on(other, env.prefix);
  constexpr int per_connection = 300, limit = 250;
  std::atomic<int> admitted{0};
  auto take = [&](StrictCounter& c) -> asio::awaitable<void> {
    co_await concurrently(per_connection, [&](int) -> asio::awaitable<void> {
      if ((co_await c.inc_if("quota", Compare::le(limit - 1), 1)).applied) ++admitted;
    });
  };
  std::thread t([&] { other(take(*b)); });
  env(take(*a));
  t.join();
  CHECK(admitted.load() == limit);
  CHECK(env(a->get("quota")) == limit);
}
