#include "stream.hpp"

#include <asio/connect.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/use_awaitable.hpp>
#include <fmt/format.h>

#include "distkit/error.hpp"

namespace distkit::redis::detail {

asio::awaitable<std::unique_ptr<Stream>> Stream::open(const Strand& strand, const ConnectionOptions& options,
                                                      asio::ssl::context* tls) {
  using asio::experimental::as_tuple;
  if (!options.unix_socket.empty()) {
    asio::local::stream_protocol::socket socket(strand);
    auto [ec] = co_await socket.async_connect(options.unix_socket, as_tuple(asio::use_awaitable));
    if (ec) throw Error(errc::connection_failed, fmt::format("cannot connect to {}: {}", options.unix_socket, ec.message()));
    co_return std::unique_ptr<Stream>(new Stream(std::move(socket)));
  }
  asio::ip::tcp::resolver resolver(strand);
  auto [resolve_error, endpoints] =
      co_await resolver.async_resolve(options.host, std::to_string(options.port), as_tuple(asio::use_awaitable));
  if (resolve_error || endpoints.empty())
    throw Error(errc::connection_failed, fmt::format("cannot resolve {}: {}", options.host, resolve_error.message()));
  asio::ip::tcp::socket socket(strand);
  auto [ec, endpoint] = co_await asio::async_connect(socket, endpoints, as_tuple(asio::use_awaitable));
  if (ec)
    throw Error(errc::connection_failed,
                fmt::format("cannot connect to {}:{}: {}", options.host, options.port, ec.message()));
  socket.set_option(asio::ip::tcp::no_delay(true), ec);  // commands are written whole: never wait to fill a segment
  if (!tls) co_return std::unique_ptr<Stream>(new Stream(std::move(socket)));
  TlsSocket secure(std::move(socket), *tls);
  prepare_tls(secure, options.tls, options.host);
  auto [handshake_error] = co_await secure.async_handshake(TlsSocket::client, as_tuple(asio::use_awaitable));
  if (handshake_error)
    throw Error(errc::connection_failed, fmt::format("cannot connect to {}:{}: {}", options.host, options.port,
                                                     tls_failure(secure, handshake_error)));
  co_return std::unique_ptr<Stream>(new Stream(std::move(secure)));
}

void Stream::close() noexcept {
  std::visit(
      [](auto& s) {
        std::error_code ignored;
        s.lowest_layer().close(ignored);
      },
      socket_);
}

}  // namespace distkit::redis::detail
