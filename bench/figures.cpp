#include "figures.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <fstream>
#include <latch>
#include <optional>
#include <random>
#include <shared_mutex>
#include <thread>
#include <type_traits>
#include <unordered_map>
#include <vector>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <fmt/format.h>
#include <malloc.h>
#include <unistd.h>

#include "distkit/distkit.hpp"
#include "session.hpp"

namespace distkit::bench {
namespace {

using namespace std::chrono_literals;

std::string fresh_prefix() {
  static int n = 0;
  return fmt::format("bench{}-{}", getpid(), ++n);
}

template <class C>
std::shared_ptr<C> create(Session& s, std::chrono::milliseconds allowed_lag = 20ms) {
  RedisKey prefix(fresh_prefix());
  if constexpr (std::is_same_v<C, StrictCounter>)
    return C::create(CounterOptions{prefix, s.conn});
  else if constexpr (std::is_same_v<C, LaxCounter>)
    return C::create(CounterOptions{prefix, s.conn, allowed_lag});
  else if constexpr (std::is_same_v<C, StrictInstanceAwareCounter>)
    return C::create({.prefix = prefix, .connection = s.conn});
  else
    return C::create({.prefix = prefix, .connection = s.conn, .allowed_lag = allowed_lag});
}

std::vector<std::string> make_keys(const char* tag, std::size_t n) {
  std::vector<std::string> keys;
  keys.reserve(n);
  for (std::size_t i = 0; i < n; ++i) keys.push_back(fmt::format("{}{:0{}d}", tag, i, 16 - std::string_view(tag).size()));
  return keys;
}

// First touch of every key (a read from Redis each), 64 at a time.
template <class C>
void warm(Session& s, C& counter, const std::vector<std::string>& keys) {
  const int workers = 64;
  s.run_all(workers, [&](int w) -> asio::awaitable<void> {
    for (std::size_t i = static_cast<std::size_t>(w); i < keys.size(); i += workers) co_await counter.get(keys[i]);
  });
}

template <class Strict>
Args strict_inc_command(const Setup& setup) {
  Session s(setup.port);
  auto c = create<Strict>(s);
  s.run(c->inc("hot", 1));  // loads the script, registers the instance
  return capture_evalsha(setup.port, [&] { s.run(c->inc("hot", 1)); });
}

template <class Lax>
Args flush_command(const Setup& setup) {
  Session s(setup.port);
  auto c = create<Lax>(s);
  // 600 keys flushed first: Redis' hashes then hold more than 512 fields
  // (hash-max-listpack-entries) and are hash tables, as in
  // lax_flush_capacity(); a small hash is a listpack, searched linearly,
  // which would make this ceiling several times lower.
  auto keys = make_keys("f", 600);
  warm(s, *c, keys);
  s.run([&]() -> asio::awaitable<void> {
    for (const auto& k : keys) co_await c->inc(k, 1);
    co_await c->flush();
  }());
  keys.resize(100);
  auto args = capture_evalsha(setup.port, [&] {
    s.run([&]() -> asio::awaitable<void> {
      for (const auto& k : keys) co_await c->inc(k, 1);
      co_await c->flush();
    }());
  });
  s.run(c->shutdown());
  // EVALSHA sha numkeys keys... args...: count the keys of the batch.
  constexpr bool plain = std::is_same_v<Lax, LaxCounter>;
  const std::size_t per_key = 2;                          // key, delta
  const std::size_t fixed = plain ? 3 + 2 + 2 : 3 + 10 + 8;  // see lua/counter.lua, lua/instance_aware.lua
  if (args.size() != fixed + 100 * per_key)
    throw std::runtime_error(fmt::format("expected one flush of 100 keys, captured {} arguments", args.size()));
  // Nearly the same work as lax_flush_capacity(): each call's keys drawn at
  // random from as many keys of the same length (redis-benchmark -r replaces
  // every __rand_int__ with 12 random digits), and a sequence record of its
  // own, so that no call is skipped as a re-sent batch: the plain counter's
  // sequence key, the instance-aware one's lane (whose record is a field of
  // the instance's hash). Unlike the library's four lanes, each call thus
  // also creates a record.
  for (std::size_t i = 0; i < 100; ++i) {
    auto& key = args[fixed + i * per_key];
    key = key.substr(0, key.size() - 12) + "__rand_int__";
  }
  if (plain) {
    args[3 + std::stoul(args[2]) - 1] += ":__rand_int__:__rand_int__";
  } else {
    args[3 + std::stoul(args[2]) + 6] = "__rand_int__";
    // The counter has left, and Redis refuses its id now: the replay is
    // another instance (its id in its keys and arguments).
    const std::string id = args[3 + std::stoul(args[2]) + 1];
    for (auto& arg : args)
      if (const auto at = arg.find(id); at != std::string::npos) arg.replace(at, id.size(), "bench-ceiling");
  }
  return args;
}

// `count` batches of 100 changes of keys drawn at random from `range`, named as
// redis-benchmark -r names its __rand_int__ (12 digits).
struct RandomBatches {
  std::vector<std::string> names;
  std::vector<std::vector<Change>> batches;
  RandomBatches(long range, std::size_t count) {
    std::mt19937 rng(7);
    std::uniform_int_distribution<long> pick(0, range - 1);
    names.reserve(count * 100);
    for (std::size_t i = 0; i < count * 100; ++i) names.push_back(fmt::format("ball{:012d}", pick(rng)));
    batches.resize(count);
    for (std::size_t i = 0; i < names.size(); ++i) batches[i / 100].push_back({names[i], 1});
  }
};

template <class Strict>
ThroughputResult strict_inc_throughput(const Setup& setup) {
  Session s(setup.port);
  auto c = create<Strict>(s);
  s.run(c->inc("hot", 1));
  ServerWatch watch(setup.port);
  const double cpu0 = process_cpu_us();
  const auto t0 = Clock::now();
  const auto end = t0 + (setup.quick ? 500ms : 2s);
  std::uint64_t ops = 0;
  s.run_all(64, [&](int) -> asio::awaitable<void> {
    while (Clock::now() < end) {
      co_await c->inc("hot", 1);
      ++ops;
    }
  });
  const double rate = static_cast<double>(ops) / seconds_since(t0);
  return {rate, (process_cpu_us() - cpu0) / static_cast<double>(ops), watch.stop()};
}

template <class Strict>
double strict_inc_p50_us(const Setup& setup, std::size_t ops) {
  Session s(setup.port);
  auto c = create<Strict>(s);
  s.run(c->inc("hot", 1));
  std::vector<double> latencies(ops);
  s.run([&]() -> asio::awaitable<void> {
    for (auto& latency : latencies) {
      const auto t0 = Clock::now();
      co_await c->inc("hot", 1);
      latency = seconds_since(t0) * 1e6;
    }
  }());
  std::nth_element(latencies.begin(), latencies.begin() + latencies.size() / 2, latencies.end());
  return latencies[latencies.size() / 2];
}

constexpr std::size_t warm_keys_per_thread = 16;

std::uint64_t hot_path_ops(const Setup& s) { return s.quick ? 2'000'000 : 20'000'000; }

template <class Lax>
double lax_warm_inc_ops(const Setup& setup, int threads, Via via) {
  Session s(setup.port);
  // A long allowed_lag: the figure is the cost of an inc on a cached key.
  auto c = create<Lax>(s, 10s);
  std::vector<std::vector<std::string>> keys;
  for (int t = 0; t < threads; ++t) keys.push_back(make_keys(fmt::format("w{}-", t).c_str(), warm_keys_per_thread));
  // Each thread touches its keys first, as an application's thread would:
  // their map nodes then come from its own malloc arena, as the bare map's
  // do. Nodes of two threads' keys allocated side by side share cache lines,
  // and every add moves them (1.55 against 1.9 in one measurement).
  // Meanwhile the calling thread serves the connection.
  const std::uint64_t ops = hot_path_ops(setup);
  std::latch warmed(threads), start(threads + 1);
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t)
    workers.emplace_back([&, t] {
      asio::io_context local;
      asio::co_spawn(local, [&]() -> asio::awaitable<void> {
        const auto& mine = keys[static_cast<std::size_t>(t)];
        for (const auto& key : mine) co_await c->get(key);
        warmed.count_down();
        start.arrive_and_wait();  // blocks this thread's own io_context only
        for (std::uint64_t i = 0; i < ops; ++i) {
          if (via == Via::add)
            c->add(mine[i % warm_keys_per_thread], 1);
          else
            co_await c->inc(mine[i % warm_keys_per_thread], 1);
        }
      }, asio::detached);
      local.run();
    });
  {
    auto serving = asio::make_work_guard(s.io);
    s.io.restart();
    std::jthread io([&] { s.io.run(); });
    warmed.wait();
    s.io.stop();
  }
  start.arrive_and_wait();
  const auto t0 = Clock::now();
  for (auto& w : workers) w.join();
  const double rate = static_cast<double>(ops) * threads / seconds_since(t0);
  s.run(c->shutdown());
  return rate;
}

template <class Lax>
LoadResult lax_under_load(const Setup& setup) {
  Session s(setup.port);
  Admin admin(setup.port);
  auto c = create<Lax>(s);
  const auto keys = make_keys("h", 10'000);
  warm(s, *c, keys);
  s.run(c->flush());
  const auto before = c->stats();
  admin.command({"CONFIG", "RESETSTAT"});

  const auto duration = setup.quick ? 2s : 10s;
  const auto t0 = Clock::now();
  std::uint64_t incs = 0, half = 0;
  LoadResult r;
  s.run_all(2, [&](int role) -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    if (role == 1) {  // notes how much was flushed by half time
      asio::steady_timer timer(ex, t0 + duration / 2);
      co_await timer.async_wait(asio::use_awaitable);
      half = c->stats().keys_flushed;
      co_return;
    }
    std::minstd_rand rng(42);
    while (Clock::now() < t0 + duration) {
      for (int i = 0; i < 256; ++i) co_await c->inc(keys[rng() % keys.size()], 1);
      incs += 256;
      co_await asio::post(ex, asio::use_awaitable);  // lets replies and the flush loop run
    }
  });
  const double elapsed = seconds_since(t0);
  const auto after = c->stats();
  const auto calls = admin.calls("evalsha");
  const auto flushed = after.keys_flushed - before.keys_flushed;
  const double half_s = std::chrono::duration<double>(duration).count() / 2;
  auto round_ms = [&](std::uint64_t keys_flushed) {
    return 1e3 * static_cast<double>(keys.size()) * half_s / static_cast<double>(std::max<std::uint64_t>(keys_flushed, 1));
  };
  r.round_ms_first = round_ms(half - before.keys_flushed);
  r.round_ms_second = round_ms(after.keys_flushed - half);
  r.script_calls_per_key_delta = static_cast<double>(calls) / static_cast<double>(std::max<std::uint64_t>(flushed, 1));
  r.key_deltas_per_s = static_cast<double>(flushed) / elapsed;
  r.incs_per_s = static_cast<double>(incs) / elapsed;
  const auto f0 = Clock::now();
  s.run(c->flush());
  r.final_flush_ms = seconds_since(f0) * 1e3;
  s.run(c->shutdown());
  return r;
}

template <class Lax>
FlushResult lax_flush_capacity(const Setup& setup) {
  Session s(setup.port);
  auto c = create<Lax>(s, 10s);  // no background flush in the way
  const auto keys = make_keys("c", flush_capacity_keys(setup));
  warm(s, *c, keys);
  // A first flush creates the keys' fields in Redis, untimed: the timed one
  // updates them, as a counter's flushes mostly do, and as the ceiling's
  // calls on their random keys do after their first fraction of a second.
  // (Timing the first measured hash inserts and growth against updates.)
  auto inc_all = [&]() -> asio::awaitable<void> {
    for (const auto& k : keys) co_await c->inc(k, 1);
  };
  s.run(inc_all());
  s.run(c->flush());
  s.run(inc_all());
  ServerWatch watch(setup.port);
  const double cpu0 = process_cpu_us();
  const auto t0 = Clock::now();
  s.run(c->flush());
  const double rate = static_cast<double>(keys.size()) / seconds_since(t0);
  const double cpu_us = process_cpu_us() - cpu0;
  const ServerLoad server = watch.stop();
  s.run(c->shutdown());
  return {rate, cpu_us / static_cast<double>(keys.size()), server};
}

double resident_bytes() {
  std::ifstream statm("/proc/self/statm");
  double pages = 0, resident = 0;
  statm >> pages >> resident;
  return resident * static_cast<double>(sysconf(_SC_PAGESIZE));
}

template <class Lax>
double lax_bytes_per_key(const Setup& setup) {
  Session s(setup.port);
  auto c = create<Lax>(s, 10s);
  const auto keys = make_keys("m", setup.quick ? 100'000 : 1'000'000);
  s.run(c->get("warm-up"));
  malloc_trim(0);  // what earlier figures freed must not be reused unseen
  const double before = resident_bytes();
  warm(s, *c, keys);
  const double after = resident_bytes();
  s.run(c->shutdown());
  return (after - before) / static_cast<double>(keys.size());
}

std::string config_value(Admin& admin, const std::string& name) {
  const std::string reply = admin.command({"CONFIG", "GET", name});  // "name value", as Admin prints an array
  return reply.substr(reply.find_last_of(" \n") + 1);
}

double percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0;
  const auto at = values.begin() + static_cast<std::ptrdiff_t>(p * static_cast<double>(values.size() - 1));
  std::nth_element(values.begin(), at, values.end());
  return *at;
}

}  // namespace

