// The lax instance-aware flush logic, driven with a fake backend: no Redis.
#include <catch2/catch.hpp>

#include <map>
#include <set>

#include <asio/co_spawn.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/io_context.hpp>

#include "distkit/distkit.hpp"

using namespace distkit;
using namespace std::chrono_literals;

namespace {

// Stands in for the strict counter's implementation (detail::ia::LaxBackend): applies batches to a map, skips
// a sequence it has applied (as the Lua script does), and can be told to
// lose the reply of the next batches after applying them.
class FakeBackend {
 public:
  explicit FakeBackend(asio::any_io_executor ex) : ex_(ex), gate_(ex, asio::steady_timer::time_point::max()) {}

  void release() {
    hold = hold_reads = false;
    gate_.cancel();
  }

  asio::any_io_executor get_executor() const { return ex_; }
  const std::string& instance_id() const { return id_; }

  asio::awaitable<std::vector<detail::Acknowledged<Counts>>> inc_batch(std::size_t lane, std::uint64_t sequence,
                                                                       const std::vector<detail::KeyDelta>& batch) {
    sent.push_back({lane, sequence, batch});
    if (hold) {  // stays in flight until release()
      ++held;
      co_await gate_.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
      --held;
    }
    if (sequence > last_applied_[lane]) {
      for (const auto& [key, delta] : batch) totals[std::string(key)] += delta;
      last_applied_[lane] = sequence;
    }
    if (lose_replies > 0) {
      --lose_replies;
      throw Error(errc::connection_lost, "fake: reply lost");
    }
    std::vector<detail::Acknowledged<Counts>> out;
    const std::uint64_t order = ++replies_;
    for (const auto& [key, delta] : batch) {
      const std::int64_t total = totals[std::string(key)];
      out.push_back(detail::Acknowledged<Counts>{Counts{total, total}, order});
    }
    co_return out;
  }
  using KeyOp = detail::ia::KeyOp;
  // A read answered now, whose reply may be held (hold_reads) until release().
  asio::awaitable<detail::Acknowledged<Counts>> acknowledged(KeyOp op, std::string_view key, std::int64_t n = 0) {
    auto& total = totals[std::string(key)];
    if (op == KeyOp::set) co_return detail::Acknowledged<Counts>{{total = n, n}, ++replies_};
    if (op != KeyOp::get) co_return detail::Acknowledged<Counts>{{}, ++replies_};
    const detail::Acknowledged<Counts> read{{total, single_instance ? total : 0}, ++replies_};
    if (hold_reads) {
      ++held;
      co_await gate_.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
      --held;
    }
    co_return read;
  }
  asio::awaitable<detail::Acknowledged<Outcome<Counts>>> set_if(std::string_view key, Compare cmp, std::int64_t n) {
    auto& total = totals[std::string(key)];
    const Counts before{total, total};
    const bool holds = cmp.holds(total);
    if (holds) total = n;
    co_return detail::Acknowledged<Outcome<Counts>>{Outcome<Counts>{Counts{total, total}, before, holds}, ++replies_};
  }
  // Batches as their single ops, one after the other.
  asio::awaitable<std::vector<detail::Acknowledged<Counts>>> all(std::string_view op, const detail::BatchItems& items) {
    std::vector<detail::Acknowledged<Counts>> out;
    for (const auto& i : items) out.push_back(co_await acknowledged(op == "get" ? KeyOp::get : KeyOp::set, i.key, i.n));
    co_return out;
  }
  asio::awaitable<std::vector<detail::Acknowledged<Outcome<Counts>>>> all_if(std::string_view,
                                                                              const detail::BatchItems& items) {
    std::vector<detail::Acknowledged<Outcome<Counts>>> out;
    for (const auto& i : items) out.push_back(co_await set_if(i.key, i.cmp, i.n));
    co_return out;
  }
  asio::awaitable<std::vector<std::uint64_t>> clear() {
    totals.clear();
    co_return std::vector<std::uint64_t>(1, ++replies_);
  }
  asio::awaitable<std::vector<std::uint64_t>> clear_on_instance() {
    if (single_instance) totals.clear();  // the only slices were ours
    co_return std::vector<std::uint64_t>(1, ++replies_);
  }
  asio::awaitable<void> heartbeat() { co_return; }
  asio::awaitable<void> shutdown() { co_return; }

