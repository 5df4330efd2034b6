// Randomized model test of StrictInstanceAwareCounter: random ops by 4-6
// instances, with pauses long enough to get some of them reaped, checked
// after every step against a plain in-memory model and against SPEC's
// invariant read straight from Redis. Seeded; the seed is printed on failure
// and DISTKIT_SEED=<n> replays it.
#include <algorithm>
#include <cstdlib>
#include <map>
#include <random>
#include <set>
#include <sstream>

#include "instance_aware_support.hpp"

using namespace distkit;
using namespace distkit::test;

namespace {

constexpr auto threshold = 150ms;
const std::vector<std::string> keys = {"a", "b", "c", "d"};

struct Slice {
  std::int64_t value;
  std::int64_t epoch;
};
struct Known {
  std::int64_t slice = 0;
  std::int64_t epoch = 0;
};

// SPEC section 1, as plain data.
struct Model {
  std::map<std::string, std::int64_t> epoch;       // missing = 0
  std::map<std::string, std::int64_t> cumulative;  // missing = absent
  std::vector<std::map<std::string, Slice>> slices;
  std::vector<std::map<std::string, Known>> known;  // what each client was acknowledged
  std::set<int> live;

  explicit Model(int n) : slices(n), known(n) {}

  std::int64_t current(int i, const std::string& k) {
    auto it = slices[i].find(k);
    return it != slices[i].end() && it->second.epoch == epoch[k] ? it->second.value : 0;
  }
  void reap(int d) {
    for (auto& [k, s] : slices[d])
      if (s.epoch == epoch[k] && s.value != 0) cumulative[k] -= s.value;
    slices[d].clear();
    live.erase(d);
  }
  void restore(int i, const std::string& k) {
    const Known kn = known[i][k];
    if (kn.slice == 0 || kn.epoch != epoch[k] || slices[i].count(k)) return;
    slices[i][k] = {kn.slice, epoch[k]};
    cumulative[k] += kn.slice;
  }
  void remember(int i, const std::string& k, std::int64_t slice) { known[i][k] = {slice, epoch[k]}; }
};

// One op as the test ran it.
struct Step {
  int i;  // the calling instance
  std::string op, key;
  std::int64_t operand;
  const std::vector<detail::KeyDelta>& batch;  // of a flush
};

// What an op's reply must be. `one`: of a single-key op; `batch`: of a flush.
struct Want {
  Counts one;
  std::vector<Counts> batch;
  friend bool operator==(const Want&, const Want&) = default;
  friend std::ostream& operator<<(std::ostream& os, const Want& w) {
    os << w.one << " [";
    for (const auto& c : w.batch) os << ' ' << c;
    return os << " ]";
  }
};

// Whether the op replies with counts.
bool reads_back(const std::string& op) { return op != "clear_on_instance" && op != "clear" && op != "heartbeat"; }

// Applies the op to the model as SPEC says; returns the reply it must get.
Want apply(Model& m, const Step& s) {
  const int i = s.i;
  const std::string& k = s.key;
  const std::int64_t operand = s.operand;
  const std::string& op = s.op;
  m.live.insert(i);
  if (reads_back(op) && op != "flush") m.restore(i, k);
  const std::int64_t mine = m.current(i, k);
  auto total = [&](const std::string& key) { return m.cumulative.count(key) ? m.cumulative[key] : 0; };
  Want want{};
  if (op == "flush") {  // each key as an inc, but a delta of 0 only reads
    for (const auto& [batch_key, delta] : s.batch) {
      const std::string key(batch_key);
      m.restore(i, key);
      const std::int64_t slice = m.current(i, key) + delta;
      if (delta != 0) {
        m.cumulative[key] += delta;
        m.slices[i][key] = {slice, m.epoch[key]};
      }
      want.batch.push_back({total(key), slice});
      m.remember(i, key, slice);
    }
  } else if (op == "inc") {
    m.cumulative[k] += operand;
    m.slices[i][k] = {mine + operand, m.epoch[k]};
    want.one = {m.cumulative[k], mine + operand};
    m.remember(i, k, mine + operand);
  } else if (op == "get") {
    want.one = {total(k), mine};
    m.remember(i, k, mine);
  } else if (op == "set") {
    ++m.epoch[k];
    m.cumulative[k] = operand;
    m.slices[i][k] = {operand, m.epoch[k]};
    want.one = {operand, operand};
    m.remember(i, k, operand);
  } else if (op == "set_on_instance") {
    m.cumulative[k] += operand - mine;
    m.slices[i][k] = {operand, m.epoch[k]};
    want.one = {m.cumulative[k], operand};
    m.remember(i, k, operand);
  } else if (op == "del") {
    want.one = {total(k), mine};
    ++m.epoch[k];
    m.cumulative.erase(k);
    m.slices[i].erase(k);
    m.remember(i, k, 0);
  } else if (op == "del_on_instance") {
    if (mine != 0) m.cumulative[k] -= mine;
    m.slices[i][k] = {0, m.epoch[k]};
    want.one = {total(k), mine};
    m.remember(i, k, 0);
  } else if (op == "clear_on_instance") {
    for (auto& [key, slice] : m.slices[i])
      if (slice.epoch == m.epoch[key] && slice.value != 0) m.cumulative[key] -= slice.value, slice.value = 0;
    for (auto& [key, kn] : m.known[i]) kn.slice = 0;
  } else if (op == "clear") {
    for (auto& [key, sum] : m.cumulative) ++m.epoch[key];
    m.cumulative.clear();
    for (auto& slices : m.slices) slices.clear();
    m.live.clear();
    m.known[i].clear();
  }
  return want;
}

std::map<std::string, std::string> hgetall(const std::string& key) {
  std::istringstream in(server().command({"HGETALL", key}));
  std::map<std::string, std::string> out;
  std::string f, v;
  while (in >> f >> v) out[f] = v;
  return out;
}

}  // namespace