MassDeathResult mass_death(const Setup& setup) {
  MassDeathResult r;
  r.instances = setup.quick ? 30 : 300;
  r.keys = 1000;
  constexpr auto threshold = 2s;
  Session s(setup.port);
  Admin admin(setup.port);
  const RedisKey prefix(fresh_prefix());
  auto survivor = StrictInstanceAwareCounter::create({.prefix = prefix, .connection = s.conn});
  s.run(survivor->inc("survivor", 1));
  Clock::time_point dead_at;
  {
    std::vector<std::shared_ptr<StrictInstanceAwareCounter>> fleet;
    for (int i = 0; i < r.instances; ++i)
      fleet.push_back(StrictInstanceAwareCounter::create(
          {.prefix = prefix, .connection = s.conn, .dead_instance_threshold = threshold}));
    s.run_all(r.instances, [&](int i) -> asio::awaitable<void> {
      for (int k = 0; k < r.keys; ++k) co_await fleet[static_cast<std::size_t>(i)]->inc(fmt::format("k{}", k), 1);
    });
    dead_at = Clock::now() + threshold;
  }  // gone without shutdown(): a crash, every deadline within the next `threshold`

  std::vector<double> before, during;
  auto timed_incs = [&](std::vector<double>& out, int n) -> asio::awaitable<void> {
    for (int i = 0; i < n; ++i) {
      const auto t0 = Clock::now();
      co_await survivor->inc("survivor", 1);
      out.push_back(seconds_since(t0) * 1e6);
    }
  };
  while (Clock::now() < dead_at - 500ms) s.run(timed_incs(before, 100));
  while (Clock::now() < dead_at + 100ms) std::this_thread::sleep_for(10ms);
  const std::string max_len = config_value(admin, "slowlog-max-len"),
                    slower_than = config_value(admin, "slowlog-log-slower-than");
  admin.command({"CONFIG", "SET", "slowlog-max-len", "100000"});
  admin.command({"CONFIG", "SET", "slowlog-log-slower-than", "1000"});  // what took 1 ms or more
  admin.command({"SLOWLOG", "RESET"});
  const auto t0 = Clock::now();
  const std::string jobs = fmt::format("{{{}}}:ia:v2:jobs", prefix.str());
  do s.run(timed_incs(during, 20));
  while (admin.command({"ZCARD", jobs}) != "0" && seconds_since(t0) < 120);
  r.drain_s = seconds_since(t0);
  r.longest_script_us = std::stod(admin.command(
      {"EVAL", "local m = 0 for _, e in ipairs(redis.call('SLOWLOG', 'GET', -1)) do m = math.max(m, e[3]) end return m",
       "0"}));
  admin.command({"CONFIG", "SET", "slowlog-max-len", max_len});
  admin.command({"CONFIG", "SET", "slowlog-log-slower-than", slower_than});
  r.p50_before_us = percentile(before, 0.5), r.p99_before_us = percentile(before, 0.99);
  r.p50_drain_us = percentile(during, 0.5), r.p99_drain_us = percentile(during, 0.99);
  s.run(survivor->shutdown());
  return r;
}

