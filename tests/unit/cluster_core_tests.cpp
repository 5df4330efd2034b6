// Redis Cluster without a cluster (src/redis/core/cluster.hpp): slots, the
// slot map, redirections.
#include <catch2/catch.hpp>

#include <string>
#include <utility>

#include "redis/core/cluster.hpp"
#include "replies.hpp"

using namespace distkit;
using namespace distkit::test;
using redis::Command;
using redis::Reply;
namespace cluster = redis::detail::cluster;
using cluster::Address;

TEST_CASE("cluster core: a key's slot is the one CLUSTER KEYSLOT reports, hash tags included") {
  // From redis-server 7.0's CLUSTER KEYSLOT.
  const std::pair<std::string, int> known[] = {
      {"", 0},          {"foo", 12182},          {"bar", 5061},       {"hello", 866},
      {"{user1000}.following", 3443},             {"{user1000}.followers", 3443},
      {"foo{}{bar}", 8363},                       {"foo{{bar}}zap", 4015},
      {"foo{bar}{zap}", 5061},                    {"{}", 15257},       {"a{b", 13340},
      {"}{x}", 16287},  {"{prefix}:totals", 7912}, {"{prefix:3}:totals", 11180},
      {"123456789", 12739},                       {"\xc3\xa9", 10180}};
  for (const auto& [key, slot] : known) {
    INFO(key);
    CHECK(cluster::key_slot(key) == slot);
  }
}

TEST_CASE("cluster core: a command is routed by its first key; a script by KEYS[1]; keyless ones anywhere") {
  CHECK(cluster::routing_key(Command{"GET", "k"}) == "k");
  CHECK(cluster::routing_key(Command{"evalsha", "0123abcd", "2", "{p}:a", "{p}:b", "arg"}) == "{p}:a");
  CHECK(cluster::routing_key(Command{"EVAL", "return 1", "0"}) == std::nullopt);
  CHECK(cluster::routing_key(Command{"ZUNION", "2", "z1", "z2"}) == "z1");
  CHECK(cluster::routing_key(Command{"BLMPOP", "0", "1", "l", "LEFT"}) == "l");
  CHECK(cluster::routing_key(Command{"XREAD", "COUNT", "2", "STREAMS", "s1", "0"}) == "s1");
  CHECK(cluster::routing_key(Command{"MEMORY", "USAGE", "k"}) == "k");
  CHECK(cluster::routing_key(Command{"PING"}) == std::nullopt);
  CHECK(cluster::routing_key(Command{"info", "memory"}) == std::nullopt);
}

namespace {

// A node as CLUSTER SHARDS describes it.
Reply node(std::string role, int port, std::string endpoint = "127.0.0.1", std::string health = "online") {
  return array({bulk("id"), bulk("abc"), bulk("port"), integer(port), bulk("tls-port"), integer(port + 1000),
                bulk("ip"), bulk("127.0.0.1"), bulk("endpoint"), bulk(std::move(endpoint)), bulk("role"),
                bulk(std::move(role)), bulk("replication-offset"), integer(72), bulk("health"),
                bulk(std::move(health))});
}
Reply shard(std::vector<Reply> slots, std::vector<Reply> nodes) {
  return array({bulk("slots"), array(std::move(slots)), bulk("nodes"), array(std::move(nodes))});
}

}  // namespace

TEST_CASE("cluster core: CLUSTER SHARDS gives each master's slot ranges, on its TLS port if asked") {
  const Address seed{"10.0.0.9", 7000};
  const auto shards = array({
      shard({integer(0), integer(5460), integer(6000), integer(6001)}, {node("replica", 7003), node("master", 7000)}),
      shard({integer(5461), integer(5999)}, {node("master", 7001, "?")}),  // unknown endpoint: the seed's host
      shard({}, {node("master", 7005)}),                                   // serves nothing
      shard({integer(6002), integer(16383)}, {node("master", 7002, "127.0.0.1", "failed")}),  // none promoted yet
  });
  const std::vector<cluster::SlotRange> plain{{0, 5460, {"127.0.0.1", 7000}},
                                              {6000, 6001, {"127.0.0.1", 7000}},
                                              {5461, 5999, {"10.0.0.9", 7001}}};
  CHECK(cluster::ranges_in_shards(shards, false, seed) == plain);
  CHECK(cluster::ranges_in_shards(shards, true, seed).front().master == Address{"127.0.0.1", 8000});
  // Two masters for a moment: the online one with the highest offset; a loading one only if alone.
  auto behind = node("master", 7010);
  behind.elements[13] = integer(10);  // replication-offset
  const auto two = array({shard({integer(0), integer(16383)}, {behind, node("master", 7011)})});
  CHECK(cluster::ranges_in_shards(two, false, seed).front().master.port == 7011);
  const auto loading = array(
      {shard({integer(0), integer(16383)}, {node("master", 7012), node("master", 7013, "127.0.0.1", "loading")})});
  CHECK(cluster::ranges_in_shards(loading, false, seed).front().master.port == 7012);
  CHECK(cluster::ranges_in_shards(array({shard({integer(0)}, {node("master", 7000)})}), false, seed).empty());
  CHECK(cluster::ranges_in_shards(array({shard({integer(0), integer(16384)}, {node("master", 7000)})}), false, seed)
            .empty());
  CHECK(cluster::ranges_in_shards(error("ERR unknown subcommand"), false, seed).empty());
}

