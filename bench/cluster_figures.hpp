#pragma once
// Figures of a Redis Cluster (run.sh starts one of 3 masters): what routing
// costs the client, and how families, or one family's sub-families (the
// `shards` option), spread the load over the masters.

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace distkit::bench {

struct ClusterSetup {
  std::vector<std::uint16_t> masters;
  bool quick = false;
};

struct ClusterRun {
  double ops_per_s = 0;
  double client_cpu_us_per_op = 0;
  std::vector<double> call_share;       // per master: its share of the script calls
  std::vector<double> cpu_us_per_call;  // per master: Redis CPU per call (0 without calls)
};

// StrictCounter incs from 64 coroutines on one connection, about 2 s.
// Through the cluster: over `families` families of `shards` sub-families
// each. Direct: one family, on a plain connection to its slot's master.
ClusterRun cluster_incs(const ClusterSetup& s, int families, std::size_t shards);
ClusterRun direct_incs(const ClusterSetup& s);

}  // namespace distkit::bench
