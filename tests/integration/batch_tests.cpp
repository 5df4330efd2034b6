// Batch ops (get_all, inc_all, set_all, inc_all_if, set_all_if and the
// _on_instance forms) against a real redis-server.
#include <map>
#include <ranges>
#include <sstream>
#include <type_traits>

#include <fmt/format.h>

#include "counter_support.hpp"
#include "proxy.hpp"

using namespace distkit;
using namespace distkit::test;

namespace {

using Outcomes = std::vector<Outcome<std::int64_t>>;
using States = std::vector<ItemState>;

std::vector<std::string> keys_0_to(std::size_t n, const std::string& stem = "k") {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < n; ++i) out.push_back(fmt::format("{}{}", stem, i));
  return out;
}

// k<i> += i + 1, for every key.
std::vector<Change> one_up_each(const std::vector<std::string>& keys) {
  std::vector<Change> out;
  for (std::size_t i = 0; i < keys.size(); ++i) out.push_back({keys[i], static_cast<std::int64_t>(i) + 1});
  return out;
}

// How a batch op failed: its errc and its items' states.
struct Failure {
  errc code;
  States items;
};
template <class T>
asio::awaitable<std::optional<Failure>> failure_of(asio::awaitable<T> op) {
  try {
    co_await std::move(op);
  } catch (const BatchError& e) {
    co_return Failure{e.value(), e.items()};
  }
  co_return std::nullopt;
}

States all_in(std::size_t n, ItemState s) { return States(n, s); }

std::shared_ptr<StrictCounter> sharded_on(Env& env, std::uint32_t shards) {
  return StrictCounter::create({.prefix = env.prefix, .connection = env.conn, .shards = shards});
}

}  // namespace

TEST_CASE("batches: a key given twice is applied twice, in order, each position with its own result") {
  Env env;
  auto c = strict_on(env);
  CHECK(env(c->inc_all_if({{"k", Compare::eq(0), 1}, {"k", Compare::eq(1), 2}})) ==
        Outcomes{{1, 0, true}, {3, 1, true}});
  CHECK(env(c->inc_all({{"k", 10}, {"j", 1}, {"k", -3}})) == std::vector<std::int64_t>{13, 1, 10});
  CHECK(env(c->set_all({{"k", 5}, {"k", 6}})) == std::vector<std::int64_t>{5, 6});
  CHECK(env(c->get_all({"k", "missing", "k"})) == std::vector<std::int64_t>{6, 0, 6});
}

TEST_CASE("batches: mixed conditions in one strict batch; those that fail change nothing") {
  Env env;
  auto c = strict_on(env);
  env(c->set_all({{"a", 10}, {"b", 20}}));
  CHECK(env(c->inc_all_if({{"a", Compare::lt(5), 1},
                           {"b", Compare::ge(20), 5},
                           {"c", Compare::eq(0), 0},
                           {"a", Compare::always(), -10}})) ==
        Outcomes{{10, 10, false}, {25, 20, true}, {0, 0, true}, {0, 10, true}});
  CHECK(env(c->set_all_if({{"a", Compare::ne(0), 7}, {"b", Compare::gt(24), 1}})) ==
        Outcomes{{0, 0, false}, {1, 25, true}});
  // An applied change of 0 leaves no field: "c" was never written.
  CHECK(server().command({"HEXISTS", "{" + env.prefix.str() + "}:totals", "c"}) == "0");
}

TEST_CASE("batches: 0, 1, 100, 101 and 1,000 items, on one sub-family and on four") {
  for (std::uint32_t shards : {1u, 4u}) {
    for (std::size_t n : {0u, 1u, 100u, 101u, 1000u}) {
      Env env;
      auto c = sharded_on(env, shards);
      const auto keys = keys_0_to(n);
      std::vector<std::int64_t> want;
      for (std::size_t i = 0; i < n; ++i) want.push_back(static_cast<std::int64_t>(i) + 1);
      INFO(shards << " sub-families, " << n << " items");
      CHECK(env(c->inc_all(one_up_each(keys))) == want);
      CHECK(env(c->get_all(keys)) == want);
      // The same keys, read one by one.
      if (n > 0) CHECK(env(c->get(keys.back())) == want.back());
    }
  }
}