Args strict_inc_command(const Setup& s, Kind kind) {
  return kind == Kind::plain ? strict_inc_command<StrictCounter>(s) : strict_inc_command<StrictInstanceAwareCounter>(s);
}
std::size_t flush_capacity_keys(const Setup& s) { return s.quick ? 20'000 : 100'000; }

Args flush_command(const Setup& s, Kind kind) {
  return kind == Kind::plain ? flush_command<LaxCounter>(s) : flush_command<LaxInstanceAwareCounter>(s);
}
ThroughputResult strict_inc_throughput(const Setup& s, Kind kind) {
  return kind == Kind::plain ? strict_inc_throughput<StrictCounter>(s)
                             : strict_inc_throughput<StrictInstanceAwareCounter>(s);
}
double strict_inc_p50_us(const Setup& s, Kind kind, std::size_t ops) {
  return kind == Kind::plain ? strict_inc_p50_us<StrictCounter>(s, ops)
                             : strict_inc_p50_us<StrictInstanceAwareCounter>(s, ops);
}
double lax_warm_inc_ops(const Setup& s, Kind kind, int threads, Via via) {
  return kind == Kind::plain ? lax_warm_inc_ops<LaxCounter>(s, threads, via)
                             : lax_warm_inc_ops<LaxInstanceAwareCounter>(s, threads, via);
}
LoadResult lax_under_load(const Setup& s, Kind kind) {
  return kind == Kind::plain ? lax_under_load<LaxCounter>(s) : lax_under_load<LaxInstanceAwareCounter>(s);
}
Args inc_all_command(const Setup& setup) {
  Session s(setup.port);
  auto c = create<StrictCounter>(s);
  const RandomBatches random(static_cast<long>(inc_all_keys(setup)), 1);
  s.run(c->inc_all(random.batches[0]));  // loads the script, checks the family's shard count
  auto args = capture_evalsha(setup.port, [&] { s.run(c->inc_all(random.batches[0])); });
  constexpr std::size_t fixed = 3 + 1 + 2;  // EVALSHA sha 1 {p}:totals all inc, then key, n pairs
  if (args.size() != fixed + 200)
    throw std::runtime_error(fmt::format("expected one inc_all of 100 keys, captured {} arguments", args.size()));
  for (std::size_t i = 0; i < 100; ++i) {
    auto& key = args[fixed + 2 * i];
    key = key.substr(0, key.size() - 12) + "__rand_int__";
  }
  return args;
}

