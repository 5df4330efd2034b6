#pragma once
// Running coroutines from tests, under a deadline so a hang fails the test.

#include <chrono>
#include <cstdint>
#include <functional>
#include <future>
#include <limits>
#include <optional>
#include <atomic>
#include <exception>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <asio/co_spawn.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/experimental/concurrent_channel.hpp>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/use_future.hpp>
#include <catch2/catch.hpp>

#include "catch_errc.hpp"
#include "distkit/distkit.hpp"
#include "redis_server.hpp"

namespace distkit::test {

using namespace std::chrono_literals;

// Note: never co_await inside CHECK/REQUIRE: Catch2 v2 evaluates the
// expression a second time, unevaluated-context tricks notwithstanding.
//
// Runs `task` on `io` with `threads` threads until it finishes; fails the test
// if it takes longer than `limit`. Rethrows what the task threw.
template <class T>
T run(asio::io_context& io, asio::awaitable<T> task, std::chrono::seconds limit = 30s, int threads = 1) {
  auto done = asio::co_spawn(io, std::move(task), asio::use_future).share();
  const auto deadline = std::chrono::steady_clock::now() + limit;
  auto drive = [&] {
    while (done.wait_for(0s) != std::future_status::ready && std::chrono::steady_clock::now() < deadline)
      io.run_for(5ms);
  };
  io.restart();
  std::vector<std::thread> helpers;
  for (int i = 1; i < threads; ++i) helpers.emplace_back(drive);
  drive();
  for (auto& t : helpers) t.join();
  if (done.wait_for(0s) != std::future_status::ready) FAIL("coroutine did not finish within " << limit.count() << "s");
  return done.get();
}

// Awaitable sleep, for pacing background load (never as a synchronisation).
inline asio::awaitable<void> sleep_for(std::chrono::milliseconds d) {
  asio::steady_timer t(co_await asio::this_coro::executor, d);
  co_await t.async_wait(asio::use_awaitable);
}

// Polls `condition` (a coroutine returning bool) until true or `limit` passes.
template <class Condition>
asio::awaitable<bool> eventually(Condition condition, std::chrono::milliseconds limit = 10'000ms) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (co_await condition()) co_return true;
    co_await sleep_for(10ms);
  }
  co_return false;
}

// The errc `op` fails with, or nullopt if it succeeds: lets a test assert on
// a failure without co_await inside CHECK.
template <class T>
asio::awaitable<std::optional<errc>> error_of(asio::awaitable<T> op) {
  try {
    co_await std::move(op);
  } catch (const Error& e) {
    co_return e.value();
  }
  co_return std::nullopt;
}

// How `op` ends: no errc and `success`, or the errc and the message.
template <class T>
asio::awaitable<std::pair<std::optional<errc>, std::string>> outcome_of(asio::awaitable<T> op,
                                                                        std::string success = "done") {
  try {
    co_await std::move(op);
  } catch (const Error& e) {
    co_return std::pair{std::optional(e.value()), std::string(e.what())};
  }
  co_return std::pair{std::optional<errc>(), std::move(success)};
}

// How connect() ends: no errc and "connected", or the errc and the message.
inline asio::awaitable<std::pair<std::optional<errc>, std::string>> connect_outcome(redis::ConnectionOptions options) {
  auto ex = co_await asio::this_coro::executor;
  co_return co_await outcome_of(redis::connect(ex, std::move(options)), "connected");
}
inline asio::awaitable<std::pair<std::optional<errc>, std::string>> connect_outcome(const std::string& url) {
  return connect_outcome(redis::ConnectionOptions::from_url(url));
}

// error_of() of each op, run one after another.
template <class... T>
asio::awaitable<std::vector<std::optional<errc>>> errors_of(asio::awaitable<T>... ops) {
  std::vector<std::optional<errc>> errors;
  (errors.push_back(co_await error_of(std::move(ops))), ...);
  co_return errors;
}

// How an op fails while the link is down or stalled: connection_lost,
// timeout (either may have run) or not_applied (it did not).
inline bool link_trouble(errc e) { return e == errc::connection_lost || e == errc::timeout || e == errc::not_applied; }
inline bool link_trouble(const Error& e) { return link_trouble(e.value()); }

// Retries `op()` while it fails for link trouble: a link that was just
// killed (the first command may still go out on it) or is being
// re-established. Only for ops whose repetition the test accounts for.
template <class Op>
auto retrying(Op op, int attempts = 3) -> decltype(op()) {
  for (int attempt = 1;; ++attempt) {
    try {
      co_return co_await op();
    } catch (const Error& e) {
      if (!link_trouble(e) || attempt >= attempts) throw;
    }
  }
}

