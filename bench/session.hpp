#pragma once
// What the figures share: a connection run by the calling thread, and clocks.

#include <chrono>
#include <cstdint>
#include <ctime>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>

#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <fmt/format.h>

#include "distkit/redis/connection.hpp"

namespace distkit::bench {

using Clock = std::chrono::steady_clock;

inline double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// CPU time this process has used (all threads, user and system).
inline double process_cpu_us() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) * 1e6 + static_cast<double>(t.tv_nsec) / 1e3;
}

// An io_context with a connection to the bench server (or to `url`), run by
// the calling thread until the task at hand is done.
class Session {
 public:
  explicit Session(std::uint16_t port) : Session(fmt::format("redis://127.0.0.1:{}", port)) {}
  explicit Session(const std::string& url) { conn = run(redis::connect(io.get_executor(), url)); }
  ~Session() {
    conn.reset();
    io.restart();
    io.run_for(std::chrono::seconds(1));  // lets the counters' loops see them gone
  }

  template <class T>
  T run(asio::awaitable<T> task) {
    std::optional<std::conditional_t<std::is_void_v<T>, bool, T>> result;
    run_all(1, [&](int) -> asio::awaitable<void> {
      if constexpr (std::is_void_v<T>) {
        co_await std::move(task);
        result = true;
      } else {
        result = co_await std::move(task);
      }
    });
    if constexpr (!std::is_void_v<T>) return std::move(*result);
  }

  // Runs make(0) ... make(n - 1) concurrently until all are done.
  template <class Make>
  void run_all(int n, Make make) {
    std::exception_ptr failure;
    int left = n;
    for (int i = 0; i < n; ++i)
      asio::co_spawn(io, make(i), [&](std::exception_ptr e) {
        if (e && !failure) failure = e;
        if (--left == 0) io.stop();
      });
    io.restart();
    io.run();
    if (failure) std::rethrow_exception(failure);
  }

  asio::io_context io;
  std::shared_ptr<redis::Connection> conn;
};

}  // namespace distkit::bench
