// A fleet of "servers", each counting its live connections with its own
// LaxInstanceAwareCounter instance. Once a second it prints every instance's
// slice and the cumulative. Then one instance crashes (dropped without
// shutdown): its slice stays in the cumulative until the dead threshold has
// passed, then vanishes. Another shuts down gracefully and leaves at once.
//
//   fleet_demo [redis-url] [--instances N] [--threshold-ms MS] [--seconds S]
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <fmt/format.h>

#include <distkit/distkit.hpp>

namespace {

using namespace std::chrono_literals;

struct Flags {
  std::string redis = "redis://127.0.0.1:6379";
  int instances = 4;
  std::chrono::milliseconds threshold{3'000};
  int seconds = 15;
};

Flags parse(int argc, char** argv) {
  Flags f;
  int first = 1;
  if (argc > 1 && !std::string_view(argv[1]).starts_with("--")) f.redis = argv[first++];
  for (int i = first; i + 1 < argc; i += 2) {
    const std::string_view flag = argv[i];
    const char* value = argv[i + 1];
    if (flag == "--instances") f.instances = std::max(3, std::atoi(value));
    else if (flag == "--threshold-ms") f.threshold = std::chrono::milliseconds(std::max(100, std::atoi(value)));
    else if (flag == "--seconds") f.seconds = std::max(5, std::atoi(value));
    else throw std::invalid_argument(fmt::format("unknown flag {}", flag));
  }
  return f;
}

asio::awaitable<void> sleep(std::chrono::milliseconds d) {
  asio::steady_timer t(co_await asio::this_coro::executor, d);
  co_await t.async_wait(asio::use_awaitable);
}

struct Server {
  std::string name;
  std::shared_ptr<distkit::LaxInstanceAwareCounter> counter;
  std::int64_t open = 0;  // what this server knows it holds
  std::string state = "up";
};

asio::awaitable<void> demo(Flags flags) {
  auto ex = co_await asio::this_coro::executor;
  auto conn = co_await distkit::redis::connect(ex, flags.redis);
  const distkit::RedisKey prefix("fleet-demo-" + std::to_string(std::random_device{}()));
  const std::string key = "connections";

  std::vector<Server> fleet;
  for (int i = 0; i < flags.instances; ++i) {
    fleet.push_back({fmt::format("server-{}", i + 1),
                     distkit::LaxInstanceAwareCounter::create(
                         {.prefix = prefix, .connection = conn, .dead_instance_threshold = flags.threshold}),
                     0, "up"});
  }
  Server& crasher = fleet[1];
  Server& leaver = fleet[2];
  const int crash_at = 3, leave_at = crash_at + 1 + static_cast<int>(flags.threshold.count() / 2000);

  fmt::print("{} instances share \"{}\" on {}; dead threshold {} ms\n\n", flags.instances, key, flags.redis,
             flags.threshold.count());
  std::mt19937 rng(42);
  for (int second = 0; second < flags.seconds; ++second) {
    // Ten ticks a second of clients connecting and disconnecting.
    for (int tick = 0; tick < 10; ++tick) {
      for (auto& s : fleet) {
        if (s.state != "up") continue;
        const int change = std::uniform_int_distribution<int>(-2, 3)(rng);
        const int applied = std::max<int>(change, static_cast<int>(-s.open));
        if (applied > 0) co_await s.counter->inc(key, applied);
        if (applied < 0) co_await s.counter->dec(key, -applied);
        s.open += applied;
      }
      co_await sleep(100ms);
    }
    if (second == crash_at) {
      fmt::print("!! {} crashes with {} open connections (dropped without shutdown)\n", crasher.name, crasher.open);
      crasher.counter.reset();
      crasher.state = "crashed";
    }
    if (second == leave_at) {
      co_await leaver.counter->shutdown();
      fmt::print("!! {} shuts down gracefully: its {} leave at once\n", leaver.name, leaver.open);
      leaver.counter.reset();
      leaver.state = "left";
      leaver.open = 0;
    }
    std::int64_t live_sum = 0;
    std::string row = fmt::format("t={:>2}s ", second + 1);
    distkit::Counts seen{};
    for (auto& s : fleet) {
      if (s.counter) {
        const distkit::Counts c = co_await s.counter->get(key);
        live_sum += c.instance;
        seen = c;
        row += fmt::format(" | {} {:>3}", s.name, c.instance);
      } else {
        row += fmt::format(" | {} {:>3}", s.name, s.state == "crashed" ? "  x" : "  -");
      }
    }
    fmt::print("{} || cumulative {:>4} (live slices sum to {})\n", row, seen.cumulative, live_sum);
    std::fflush(stdout);
  }
  for (auto& s : fleet)
    if (s.counter) co_await s.counter->shutdown();
  fmt::print("\ndone: after the crash, the cumulative kept the crashed slice for about {} ms, then dropped it.\n",
             flags.threshold.count());
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const Flags flags = parse(argc, argv);
    asio::io_context io;
    int status = 0;
    asio::co_spawn(io, demo(flags), [&](std::exception_ptr e) {
      if (!e) return;
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        fmt::print(stderr, "fleet_demo: {}\n", ex.what());
        status = 1;
      }
    });
    io.run();
    return status;
  } catch (const std::exception& e) {
    fmt::print(stderr, "fleet_demo: {}\n", e.what());
    return 2;
  }
}
