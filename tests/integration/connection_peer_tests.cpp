// The connection against peers that misbehave: a peer that stops reading, one
// that hangs up and then never answers, one that says more than it was
// asked, a server that is full.
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <vector>

#include <asio/read_until.hpp>
#include <asio/steady_timer.hpp>
#include <asio/write.hpp>

#include "fake_peer.hpp"
#include "run.hpp"

using namespace distkit;
using namespace distkit::test;

namespace {

// Answers the handshake's PING.
asio::awaitable<void> answer_handshake(asio::ip::tcp::socket& link, std::string answer = "+PONG\r\n") {
  std::string in;
  co_await asio::async_read_until(link, asio::dynamic_buffer(in), "PING\r\n", asio::use_awaitable);
  co_await asio::async_write(link, asio::buffer(answer), asio::use_awaitable);
}

}  // namespace

TEST_CASE("connection: the health check drops a link whose write has stalled, and a new link serves") {
  // Each link: the handshake answered, then never read again (a peer whose
  // receive window stays shut: a partition, a stopped process).
  std::atomic<int> accepted{0};
  FakePeer peer([&](asio::ip::tcp::socket link) -> asio::awaitable<void> {
    ++accepted;
    co_await answer_handshake(link);
    asio::steady_timer forever(link.get_executor(), asio::steady_timer::time_point::max());
    co_await forever.async_wait(asio::use_awaitable);  // holds the link, unread, until the peer stops
  });
  auto options = redis::ConnectionOptions::from_url(peer.url());
  options.command_timeout = 300ms;
  options.health_check_interval = 100ms;
  options.reconnect_backoff_min = options.reconnect_backoff_max = 10ms;
  asio::io_context io;
  std::vector<std::optional<errc>> later;
  bool replaced = false;
  run(io, [&]() -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    auto c = co_await redis::connect(ex, options);
    // More than any socket buffer: the peer reads nothing, so this write never ends.
    asio::co_spawn(ex, error_of(c->exec(redis::Command{"ECHO", std::string(64 << 20, 'x')})), asio::detached);
    replaced = co_await eventually([&]() -> asio::awaitable<bool> { co_return accepted >= 2; });
    for (int i = 0; i < 3; ++i) later.push_back(co_await error_of(c->exec(redis::Command{"PING"})));
  }(), 60s);
  CHECK(replaced);  // the stalled link was given up and a new one made
  CHECK(std::find(later.begin(), later.end(), errc::not_applied) == later.end());  // they went out on it
}

TEST_CASE("connection: close() during a reconnect's handshake ends it at once, not at command_timeout") {
  // The first link is answered and hung up after 200 ms; the next ones are
  // never answered, and the peer notes when the client ends them.
  std::atomic<int> accepted{0};
  std::atomic<std::int64_t> silent_closed_at{0};  // steady_clock ns
  FakePeer peer([&](asio::ip::tcp::socket link) -> asio::awaitable<void> {
    if (++accepted == 1) {
      co_await answer_handshake(link);
      asio::steady_timer hold(link.get_executor(), std::chrono::milliseconds(200));
      co_await hold.async_wait(asio::use_awaitable);
      co_return;  // the link closes with the coroutine
    }
    try {
      co_await drain(link);
    } catch (const std::system_error&) {
      silent_closed_at = std::chrono::steady_clock::now().time_since_epoch().count();
    }
  });
  auto options = redis::ConnectionOptions::from_url(peer.url());
  options.command_timeout = 10s;
  options.reconnect_backoff_min = options.reconnect_backoff_max = 10ms;
  asio::io_context io;
  auto conn = run(io, redis::connect(io.get_executor(), options));
  REQUIRE(run(io, eventually([&]() -> asio::awaitable<bool> { co_return accepted >= 2; })));
  const auto closed_at = std::chrono::steady_clock::now();
  conn.reset();  // close()
  run(io, eventually([&]() -> asio::awaitable<bool> { co_return silent_closed_at != 0; }, 12000ms), 20s);
  const auto took = std::chrono::nanoseconds(silent_closed_at.load()) - closed_at.time_since_epoch();
  INFO("ms from close() to the stalled link's end: "
       << std::chrono::duration_cast<std::chrono::milliseconds>(took).count());
  CHECK(took < 500ms);
}

