// StrictInstanceAwareCounter and LaxInstanceAwareCounter against a real redis-server.
#include <sstream>
#include <thread>

#include <spdlog/sinks/ostream_sink.h>

#include "instance_aware_support.hpp"
#include "proxy.hpp"
#include "shards/layout.hpp"

using namespace distkit;
using namespace distkit::test;

namespace {

// The library's log lines while it lives.
struct CapturedLog {
  CapturedLog() {
    set_logger(std::make_shared<spdlog::logger>("test", std::make_shared<spdlog::sinks::ostream_sink_mt>(*lines)));
  }
  ~CapturedLog() { set_logger(previous); }
  std::string text() const { return lines->str(); }

  std::shared_ptr<std::ostringstream> lines = std::make_shared<std::ostringstream>();
  std::shared_ptr<spdlog::logger> previous = logger();
};

}  // namespace

TEST_CASE("instance-aware: one instance, every op's return values") {
  Env env;
  auto c = strict(env);
  env([&]() -> asio::awaitable<void> {
    std::vector<Counts> seen;
    seen.push_back(co_await c->get("k"));
    seen.push_back(co_await c->inc("k", 5));
    seen.push_back(co_await c->dec("k", 2));
    seen.push_back(co_await c->inc("k", 0));
    seen.push_back(co_await c->set_on_instance("k", 10));
    seen.push_back(co_await c->set("k", 7));
    seen.push_back(co_await c->del_on_instance("k"));
    seen.push_back(co_await c->inc("k", 4));
    seen.push_back(co_await c->del("k"));
    seen.push_back(co_await c->get("k"));
    CHECK(seen == std::vector<Counts>{{0, 0}, {5, 5}, {3, 3}, {3, 3}, {10, 10}, {7, 7}, {0, 7}, {4, 4}, {4, 4},
                                      {0, 0}});
  }());
}

TEST_CASE("instance-aware: a zero delta in a flush batch only reads the key") {
  Env env;
  auto a = strict(env);
  auto b = strict(env);
  const std::vector<detail::KeyDelta> zeros{{"k", 0}, {"missing", 0}, {"stale", 0}};
  std::vector<Counts> flushed;
  env([&]() -> asio::awaitable<void> {
    co_await a->inc("k", 5);
    co_await b->inc("k", 3);
    co_await a->inc("stale", 4);
    co_await b->set("stale", 10);  // a's slice of it is stale now
    flushed = co_await flush_batch(*a, 1, zeros);
  }());
  CHECK(flushed == std::vector<Counts>{{8, 5}, {0, 0}, {10, 0}});
  const std::string base = ia_key(env, "");
  const std::string inst = base + "inst:" + a->instance_id();
  CHECK(server().command({"HEXISTS", base + "cum", "missing"}) == "0");
  CHECK(server().command({"HEXISTS", inst, "e:missing"}) == "0");
  CHECK(server().command({"HGET", inst, "e:stale"}) != server().command({"HGET", base + "epoch", "stale"}));  // still stale
  CHECK(server().command({"HGET", inst, "s:k"}) == "5");
}

TEST_CASE("instance-aware: a key twice in one flush batch is applied twice, in order") {
  Env env;
  auto a = strict(env);
  auto b = strict(env);
  const std::vector<detail::KeyDelta> batch{{"k", 2}, {"k", 3}, {"j", 1}, {"k", 0}, {"stale", 1}, {"stale", -3}};
  std::vector<Counts> flushed;
  env([&]() -> asio::awaitable<void> {
    co_await a->inc("stale", 4);
    co_await b->set("stale", 10);
    flushed = co_await flush_batch(*a, 1, batch);
  }());
  CHECK(flushed == std::vector<Counts>{{2, 2}, {5, 5}, {1, 1}, {5, 5}, {11, 1}, {8, -2}});
}

