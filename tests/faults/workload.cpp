#include "workload.hpp"

#include <algorithm>
#include <iostream>
#include <map>
#include <random>
#include <sstream>
#include <thread>

#include <fmt/format.h>

namespace distkit::test {
namespace {

using Clock = std::chrono::steady_clock;

enum class Op { inc, dec, get };

void raise_to(std::atomic<std::int64_t>& max, std::int64_t value) {
  for (auto seen = max.load(); value > seen && !max.compare_exchange_weak(seen, value);) {
  }
}

std::int64_t ms_since(Clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
}

// A hash as a map, read with one HGETALL (fields and values have no spaces).
std::map<std::string, std::string> hash_of(const RedisServer& redis, const std::string& key) {
  std::istringstream flat(redis.command({"HGETALL", key}));
  std::map<std::string, std::string> out;
  for (std::string field, value; flat >> field >> value;) out[field] = value;
  return out;
}

std::int64_t field_or_zero(const std::map<std::string, std::string>& hash, const std::string& field) {
  auto it = hash.find(field);
  return it == hash.end() ? 0 : std::stoll(it->second);
}

template <class Counter>
std::function<asio::awaitable<void>(Op, const std::string&, std::int64_t)> ops_of(std::shared_ptr<Counter> c) {
  return [c](Op op, const std::string& key, std::int64_t n) -> asio::awaitable<void> {
    switch (op) {
      case Op::inc: co_await c->inc(key, n); break;
      case Op::dec: co_await c->dec(key, n); break;
      case Op::get: co_await c->get(key); break;
    }
  };
}

}  // namespace

void Tally::unexpected(const std::string& what) {
  std::lock_guard lock(mutex);
  unexpected_errors.push_back(what);
}

// One counter object and the coroutines' way to call it.
struct Workload::Member {
  std::function<asio::awaitable<void>(Op, const std::string&, std::int64_t)> apply;
  Tally* tally;
};

Workload::Workload(WorkloadOptions options) : options_(std::move(options)), prefix_(unique_prefix("faults").str()) {
  for (int k = 0; k < options_.keys; ++k) keys_.push_back("k" + std::to_string(k));
  for (auto [kind, strict] : {std::pair{"strict", true}, std::pair{"lax", false},
                              std::pair{"strict instance-aware", true}, std::pair{"lax instance-aware", false}})
    tallies_.push_back(std::make_unique<Tally>(kind, strict, options_.keys));
}

Workload::~Workload() = default;

// Every counter object on a connection of its own, as if each were a process
// of its own; each family on a prefix of its own.
asio::awaitable<std::unique_ptr<Workload>> Workload::create(WorkloadOptions options) {
  std::unique_ptr<Workload> w(new Workload(std::move(options)));
  auto ex = co_await asio::this_coro::executor;
  // Connected up front: g++ 12 mishandles temporaries around a co_await
  // inside a braced initializer.
  const auto counters = 2 + 2 * static_cast<std::size_t>(w->options_.instances);
  while (w->connections_.size() < counters)
    w->connections_.push_back(co_await redis::connect(ex, w->options_.connection));
  w->build_counters();
  co_return w;
}

void Workload::build_counters() {
  auto connection = connections_.begin();
  const RedisKey strict_prefix(prefix_ + "s"), lax_prefix(prefix_ + "l"), strict_ia_prefix(prefix_ + "is"),
      lax_ia_prefix(prefix_ + "il");
  strict_ = StrictCounter::create({.prefix = strict_prefix, .connection = *connection++});
  members_.push_back({ops_of(strict_), tallies_[0].get()});
  lax_ = LaxCounter::create({.prefix = lax_prefix, .connection = *connection++});
  members_.push_back({ops_of(lax_), tallies_[1].get()});
  for (int i = 0; i < options_.instances; ++i) {
    strict_ia_.push_back(StrictInstanceAwareCounter::create({.prefix = strict_ia_prefix,
                                                             .connection = *connection++,
                                                             .dead_instance_threshold = options_.dead_instance_threshold}));
    members_.push_back({ops_of(strict_ia_.back()), tallies_[2].get()});
    lax_ia_.push_back(LaxInstanceAwareCounter::create({.prefix = lax_ia_prefix,
                                                       .connection = *connection++,
                                                       .dead_instance_threshold = options_.dead_instance_threshold}));
    members_.push_back({ops_of(lax_ia_.back()), tallies_[3].get()});
  }
}

asio::awaitable<void> Workload::warm_up() {
  for (const auto& key : keys_) {
    co_await lax_->get(key);
    for (auto& c : lax_ia_) co_await c->get(key);
  }
}

// One coroutine: random ops on random keys of one counter object until told
// to stop, tallying what each outcome promises.
asio::awaitable<void> Workload::work(Member& member, unsigned seed) {
  std::minstd_rand rng(seed);
  Tally& tally = *member.tally;
  for (unsigned round = 0; !stopping_; ++round) {
    const std::size_t k = rng() % keys_.size();
    const std::int64_t n = 1 + rng() % 5;
    const unsigned dice = options_.mixed_ops ? rng() % 10 : 0;
    const Op op = dice < 6 ? Op::inc : dice < 9 ? Op::dec : Op::get;
    const std::int64_t delta = op == Op::inc ? n : op == Op::dec ? -n : 0;
    const auto started = Clock::now();
    try {
      co_await member.apply(op, keys_[k], n);
      tally.keys[k].acked += delta;
      ++tally.ops;
      if (!tally.strict) raise_to(tally.slowest_lax_op_ms, ms_since(started));
    } catch (const Error& e) {
      if (!tally.strict || !link_trouble(e)) {
        tally.unexpected(e.what());
      } else if (delta == 0) {
        ++tally.failed_reads;
      } else if (e.value() == errc::not_applied) {
        ++tally.not_applied;  // counted nowhere: the check below proves it did not run
      } else {
        ++tally.unknown_ops;
        (delta > 0 ? tally.keys[k].unknown_up : tally.keys[k].unknown_down) += delta;
      }
      if (e.value() == errc::timeout || e.value() == errc::not_applied) {
        ++tally.timeouts;
        raise_to(tally.slowest_timeout_ms, ms_since(started));
      }
    }
    // Pacing (lax ops never wait for Redis): about 2000 lax ops a second per coroutine.
    if (!tally.strict && round % 4 == 3) co_await sleep_for(std::chrono::milliseconds(2));
  }
}

// Whether every counter object answers right now: each lax one flushes all
// it holds, each instance proves itself alive (restoring its slices if it
// had been reaped).
asio::awaitable<bool> Workload::answering() {
  try {
    co_await strict_->get(keys_.front());
    co_await lax_->flush();
    for (auto& c : strict_ia_) co_await c->heartbeat();
    for (auto& c : lax_ia_) {
      co_await c->flush();
      co_await c->heartbeat();
    }
  } catch (const Error& e) {
    if (!link_trouble(e)) throw;
    co_return false;
  }
  co_return true;
}

asio::awaitable<bool> Workload::run_through(std::function<void()> fault, std::chrono::milliseconds afterwards,
                                            std::chrono::milliseconds recovery_limit) {
  stopping_ = false;
  std::atomic<bool> fault_over{false};
  std::exception_ptr fault_error;
  std::jthread injector([&] {
    try {
      fault();
    } catch (...) {
      fault_error = std::current_exception();
    }
    fault_over = true;
  });
  bool recovered = false;
  co_await concurrently(options_.coroutines + 1, [&](int i) -> asio::awaitable<void> {
    if (i > 0) co_return co_await work(members_[static_cast<std::size_t>(i - 1) % members_.size()],
                                       static_cast<unsigned>(i));
    struct Stop {  // the workers, however this ends (a failure, too)
      std::atomic<bool>& stopping;
      ~Stop() { stopping = true; }
    } stop{stopping_};
    co_await eventually([&]() -> asio::awaitable<bool> { co_return fault_over.load(); }, std::chrono::minutes(5));
    recovered = co_await eventually([this] { return answering(); }, recovery_limit);
    if (recovered) co_await sleep_for(afterwards);  // some ops on the healed links, too
  });
  injector.join();
  if (fault_error) std::rethrow_exception(fault_error);
  co_return recovered;
}

asio::awaitable<bool> Workload::settle(std::chrono::milliseconds limit) {
  co_return co_await eventually([this] { return answering(); }, limit);
}

void Workload::check(const RedisServer& redis, std::string_view scenario) {
  const std::string families[] = {"{" + prefix_ + "s}:", "{" + prefix_ + "l}:", "{" + prefix_ + "is}:ia:v2:",
                                  "{" + prefix_ + "il}:ialax:v2:"};
  std::vector<std::string> strict_ia_ids, lax_ia_ids;
  for (auto& c : strict_ia_) strict_ia_ids.push_back(c->instance_id());
  for (auto& c : lax_ia_) lax_ia_ids.push_back(c->instance_id());

  for (std::size_t f = 0; f < tallies_.size(); ++f) {
    Tally& t = *tallies_[f];
    const bool instance_aware = f >= 2;
    const auto totals = hash_of(redis, families[f] + (instance_aware ? "cum" : "totals"));
    std::vector<std::int64_t> in_redis;
    std::vector<std::string> wrong;  // keys whose total the outcomes rule out
    std::int64_t unknown_applied = 0;
    for (std::size_t k = 0; k < keys_.size(); ++k) {
      const auto& key = t.keys[k];
      const std::int64_t actual = field_or_zero(totals, keys_[k]), acked = key.acked;
      in_redis.push_back(actual);
      unknown_applied += actual - acked;
      if (actual < acked + key.unknown_down || actual > acked + key.unknown_up)
        wrong.push_back(fmt::format("{}: {} in Redis, {} acknowledged, unknown outcome within [{}, {}]", keys_[k], actual,
                                    acked, key.unknown_down.load(), key.unknown_up.load()));
    }
    std::cerr << fmt::format("[{}] {}: {} ops returned; {} writes of unknown outcome, net {} of them applied; {} "
                             "writes not applied; {} timed out in all; {} reads failed\n",
                             scenario, t.kind, t.ops.load(), t.unknown_ops.load(), unknown_applied,
                             t.not_applied.load(), t.timeouts.load(), t.failed_reads.load());
    INFO(scenario << ", " << t.kind << " counter");
    {
      std::lock_guard lock(t.mutex);
      INFO("first unexpected failure: " << (t.unexpected_errors.empty() ? "" : t.unexpected_errors.front()));
      CHECK(t.unexpected_errors.size() == 0);
    }
    INFO("first wrong key: " << (wrong.empty() ? "" : wrong.front()));
    CHECK(wrong.size() == 0);
    CHECK(t.ops > 0);
    if (instance_aware) check_instance_aware(redis, t, families[f], f == 2 ? strict_ia_ids : lax_ia_ids, in_redis);
  }
}

// Every instance is live, and each key's cumulative is the sum of their
// current-epoch slices.
void Workload::check_instance_aware(const RedisServer& redis, const Tally& tally, const std::string& base,
                                    const std::vector<std::string>& ids, const std::vector<std::int64_t>& cumulative) {
  std::istringstream flat(redis.command({"ZRANGE", base + "live", "0", "-1"}));
  std::vector<std::string> live;
  for (std::string id; flat >> id;)
    if (id != "~jobs") live.push_back(id);  // the marker of queued jobs (lua/instance_aware.lua)
  auto expected = ids;
  std::sort(live.begin(), live.end());
  std::sort(expected.begin(), expected.end());
  INFO(tally.kind << ": live instances");
  CHECK(live == expected);

  const auto epochs = hash_of(redis, base + "epoch");
  std::vector<std::int64_t> slices(keys_.size(), 0);
  for (const auto& id : live) {
    const auto mine = hash_of(redis, base + "inst:" + id);
    for (std::size_t k = 0; k < keys_.size(); ++k)
      if (field_or_zero(mine, "e:" + keys_[k]) == field_or_zero(epochs, keys_[k]))
        slices[k] += field_or_zero(mine, "s:" + keys_[k]);
  }
  CHECK(slices == cumulative);
}

asio::awaitable<void> Workload::close() {
  co_await retrying([&] { return lax_->shutdown(); }, 10);
  for (auto& c : lax_ia_) co_await retrying([&] { return c->shutdown(); }, 10);
  for (auto& c : strict_ia_) co_await retrying([&] { return c->shutdown(); }, 10);
}

std::int64_t Workload::lax_ops() const { return tallies_[1]->ops + tallies_[3]->ops; }
std::int64_t Workload::strict_ops() const { return tallies_[0]->ops + tallies_[2]->ops; }

}  // namespace distkit::test
