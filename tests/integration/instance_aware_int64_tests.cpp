// Instance-aware counters at the int64 limits: exact values, overflow refused
// or dropped, slices that cannot leave.
#include <limits>
#include <optional>
#include <sstream>
#include <string>

#include "instance_aware_support.hpp"
#include "log_watch.hpp"

using namespace distkit;
using namespace distkit::test;

TEST_CASE("instance-aware: counts around ±2^53 and at the int64 limits come back exact from inc and flush") {
  Env env;
  auto c = strict(env);
  auto reader = strict(env);
  auto values = boundary_values();
  values.pop_back();  // INT64_MIN: no slice may hold it (removing a slice negates it)
  std::vector<Counts> want_first, want, by_inc_first, by_inc, by_flush_first, by_flush, read;
  env([&]() -> asio::awaitable<void> {
    std::vector<detail::KeyDelta> first, second;
    for (std::size_t i = 0; i < values.size(); ++i) {
      const std::string key = "v" + std::to_string(i);
      const std::int64_t v = values[i], f = v - step_to(v);
      want_first.push_back({f, f});
      want.push_back({v, v});
      by_inc_first.push_back(co_await c->inc("inc-" + key, f));
      by_inc.push_back(co_await c->inc("inc-" + key, step_to(v)));
      first.push_back({"flush-" + key, f});
      second.push_back({"flush-" + key, step_to(v)});
    }
    by_flush_first = co_await flush_batch(*c, 1, first);
    by_flush = co_await flush_batch(*c, 2, second);
    for (std::size_t i = 0; i < values.size(); ++i) read.push_back(co_await reader->get("flush-v" + std::to_string(i)));
  }());
  CHECK(by_inc_first == want_first);
  CHECK(by_inc == want);
  CHECK(by_flush_first == want_first);
  CHECK(by_flush == want);
  for (std::size_t i = 0; i < values.size(); ++i) CHECK(read[i] == Counts{values[i], 0});
}

TEST_CASE("instance-aware: a result outside int64 is overflow and changes nothing") {
  constexpr std::int64_t max = std::numeric_limits<std::int64_t>::max();
  Env env;
  auto cs = fleet(env, 4);
  auto& a = cs[0];
  auto& b = cs[1];
  auto& c = cs[2];
  auto& d = cs[3];
  std::vector<std::optional<errc>> errors;
  std::vector<Counts> after;
  env([&]() -> asio::awaitable<void> {
    co_await a->inc("k", max);
    co_await b->inc("k", -10);  // cumulative max - 10, a's slice max
    co_await a->inc("j", max);
    co_await b->inc("j", -max);
    co_await c->inc("j", -max);
    co_await d->inc("j", -1);  // cumulative INT64_MIN: without a's slice it would be below
    co_await a->inc("m", max);
    errors = co_await errors_of(a->inc("m", 1),                 // the cumulative would overflow
                                a->inc("k", 5),                 // a's slice would
                                b->set_on_instance("k", max),   // the cumulative, once b's -10 is out
                                a->set_on_instance("j", 0),     // the cumulative, taking a's slice out
                                a->del_on_instance("j"),        // the same
                                c->dec("j", 1));                // the cumulative, and c's slice would be INT64_MIN
    after.push_back(co_await a->get("m"));
    after.push_back(co_await a->get("k"));
    after.push_back(co_await b->get("k"));
    after.push_back(co_await a->get("j"));
    after.push_back(co_await c->get("j"));
  }());
  CHECK(errors == std::vector<std::optional<errc>>(6, errc::overflow));
  CHECK(after == std::vector<Counts>{{max, max}, {max - 10, max}, {max - 10, -10}, {-max - 1, max}, {-max - 1, -max}});
}

TEST_CASE("instance-aware: a flushed delta that would overflow is dropped; the rest of the batch applies") {
  constexpr std::int64_t max = std::numeric_limits<std::int64_t>::max();
  Env env;
  auto a = strict(env);
  auto b = strict(env);
  // (Outside the coroutine: g++ 12 miscompiles braced lists inside one.)
  const std::vector<detail::KeyDelta> first{{"x", 1}, {"max", 1}, {"y", -2}};
  const std::vector<detail::KeyDelta> second{{"x", 3}, {"s", 5}};  // a's slice of s would overflow
  std::vector<Counts> flushed, again, after;
  env([&]() -> asio::awaitable<void> {
    co_await a->inc("max", max);
    co_await a->inc("s", max);
    co_await b->inc("s", -10);
    flushed = co_await flush_batch(*b, 1, first);
    again = co_await flush_batch(*a, 1, second);
    after.push_back(co_await a->get("max"));
    after.push_back(co_await a->get("s"));
    after.push_back(co_await b->get("x"));
  }());
  CHECK(flushed == std::vector<Counts>{{1, 1}, {max, 0}, {-2, -2}});
  CHECK(again == std::vector<Counts>{{4, 3}, {max - 10, max}});
  CHECK(after == std::vector<Counts>{{max, max}, {max - 10, max}, {4, 1}});
}


