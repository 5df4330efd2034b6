// Four clients with different demand share one limit of 100 calls/s, under
// each rate limit provider and strategy. Once a second it prints what each
// client was admitted and the total.
//
//   rate_limit_demo [redis-url] [--seconds S]
#include <array>
#include <functional>
#include <memory>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <fmt/format.h>

#include <distkit/distkit.hpp>

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr double limit_per_second = 100;
constexpr std::array<double, 4> demand = {10, 40, 80, 150};  // calls/s of clients a, b, c, d

// One row per way of limiting: its name and how it decides.
struct Way {
  const char* name;
  std::function<asio::awaitable<distkit::Decision>()> inc;
  std::array<std::int64_t, 4> admitted{};  // this second
};

// Client `c` asks `way` at its demand until `until`. It holds the limiter
// and the ways (`run`): it may resume after demo() has printed its last row.
template <class Run>
asio::awaitable<void> client(std::shared_ptr<Run> run, std::size_t w, std::size_t c, Clock::time_point until) {
  Way& way = run->ways[w];
  asio::steady_timer timer(co_await asio::this_coro::executor);
  const auto gap = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(1.0 / demand[c]));
  for (auto next = Clock::now(); next < until; next += gap) {
    const distkit::Decision d = co_await way.inc();  // (a local: g++ 12, in a template)
    if (d.admitted) ++way.admitted[c];
    timer.expires_at(next + gap);
    co_await timer.async_wait(asio::use_awaitable);
  }
}

asio::awaitable<void> demo(std::string url, int seconds) {
  auto ex = co_await asio::this_coro::executor;
  auto connection = co_await distkit::redis::connect(ex, url);
  distkit::RateLimiterOptions options{distkit::RedisKey("rate_limit_demo"), connection};
  options.window = 1s;  // a short window, so that a few seconds show it sliding
  options.bucket = 100ms;
  struct Run {
    std::shared_ptr<distkit::RateLimiter> limiter;
    std::array<Way, 5> ways;
  };
  auto run = std::make_shared<Run>();
  run->limiter = distkit::RateLimiter::create(options);
  auto& limiter = run->limiter;
  // A key of its own per run: a rerun within a window starts afresh.
  const std::string key = fmt::format("api.{}", Clock::now().time_since_epoch().count());
  auto by = [&](auto& limit) { return [&limit, key] { return limit.inc(key, limit_per_second); }; };
  run->ways = {Way{"local absolute", by(limiter->local().absolute())},
               Way{"redis absolute", by(limiter->redis().absolute())},
               Way{"hybrid absolute", by(limiter->hybrid().absolute())},
               Way{"redis suppressed", by(limiter->redis().suppressed())},
               Way{"hybrid suppressed", by(limiter->hybrid().suppressed())}};
  auto& ways = run->ways;

  fmt::print("4 clients asking {}, {}, {} and {} calls/s share a limit of {}/s (window 1 s) on {}\n\n", demand[0],
             demand[1], demand[2], demand[3], limit_per_second, url);
  // Rows are whole seconds of the wall clock, which Redis' windows follow:
  // start at the next one. (The local provider's buckets follow the steady
  // clock, so its row may hold a few calls of a bucket on either side.)
  const auto wall = std::chrono::system_clock::now().time_since_epoch();
  const auto start = Clock::now() + (std::chrono::ceil<std::chrono::seconds>(wall) - wall);
  asio::steady_timer tick(ex, start);
  co_await tick.async_wait(asio::use_awaitable);
  const auto until = start + std::chrono::seconds(seconds);
  for (std::size_t w = 0; w < ways.size(); ++w)
    for (std::size_t c = 0; c < demand.size(); ++c) asio::co_spawn(ex, client(run, w, c, until), asio::detached);

  for (int s = 1; s <= seconds; ++s) {
    tick.expires_at(until - std::chrono::seconds(seconds - s));
    co_await tick.async_wait(asio::use_awaitable);
    fmt::print("second {:>2}\n", s);
    for (auto& way : ways) {
      std::int64_t total = 0;
      for (auto a : way.admitted) total += a;
      fmt::print("  {:<18} a {:>3}  b {:>3}  c {:>3}  d {:>3}  | total {:>3}\n", way.name, way.admitted[0],
                 way.admitted[1], way.admitted[2], way.admitted[3], total);
      way.admitted = {};
    }
    std::fflush(stdout);
  }
  fmt::print("\ndone: demand was {}/s in all; each way admitted about {}/s.\n",
             demand[0] + demand[1] + demand[2] + demand[3], limit_per_second);
}

}  // namespace

int main(int argc, char** argv) {
  try {
    std::string url = "redis://127.0.0.1:6379";
    int seconds = 10;
    for (int i = 1; i < argc; ++i) {
      const std::string_view arg = argv[i];
      if (arg == "--seconds" && i + 1 < argc) seconds = std::max(2, std::atoi(argv[++i]));
      else if (!arg.starts_with("--")) url = arg;
      else throw std::invalid_argument(fmt::format("unknown flag {}", arg));
    }
    asio::io_context io;
    int status = 0;
    asio::co_spawn(io, demo(url, seconds), [&](std::exception_ptr e) {
      if (!e) return;
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        fmt::print(stderr, "rate_limit_demo: {}\n", ex.what());
        status = 1;
      }
    });
    io.run();
    return status;
  } catch (const std::exception& e) {
    fmt::print(stderr, "rate_limit_demo: {}\n", e.what());
    return 2;
  }
}