TEST_CASE("instance-aware: N instances cumulate via inc and set_on_instance, then leave one by one") {
  for (int n : {2, 3, 5, 10}) {
    DYNAMIC_SECTION(n << " instances") {
      Env env;
      auto cs = fleet(env, n);
      env([&]() -> asio::awaitable<void> {
        std::int64_t expected = 0;
        for (int i = 0; i < n; ++i) {
          const Counts c = co_await cs[i]->inc("k", i + 1);
          expected += i + 1;
          CHECK(c == Counts{expected, i + 1});
        }
        for (int i = 0; i < n; ++i) {
          const Counts c = co_await cs[i]->set_on_instance("k", 10);
          expected += 10 - (i + 1);
          CHECK(c == Counts{expected, 10});
        }
        for (int i = 0; i < n; ++i) {
          const Counts removed = co_await cs[i]->del_on_instance("k");
          expected -= 10;
          CHECK(removed == Counts{expected, 10});
        }
        const Counts last = co_await cs[0]->get("k");
        CHECK(last == Counts{0, 0});
        // clear_on_instance, one by one, over two keys
        for (int i = 0; i < n; ++i) {
          co_await cs[i]->inc("a", 1);
          co_await cs[i]->inc("b", 2);
        }
        for (int i = 0; i < n; ++i) {
          co_await cs[i]->clear_on_instance();
          const Counts a = co_await cs[0]->get("a");
          const Counts b = co_await cs[0]->get("b");
          CHECK(a.cumulative == n - i - 1);
          CHECK(b.cumulative == 2 * (n - i - 1));
        }
      }());
    }
  }
}

TEST_CASE("instance-aware: keys are independent and prefixes isolated; strict and lax data apart") {
  Env env;
  auto a = strict(env);
  auto other_prefix = Strict::create({.prefix = unique_prefix(), .connection = env.conn});
  auto l = lax(env);
  env([&]() -> asio::awaitable<void> {
    co_await a->inc("x", 1);
    co_await a->inc("y", 2);
    co_await other_prefix->inc("x", 100);
    co_await l->inc("x", 1000);
    co_await l->flush();
    const Counts x = co_await a->get("x");
    const Counts y = co_await a->get("y");
    const Counts ox = co_await other_prefix->get("x");
    const Counts lx = co_await l->get("x");
    CHECK(x == Counts{1, 1});
    CHECK(y == Counts{2, 2});
    CHECK(ox == Counts{100, 100});
    CHECK(lx == Counts{1000, 1000});
    co_await l->shutdown();
  }());
}

TEST_CASE("instance-aware: set and del make other instances' slices stale") {
  Env env;
  auto cs = fleet(env, 3);
  env([&]() -> asio::awaitable<void> {
    co_await cs[0]->inc("k", 10);
    co_await cs[1]->inc("k", 20);
    const Counts after_set = co_await cs[2]->set("k", 100);
    CHECK(after_set == Counts{100, 100});
    const Counts stale_get = co_await cs[0]->get("k");
    CHECK(stale_get == Counts{100, 0});  // a stale slice reads as 0
    const Counts restarted = co_await cs[0]->inc("k", 5);
    CHECK(restarted == Counts{105, 5});  // and restarts at the delta
    // Several bumps missed in a row.
    co_await cs[2]->set("k", 1);
    co_await cs[2]->del("k");
    co_await cs[2]->set("k", 50);
    const Counts after_bumps = co_await cs[1]->inc("k", 2);
    CHECK(after_bumps == Counts{52, 2});
    // set_on_instance and del_on_instance from a stale instance.
    const Counts soi = co_await cs[0]->set_on_instance("k", 8);
    CHECK(soi == Counts{60, 8});
    co_await cs[2]->del("k");
    const Counts doi = co_await cs[1]->del_on_instance("k");
    CHECK(doi == Counts{0, 0});
    // A brand-new instance after a bump.
    co_await cs[0]->set("k", 3);
    auto newcomer = strict(env);
    const Counts fresh = co_await newcomer->inc("k", 1);
    CHECK(fresh == Counts{4, 1});
  }());
}

TEST_CASE("instance-aware: a dead instance's slices on several keys leave at the next op of a survivor") {
  Env env;
  auto survivor = strict(env, 300ms);
  auto dying = strict(env, 300ms);
  auto dying_too = strict(env, 300ms);
  env([&]() -> asio::awaitable<void> {
    co_await survivor->inc("a", 1);
    // dying_too falls silent first: when the reap of `dying` shows, it is
    // past the threshold too (an op taking long on a busy machine must not
    // leave it just short of it).
    co_await dying_too->inc("b", 30);
    co_await dying->inc("a", 10);
    co_await dying->inc("b", 20);
    const Counts live_now = co_await survivor->get("b");
    CHECK(live_now.cumulative == 50);  // well within the threshold: nobody reaped
    dying.reset();  // a crash: no Redis I/O
    dying_too.reset();
    co_await expect_cumulative_becomes(*survivor, "a", 1);
    const Counts b = co_await survivor->get("b");
    CHECK(b == Counts{0, 0});
    auto newcomer = strict(env, 300ms);
    const Counts joined = co_await newcomer->inc("a", 2);
    CHECK(joined == Counts{3, 2});
  }());
}

