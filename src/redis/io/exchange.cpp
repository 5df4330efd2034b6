#include "exchange.hpp"

#include <array>
#include <optional>
#include <stdexcept>

#include <asio/experimental/as_tuple.hpp>

namespace distkit::redis::detail {

using asio::experimental::as_tuple;

std::string read_failure(const std::error_code& ec) {
  return ec == asio::error::eof ? std::string("closed by the server") : ec.message();
}

asio::awaitable<void> send(Stream& stream, std::string_view bytes) {
  auto [ec, n] = co_await stream.async_write(asio::buffer(bytes), as_tuple(asio::use_awaitable));
  if (ec) throw std::runtime_error(ec.message());
}

asio::awaitable<Reply> receive(Stream& stream, RespReader& reader) {
  std::array<char, 512> buffer;
  for (;;) {
    if (auto reply = reader.next()) co_return std::move(*reply);  // throws on a protocol error
    auto [ec, n] = co_await stream.async_read_some(asio::buffer(buffer), as_tuple(asio::use_awaitable));
    if (ec) throw std::runtime_error(read_failure(ec));
    reader.feed(buffer.data(), n);
  }
}

asio::awaitable<void> shake_hands(Stream& stream, RespReader& reader, Handshake handshake) {
  co_await send(stream, handshake.request());
  for (;;) {
    std::optional<Reply> reply;
    try {
      reply = co_await receive(stream, reader);
    } catch (const std::runtime_error&) {
      // A server refusing a client ("max number of clients reached") hangs
      // up before the rest of the replies: its reason is the one to tell.
      if (!handshake.refusal().empty()) throw std::runtime_error(handshake.refusal());
      throw;
    }
    switch (handshake.on_reply(*reply)) {
      case Handshake::Result::pending: break;
      case Handshake::Result::refused: throw std::runtime_error(handshake.refusal());
      case Handshake::Result::ready:
        // Anything more is no command's reply: it would be taken for the first one's.
        if (auto extra = reader.next()) throw std::runtime_error("more replies than asked for: " + extra->str);
        if (reader.holds_bytes()) throw std::runtime_error("more replies than asked for");
        co_return;
    }
  }
}

}  // namespace distkit::redis::detail
