// A TCP server that counts its live connections fleet-wide. Run several on
// different ports against one Redis; each greets a client with its own count
// and the fleet's. Kill one with SIGKILL and the fleet count drops by its
// connections once the dead threshold (10 s here) has passed; stop one with
// Ctrl-C and they leave at once.
//
//   connection_counter [port] [redis-url]      then: nc 127.0.0.1 <port>
#include <csignal>
#include <cstdlib>
#include <string>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/read_until.hpp>
#include <asio/signal_set.hpp>
#include <asio/streambuf.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>
#include <fmt/format.h>

#include <distkit/distkit.hpp>

namespace {

using asio::ip::tcp;
using Counter = distkit::StrictInstanceAwareCounter;
constexpr std::string_view key = "connections";

asio::awaitable<void> greet(tcp::socket& socket, const distkit::Counts& c) {
  const std::string line = fmt::format("connections here: {}, fleet-wide: {}\n", c.instance, c.cumulative);
  co_await asio::async_write(socket, asio::buffer(line), asio::use_awaitable);
}

// One client: counted while connected; every line it sends gets the counts.
asio::awaitable<void> serve(tcp::socket socket, std::shared_ptr<Counter> counter) {
  co_await counter->inc(key, 1);
  try {
    co_await greet(socket, co_await counter->get(key));
    asio::streambuf buffer;
    for (;;) {
      co_await asio::async_read_until(socket, buffer, '\n', asio::use_awaitable);
      buffer.consume(buffer.size());
      co_await greet(socket, co_await counter->get(key));
    }
  } catch (const std::system_error&) {
    // the client went away
  }
  co_await counter->dec(key, 1);
}

asio::awaitable<void> run(unsigned short port, std::string url) {
  auto ex = co_await asio::this_coro::executor;
  auto conn = co_await distkit::redis::connect(ex, url);
  auto counter = Counter::create({.prefix = distkit::RedisKey("connection-counter"),
                                  .connection = conn,
                                  .dead_instance_threshold = std::chrono::seconds(10)});
  tcp::acceptor acceptor(ex, {asio::ip::make_address("127.0.0.1"), port});
  asio::signal_set signals(ex, SIGINT, SIGTERM);
  signals.async_wait([&](std::error_code, int) { acceptor.close(); });
  fmt::print("listening on 127.0.0.1:{} as instance {}\n", port, counter->instance_id());
  std::fflush(stdout);
  for (;;) {
    auto [ec, socket] = co_await acceptor.async_accept(asio::experimental::as_tuple(asio::use_awaitable));
    if (ec) break;  // closed by a signal
    asio::co_spawn(ex, serve(std::move(socket), counter), asio::detached);
  }
  co_await counter->shutdown();  // our connections leave the fleet count now
  fmt::print("shut down\n");
  std::exit(0);  // open client sessions end with the process
}

}  // namespace

int main(int argc, char** argv) {
  const auto port = static_cast<unsigned short>(argc > 1 ? std::atoi(argv[1]) : 7000);
  const std::string url = argc > 2 ? argv[2] : "redis://127.0.0.1:6379";
  asio::io_context io;
  asio::co_spawn(io, run(port, url), [](std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      fmt::print(stderr, "connection_counter: {}\n", ex.what());
      std::exit(1);
    }
  });
  io.run();
}
