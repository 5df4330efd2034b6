// Redis behind Sentinel (redis+sentinel://): a master, its replica and a
// sentinel the test starts, or a fake sentinel where a failover must go
// unannounced.
#include <algorithm>
#include <atomic>
#include <thread>

#include <asio/read_until.hpp>
#include <asio/steady_timer.hpp>
#include <asio/write.hpp>
#include <fmt/format.h>

#include "distkit/counter/lax_counter.hpp"
#include "distkit/counter/strict_counter.hpp"
#include "failover_writes.hpp"
#include "fake_peer.hpp"
#include "run.hpp"

using namespace distkit;
using namespace distkit::test;
using namespace std::chrono_literals;

namespace {

// A master, a replica of it, and one sentinel watching them as "mymaster".
struct Sentinel {
  RedisServer master;
  RedisServer replica{{"--replicaof", "127.0.0.1", std::to_string(master.port())}};
  RedisServer sentinel{{"--sentinel"}, fmt::format("sentinel monitor mymaster 127.0.0.1 {} 1\n"
                                                   "sentinel down-after-milliseconds mymaster 1000\n"
                                                   "sentinel failover-timeout mymaster 5000\n",
                                                   master.port())};

  Sentinel() {
    // A failover needs a replica in sync, which the sentinel has seen (in
    // the master's INFO: every 10 s at first, then every second).
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    auto ready = [&] {
      return replica.command({"INFO", "replication"}).find("master_link_status:up") != std::string::npos &&
             sentinel.command({"SENTINEL", "REPLICAS", "mymaster"}).find(std::to_string(replica.port())) !=
                 std::string::npos;
    };
    while (!ready() && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(50ms);  // polling a condition with a deadline
    if (!ready()) throw std::runtime_error("the replica never synced, or the sentinel never saw it");
  }

  // What the sentinel names as the master's port.
  std::string master_port() const {
    const auto addr = sentinel.command({"SENTINEL", "GET-MASTER-ADDR-BY-NAME", "mymaster"});
    return addr.substr(addr.find(' ') + 1);
  }

  std::string url(const std::string& first = "") const {
    return fmt::format("redis+sentinel://{}127.0.0.1:{}/mymaster", first, sentinel.port());
  }
};

}  // namespace

TEST_CASE("sentinel: the master is found by asking the sentinels in turn, and confirmed with ROLE") {
  Sentinel s;
  const auto dead = free_port();  // nothing listens there: the next sentinel is asked
  Env env(s.url(fmt::format("127.0.0.1:{},", dead)));
  auto counter = StrictCounter::create({.prefix = env.prefix, .connection = env.conn});
  CHECK(env(counter->inc("k", 3)) == 3);
  Env on_master(s.master.url());
  auto direct = StrictCounter::create({.prefix = env.prefix, .connection = on_master.conn});
  CHECK(on_master(direct->get("k")) == 3);
}

TEST_CASE("sentinel: sentinels that ask for a password get sentinel_password; without it, connection_failed") {
  RedisServer master;
  RedisServer guarded{{"--sentinel", "--requirepass", "watchword"},
                      fmt::format("sentinel monitor mymaster 127.0.0.1 {} 1\n", master.port())};
  Env env;
  const auto url = fmt::format("redis+sentinel://127.0.0.1:{}/mymaster", guarded.port());
  CHECK(env(connect_outcome(url + "?sentinel_password=watchword")).second == "connected");
  auto [error, what] = env(connect_outcome(url));
  CHECK(error == errc::connection_failed);
  CHECK_THAT(what, Catch::Contains("NOAUTH"));
}

TEST_CASE("sentinel: a service no sentinel knows is connection_failed naming it") {
  Sentinel s;
  Env env;
  auto [error, what] =
      env(connect_outcome(fmt::format("redis+sentinel://127.0.0.1:{}/nosuchservice", s.sentinel.port())));
  CHECK(error == errc::connection_failed);
  CHECK_THAT(what, Catch::Contains("no sentinel named the master of nosuchservice"));
  CHECK_THAT(what, Catch::Contains("no such service"));
}

TEST_CASE("sentinel: a failover moves the connection on +switch-master; no op times out, later ops reach the new master") {
  Sentinel s;
  auto options = redis::ConnectionOptions::from_url(s.url());
  options.command_timeout = 10s;  // a failover noticed only by timeouts would show as timeouts
  Env env(options);
  auto counter = StrictCounter::create({.prefix = env.prefix, .connection = env.conn});
  std::atomic<bool> switched{false};
  std::atomic<int> applied{0};
  std::vector<errc> errors;
  env([&]() -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    auto writers = concurrently(8, [&](int) -> asio::awaitable<void> {
      while (!switched) {
        try {
          co_await counter->inc("k", 1);
          ++applied;
        } catch (const Error& e) {
          errors.push_back(e.value());
        }
      }
    });
    asio::co_spawn(ex, std::move(writers), asio::detached);
    co_await sleep_for(200ms);
    CHECK(s.sentinel.command({"SENTINEL", "FAILOVER", "mymaster"}) == "OK");
    // Done when the sentinel names the new master (it announces +switch-master then).
    switched = co_await eventually(
        [&]() -> asio::awaitable<bool> { co_return s.master_port() == std::to_string(s.replica.port()); }, 20s);
    co_await sleep_for(300ms);  // the writers finish their last ops
  }(), 60s);
  REQUIRE(switched);
  CHECK(std::all_of(errors.begin(), errors.end(),
                    [](errc e) { return e == errc::connection_lost || e == errc::not_applied; }));
  // After the switch, ops go to the new master.
  const auto before = env(counter->get("k"));
  CHECK(env(counter->inc("k", 1)) == before + 1);
  Env on_new_master(s.replica.url());
  auto direct = StrictCounter::create({.prefix = env.prefix, .connection = on_new_master.conn});
  CHECK(on_new_master(direct->get("k")) == before + 1);
  CHECK(applied > 0);
}

