// Bounded work at scale (issue #11): a fleet that dies at once, an instance
// that returns with many keys, and keys created and deleted by the hundred
// thousand. The instances speak the script's protocol directly
// (src/icounter/protocol.hpp), so that each reply's work count can be read:
// the budget is asserted from those counts, never from timing. Timing is
// printed (and measured by bench/).
#include <algorithm>
#include <iostream>
#include <sstream>

#include "icounter/protocol.hpp"
#include "instance_aware_support.hpp"
#include "scripts.hpp"

using namespace distkit;
using namespace distkit::test;
namespace ia = distkit::detail::ia;

namespace {

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr int scale = 10;  // sanitizers run it small
#else
constexpr int scale = 1;
#endif

// An argument list. (Not a braced list in a coroutine: g++ 12 mishandles
// initializer_lists there.)
template <class... Args>
std::vector<std::string> args(Args&&... a) {
  std::vector<std::string> out;
  (out.emplace_back(std::forward<Args>(a)), ...);
  return out;
}

// An instance that talks to the script directly.
struct Raw {
  ia::Keys keys;
  std::shared_ptr<redis::Connection> conn;
  std::string job;  // as the last reply named it
  std::int64_t max_work = 0;
  std::uint64_t sequence = 0;

  Raw(const Env& env, std::string id, std::chrono::milliseconds threshold,
      std::chrono::milliseconds retention = std::chrono::hours(1))
      : keys(env.prefix.str(), "ia", {std::move(id), threshold, retention}), conn(env.conn) {}

  asio::awaitable<redis::Reply> call(std::string_view op, std::vector<std::string> arguments = {}) {
    redis::Command cmd = keys.begin(op, job);
    for (const auto& a : arguments) cmd.push(a);
    redis::Reply r = co_await detail::scripts::instance_aware.call(*conn, std::move(cmd));
    const ia::Header h = ia::decode_header(r);
    job = h.next_job;
    max_work = std::max(max_work, h.work);
    co_return r;
  }

  // Keys [first, first + count) of `name`, +1 each, in batches of 100.
  asio::awaitable<void> touch(const std::string& name, int first, int count) {
    for (int at = first; at < first + count; at += 100) {
      auto batch = args("0", std::to_string(++sequence));
      for (int k = at; k < std::min(first + count, at + 100); ++k) {
        batch.push_back(name + std::to_string(k));
        batch.push_back("1");
      }
      co_await call("flush", std::move(batch));
    }
  }
};

std::string family(const Env& env, std::string_view rest) { return ia_key(env, rest); }

// The longest script run in SLOWLOG since the last reset, microseconds.
std::int64_t longest_script_us() {
  std::istringstream in(server().command(
      {"EVAL", "local m = 0 for _, e in ipairs(redis.call('SLOWLOG', 'GET', -1)) do m = math.max(m, e[3]) end return m",
       "0"}));
  std::int64_t us = 0;
  in >> us;
  return us;
}

}  // namespace

