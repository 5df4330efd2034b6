// The faults that broke instance-aware counters before layout 2 (issue #11),
// and lost replies of a lax batch split over sub-families (the `shards`
// option), each made the way a network makes it, through a loopback proxy
// (support/proxy.hpp) in front of the test run's redis-server.
#include "../integration/instance_aware_support.hpp"
#include "proxy.hpp"

using namespace distkit;
using namespace distkit::test;

namespace {

// A connection through `proxy` that gives up on a reply after 150 ms.
std::shared_ptr<redis::Connection> connect_through(Env& env, const Proxy& proxy) {
  auto options = redis::ConnectionOptions::from_url(proxy.url());
  options.command_timeout = 150ms;
  return env(redis::connect(env.io.get_executor(), options));
}

// The family's key `rest` in Redis ("ia" strict, "ialax" lax).
std::string family_key(const Env& env, std::string_view kind, std::string_view rest) {
  return "{" + env.prefix.str() + "}:" + std::string(kind) + ":v2:" + std::string(rest);
}

template <class Counter>
asio::awaitable<bool> until_reaped(const Env& env, std::string_view kind, const Counter& c) {
  co_return co_await eventually([&]() -> asio::awaitable<bool> {
    co_return server().command({"ZSCORE", family_key(env, kind, "live"), c.instance_id()}).empty();
  });
}

}  // namespace

TEST_CASE("instance-aware faults: a batch applied, its reply lost, re-sent after its instance was reaped and the "
          "key set or deleted, counts once") {
  for (const bool del : {false, true}) {
    DYNAMIC_SECTION((del ? "del" : "set")) {
      Env env;
      Proxy proxy(server().port());
      constexpr auto never = std::chrono::hours(1);
      auto a = Lax::create({.prefix = env.prefix,
                            .connection = connect_through(env, proxy),
                            .dead_instance_threshold = 400ms,
                            .flush_interval = never,
                            .allowed_lag = never});
      auto b = Lax::create(
          {.prefix = env.prefix, .connection = env.conn, .dead_instance_threshold = 400ms, .allowed_lag = 0ms});
      std::optional<errc> lost;
      Counts after{};
      env([&]() -> asio::awaitable<void> {
        co_await a->inc("k", 5);
        co_await b->get("k");  // b joins: its heartbeats reap a
        proxy.set(Proxy::Mode::drop_replies);
        lost = co_await error_of(a->flush());  // Redis applied it; a cannot know
        proxy.set(Proxy::Mode::drop_all);      // and a is cut off past its threshold
        const bool reaped = co_await until_reaped(env, "ialax", *a);
        REQUIRE(reaped);
        if (del) co_await b->del("k");
        else co_await b->set("k", 100);
        proxy.heal();
        // The same batch, same sequence, until acknowledged (the first try
        // may meet the cut link): Redis skips it.
        const bool flushed = co_await eventually([&]() -> asio::awaitable<bool> {
          co_return !(co_await error_of(a->flush()));
        });
        REQUIRE(flushed);
        const bool settled = co_await eventually([&]() -> asio::awaitable<bool> {
          co_await a->heartbeat();  // a is back: its parked slice of k is stale and dropped
          co_return server().command({"ZCARD", family_key(env, "ialax", "jobs")}) == "0";
        });
        CHECK(settled);
        after = co_await b->get("k");
        co_await a->shutdown();
        co_await b->shutdown();
      }());
      CHECK(lost.has_value());
      CHECK(after.cumulative == (del ? 0 : 100));
    }
  }
}

TEST_CASE("instance-aware faults: the call that finds its instance parked restores it, though its reply is lost") {
  Env env;
  Proxy proxy(server().port());
  auto a_conn = connect_through(env, proxy);
  auto a = Strict::create({.prefix = env.prefix, .connection = a_conn, .dead_instance_threshold = 400ms});
  detail::Access::family(*a).suspend_heartbeat();  // paused between ops: a calls Redis only when the test says
  auto b = Strict::create({.prefix = env.prefix, .connection = env.conn, .dead_instance_threshold = 400ms});
  std::optional<errc> lost;
  Counts mine{};
  env([&]() -> asio::awaitable<void> {
    co_await a->inc("k1", 5);
    proxy.set(Proxy::Mode::drop_all);  // a partition longer than the threshold
    co_await expect_cumulative_becomes(*b, "k1", 0);
    proxy.heal();
    const bool linked = co_await eventually([&]() -> asio::awaitable<bool> {
      co_return !(co_await error_of(a_conn->exec(redis::Command{"PING"})));
    });
    REQUIRE(linked);
    proxy.set(Proxy::Mode::drop_replies);
    lost = co_await error_of(a->heartbeat());  // reaches Redis; its reply does not reach a
    co_await expect_cumulative_becomes(*b, "k1", 5);  // restored by that very call
    proxy.heal();
    const bool answered = co_await eventually([&]() -> asio::awaitable<bool> {
      co_return !(co_await error_of(a->heartbeat()));
    });
    REQUIRE(answered);
    mine = co_await a->get("k1");
    co_await expect_cumulative_becomes(*b, "k1", 5);
    co_await a->shutdown();
    co_await b->shutdown();
  }());
  CHECK(lost == errc::timeout);
  CHECK(mine == Counts{5, 5});
}

