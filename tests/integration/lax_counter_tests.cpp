// LaxCounter against a real redis-server.
#include <algorithm>
#include <fstream>
#include <future>
#include <numeric>
#include <random>
#include <sstream>

#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>
#include <fmt/format.h>
#include <spdlog/sinks/ostream_sink.h>
#include <unistd.h>

#include "counter_support.hpp"
#include "log_watch.hpp"

using namespace distkit;
using namespace distkit::test;

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

TEST_CASE_METHOD(LaxFixture, "lax counter: del returns the total the caller saw, its pending delta included") {
  env([&]() -> asio::awaitable<void> {
    co_await lax->inc("k", 4);
    co_await lax->flush();
    co_await lax->inc("k", 6);
    co_await lax->inc("other", 1);
    const auto old = co_await lax->del("k");
    const auto local_after = co_await lax->get("k");
    const auto after_inc = co_await lax->inc("k", 2);
    co_await lax->flush();
    const auto remote_after = co_await strict->get("k");
    const auto other = co_await strict->get("other");
    co_await lax->shutdown();
    CHECK(old == 10);  // 4 flushed + 6 pending (the Rust crate's answer too)
    CHECK(local_after == 0);
    CHECK(after_inc == 2);
    CHECK(remote_after == 2);  // what came after the del
    CHECK(other == 1);         // another key is untouched
  }());
}

// A del or clear that fails drops nothing: each delta is acknowledged or
// still pending, and the cached total is read again, since a timed-out op
// may still run, late. The server stalls (CLIENT PAUSE) past command_timeout
// either while the op's own flush is in flight, or while the op is.
TEST_CASE("lax counter: a del or clear that times out drops no delta and leaves no stale total") {
  const bool clear = GENERATE(false, true), stall_the_flush = GENERATE(true, false);
  CAPTURE(clear, stall_the_flush);
  RedisServer stalled;
  auto options = redis::ConnectionOptions::from_url(stalled.url());
  options.command_timeout = 200ms;
  options.health_check_interval = std::chrono::hours(1);  // keep the link whose replies arrive late
  Env env(options);
  auto strict = strict_on(env);
  auto lax = lax_on(env, no_background_flush);
  auto op = [&]() -> asio::awaitable<void> {
    if (clear) co_await lax->clear();
    else co_await lax->del("k");
  };
  std::optional<errc> error;
  std::int64_t remote = -1, local = -1;
  env([&]() -> asio::awaitable<void> {
    co_await lax->inc("k", 4);
    co_await lax->flush();
    co_await lax->inc("k", 6);
    if (!stall_the_flush) co_await lax->flush();
    stalled.command({"CLIENT", "PAUSE", "1000", "ALL"});
    error = co_await error_of(op());
    const bool answering = co_await eventually([&]() -> asio::awaitable<bool> {
      co_return !(co_await error_of(strict->get("k"))).has_value();
    });
    CHECK(answering);
    co_await lax->flush();
    remote = co_await strict->get("k");
    local = co_await lax->get("k");
    co_await lax->shutdown();
  }());
  CHECK(error == errc::timeout);
  if (stall_the_flush) {  // the op never left: its flush timed out, ran late, and was re-sent (and skipped)
    CHECK(remote == 10);
    CHECK(local == 10);
  } else {  // the op ran late
    CHECK(remote == 0);
    CHECK(local == 0);
  }
}

TEST_CASE_METHOD(LaxFixture, "lax counter: del and clear also remove a delta whose flush reply was lost") {
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

TEST_CASE_METHOD(LaxFixture, "lax counter: clear removes every key, local deltas included") {
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

// ---- add() and try_get(): no I/O ---------------------------------------------------

namespace {

// Kills every client of the test server every 50 to 200 ms, for 3 s; then
// `killing` turns false.
struct ClientKiller {
  std::atomic<int> kills{0};
  std::atomic<bool> killing{true};
  std::jthread thread{[this](std::stop_token stop) {
    std::minstd_rand rng(std::random_device{}());
    const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(3);
    while (!stop.stop_requested() && std::chrono::steady_clock::now() < end) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50 + rng() % 150));  // pacing, not syncing
      server().kill_clients();
      ++kills;
    }
    killing = false;
  }};
};

}  // namespace