TEST_CASE("instance-aware scale: 300 instances with 1,000 keys each die at once; no call goes over the budget") {
  const int instances = 300 / scale, keys = 1000;
  Env env;
  std::vector<Raw> fleet_, last_words;  // last_words: the same instances with a 1 ms threshold
  for (int i = 0; i < instances; ++i) {
    fleet_.emplace_back(env, "dead" + std::to_string(i), 60'000ms);
    last_words.emplace_back(env, "dead" + std::to_string(i), 1ms);
  }
  Raw survivor(env, "survivor", 30'000ms);
  int steps = 0;
  std::chrono::milliseconds drained{};
  env(
      [&]() -> asio::awaitable<void> {
        for (auto& r : fleet_) co_await r.touch("k", 0, keys);  // every instance: k0 .. k999
        co_await survivor.touch("k", 0, 1);
        for (auto& r : last_words) co_await r.call("heartbeat");  // a deadline 1 ms away: all die at once
        co_await sleep_for(10ms);
        server().command({"CONFIG", "SET", "slowlog-max-len", "100000"});  // every call kept, not the last 128
        server().command({"CONFIG", "SET", "slowlog-log-slower-than", "0"});
        server().command({"SLOWLOG", "RESET"});
        const auto started = std::chrono::steady_clock::now();
        do {
          co_await survivor.call("work");
          ++steps;
        } while (server().command({"ZCARD", family(env, "jobs")}) != "0");
        drained = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
      }(),
      600s);
  const std::int64_t longest = longest_script_us();
  server().command({"CONFIG", "SET", "slowlog-log-slower-than", "10000"});
  std::cerr << "[scale] " << instances << " x " << keys << " slices parked in " << steps << " calls, "
            << drained.count() << " ms; longest script " << longest << " us\n";
  CHECK(survivor.max_work <= ia::work_budget);
  for (const auto& r : last_words) CHECK(r.max_work <= ia::work_budget);
  CHECK(steps >= instances * keys / ia::work_budget);  // one field a slice at least
  // Every dead slice is out of the cumulatives and parked; the survivor's is counted.
  CHECK(server().command({"HGET", family(env, "cum"), "k0"}) == "1");
  CHECK(server().command({"HGET", family(env, "cum"), "k999"}) == "0");
  CHECK(server().command({"HLEN", family(env, "park:dead0")}) == std::to_string(2 * keys));
  CHECK(server().command({"HMGET", family(env, "inst:dead0"), "r", "q:0"}) == "3600000 10");  // its retention, its lane
  CHECK(server().command({"HLEN", family(env, "inst:dead0")}) == "2");                           // and nothing else

  // clear() of them all is one bounded call.
  env([&]() -> asio::awaitable<void> { co_await survivor.call("clear"); }());
  CHECK(survivor.max_work <= ia::work_budget);
  CHECK(server().command({"EXISTS", family(env, "cum"), family(env, "epoch")}) == "0");
}

TEST_CASE("instance-aware scale: an instance returning with 100,000 parked keys gets them back over many bounded "
          "calls") {
  const int keys = 100'000 / scale;
  Env env;
  Raw sleeper(env, "sleeper", 200ms), survivor(env, "survivor", 30'000ms);
  int calls = 0;
  env(
      [&]() -> asio::awaitable<void> {
        co_await sleeper.touch("k", 0, keys);
        co_await sleep_for(300ms);
        do co_await survivor.call("work");  // parks it
        while (server().command({"ZCARD", family(env, "jobs")}) != "0");
        CHECK(server().command({"HGET", family(env, "cum"), "k7"}) == "0");
        // Back: each of its calls restores a bounded part, and the key it
        // touches first of all.
        const Counts first = ia::decode_key(co_await sleeper.call("get", args("k9", "0"))).counts;
        CHECK(first == Counts{1, 1});
        do {
          co_await sleeper.call("heartbeat");
          ++calls;
        } while (!server().command({"ZSCORE", family(env, "jobs"), "sleeper"}).empty());
      }(),
      600s);
  std::cerr << "[scale] " << keys << " parked slices restored in " << calls << " more calls\n";
  CHECK(sleeper.max_work <= ia::work_budget);
  CHECK(survivor.max_work <= ia::work_budget);
  CHECK(calls >= keys / ia::work_budget / 2);
  CHECK(server().command({"HGET", family(env, "cum"), "k0"}) == "1");
  CHECK(server().command({"HGET", family(env, "cum"), "k" + std::to_string(keys - 1)}) == "1");
  CHECK(server().command({"EXISTS", family(env, "park:sleeper")}) == "0");
}

TEST_CASE("instance-aware scale: 100,000 keys created and deleted leave nothing behind once parked_retention has "
          "passed") {
  const int keys = 100'000 / scale;
  Env env;
  Raw a(env, "a", 30'000ms, 300ms);
  env(
      [&]() -> asio::awaitable<void> {
        co_await a.touch("k", 0, keys);
        for (int k = 0; k < keys; ++k) co_await a.call("del", args("k" + std::to_string(k), "0"));
        // Its leave: its tombstone and sequence records stay for its retention.
        while (ia::decode_leave(co_await a.call("leave")).more) {
        }
        co_await sleep_for(400ms);
      }(),
      600s);
  // Only the family's layout and epoch counter remain.
  const std::string left = server().command({"EVAL", "return redis.call('KEYS', ARGV[1])", "0",
                                             "{" + env.prefix.str() + "}*"});
  CHECK(left == "{" + env.prefix.str() + "}:ia:meta");
}

TEST_CASE("instance-aware: after a leave, every call under that id is refused and registers nothing, for "
          "parked_retention") {
  Env env;
  Raw a(env, "a", 30'000ms, 300ms);
  std::optional<errc> late_inc, late_flush;
  env([&]() -> asio::awaitable<void> {
    co_await a.call("inc", args("k", "5"));
    while (ia::decode_leave(co_await a.call("leave")).more) {
    }
    late_inc = co_await error_of(a.call("inc", args("k", "1")));           // an op that was in flight
    late_flush = co_await error_of(a.call("flush", args("0", "9", "k", "1")));  // a re-sent batch
  }());
  CHECK(late_inc == errc::shut_down);
  CHECK(late_flush == errc::shut_down);
  CHECK(server().command({"ZSCORE", family(env, "live"), "a"}).empty());
  CHECK(server().command({"HGET", family(env, "cum"), "k"}) == "0");
}

TEST_CASE("instance-aware: an instance that returns in the middle of its reap and dies again is parked whole") {
  Env env;
  Raw a(env, "a", 200ms), h(env, "h", 200ms), s(env, "s", 30'000ms);
  env([&]() -> asio::awaitable<void> {
    co_await a.touch("a", 0, 1500);  // 3,000 fields: a park of more than one call
    co_await h.touch("h", 0, 5000);  // a big job that takes whole calls
    co_await sleep_for(250ms);
    co_await s.call("heartbeat");  // both are found dead
    s.job = "a";
    co_await s.call("heartbeat");  // a's park goes part of the way
    // a comes back, and each of its calls spends its budget on h's job, none
    // on its own; it writes 500 new slices, then dies again.
    for (int i = 0; i < 5; ++i) {
      a.job = "h";
      co_await a.touch("new", i * 100, 100);
    }
    co_await sleep_for(250ms);
    for (int i = 0; i < 40 && server().command({"ZSCORE", family(env, "jobs"), "a"}) != ""; ++i) {
      s.job = "a";
      co_await s.call("heartbeat");
    }
  }());
  CHECK(server().command({"ZSCORE", family(env, "jobs"), "a"}).empty());
  // Every slice of the dead a is parked, none left counted.
  CHECK(server().command({"EVAL", "local n = 0 for i = 0, 499 do n = n + tonumber(redis.call('HGET', KEYS[1], 'new' .. i)) end return n",
                          "1", family(env, "cum")}) == "0");
  CHECK(server().command({"EVAL", "local n = 0 for _, f in ipairs(redis.call('HKEYS', KEYS[1])) do if f:sub(1, 2) == 's:' then n = n + 1 end end return n",
                          "1", family(env, "inst:a")}) == "0");
  CHECK(server().command({"HLEN", family(env, "park:a")}) == std::to_string(2 * (1500 + 500)));
}
