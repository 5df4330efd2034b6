// Instance-aware counters used from several threads and coroutines at once.
#include <future>
#include <map>
#include <random>
#include <thread>

#include <asio/detached.hpp>
#include <asio/executor_work_guard.hpp>

#include "instance_aware_support.hpp"

using namespace distkit;
using namespace distkit::test;

namespace {

// A thread running an io_context of its own, whose handlers can be held
// back: hold() makes every handler posted after it wait until release().
class HeldBackThread {
 public:
  HeldBackThread() : thread_([this] { io_.run(); }) {}
  // Stops even with work left (a test that failed midway), rather than hang.
  ~HeldBackThread() {
    release();
    work_.reset();
    io_.stop();
    thread_.join();
  }
  asio::io_context& io() { return io_; }
  void hold() {
    asio::post(io_, [opened = gate_.get_future()] { opened.wait(); });
  }
  void release() {
    if (!released_) gate_.set_value();
    released_ = true;
  }

 private:
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_ = asio::make_work_guard(io_);
  std::promise<void> gate_;
  bool released_ = false;
  std::thread thread_;
};

}  // namespace

TEST_CASE("instance-aware: replies that resume out of order leave the newest slice to restore", "[concurrency]") {
  Env env;
  auto a = strict(env, 300ms);
  auto witness = strict(env, 300ms);
  const std::string a_hash = ia_key(env, "inst:" + a->instance_id());
  HeldBackThread elsewhere;  // where a's first op resumes
  std::future<Counts> first;
  Counts second{}, after_reap{};
  env([&]() -> asio::awaitable<void> {
    co_await a->get("other");  // a's first op checks the family's shard count: not the script to hold
    {
      ScriptPause pause(server());
      first = asio::co_spawn(elsewhere.io(), a->inc("k", 1), asio::use_future);
      const bool sent = co_await pause.holding_a_script();
      REQUIRE(sent);
      elsewhere.hold();  // before its reply can come
    }
    const bool first_ran = co_await eventually([&]() -> asio::awaitable<bool> {
      co_return server().command({"HGET", a_hash, "s:k"}) == "1";
    });
    REQUIRE(first_ran);
    second = co_await a->inc("k", 1);  // answered after the first, resumed before it
    elsewhere.release();
    const bool first_resumed = co_await eventually([&]() -> asio::awaitable<bool> {
      co_return first.wait_for(0s) == std::future_status::ready;
    });
    REQUIRE(first_resumed);
    co_await expect_cumulative_becomes(*witness, "k", 0);  // a is reaped
    after_reap = co_await a->get("k");                     // and offers back what it knows
  }());
  CHECK(first.get() == Counts{1, 1});
  CHECK(second == Counts{2, 2});
  CHECK(after_reap == Counts{2, 2});  // not the first reply's 1, which resumed last
}

TEST_CASE("lax instance-aware: a read that resumes after a later flush of its key keeps the flushed slice",
          "[concurrency]") {
  Env env;
  constexpr auto never = std::chrono::milliseconds(3'600'000);
  auto a = Lax::create({.prefix = env.prefix,
                        .connection = env.conn,
                        .dead_instance_threshold = 300ms,
                        .flush_interval = never,
                        .allowed_lag = never});
  // allowed_lag 0: every get of the witness reads Redis (and reaps).
  auto witness = Lax::create(
      {.prefix = env.prefix, .connection = env.conn, .dead_instance_threshold = 300ms, .allowed_lag = 0ms});
  HeldBackThread elsewhere;  // where a's first read of k resumes
  std::future<Counts> late_read;
  Counts added{};
  env([&]() -> asio::awaitable<void> {
    co_await a->get("other");  // a's first op checks the family's shard count: not the script to hold
    {
      ScriptPause pause(server());
      late_read = asio::co_spawn(elsewhere.io(), a->get("k"), asio::use_future);
      const bool sent = co_await pause.holding_a_script();
      REQUIRE(sent);
      elsewhere.hold();  // before its reply can come
    }
    added = co_await a->inc("k", 5);  // reads k again (answered after the first read), adds
    co_await a->flush();              // and flushes: Redis answers {5, 5}
    elsewhere.release();
    const bool resumed = co_await eventually([&]() -> asio::awaitable<bool> {
      co_return late_read.wait_for(0s) == std::future_status::ready;
    });
    REQUIRE(resumed);
    co_await expect_cumulative_becomes(*witness, "k", 5);
    co_await a->shutdown();
    co_await witness->shutdown();
  }());
  CHECK(added == Counts{5, 5});
  CHECK(late_read.get() == Counts{5, 5});  // not the first read's {0, 0}, which resumed last
}