  struct Sent {
    std::size_t lane;
    std::uint64_t sequence;
    std::vector<detail::KeyDelta> batch;
  };
  std::vector<Sent> sent;
  std::map<std::string, std::int64_t> totals;
  int lose_replies = 0;
  bool hold = false;        // batches wait in flight until release()
  bool hold_reads = false;  // so do the replies to reads
  bool single_instance = false;  // reads report each total as our slice
  int held = 0;

 private:
  asio::any_io_executor ex_;
  asio::steady_timer gate_;
  std::string id_ = "fake";
  std::map<std::size_t, std::uint64_t> last_applied_;
  std::uint64_t replies_ = 0;
};

using FakeLax = BasicLaxInstanceAwareCounter<FakeBackend>;
static_assert(InstanceAwareCounter<FakeLax>);
static_assert(InstanceAwareCounter<LaxInstanceAwareCounter>);
static_assert(InstanceAwareCounter<StrictInstanceAwareCounter>);
static_assert(Counter<StrictCounter>);
static_assert(Counter<LaxCounter>);
// The test seam takes a backend of one's own, not the real one.
template <class Lax>
concept takes_a_backend = requires(std::shared_ptr<FakeBackend> fake) {
  Lax::create(fake, 1ms, 1ms);
};
static_assert(takes_a_backend<FakeLax>);
template <class Lax>
concept takes_the_core = requires(std::shared_ptr<detail::ia::Family> core) { Lax::create(core, 1ms, 1ms); };
static_assert(!takes_the_core<LaxInstanceAwareCounter>);

// Runs `task` to completion on this thread. (Not with use_future: its
// completion lands on another thread, after run_one() may have gone to sleep.)
void run(asio::io_context& io, asio::awaitable<void> task) {
  bool done = false;
  std::exception_ptr error;
  asio::co_spawn(io, std::move(task), [&](std::exception_ptr e) {
    error = e;
    done = true;
  });
  io.restart();
  while (!done) io.run_one();
  if (error) std::rethrow_exception(error);
}

bool same(const std::vector<detail::KeyDelta>& a, const std::vector<detail::KeyDelta>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (a[i].key != b[i].key || a[i].delta != b[i].delta) return false;
  return true;
}

// lax.get(key) whose read the backend answers before `clear` runs, and
// whose reply resumes after it: returns what the get returned.
Counts read_across(asio::io_context& io, FakeBackend& backend, FakeLax& lax, const std::string& key,
                   asio::awaitable<void> clear) {
  backend.hold_reads = true;
  std::optional<Counts> read;
  asio::co_spawn(io, lax.get(key), [&](std::exception_ptr, Counts c) { read = c; });
  io.restart();
  while (backend.held < 1) io.run_one();
  run(io, std::move(clear));
  backend.release();
  while (!read) io.run_one();
  return *read;
}

}  // namespace

TEST_CASE("lax instance-aware: a null backend is invalid_argument") {
  try {
    FakeLax::create(nullptr, 1h, 0ms);
    FAIL("created");
  } catch (const Error& e) {
    CHECK(e.value() == errc::invalid_argument);
  }
}

TEST_CASE("lax flush: batches hold at most 100 keys and lose nothing") {
  asio::io_context io;
  auto backend = std::make_shared<FakeBackend>(io.get_executor());
  auto lax = FakeLax::create(backend, 1h, 0ms);  // only explicit flushes
  run(io, [&]() -> asio::awaitable<void> {
    for (int i = 0; i < 250; ++i) co_await lax->inc("k" + std::to_string(i), i + 1);
    co_await lax->flush();
  }());
  REQUIRE(backend->sent.size() == 3);
  for (const auto& s : backend->sent) CHECK(s.batch.size() <= 100);
  for (int i = 0; i < 250; ++i) CHECK(backend->totals["k" + std::to_string(i)] == i + 1);
}

