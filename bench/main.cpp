// distkit_bench: each figure of the library next to the physical limit it is
// compared with, as a table on stdout and as JSON. Run it with bench/run.sh,
// which builds it in Release and starts a throwaway redis-server.
//
//   distkit_bench --port P [--cluster P1,P2,P3] [--repeat N] [--quick] [--json FILE] [--only TEXT]
//
// --only runs the figures whose "<counter> <group>" contains TEXT; groups:
// throughput, latency, batch (StrictCounter), hot-path, load, flush, memory; "Cluster" for those of
// the cluster whose masters --cluster names; "RateLimiter" for the rate limiter's.

#include <sys/utsname.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <functional>
#include <iostream>
#include <string>
#include <tuple>
#include <thread>
#include <vector>

#include <fmt/chrono.h>
#include <fmt/format.h>

#include "cluster_figures.hpp"
#include "distkit/logging.hpp"
#include "figures.hpp"
#include "rate_limit_figures.hpp"
#include "scripts.hpp"

namespace distkit::bench {
namespace {

struct Row {
  std::string figure, unit;
  double value = 0;
  std::string ceiling_name;
  double ceiling = 0;
  double ratio = 0;
  std::string target;
  bool met = false;
};

struct Options {
  Setup setup;
  ClusterSetup cluster;  // without masters, no cluster figures
  int repeat = 5;
  std::string json = "bench/results.json";
  std::string only;
};

double median_value(std::vector<double> values) {
  const auto mid = values.begin() + static_cast<std::ptrdiff_t>(values.size() / 2);
  std::nth_element(values.begin(), mid, values.end());
  return *mid;
}

double median_of(int n, const std::function<double()>& measure) {
  std::vector<double> values;
  for (int i = 0; i < n; ++i) values.push_back(measure());
  return median_value(std::move(values));
}

std::string machine() {
  utsname u{};
  uname(&u);
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line, model = "unknown CPU";
  while (std::getline(cpuinfo, line))
    if (line.rfind("model name", 0) == 0) {
      model = line.substr(line.find(':') + 2);
      break;
    }
  return fmt::format("{}, {} cores, {} {}", model, std::thread::hardware_concurrency(), u.sysname, u.release);
}

std::string json_escape(const std::string& s) {
  std::string out;
  for (char c : s) out += (c == '"' || c == '\\') ? std::string("\\") + c : std::string(1, c);
  return out;
}

class Report {
 public:
  explicit Report(Options o) : o_(std::move(o)) {}

  bool wanted(const std::string& figure) const { return o_.only.empty() || figure.find(o_.only) != std::string::npos; }

  void add(Row row) {
    std::cerr << fmt::format("  {:<58} {:>14.6g} {}\n", row.figure, row.value, row.unit);
    rows_.push_back(std::move(row));
  }

  void print() const {
    fmt::print("\n| figure | value | compared with | ceiling | ratio | target | met |\n|---|---|---|---|---|---|---|\n");
    for (const auto& r : rows_)
      fmt::print("| {} | {} {} | {} | {} | {} | {} | {} |\n", r.figure, pretty(r.value), r.unit, r.ceiling_name,
                 r.ceiling_name.empty() ? "" : pretty(r.ceiling), r.ceiling_name.empty() ? "" : fmt::format("{:.2f}", r.ratio),
                 r.target, r.met ? "yes" : "**no**");
  }

  void write_json(const std::string& when) const {
    std::ofstream out(o_.json);
    out << fmt::format("{{\n  \"date\": \"{}\",\n  \"machine\": \"{}\",\n  \"repeat\": {},\n  \"figures\": [\n", when,
                       json_escape(machine()), o_.repeat);
    for (std::size_t i = 0; i < rows_.size(); ++i) {
      const auto& r = rows_[i];
      out << fmt::format(
          "    {{\"figure\": \"{}\", \"value\": {:.6g}, \"unit\": \"{}\", \"compared_with\": \"{}\", \"ceiling\": {:.6g}, "
          "\"ratio\": {:.4f}, \"target\": \"{}\", \"met\": {}}}{}\n",
          json_escape(r.figure), r.value, r.unit, json_escape(r.ceiling_name), r.ceiling, r.ratio, json_escape(r.target),
          r.met, i + 1 < rows_.size() ? "," : "");
    }
    out << "  ]\n}\n";
  }

