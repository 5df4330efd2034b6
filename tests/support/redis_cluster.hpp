#pragma once
// A throwaway Redis Cluster on loopback: `masters` masters with `replicas`
// replicas each, made by `redis-cli --cluster create`, each node a
// RedisServer of its own (cluster bus on a free port, node timeout 1 s).

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "redis_server.hpp"

namespace distkit::test {

class RedisCluster {
 public:
  // With `tls`, each node also has a TLS port, and speaks TLS on the cluster
  // bus and to its replicas (tls-cluster yes): the cluster then names its
  // TLS ports to TLS clients.
  struct Tls {
    std::string cert, key;  // the nodes': serverAuth and clientAuth (the bus's links are TLS clients too)
    std::string ca;
  };

  explicit RedisCluster(int masters = 3, int replicas = 0, std::vector<std::string> extra = {},
                        std::optional<Tls> tls = std::nullopt);

  // redis+cluster://127.0.0.1:<first master>[,...]: `seeds` of the nodes.
  std::string url(std::size_t seeds = 1) const;
  // With Tls: rediss+cluster://127.0.0.1:<first master's TLS port>?ca_file=<ca>.
  std::string tls_url() const;

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
  std::vector<std::uint16_t> tls_ports_;
  std::string ca_;
};

}  // namespace distkit::test