std::size_t inc_all_keys(const Setup& s) { return flush_capacity_keys(s); }

ThroughputResult strict_inc_all_throughput(const Setup& setup) {
  Session s(setup.port);
  auto c = create<StrictCounter>(s);
  const RandomBatches random(static_cast<long>(inc_all_keys(setup)), 1000);
  // Untimed, one pass: the keys' fields exist, as they soon do under the ceiling's calls.
  s.run_all(64, [&](int w) -> asio::awaitable<void> {
    for (std::size_t b = static_cast<std::size_t>(w); b < random.batches.size(); b += 64)
      co_await c->inc_all(random.batches[b]);
  });
  ServerWatch watch(setup.port);
  const double cpu0 = process_cpu_us();
  const auto t0 = Clock::now();
  const auto end = t0 + (setup.quick ? 500ms : 2s);
  std::uint64_t calls = 0;
  s.run_all(64, [&](int w) -> asio::awaitable<void> {
    for (std::size_t b = static_cast<std::size_t>(w); Clock::now() < end; b = (b + 64) % random.batches.size()) {
      co_await c->inc_all(random.batches[b]);
      ++calls;
    }
  });
  const double key_deltas = 100.0 * static_cast<double>(calls);
  const double rate = key_deltas / seconds_since(t0);
  const double cpu_us = process_cpu_us() - cpu0;
  return {rate, cpu_us / key_deltas, watch.stop()};
}