TEST_CASE("lax instance-aware: exactly once while the connection is killed again and again", "[concurrency]") {
  Env env;
  std::vector<std::shared_ptr<Lax>> fleet_;
  for (int i = 0; i < 3; ++i) fleet_.push_back(lax(env));
  std::map<std::string, std::int64_t> expected;
  std::atomic<bool> stop{false};
  std::jthread killer([&] {  // bounded: about 3 s of kills, loopback only
    std::mt19937 rng(7);
    for (int i = 0; i < 25 && !stop; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(std::uniform_int_distribution<int>(50, 200)(rng)));
      server().command({"CLIENT", "KILL", "TYPE", "normal"});
    }
  });
  env(
      [&]() -> asio::awaitable<void> {
        const auto until = std::chrono::steady_clock::now() + 3s;
        for (int round = 0; std::chrono::steady_clock::now() < until; ++round) {
          for (int i = 0; i < 3; ++i) {
            for (int k = 0; k < 200; ++k) {
              const std::string key = "k" + std::to_string(k);
              try {
                co_await fleet_[i]->inc(key, k % 7 + 1);
                expected[key] += k % 7 + 1;
              } catch (const Error& e) {  // only a first touch talks to Redis
                CHECK(link_trouble(e));
              }
            }
          }
          co_await sleep_for(5ms);  // let the flush loops run
        }
        stop = true;
        killer.join();  // no kill from here on
        for (auto& c : fleet_) {
          const bool flushed = co_await eventually([&]() -> asio::awaitable<bool> {
            try {
              co_await c->flush();
              co_return true;
            } catch (const Error&) {
              co_return false;
            }
          });
          CHECK(flushed);
        }
        auto reader = lax(env);
        for (const auto& [key, total] : expected) {
          const Counts c = co_await reader->get(key);
          INFO("key " << key);
          CHECK(c.cumulative == total);
        }
      }(),
      120s);
  stop = true;
}

TEST_CASE("lax instance-aware: many threads on the same warm keys lose no increment", "[concurrency]") {
  Env env;
  auto c = lax(env);
  constexpr int coroutines = 8, per_coroutine = 5'000, key_count = 10;
  std::atomic<int> finished{0};
  run(
      env.io,
      [&]() -> asio::awaitable<void> {
        for (int k = 0; k < key_count; ++k) co_await c->get("w" + std::to_string(k));  // warm the keys
        auto ex = co_await asio::this_coro::executor;
        for (int i = 0; i < coroutines; ++i)
          asio::co_spawn(
              ex,
              [&, i]() -> asio::awaitable<void> {
                for (int n = 0; n < per_coroutine; ++n) co_await c->inc("w" + std::to_string((i + n) % key_count), 1);
                ++finished;
              },
              asio::detached);
        const bool all_done = co_await eventually([&]() -> asio::awaitable<bool> { co_return finished == coroutines; },
                                                  60'000ms);
        CHECK(all_done);
        co_await c->flush();
        auto reader = lax(env);
        std::int64_t sum = 0, local_sum = 0;
        for (int k = 0; k < key_count; ++k) {
          sum += (co_await reader->get("w" + std::to_string(k))).cumulative;
          local_sum += (co_await c->get("w" + std::to_string(k))).instance;
        }
        CHECK(sum == coroutines * per_coroutine);
        CHECK(local_sum == coroutines * per_coroutine);
      }(),
      120s, 4);
}
