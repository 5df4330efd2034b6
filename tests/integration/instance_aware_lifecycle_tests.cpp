// An instance's life in Redis (layout 2): its slices swept of what counts
// for nothing, a clear_on_instance that shares its calls with a large job,
// a family of another layout refused, and a lax counter's cache after an op
// that timed out.
#include "instance_aware_support.hpp"

using namespace distkit;
using namespace distkit::test;

TEST_CASE("instance-aware: slices made stale by others' del and clear leave a live instance's hash") {
  Env env;
  auto a = Strict::create({.prefix = env.prefix, .connection = env.conn, .dead_instance_threshold = 400ms});
  auto b = strict(env);
  const std::string a_slices = ia_key(env, "inst:" + a->instance_id());
  bool swept = false;
  env([&]() -> asio::awaitable<void> {
    co_await a->inc("k0", 1);
    co_await a->inc("k1", 2);
    co_await a->inc("k2", 3);
    co_await b->del("k0");
    co_await b->clear();
    // a stays idle: its heartbeats sweep its hash down to its retention field.
    swept = co_await eventually([&]() -> asio::awaitable<bool> {
      co_return server().command({"HLEN", a_slices}) == "1";
    });
    co_await a->shutdown();
  }());
  CHECK(swept);
}

TEST_CASE("instance-aware: clear_on_instance completes while a large job takes its calls' budget") {
  Env env;
  auto big = strict(env, 200ms);
  auto a = strict(env);
  std::vector<Counts> seen;
  env([&]() -> asio::awaitable<void> {
    std::vector<detail::KeyDelta> batch;
    for (int round = 0; round < 15; ++round) {  // 1,500 slices: more than one call's budget
      batch.clear();
      for (int k = 0; k < 100; ++k) batch.push_back({"big" + std::to_string(round * 100 + k), 1});
      co_await detail::Access::family(*big).inc_batch(0, static_cast<std::uint64_t>(round + 1), batch);
    }
    for (int k = 0; k < 10; ++k) co_await a->inc("a" + std::to_string(k), 1);
    co_await sleep_for(250ms);  // big is past its deadline
    co_await a->get("a0");      // finds it dead: its job is named to a
    co_await a->clear_on_instance();
    seen.push_back(co_await a->get("a0"));
    seen.push_back(co_await a->get("a9"));
  }());
  CHECK(seen == std::vector<Counts>{{0, 0}, {0, 0}});
}

TEST_CASE("instance-aware: a family used by another key layout refuses every call, changing nothing") {
  Env env;
  SECTION("layout 1 instances on the prefix") {
    server().command({"ZADD", "{" + env.prefix.str() + "}:ia:live", "1", "old-instance"});
  }
  SECTION("a later layout") { server().command({"HSET", "{" + env.prefix.str() + "}:ia:meta", "layout", "3"}); }
  auto a = strict(env);
  std::vector<std::optional<errc>> errors;
  std::string message;
  env([&]() -> asio::awaitable<void> {
    errors.push_back(co_await error_of(a->inc("k", 1)));
    errors.push_back(co_await error_of(a->inc("k", 1)));  // not registered by the first
    try {
      co_await a->get("k");
    } catch (const Error& e) {
      message = e.what();
    }
  }());
  CHECK(errors == std::vector<std::optional<errc>>{errc::script_error, errc::script_error});
  CHECK(message.find("this client uses layout 2") != std::string::npos);
  CHECK(server().command({"EXISTS", ia_key(env, "cum"), ia_key(env, "live")}) == "0");
}

// As for LaxCounter: a set, del or clear that times out may still run, late,
// so the cached view is read again rather than trusted.
TEST_CASE("lax instance-aware: after a del, set or clear that timed out, the next get reads Redis again") {
  const std::string op = GENERATE("del", "set", "clear", "clear_on_instance");
  CAPTURE(op);
  RedisServer stalled;
  auto options = redis::ConnectionOptions::from_url(stalled.url());
  options.command_timeout = 200ms;
  options.health_check_interval = std::chrono::hours(1);  // keep the link whose replies arrive late
  Env env(options);
  auto lax = Lax::create({.prefix = env.prefix, .connection = env.conn, .allowed_lag = std::chrono::hours(1)});
  auto run_op = [&]() -> asio::awaitable<void> {
    if (op == "del") co_await lax->del("k");
    else if (op == "set") co_await lax->set("k", 3);
    else if (op == "clear") co_await lax->clear();
    else co_await lax->clear_on_instance();
  };
  std::optional<errc> error;
  Counts after;
  env([&]() -> asio::awaitable<void> {
    co_await lax->inc("k", 10);
    co_await lax->flush();
    stalled.command({"CLIENT", "PAUSE", "1000", "ALL"});
    error = co_await error_of(run_op());
    co_await eventually([&]() -> asio::awaitable<bool> { co_return !(co_await error_of(lax->heartbeat())); });
    after = co_await lax->get("k");
    co_await lax->shutdown();
  }());
  CHECK(error == errc::timeout);
  CHECK(after == (op == "set" ? Counts{3, 3} : Counts{0, 0}));  // what the late op left
}