namespace {

// A sentinel that names `master_port` as mymaster's master. Subscribed to,
// it answers each PING, and after one announces a switch from `old_port` to
// `announced_port` once that is set; or it misbehaves as `subscription` says.
// With `stalled`, it accepts links and never answers.
struct FakeSentinel {
  enum class Subscription { confirmed, hang_up, refused, silent };
  std::atomic<std::uint16_t> master_port{0}, old_port{0}, announced_port{0};
  std::atomic<Subscription> subscription{Subscription::confirmed};
  std::atomic<bool> stalled{false};
  std::atomic<int> stalled_links{0}, questions{0};  // links it let stall; GET-MASTER-ADDR-BY-NAME answered
  FakePeer peer{[this](asio::ip::tcp::socket link) -> asio::awaitable<void> {
    if (stalled) {
      ++stalled_links;
      co_await drain(link);
    }
    std::string in;
    auto read_until = [&](std::string_view end) -> asio::awaitable<std::string> {
      const auto n = co_await asio::async_read_until(link, asio::dynamic_buffer(in), end, asio::use_awaitable);
      std::string request = in.substr(0, n);
      in.erase(0, n);
      co_return request;
    };
    auto write = [&](std::string bytes) -> asio::awaitable<void> {
      co_await asio::async_write(link, asio::buffer(bytes), asio::use_awaitable);
    };
    co_await read_until("PING\r\n");
    co_await write("+PONG\r\n");
    // "... GET-MASTER-ADDR-BY-NAME mymaster" or "SUBSCRIBE +switch-master"
    if ((co_await read_until("master\r\n")).find("SUBSCRIBE") == std::string::npos) {
      ++questions;
      const auto port = std::to_string(master_port.load());
      co_await write(fmt::format("*2\r\n$9\r\n127.0.0.1\r\n${}\r\n{}\r\n", port.size(), port));
      co_await drain(link);
    }
    if (subscription == Subscription::hang_up) co_return;
    if (subscription == Subscription::refused) {
      co_await write("-NOPERM this user has no permissions to access one of the channels used as arguments\r\n");
      co_await drain(link);
    }
    co_await write("*3\r\n$9\r\nsubscribe\r\n$14\r\n+switch-master\r\n:1\r\n");
    if (subscription == Subscription::silent) co_await drain(link);
    for (bool announced = false;;) {
      co_await read_until("PING\r\n");
      co_await write("*2\r\n$4\r\npong\r\n$0\r\n\r\n");
      if (!announced && announced_port != 0) {
        const auto payload =
            fmt::format("mymaster 127.0.0.1 {} 127.0.0.1 {}", old_port.load(), announced_port.load());
        co_await write(
            fmt::format("*3\r\n$7\r\nmessage\r\n$14\r\n+switch-master\r\n${}\r\n{}\r\n", payload.size(), payload));
        announced = true;
      }
    }
  }};
};

}  // namespace