TEST_CASE("batches: an empty batch returns at once, without I/O") {
  Proxy proxy(server().port());
  Env env(proxy.url());
  auto c = strict_on(env);
  env(c->get("warm"));  // the family's shard count is checked
  proxy.set(Proxy::Mode::drop_all);
  CHECK(env(c->inc_all({})).empty());
  CHECK(env(c->get_all(std::vector<std::string>{})).empty());
  CHECK(env(c->inc_all_if({})).empty());
}

TEST_CASE("batches: a bad key fails the whole batch before any I/O") {
  Env env;
  auto c = strict_on(env);
  const auto failure = env(failure_of(c->inc_all({{"good", 1}, {"bad\nkey", 1}, {"other", 1}})));
  REQUIRE(failure);
  CHECK(failure->code == errc::invalid_key);
  CHECK(failure->items == all_in(3, ItemState::not_applied));
  CHECK(env(c->get_all({"good", "other"})) == std::vector<std::int64_t>{0, 0});
  // A BatchError is an Error.
  CHECK(error_thrown_by([&] { env(c->get_all({"", "x"})); }) == errc::invalid_key);
}

TEST_CASE("batches: an item that would overflow int64 undoes its call: the call's items are not applied") {
  Env env;
  auto c = strict_on(env);
  env(c->set_all({{"near", int64_max - 1}, {"set", 5}}));
  const auto fresh = keys_0_to(50, "new");
  std::vector<Change> items;
  for (const auto& key : fresh) items.push_back({key, 1});
  items.push_back({"set", 10});       // written before the overflow
  items.push_back({"near", 1});       // to int64_max: fine
  items.push_back({"near", 1});       // over it
  const auto failure = env(failure_of(c->inc_all(items)));
  REQUIRE(failure);
  CHECK(failure->code == errc::overflow);
  CHECK(failure->items == all_in(items.size(), ItemState::not_applied));
  CHECK(env(c->get_all({"near", "set", "new0", "new49"})) == std::vector<std::int64_t>{int64_max - 1, 5, 0, 0});
  CHECK(server().command({"HEXISTS", "{" + env.prefix.str() + "}:totals", "new0"}) == "0");
}

TEST_CASE("batches: a batch of two calls on one sub-family whose second overflows reports the first applied") {
  Env env;
  auto c = strict_on(env);
  env(c->set("near", int64_max));
  const auto keys = keys_0_to(150);
  auto items = one_up_each(keys);
  items[120] = {"near", 1};
  const auto failure = env(failure_of(c->inc_all(items)));
  REQUIRE(failure);
  CHECK(failure->code == errc::overflow);
  States want = all_in(150, ItemState::applied);
  std::fill(want.begin() + 100, want.end(), ItemState::not_applied);
  CHECK(failure->items == want);
  CHECK(env(c->get_all({"k0", "k99", "k100", "k149"})) == std::vector<std::int64_t>{1, 100, 0, 0});
}

TEST_CASE("batches: a batch whose reply is lost reports its items unknown; an unsent one, not applied") {
  Proxy proxy(server().port());
  auto options = redis::ConnectionOptions::from_url(proxy.url());
  options.command_timeout = 200ms;
  Env env(options);
  auto c = strict_on(env);
  env(c->get("warm"));
  proxy.set(Proxy::Mode::drop_replies);  // Redis applies it; the reply never comes
  const auto lost = env(failure_of(c->inc_all({{"a", 1}, {"b", 1}})));
  REQUIRE(lost);
  CHECK(lost->code == errc::timeout);
  CHECK(lost->items == all_in(2, ItemState::unknown));
  const std::string totals = "{" + env.prefix.str() + "}:totals";
  CHECK(server().command({"HGET", totals, "a"}) == "1");  // it was applied
  proxy.heal();
}

