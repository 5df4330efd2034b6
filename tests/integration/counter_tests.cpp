// StrictCounter (and what both counters share) against a real redis-server;
// LaxCounter has lax_counter_tests.cpp.
#include <algorithm>
#include <optional>
#include <limits>
#include <numeric>
#include <random>

#include "counter_support.hpp"

using namespace distkit;
using namespace distkit::test;

// ---- StrictCounter ---------------------------------------------------------------

namespace {

// A flush batch of lane 0, as the flush loop sends it; the keys' totals after it.
asio::awaitable<std::vector<std::int64_t>> flush_batch(LaxCounter& writer, std::uint64_t sequence,
                                                       const std::vector<detail::KeyDelta>& batch) {
  const auto replies = co_await detail::Access::send_batch(writer, 0, sequence, batch);
  std::vector<std::int64_t> out;
  for (const auto& reply : replies) out.push_back(reply.value);
  co_return out;
}

}  // namespace

TEST_CASE("strict counter: inc, dec, get, set, del on one key") {
  Env env;
  auto c = strict_on(env);
  env([&]() -> asio::awaitable<void> {
    std::vector<std::int64_t> seen;
    seen.push_back(co_await c->get("k"));
    seen.push_back(co_await c->inc("k", 5));
    seen.push_back(co_await c->dec("k", 2));
    seen.push_back(co_await c->inc("k", 0));
    seen.push_back(co_await c->inc("k", -10));
    seen.push_back(co_await c->dec("k", -4));
    seen.push_back(co_await c->set("k", 42));
    seen.push_back(co_await c->get("k"));
    seen.push_back(co_await c->del("k"));
    seen.push_back(co_await c->get("k"));
    seen.push_back(co_await c->del("k"));
    CHECK(seen == std::vector<std::int64_t>{0, 5, 3, 3, -7, -3, 42, 42, 42, 0, 0});
  }());
}

TEST_CASE("strict counter: a missing key reads 0 and a zero delta on it gives 0") {
  Env env;
  auto c = strict_on(env);
  env([&]() -> asio::awaitable<void> {
    const auto get = co_await c->get("missing");
    const auto inc0 = co_await c->inc("missing-too", 0);
    const auto dec0 = co_await c->dec("missing-three", 0);
    const auto del = co_await c->del("never-set");
    CHECK(get == 0);
    CHECK(inc0 == 0);
    CHECK(dec0 == 0);
    CHECK(del == 0);
  }());
}

TEST_CASE("strict counter: keys are independent; clear empties the prefix") {
  Env env;
  auto c = strict_on(env);
  env([&]() -> asio::awaitable<void> {
    co_await c->inc("a", 1);
    co_await c->inc("b", 20);
    co_await c->set("c", -300);
    co_await c->del("b");
    const auto before = co_await totals(*c, "a", "b", "c");
    co_await c->clear();
    const auto after = co_await totals(*c, "a", "b", "c");
    CHECK(before == std::vector<std::int64_t>{1, 0, -300});
    CHECK(after == std::vector<std::int64_t>{0, 0, 0});
  }());
}

TEST_CASE("strict counter: two counters with one prefix share totals") {
  Env env;
  auto one = strict_on(env), two = strict_on(env);
  env([&]() -> asio::awaitable<void> {
    co_await one->inc("k", 3);
    const auto seen_by_two = co_await two->inc("k", 4);
    co_await two->clear();
    const auto after_clear = co_await one->get("k");
    CHECK(seen_by_two == 7);
    CHECK(after_clear == 0);
  }());
}

TEST_CASE("counters: different prefixes do not see each other, not even through clear") {
  Env env;
  auto mine = strict_on(env), theirs = strict_on(env, unique_prefix());
  auto theirs_lax = LaxCounter::create({.prefix = unique_prefix(), .connection = env.conn});
  env([&]() -> asio::awaitable<void> {
    co_await mine->set("k", 1);
    co_await theirs->set("k", 2);
    co_await theirs_lax->inc("k", 3);
    co_await theirs_lax->flush();
    co_await theirs->clear();
    co_await theirs_lax->clear();
    const auto left = co_await mine->get("k");
    co_await theirs_lax->shutdown();
    CHECK(left == 1);
  }());
}