TEST_CASE("instance-aware: reaping after set or del by another never subtracts a stale slice") {
  Env env;
  auto a = strict(env, 300ms);
  auto b = strict(env, 300ms);
  env([&]() -> asio::awaitable<void> {
    co_await a->inc("k", 10);
    co_await b->set("k", 100);
    co_await a->inc("j", 10);
    co_await b->del("j");
    co_await a->inc("probe", 1);
    a.reset();
    co_await expect_cumulative_becomes(*b, "probe", 0);  // b's ops have reaped a
    const Counts k = co_await b->get("k");
    const Counts j = co_await b->get("j");
    CHECK(k == Counts{100, 100});  // the Rust crate reports 90
    CHECK(j == Counts{0, 0});
  }());
}

TEST_CASE("instance-aware: a reaped instance that comes back recovers its slice") {
  Env env;
  auto witness = strict(env, 300ms);
  auto a = strict(env, 300ms);
  auto gone = [&](std::string_view key, std::int64_t expected) {
    return expect_cumulative_becomes(*witness, key, expected);
  };
  env([&]() -> asio::awaitable<void> {
    SECTION("through inc") {
      co_await a->inc("k", 7);
      co_await gone("k", 0);
      const Counts back = co_await a->inc("k", 1);
      CHECK(back == Counts{8, 8});
    }
    SECTION("through get, and other keys come back too") {
      co_await a->inc("k", 7);
      co_await a->inc("other", 3);
      co_await gone("k", 0);
      const Counts back = co_await a->get("k");
      CHECK(back == Counts{7, 7});
      const Counts other = co_await witness->get("other");
      CHECK(other.cumulative == 3);
    }
    SECTION("through a flush") {
      co_await a->inc("k", 7);
      co_await gone("k", 0);
      std::vector<detail::KeyDelta> batch;
      batch.push_back({"k", 2});
      const auto back = co_await flush_batch(*a, 1, batch);
      CHECK(back == std::vector<Counts>{{9, 9}});
    }
    SECTION("through heartbeat") {
      co_await a->inc("k", 7);
      co_await gone("k", 0);
      co_await a->heartbeat();
      const Counts seen = co_await witness->get("k");
      CHECK(seen.cumulative == 7);
    }
    SECTION("not when the epoch moved meanwhile") {
      co_await a->inc("k", 7);
      co_await gone("k", 0);
      co_await witness->set("k", 1);
      const Counts back = co_await a->inc("k", 1);
      CHECK(back == Counts{2, 1});
    }
    SECTION("a live instance never double-counts") {
      co_await a->inc("k", 7);
      co_await a->heartbeat();
      co_await a->heartbeat();
      const Counts seen = co_await witness->get("k");
      CHECK(seen.cumulative == 7);
    }
  }());
}

TEST_CASE("instance-aware: graceful shutdown leaves at once; later ops fail with shut_down") {
  Env env;
  auto a = strict(env);
  auto b = strict(env);
  env([&]() -> asio::awaitable<void> {
    co_await a->inc("k", 1);
    co_await b->inc("k", 2);
    co_await b->shutdown();
    const Counts left = co_await a->get("k");
    CHECK(left == Counts{1, 1});
    auto code = errc{};
    try {
      co_await b->inc("k", 1);
    } catch (const Error& e) {
      code = e.value();
    }
    CHECK(code == errc::shut_down);
  }());
}

TEST_CASE("lax instance-aware: local estimate, flushed totals visible to a fresh reader") {
  Env env;
  auto a = lax(env);
  auto b = lax(env);
  env([&]() -> asio::awaitable<void> {
    const Counts first = co_await a->inc("k", 3);
    const Counts second = co_await a->inc("k", 4);
    CHECK(first == Counts{3, 3});
    CHECK(second == Counts{7, 7});
    co_await b->inc("k", 1);  // seeds b before a flushed
    co_await a->flush();
    co_await b->flush();
    auto reader = lax(env);
    const Counts fresh = co_await reader->get("k");
    CHECK(fresh == Counts{8, 0});
    // Without flush(): the background loop gets there.
    co_await a->inc("k", 2);
    auto reader2 = lax(env);
    co_await expect_cumulative_becomes(*reader2, "k", 10);
    co_await a->shutdown();
    co_await b->shutdown();
  }());
}