TEST_CASE("batches: a 100-item strict batch is atomic: readers on another connection never see part of it",
          "[concurrency]") {
  Env env, reader_env;
  auto writer = strict_on(env);
  auto reader = strict_on(reader_env, env.prefix);
  const auto keys = keys_0_to(100);
  std::vector<Change> up;
  for (const auto& k : keys) up.push_back({k, 1});
  std::atomic<bool> writing{true};
  std::atomic<int> torn{0}, reads{0};
  std::thread t([&] {
    reader_env([&]() -> asio::awaitable<void> {
      while (writing) {
        const auto seen = co_await reader->get_all(keys);
        ++reads;
        if (std::adjacent_find(seen.begin(), seen.end(), std::not_equal_to<>()) != seen.end()) ++torn;
      }
    }());
  });
  env(concurrently(8, [&](int) -> asio::awaitable<void> {
    for (int i = 0; i < 50; ++i) co_await writer->inc_all(up);
  }));
  writing = false;
  t.join();
  CHECK(torn.load() == 0);
  CHECK(reads.load() > 0);
  CHECK(env(writer->get_all({"k0", "k99"})) == std::vector<std::int64_t>{400, 400});
}

// ---- StrictInstanceAwareCounter ---------------------------------------------------

TEST_CASE("batches: strict instance-aware batches compare and write as their single ops, in order") {
  Env env;
  auto mine = StrictInstanceAwareCounter::create({.prefix = env.prefix, .connection = env.conn});
  auto other = StrictInstanceAwareCounter::create({.prefix = env.prefix, .connection = env.conn});
  env(other->inc("k", 5));
  using O = Outcome<Counts>;
  CHECK(env(mine->inc_all_if({{"k", Compare::eq(5), 1}, {"k", Compare::eq(6), 2}, {"k", Compare::eq(0), 3}})) ==
        std::vector<O>{{{6, 1}, {5, 0}, true}, {{8, 3}, {6, 1}, true}, {{8, 3}, {8, 3}, false}});
  CHECK(env(mine->set_all_on_instance_if({{"k", Compare::eq(3), 10}, {"k", Compare::lt(10), 0}})) ==
        std::vector<O>{{{15, 10}, {8, 3}, true}, {{15, 10}, {15, 10}, false}});
  CHECK(env(mine->inc_all({{"k", 1}, {"j", 2}})) == std::vector<Counts>{{16, 11}, {2, 2}});
  CHECK(env(mine->set_all_on_instance({{"j", 7}})) == std::vector<Counts>{{7, 7}});
  CHECK(env(mine->get_all({"k", "j", "none"})) == std::vector<Counts>{{16, 11}, {7, 7}, {0, 0}});
  CHECK(env(other->get_all_on_instance({"k", "j"})) == std::vector<Counts>{{16, 5}, {7, 0}});
  CHECK(env(mine->set_all({{"k", 1}})) == std::vector<Counts>{{1, 1}});
  CHECK(env(mine->set_all_if({{"k", Compare::eq(1), 2}, {"k", Compare::eq(1), 3}})) ==
        std::vector<O>{{{2, 2}, {1, 1}, true}, {{2, 2}, {2, 2}, false}});
  env(mine->shutdown());
  env(other->shutdown());
}