// Runs task(0) ... task(count - 1) concurrently on the current executor (on
// every thread running it) and waits for all of them; rethrows the first
// failure. `task` must outlive none of its coroutines: it lives here.
template <class Task>
asio::awaitable<void> concurrently(int count, Task task) {
  auto ex = co_await asio::this_coro::executor;
  asio::experimental::concurrent_channel<void(asio::error_code, std::exception_ptr)> done(
      ex, static_cast<std::size_t>(count));
  for (int i = 0; i < count; ++i)
    asio::co_spawn(ex, task(i), [&done](std::exception_ptr e) { done.try_send(asio::error_code{}, e); });
  std::exception_ptr first;
  for (int i = 0; i < count; ++i)
    if (auto e = co_await done.async_receive(asio::use_awaitable); e && !first) first = e;
  if (first) std::rethrow_exception(first);
}

// While alive, holds every script call on `s` (CLIENT PAUSE WRITE), so a
// counter op can be caught in flight: sent, and certainly neither run nor
// answered. Other commands, CLIENT KILL included, still run.
struct ScriptPause {
  const RedisServer& s;
  explicit ScriptPause(const RedisServer& server) : s(server) { s.command({"CLIENT", "PAUSE", "10000", "WRITE"}); }
  ~ScriptPause() { s.command({"CLIENT", "UNPAUSE"}); }

  // Waits until a script call has reached the server and is held there.
  asio::awaitable<bool> holding_a_script() const {
    co_return co_await eventually([this]() -> asio::awaitable<bool> {
      const auto clients = s.command({"CLIENT", "LIST"});
      co_return clients.find("flags=b ") != std::string::npos && clients.find("cmd=evalsha ") != std::string::npos;
    });
  }
};

// Runs `op` until its script call is held by the server, then kills the
// link: the op's reply is lost, and the op certainly did not run. Returns
// the errc the op failed with.
template <class T>
asio::awaitable<std::optional<errc>> lose_reply(const RedisServer& s, asio::awaitable<T> op) {
  ScriptPause pause(s);
  auto kill = [&]() -> asio::awaitable<void> {
    if (co_await pause.holding_a_script()) s.kill_clients();
  };
  using namespace asio::experimental::awaitable_operators;
  co_return co_await (error_of(std::move(op)) && kill());
}

// Totals where a script could lose exactness: around ±2^53 (beyond it a Lua
// double rounds), round powers of ten (1e+15 as a Lua number), the int64 limits.
inline std::vector<std::int64_t> boundary_values() {
  constexpr std::int64_t p53 = std::int64_t{1} << 53;
  constexpr std::int64_t max = std::numeric_limits<std::int64_t>::max();
  constexpr std::int64_t min = std::numeric_limits<std::int64_t>::min();
  return {0, 1, -1, 1'000'000'000'000'000, -1'000'000'000'000'000, 123'456'789'012'345'678,
          -123'456'789'012'345'678, p53 - 1, p53, p53 + 1, -(p53 - 1), -p53, -(p53 + 1),
          max - 1, max, min + 1, min};
}
// Tests reach each boundary value in two adds: `value - step_to(value)`, then `step_to(value)`.
inline std::int64_t step_to(std::int64_t value) { return value > 0 ? 1 : -1; }

// A prefix no other test uses.
inline RedisKey unique_prefix(const std::string& base = "t") {
  static std::atomic<int> n{0};
  return RedisKey(base + std::to_string(++n));
}

// An io_context with a connection to the test server.
struct Env {
  asio::io_context io;
  std::shared_ptr<redis::Connection> conn;
  RedisKey prefix = unique_prefix();

  explicit Env(const std::string& url = server().url()) : Env(redis::ConnectionOptions::from_url(url)) {}
  explicit Env(redis::ConnectionOptions options) {
    conn = run(io, redis::connect(io.get_executor(), std::move(options)));
  }
  // Runs the io_context until its work is done: a reply still on its way
  // (say, of a flush by a counter dropped at the end of a test) holds the
  // counter and the connection, which close once it has arrived.
  ~Env() {
    conn.reset();
    io.restart();
    io.run_for(5s);
  }
  template <class T>
  T operator()(asio::awaitable<T> task, std::chrono::seconds limit = 30s) {
    return run(io, std::move(task), limit);
  }
};

}  // namespace distkit::test