TEST_CASE("instance-aware model: random ops, deaths and returns keep the invariant") {
  const char* env_seed = std::getenv("DISTKIT_SEED");
  const unsigned seed = env_seed ? static_cast<unsigned>(std::stoul(env_seed)) : std::random_device{}();
  INFO("seed " << seed << " (replay with DISTKIT_SEED=" << seed << ")");
  std::mt19937 rng(seed);
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };

  Env env;
  const int n = pick(4, 6);
  const auto cs = fleet(env, n, threshold);  // they never heartbeat on their own
  const std::string base = ia_key(env, "");
  Model m(n);
  std::vector<std::uint64_t> sequence(n, 0);  // of each instance's last flush batch

  env([&]() -> asio::awaitable<void> {
    int pauses = 0;
    for (int step = 0; step < 3000; ++step) {
      const int i = pick(0, n - 1);
      const std::string& k = keys[pick(0, static_cast<int>(keys.size()) - 1)];
      const std::int64_t operand = pick(-5, 20);
      const int what = pick(0, 99);
      if (what < 1 && pauses < 8) {  // a process pause: everyone else must see it die
        ++pauses;
        co_await sleep_for(threshold + 50ms);
        continue;
      }
      Counts got{};
      std::string op;
      // A flush batch: some of the keys, in random order, a third of them with a delta of 0.
      std::vector<detail::KeyDelta> batch;
      std::vector<Counts> got_batch;
      if (what >= 25 && what < 35) {
        std::vector<std::string> some = keys;
        std::shuffle(some.begin(), some.end(), rng);
        some.resize(static_cast<std::size_t>(pick(1, static_cast<int>(keys.size()))));
        for (const auto& key : some) batch.push_back({key, pick(0, 2) == 0 ? 0 : pick(-5, 20)});
      }
      auto run_op = [&]() -> asio::awaitable<void> {
        if (what < 25) op = "inc", got = co_await cs[i]->inc(k, operand);
        else if (what < 35) op = "flush", got_batch = (co_await cs[i]->inc_batch(0, ++sequence[i], batch)).value;
        else if (what < 50) op = "get", got = co_await cs[i]->get(k);
        else if (what < 58) op = "set", got = co_await cs[i]->set(k, operand);
        else if (what < 70) op = "set_on_instance", got = co_await cs[i]->set_on_instance(k, operand);
        else if (what < 76) op = "del", got = co_await cs[i]->del(k);
        else if (what < 86) op = "del_on_instance", got = co_await cs[i]->del_on_instance(k);
        else if (what < 91) op = "clear_on_instance", co_await cs[i]->clear_on_instance();
        else if (what < 92) op = "clear", co_await cs[i]->clear();
        else op = "heartbeat", co_await cs[i]->heartbeat();
      };
      co_await run_op();
      std::ostringstream batch_text;
      for (const auto& [key, delta] : batch) batch_text << ' ' << std::string_view(key) << ' ' << delta;
      INFO("step " << step << ": instance " << i << ' ' << op << '(' << k << ", " << operand << ')'
                   << (op == "flush" ? " batch" + batch_text.str() : ""));

      // Whom did that step reap? Redis tells: those the model had live and
      // Redis no longer has. A caller that had been reaped itself makes a
      // second call (its restore), which reaps too: each of those could have
      // left before or after the op itself, and the op's reply may show either.
      std::set<std::string> redis_live;
      {
        std::istringstream in(server().command({"ZRANGE", base + "live", "0", "-1"}));
        std::string id;
        while (in >> id) redis_live.insert(id);
      }
      std::vector<int> reaped;
      if (op != "clear")
        for (int d : m.live)
          if (d != i && !redis_live.count(cs[d]->instance_id())) reaped.push_back(d);
      const bool was_absent = !m.live.count(i);
      const Step s{i, op, k, operand, batch};
      const std::size_t orders = was_absent ? std::size_t{1} << reaped.size() : 1;
      std::vector<Want> allowed;
      std::vector<Model> outcomes;
      for (std::size_t after = 0; after < orders; ++after) {  // bit d set: reaped[d] left after the op
        Model& mm = outcomes.emplace_back(m);
        for (std::size_t d = 0; d < reaped.size(); ++d)
          if (!(after >> d & 1)) mm.reap(reaped[d]);
        allowed.push_back(apply(mm, s));
        for (std::size_t d = 0; d < reaped.size(); ++d)
          if (after >> d & 1) mm.reap(reaped[d]);
        if (was_absent && op != "clear")
          for (const auto& key : keys) mm.restore(i, key);  // the client offers back all it knows
      }
      const Want reply{reads_back(op) ? got : Counts{}, got_batch};
      const auto match = std::find(allowed.begin(), allowed.end(), reply);
      std::ostringstream allowed_text;
      for (const auto& w : allowed) allowed_text << "\n  " << w;
      INFO("reply " << reply << "; reaped in this step: " << reaped.size()
                    << (was_absent ? ", and the caller before" : "") << "; the model allows:" << allowed_text.str());
      const bool reply_allowed = match != allowed.end();
      CHECK(reply_allowed);
      m = std::move(outcomes[reply_allowed ? static_cast<std::size_t>(match - allowed.begin()) : 0]);

      // The invariant, read from Redis: cumulative == sum of live current-epoch slices.
      const auto cum = hgetall(base + "cum");
      const auto epochs = hgetall(base + "epoch");
      std::map<std::string, std::int64_t> sum;
      for (const auto& id : redis_live) {
        const auto inst = hgetall(base + "inst:" + id);
        for (const auto& [field, value] : inst) {
          if (!field.starts_with("s:")) continue;
          const std::string key = field.substr(2);
          const std::string e = epochs.count(key) ? epochs.at(key) : "0";
          if (inst.at("e:" + key) == e) sum[key] += std::stoll(value);
        }
      }
      for (const auto& key : keys) {
        const std::int64_t redis_cum = cum.count(key) ? std::stoll(cum.at(key)) : 0;
        const std::int64_t model_cum = m.cumulative.count(key) ? m.cumulative[key] : 0;
        INFO("key " << key);
        REQUIRE(redis_cum == sum[key]);
        REQUIRE(redis_cum == model_cum);
      }
    }
  }(), 300s);
}
