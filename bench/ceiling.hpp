#pragma once
// The physical limit a figure is compared with: what redis-benchmark gets out
// of the same server with the very command the library sends.

#include <hiredis/hiredis.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace distkit::bench {

using Args = std::vector<std::string>;

// A synchronous admin connection (hiredis, blocking) for setup and INFO.
class Admin {
 public:
  explicit Admin(std::uint16_t port);
  // Runs a command; returns the reply as text (integers in decimal).
  std::string command(const Args& args);
  // The `calls=` of one command in INFO commandstats, e.g. "evalsha".
  std::uint64_t calls(const std::string& command);

 private:
  std::unique_ptr<redisContext, void (*)(redisContext*)> ctx_;
};

// Runs `op` while a MONITOR connection watches, and returns the first EVALSHA
// it saw, as its arguments: the exact command the library sends.
Args capture_evalsha(std::uint16_t port, const std::function<void()>& op);

// What Redis itself spent while a measurement ran: CPU per EVALSHA, and the
// share of the wall time it was busy. A client can only beat
// redis-benchmark's batches of 64 by keeping Redis busier; with smaller
// batches, Redis pays for its reads and writes more often, which shows here
// as more CPU per call.
struct ServerLoad {
  double cpu_us_per_call = 0, busy = 0;
  double calls = 0;  // EVALSHA calls meanwhile
};

// Watches the server from construction to stop(). Resets INFO commandstats.
class ServerWatch {
 public:
  explicit ServerWatch(std::uint16_t port);
  ServerLoad stop();

 private:
  double server_cpu_us();
  Admin admin_;
  double cpu0_;
  std::chrono::steady_clock::time_point t0_;
};

struct BenchmarkResult {
  double rps = 0;
  double p50_us = 0;
  double cpu_us_per_request = 0;  // redis-benchmark's own CPU time (user + system)
  ServerLoad server;
};

// redis-benchmark -c 1 -P <pipeline> of `command` for about `seconds`.
// `random_range` > 0 passes -r, so "__rand_int__" in an argument varies.
BenchmarkResult redis_benchmark(std::uint16_t port, int pipeline, const Args& command, double seconds,
                                long random_range = 0);

}  // namespace distkit::bench