TEST_CASE("sentinel: a write answered READONLY (an unannounced failover) is redirected to the new master, not failed") {
  RedisServer old_master, new_master;
  FakeSentinel sentinel;
  sentinel.master_port = old_master.port();
  auto options =
      redis::ConnectionOptions::from_url(fmt::format("redis+sentinel://127.0.0.1:{}/mymaster", sentinel.peer.port()));
  options.reconnect_backoff_min = options.reconnect_backoff_max = 10ms;
  Env env(options);
  auto counter = StrictCounter::create({.prefix = env.prefix, .connection = env.conn});
  CHECK(env(counter->inc("k", 1)) == 1);  // on the old master
  sentinel.master_port = new_master.port();
  REQUIRE(old_master.command({"REPLICAOF", "127.0.0.1", std::to_string(new_master.port())}) == "OK");
  // Read-only now: the inc is answered READONLY, did not run, and goes to the new master.
  CHECK(env(counter->inc("k", 5)) == 5);
  Env direct(new_master.url());
  auto on_new = StrictCounter::create({.prefix = env.prefix, .connection = direct.conn});
  CHECK(direct(on_new->get("k")) == 5);
}

TEST_CASE("sentinel: a sentinel naming a replica is passed over for the next one") {
  RedisServer master;
  RedisServer replica{{"--replicaof", "127.0.0.1", std::to_string(master.port())}};
  FakeSentinel lagging, current;
  lagging.master_port = replica.port();
  current.master_port = master.port();
  Env env;
  const auto url = fmt::format("redis+sentinel://127.0.0.1:{},127.0.0.1:{}/mymaster", lagging.peer.port(),
                               current.peer.port());
  CHECK(env(connect_outcome(url)).second == "connected");
}

TEST_CASE("sentinel: after +switch-master the link goes to the announced master, not to one a lagging sentinel names; "
          "a sentinel that hangs up, refuses or goes silent on the subscription is passed over") {
  using Subscription = FakeSentinel::Subscription;
  const auto lagging_subscription = GENERATE(Subscription::hang_up, Subscription::refused, Subscription::silent);
  INFO("the lagging sentinel's subscription: " << static_cast<int>(lagging_subscription));
  RedisServer old_master, new_master;  // the old one still says it is the master (not yet converted)
  FakeSentinel lagging, leader;        // the lagging one is asked first; the watch settles on the leader
  lagging.master_port = old_master.port();
  lagging.subscription = lagging_subscription;
  leader.master_port = old_master.port();
  leader.old_port = old_master.port();
  auto options = redis::ConnectionOptions::from_url(fmt::format(
      "redis+sentinel://127.0.0.1:{},127.0.0.1:{}/mymaster", lagging.peer.port(), leader.peer.port()));
  options.reconnect_backoff_min = options.reconnect_backoff_max = 10ms;
  options.health_check_interval = 100ms;  // a silent sentinel is passed over within this plus command_timeout
  Env env(options);
  auto counter = StrictCounter::create({.prefix = env.prefix, .connection = env.conn});
  CHECK(env(counter->inc("k", 1)) == 1);
  leader.master_port = new_master.port();
  leader.announced_port = new_master.port();
  // Writes land on the new master once the announcement is in.
  CHECK(env(eventually([&]() -> asio::awaitable<bool> {
    try {
      co_await counter->inc("k", 1);
    } catch (const Error& e) {
      if (!link_trouble(e)) throw;
    }
    co_return new_master.command({"DBSIZE"}) != "0";
  })));
}

TEST_CASE("sentinel: close() while the sentinels are asked again dials no further sentinel") {
  RedisServer master;
  FakeSentinel first, second;
  first.master_port = second.master_port = master.port();
  auto options = redis::ConnectionOptions::from_url(
      fmt::format("redis+sentinel://127.0.0.1:{},127.0.0.1:{}/mymaster", first.peer.port(), second.peer.port()));
  options.reconnect_backoff_min = options.reconnect_backoff_max = 10ms;
  Env env(options);
  const int second_questions = second.questions;
  first.stalled = true;  // the next question to it is never answered
  master.command({"CLIENT", "KILL", "TYPE", "normal"});
  // The reconnect asks the first sentinel again (it answered last time) and waits.
  CHECK(env(eventually([&]() -> asio::awaitable<bool> { co_return first.stalled_links > 0; })));
  env.conn.reset();  // close()
  env.io.restart();
  env.io.run_for(30s);  // until every coroutine of the connection has ended
  CHECK(env.io.stopped());
  CHECK(second.questions == second_questions);
}

