// Randomized model test of StrictInstanceAwareCounter: random ops (single,
// conditional and batch) by 4-6 instances of mixed thresholds, with pauses long enough to get some of them
// reaped (parked) and back, re-sent flush batches, and replies the client
// never reads. After every script call it checks, read straight from Redis:
// - SPEC's invariant: each cumulative is the sum of the current slices in
//   the instance hashes (the counted ones);
// - each instance's slice, as a plain in-memory model says it must be, is
//   either counted or parked, never both, never lost;
// - the reply: the caller's slice as the model says.
// At the end, with the work done, the counted slices are exactly the live
// instances'. Run with one sub-family and with eight (the options' shards),
// where all of this holds in each sub-family. Seeded; the seed is printed on
// failure and DISTKIT_SEED=<n> replays it.
#include <algorithm>
#include <future>

#include <asio/post.hpp>
#include <cstdlib>
#include <map>
#include <random>
#include <set>
#include <sstream>

#include "instance_aware_support.hpp"
#include "shards/layout.hpp"

using namespace distkit;
using namespace distkit::test;

namespace {

const std::vector<std::string> keys = {"a", "b", "c", "d"};

// SPEC section 1, as plain data: each instance's slice of each key, with
// the key's epoch (a version) when it was written.
struct Model {
  struct Slice {
    std::int64_t value;
    std::int64_t epoch;
  };
  std::map<std::string, std::int64_t> epoch;
  std::vector<std::map<std::string, Slice>> slices;

  explicit Model(int n) : slices(n) {}

  std::int64_t current(int i, const std::string& k) {
    auto it = slices[i].find(k);
    return it != slices[i].end() && it->second.epoch == epoch[k] ? it->second.value : 0;
  }
  void write(int i, const std::string& k, std::int64_t v) { slices[i][k] = {v, epoch[k]}; }
};

std::map<std::string, std::string> hgetall(const std::string& key) {
  std::istringstream in(server().command({"HGETALL", key}));
  std::map<std::string, std::string> out;
  std::string f, v;
  while (in >> f >> v) out[f] = v;
  return out;
}

// The current slice of key in an instance or park hash (0 if none or stale).
std::int64_t current_in(const std::map<std::string, std::string>& hash, const std::map<std::string, std::string>& epochs,
                        const std::string& key) {
  auto s = hash.find("s:" + key), e = hash.find("e:" + key);
  auto now = epochs.find(key);
  if (s == hash.end() || e == hash.end() || now == epochs.end() || e->second != now->second) return 0;
  return std::stoll(s->second);
}

// One of every kind of comparison, against `v`.
Compare comparison(int kind, std::int64_t v) {
  const Compare all[] = {Compare::eq(v), Compare::ne(v), Compare::lt(v), Compare::le(v),
                         Compare::gt(v), Compare::ge(v), Compare::always()};
  return all[kind];
}

// An item of a batch, or a single op, and what Redis answered for it.
struct Item {
  std::string op;  // inc, set, set_on_instance, get, or one of the first three with _if
  std::string key;
  std::int64_t operand;
  Compare cmp;
};

}  // namespace