TEST_CASE("instance-aware faults: an instance with a short threshold never reaps one with a long threshold") {
  Env env;
  auto patient = Strict::create({.prefix = env.prefix, .connection = env.conn});  // 30 s, a heartbeat every 10 s
  auto hasty = Strict::create({.prefix = env.prefix, .connection = env.conn, .dead_instance_threshold = 200ms});
  int reads = 0, wrong = 0;
  env([&]() -> asio::awaitable<void> {
    co_await patient->inc("k", 1);
    for (const auto end = std::chrono::steady_clock::now() + 2s; std::chrono::steady_clock::now() < end;) {
      const Counts c = co_await hasty->get("k");
      ++reads;
      if (c.cumulative != 1) ++wrong;
      co_await sleep_for(50ms);  // pacing the sampling, over ten of hasty's thresholds
    }
    co_await patient->shutdown();
    co_await hasty->shutdown();
  }());
  CHECK(reads >= 30);
  CHECK(wrong == 0);
}

TEST_CASE("instance-aware faults: a shutdown that failed can be called again, and then leaves") {
  Env env;
  Proxy proxy(server().port());
  auto strict_a = Strict::create({.prefix = env.prefix, .connection = connect_through(env, proxy)});
  auto lax_a = Lax::create({.prefix = env.prefix, .connection = connect_through(env, proxy)});
  auto strict_b = Strict::create({.prefix = env.prefix, .connection = env.conn});
  auto lax_b = Lax::create({.prefix = env.prefix, .connection = env.conn, .allowed_lag = 0ms});
  std::optional<errc> strict_failed, lax_failed, strict_again, lax_again;
  Counts strict_left{}, lax_left{};
  env([&]() -> asio::awaitable<void> {
    co_await strict_a->inc("k", 3);
    co_await lax_a->inc("k", 4);
    co_await lax_a->flush();
    proxy.set(Proxy::Mode::drop_all);
    strict_failed = co_await error_of(strict_a->shutdown());
    lax_failed = co_await error_of(lax_a->shutdown());
    proxy.heal();
    bool strict_done = false, lax_done = false;  // each retried until it succeeds once (the link was cut)
    const bool left = co_await eventually([&]() -> asio::awaitable<bool> {
      if (!strict_done) strict_done = !(co_await error_of(strict_a->shutdown()));
      if (!lax_done) lax_done = !(co_await error_of(lax_a->shutdown()));
      co_return strict_done && lax_done;
    });
    REQUIRE(left);
    strict_left = co_await strict_b->get("k");
    lax_left = co_await lax_b->get("k");
    strict_again = co_await error_of(strict_a->shutdown());
    lax_again = co_await error_of(lax_a->shutdown());
    co_await strict_b->shutdown();
    co_await lax_b->shutdown();
  }());
  CHECK(strict_failed == errc::timeout);
  CHECK(lax_failed == errc::timeout);
  CHECK(strict_left == Counts{0, 0});
  CHECK(lax_left == Counts{0, 0});
  CHECK(strict_again == errc::shut_down);
  CHECK(lax_again == errc::shut_down);
}

TEST_CASE("faults: a lax batch over 8 sub-families, applied and its replies lost, counts once when re-sent") {
  Env env;
  Proxy proxy(server().port());
  constexpr auto never = std::chrono::hours(1);
  auto lax = LaxCounter::create(
      {.prefix = env.prefix, .connection = connect_through(env, proxy), .allowed_lag = never, .shards = 8});
  auto reader = StrictCounter::create({.prefix = env.prefix, .connection = env.conn, .shards = 8});
  std::optional<errc> lost;
  std::vector<std::int64_t> totals;
  env([&]() -> asio::awaitable<void> {
    for (int i = 0; i < 40; ++i) co_await lax->inc("k" + std::to_string(i), 0);  // known keys: incs stay local
    for (int i = 0; i < 40; ++i) co_await lax->inc("k" + std::to_string(i), i + 1);
    proxy.set(Proxy::Mode::drop_replies);
    lost = co_await error_of(lax->flush());  // every part applied; no reply comes back
    proxy.heal();
    const bool flushed = co_await eventually([&]() -> asio::awaitable<bool> {
      co_return !(co_await error_of(lax->flush()));  // the same batch, each part skipped where applied
    });
    REQUIRE(flushed);
    for (int i = 0; i < 40; ++i) totals.push_back(co_await reader->get("k" + std::to_string(i)));
    co_await lax->shutdown();
  }());
  CHECK(lost.has_value());
  for (int i = 0; i < 40; ++i) CHECK(totals[static_cast<std::size_t>(i)] == i + 1);
}
