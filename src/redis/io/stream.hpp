#pragma once
// The byte stream under one link: TCP, TLS over TCP, or a unix socket, owned
// by Asio. Writes go out with send(MSG_NOSIGNAL), so a peer that hung up is
// an error code, never a SIGPIPE.

#include <memory>
#include <variant>

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/buffer.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/local/stream_protocol.hpp>
#include <asio/strand.hpp>
#include <asio/write.hpp>

#include "distkit/redis/options.hpp"
#include "tls.hpp"

namespace distkit::redis::detail {

class Stream {
 public:
  using Strand = asio::strand<asio::any_io_executor>;

  // A link to what `options` names, through its TLS handshake if `tls` is
  // set. Throws Error(connection_failed) with the reason. Unbounded: the
  // caller cancels it at its deadline.
  static asio::awaitable<std::unique_ptr<Stream>> open(const Strand& strand, const ConnectionOptions& options,
                                                       asio::ssl::context* tls);

  template <class Token>
  auto async_read_some(asio::mutable_buffer buffer, Token&& token) {
    return std::visit([&](auto& s) { return s.async_read_some(buffer, std::forward<Token>(token)); }, socket_);
  }

  template <class Token>
  auto async_write(asio::const_buffer buffer, Token&& token) {
    return std::visit([&](auto& s) { return asio::async_write(s, buffer, std::forward<Token>(token)); }, socket_);
  }

  // Ends every pending read and write with an error.
  void close() noexcept;

 private:
  using Socket = std::variant<asio::ip::tcp::socket, TlsSocket, asio::local::stream_protocol::socket>;
  explicit Stream(Socket socket) : socket_(std::move(socket)) {}

  Socket socket_;
};

}  // namespace distkit::redis::detail