TEST_CASE("connection: an unasked reply sent with the handshake's fails the connect, never reaching a command") {
  FakePeer peer([](asio::ip::tcp::socket link) -> asio::awaitable<void> {
    co_await answer_handshake(link, "+PONG\r\n-ERR max number of clients reached\r\n");  // in one write
    co_await drain(link);
  });
  asio::io_context io;
  const auto [error, what] = run(io, connect_outcome(peer.url()));
  CHECK(error == errc::connection_failed);
  CHECK_THAT(what, Catch::Contains("more replies than asked for: ERR max number of clients reached"));
}

namespace {
long rss_mb() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  long pages = 0, resident = 0;
  if (f) {
    if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
    std::fclose(f);
  }
  return resident * 4096 / (1 << 20);
}
}  // namespace

TEST_CASE("connection: a link does not keep its biggest write's buffer for good") {
#if defined(__SANITIZE_ADDRESS__)
  return;  // AddressSanitizer's quarantine holds freed memory: RSS says nothing here
#endif
  Env env;
  env(env.conn->exec(redis::Command{"PING"}));
  const long before = rss_mb();
  env([&]() -> asio::awaitable<void> {
    for (int i = 0; i < 3; ++i) {
      co_await env.conn->exec(redis::Command{"SET", env.prefix.str() + ":big", std::string(96 << 20, 'x')});
      co_await env.conn->exec(redis::Command{"PING"});  // lets the reader drop its buffer too
    }
  }());
  const long after = rss_mb();
  INFO("RSS before " << before << " MB, after " << after << " MB");
  CHECK(after - before < 48);
  server().command({"DEL", env.prefix.str() + ":big"});
}

TEST_CASE("connection: a full server refusing a client is connection_failed naming why, with SELECT in the handshake") {
  RedisServer full({"--maxclients", "2"});
  Env first(full.url()), second(full.url());  // take both slots
  asio::io_context io;
  std::string what;
  try {
    run(io, redis::connect(io.get_executor(), full.url() + "/1"));  // SELECT 1, then PING
  } catch (const Error& e) {
    what = e.what();
  }
  INFO(what);
  CHECK(what.find("max number of clients") != std::string::npos);
}

TEST_CASE("connection: a link whose write stalled is dropped by the health check even while replies to timed-out "
          "commands trickle in") {
  std::atomic<int> accepted{0};
  FakePeer peer([&](asio::ip::tcp::socket link) -> asio::awaitable<void> {
    const int n = ++accepted;
    co_await answer_handshake(link);
    if (n > 1) co_await drain(link);
    std::string in;
    std::size_t seen = 0;
    char buf[4096];
    while (seen < 200) {  // reads the 200 PINGs, then nothing more
      const auto got = co_await link.async_read_some(asio::buffer(buf), asio::use_awaitable);
      in.append(buf, got);
      seen = 0;
      for (auto at = in.find("PING\r\n"); at != std::string::npos; at = in.find("PING\r\n", at + 1)) ++seen;
    }
    for (int i = 0; i < 200; ++i) {  // one late reply every 50 ms
      asio::steady_timer t(link.get_executor(), 50ms);
      co_await t.async_wait(asio::use_awaitable);
      co_await asio::async_write(link, asio::buffer(std::string("+PONG\r\n")), asio::use_awaitable);
    }
    co_await drain(link);
  });
  auto options = redis::ConnectionOptions::from_url(peer.url());
  options.command_timeout = 300ms;
  options.health_check_interval = 100ms;
  options.reconnect_backoff_min = options.reconnect_backoff_max = 10ms;
  asio::io_context io;
  bool replaced = false;
  run(io, [&]() -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    auto c = co_await redis::connect(ex, options);
    for (int i = 0; i < 200; ++i) asio::co_spawn(ex, error_of(c->exec(redis::Command{"PING"})), asio::detached);
    co_await sleep_for(100ms);
    asio::co_spawn(ex, error_of(c->exec(redis::Command{"ECHO", std::string(64 << 20, 'x')})), asio::detached);
    replaced = co_await eventually([&]() -> asio::awaitable<bool> { co_return accepted >= 2; }, 3000ms);
  }(), 60s);
  CHECK(replaced);
}
