#pragma once
// A stand-in for a server that misbehaves in ways a real one cannot be made
// to on cue: a loopback listener whose every accepted link is handed to
// `serve`, a coroutine run on the peer's own thread.

#include <cstdint>
#include <functional>
#include <string>
#include <thread>

#include <asio/awaitable.hpp>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/use_awaitable.hpp>

namespace distkit::test {

class FakePeer {
 public:
  using Serve = std::function<asio::awaitable<void>(asio::ip::tcp::socket)>;

  explicit FakePeer(Serve serve) : serve_(std::move(serve)) {
    asio::co_spawn(io_, accept(), asio::detached);
    thread_ = std::jthread([this] { io_.run(); });
  }
  ~FakePeer() {
    io_.stop();
    thread_.join();
  }
  FakePeer(const FakePeer&) = delete;
  FakePeer& operator=(const FakePeer&) = delete;

  std::uint16_t port() const { return acceptor_.local_endpoint().port(); }
  std::string url() const { return "redis://127.0.0.1:" + std::to_string(port()); }

 private:
  asio::awaitable<void> accept() {
    for (;;) asio::co_spawn(io_, serve_(co_await acceptor_.async_accept(asio::use_awaitable)), asio::detached);
  }

  Serve serve_;
  asio::io_context io_;
  asio::ip::tcp::acceptor acceptor_{io_, {asio::ip::address_v4::loopback(), 0}};
  std::jthread thread_;
};

// Reads until the client hangs up (or the peer stops).
inline asio::awaitable<void> drain(asio::ip::tcp::socket& link) {
  char sink[512];
  for (;;) co_await link.async_read_some(asio::buffer(sink), asio::use_awaitable);
}

}  // namespace distkit::test