TEST_CASE("batches: a strict instance-aware batch that would overflow leaves every key, slice and epoch as it "
          "was") {
  Env env;
  auto mine = StrictInstanceAwareCounter::create({.prefix = env.prefix, .connection = env.conn});
  auto other = StrictInstanceAwareCounter::create({.prefix = env.prefix, .connection = env.conn});
  env(other->set_on_instance("near", int64_max - 1));
  env(mine->inc("old", 4));
  const std::string base = "{" + env.prefix.str() + "}:ia:v2:";
  const auto snapshot = [&] {
    return std::vector<std::string>{server().command({"HGETALL", base + "cum"}),
                                    server().command({"HGETALL", base + "epoch"}),
                                    server().command({"HGETALL", base + "inst:" + mine->instance_id()})};
  };
  const auto before = snapshot();
  const auto failure = env(failure_of(mine->inc_all(
      {{"old", 1}, {"fresh", 3}, {"near", 1}, {"old", 2}, {"near", 1}})));
  REQUIRE(failure);
  CHECK(failure->code == errc::overflow);
  CHECK(failure->items == all_in(5, ItemState::not_applied));
  CHECK(snapshot() == before);
  const auto refused = env(failure_of(mine->set_all({{"a", 1}, {"b", int64_min}})));
  REQUIRE(refused);
  CHECK(refused->code == errc::overflow);
  env(mine->shutdown());
  env(other->shutdown());
}

TEST_CASE("batches: a strict instance-aware batch over four sub-families, 1,000 items with duplicates") {
  Env env;
  auto c = StrictInstanceAwareCounter::create({.prefix = env.prefix, .connection = env.conn, .shards = 4});
  const auto keys = keys_0_to(300);
  std::vector<Change> items;
  std::map<std::string, std::int64_t> model;
  std::vector<Counts> want;
  for (int i = 0; i < 1000; ++i) {
    const std::string& key = keys[i % 300];
    items.push_back({key, i});
    model[key] += i;
    want.push_back({model[key], model[key]});
  }
  // Keys are copied: the strings may go before the batch is awaited.
  auto op = [&] {
    std::vector<std::string> keys;
    for (const auto& item : items) keys.emplace_back(item.key);
    std::vector<Change> copy;
    for (std::size_t i = 0; i < items.size(); ++i) copy.push_back({keys[i], items[i].n});
    return c->inc_all(copy);
  }();
  CHECK(env(std::move(op)) == want);
  CHECK(env(c->get_all(keys_0_to(3))) == std::vector<Counts>{{model["k0"], model["k0"]}, {model["k1"], model["k1"]},
                                                            {model["k2"], model["k2"]}});
  env(c->shutdown());
}

// ---- LaxCounter, LaxInstanceAwareCounter -----------------------------------------

TEST_CASE("batches: a lax batch applies locally, in order, each position with its own result") {
  LaxFixture f;
  CHECK(f.env(f.lax->inc_all_if({{"k", Compare::eq(0), 1}, {"k", Compare::eq(1), 2}})) ==
        Outcomes{{1, 0, true}, {3, 1, true}});
  CHECK(f.env(f.lax->inc_all({{"k", 10}, {"j", 1}, {"k", -3}})) == std::vector<std::int64_t>{13, 1, 10});
  CHECK(f.env(f.lax->set_all({{"k", 5}, {"k", 6}})) == std::vector<std::int64_t>{5, 6});
  CHECK(f.env(f.lax->set_all_if({{"k", Compare::eq(6), 7}, {"j", Compare::eq(0), 9}})) ==
        Outcomes{{7, 6, true}, {1, 1, false}});
  CHECK(f.env(f.lax->get_all({"k", "missing", "j"})) == std::vector<std::int64_t>{7, 0, 1});
  f.env(f.lax->flush());
  CHECK(f.env(f.strict->get_all({"k", "j"})) == std::vector<std::int64_t>{7, 1});
  CHECK(f.env(f.lax->get_all(std::vector<std::string>{})).empty());
  // A set over a pending delta: the delta is taken into the set, not added on top.
  f.env(f.lax->inc_all({{"p", 5}}));
  CHECK(f.env(f.lax->set_all({{"p", 10}})) == std::vector<std::int64_t>{10});
  f.env(f.lax->flush());
  CHECK(f.env(f.strict->get("p")) == 10);
  f.env(f.lax->shutdown());
}