TEST_CASE("lax instance-aware: add() to a key never read waits for nothing; its flush brings the counts back, "
          "which try_get() then shows") {
  Env env;
  auto a = lax(env);
  auto b = lax(env);
  env(b->inc("k", 10));
  env(b->flush());
  a->add("k", 3);
  a->add("k", 4);
  CHECK(a->try_get("k") == std::nullopt);
  env(a->flush());
  CHECK(a->try_get("k") == Counts{17, 7});
  a->add("k");
  CHECK(a->try_get("k") == Counts{18, 8});
  try {
    a->add("k", std::numeric_limits<std::int64_t>::min());
    FAIL("an operand of INT64_MIN was taken");
  } catch (const Error& e) {
    CHECK(e.value() == errc::overflow);
  }
  env(a->flush());
  auto reader = lax(env);
  CHECK(env(reader->get("k")) == Counts{18, 0});
  env(a->shutdown());
  env(b->shutdown());
  env(reader->shutdown());
}

TEST_CASE("lax instance-aware: set, del and del_on_instance flush first; clear_on_instance only mine") {
  Env env;
  auto a = lax(env);
  auto b = lax(env);
  env([&]() -> asio::awaitable<void> {
    co_await a->inc("k", 5);
    const Counts deleted = co_await a->del("k");
    CHECK(deleted == Counts{5, 5});  // the pending 5 reached Redis before the del
    co_await a->inc("k", 5);
    co_await b->inc("k", 6);
    const Counts removed = co_await a->del_on_instance("k");
    CHECK(removed.instance == 5);
    co_await b->flush();
    const Counts s = co_await a->set("k", 40);
    CHECK(s == Counts{40, 40});
    co_await a->inc("j", 1);
    co_await b->inc("j", 2);
    co_await a->clear_on_instance();
    co_await b->flush();
    auto reader = lax(env);
    const Counts j = co_await reader->get("j");
    CHECK(j.cumulative == 2);
  }());
}

TEST_CASE("lax instance-aware: a dead instance's slice is cleaned up through the lax wrapper") {
  Env env;
  auto survivor = lax(env, 300ms);
  auto dying = lax(env, 300ms);
  env([&]() -> asio::awaitable<void> {
    co_await survivor->inc("k", 1);
    co_await dying->inc("k", 10);
    co_await dying->flush();
    dying.reset();  // a crash
    const bool reaped = co_await eventually([&]() -> asio::awaitable<bool> {
      auto fresh = lax(env, 300ms);  // its first get reaps, and reads Redis
      const Counts c = co_await fresh->get("k");
      co_return c.cumulative == 1;
    });
    CHECK(reaped);
  }());
}

TEST_CASE("lax instance-aware: a reaped instance that comes back recovers its flushed slices") {
  Env env;
  Proxy proxy(server().port());
  auto options = redis::ConnectionOptions::from_url(proxy.url());
  options.command_timeout = 100ms;
  auto sleeper_conn = env(redis::connect(env.io.get_executor(), options));
  auto sleeper = Lax::create({.prefix = env.prefix, .connection = sleeper_conn, .dead_instance_threshold = 300ms});
  // allowed_lag 0: every get of the witness reads Redis (and reaps).
  auto witness = Lax::create(
      {.prefix = env.prefix, .connection = env.conn, .dead_instance_threshold = 300ms, .allowed_lag = 0ms});
  env([&]() -> asio::awaitable<void> {
    co_await sleeper->inc("k", 7);
    co_await sleeper->inc("other", 3);
    co_await sleeper->flush();
    proxy.set(Proxy::Mode::drop_all);                      // a partition: its heartbeats go nowhere
    co_await expect_cumulative_becomes(*witness, "k", 0);  // reaped as dead
    proxy.heal();                                          // its next heartbeat brings it back
    co_await expect_cumulative_becomes(*witness, "k", 7);
    co_await expect_cumulative_becomes(*witness, "other", 3);
    co_await sleeper->inc("k", 1);
    co_await sleeper->flush();
    co_await expect_cumulative_becomes(*witness, "k", 8);
    co_await sleeper->shutdown();
    co_await witness->shutdown();
  }());
}