TEST_CASE("cluster core: CLUSTER SLOTS (Redis 6.2) gives the same ranges") {
  const Address seed{"10.0.0.9", 7000};
  const auto slots = array({
      array({integer(0), integer(5460), array({bulk("127.0.0.1"), integer(7000), bulk("id0")}),
             array({bulk("127.0.0.1"), integer(7003), bulk("id3")})}),
      array({integer(5461), integer(16383), array({bulk(""), integer(7001), bulk("id1")})}),
  });
  const std::vector<cluster::SlotRange> expected{{0, 5460, {"127.0.0.1", 7000}}, {5461, 16383, {"10.0.0.9", 7001}}};
  CHECK(cluster::ranges_in_slots(slots, seed) == expected);
  CHECK(cluster::ranges_in_slots(array({array({integer(0), integer(1)})}), seed).empty());
}

TEST_CASE("cluster core: the slot map names each slot's master; a MOVED changes one slot at once") {
  cluster::SlotMap map;
  CHECK(map.empty());
  CHECK(map.owner(0) == nullptr);
  map.assign({{0, 99, {"a", 1}}, {100, 16383, {"b", 2}}});
  CHECK(*map.owner(0) == Address{"a", 1});
  CHECK(*map.owner(99) == Address{"a", 1});
  CHECK(*map.owner(16383) == Address{"b", 2});
  CHECK(map.masters().size() == 2);
  map.move(50, {"c", 3});
  CHECK(*map.owner(50) == Address{"c", 3});
  CHECK(*map.owner(51) == Address{"a", 1});
  map.assign({{0, 10, {"a", 1}}});  // slots no range names have no owner
  CHECK(map.owner(11) == nullptr);
  CHECK(map.masters().size() == 1);
}

TEST_CASE("cluster core: MOVED and ASK are read; TRYAGAIN and CLUSTERDOWN mean retry, a script's non-local key not") {
  const auto moved = cluster::redirect_in(error("MOVED 3999 127.0.0.1:6381"));
  REQUIRE(moved);
  CHECK(moved->kind == cluster::Redirect::Kind::moved);
  CHECK(moved->slot == 3999);
  CHECK(moved->to == Address{"127.0.0.1", 6381});
  const auto ask = cluster::redirect_in(error("ASK 12 [::1]:7002"));
  REQUIRE(ask);
  CHECK(ask->kind == cluster::Redirect::Kind::ask);
  CHECK(ask->to == Address{"::1", 7002});
  CHECK(cluster::redirect_in(error("MOVED 3999 :6381"))->to == Address{"", 6381});  // the same host
  for (auto bad : {"MOVED 16384 h:1", "MOVED x h:1", "MOVED 1 h", "MOVED 1 h:0", "ERR MOVED 1 h:1"})
    CHECK_FALSE(cluster::redirect_in(error(bad)));
  CHECK_FALSE(cluster::redirect_in(bulk("MOVED 1 h:1")));

  CHECK(cluster::says_try_again(error("TRYAGAIN Multiple keys request during rehashing of slot")));
  CHECK(cluster::says_try_again(error("CLUSTERDOWN The cluster is down")));
  CHECK(cluster::says_try_again(error("LOADING Redis is loading the dataset in memory")));
  CHECK_FALSE(cluster::says_try_again(  // raised mid-script, after its earlier writes: not safe to send again
      error("ERR Script attempted to access a non local key in a cluster node script: @user_script:1.")));
  CHECK_FALSE(cluster::says_try_again(error("ERR wrong number of arguments")));
  CHECK_FALSE(cluster::says_try_again(status("TRYAGAIN")));
}

TEST_CASE("cluster core: a script re-sent as EVAL goes elsewhere as its keys and arguments again") {
  const redis::Command eval{"EVAL", "return 1", "2", "{p}:totals", "{p}:seq:w", "flush", "7"};
  const redis::Command keys_and_args = cluster::keys_and_args_of_eval(eval);
  CHECK(keys_and_args.size() == 5);
  CHECK(keys_and_args.arg(0) == "2");
  CHECK(keys_and_args.arg(1) == "{p}:totals");
  CHECK(keys_and_args.arg(4) == "7");
}