TEST_CASE("lax flush: a batch whose reply was lost is re-sent unchanged; new deltas go to the next batch") {
  asio::io_context io;
  auto backend = std::make_shared<FakeBackend>(io.get_executor());
  auto lax = FakeLax::create(backend, 1h, 0ms);
  run(io, [&]() -> asio::awaitable<void> {
    co_await lax->inc("a", 1);
    co_await lax->inc("b", 2);
    backend->lose_replies = 2;
    for (int attempt = 0; attempt < 2; ++attempt) {
      errc code{};
      try {
        co_await lax->flush();
      } catch (const Error& e) {
        code = e.value();
      }
      CHECK(code == errc::connection_lost);
      co_await lax->inc("a", 10);  // arrives while the batch is unacknowledged
    }
    co_await lax->flush();
  }());
  REQUIRE(backend->sent.size() == 4);
  CHECK(backend->sent[0].sequence == backend->sent[1].sequence);
  CHECK(backend->sent[1].sequence == backend->sent[2].sequence);
  CHECK(same(backend->sent[0].batch, backend->sent[2].batch));
  CHECK(backend->sent[3].sequence == backend->sent[0].sequence + 1);
  CHECK(backend->sent[3].batch.size() == 1);
  CHECK(backend->sent[3].batch[0].delta == 20);
  CHECK(backend->totals["a"] == 21);  // applied once, not three times
  CHECK(backend->totals["b"] == 2);
}

TEST_CASE("lax flush: four lanes keep four batches in flight, each key in one of them at most") {
  asio::io_context io;
  auto backend = std::make_shared<FakeBackend>(io.get_executor());
  auto lax = FakeLax::create(backend, 1h, 0ms);
  run(io, [&]() -> asio::awaitable<void> {
    for (int i = 0; i < 1000; ++i) co_await lax->inc("k" + std::to_string(i), 1);
  }());
  backend->hold = true;
  bool flushed = false;
  asio::co_spawn(io, lax->flush(), [&](std::exception_ptr) { flushed = true; });
  io.restart();
  while (backend->held < 4) io.run_one();
  REQUIRE(backend->sent.size() == 4);
  std::set<std::size_t> lanes;
  std::set<std::string> keys;
  for (const auto& s : backend->sent) {
    lanes.insert(s.lane);
    for (const auto& kd : s.batch) keys.emplace(kd.key);
  }
  CHECK(lanes.size() == 4);
  CHECK(keys.size() == 400);  // no key in two batches
  const std::string in_flight(backend->sent[0].batch[0].key);
  run(io, [&]() -> asio::awaitable<void> { co_await lax->inc(in_flight, 5); }());
  backend->release();
  while (!flushed) io.run_one();
  run(io, [&]() -> asio::awaitable<void> { co_await lax->flush(); }());
  for (int i = 0; i < 1000; ++i) {
    const std::string key = "k" + std::to_string(i);
    CHECK(backend->totals[key] == (key == in_flight ? 6 : 1));
  }
  std::map<std::size_t, std::uint64_t> last;  // each lane numbers its batches 1, 2, 3...
  for (const auto& s : backend->sent) CHECK(s.sequence == ++last[s.lane]);
}

TEST_CASE("lax instance-aware: a read answered before a clear, resuming after it, does not bring the old value back") {
  asio::io_context io;
  auto backend = std::make_shared<FakeBackend>(io.get_executor());
  auto lax = FakeLax::create(backend, 1h, 1h);
  backend->totals["held"] = 5;  // a key the counter has cached
  backend->totals["new"] = 7;   // a key it reads for the first time, as the clear runs
  run(io, [&]() -> asio::awaitable<void> { co_await lax->get("held"); }());
  const auto first_read = read_across(io, *backend, *lax, "new", lax->clear());
  Counts held{}, again{};
  run(io, [&]() -> asio::awaitable<void> {
    held = co_await lax->get("held");
    again = co_await lax->get("new");
  }());
  CHECK(first_read == Counts{0, 0});  // read again, after the clear
  CHECK(again == Counts{0, 0});
  CHECK(held == Counts{0, 0});
}