TEST_CASE("batches: a lax batch reads all the keys it must in one script call, then none for warm keys") {
  LaxFixture f;
  f.env(f.lax->get("warm"));  // the family's shard count is checked
  const auto keys = keys_0_to(150);
  const auto before = server().script_calls();
  CHECK(f.env(f.lax->inc_all(one_up_each(keys))).back() == 150);
  CHECK(server().script_calls() - before == 2);  // 150 unread keys: calls of 100 and 50
  const auto warm = server().script_calls();
  CHECK(f.env(f.lax->inc_all_if({{"k0", Compare::eq(1), 1}, {"k149", Compare::lt(0), 1}})) ==
        Outcomes{{2, 1, true}, {150, 150, false}});
  CHECK(server().script_calls() == warm);
  f.env(f.lax->shutdown());
}

TEST_CASE("batches: a lax item that would overflow stops the batch; the items before it are applied") {
  LaxFixture f;
  f.env(f.strict->set("near", int64_max));
  const auto failure = f.env(failure_of(f.lax->inc_all({{"a", 1}, {"near", 1}, {"b", 1}})));
  REQUIRE(failure);
  CHECK(failure->code == errc::overflow);
  CHECK(failure->items == States{ItemState::applied, ItemState::not_applied, ItemState::not_applied});
  CHECK(f.env(f.lax->get_all({"a", "near", "b"})) == std::vector<std::int64_t>{1, int64_max, 0});
  const auto bad = f.env(failure_of(f.lax->get_all({"a", ""})));
  REQUIRE(bad);
  CHECK(bad->code == errc::invalid_key);
  f.env(f.lax->shutdown());
  CHECK(f.env(failure_of(f.lax->get_all({"a"})))->code == errc::shut_down);
}

TEST_CASE("batches: lax instance-aware set_all flushes every pending delta first, fresh ones too, then sets") {
  Env env;
  auto lax = LaxInstanceAwareCounter::create(
      {.prefix = env.prefix, .connection = env.conn, .flush_interval = std::chrono::hours(1)});
  auto strict = StrictInstanceAwareCounter::create({.prefix = env.prefix, .connection = env.conn});
  env(lax->inc_all({{"k", 5}, {"j", 2}}));  // pending, fresh
  CHECK(env(lax->set_all({{"k", 10}, {"k", 11}})) == std::vector<Counts>{{10, 10}, {11, 11}});
  CHECK(env(lax->get_all({"k", "j"})) == std::vector<Counts>{{11, 11}, {2, 2}});
  env(lax->flush());
  const std::string cum = "{" + env.prefix.str() + "}:ialax:v2:cum";
  CHECK(server().command({"HGET", cum, "k"}) == "11");  // not 16: the 5 went in before the set
  CHECK(server().command({"HGET", cum, "j"}) == "2");
  using O = Outcome<Counts>;
  CHECK(env(lax->set_all_if({{"k", Compare::eq(11), 1}, {"j", Compare::eq(0), 1}})) ==
        std::vector<O>{{{1, 1}, {11, 11}, true}, {{2, 2}, {2, 2}, false}});
  CHECK(env(lax->inc_all_if({{"k", Compare::eq(1), 1}, {"k", Compare::eq(1), 1}})) ==
        std::vector<O>{{{2, 2}, {1, 1}, true}, {{2, 2}, {2, 2}, false}});
  CHECK(env(lax->set_all_on_instance({{"k", 7}})) == std::vector<Counts>{{7, 7}});
  CHECK(env(lax->set_all_on_instance_if({{"k", Compare::eq(7), 3}})) == std::vector<O>{{{3, 3}, {7, 7}, true}});
  CHECK(env(lax->get_all_on_instance({"k"})) == std::vector<Counts>{{3, 3}});
  const auto refused = env(failure_of(lax->inc_all({{"k", int64_min}})));
  REQUIRE(refused);
  CHECK(refused->code == errc::overflow);
  env(lax->shutdown());
  env(strict->shutdown());
}

// ---- what a hostile review found ----------------------------------------------------

