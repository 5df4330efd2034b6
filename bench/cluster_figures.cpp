#include "cluster_figures.hpp"

#include <algorithm>
#include <memory>
#include <stdexcept>

#include <fmt/format.h>
#include <unistd.h>

#include "ceiling.hpp"
#include "distkit/distkit.hpp"
#include "session.hpp"

namespace distkit::bench {
namespace {

RedisKey fresh_prefix() {
  static int n = 0;
  return RedisKey(fmt::format("cbench{}-{}", getpid(), ++n));
}

std::string cluster_url(const ClusterSetup& s) { return fmt::format("redis+cluster://127.0.0.1:{}", s.masters.at(0)); }

// The master serving `prefix`'s family: the others answer MOVED.
std::uint16_t owner_of(const ClusterSetup& s, const RedisKey& prefix) {
  for (auto port : s.masters) {
    try {
      Admin(port).command({"EXISTS", "{" + prefix.str() + "}:probe"});
      return port;
    } catch (const std::runtime_error&) {  // MOVED
    }
  }
  throw std::runtime_error("no master serves " + prefix.str());
}

// 64 coroutines of incs on `counters` (round robin) through `s`, watching
// every master.
ClusterRun measure(const ClusterSetup& setup, Session& s, const std::vector<std::shared_ptr<StrictCounter>>& counters) {
  for (auto& c : counters)
    for (int k = 0; k < 64; ++k) s.run(c->inc(fmt::format("k{}", k), 1));  // warm: scripts loaded, records checked
  std::vector<std::unique_ptr<ServerWatch>> watches;
  for (auto port : setup.masters) watches.push_back(std::make_unique<ServerWatch>(port));
  const double cpu0 = process_cpu_us();
  const auto t0 = Clock::now();
  const auto end = t0 + std::chrono::milliseconds(setup.quick ? 500 : 2000);
  std::uint64_t ops = 0;
  s.run_all(64, [&](int w) -> asio::awaitable<void> {
    auto& counter = *counters[static_cast<std::size_t>(w) % counters.size()];
    const std::string key = fmt::format("k{}", w);
    while (Clock::now() < end) {
      co_await counter.inc(key, 1);
      ++ops;
    }
  });
  ClusterRun run{static_cast<double>(ops) / seconds_since(t0), (process_cpu_us() - cpu0) / static_cast<double>(ops),
                 {}, {}};
  double calls = 0;
  std::vector<ServerLoad> loads;
  for (auto& w : watches) calls += loads.emplace_back(w->stop()).calls;
  for (const auto& l : loads) {
    run.call_share.push_back(l.calls / std::max(calls, 1.0));
    run.cpu_us_per_call.push_back(l.calls > 0 ? l.cpu_us_per_call : 0);
  }
  return run;
}

}  // namespace

ClusterRun cluster_incs(const ClusterSetup& setup, int families, std::size_t shards) {
  Session s(cluster_url(setup));
  std::vector<std::shared_ptr<StrictCounter>> counters;
  std::vector<std::uint16_t> used;
  while (static_cast<int>(counters.size()) < families) {
    const RedisKey prefix = fresh_prefix();
    // With several one-slot families, one on each master.
    if (shards == 1 && families > 1) {
      const auto owner = owner_of(setup, prefix);
      if (std::find(used.begin(), used.end(), owner) != used.end()) continue;
      used.push_back(owner);
    }
    counters.push_back(StrictCounter::create({.prefix = prefix, .connection = s.conn, .shards = shards}));
  }
  return measure(setup, s, counters);
}

ClusterRun direct_incs(const ClusterSetup& setup) {
  const RedisKey prefix = fresh_prefix();
  Session s(owner_of(setup, prefix));
  return measure(setup, s, {StrictCounter::create({.prefix = prefix, .connection = s.conn})});
}

}  // namespace distkit::bench
