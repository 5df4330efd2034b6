// distkit quick start: a StrictCounter and a LaxCounter sharing one prefix.
//
//   quickstart [redis-url]     (default redis://127.0.0.1:6379)
//
// Writes to the keys of prefix "quickstart" only (it clears them first).
#include <chrono>
#include <cstdint>
#include <exception>
#include <string>
#include <string_view>

#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <asio/this_coro.hpp>
#include <fmt/core.h>

#include <distkit/distkit.hpp>

namespace {

using namespace std::chrono_literals;

std::string_view errc_name(distkit::errc e) {
  switch (e) {
    case distkit::errc::invalid_key: return "invalid_key";
    case distkit::errc::invalid_argument: return "invalid_argument";
    case distkit::errc::connection_failed: return "connection_failed";
    case distkit::errc::connection_lost: return "connection_lost";
    case distkit::errc::timeout: return "timeout";
    case distkit::errc::redis_error: return "redis_error";
    case distkit::errc::script_error: return "script_error";
    case distkit::errc::overflow: return "overflow";
    case distkit::errc::shut_down: return "shut_down";
    case distkit::errc::not_applied: return "not_applied";
  }
  return "unknown";
}

asio::awaitable<void> strict_demo(const std::shared_ptr<distkit::StrictCounter>& c) {
  // Every op is one atomic script on Redis and returns the exact total after it.
  fmt::print("strict inc(visits, 1)   -> {}\n", co_await c->inc("visits", 1));
  fmt::print("strict inc(visits, 5)   -> {}\n", co_await c->inc("visits", 5));
  fmt::print("strict dec(visits, 2)   -> {}\n", co_await c->dec("visits", 2));
  fmt::print("strict get(visits)      -> {}\n", co_await c->get("visits"));
  fmt::print("strict set(visits, 100) -> {}\n", co_await c->set("visits", 100));
  fmt::print("strict del(visits)      -> {} (old total)\n", co_await c->del("visits"));
  fmt::print("strict get(visits)      -> {} (missing key)\n", co_await c->get("visits"));

  // A quota of 3 calls: check and increment are one atomic script, so it
  // holds across every process of the fleet.
  for (int i = 0; i < 4; ++i) {
    const auto call = co_await c->inc_if("api_calls", distkit::Compare::lt(3), 1);
    fmt::print("strict inc_if(api_calls, lt(3), 1) -> {} ({})\n", call.value,
               call.applied ? "admitted" : "over quota");
  }
  co_await c->del("api_calls");
}

asio::awaitable<void> lax_demo(const std::shared_ptr<distkit::LaxCounter>& lax,
                               const std::shared_ptr<distkit::StrictCounter>& strict) {
  // inc/dec/get/set answer from a local cache; a background loop flushes the
  // local deltas to Redis in batches, each applied exactly once.
  std::int64_t local = 0;
  for (int i = 0; i < 1000; ++i) local = co_await lax->inc("page_views");
  fmt::print("lax 1000 x inc(page_views) -> {} (local view)\n", local);
  co_await lax->flush();  // send every pending delta now
  fmt::print("after flush(), strict get(page_views) -> {}\n", co_await strict->get("page_views"));

  fmt::print("lax set(page_views, 10) -> {}\n", co_await lax->set("page_views", 10));
  fmt::print("lax dec(page_views, 3)  -> {}\n", co_await lax->dec("page_views", 3));
  fmt::print("lax get(page_views)     -> {}\n", co_await lax->get("page_views"));
  co_await lax->flush();
  fmt::print("after flush(), strict get(page_views) -> {}\n", co_await strict->get("page_views"));
  fmt::print("lax del(page_views)     -> {} (old total in Redis)\n", co_await lax->del("page_views"));

  co_await lax->shutdown();  // flush, stop the background loop
  try {
    co_await lax->inc("page_views");
  } catch (const distkit::Error& e) {
    fmt::print("lax inc after shutdown() throws errc::{}\n", errc_name(e.value()));
  }
}

asio::awaitable<void> main_coro(std::string url) {
  auto ex = co_await asio::this_coro::executor;
  std::shared_ptr<distkit::redis::Connection> conn = co_await distkit::redis::connect(ex, url);
  fmt::print("connected to {}\n", url);

  const distkit::RedisKey prefix("quickstart");
  // Counters with the same prefix share their totals, whichever kind they are.
  auto strict = distkit::StrictCounter::create({.prefix = prefix, .connection = conn});
  auto lax = distkit::LaxCounter::create({.prefix = prefix, .connection = conn, .allowed_lag = 50ms});
  co_await strict->clear();

  co_await strict_demo(strict);
  co_await lax_demo(lax, strict);
  co_await strict->clear();
  // Leaving this scope releases the counters and the connection: its
  // background loops end, and io.run() returns.
}

}  // namespace

int main(int argc, char* argv[]) {
  const std::string url = argc > 1 ? argv[1] : "redis://127.0.0.1:6379";
  int status = 0;
  asio::io_context io;
  asio::co_spawn(io, main_coro(url), [&](std::exception_ptr error) {
    if (!error) return;
    status = 1;
    try {
      std::rethrow_exception(error);
    } catch (const distkit::Error& e) {
      fmt::print(stderr, "quickstart: {} (errc::{})\n", e.what(), errc_name(e.value()));
    } catch (const std::exception& e) {
      fmt::print(stderr, "quickstart: {}\n", e.what());
    }
  });
  io.run();
  return status;
}