static_assert(!std::is_constructible_v<Change, std::string, std::int64_t>, "a temporary string's view would dangle");
static_assert(!std::is_constructible_v<ConditionalChange, std::string, Compare, std::int64_t>);
static_assert(std::is_constructible_v<Change, std::string&, std::int64_t>);
static_assert(std::is_constructible_v<Change, const char*, std::int64_t>);

TEST_CASE("batches: get_all keeps the keys a range makes as temporaries") {
  Env env;
  auto c = strict_on(env);
  env(c->inc_all({{"user1", 1}, {"user2", 2}, {"user3", 3}}));
  const std::vector<int> ids{3, 1, 2};
  auto names = ids | std::views::transform([](int i) { return fmt::format("user{}", i); });
  CHECK(env(c->get_all(names)) == std::vector<std::int64_t>{3, 1, 2});
}

TEST_CASE("batches: a call that fails part-way (a field that is no integer) leaves what it wrote as it was") {
  Env env;
  auto c = strict_on(env);
  const std::string totals = "{" + env.prefix.str() + "}:totals";
  server().command({"HSET", totals, "x", "abc"});
  const auto failure = env(failure_of(c->inc_all({{"a", 1}, {"x", 1}})));
  REQUIRE(failure);
  CHECK(failure->code == errc::script_error);
  CHECK(server().command({"HEXISTS", totals, "a"}) == "0");
  auto ia = StrictInstanceAwareCounter::create({.prefix = env.prefix, .connection = env.conn});
  env(ia->inc("a", 2));
  const std::string cum = "{" + env.prefix.str() + "}:ia:v2:cum";
  server().command({"HSET", cum, "x", "abc"});
  CHECK(env(failure_of(ia->inc_all({{"a", 1}, {"x", 1}})))->code == errc::script_error);
  CHECK(server().command({"HGET", cum, "a"}) == "2");
  env(ia->shutdown());
}

TEST_CASE("batches: a lax batch answers stale keys from its cache when Redis cannot be read, as get does") {
  Proxy proxy(server().port());
  auto options = redis::ConnectionOptions::from_url(proxy.url());
  options.command_timeout = 200ms;
  Env env(options);
  auto lax = LaxCounter::create({.prefix = env.prefix, .connection = env.conn, .allowed_lag = 50ms});
  env(lax->inc_all({{"a", 3}, {"b", 4}}));
  env(lax->flush());
  env(sleep_for(120ms));  // stale now
  proxy.set(Proxy::Mode::drop_all);
  CHECK(env(lax->get_all({"a", "b"})) == std::vector<std::int64_t>{3, 4});
  CHECK(env(lax->inc_all_if({{"a", Compare::eq(3), 1}})) == Outcomes{{4, 3, true}});
  // A key never read cannot be answered: the batch fails, nothing applied.
  const auto failure = env(failure_of(lax->inc_all({{"a", 1}, {"new", 1}})));
  REQUIRE(failure);
  CHECK(failure->items == all_in(2, ItemState::not_applied));
  proxy.heal();
  env(lax->shutdown());
}

TEST_CASE("batches: a lax batch with allowed_lag 0 reads its keys once; set_all flushes only its own keys") {
  Env env;
  auto lax = LaxInstanceAwareCounter::create({.prefix = env.prefix,
                                              .connection = env.conn,
                                              .flush_interval = std::chrono::hours(1),
                                              .allowed_lag = 0ms});
  env(lax->get("warm"));
  const auto keys = keys_0_to(50);
  auto before = server().script_calls();
  CHECK(env(lax->get_all(keys)).size() == 50);
  CHECK(server().script_calls() - before == 1);
  const auto others = keys_0_to(1000, "other");
  for (const auto& k : others) lax->add(k, 1);  // pending, never read
  env(lax->inc("k", 1));
  before = server().script_calls();
  CHECK(env(lax->set_all({{"k", 5}})) == std::vector<Counts>{{5, 5}});
  CHECK(server().script_calls() - before == 2);  // k's flush, then the set: the 1,000 others wait
  CHECK(lax->stats().pending_keys == 1000);
  env(lax->shutdown());
}