 private:
  static std::string pretty(double v) {
    if (v >= 1000) return fmt::format("{:.0f}", v);
    if (v >= 10) return fmt::format("{:.1f}", v);
    return fmt::format("{:.3g}", v);
  }
  Options o_;
  std::vector<Row> rows_;
};

const char* name_of(Kind kind, bool lax) {
  if (kind == Kind::plain) return lax ? "LaxCounter" : "StrictCounter";
  return lax ? "LaxInstanceAwareCounter" : "StrictInstanceAwareCounter";
}

// Each group of figures of one counter. `name` is the counter's.
struct Group {
  const Options& o;
  Report& report;
  Kind kind;
  std::string name;
  const Setup& s() const { return o.setup; }
  double secs() const { return o.setup.quick ? 0.5 : 2.0; }
  double median(const std::function<double()>& measure) const { return median_of(o.repeat, measure); }

  // Measures the reference and the figure alternately, `repeat` times each,
  // and returns their medians and the median of the per-pair ratios
  // figure / reference: each ratio compares two runs seconds apart, so that
  // a stretch of host noise does not fall on one side of it only.
  struct Paired {
    double value, reference, ratio;
  };
  Paired paired(const std::function<double()>& reference, const std::function<double()>& value, int pairs = 0) const {
    std::vector<double> values, references, ratios;
    for (int i = 0; i < (pairs > 0 ? pairs : o.repeat); ++i) {
      references.push_back(reference());
      values.push_back(value());
      ratios.push_back(values.back() / references.back());
    }
    return {median_value(std::move(values)), median_value(std::move(references)), median_value(std::move(ratios))};
  }
};

// Means of the server's load over repeated measurements.
struct MeanLoad {
  ServerLoad sum;
  int n = 0;
  void add(const ServerLoad& l) { sum.cpu_us_per_call += l.cpu_us_per_call, sum.busy += l.busy, ++n; }
  ServerLoad mean() const { return {sum.cpu_us_per_call / n, sum.busy / n}; }
};

void report_server_load(const Group& g, const std::string& what, const MeanLoad& by_library, const MeanLoad& by_benchmark) {
  const ServerLoad library = by_library.mean(), benchmark = by_benchmark.mean();
  g.report.add({fmt::format("{} {}: Redis CPU per call (mean)", g.name, what), "us", library.cpu_us_per_call,
                "under redis-benchmark", benchmark.cpu_us_per_call, library.cpu_us_per_call / benchmark.cpu_us_per_call,
                "(info)", true});
  g.report.add({fmt::format("{} {}: Redis busy (mean)", g.name, what), "", library.busy, "under redis-benchmark",
                benchmark.busy, library.busy / benchmark.busy, "(info)", true});
}

// A strict counter's inc: pipelined throughput, sequential latency.
// Also the client's CPU time per op next to redis-benchmark's: with one batch
// of 64 in flight, the time the client takes to turn a batch of replies into
// the next batch of commands is time Redis waits.
void strict_throughput(const Group& g, const Args& command) {
  double benchmark_cpu = 0, client_cpu = 0;
  MeanLoad by_benchmark, by_library;
  const auto r = g.paired(
      [&] {
        const auto b = redis_benchmark(g.s().port, 64, command, g.secs());
        benchmark_cpu += b.cpu_us_per_request / g.o.repeat;
        by_benchmark.add(b.server);
        return b.rps;
      },
      [&] {
        const auto t = strict_inc_throughput(g.s(), g.kind);
        client_cpu += t.client_cpu_us_per_op / g.o.repeat;
        by_library.add(t.server);
        return t.ops_per_s;
      });
  g.report.add({g.name + " inc, 64 coroutines, one connection", "ops/s", r.value,
                "redis-benchmark -c 1 -P 64, same EVALSHA", r.reference, r.ratio, ">= 0.90", r.ratio >= 0.90});
  g.report.add({g.name + " inc, 64 coroutines: client CPU per op (mean)", "us", client_cpu,
                "redis-benchmark's own", benchmark_cpu, client_cpu / benchmark_cpu, "(info)", true});
  report_server_load(g, "inc, 64 coroutines", by_library, by_benchmark);
}

// Three times as many pairs, each a third as long: latency moves most with
// this host's noise (redis-benchmark's own p50 between 23 and 135 us), and
// the two halves of a shorter pair more often see the same.
void strict_latency(const Group& g, const Args& command) {
  const std::size_t ops = g.s().quick ? 700 : 7000;
  const auto r = g.paired([&] { return redis_benchmark(g.s().port, 1, command, g.secs() / 3).p50_us; },
                          [&] { return strict_inc_p50_us(g.s(), g.kind, ops); }, 3 * g.o.repeat);
  g.report.add({g.name + " inc p50, one coroutine, sequential", "us", r.value, "redis-benchmark -c 1 -P 1 p50",
                r.reference, r.ratio, "<= 1.2", r.ratio <= 1.2});
}

// A lax counter's inc on warm keys: against a bare map, and on 2 threads.
void lax_hot_path(const Group& g) {
  // Costs per op: the ratio is lax / bare.
  const auto cost = g.paired([&] { return 1e9 / bare_map_ops(g.s(), 1); },
                             [&] { return 1e9 / lax_warm_inc_ops(g.s(), g.kind, 1); });
  g.report.add({g.name + " warm inc, co_await in a loop, 1 thread", "ns/op", cost.value,
                "shared_mutex + unordered_map + fetch_add", cost.reference, cost.ratio, "<= 3", cost.ratio <= 3});
  // Issue #15: add() against the bare map, inc against the same work in a trivial awaitable.
  const auto add = g.paired([&] { return 1e9 / bare_map_ops(g.s(), 1); },
                            [&] { return 1e9 / lax_warm_inc_ops(g.s(), g.kind, 1, Via::add); });
  g.report.add({g.name + " warm add(), 1 thread", "ns/op", add.value, "shared_mutex + unordered_map + fetch_add",
                add.reference, add.ratio, "<= 1.5", add.ratio <= 1.5});
  const auto awaited = g.paired([&] { return 1e9 / bare_map_ops(g.s(), 1, Via::awaited); },
                                [&] { return 1e9 / lax_warm_inc_ops(g.s(), g.kind, 1); });
  g.report.add({g.name + " warm inc, co_await in a loop, 1 thread, against the awaitable floor", "ns/op",
                awaited.value, "the bare map's work in a trivial co_awaited awaitable", awaited.reference,
                awaited.ratio, "<= 1.3", awaited.ratio <= 1.3});
  const auto two = g.paired([&] { return lax_warm_inc_ops(g.s(), g.kind, 1); },
                            [&] { return lax_warm_inc_ops(g.s(), g.kind, 2); });
  g.report.add({g.name + " warm inc, 2 threads, different keys", "ops/s", two.value, "the same, 1 thread",
                two.reference, two.ratio, ">= 1.6", two.ratio >= 1.6});
  const auto bare_two = g.paired([&] { return bare_map_ops(g.s(), 1); }, [&] { return bare_map_ops(g.s(), 2); });
  g.report.add({"(machine) bare map, 2 threads, a map each", "ops/s", bare_two.value, "the same, 1 thread",
                bare_two.reference, bare_two.ratio, "(info)", true});
}

// 10,000 hot keys for 10 s: batching, and whether flushing keeps up.
void lax_load(const Group& g) {
  std::vector<LoadResult> loads;
  const double calls = g.median([&] {
    loads.push_back(lax_under_load(g.s(), g.kind));
    return loads.back().script_calls_per_key_delta;
  });
  g.report.add({g.name + " 10,000 hot keys: script calls per key-delta", "calls", calls, "INFO commandstats", 0, 0,
                "<= 0.011", calls <= 0.011});
  std::sort(loads.begin(), loads.end(), [](const auto& a, const auto& b) {
    return a.script_calls_per_key_delta < b.script_calls_per_key_delta;
  });
  const auto& load = loads[loads.size() / 2];
  // Every key stays hot, so each round finds all 10,000 pending: flushing
  // keeps up when a round takes no longer in the second half than in the
  // first, and the last flush() after the load is one round.
  const double growth = load.round_ms_second / load.round_ms_first;
  g.report.add({g.name + " 10,000 hot keys: flush round, 2nd half of the run", "ms", load.round_ms_second,
                "the same, 1st half", load.round_ms_first, growth, "no growth (<= 1.5)", growth <= 1.5});
  g.report.add({g.name + " 10,000 hot keys: flush() after the load", "ms", load.final_flush_ms, "", 0, 0, "(info)",
                true});
  g.report.add({g.name + " 10,000 hot keys: key-deltas flushed", "/s", load.key_deltas_per_s, "increments",
                load.incs_per_s, load.key_deltas_per_s / load.incs_per_s, "(info)", true});
}

// Key-deltas per second of library() (its rate, client CPU per key-delta and
// server load), against redis-benchmark -P 64 of `command`, a call of 100
// key-deltas on keys at random of `keys`.
struct Capacity {
  Group::Paired rate;
  double client_cpu_us = 0;  // per key-delta, mean
  MeanLoad by_library, by_benchmark;
};
template <class Library>
Capacity key_delta_capacity(const Group& g, const Args& command, long keys, Library library) {
  Capacity c;
  c.rate = g.paired(
      [&] {
        const auto b = redis_benchmark(g.s().port, 64, command, g.secs(), keys);
        c.by_benchmark.add(b.server);
        return 100 * b.rps;
      },
      [&] {
        const auto [rate, cpu, server] = library();
        c.client_cpu_us += cpu / g.o.repeat;
        c.by_library.add(server);
        return rate;
      });
  return c;
}

// Key-deltas per second flush() applies, against redis-benchmark of the
// same 100-key flush call.
void lax_flush(const Group& g) {
  const auto keys = static_cast<long>(flush_capacity_keys(g.s()));
  const auto c = key_delta_capacity(g, flush_command(g.s(), g.kind), keys, [&] {
    const auto f = lax_flush_capacity(g.s(), g.kind);
    return std::tuple(f.key_deltas_per_s, f.client_cpu_us_per_key, f.server);
  });
  g.report.add({g.name + " flush capacity", "key-deltas/s", c.rate.value,
                fmt::format("redis-benchmark -P 64 of a 100-key flush x 100, keys at random of {}", keys),
                c.rate.reference, c.rate.ratio, ">= 0.8 and >= 100000", c.rate.ratio >= 0.8 && c.rate.value >= 100'000});
  g.report.add({g.name + " flush: client CPU per key-delta (mean)", "us", c.client_cpu_us, "", 0, 0, "(info)", true});
  report_server_load(g, "flush", c.by_library, c.by_benchmark);
}

void lax_memory(const Group& g) {
  const double bytes = lax_bytes_per_key(g.s(), g.kind);  // deterministic enough to measure once
  g.report.add({g.name + " memory per tracked key (16-byte keys)", "B", bytes, "", 0, 0, "<= 160", bytes <= 160});
}

// A StrictCounter's inc_all of 100 random keys, against redis-benchmark of
// the same call (issue #15).
void strict_batch(const Group& g) {
  const auto keys = static_cast<long>(inc_all_keys(g.s()));
  const auto c = key_delta_capacity(g, inc_all_command(g.s()), keys, [&] {
    const auto t = strict_inc_all_throughput(g.s());
    return std::tuple(t.ops_per_s, t.client_cpu_us_per_op, t.server);
  });
  g.report.add({g.name + " inc_all of 100 keys, 64 coroutines", "key-deltas/s", c.rate.value,
                fmt::format("redis-benchmark -c 1 -P 64 of the same EVALSHA, keys at random of {}", keys),
                c.rate.reference, c.rate.ratio, ">= 0.8", c.rate.ratio >= 0.8});
  g.report.add({g.name + " inc_all: client CPU per key-delta (mean)", "us", c.client_cpu_us, "", 0, 0, "(info)", true});
  report_server_load(g, "inc_all", c.by_library, c.by_benchmark);
}

void strict_figures(const Options& o, Report& report, Kind kind) {
  const Group g{o, report, kind, name_of(kind, false)};
  if (kind == Kind::plain && report.wanted(g.name + " batch")) strict_batch(g);
  const bool throughput = report.wanted(g.name + " throughput"), latency = report.wanted(g.name + " latency");
  if (!throughput && !latency) return;
  const Args command = strict_inc_command(o.setup, kind);
  if (throughput) strict_throughput(g, command);
  if (latency) strict_latency(g, command);
}

void lax_figures(const Options& o, Report& report, Kind kind) {
  const Group g{o, report, kind, name_of(kind, true)};
  if (report.wanted(g.name + " hot-path")) lax_hot_path(g);
  if (report.wanted(g.name + " load")) lax_load(g);
  if (report.wanted(g.name + " flush")) lax_flush(g);
  if (report.wanted(g.name + " memory")) lax_memory(g);
}

// A fleet that dies at once (issue #11): how long its slices take to leave
// the cumulatives, the longest script meanwhile, and what a survivor's ops
// feel. Measured once: the setup is 300,000 slices.
void mass_death_figures(const Options& o, Report& report) {
  const std::string name = "StrictInstanceAwareCounter mass death";
  if (!report.wanted(name)) return;
  const MassDeathResult r = mass_death(o.setup);
  const std::string fleet = fmt::format("{}: {} x {} slices", name, r.instances, r.keys);
  // The goal for a survivor: one step's time plus 2 ms, a step's being the
  // 10 ms goal (not this run's longest, or slower steps would loosen it).
  const double longest_ms = r.longest_script_us / 1e3, allowed_ms = 10 + 2;
  report.add({fleet + ", longest script while parking", "ms", longest_ms, "SLOWLOG (entries of 1 ms and more)", 0, 0,
              "<= 10", longest_ms <= 10});
  report.add({fleet + ", until every slice is parked", "s", r.drain_s, "", 0, 0, "<= 30", r.drain_s <= 30});
  report.add({fleet + ", survivor's inc p99 meanwhile", "ms", r.p99_drain_us / 1e3,
              "a step's goal (10 ms) + 2 ms", allowed_ms, r.p99_drain_us / 1e3 / allowed_ms, "<= 1",
              r.p99_drain_us / 1e3 <= allowed_ms});
  report.add({fleet + ", survivor's inc p50 meanwhile", "us", r.p50_drain_us, "before the deaths", r.p50_before_us,
              r.p50_drain_us / r.p50_before_us, "(info)", true});
  report.add({fleet + ", survivor's inc p99 before the deaths", "us", r.p99_before_us, "", 0, 0, "(info)", true});
}

// "a/b/c" of values, for a figure's name.
std::string per_master(const std::vector<double>& values, const char* format) {
  std::string out;
  for (double v : values) {
    if (!out.empty()) out += '/';
    out += fmt::format(fmt::runtime(format), v);
  }
  return out;
}

// Redis Cluster (issue #14), on 3 masters: what routing costs the client,
// and how the script calls spread over the masters. With one core per
// master, throughput would scale with 1 / the busiest master's share of the
// calls; this machine's cores are shared by the masters and the client, so
// the throughput itself cannot show it.
void cluster_figures(const Options& o, Report& report) {
  if (o.cluster.masters.empty() || !report.wanted("Cluster")) return;
  const ClusterSetup& c = o.cluster;
  std::vector<double> through, direct, ratios;
  for (int i = 0; i < o.repeat; ++i) {  // paired, as Group::paired
    direct.push_back(direct_incs(c).client_cpu_us_per_op);
    through.push_back(cluster_incs(c, 1, 1).client_cpu_us_per_op);
    ratios.push_back(through.back() / direct.back());
  }
  const double ratio = median_value(ratios);
  report.add({"Cluster: StrictCounter inc, 64 coroutines, client CPU per op through redis+cluster://", "us",
              median_value(through), "a direct connection to the family's master", median_value(direct), ratio,
              "<= 1.10", ratio <= 1.10});
  const ClusterRun one = cluster_incs(c, 1, 1);
  auto spread = [&](const std::string& what, const ClusterRun& run) {
    const double busiest = *std::max_element(run.call_share.begin(), run.call_share.end());
    report.add({fmt::format("Cluster: {}; calls per master {}, Redis CPU per call {} us", what,
                            per_master(run.call_share, "{:.2f}"), per_master(run.cpu_us_per_call, "{:.1f}")),
                "ops/s", run.ops_per_s, "1 family on 1 master", one.ops_per_s, run.ops_per_s / one.ops_per_s, "(info)",
                true});
    report.add({fmt::format("Cluster: {}; projected scaling, a core per master (1 / busiest share)", what), "x",
                1 / busiest, "", 0, 0, "(info)", true});
  };
  spread("1 family on 1 master", one);
  spread("3 families on 3 masters", cluster_incs(c, 3, 1));
  spread("1 family, shards = 3", cluster_incs(c, 1, 3));
}

// The rate limiter (issue #16): the redis provider against redis-benchmark
// of its EVALSHA over random keys, the local and hybrid hot paths against
// the bare map, and Redis memory per key.
void rate_limit_figures(const Options& o, Report& report) {
  const Group g{o, report, Kind::plain, "RateLimiter"};
  if (!report.wanted(g.name)) return;
  const Args command = rate_limit_command(g.s());
  MeanLoad by_benchmark, by_library;
  const auto r = g.paired(
      [&] {
        const auto b = redis_benchmark(g.s().port, 64, command, g.secs(), rate_limit_keys);
        by_benchmark.add(b.server);
        return b.rps;
      },
      [&] {
        const auto t = rate_limit_throughput(g.s());
        by_library.add(t.server);
        return t.ops_per_s;
      });
  report.add({"RateLimiter redis absolute inc, 64 coroutines, random keys", "decisions/s", r.value,
              fmt::format("redis-benchmark -c 1 -P 64, same EVALSHA, keys at random of {}", rate_limit_keys),
              r.reference, r.ratio, ">= 0.90", r.ratio >= 0.90});
  report_server_load(g, "redis absolute inc", by_library, by_benchmark);
  const std::size_t ops = g.s().quick ? 700 : 7000;
  const auto p50 = g.paired([&] { return redis_benchmark(g.s().port, 1, command, g.secs() / 3, rate_limit_keys).p50_us; },
                            [&] { return rate_limit_p50_us(g.s(), ops); }, 3 * o.repeat);
  report.add({"RateLimiter redis absolute inc p50, one coroutine, random keys", "us", p50.value,
              "redis-benchmark -c 1 -P 1 p50", p50.reference, p50.ratio, "<= 1.2", p50.ratio <= 1.2});
  const auto local = g.paired([&] { return 1e9 / bare_map_ops(g.s(), 1); }, [&] { return 1e9 / local_limit_ops(g.s()); });
  report.add({"RateLimiter local absolute inc_now, warm key, 1 thread", "ns/op", local.value,
              "shared_mutex + unordered_map + fetch_add", local.reference, local.ratio, "(info)", true});
  const auto hybrid = g.paired([&] { return 1e9 / bare_map_ops(g.s(), 1, Via::awaited); },
                               [&] { return 1e9 / hybrid_limit_ops(g.s()); });
  report.add({"RateLimiter hybrid absolute co_await inc, warm key, 1 thread", "ns/op", hybrid.value,
              "the bare map's work in a trivial co_awaited awaitable", hybrid.reference, hybrid.ratio, "(info)", true});
  report.add({"RateLimiter Redis memory per key, 10 s window of 100 buckets, every bucket used", "B",
              rate_limit_bytes_per_key(g.s()), "", 0, 0, "(info)", true});
}

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) throw std::runtime_error(arg + " needs a value");
      return argv[++i];
    };
    if (arg == "--port") o.setup.port = static_cast<std::uint16_t>(std::stoi(next()));
    else if (arg == "--repeat") o.repeat = std::max(1, std::stoi(next()));
    else if (arg == "--quick") o.setup.quick = o.cluster.quick = true;
    else if (arg == "--cluster") {  // the masters' ports: p1,p2,p3
      std::string ports = next();
      for (std::size_t at = 0; at < ports.size();) {
        const auto comma = std::min(ports.find(',', at), ports.size());
        o.cluster.masters.push_back(static_cast<std::uint16_t>(std::stoi(ports.substr(at, comma - at))));
        at = comma + 1;
      }
    }
    else if (arg == "--json") o.json = next();
    else if (arg == "--only") o.only = next();
    else throw std::runtime_error("unknown argument " + arg);
  }
  if (o.setup.port == 0) throw std::runtime_error("--port is required");
  logger()->set_level(spdlog::level::err);