TEST_CASE("strict counter: values beyond 2^53 and round powers of ten stay exact") {
  Env env;
  auto c = strict_on(env);
  env([&]() -> asio::awaitable<void> {
    const std::int64_t big = (std::int64_t{1} << 53) + 1;  // a Lua double would round it
    const auto set = co_await c->set("k", big);
    const auto inc = co_await c->inc("k", 1);
    const auto ten15 = co_await c->inc("p", 1'000'000'000'000'000);  // "1e+15" as a Lua number
    const auto max = co_await c->set("m", int64_max);
    const auto min = co_await c->inc("n", int64_min);
    CHECK(set == big);
    CHECK(inc == big + 1);
    CHECK(ten15 == 1'000'000'000'000'000);
    CHECK(max == int64_max);
    CHECK(min == int64_min);
  }());
}

TEST_CASE("counters: totals around ±2^53 and at the int64 limits come back exact from inc and flush") {
  Env env;
  auto c = strict_on(env);
  auto writer = lax_on(env, no_background_flush);  // only its batches are sent
  const auto values = boundary_values();
  std::vector<std::int64_t> firsts, by_inc, by_flush_first, by_flush, read;
  env([&]() -> asio::awaitable<void> {
    std::vector<detail::KeyDelta> first, second;
    for (std::size_t i = 0; i < values.size(); ++i) {
      const std::string key = "v" + std::to_string(i);
      firsts.push_back(values[i] - step_to(values[i]));
      co_await c->inc("inc-" + key, firsts.back());
      by_inc.push_back(co_await c->inc("inc-" + key, step_to(values[i])));
      first.push_back({"flush-" + key, firsts.back()});
      second.push_back({"flush-" + key, step_to(values[i])});
    }
    by_flush_first = co_await flush_batch(*writer, 1, first);
    by_flush = co_await flush_batch(*writer, 2, second);
    for (std::size_t i = 0; i < values.size(); ++i) read.push_back(co_await c->get("flush-v" + std::to_string(i)));
    co_await writer->shutdown();
  }());
  CHECK(by_inc == values);
  CHECK(by_flush_first == firsts);
  CHECK(by_flush == values);
  CHECK(read == values);
}

TEST_CASE("strict counter: a result outside int64 is overflow and changes nothing") {
  Env env;
  auto c = strict_on(env);
  env([&]() -> asio::awaitable<void> {
    co_await c->set("max", int64_max);
    co_await c->set("min", int64_min);
    co_await c->set("minus-one", -1);
    const auto errors = co_await errors_of(c->inc("max", 1), c->dec("min", 1), c->inc("minus-one", int64_min),
                                           c->dec("zero", int64_min));  // -INT64_MIN itself does not fit
    const auto after = co_await totals(*c, "max", "min", "minus-one", "zero");
    CHECK(errors == std::vector<std::optional<errc>>(4, errc::overflow));
    CHECK(after == std::vector<std::int64_t>{int64_max, int64_min, -1, 0});
  }());
}

TEST_CASE("lax counter: a flushed delta that would overflow in Redis is dropped; the rest of the batch applies") {
  Env env;
  auto c = strict_on(env);
  auto writer = lax_on(env, no_background_flush);  // only its batches are sent
  const std::vector<detail::KeyDelta> batch{{"a", 1}, {"max", 1}, {"min", -1}, {"b", -2}};
  std::vector<std::int64_t> flushed, after;
  env([&]() -> asio::awaitable<void> {
    co_await c->set("max", int64_max);
    co_await c->set("min", int64_min);
    flushed = co_await flush_batch(*writer, 1, batch);
    after = co_await totals(*c, "a", "max", "min", "b");
    co_await writer->shutdown();
  }());
  CHECK(flushed == std::vector<std::int64_t>{1, int64_max, int64_min, -2});
  CHECK(after == flushed);
}

TEST_CASE("lax counter: a zero delta in a flush batch only reads the key's total") {
  Env env;
  auto c = strict_on(env);
  auto writer = lax_on(env, no_background_flush);  // only its batches are sent
  const std::vector<detail::KeyDelta> batch{{"k", 0}, {"missing", 0}, {"n", 3}};
  std::vector<std::int64_t> flushed, resent;
  env([&]() -> asio::awaitable<void> {
    co_await c->set("k", 7);
    flushed = co_await flush_batch(*writer, 1, batch);
    co_await c->inc("k", 1);
    resent = co_await flush_batch(*writer, 1, batch);  // not applied again, still read
    co_await writer->shutdown();
  }());
  CHECK(flushed == std::vector<std::int64_t>{7, 0, 3});
  CHECK(resent == std::vector<std::int64_t>{8, 0, 3});
  CHECK(server().command({"HEXISTS", "{" + env.prefix.str() + "}:totals", "missing"}) == "0");
}

TEST_CASE("lax counter: a key twice in one flush batch is applied twice, in order") {
  Env env;
  auto writer = lax_on(env, no_background_flush);  // only its batches are sent
  const std::vector<detail::KeyDelta> batch{{"k", 2}, {"k", 3}, {"j", 1}, {"k", 0}, {"k", -1}};
  std::vector<std::int64_t> flushed;
  env([&]() -> asio::awaitable<void> {
    flushed = co_await flush_batch(*writer, 1, batch);
    co_await writer->shutdown();
  }());
  CHECK(flushed == std::vector<std::int64_t>{2, 5, 1, 5, 4});
}

TEST_CASE("strict counter: 1000 coroutines on 4 threads sharing one connection count exactly", "[concurrency]") {
  Env env;
  auto c = strict_on(env);
  constexpr int coroutines = 1000, incs = 10, total = coroutines * incs;
  std::vector<std::atomic<int>> returned(total + 1);  // how often each total was returned
  std::int64_t final_total = 0;
  run(
      env.io,
      [&]() -> asio::awaitable<void> {
        co_await concurrently(coroutines, [&](int) -> asio::awaitable<void> {
          for (int i = 0; i < incs; ++i) {
            const auto now = co_await c->inc("k", 1);
            if (now >= 1 && now <= total) ++returned[static_cast<std::size_t>(now)];
          }
        });
        final_total = co_await c->get("k");
      }(),
      std::chrono::seconds(60), 4);
  CHECK(final_total == total);
  // Each inc is atomic: every total from 1 to 10000 was seen by exactly one inc.
  CHECK(std::all_of(returned.begin() + 1, returned.end(), [](auto& n) { return n == 1; }));
}

// ---- bad input ------------------------------------------------------------------

TEST_CASE("counters: an invalid prefix is invalid_key") {
  for (const auto& bad : bad_keys()) {
    INFO("prefix of " << bad.size() << " bytes");
    CHECK(error_thrown_by([&] { RedisKey{bad}; }) == errc::invalid_key);
  }
}

TEST_CASE("counters: a missing connection or a negative allowed_lag is invalid_argument") {
  Env env;
  CHECK(error_thrown_by([&] { StrictCounter::create({.prefix = env.prefix, .connection = nullptr}); }) == errc::invalid_argument);
  CHECK(error_thrown_by([&] { LaxCounter::create({.prefix = env.prefix, .connection = nullptr}); }) == errc::invalid_argument);
  CHECK(error_thrown_by([&] { lax_on(env, std::chrono::milliseconds(-1)); }) == errc::invalid_argument);
}

TEST_CASE("counters: an invalid key is invalid_key, for every op, without touching Redis") {
  Env env;
  auto strict = strict_on(env);
  auto lax = lax_on(env);
  using Op = std::function<asio::awaitable<std::optional<errc>>(std::string_view)>;
  const std::vector<std::pair<std::string, Op>> ops{
      {"strict inc", [&](std::string_view k) { return error_of(strict->inc(k, 1)); }},
      {"strict dec", [&](std::string_view k) { return error_of(strict->dec(k, 1)); }},
      {"strict get", [&](std::string_view k) { return error_of(strict->get(k)); }},
      {"strict set", [&](std::string_view k) { return error_of(strict->set(k, 1)); }},
      {"strict del", [&](std::string_view k) { return error_of(strict->del(k)); }},
      {"lax inc", [&](std::string_view k) { return error_of(lax->inc(k, 1)); }},
      {"lax dec", [&](std::string_view k) { return error_of(lax->dec(k, 1)); }},
      {"lax get", [&](std::string_view k) { return error_of(lax->get(k)); }},
      {"lax set", [&](std::string_view k) { return error_of(lax->set(k, 1)); }},
      {"lax del", [&](std::string_view k) { return error_of(lax->del(k)); }},
  };
  const auto dbsize = server().command({"DBSIZE"});
  const auto calls = server().script_calls();
  for (const auto& bad : bad_keys()) {
    for (const auto& [name, op] : ops) {
      INFO(name << " on a key of " << bad.size() << " bytes");
      auto error = env(op(bad));
      CHECK(error == errc::invalid_key);
    }
  }
  CHECK(server().script_calls() == calls);
  CHECK(server().command({"DBSIZE"}) == dbsize);
  env(lax->shutdown());
}

// ---- what an op keeps alive ------------------------------------------------------

namespace {

std::int64_t total_of(std::int64_t v) { return v; }
std::int64_t total_of(const Counts& c) { return c.instance == c.cumulative ? c.cumulative : -1; }

// An awaitable starts suspended, and co_spawn runs it later: by then the
// temporary key string it was made from is gone, and so may be the last
// shared_ptr to its counter. Each op must still run on its key and return
// the running total. (Under AddressSanitizer, a dangling key or counter is
// a failure in itself.) Keys longer than a SmallKey's 23 inline bytes too.
template <class Make>
void ops_outlive_their_callers(Make make) {
  Env env;
  auto counter = make(env);
  constexpr int ops = 200;
  // Each op's total by its place: ops submitted together on one connection
  // may run out of order (a script answered NOSCRIPT is re-sent behind them).
  std::vector<std::optional<std::int64_t>> totals(ops + 1);
  std::exception_ptr failure;
  auto collect = [&](std::size_t at) {
    return [&, at](std::exception_ptr e, auto result) {
      if (e) failure = e;
      else totals[at] = total_of(result);
    };
  };
  for (int i = 0; i < ops; ++i)
    asio::co_spawn(env.io, counter->inc(std::string(i % 2 ? "a key of more than twenty-three bytes" : "k"), 1),
                   collect(static_cast<std::size_t>(i)));
  auto dropped = make(env);
  asio::co_spawn(env.io, dropped->inc(std::string("dropped"), 7), collect(ops));
  dropped.reset();  // the last shared_ptr, before the op has started
  env.io.restart();
  env.io.run_for(30s);
  if (failure) std::rethrow_exception(failure);
  REQUIRE(std::all_of(totals.begin(), totals.end(), [](const auto& t) { return t.has_value(); }));
  std::vector<std::int64_t> short_key, long_key;
  for (int i = 0; i < ops; ++i) (i % 2 ? long_key : short_key).push_back(*totals[static_cast<std::size_t>(i)]);
  std::sort(short_key.begin(), short_key.end());
  std::sort(long_key.begin(), long_key.end());
  std::vector<std::int64_t> expected(ops / 2);
  std::iota(expected.begin(), expected.end(), 1);
  CHECK(short_key == expected);  // every op ran once, on its own key
  CHECK(long_key == expected);
  CHECK(totals[ops] == 7);
}

}  // namespace

TEST_CASE("counters: an op keeps its key and its counter alive until it completes, for every counter") {
  SECTION("StrictCounter") {
    ops_outlive_their_callers([](Env& env) { return strict_on(env, unique_prefix()); });
  }
  SECTION("LaxCounter") {
    ops_outlive_their_callers([](Env& env) {
      return LaxCounter::create({.prefix = unique_prefix(), .connection = env.conn, .allowed_lag = no_background_flush});
    });
  }
  SECTION("StrictInstanceAwareCounter") {
    ops_outlive_their_callers([](Env& env) {
      return StrictInstanceAwareCounter::create({.prefix = unique_prefix(), .connection = env.conn});
    });
  }
  SECTION("LaxInstanceAwareCounter") {
    ops_outlive_their_callers([](Env& env) {
      return LaxInstanceAwareCounter::create({.prefix = unique_prefix(), .connection = env.conn});
    });
  }
}

// ---- shards ---------------------------------------------------------------------

TEST_CASE("shards: keys spread over sub-families add up as in one family; clear empties them all") {
  Env env;
  auto strict = StrictCounter::create({.prefix = env.prefix, .connection = env.conn, .shards = 8});
  auto lax = LaxCounter::create({.prefix = env.prefix, .connection = env.conn, .shards = 8});
  auto totals_hashes = [&] {
    return server().command({"EVAL", "return #redis.call('KEYS', ARGV[1])", "0", "{" + env.prefix.str() + ":*}:totals"});
  };
  std::vector<std::int64_t> totals, cleared;
  std::int64_t deleted = 0;
  std::string hashes_before_clear;
  env([&]() -> asio::awaitable<void> {
    for (int i = 0; i < 40; ++i) {
      co_await strict->inc("k" + std::to_string(i), i);
      co_await lax->inc("k" + std::to_string(i), 1000);
    }
    co_await lax->flush();  // one batch of 40 keys, in parts
    for (int i = 0; i < 40; ++i) totals.push_back(co_await strict->get("k" + std::to_string(i)));
    hashes_before_clear = totals_hashes();
    deleted = co_await strict->del("k1");
    co_await lax->clear();
    for (int i = 0; i < 40; ++i) cleared.push_back(co_await strict->get("k" + std::to_string(i)));
    co_await lax->shutdown();
  }());
  for (int i = 0; i < 40; ++i) CHECK(totals[static_cast<std::size_t>(i)] == i + 1000);
  CHECK(deleted == 1001);
  CHECK(hashes_before_clear == "8");  // one per sub-family
  CHECK(cleared == std::vector<std::int64_t>(40, 0));
  CHECK(totals_hashes() == "0");
  CHECK(server().command({"EXISTS", "{" + env.prefix.str() + "}:totals"}) == "0");  // not used with shards
}

TEST_CASE("shards: a client configured with another count than its family's fails with invalid_argument, and "
          "changes nothing") {
  Env env;
  auto eight = StrictCounter::create({.prefix = env.prefix, .connection = env.conn, .shards = 8});
  CHECK(env(eight->inc("k", 1)) == 1);
  auto one = StrictCounter::create({.prefix = env.prefix, .connection = env.conn});
  auto three = LaxCounter::create({.prefix = env.prefix, .connection = env.conn, .shards = 3});
  auto [error, what] = env(outcome_of(one->inc("k", 5)));
  CHECK(error == errc::invalid_argument);
  CHECK_THAT(what, Catch::Contains("has 8 shards") && Catch::Contains("CounterOptions::shards is 1"));
  CHECK(env(error_of(one->get("k"))) == errc::invalid_argument);  // and every later op
  CHECK(env(error_of(three->inc("k", 5))) == errc::invalid_argument);  // its first read of the key
  CHECK(env(eight->get("k")) == 1);
  // Another kind of counter on the prefix is a family of its own.
  auto ia = StrictInstanceAwareCounter::create({.prefix = env.prefix, .connection = env.conn, .shards = 2});
  CHECK(env(ia->inc("k", 1)) == Counts{1, 1});
  env(ia->shutdown());
}

TEST_CASE("shards: a family written before counts were kept has one sub-family") {
  Env env;
  auto old = StrictCounter::create({.prefix = env.prefix, .connection = env.conn});
  CHECK(env(old->inc("k", 1)) == 1);
  server().command({"DEL", "{" + env.prefix.str() + "}:shards"});  // as an earlier version left it
  auto eight = StrictCounter::create({.prefix = env.prefix, .connection = env.conn, .shards = 8});
  CHECK(env(error_of(eight->get("k"))) == errc::invalid_argument);
  CHECK(env(old->get("k")) == 1);
}
