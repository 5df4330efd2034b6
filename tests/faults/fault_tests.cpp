// The fault-injection suite (issue #5): each scenario runs the workload of
// workload.hpp through all four counter kinds at once on a redis-server of
// its own, injects one fault from a thread of its own, waits for the
// counters to answer again, and checks Redis' totals exactly.
#include <iostream>
#include <random>
#include <thread>

#include "log_watch.hpp"
#include "workload.hpp"

using namespace distkit;
using namespace distkit::test;

namespace {

using Clock = std::chrono::steady_clock;

// The server keeps every write it acknowledged across a kill -9.
const std::vector<std::string> persistent{"--appendonly", "yes", "--appendfsync", "always"};

// A redis-server of the scenario's own (the one it kills or stops), an
// io_context, and a warmed-up workload on them.
struct Rig {
  RedisServer redis;
  asio::io_context io;
  std::unique_ptr<Workload> workload;

  explicit Rig(WorkloadOptions options, std::vector<std::string> server_args = {}) : redis(std::move(server_args)) {
    options.connection.port = redis.port();
    run(io, [&]() -> asio::awaitable<void> {
      workload = co_await Workload::create(std::move(options));
      co_await workload->warm_up();
    }());
  }
  // Lets the connections' background work see them closed, as Env does.
  ~Rig() {
    workload.reset();
    io.restart();
    io.run_for(5s);
  }

  // Runs the workload through `fault` on `threads` threads, waits until the
  // counters answer again, flushes, checks Redis' totals, shuts down.
  void survive(std::function<void()> fault, std::string_view scenario, int threads = 1) {
    const auto started = Clock::now();
    const bool recovered = run(io, workload->run_through(std::move(fault)), 180s, threads);
    REQUIRE(recovered);
    const bool settled = run(io, workload->settle(), 60s, threads);
    REQUIRE(settled);
    workload->check(redis, scenario);
    run(io, workload->close(), 60s, threads);
    std::cerr << "[" << scenario << "] took "
              << std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started).count() << " ms\n";
  }
};

// Sleeps that pace the fault injection; never used to wait for an outcome.
void pace(std::chrono::milliseconds d) { std::this_thread::sleep_for(d); }

// CLIENT KILL TYPE normal every 50-200 ms for `duration`; returns how many.
int kill_connections_for(const RedisServer& redis, std::chrono::milliseconds duration) {
  std::minstd_rand rng(std::random_device{}());
  int kills = 0;
  for (const auto end = Clock::now() + duration; Clock::now() < end; ++kills) {
    pace(std::chrono::milliseconds(50 + rng() % 151));
    redis.kill_clients();
  }
  return kills;
}

// How often the server was sent a script's body (EVAL): once per NOSCRIPT.
std::int64_t script_loads(const RedisServer& redis) {
  const std::string stats = redis.command({"INFO", "commandstats"}), name = "cmdstat_eval:calls=";
  const auto at = stats.find(name);
  return at == std::string::npos ? 0 : std::stoll(stats.substr(at + name.size()));
}

}  // namespace

TEST_CASE("faults: a server killed with -9 and restarted loses no lax increment and counts each strict op at most once") {
  Rig rig({}, persistent);
  rig.survive(
      [&] {
        pace(1s);
        rig.redis.kill_hard();
        pace(1500ms);
        rig.redis.start();
      },
      "killed and restarted");
  CHECK(script_loads(rig.redis) > 0);  // the restarted server's script cache was empty
}

TEST_CASE("faults: connections killed every 50-200 ms for 10 s lose no lax increment and count each strict op at most once") {
  Rig rig({.keys = 200});  // heavy flushing: two batches per lax counter and round
  int kills = 0;
  rig.survive([&] { kills = kill_connections_for(rig.redis, 10s); }, "connections killed");
  CHECK(kills > 0);
}

TEST_CASE("faults: a script cache flushed every 100 ms is reloaded transparently; no op fails") {
  Rig rig({});
  std::int64_t loads_before = 0, loads_after = 0;
  rig.survive(
      [&] {
        loads_before = script_loads(rig.redis);
        for (int i = 0; i < 30; ++i) {
          pace(100ms);
          rig.redis.command({"SCRIPT", "FLUSH"});
        }
        loads_after = script_loads(rig.redis);
      },
      "script cache flushed");
  CHECK(loads_after > loads_before);
  for (const auto& t : rig.workload->tallies()) {
    INFO(t->kind);
    CHECK(t->unknown_ops == 0);
    CHECK(t->failed_reads == 0);
  }
}

TEST_CASE("faults: a stalled server fails strict ops with timeout without hanging; lax ops answer meanwhile; all is flushed after") {
  constexpr auto command_timeout = 1000ms, pause = 3000ms;
  WorkloadOptions options;
  options.connection.command_timeout = command_timeout;
  Rig rig(options);
  std::int64_t lax_ops_while_paused = 0;
  rig.survive(
      [&] {
        pace(1s);
        rig.redis.command({"CLIENT", "PAUSE", std::to_string(pause.count()), "ALL"});
        const auto before = rig.workload->lax_ops();
        pace(pause - 500ms);
        lax_ops_while_paused = rig.workload->lax_ops() - before;
      },
      "server stalled");
  CHECK(lax_ops_while_paused > 0);
  for (const auto& t : rig.workload->tallies()) {
    const auto slowest = t->strict ? t->slowest_timeout_ms.load() : t->slowest_lax_op_ms.load();
    std::cerr << "[server stalled] " << t->kind << (t->strict ? ": slowest op to time out: " : ": slowest op: ")
              << slowest << " ms\n";
    INFO(t->kind);
    CHECK(slowest <= (command_timeout + 2s).count());  // generous: nothing hangs
    if (t->strict) CHECK(t->timeouts > 0);
  }
}

TEST_CASE("faults: instances reaped after the server was gone past the dead threshold restore their slices exactly") {
  LogWatch restored("had been reaped as dead; Redis puts its parked slices back");
  Rig rig({.dead_instance_threshold = 1000ms}, persistent);
  std::int64_t lax_ops_while_gone = 0;
  rig.survive(
      [&] {
        pace(1s);
        rig.redis.stop();
        const auto before = rig.workload->lax_ops();
        pace(2500ms);  // heartbeats fail meanwhile: every instance looks dead when it returns
        lax_ops_while_gone = rig.workload->lax_ops() - before;
        rig.redis.start();
      },
      "gone past the dead threshold");
  CHECK(lax_ops_while_gone > 0);
  // The first op of each family reaps the other instances of it, whose next
  // calls find them parked and put their slices back.
  CHECK(restored.seen() >= 2);
}

TEST_CASE("faults: 1000 coroutines on 4 threads, all four counters, mixed ops, connections killed: exact totals") {
  Rig rig({.coroutines = 1000, .keys = 100, .mixed_ops = true});
  int kills = 0;
  rig.survive([&] { kills = kill_connections_for(rig.redis, 4s); }, "many threads", 4);
  CHECK(kills > 0);
}
