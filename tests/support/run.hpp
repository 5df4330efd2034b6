#pragma once
// Running coroutines from tests, under a deadline so a hang fails the test.

#include <chrono>
#include <functional>
#include <future>
#include <optional>
#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include <asio/co_spawn.hpp>
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
  ~Env() {
    conn.reset();  // closes the link; let it finish before the io_context goes
    io.restart();
    io.poll();
  }
  template <class T>
  T operator()(asio::awaitable<T> task, std::chrono::seconds limit = 30s) {
    return run(io, std::move(task), limit);
  }
};

}  // namespace distkit::test