TEST_CASE("instance-aware: a slice that cannot leave, the others' sum being outside int64, stays counted until "
          "it can") {
  constexpr std::int64_t max = std::numeric_limits<std::int64_t>::max();
  constexpr std::int64_t min = std::numeric_limits<std::int64_t>::min();
  Env env;
  auto cs = fleet(env, 4);
  auto& a = cs[0];
  auto& b = cs[1];
  auto& c = cs[2];
  auto& d = cs[3];
  const std::string a_slices = ia_key(env, "inst:" + a->instance_id());
  LogWatch cannot_leave("cannot leave its cumulative yet");
  std::optional<errc> clear_error;
  std::vector<Counts> seen;
  env([&]() -> asio::awaitable<void> {
    co_await a->inc("other", 7);
    co_await a->inc("j", max);
    co_await b->inc("j", -max);
    co_await c->inc("j", -max);
    co_await d->inc("j", -1);  // cumulative INT64_MIN; without a's slice it would be below
    clear_error = co_await error_of(a->clear_on_instance());
    seen.push_back(co_await a->get("other"));  // the slices that could leave did
    seen.push_back(co_await a->get("j"));      // this one stays
    co_await a->shutdown();                    // a leaves; its slice of j cannot yet, and it says so
    seen.push_back(co_await b->get("j"));
    seen.push_back(co_await c->set_on_instance("j", 0));  // now the others' sum fits
    // A later step of a's leave (retried, not at every call) takes it out.
    const bool gone = co_await eventually([&]() -> asio::awaitable<bool> {
      co_await b->heartbeat();
      co_return server().command({"HEXISTS", a_slices, "s:j"}) == "0";
    });
    CHECK(gone);
    seen.push_back(co_await b->get("j"));
  }());
  CHECK(clear_error == errc::overflow);
  CHECK(cannot_leave.seen() == 1);
  CHECK(seen == std::vector<Counts>{{0, 0}, {min, max}, {min, -max}, {-1, 0}, {min, -max}});
}

TEST_CASE("instance-aware: an op on a key whose parked slice cannot come back (int64) is overflow, and the slice "
          "comes back once it fits") {
  constexpr std::int64_t big = std::int64_t{1} << 62;
  Env env;
  auto a = strict(env, 300ms);
  auto b = strict(env);
  std::optional<errc> refused;
  std::vector<Counts> seen;
  env([&]() -> asio::awaitable<void> {
    co_await a->inc("k", big);
    co_await expect_cumulative_becomes(*b, "k", 0);  // a parked
    co_await b->inc("k", big);                       // a's 2^62 no longer fits back
    refused = co_await error_of(a->inc("k", -1));    // may not write on top of its parked slice
    seen.push_back(co_await b->dec("k", big));       // now it fits
    seen.push_back(co_await a->inc("k", -1));        // back first, then the op
  }());
  CHECK(refused == errc::overflow);
  CHECK(seen == std::vector<Counts>{{0, 0}, {big - 1, big - 1}});
}

TEST_CASE("instance-aware: while a parked slice cannot come back, get reads it and set, del, set_on_instance and "
          "del_on_instance replace or remove it") {
  constexpr std::int64_t big = std::int64_t{1} << 62;
  Env env;
  auto b = strict(env);
  std::vector<Counts> seen;
  for (const std::string op : {"set", "del", "set_on_instance", "del_on_instance"}) {
    auto a = strict(env, 300ms);
    const std::string k = "k-" + op;
    env([&]() -> asio::awaitable<void> {
      co_await a->inc(k, big);
      co_await expect_cumulative_becomes(*b, k, 0);  // a parked
      co_await b->inc(k, big);                       // a's slice cannot come back
      seen.push_back(co_await a->get(k));
      if (op == "set") seen.push_back(co_await a->set(k, 7));
      if (op == "del") seen.push_back(co_await a->del(k));
      if (op == "set_on_instance") seen.push_back(co_await a->set_on_instance(k, 7));
      if (op == "del_on_instance") seen.push_back(co_await a->del_on_instance(k));
      seen.push_back(co_await b->get(k));
    }());
  }
  CHECK(seen == std::vector<Counts>{{big, big}, {7, 7}, {7, 0},                 // set: a new epoch
                                    {big, big}, {big, big}, {0, 0},             // del: gone for all
                                    {big, big}, {big + 7, 7}, {big + 7, big},   // set_on_instance: replaced
                                    {big, big}, {big, big}, {big, big}});       // del_on_instance: removed
}
