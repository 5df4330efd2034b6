#include "redis_cluster.hpp"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace distkit::test {

RedisCluster::RedisCluster(int masters, int replicas, std::vector<std::string> extra, std::optional<Tls> tls) {
  const int count = masters * (1 + replicas);
  if (tls) {
    ca_ = tls->ca;
    extra.insert(extra.end(), {"--tls-cluster", "yes", "--tls-replication", "yes", "--tls-cert-file", tls->cert,
                               "--tls-key-file", tls->key, "--tls-ca-cert-file", tls->ca, "--tls-auth-clients", "no"});
  }
  std::string create = "redis-cli --cluster create";
  for (int i = 0; i < count; ++i) {
    std::vector<std::string> args = {"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                                     "--cluster-port", std::to_string(free_port()), "--cluster-node-timeout", "1000"};
    args.insert(args.end(), extra.begin(), extra.end());
    if (tls) {
      tls_ports_.push_back(free_port());
      args.insert(args.end(), {"--tls-port", std::to_string(tls_ports_.back())});
    }
    nodes_.push_back(std::make_unique<RedisServer>(std::move(args)));
    create += " 127.0.0.1:" + std::to_string(nodes_.back()->port());
  }
  create += " --cluster-replicas " + std::to_string(replicas) + " --cluster-yes > " + nodes_.front()->dir() +
            "/cluster-create.log 2>&1";
  if (std::system(create.c_str()) != 0)
    throw std::runtime_error("redis-cli --cluster create failed; see " + nodes_.front()->dir() + "/cluster-create.log");
  wait_settled();
}

std::string RedisCluster::url(std::size_t seeds) const {
  std::string url = "redis+cluster://";
  for (std::size_t i = 0; i < seeds && i < nodes_.size(); ++i)
    url += (i ? ",127.0.0.1:" : "127.0.0.1:") + std::to_string(nodes_[i]->port());
  return url;
}

std::string RedisCluster::tls_url() const {
  if (tls_ports_.empty()) throw std::logic_error("a cluster without TLS has no TLS URL");
  return "rediss+cluster://127.0.0.1:" + std::to_string(tls_ports_.front()) + "?ca_file=" + ca_;
}

namespace {

// "<port> <slot ranges>" of each master the node knows of (from CLUSTER
// NODES, without failed ones), sorted: equal on nodes that agree.
std::vector<std::string> masters_seen_by(const RedisServer& node) {
  std::vector<std::string> masters;
  std::istringstream lines(node.command({"CLUSTER", "NODES"}));
  for (std::string line; std::getline(lines, line);) {
    std::istringstream words(line);
    std::string id, address, flags, skip, ranges;
    words >> id >> address >> flags;
    if (flags.find("master") == std::string::npos || flags.find("fail") != std::string::npos) continue;
    for (int i = 0; i < 5; ++i) words >> skip;
    for (std::string range; words >> range;) ranges += " " + range;
    if (ranges.empty()) continue;
    masters.push_back(address.substr(address.find(':') + 1, address.find('@') - address.find(':') - 1) + ranges);
  }
  std::sort(masters.begin(), masters.end());
  return masters;
}

bool in_ranges(std::uint16_t slot, const std::string& ranges) {
  std::istringstream words(ranges);
  for (std::string range; words >> range;) {
    if (range.front() == '[') continue;  // a slot being migrated
    const auto dash = range.find('-');
    const int first = std::stoi(range.substr(0, dash));
    const int last = dash == std::string::npos ? first : std::stoi(range.substr(dash + 1));
    if (slot >= first && slot <= last) return true;
  }
  return false;
}

}  // namespace

RedisServer& RedisCluster::owner(std::uint16_t slot) {
  for (auto& node : nodes_) {
    if (!node->running()) continue;
    for (const auto& master : masters_seen_by(*node)) {
      const auto space = master.find(' ');
      if (!in_ranges(slot, master.substr(space))) continue;
      const auto port = std::stoi(master.substr(0, space));
      for (auto& candidate : nodes_)
        if (candidate->port() == port) return *candidate;
    }
  }
  throw std::runtime_error("no node serves slot " + std::to_string(slot));
}

void RedisCluster::wait_settled(int seconds) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  for (;;) {
    bool settled = true;
    std::optional<std::vector<std::string>> agreed;
    for (auto& node : nodes_) {
      if (!node->running()) continue;
      const auto seen = masters_seen_by(*node);
      const bool replica_synced = node->info_field("replication", "role") != "slave" ||
                                  node->info_field("replication", "master_link_status") == "up";
      settled = settled && node->command({"CLUSTER", "INFO"}).find("cluster_state:ok") != std::string::npos &&
                (!agreed || seen == *agreed) && replica_synced;
      agreed = seen;
    }
    if (settled) return;
    if (std::chrono::steady_clock::now() > deadline) throw std::runtime_error("the cluster did not settle");
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // polling a condition with a deadline
  }
}

}  // namespace distkit::test