TEST_CASE_METHOD(LaxFixture, "lax counter: add() to a key never read waits for nothing; its flush brings the total "
                             "back, which try_get() then shows") {
  env(strict->set("k", 100));
  lax->add("k", 5);
  lax->add("k", 2);
  CHECK(lax->try_get("k") == std::nullopt);  // never read: no view yet
  CHECK(env(strict->get("k")) == 100);       // and nothing sent
  env(lax->flush());
  CHECK(lax->try_get("k") == 107);
  CHECK(env(strict->get("k")) == 107);
  lax->add("k", 1);  // read now: the view moves at once
  CHECK(lax->try_get("k") == 108);
  CHECK(lax->try_get("never") == std::nullopt);
  CHECK_THROWS_AS(lax->add("bad:key", 1), Error);
  env(strict->set("max", int64_max));
  CHECK(env(lax->get("max")) == int64_max);
  try {
    lax->add("max", 1);
    FAIL("add past int64 was taken");
  } catch (const Error& e) {
    CHECK(e.value() == errc::overflow);
  }
  env(lax->shutdown());
  try {
    lax->add("k", 1);
    FAIL("add after shutdown() was taken");
  } catch (const Error& e) {
    CHECK(e.value() == errc::shut_down);
  }
}

TEST_CASE("lax counter: add() from 4 threads on cold and warm keys loses nothing across flushes while connections "
          "keep being killed", "[concurrency]") {
  Env env;
  auto lax = lax_on(env);
  constexpr int keys = 200, threads = 4;
  auto key = [](int i) { return "k" + std::to_string(i); };
  env([&]() -> asio::awaitable<void> {
    for (int i = 0; i < keys; i += 2) co_await lax->get(key(i));  // even keys warm, odd ones never read
  }());
  std::vector<std::atomic<std::int64_t>> made(keys);
  std::atomic<int> adding{threads};
  ClientKiller killer;
  std::vector<std::jthread> adders;
  for (int t = 0; t < threads; ++t)
    adders.emplace_back([&, t] {
      for (int round = 0; killer.killing; ++round)
        for (int i = 0; i < keys; ++i) {
          lax->add(key(i), t + 1);
          made[static_cast<std::size_t>(i)] += t + 1;
        }
      --adding;
    });
  run(
      env.io,
      [&]() -> asio::awaitable<void> {
        while (adding > 0) co_await sleep_for(std::chrono::milliseconds(10));  // the flush loop runs meanwhile
        co_await retrying([&] { return lax->shutdown(); }, 10);
      }(),
      std::chrono::seconds(60), 2);
  auto reader = strict_on(env);
  int wrong = 0;
  std::int64_t total_made = 0, total_in_redis = 0;
  env([&]() -> asio::awaitable<void> {
    for (int i = 0; i < keys; ++i) {
      const auto in_redis = co_await reader->get(key(i));
      wrong += in_redis != made[static_cast<std::size_t>(i)];
      total_made += made[static_cast<std::size_t>(i)];
      total_in_redis += in_redis;
    }
  }());
  INFO(killer.kills << " kills");
  CHECK(killer.kills > 0);
  CHECK(total_in_redis == total_made);
  CHECK(wrong == 0);
}

// ---- exactly-once under failure ---------------------------------------------