TEST_CASE("lax instance-aware: dropped without shutdown, it stops and reports what it abandons") {
  CapturedLog log;
  {
    Env env;
    auto c = Lax::create({.prefix = env.prefix,
                          .connection = env.conn,
                          .flush_interval = std::chrono::milliseconds(3'600'000)});
    env([&]() -> asio::awaitable<void> {
      co_await c->inc("a", 3);
      co_await c->inc("b", 4);
    }());
    c.reset();  // no Redis I/O from here on
    env.io.restart();
    env.io.poll();
  }
  CHECK(log.text().find("abandoning unflushed deltas on 2 keys (sum 7)") != std::string::npos);
}

// ---- shards ---------------------------------------------------------------------

TEST_CASE("instance-aware with shards: a dead instance is reaped in every sub-family, while a live one busy in "
          "one sub-family stays alive in all") {
  CapturedLog log;
  Env env;
  constexpr std::size_t shards = 8;
  auto make = [&] {
    return Strict::create(
        {.prefix = env.prefix, .connection = env.conn, .dead_instance_threshold = 1000ms, .shards = shards});
  };
  auto watcher = make(), busy = make();  // they heartbeat, each in every sub-family
  auto dying = strict(env, 1000ms, shards);
  std::vector<std::string> keys;  // two per sub-family
  std::vector<int> per_shard(shards);
  for (int i = 0; keys.size() < 2 * shards; ++i)
    if (const std::string key = "k" + std::to_string(i); per_shard[detail::sub_family_of(key, shards)]++ < 2)
      keys.push_back(key);
  std::vector<std::int64_t> after_leave;
  env([&]() -> asio::awaitable<void> {
    for (const auto& key : keys) {
      co_await dying->inc(key, 10);
      co_await busy->inc(key, 1);
    }
    dying.reset();  // a crash
    // Three thresholds of ops on one key, one sub-family, by `busy` alone.
    for (const auto until = std::chrono::steady_clock::now() + 3000ms; std::chrono::steady_clock::now() < until;)
      co_await busy->inc(keys[0], 0);
    for (const auto& key : keys) co_await expect_cumulative_becomes(*watcher, key, 1);
    // Never reaped meanwhile (then brought back by a later call).
    CHECK(log.text().find("instance " + busy->instance_id() + " had been reaped") == std::string::npos);
    co_await busy->shutdown();
    for (const auto& key : keys) after_leave.push_back((co_await watcher->get(key)).cumulative);
    co_await watcher->shutdown();
  }());
  CHECK(after_leave == std::vector<std::int64_t>(keys.size(), 0));
}

TEST_CASE("instance-aware with shards: a client that does no op, or whose count is refused, writes nothing") {
  Env env;
  const auto idle = Strict::create(
      {.prefix = env.prefix, .connection = env.conn, .dead_instance_threshold = 1000ms, .heartbeat_interval = 100ms});
  auto eight = Strict::create({.prefix = env.prefix, .connection = env.conn, .shards = 8});
  CHECK(env(eight->inc("k", 1)) == Counts{1, 1});  // the idle client's heartbeat had not claimed the family
  auto refused = Strict::create(
      {.prefix = env.prefix, .connection = env.conn, .dead_instance_threshold = 1000ms, .heartbeat_interval = 100ms});
  CHECK(env(error_of(refused->inc("k", 1))) == errc::invalid_argument);
  env(sleep_for(400ms));  // four heartbeat intervals of both: nothing may happen meanwhile
  CHECK(server().command({"EXISTS", ia_key(env, "live"), "{" + env.prefix.str() + "}:ia:meta"}) == "0");
  env(eight->shutdown());
}

TEST_CASE("instance-aware with shards: a family of the layout before v2 is refused too") {
  Env env;
  server().command({"ZADD", "{" + env.prefix.str() + "}:ia:live", "1", "old-instance"});
  auto eight = Strict::create({.prefix = env.prefix, .connection = env.conn, .shards = 8});
  auto [error, what] = env(outcome_of(eight->inc("k", 1)));
  CHECK(error == errc::invalid_argument);
  CHECK_THAT(what, Catch::Contains("StrictInstanceAwareCounter family") && Catch::Contains("has 1 shards"));
}