TEST_CASE("instance-aware model: random ops, deaths, returns and re-sent batches keep every slice once, in each "
          "sub-family") {
  const std::size_t shards = GENERATE(1, 8);
  const char* env_seed = std::getenv("DISTKIT_SEED");
  const unsigned seed = env_seed ? static_cast<unsigned>(std::stoul(env_seed)) : std::random_device{}();
  INFO("seed " << seed << " (replay with DISTKIT_SEED=" << seed << "), shards " << shards);
  std::mt19937 rng(seed);
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };

  Env env;
  const int n = pick(4, 6);
  std::vector<std::shared_ptr<Strict>> cs;  // they never heartbeat on their own; thresholds differ
  for (int i = 0; i < n; ++i) cs.push_back(strict(env, i % 2 ? 150ms : 400ms, shards));
  // The key names of each sub-family, and of a key's.
  std::vector<std::string> bases;
  for (const auto& tag : detail::shards::tags(env.prefix.str(), shards)) bases.push_back("{" + tag + "}:ia:v2:");
  auto base_of = [&](const std::string& key) -> const std::string& { return bases[detail::sub_family_of(key, shards)]; };
  Model m(n);
  std::vector<std::uint64_t> sequence(n, 0);             // of each instance's last flush batch
  std::vector<std::vector<detail::KeyDelta>> last(n);    // and that batch

  // Checks Redis against the model; `i`'s reply to a single-key op on k.
  auto check_redis = [&](int i, const std::string& k, const Counts* reply) {
    std::map<std::string, std::map<std::string, std::string>> hashes;  // read once per check
    auto hash = [&](const std::string& name) -> const std::map<std::string, std::string>& {
      auto it = hashes.find(name);
      if (it == hashes.end()) it = hashes.emplace(name, hgetall(name)).first;
      return it->second;
    };
    for (const auto& key : keys) {
      const std::string& base = base_of(key);
      const auto& epochs = hash(base + "epoch");
      std::int64_t counted = 0;
      for (int x = 0; x < n; ++x) {
        const std::int64_t in = current_in(hash(base + "inst:" + cs[x]->instance_id()), epochs, key),
                           parked = current_in(hash(base + "park:" + cs[x]->instance_id()), epochs, key);
        INFO("instance " << x << ", key " << key << ": counted " << in << ", parked " << parked);
        CHECK((in == 0 || parked == 0));             // never both
        CHECK(in + parked == m.current(x, key));  // never lost, never twice
        counted += in;
      }
      INFO("key " << key);
      const auto& cum = hash(base + "cum");
      const std::int64_t redis_cum = cum.count(key) ? std::stoll(cum.at(key)) : 0;
      REQUIRE(redis_cum == counted);
    }
    // (A reply's cumulative is not checked: background steps of other calls
    // may have moved slices since.)
    if (reply) CHECK(reply->instance == m.current(i, k));
  };

  env([&]() -> asio::awaitable<void> {
    int pauses = 0;
    for (int step = 0; step < 2500; ++step) {
      const int i = pick(0, n - 1);
      const std::string& k = keys[pick(0, static_cast<int>(keys.size()) - 1)];
      const std::int64_t operand = pick(-5, 20);
      const int what = pick(0, 119);
      const bool read_reply = pick(0, 9) != 0;  // else as if the reply were lost: Redis applied it all the same
      if (what < 1 && pauses < 8) {  // a process pause: everyone else must see it die
        ++pauses;
        co_await sleep_for(450ms);
        continue;
      }
      std::string op;
      Counts got{};
      std::vector<Counts> got_batch;
      std::vector<detail::KeyDelta> batch;
      bool resend = false;
      if (what >= 25 && what < 35) {  // some keys in random order, a third of them with a delta of 0
        resend = !last[i].empty() && pick(0, 3) == 0;
        if (resend) {
          batch = last[i];
        } else {
          std::vector<std::string> some = keys;
          std::shuffle(some.begin(), some.end(), rng);
          some.resize(static_cast<std::size_t>(pick(1, static_cast<int>(keys.size()))));
          for (const auto& key : some) batch.push_back({key, pick(0, 2) == 0 ? 0 : pick(-5, 20)});
          last[i] = batch;
          ++sequence[i];
        }
      }
      if (what < 25) op = "inc", got = co_await cs[i]->inc(k, operand);
      else if (what < 35) op = resend ? "re-sent flush" : "flush",
                          got_batch = co_await flush_batch(*cs[i], sequence[i], batch);
      else if (what < 50) op = "get", got = co_await cs[i]->get(k);
      else if (what < 58) op = "set", got = co_await cs[i]->set(k, operand);
      else if (what < 70) op = "set_on_instance", got = co_await cs[i]->set_on_instance(k, operand);
      else if (what < 76) op = "del", got = co_await cs[i]->del(k);
      else if (what < 86) op = "del_on_instance", got = co_await cs[i]->del_on_instance(k);
      else if (what < 91) op = "clear_on_instance", co_await cs[i]->clear_on_instance();
      else if (what < 92) op = "clear", co_await cs[i]->clear();
      else if (what < 100) op = "heartbeat", co_await cs[i]->heartbeat();
      else op = "items";
      // Conditional ops, single (what < 108) or in a batch of 1-5 items (a
      // key may come twice), and batches of the other ops.
      std::vector<Item> items;
      std::vector<Outcome<Counts>> outcomes;
      std::vector<Counts> batch_counts;
      if (op == "items") {
        static const std::string kinds[] = {"inc_if", "set_if", "set_on_instance_if", "inc", "set", "set_on_instance",
                                            "get"};
        const bool single = what < 108;
        const std::string kind = kinds[pick(0, single ? 2 : 6)];
        const int count = single ? 1 : pick(1, 5);
        for (int j = 0; j < count; ++j)
          items.push_back({kind, keys[pick(0, static_cast<int>(keys.size()) - 1)], pick(-5, 20),
                           comparison(pick(0, 6), pick(-5, 30))});
        std::vector<ConditionalChange> changes;
        std::vector<std::string_view> names;
        for (const auto& item : items) changes.push_back({item.key, item.cmp, item.operand}), names.push_back(item.key);
        std::vector<Change> plain;
        for (const auto& c : changes) plain.push_back({c.key, c.n});
        if (single && kind == "inc_if") outcomes.push_back(co_await cs[i]->inc_if(items[0].key, items[0].cmp, items[0].operand));
        else if (single && kind == "set_if") outcomes.push_back(co_await cs[i]->set_if(items[0].key, items[0].cmp, items[0].operand));
        else if (single) outcomes.push_back(co_await cs[i]->set_on_instance_if(items[0].key, items[0].cmp, items[0].operand));
        else if (kind == "inc_if") outcomes = co_await cs[i]->inc_all_if(changes);
        else if (kind == "set_if") outcomes = co_await cs[i]->set_all_if(changes);
        else if (kind == "set_on_instance_if") outcomes = co_await cs[i]->set_all_on_instance_if(changes);
        else if (kind == "inc") batch_counts = co_await cs[i]->inc_all(plain);
        else if (kind == "set") batch_counts = co_await cs[i]->set_all(plain);
        else if (kind == "set_on_instance") batch_counts = co_await cs[i]->set_all_on_instance(plain);
        else batch_counts = co_await cs[i]->get_all(names);
        op = single ? kind : kind + " batch";
      }
      std::ostringstream batch_text;
      for (const auto& [key, delta] : batch) batch_text << ' ' << std::string_view(key) << ' ' << delta;
      for (const auto& item : items) batch_text << ' ' << item.key << ' ' << item.cmp << ' ' << item.operand;
      INFO("step " << step << ": instance " << i << ' ' << op << '(' << k << ", " << operand << ')'
                   << batch_text.str());

      // The model, as SPEC says.
      const std::int64_t mine = m.current(i, k);
      bool one_key_reply = read_reply;
      if (op == "inc") m.write(i, k, mine + operand);
      else if (op == "set") ++m.epoch[k], m.write(i, k, operand);
      else if (op == "set_on_instance") m.write(i, k, operand);
      else if (op == "del") ++m.epoch[k], m.slices[i].erase(k), one_key_reply = false;  // replies the old counts
      else if (op == "del_on_instance") m.slices[i].erase(k), one_key_reply = false;
      else if (op == "clear_on_instance") m.slices[i].clear();
      else if (op == "clear") for (const auto& key : keys) ++m.epoch[key];
      if (op == "del" || op == "del_on_instance") CHECK((!read_reply || got.instance == mine));
      if (op.ends_with("flush")) {
        std::map<std::string, int> times;
        for (const auto& kd : batch) ++times[std::string(kd.key)];
        for (std::size_t j = 0; j < batch.size(); ++j) {
          const std::string key(batch[j].key);
          if (op == "flush" && batch[j].delta != 0) m.write(i, key, m.current(i, key) + batch[j].delta);
          INFO("batch key " << key);
          if (read_reply && times[key] == 1) CHECK(got_batch[j].instance == m.current(i, key));
        }
        one_key_reply = false;
      }
      // Items apply in order, each as its single op: a conditional one if
      // its comparison held against the values before it (the caller's
      // slice as the model says; the cumulative as Redis said).
      for (std::size_t j = 0; j < items.size(); ++j) {
        const Item& item = items[j];
        const std::int64_t before = m.current(i, item.key);
        INFO("item " << j << ": " << item.op << '(' << item.key << ", " << item.cmp << ", " << item.operand << ')');
        bool applies = true;
        std::string write = item.op;
        if (item.op.ends_with("_if")) {
          const Outcome<Counts>& o = outcomes.at(j);
          CHECK(o.previous.instance == before);
          write.resize(write.size() - 3);
          CHECK(o.applied == item.cmp.holds(write == "set_on_instance" ? before : o.previous.cumulative));
          applies = o.applied;
          if (!applies) CHECK(o.value == o.previous);
        }
        if (applies && write == "inc") m.write(i, item.key, before + item.operand);
        else if (applies && write == "set") ++m.epoch[item.key], m.write(i, item.key, item.operand);
        else if (applies && write == "set_on_instance") m.write(i, item.key, item.operand);
        const Counts after = item.op.ends_with("_if") ? outcomes.at(j).value : batch_counts.at(j);
        CHECK(after.instance == m.current(i, item.key));
      }
      const bool has_counts = op == "inc" || op == "get" || op == "set" || op == "set_on_instance";
      check_redis(i, k, one_key_reply && has_counts ? &got : nullptr);
    }

    // The work done (every jobs step driven by heartbeats), the counted
    // slices are exactly the live instances'.
    const bool settled = co_await eventually([&]() -> asio::awaitable<bool> {
      for (auto& c : cs) co_await c->heartbeat();
      co_return std::all_of(bases.begin(), bases.end(),
                            [](const std::string& base) { return server().command({"ZCARD", base + "jobs"}) == "0"; });
    });
    CHECK(settled);
    check_redis(0, keys[0], nullptr);
    for (const auto& base : bases)
      for (int x = 0; x < n; ++x) CHECK(server().command({"EXISTS", base + "park:" + cs[x]->instance_id()}) == "0");

    // A leave takes every slice out for good, and ops still in flight when it
    // starts bring none back: each either ran before it or fails.
    const int leaver = pick(0, n - 1);
    auto ex = co_await asio::this_coro::executor;
    std::vector<std::future<Counts>> in_flight;
    for (int j = 0; j < 8; ++j) in_flight.push_back(asio::co_spawn(ex, cs[leaver]->inc(keys[j % 4], 1), asio::use_future));
    co_await asio::post(ex, asio::use_awaitable);  // they start, and are sent ahead of the leave
    co_await cs[leaver]->shutdown();
    const bool landed = co_await eventually([&]() -> asio::awaitable<bool> {
      co_return std::all_of(in_flight.begin(), in_flight.end(),
                            [](auto& f) { return f.wait_for(0s) == std::future_status::ready; });
    });
    REQUIRE(landed);
    for (auto& f : in_flight) {
      try {
        f.get();
      } catch (const Error& e) {
        CHECK(e.value() == errc::shut_down);
      }
    }
    m.slices[leaver].clear();
    check_redis(0, keys[0], nullptr);
    for (const auto& base : bases)
      CHECK(server().command({"HEXISTS", base + "inst:" + cs[leaver]->instance_id(), "left"}) == "1");
  }(), 300s);
}