namespace {

// The steps of a failover that loses no write: writes paused on the old
// master, the replica caught up and promoted, the old master made its
// replica and resumed (its paused writes are answered READONLY), and the
// switch announced.
void failover_losing_nothing(RedisServer& old_master, RedisServer& new_master, FakeSentinel& sentinel) {
  old_master.command({"CLIENT", "PAUSE", "30000", "WRITE"});
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (new_master.info_field("replication", "slave_repl_offset") !=
             old_master.info_field("replication", "master_repl_offset") &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(10ms);  // polling a condition with a deadline
  new_master.command({"REPLICAOF", "NO", "ONE"});
  sentinel.master_port = new_master.port();
  old_master.command({"REPLICAOF", "127.0.0.1", std::to_string(new_master.port())});
  old_master.command({"CLIENT", "UNPAUSE"});
  sentinel.announced_port = new_master.port();
}

}  // namespace

TEST_CASE("sentinel: across a failover that Redis loses nothing in, lax increments count exactly once and strict "
          "ones at most once") {
  RedisServer old_master;
  RedisServer new_master{{"--replicaof", "127.0.0.1", std::to_string(old_master.port())}};
  FakeSentinel sentinel;
  sentinel.master_port = sentinel.old_port = old_master.port();
  auto options =
      redis::ConnectionOptions::from_url(fmt::format("redis+sentinel://127.0.0.1:{}/mymaster", sentinel.peer.port()));
  options.reconnect_backoff_min = options.reconnect_backoff_max = 10ms;
  options.health_check_interval = 100ms;  // the fake sentinel announces when pinged
  options.command_timeout = 10s;          // the failover must not show as timeouts
  Env env(options);
  auto lax = LaxCounter::create({.prefix = env.prefix, .connection = env.conn, .allowed_lag = 5ms});
  auto strict = StrictCounter::create({.prefix = env.prefix, .connection = env.conn});
  FailoverWrites writes;
  std::jthread failover([&] {
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    while (writes.lax_counted < 500 && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(10ms);
    failover_losing_nothing(old_master, new_master, sentinel);
    while (new_master.command({"CLIENT", "LIST"}).find("cmd=evalsha") == std::string::npos &&
           std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(10ms);  // until scripts run on the new master
    std::this_thread::sleep_for(200ms);   // some more writes there
    writes.done = true;
  });
  env(writes.run(*lax, *strict), 60s);
  Env on_new(new_master.url());
  auto direct = StrictCounter::create({.prefix = env.prefix, .connection = on_new.conn});
  const auto lax_total = on_new(direct->get("lax"));
  writes.check(lax_total, on_new(direct->get("strict")));
}

TEST_CASE("sentinel: commands waiting while a failover is announced mid-connect go to the new master, not the old") {
  std::atomic<int> accepted{0};
  std::atomic<bool> hang_up{false};
  std::atomic<std::size_t> bytes_after_handshake{0};
  FakePeer old_master([&](asio::ip::tcp::socket link) -> asio::awaitable<void> {
    const int n = ++accepted;
    std::string in;
    co_await asio::async_read_until(link, asio::dynamic_buffer(in), "ROLE\r\n", asio::use_awaitable);
    if (n > 1) {  // a reconnect: its handshake answered late
      asio::steady_timer t(link.get_executor(), 700ms);
      co_await t.async_wait(asio::use_awaitable);
    }
    co_await asio::async_write(link, asio::buffer(std::string("+PONG\r\n*3\r\n$6\r\nmaster\r\n:0\r\n*0\r\n")),
                               asio::use_awaitable);
    if (n == 1) {
      while (!hang_up) {
        asio::steady_timer t(link.get_executor(), 10ms);
        co_await t.async_wait(asio::use_awaitable);
      }
      co_return;
    }
    char buf[512];
    for (;;) bytes_after_handshake += co_await link.async_read_some(asio::buffer(buf), asio::use_awaitable);
  });
  RedisServer new_master;
  FakeSentinel sentinel;
  sentinel.master_port = sentinel.old_port = old_master.port();
  auto options =
      redis::ConnectionOptions::from_url(fmt::format("redis+sentinel://127.0.0.1:{}/mymaster", sentinel.peer.port()));
  options.reconnect_backoff_min = options.reconnect_backoff_max = 10ms;
  options.health_check_interval = 100ms;
  options.command_timeout = 5s;
  Env env(options);
  std::optional<errc> error;
  env([&]() -> asio::awaitable<void> {
    co_await sleep_for(300ms);  // the watch is subscribed
    hang_up = true;
    co_await eventually([&]() -> asio::awaitable<bool> { co_return accepted >= 2; });
    sentinel.announced_port = new_master.port();  // heard while the reconnect's handshake is held
    error = co_await error_of(env.conn->exec(redis::Command{"SET", "k", "v"}));
  }());
  INFO("bytes the old master got after the late handshake: " << bytes_after_handshake.load());
  CHECK_FALSE(error.has_value());
  CHECK(bytes_after_handshake == 0);
  CHECK(new_master.command({"GET", "k"}) == "v");
}