static_assert(!std::is_constructible_v<Change, RedisKey, std::int64_t>, "an owning temporary's view would dangle");
static_assert(!std::is_convertible_v<const char*, Change>, "a lone key is no change");

TEST_CASE("batches: get_all copies keys that a range makes or reads once, of any owning type") {
  Env env;
  auto c = strict_on(env);
  env(c->inc_all({{"user1", 1}, {"user2", 2}, {"user3", 3}}));
  const std::vector<std::string> names{"user3", "user1"};
  auto keys = names | std::views::transform([](const std::string& n) { return RedisKey(n); });
  CHECK(env(c->get_all(keys)) == std::vector<std::int64_t>{3, 1});
  std::istringstream in("user2 user3 user1");
  CHECK(env(c->get_all(std::views::istream<std::string>(in))) == std::vector<std::int64_t>{2, 3, 1});
  CHECK(env(c->get_all(std::vector<std::string>{"user2", "user1"})) == std::vector<std::int64_t>{2, 1});
}

TEST_CASE("batches: a lax inc_all of 0 on a stale key reads it, as inc of 0 does; sets to the same value read "
          "nothing more") {
  LaxFixture f;
  auto lax = LaxCounter::create({.prefix = f.env.prefix, .connection = f.env.conn, .allowed_lag = 50ms});
  f.env(lax->inc("k", 1));
  f.env(lax->flush());
  f.env(f.strict->set("k", 100));
  f.env(sleep_for(120ms));
  CHECK(f.env(lax->inc_all({{"k", 0}})) == std::vector<std::int64_t>{100});
  f.env(sleep_for(120ms));
  const auto before = server().script_calls();
  CHECK(f.env(lax->set_all({{"k", 100}, {"k", 100}})) == std::vector<std::int64_t>{100, 100});
  CHECK(server().script_calls() - before == 1);  // the batch read: no read per item
  f.env(lax->shutdown());
  f.env(f.lax->shutdown());
}

TEST_CASE("batches: on four sub-families, a call that fails leaves the other sub-families' calls applied") {
  Env env;
  auto c = sharded_on(env, 4);
  env(c->set("near", int64_max));
  const auto keys = keys_0_to(20);
  auto items = one_up_each(keys);
  items.push_back({"near", 1});
  const auto failure = env(failure_of(c->inc_all(items)));
  REQUIRE(failure);
  CHECK(failure->code == errc::overflow);
  const std::size_t failed = detail::sub_family_of("near", 4);
  States want;
  std::vector<std::int64_t> totals;
  for (std::size_t i = 0; i < keys.size(); ++i) {
    const bool applied = detail::sub_family_of(keys[i], 4) != failed;
    want.push_back(applied ? ItemState::applied : ItemState::not_applied);
    totals.push_back(applied ? static_cast<std::int64_t>(i) + 1 : 0);
  }
  want.push_back(ItemState::not_applied);
  CHECK(failure->items == want);
  CHECK(env(c->get_all(keys)) == totals);
}

TEST_CASE("batches: a batch after the script cache was flushed is sent again as EVAL and applied once") {
  Env env;
  auto c = strict_on(env);
  auto ia = StrictInstanceAwareCounter::create({.prefix = env.prefix, .connection = env.conn});
  env(c->inc_all({{"a", 1}}));
  env(ia->inc_all({{"a", 1}}));
  server().command({"SCRIPT", "FLUSH"});
  CHECK(env(c->inc_all({{"a", 1}, {"b", 2}})) == std::vector<std::int64_t>{2, 2});
  server().command({"SCRIPT", "FLUSH"});
  CHECK(env(ia->inc_all({{"a", 1}, {"b", 2}})) == std::vector<Counts>{{2, 2}, {2, 2}});
  env(ia->shutdown());
}
