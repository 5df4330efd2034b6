#pragma once
// A throwaway Redis Cluster on loopback: `masters` masters with `replicas`
// replicas each, made by `redis-cli --cluster create`, each node a
// RedisServer of its own (cluster bus on a free port, node timeout 1 s).

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "redis_server.hpp"

namespace distkit::test {

class RedisCluster {
 public:
  explicit RedisCluster(int masters = 3, int replicas = 0, std::vector<std::string> extra = {});

  // redis+cluster://127.0.0.1:<first master>[,...]: `seeds` of the nodes.
  std::string url(std::size_t seeds = 1) const;

  // Every node, masters first as created.
  std::vector<std::unique_ptr<RedisServer>>& nodes() { return nodes_; }

  // The node serving `slot` now, as the cluster itself says.
  RedisServer& owner(std::uint16_t slot);

  // Waits until every running node says cluster_state:ok and agrees on
  // which node serves each slot, and every replica's link to its master is
  // up; throws after `seconds`.
  void wait_settled(int seconds = 30);

 private:
  std::vector<std::unique_ptr<RedisServer>> nodes_;
};

}  // namespace distkit::test
