// Redis Cluster (redis+cluster://) against a loopback cluster the test makes
// (tests/support/redis_cluster.hpp): routing, MOVED and ASK during a slot's
// migration, a master's failover, a cluster that is down.
#include <atomic>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>

#include <fmt/format.h>

#include "distkit/counter/lax_counter.hpp"
#include "distkit/counter/strict_counter.hpp"
#include "distkit/icounter/lax_instance_aware_counter.hpp"
#include "distkit/icounter/strict_instance_aware_counter.hpp"
#include "failover_writes.hpp"
#include "redis_cluster.hpp"
#include "run.hpp"

using namespace distkit;
using namespace distkit::test;
using namespace std::chrono_literals;

namespace {

std::uint16_t slot_of(RedisCluster& cluster, const std::string& key) {
  for (auto& node : cluster.nodes())
    if (node->running()) return static_cast<std::uint16_t>(std::stoi(node->command({"CLUSTER", "KEYSLOT", key})));
  throw std::runtime_error("no node of the cluster runs");
}

std::uint16_t family_slot(RedisCluster& cluster, const RedisKey& prefix) {
  return slot_of(cluster, "{" + prefix.str() + "}");
}

// What a counter of `prefix` reads on `node` alone.
std::int64_t total_on(RedisServer& node, const RedisKey& prefix, std::string_view key) {
  Env direct(node.url());
  auto counter = StrictCounter::create({.prefix = prefix, .connection = direct.conn});
  return direct(counter->get(key));
}

// A killed node's hang-up is read by the client before the next op is sent,
// as a running application's event loop would at once: else that op goes
// out on the dead link and fails with connection_lost (outcome unknown).
void notice_hang_ups(Env& env) {
  env.io.restart();
  env.io.poll();
}

// The replica of `master`, if the cluster has one.
RedisServer* replica_of(RedisCluster& cluster, const RedisServer& master) {
  for (auto& node : cluster.nodes())
    if (node->info_field("replication", "master_port") == std::to_string(master.port())) return node.get();
  return nullptr;
}

// For the threads that inject a fault into a workload: polls `condition`
// every 5 ms until it holds or `deadline` passes; returns it.
template <class Condition>
bool poll_until(std::chrono::steady_clock::time_point deadline, Condition condition) {
  while (!condition() && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(5ms);
  return condition();
}

// How many error replies starting with `code` ("ASK", "TRYAGAIN") `node` has sent.
std::int64_t errors_sent(RedisServer& node, const std::string& code) {
  const auto stat = node.info_field("errorstats", "errorstat_" + code);  // "count=N"
  return stat.empty() ? 0 : std::stoll(stat.substr(stat.find('=') + 1));
}

// How many keys of `prefix` with `shards` > 1 live on `node` (their tags are "{prefix:j}").
int sub_family_keys_on(RedisServer& node, const RedisKey& prefix) {
  return std::stoi(node.command({"EVAL", "return #redis.call('KEYS', ARGV[1])", "0", "{" + prefix.str() + ":*"}));
}

// The basic ops of all four counter types on one prefix, as a user would
// check them; what they read back, wrong values named.
asio::awaitable<std::vector<std::string>> basic_ops(Env& env, RedisKey prefix, std::size_t shards) {
  std::vector<std::string> wrong;
  auto expect = [&](std::string what, std::int64_t got, std::int64_t want) {
    if (got != want)
      wrong.push_back(fmt::format("{} of {} (shards {}): {} instead of {}", what, prefix.str(), shards, got, want));
  };
  auto strict = StrictCounter::create({.prefix = prefix, .connection = env.conn, .shards = shards});
  auto lax = LaxCounter::create({.prefix = prefix, .connection = env.conn, .shards = shards});
  auto ia = StrictInstanceAwareCounter::create({.prefix = prefix, .connection = env.conn, .shards = shards});
  auto lax_ia = LaxInstanceAwareCounter::create({.prefix = prefix, .connection = env.conn, .shards = shards});
  for (int i = 1; i <= 16; ++i) {
    const std::string key = "k" + std::to_string(i);
    expect("strict inc", co_await strict->inc(key, i), i);
    co_await lax->inc(key, 100);
    expect("strict-ia inc", (co_await ia->inc(key, i)).cumulative, i);
    co_await lax_ia->inc(key, i);
  }
  co_await lax->flush();
  co_await lax_ia->flush();
  expect("strict get", co_await strict->get("k16"), 116);
  expect("strict del", co_await strict->del("k3"), 103);
  expect("strict set", co_await strict->set("k4", 7), 7);
  expect("lax-ia get", (co_await lax_ia->get("k5")).cumulative, 5);
  expect("strict-ia del", (co_await ia->del("k6")).cumulative, 6);
  co_await strict->clear();
  co_await ia->clear();
  expect("strict get after clear", co_await strict->get("k16"), 0);
  expect("strict-ia get after clear", (co_await ia->get("k16")).cumulative, 0);
  co_await lax->shutdown();
  co_await lax_ia->shutdown();
  co_await ia->shutdown();
  co_return wrong;
}

}  // namespace

TEST_CASE("cluster: counters of many families share one connection, each family on its slot's master") {
  RedisCluster cluster(3);
  Env env(cluster.url());
  std::set<std::uint16_t> masters_used;
  for (int i = 1; i <= 40; ++i) {  // 40 prefixes miss one of 3 masters with odds of 1 in 3 million
    const auto prefix = unique_prefix("cluster");
    auto counter = StrictCounter::create({.prefix = prefix, .connection = env.conn});
    CHECK(env(counter->inc("k", i)) == i);
    auto& owner = cluster.owner(family_slot(cluster, prefix));
    masters_used.insert(owner.port());
    CHECK(total_on(owner, prefix, "k") == i);
  }
  CHECK(masters_used.size() == 3);
  // A lax counter's flush batch is one call on its family's master.
  const auto prefix = unique_prefix("cluster");
  auto lax = LaxCounter::create({.prefix = prefix, .connection = env.conn});
  for (int i = 0; i < 100; ++i) env(lax->inc(fmt::format("k{}", i % 7), 1));
  env(lax->flush());
  auto& owner = cluster.owner(family_slot(cluster, prefix));
  CHECK(total_on(owner, prefix, "k0") == 15);
  // Keyless commands go to some master.
  CHECK(env(env.conn->exec(redis::Command{"PING"})).str == "PONG");
}

TEST_CASE("cluster: every counter type works on families on every master, and on families of 8 sub-families "
          "spread over all masters") {
  RedisCluster cluster(3);
  Env env(cluster.url());
  std::vector<RedisKey> prefixes;  // 10, at least 3 on each master
  std::map<std::uint16_t, int> on_master;
  while (prefixes.size() < 10) {
    const auto prefix = unique_prefix("cluster");
    const auto port = cluster.owner(family_slot(cluster, prefix)).port();
    if (on_master[port] >= 4) continue;
    ++on_master[port];
    prefixes.push_back(prefix);
  }
  REQUIRE(on_master.size() == 3);
  const auto spread = unique_prefix("cluster");
  std::vector<std::string> wrong;
  env([&]() -> asio::awaitable<void> {
    for (const auto& prefix : prefixes)
      for (auto& w : co_await basic_ops(env, prefix, 1)) wrong.push_back(std::move(w));
    for (auto& w : co_await basic_ops(env, spread, 8)) wrong.push_back(std::move(w));
  }());
  CHECK(wrong == std::vector<std::string>{});
  // The lax counters' sub-families (not cleared) are on every master.
  for (std::size_t i = 0; i < 3; ++i) {
    INFO("master " << i);
    CHECK(sub_family_keys_on(*cluster.nodes()[i], spread) > 0);
  }
}

TEST_CASE("cluster: a command whose key is not where routing looks goes where MOVED says; one that belongs to "
          "every node is refused") {
  RedisCluster cluster(3);
  Env env(cluster.url());
  for (int i = 0; i < 3; ++i) {  // three tags: one at least is not on the node the word "AND" routes to
    const auto tag = fmt::format("{{bitop{}}}", i);
    CHECK(env(env.conn->exec(redis::Command{"SET", tag + "src", "abc"})).str == "OK");
    const auto bitop = env(env.conn->exec(redis::Command{"BITOP", "AND", tag + "dst", tag + "src"}));
    CHECK(bitop.integer == 3);
  }
  for (auto refused : {redis::Command{"FLUSHALL"}, redis::Command{"DBSIZE"}, redis::Command{"KEYS", "*"},
                       redis::Command{"EVAL", "return 1", "0"}}) {
    INFO(refused.arg(0));
    CHECK(env(error_of(env.conn->exec(std::move(refused)))) == errc::invalid_argument);
  }
  CHECK(env(env.conn->exec(redis::Command{"ECHO", "any node"})).str == "any node");
}

TEST_CASE("cluster: a slot under migration (ASK) and then moved (MOVED) is followed; no op fails") {
  RedisCluster cluster(3);
  Env env(cluster.url());
  const auto prefix = unique_prefix("cluster");
  auto counter = StrictCounter::create({.prefix = prefix, .connection = env.conn});
  CHECK(env(counter->inc("k", 1)) == 1);
  const auto slot = std::to_string(family_slot(cluster, prefix));
  auto& source = cluster.owner(family_slot(cluster, prefix));
  auto& target = *cluster.nodes()[&source == cluster.nodes()[0].get() ? 1 : 0];
  const auto source_id = source.command({"CLUSTER", "MYID"}), target_id = target.command({"CLUSTER", "MYID"});
  REQUIRE(target.command({"CLUSTER", "SETSLOT", slot, "IMPORTING", source_id}) == "OK");
  REQUIRE(source.command({"CLUSTER", "SETSLOT", slot, "MIGRATING", target_id}) == "OK");
  // The family's totals move: the source now answers ASK for them.
  const auto totals = "{" + prefix.str() + "}:totals";
  REQUIRE(source.command({"MIGRATE", "127.0.0.1", std::to_string(target.port()), "", "0", "5000", "KEYS", totals}) ==
          "OK");
  CHECK(env(counter->inc("k", 1)) == 2);  // ASKING, then the script (NOSCRIPT there: EVAL) on the target
  for (auto& node : cluster.nodes()) node->command({"CLUSTER", "SETSLOT", slot, "NODE", target_id});
  CHECK(env(counter->inc("k", 1)) == 3);  // MOVED from the source, then the target
  CHECK(env(counter->get("k")) == 3);
}

TEST_CASE("cluster: a master killed (-9) mid-workload: its replica takes over, the writes go on, none counts twice, "
          "and the restarted node rejoins as a replica") {
  RedisCluster cluster(3, 1);
  auto options = redis::ConnectionOptions::from_url(cluster.url(2));
  options.command_timeout = 15s;  // the failover (node timeout 1 s, then an election) must not show as timeouts
  Env env(options);
  const auto prefix = unique_prefix("cluster");
  auto lax = LaxCounter::create({.prefix = prefix, .connection = env.conn, .allowed_lag = 5ms});
  auto strict = StrictCounter::create({.prefix = prefix, .connection = env.conn});
  auto& master = cluster.owner(family_slot(cluster, prefix));
  RedisServer* replica = replica_of(cluster, master);
  REQUIRE(replica);
  FailoverWrites writes;
  std::jthread killer([&] {
    const auto deadline = std::chrono::steady_clock::now() + 40s;
    poll_until(deadline, [&] { return writes.lax_counted > 300 && writes.strict_applied > 300; });
    master.kill_hard();
    poll_until(deadline, [&] { return replica->info_field("replication", "role") == "master"; });
    const auto before = replica->script_calls();
    poll_until(deadline, [&] { return replica->script_calls() > before + 100; });  // writes go on, on the new master
    writes.done = true;
  });
  env(writes.run(*lax, *strict), 60s);
  killer.join();
  REQUIRE(replica->info_field("replication", "role") == "master");
  // Replication is asynchronous: writes the old master acknowledged may be
  // lost with it. None is applied twice.
  CHECK(total_on(*replica, prefix, "lax") <= writes.lax_counted);
  CHECK(total_on(*replica, prefix, "strict") <= writes.strict_applied + writes.strict_unknown);
  env(lax->shutdown());
  master.start();
  cluster.wait_settled();
  CHECK(master.info_field("replication", "role") == "slave");
  CHECK(master.info_field("replication", "master_port") == std::to_string(replica->port()));
}

TEST_CASE("cluster: while the cluster is down an op is not applied by its deadline, and says so; so is one awaited "
          "after its deadline") {
  RedisCluster cluster(3);
  auto options = redis::ConnectionOptions::from_url(cluster.url(3));
  options.command_timeout = 500ms;
  Env env(options);
  const auto prefix = unique_prefix("cluster");
  auto counter = StrictCounter::create({.prefix = prefix, .connection = env.conn});
  CHECK(env(counter->inc("k", 1)) == 1);
  auto& lost = cluster.owner(family_slot(cluster, prefix));
  // A command awaited only after its deadline is not sent, also when its
  // master's link is open (the router's fast path).
  const std::string late_key = "{" + prefix.str() + "}:late";
  auto late = env.conn->exec(redis::Command{"INCR", late_key});
  env(sleep_for(600ms));
  CHECK(env(error_of(std::move(late))) == errc::not_applied);
  CHECK(lost.command({"EXISTS", late_key}) == "0");
  RedisKey elsewhere = unique_prefix("cluster");  // a family on a master that survives
  while (&cluster.owner(family_slot(cluster, elsewhere)) == &lost) elsewhere = unique_prefix("cluster");
  lost.kill_hard();  // no replica: its slots are lost, and the cluster fails (full coverage required)
  notice_hang_ups(env);
  RedisServer* survivor = nullptr;
  for (auto& node : cluster.nodes())
    if (node.get() != &lost) survivor = node.get();
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (survivor->command({"CLUSTER", "INFO"}).find("cluster_state:fail") == std::string::npos &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(10ms);  // polling a condition with a deadline
  auto [error, what] = env(outcome_of(counter->inc("k", 1)));
  CHECK(error == errc::not_applied);
  INFO(what);
  // A family on a surviving master is refused too: CLUSTERDOWN, retried until the deadline.
  auto other = StrictCounter::create({.prefix = elsewhere, .connection = env.conn});
  std::tie(error, what) = env(outcome_of(other->inc("k", 1)));
  CHECK(error == errc::not_applied);
  CHECK_THAT(what, Catch::Contains("CLUSTERDOWN"));
}

TEST_CASE("cluster: seeds that give no slot map are connection_failed naming each; bad cluster URLs are invalid") {
  Env env;
  auto [error, what] = env(connect_outcome(fmt::format("redis+cluster://127.0.0.1:{},{}", free_port(),
                                                       server().url().substr(8))));
  CHECK(error == errc::connection_failed);
  CHECK_THAT(what, Catch::Contains("no cluster node gave a slot map") && Catch::Contains("cluster support disabled"));
  for (auto url : {"redis+cluster://", "redis+cluster://127.0.0.1:7000/1", "redis+cluster://127.0.0.1:0"}) {
    INFO(url);
    CHECK(error_thrown_by([&] { redis::ConnectionOptions::from_url(url); }) == errc::invalid_argument);
  }
  auto options = redis::ConnectionOptions::from_url("redis+cluster://127.0.0.1:7000");
  options.db = 1;
  CHECK(error_thrown_by([&] { options.validate(); }) == errc::invalid_argument);
}

TEST_CASE("cluster: across a manual failover (CLUSTER FAILOVER), lax increments count exactly once and strict ones "
          "at most once") {
  RedisCluster cluster(3, 1);
  auto options = redis::ConnectionOptions::from_url(cluster.url());
  options.command_timeout = 10s;
  Env env(options);
  const auto prefix = unique_prefix("cluster");
  auto lax = LaxCounter::create({.prefix = prefix, .connection = env.conn, .allowed_lag = 5ms});
  auto strict = StrictCounter::create({.prefix = prefix, .connection = env.conn});
  auto& master = cluster.owner(family_slot(cluster, prefix));
  RedisServer* replica = replica_of(cluster, master);
  REQUIRE(replica);
  FailoverWrites writes;
  std::string failover_reply;
  std::jthread failover([&] {
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    poll_until(deadline, [&] { return writes.lax_counted >= 300; });
    // Coordinated: the master pauses until the replica caught up.
    failover_reply = replica->command({"CLUSTER", "FAILOVER"});
    poll_until(deadline, [&] { return replica->info_field("replication", "role") == "master"; });
    const auto before = replica->script_calls();
    poll_until(deadline, [&] { return replica->script_calls() >= before + 50; });  // until ops run on the new master
    writes.done = true;
  });
  env(writes.run(*lax, *strict), 60s);
  failover.join();
  REQUIRE(failover_reply == "OK");
  REQUIRE(replica->info_field("replication", "role") == "master");
  const auto lax_total = total_on(*replica, prefix, "lax");
  writes.check(lax_total, total_on(*replica, prefix, "strict"));
  // The new master's replies count as later than the old one's: the lax
  // counter took its flushes' totals.
  CHECK(env(lax->get("lax")) == lax_total);
}

TEST_CASE("cluster: a busy family's slot moved key by key to another master (ASK, TRYAGAIN): lax increments count "
          "exactly once, strict ones at most once") {
  RedisCluster cluster(3);
  auto options = redis::ConnectionOptions::from_url(cluster.url());
  options.command_timeout = 10s;
  Env env(options);
  const auto prefix = unique_prefix("cluster");
  std::vector<std::shared_ptr<LaxCounter>> lax;
  std::vector<std::shared_ptr<StrictCounter>> strict;
  for (int i = 0; i < 3; ++i)
    lax.push_back(LaxCounter::create({.prefix = prefix, .connection = env.conn, .allowed_lag = 5ms}));
  for (int i = 0; i < 2; ++i) strict.push_back(StrictCounter::create({.prefix = prefix, .connection = env.conn}));
  const auto slot = std::to_string(family_slot(cluster, prefix));
  auto& source = cluster.owner(family_slot(cluster, prefix));
  auto& target = *cluster.nodes()[&source == cluster.nodes()[0].get() ? 1 : 0];
  const auto source_id = source.command({"CLUSTER", "MYID"}), target_id = target.command({"CLUSTER", "MYID"});
  FailoverWrites writes;
  std::string failure;  // of the migration thread
  std::jthread reshard([&] {
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    auto move = [&](const std::string& key) {
      return source.command({"MIGRATE", "127.0.0.1", std::to_string(target.port()), "", "0", "5000", "KEYS", key});
    };
    if (!poll_until(deadline, [&] { return writes.lax_counted > 300 && writes.strict_applied > 300; }))
      failure = "no writes";
    target.command({"CLUSTER", "SETSLOT", slot, "IMPORTING", source_id});
    source.command({"CLUSTER", "SETSLOT", slot, "MIGRATING", target_id});
    // The totals first: until the writers' sequence records follow, a flush
    // (totals and its record) finds one key on each node: TRYAGAIN.
    if (move("{" + prefix.str() + "}:totals") != "OK") failure = "MIGRATE of the totals failed";
    const auto try_again_seen = [&] { return errors_sent(source, "TRYAGAIN") + errors_sent(target, "TRYAGAIN") > 0; };
    if (!poll_until(deadline, try_again_seen))
      failure = "no TRYAGAIN seen";
    for (;;) {  // the rest, one key at a time, while the writers go on
      std::istringstream keys(source.command({"CLUSTER", "GETKEYSINSLOT", slot, "100"}));
      std::string key;
      bool any = false;
      while (keys >> key) {
        any = true;
        if (move(key) != "OK") failure = "MIGRATE of " + key + " failed";
        std::this_thread::sleep_for(2ms);  // pacing: writers meet each intermediate state
      }
      if (!any || std::chrono::steady_clock::now() > deadline) break;
    }
    for (auto& node : cluster.nodes()) node->command({"CLUSTER", "SETSLOT", slot, "NODE", target_id});
    const auto before = target.script_calls();
    poll_until(deadline, [&] { return target.script_calls() > before + 100; });  // ops go on, now on the target alone
    writes.done = true;
  });
  std::vector<LaxCounter*> lax_writers;
  std::vector<StrictCounter*> strict_writers;
  for (auto& c : lax) lax_writers.push_back(c.get());
  for (auto& c : strict) strict_writers.push_back(c.get());
  env(writes.run(lax_writers, strict_writers), 60s);
  reshard.join();
  CHECK(failure == "");
  CHECK(errors_sent(source, "ASK") > 0);
  CHECK(&cluster.owner(family_slot(cluster, prefix)) == &target);
  writes.check(total_on(target, prefix, "lax"), total_on(target, prefix, "strict"));
  for (auto& c : lax) env(c->shutdown());
}