  // The scripts, loaded the way redis-benchmark will call them.
  Admin admin(o.setup.port);
  for (const auto* script : {&detail::scripts::counter, &detail::scripts::instance_aware, &detail::scripts::rate_limit})
    if (admin.command({"SCRIPT", "LOAD", std::string(script->body())}) != script->sha1())
      throw std::runtime_error("SCRIPT LOAD returned another SHA1");

  const std::string when = fmt::format("{:%Y-%m-%d %H:%M} UTC", fmt::gmtime(std::time(nullptr)));
  std::cerr << fmt::format("distkit_bench: {}, {}, median of {}{}\n", when, machine(), o.repeat,
                           o.setup.quick ? " (quick)" : "");
  Report report(o);
  strict_figures(o, report, Kind::instance_aware);
  strict_figures(o, report, Kind::plain);
  lax_figures(o, report, Kind::instance_aware);
  lax_figures(o, report, Kind::plain);
  mass_death_figures(o, report);
  cluster_figures(o, report);
  rate_limit_figures(o, report);
  report.print();
  report.write_json(when);
  return 0;
}

}  // namespace
}  // namespace distkit::bench

int main(int argc, char** argv) {
  try {
    return distkit::bench::main(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "distkit_bench: " << e.what() << "\n";
    return 1;
  }
}