FlushResult lax_flush_capacity(const Setup& s, Kind kind) {
  return kind == Kind::plain ? lax_flush_capacity<LaxCounter>(s) : lax_flush_capacity<LaxInstanceAwareCounter>(s);
}
double lax_bytes_per_key(const Setup& s, Kind kind) {
  return kind == Kind::plain ? lax_bytes_per_key<LaxCounter>(s) : lax_bytes_per_key<LaxInstanceAwareCounter>(s);
}

// The baseline of the hot path: what an inc would cost with no coroutine, no
// overflow checks and no flushing, on the same keys. With several threads,
// each has a map of its own: nothing is shared, so this is how far the
// machine itself scales at the moment.
namespace {

struct BareMap {
  std::shared_mutex mutex;
  std::unordered_map<std::string, std::atomic<std::int64_t>> map;
  void bump(const std::string& key) {
    std::shared_lock lock(mutex);
    map.find(key)->second.fetch_add(1, std::memory_order_relaxed);
  }
};

// The awaitable floor: the bare map's work inside a trivial awaitable.
asio::awaitable<void> bumped(BareMap& m, const std::string& key) {
  m.bump(key);
  co_return;
}

}  // namespace

double bare_map_ops(const Setup& setup, int threads, Via via) {
  const std::uint64_t ops = hot_path_ops(setup);
  std::latch start(threads + 1);
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t)
    workers.emplace_back([&, t] {
      const auto keys = make_keys(fmt::format("w{}-", t).c_str(), warm_keys_per_thread);
      BareMap m;
      for (const auto& k : keys) m.map[k] = 0;
      start.arrive_and_wait();
      if (via == Via::add) {
        for (std::uint64_t i = 0; i < ops; ++i) m.bump(keys[i % warm_keys_per_thread]);
        return;
      }
      asio::io_context local;
      asio::co_spawn(local, [&]() -> asio::awaitable<void> {
        for (std::uint64_t i = 0; i < ops; ++i) co_await bumped(m, keys[i % warm_keys_per_thread]);
      }, asio::detached);
      local.run();
    });
  start.arrive_and_wait();
  const auto t0 = Clock::now();
  for (auto& w : workers) w.join();
  return static_cast<double>(ops) * threads / seconds_since(t0);
}

}  // namespace distkit::bench
