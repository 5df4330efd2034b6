#pragma once
// The library's side of each figure. Every function sets up what it needs
// (connection, counter, warm keys) against the server on `port` and returns
// one measurement; main.cpp repeats them and takes medians.

#include <cstdint>
#include <string>

#include "ceiling.hpp"

namespace distkit::bench {

enum class Kind { plain, instance_aware };  // StrictCounter/LaxCounter, or the instance-aware pair

struct Setup {
  std::uint16_t port = 0;
  bool quick = false;  // shorter runs, for a smoke test of the harness
};

// The commands the library sends, captured with MONITOR.
Args strict_inc_command(const Setup& s, Kind kind);
// One lax flush batch of 100 keys, as the ceiling of lax_flush_capacity():
// its keys and sequence key made __rand_int__ for redis-benchmark -r, over
// flush_capacity_keys() keys.
Args flush_command(const Setup& s, Kind kind);
std::size_t flush_capacity_keys(const Setup& s);

struct ThroughputResult {
  double ops_per_s = 0;
  double client_cpu_us_per_op = 0;  // this process' CPU time, per op
  ServerLoad server;
};
ThroughputResult strict_inc_throughput(const Setup& s, Kind kind);  // 64 coroutines, one connection
// A StrictCounter's inc_all of 100 keys drawn at random of inc_all_keys()
// (ops_per_s: key-deltas/s, by 64 coroutines), and its ceiling's command:
// the captured EVALSHA with its keys made __rand_int__.
ThroughputResult strict_inc_all_throughput(const Setup& s);
Args inc_all_command(const Setup& s);
std::size_t inc_all_keys(const Setup& s);
double strict_inc_p50_us(const Setup& s, Kind kind, std::size_t ops);  // one coroutine, `ops` sequential ops

// shared_mutex + unordered_map + fetch_add, each thread on a map of its own.
// How an op is made: a plain call (add(), the bare map's bump) or co_await
// of an awaitable (inc, the bare map's bump inside a trivial awaitable).
enum class Via { add, awaited };
double bare_map_ops(const Setup& s, int threads, Via via = Via::add);
double lax_warm_inc_ops(const Setup& s, Kind kind, int threads, Via via = Via::awaited);  // warm keys, ops/s in all

struct LoadResult {
  double script_calls_per_key_delta = 0;
  double key_deltas_per_s = 0;
  double incs_per_s = 0;
  // How long a flush round over the 10,000 keys takes (keys / key-deltas
  // flushed per second), in the first and in the second half of the run.
  double round_ms_first = 0, round_ms_second = 0;
  double final_flush_ms = 0;
};
LoadResult lax_under_load(const Setup& s, Kind kind);  // 10,000 hot keys for 10 s

struct FlushResult {
  double key_deltas_per_s = 0;    // of flush() over many keys
  double client_cpu_us_per_key = 0;  // this process' CPU time in it, per key-delta
  ServerLoad server;
};
FlushResult lax_flush_capacity(const Setup& s, Kind kind);
double lax_bytes_per_key(const Setup& s, Kind kind);   // RSS growth / keys, 1,000,000 16-byte keys

// 300 strict instance-aware instances with 1,000 keys each die at once; a
// survivor of their family runs incs back to back, before and while
// their slices are parked.
struct MassDeathResult {
  int instances = 0, keys = 0;
  double p50_before_us = 0, p99_before_us = 0;  // the survivor's inc, the fleet alive
  double p50_drain_us = 0, p99_drain_us = 0;    // the same, until every dead slice is parked
  double longest_script_us = 0;                 // SLOWLOG, during the drain
  double drain_s = 0;                           // from the deadlines' passing to the last job done
};
MassDeathResult mass_death(const Setup& s);

}  // namespace distkit::bench
