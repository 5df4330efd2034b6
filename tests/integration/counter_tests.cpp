// StrictCounter and LaxCounter against a real redis-server.
#include <algorithm>
#include <limits>
#include <numeric>
#include <random>
#include <sstream>

#include <spdlog/sinks/ostream_sink.h>

#include "run.hpp"

using namespace distkit;
using namespace distkit::test;

namespace {

constexpr std::int64_t int64_max = std::numeric_limits<std::int64_t>::max();
constexpr std::int64_t int64_min = std::numeric_limits<std::int64_t>::min();
constexpr auto no_background_flush = std::chrono::hours(1);  // LaxCounter flushes only when told to

std::shared_ptr<StrictCounter> strict_on(Env& env, const RedisKey& prefix) {
  return StrictCounter::create({.prefix = prefix, .connection = env.conn});
}
std::shared_ptr<StrictCounter> strict_on(Env& env) { return strict_on(env, env.prefix); }

std::shared_ptr<LaxCounter> lax_on(Env& env, std::chrono::milliseconds allowed_lag = std::chrono::milliseconds(20)) {
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
asio::awaitable<Load> under_load(LaxCounter& lax, asio::awaitable<void> op) {
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
std::vector<std::string> bad_keys() {
  return {"", std::string(256, 'k'), "a:b", "{a", "a}", "ctl\x01", "del\x7f", std::string("nul\0x", 5)};
}

}  // namespace

// ---- StrictCounter ---------------------------------------------------------------

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
  auto writer = lax_on(env, no_background_flush);  // only its send_batch is used
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
    by_flush_first = co_await writer->send_batch(0, 1, first);
    by_flush = co_await writer->send_batch(0, 2, second);
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
  auto writer = lax_on(env, no_background_flush);  // only its send_batch is used
  const std::vector<detail::KeyDelta> batch{{"a", 1}, {"max", 1}, {"min", -1}, {"b", -2}};
  std::vector<std::int64_t> flushed, after;
  env([&]() -> asio::awaitable<void> {
    co_await c->set("max", int64_max);
    co_await c->set("min", int64_min);
    flushed = co_await writer->send_batch(0, 1, batch);
    after = co_await totals(*c, "a", "max", "min", "b");
    co_await writer->shutdown();
  }());
  CHECK(flushed == std::vector<std::int64_t>{1, int64_max, int64_min, -2});
  CHECK(after == flushed);
}

TEST_CASE("lax counter: a zero delta in a flush batch only reads the key's total") {
  Env env;
  auto c = strict_on(env);
  auto writer = lax_on(env, no_background_flush);  // only its send_batch is used
  const std::vector<detail::KeyDelta> batch{{"k", 0}, {"missing", 0}, {"n", 3}};
  std::vector<std::int64_t> flushed, resent;
  env([&]() -> asio::awaitable<void> {
    co_await c->set("k", 7);
    flushed = co_await writer->send_batch(0, 1, batch);
    co_await c->inc("k", 1);
    resent = co_await writer->send_batch(0, 1, batch);  // not applied again, still read
    co_await writer->shutdown();
  }());
  CHECK(flushed == std::vector<std::int64_t>{7, 0, 3});
  CHECK(resent == std::vector<std::int64_t>{8, 0, 3});
  CHECK(server().command({"HEXISTS", "{" + env.prefix.str() + "}:totals", "missing"}) == "0");
}

TEST_CASE("lax counter: a key twice in one flush batch is applied twice, in order") {
  Env env;
  auto writer = lax_on(env, no_background_flush);  // only its send_batch is used
  const std::vector<detail::KeyDelta> batch{{"k", 2}, {"k", 3}, {"j", 1}, {"k", 0}, {"k", -1}};
  std::vector<std::int64_t> flushed;
  env([&]() -> asio::awaitable<void> {
    flushed = co_await writer->send_batch(0, 1, batch);
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

// ---- LaxCounter ------------------------------------------------------------------

TEST_CASE_METHOD(LaxFixture, "lax counter: ops answer from the local view; Redis sees nothing before a flush") {
  env([&]() -> asio::awaitable<void> {
    co_await strict->set("k", 100);
    std::vector<std::int64_t> local;
    local.push_back(co_await lax->inc("k", 5));
    local.push_back(co_await lax->dec("k", 2));
    local.push_back(co_await lax->inc("k", -1));
    local.push_back(co_await lax->inc("k", 0));
    local.push_back(co_await lax->get("k"));
    local.push_back(co_await lax->get("missing"));
    local.push_back(co_await lax->inc("new", 7));
    const auto remote_before = co_await strict->get("k");
    const auto new_before = co_await strict->get("new");
    co_await lax->flush();
    const auto remote_after = co_await strict->get("k");
    const auto new_after = co_await strict->get("new");
    co_await lax->shutdown();
    CHECK(local == std::vector<std::int64_t>{105, 103, 102, 102, 102, 0, 7});
    CHECK(remote_before == 100);
    CHECK(new_before == 0);
    CHECK(remote_after == 102);
    CHECK(new_after == 7);
  }());
}

TEST_CASE_METHOD(LaxFixture, "lax counter: set turns into a delta on top of Redis' total") {
  env([&]() -> asio::awaitable<void> {
    co_await strict->set("k", 10);
    const auto set = co_await lax->set("k", 50);
    const auto local = co_await lax->inc("k", 1);
    co_await strict->inc("k", 1000);  // lands in Redis meanwhile; the lax delta goes on top
    co_await lax->flush();
    const auto remote = co_await strict->get("k");
    co_await lax->shutdown();
    CHECK(set == 50);
    CHECK(local == 51);
    CHECK(remote == 1051);
  }());
}

TEST_CASE("lax counter: flush() makes totals visible to a fresh reader, across batches") {
  Env env;
  auto lax = lax_on(env, no_background_flush);
  constexpr int keys = 250;  // more than one batch of 100
  env([&]() -> asio::awaitable<void> {
    for (int i = 0; i < keys; ++i) co_await lax->inc("k" + std::to_string(i), i);
    co_await lax->flush();
    auto fresh_lax = lax_on(env, no_background_flush);
    auto fresh_strict = strict_on(env);
    int strict_right = 0, lax_right = 0;
    for (int i = 0; i < keys; ++i) {
      const auto key = "k" + std::to_string(i);
      strict_right += (co_await fresh_strict->get(key)) == i;
      lax_right += (co_await fresh_lax->get(key)) == i;
    }
    co_await lax->shutdown();
    co_await fresh_lax->shutdown();
    CHECK(strict_right == keys);
    CHECK(lax_right == keys);
  }());
}

TEST_CASE("lax counter: the background flush makes deltas visible without flush()") {
  Env env;
  auto lax = lax_on(env);
  auto strict = strict_on(env);
  env([&]() -> asio::awaitable<void> {
    co_await lax->inc("a", 3);
    co_await lax->inc("b", -4);
    const bool visible = co_await eventually([&]() -> asio::awaitable<bool> {
      co_return co_await strict->get("a") == 3 && co_await strict->get("b") == -4;
    });
    co_await lax->shutdown();
    CHECK(visible);
  }());
}

TEST_CASE("lax counter: a cached total older than allowed_lag is read again") {
  Env env;
  auto lax = lax_on(env);
  auto strict = strict_on(env);
  env([&]() -> asio::awaitable<void> {
    const auto first = co_await lax->get("k");
    co_await strict->inc("k", 9);
    const bool refreshed = co_await eventually([&]() -> asio::awaitable<bool> { co_return co_await lax->get("k") == 9; });
    co_await lax->shutdown();
    CHECK(first == 0);
    CHECK(refreshed);
  }());
}

TEST_CASE("lax counter: an inc on a stale key answers locally; its flush brings the fresh total") {
  Env env;
  auto lax = lax_on(env);
  auto strict = strict_on(env);
  env([&]() -> asio::awaitable<void> {
    co_await lax->get("k");
    co_await strict->inc("k", 9);
    co_await sleep_for(50ms);  // the cached 0 is now older than allowed_lag
    std::int64_t local = -1;
    {
      ScriptPause pause(server());  // Redis holds every script call: only a local answer can come back
      local = co_await lax->inc("k", 1);
    }
    co_await lax->flush();
    const auto fresh = co_await lax->get("k");
    co_await lax->shutdown();
    CHECK(local == 1);
    CHECK(fresh == 10);
  }());
}

TEST_CASE_METHOD(LaxFixture, "counters: a StrictCounter and a LaxCounter with one prefix share totals") {
  env([&]() -> asio::awaitable<void> {
    co_await strict->inc("k", 10);
    const auto lax_sees = co_await lax->inc("k", 5);
    co_await lax->flush();
    const auto strict_sees = co_await strict->inc("k", 1);
    co_await lax->shutdown();
    CHECK(lax_sees == 15);
    CHECK(strict_sees == 16);
  }());
}

TEST_CASE_METHOD(LaxFixture, "lax counter: del returns Redis' total and drops the key's local delta") {
  env([&]() -> asio::awaitable<void> {
    co_await strict->set("k", 10);
    co_await lax->inc("k", 5);
    co_await lax->inc("other", 1);
    const auto old = co_await lax->del("k");
    const auto local_after = co_await lax->get("k");
    co_await lax->flush();
    const auto remote_after = co_await strict->get("k");
    const auto other = co_await strict->get("other");
    co_await lax->shutdown();
    CHECK(old == 10);
    CHECK(local_after == 0);
    CHECK(remote_after == 0);
    CHECK(other == 1);  // only the deleted key lost its delta
  }());
}

TEST_CASE_METHOD(LaxFixture, "lax counter: del and clear also drop a delta whose flush failed") {
  std::function<asio::awaitable<void>()> drop;
  SECTION("del") {
    drop = [&]() -> asio::awaitable<void> { co_await lax->del("k"); };
  }
  SECTION("clear") {
    drop = [&] { return lax->clear(); };
  }
  env([&]() -> asio::awaitable<void> {
    co_await lax->inc("k", 5);
    const auto flush_error = co_await lose_reply(server(), lax->flush());
    co_await retrying(drop);
    co_await lax->flush();  // the failed batch must not come back now
    const auto remote = co_await strict->get("k");
    const auto local = co_await lax->get("k");
    co_await lax->shutdown();
    CHECK(flush_error == errc::connection_lost);
    CHECK(remote == 0);
    CHECK(local == 0);
  }());
}

TEST_CASE_METHOD(LaxFixture, "lax counter: clear drops every local delta of the counter") {
  env([&]() -> asio::awaitable<void> {
    co_await strict->set("a", 10);
    co_await lax->inc("a", 1);
    co_await lax->inc("b", 2);
    co_await lax->clear();
    co_await lax->flush();
    const auto remote = co_await totals(*strict, "a", "b");
    const auto local = co_await totals(*lax, "a", "b");
    co_await lax->shutdown();
    CHECK(remote == std::vector<std::int64_t>{0, 0});
    CHECK(local == std::vector<std::int64_t>{0, 0});
  }());
}

TEST_CASE_METHOD(LaxFixture, "lax counter: shutdown() flushes, then every op fails with shut_down") {
  env([&]() -> asio::awaitable<void> {
    co_await lax->inc("k", 5);
    co_await lax->shutdown();
    const auto flushed = co_await strict->get("k");
    const auto errors = co_await errors_of(lax->inc("k", 1), lax->dec("k", 1), lax->get("k"), lax->set("k", 1),
                                           lax->del("k"), lax->clear(), lax->flush(), lax->shutdown());
    const auto untouched = co_await strict->get("k");
    CHECK(flushed == 5);
    CHECK(errors == std::vector<std::optional<errc>>(8, errc::shut_down));
    CHECK(untouched == 5);
  }());
}

TEST_CASE_METHOD(LaxFixture, "lax counter: flush() returns while other coroutines keep incrementing") {
  Load load;
  env([&]() -> asio::awaitable<void> {
    load = co_await under_load(*lax, lax->flush());
    co_await lax->shutdown();
  }());
  CHECK(load.rounds < 500);
}

TEST_CASE_METHOD(LaxFixture, "lax counter: an inc still reading its key when shutdown() begins is flushed or refused") {
  std::optional<errc> inc_error;
  std::int64_t remote = -1;
  env([&]() -> asio::awaitable<void> {
    using namespace asio::experimental::awaitable_operators;
    inc_error = co_await (error_of(lax->inc("new", 1)) && lax->shutdown());
    remote = co_await strict->get("new");
  }());
  INFO("inc: " << Catch::StringMaker<std::optional<errc>>::convert(inc_error) << ", in Redis: " << remote);
  CHECK((inc_error == errc::shut_down || remote == 1));
}

TEST_CASE_METHOD(LaxFixture, "lax counter: shutdown() while other coroutines keep incrementing loses nothing") {
  Load load;
  std::int64_t remote = 0;
  env([&]() -> asio::awaitable<void> {
    load = co_await under_load(*lax, lax->shutdown());
    for (int i = 0; i < 100; ++i) remote += co_await strict->get("k" + std::to_string(i));
  }());
  CHECK(remote == load.made);
}

TEST_CASE_METHOD(LaxFixture, "lax counter: a shutdown() whose last flush failed can be retried and loses nothing") {
  env([&]() -> asio::awaitable<void> {
    co_await lax->inc("k", 5);
    const auto first = co_await lose_reply(server(), lax->shutdown());
    const auto inc_meanwhile = co_await error_of(lax->inc("k", 1));
    co_await retrying([&] { return lax->shutdown(); });
    const auto remote = co_await strict->get("k");
    const auto again = co_await error_of(lax->shutdown());
    CHECK(first == errc::connection_lost);
    CHECK(inc_meanwhile == errc::shut_down);
    CHECK(remote == 5);
    CHECK(again == errc::shut_down);
  }());
}

TEST_CASE("lax counter: dropped without shutdown(), it sends nothing and logs what it abandons") {
  Env env;
  auto strict = strict_on(env);
  std::ostringstream log;
  set_logger(std::make_shared<spdlog::logger>("test", std::make_shared<spdlog::sinks::ostream_sink_mt>(log)));
  env([&]() -> asio::awaitable<void> {
    auto lax = lax_on(env, no_background_flush);
    co_await lax->inc("a", 5);
    co_await lax->inc("b", 2);
  }());
  set_logger(nullptr);
  auto remote = env(strict->get("a"));
  CHECK(remote == 0);
  CHECK(log.str().find("abandoning unflushed deltas on 2 keys (sum 7)") != std::string::npos);
}

TEST_CASE_METHOD(LaxFixture, "lax counter: a local total outside int64 is overflow and changes nothing") {
  env([&]() -> asio::awaitable<void> {
    co_await strict->set("remote-max", int64_max);
    co_await lax->inc("local-max", int64_max);
    co_await lax->inc("local-min", int64_min);
    const auto errors = co_await errors_of(lax->inc("remote-max", 1), lax->inc("local-max", 1),
                                           lax->dec("local-min", 1), lax->dec("zero", int64_min),
                                           lax->set("local-min", 1));  // a delta of 1 - INT64_MIN
    co_await lax->flush();
    const auto local = co_await totals(*lax, "remote-max", "local-max", "local-min", "zero");
    const auto remote = co_await totals(*strict, "remote-max", "local-max", "local-min", "zero");
    co_await lax->shutdown();
    CHECK(errors == std::vector<std::optional<errc>>(5, errc::overflow));
    CHECK(local == std::vector<std::int64_t>{int64_max, int64_max, int64_min, 0});
    CHECK(remote == local);
  }());
}

TEST_CASE("lax counter: 1000 coroutines on 4 threads sharing one counter lose nothing", "[concurrency]") {
  Env env;
  auto lax = lax_on(env);
  auto strict = strict_on(env);
  constexpr int coroutines = 1000, incs = 10;
  std::int64_t a = 0, b = 0;
  run(
      env.io,
      [&]() -> asio::awaitable<void> {
        co_await concurrently(coroutines, [&](int n) -> asio::awaitable<void> {
          for (int i = 0; i < incs; ++i) co_await lax->inc(n % 2 ? "a" : "b", 1);
        });
        co_await lax->shutdown();
        a = co_await strict->get("a");
        b = co_await strict->get("b");
      }(),
      std::chrono::seconds(60), 4);
  CHECK(a == coroutines * incs / 2);
  CHECK(b == coroutines * incs / 2);
}

// ---- exactly-once under failure ---------------------------------------------

TEST_CASE("lax counter: flushes are applied exactly once while connections keep being killed", "[concurrency]") {
  Env env;
  auto lax = lax_on(env);
  constexpr int keys = 500;
  auto key = [](int i) { return "k" + std::to_string(i); };
  std::vector<std::int64_t> made(keys, 0);  // what the incs that returned added
  std::atomic<int> kills{0};
  std::atomic<bool> killing{true};
  std::jthread killer([&](std::stop_token stop) {
    std::minstd_rand rng(std::random_device{}());
    const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(3);
    while (!stop.stop_requested() && std::chrono::steady_clock::now() < end) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50 + rng() % 150));  // pacing, not syncing
      server().kill_clients();
      ++kills;
    }
    killing = false;
  });
  auto expect_link_trouble = [](const Error& e) {
    if (e.value() != errc::connection_lost && e.value() != errc::timeout) throw;
  };
  env(
      [&]() -> asio::awaitable<void> {
        while (killing) {
          for (int i = 0; i < keys; ++i) {
            try {
              co_await lax->inc(key(i), i % 7 + 1);
              made[static_cast<std::size_t>(i)] += i % 7 + 1;
            } catch (const Error& e) {
              expect_link_trouble(e);
            }
          }
          try {
            co_await lax->flush();
          } catch (const Error& e) {
            expect_link_trouble(e);
          }
        }
        co_await retrying([&] { return lax->shutdown(); }, 10);
      }(),
      std::chrono::seconds(60));

  auto reader = strict_on(env);
  std::vector<std::int64_t> in_redis(keys);
  env([&]() -> asio::awaitable<void> {
    for (int i = 0; i < keys; ++i) in_redis[static_cast<std::size_t>(i)] = co_await reader->get(key(i));
  }());
  int wrong = 0;
  for (int i = 0; i < keys; ++i) wrong += in_redis[static_cast<std::size_t>(i)] != made[static_cast<std::size_t>(i)];
  INFO(kills << " kills");
  CHECK(kills > 0);
  CHECK(std::accumulate(in_redis.begin(), in_redis.end(), std::int64_t{0}) ==
        std::accumulate(made.begin(), made.end(), std::int64_t{0}));
  CHECK(wrong == 0);
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