TEST_CASE("lax instance-aware: a read answered before a clear_on_instance, resuming after it, brings no old slice back") {
  asio::io_context io;
  auto backend = std::make_shared<FakeBackend>(io.get_executor());
  backend->single_instance = true;
  auto lax = FakeLax::create(backend, 1h, 1h);
  backend->totals["k"] = 10;
  const auto first_read = read_across(io, *backend, *lax, "k", lax->clear_on_instance());
  run(io, [&]() -> asio::awaitable<void> {
    co_await lax->set_on_instance("k", 3);  // a delta from the cached slice: -7 from a stale 10
    co_await lax->flush();
  }());
  CHECK(first_read == Counts{0, 0});
  CHECK(backend->totals["k"] == 3);
}

TEST_CASE("lax flush: the background loop flushes, then sleeps until there is activity") {
  asio::io_context io;
  auto backend = std::make_shared<FakeBackend>(io.get_executor());
  auto lax = FakeLax::create(backend, 1ms, 0ms);
  run(io, [&]() -> asio::awaitable<void> { co_await lax->inc("a", 5); }());
  while (backend->totals["a"] != 5) io.run_one();
  io.poll();  // the other lanes find nothing and end
  // Idle now: the only pending work is the flush loop's untimed wait, so
  // nothing runs in 20 flush intervals.
  io.restart();
  CHECK(io.run_for(20ms) == 0);
  const auto sent = backend->sent.size();
  run(io, [&]() -> asio::awaitable<void> { co_await lax->inc("a", 1); }());
  while (backend->totals["a"] != 6) io.run_one();
  CHECK(backend->sent.size() == sent + 1);
}

TEST_CASE("lax flush: destroying the counter ends its flush loop") {
  asio::io_context io;
  auto backend = std::make_shared<FakeBackend>(io.get_executor());
  auto lax = FakeLax::create(backend, 1h, 0ms);
  run(io, [&]() -> asio::awaitable<void> { co_await lax->inc("a", 5); }());
  lax.reset();  // pending delta abandoned, as in a crash
  io.restart();
  io.run();  // returns only once nothing is left: the loop has ended
  CHECK(backend->totals["a"] == 0);
}

TEST_CASE("failure streak: the wait doubles from the first to the cap; a success ends the streak, reported once") {
  detail::FailureStreak streak(10ms, 100ms);
  CHECK(!streak.failing());
  std::vector<bool> starts;
  std::vector<std::chrono::milliseconds> waits;
  for (int i = 0; i < 6; ++i) {
    starts.push_back(streak.failed());
    waits.push_back(streak.wait());
  }
  CHECK(starts == std::vector<bool>{true, false, false, false, false, false});
  CHECK(waits == std::vector<std::chrono::milliseconds>{10ms, 20ms, 40ms, 80ms, 100ms, 100ms});
  CHECK(streak.succeeded() == 6);
  CHECK(!streak.failing());
  CHECK(streak.succeeded() == 0);
  CHECK(streak.failed());  // a new streak starts over
  CHECK(streak.wait() == 10ms);
  detail::FailureStreak zero(0ms, 0ms);
  zero.failed();
  CHECK(zero.wait() == 1ms);  // never a busy loop
}

TEST_CASE("delta map: forget_idle drops idle keys only; a key with a delta, queued or in flight stays") {
  detail::DeltaMap<std::int64_t> map;
  auto no_check = [](const auto&) {};
  for (const char* key : {"idle", "pending", "in flight"}) map.seed(key, {10, 1});
  map.add("pending", 5, no_check);
  map.add("in flight", 3, no_check);
  const std::vector<std::string> wanted{"in flight"};
  const detail::KeySet in_flight = map.key_set(wanted);
  const auto taken = map.take(100, detail::Clock::now(), &in_flight);
  REQUIRE(taken.size() == 1);
  map.forget_idle(detail::Clock::now() + 1h);  // everything counts as idle by time
  CHECK(map.size() == 2);
  CHECK_FALSE(map.add("idle", 0, no_check).has_value());  // forgotten: its next touch reads Redis again
  CHECK(map.add("pending", 0, no_check)->local == 5);
  CHECK(map.add("in flight", 0, no_check)->local == 3);
  map.forget_idle(detail::Clock::now() - 1h);  // nothing is that old
  CHECK(map.size() == 2);
}