TEST_CASE("lax counter: flushes are applied exactly once while connections keep being killed", "[concurrency]") {
  Env env;
  auto lax = lax_on(env);
  constexpr int keys = 500;
  auto key = [](int i) { return "k" + std::to_string(i); };
  std::vector<std::int64_t> made(keys, 0);  // what the incs that returned added
  ClientKiller killer;
  auto expect_link_trouble = [](const Error& e) {
    if (!link_trouble(e)) throw;
  };
  env(
      [&]() -> asio::awaitable<void> {
        while (killer.killing) {
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
  INFO(killer.kills << " kills");
  CHECK(killer.kills > 0);
  CHECK(std::accumulate(in_redis.begin(), in_redis.end(), std::int64_t{0}) ==
        std::accumulate(made.begin(), made.end(), std::int64_t{0}));
  CHECK(wrong == 0);
}

// A server that refuses every batch (a read-only replica) gets a retry now
// and then, with backoff, and one warning; once it accepts writes again,
// everything is flushed. (allowed_lag 0: without backoff, a retry at once.)
// A flush the user asks for that succeeds ends the streak at once.
TEST_CASE("lax counter: flushes that Redis refuses back off and warn once; all is flushed once it accepts again") {
  RedisServer readonly;
  Env env(readonly.url());
  auto strict = strict_on(env);
  auto lax = lax_on(env, 0ms);
  LogWatch warnings("flush failed, will retry"), recovered("flushing works again");
  std::uint64_t attempts = 0;
  bool flushed = false;
  int recovered_at_flush = -1;
  env([&]() -> asio::awaitable<void> {
    co_await lax->get("k");                             // its first touch, a read
    readonly.command({"REPLICAOF", "127.0.0.1", "1"});  // a master that is never there: read-only
    const auto before = lax->stats().batches_sent;
    co_await lax->inc("k", 5);
    co_await sleep_for(2s);  // the window the attempts are counted over
    attempts = lax->stats().batches_sent - before;
    readonly.command({"REPLICAOF", "NO", "ONE"});
    co_await lax->flush();
    recovered_at_flush = recovered.seen();
    flushed = co_await eventually([&]() -> asio::awaitable<bool> { co_return co_await strict->get("k") == 5; });
    co_await lax->shutdown();
  }());
  CHECK(attempts >= 3);   // it keeps trying...
  CHECK(attempts <= 12);  // ...after 10, 20, 40 ... 1,000 ms: 8 in 2 s
  CHECK(warnings.seen() == 1);
  CHECK(flushed);
  CHECK(recovered_at_flush == 1);
  CHECK(recovered.seen() == 1);
}

namespace {

double resident_mb() {
  std::ifstream statm("/proc/self/statm");
  double pages = 0, resident = 0;
  statm >> pages >> resident;
  return resident * static_cast<double>(sysconf(_SC_PAGESIZE)) / 1e6;
}

}  // namespace

// A counter that meets ever new keys (per minute, per user) keeps only the
// recent ones: a key idle for forget_after leaves the local map, and no
// delta is lost. Round after round of new keys, each round waits until the
// round before it is forgotten.
TEST_CASE("lax counter: keys idle for forget_after leave the local map; 200,000 keys over time lose nothing") {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  constexpr int rounds = 10, per_round = 2'000;  // sanitizers run it small (and distort RSS)
#else
  constexpr int rounds = 20, per_round = 10'000;
#endif
  Env env;
  auto lax = LaxCounter::create({.prefix = env.prefix, .connection = env.conn, .forget_after = 200ms});
  std::size_t most_held = 0;
  bool all_forgotten = true;
  double rss_after_first = 0, rss_at_end = 0;
  env(
      [&]() -> asio::awaitable<void> {
        for (int round = 0; round < rounds; ++round) {
          co_await concurrently(64, [&](int worker) -> asio::awaitable<void> {
            for (int k = worker; k < per_round; k += 64)
              co_await lax->inc(fmt::format("r{}-{}", round, k), k % 2 ? 1 : 2);
          });
          co_await lax->flush();
          most_held = std::max(most_held, lax->stats().keys_held);
          all_forgotten &= co_await eventually([&]() -> asio::awaitable<bool> { co_return lax->stats().keys_held == 0; });
          if (round == 0) rss_after_first = resident_mb();
        }
        rss_at_end = resident_mb();
        co_await lax->shutdown();
      }(),
      300s);
  CHECK(most_held <= static_cast<std::size_t>(per_round));  // one round's keys at most
  CHECK(all_forgotten);
  // Every delta reached Redis: 1 for odd keys, 2 for even ones.
  const std::string sum = server().command(
      {"EVAL", "local s = 0 for _, v in ipairs(redis.call('HVALS', KEYS[1])) do s = s + v end return s", "1",
       "{" + env.prefix.str() + "}:totals"});
  CHECK(sum == std::to_string(rounds * per_round / 2 * 3));
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
  INFO("RSS after the first round " << rss_after_first << " MB, at the end " << rss_at_end << " MB");
  CHECK(rss_at_end - rss_after_first < 20);  // 190,000 more keys, forgotten: no growth to speak of
#endif
}

// A flush whose caller is cancelled (a timeout around flush(), del or clear)
// still runs to its end: its batches are in flight, and what keeps track of
// them must outlive them. (Under AddressSanitizer, a use after free.)
TEST_CASE_METHOD(LaxFixture, "lax counter: a flush cancelled while its batches are in flight still completes") {
  std::optional<errc> cancelled_flush;
  std::int64_t remote = -1;
  env([&]() -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    for (int i = 0; i < 10; ++i) co_await lax->inc("k" + std::to_string(i), 1);
    asio::cancellation_signal cancel;
    std::future<std::optional<errc>> flushed;
    {
      ScriptPause pause(server());
      flushed = asio::co_spawn(ex, error_of(lax->flush()), asio::bind_cancellation_slot(cancel.slot(), asio::use_future));
      const bool held = co_await pause.holding_a_script();  // its batches are in flight, held by the server
      REQUIRE(held);
      cancel.emit(asio::cancellation_type::terminal);
    }
    const bool done = co_await eventually([&]() -> asio::awaitable<bool> {
      co_return flushed.wait_for(0s) == std::future_status::ready;
    });
    REQUIRE(done);
    cancelled_flush = flushed.get();
    co_await lax->flush();
    remote = co_await strict->get("k9");
    co_await lax->shutdown();
  }());
  CHECK(cancelled_flush == std::nullopt);  // it ran to its end
  CHECK(remote == 1);
}
