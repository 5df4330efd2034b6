#include "distkit/redis/connection.hpp"

#include <asio/co_spawn.hpp>

#include "io/connection_impl.hpp"
#include "distkit/error.hpp"

namespace distkit::redis {

Connection::Connection(std::shared_ptr<detail::ConnectionImpl> impl) : impl_(std::move(impl)) {}

Connection::~Connection() { impl_->close(); }

Connection::executor_type Connection::get_executor() const noexcept { return impl_->executor(); }

const ConnectionOptions& Connection::options() const noexcept { return impl_->options(); }

asio::awaitable<Reply> Connection::exec(Command cmd) { return impl_->exec(std::move(cmd)); }

asio::awaitable<Reply> Connection::exec(const Script& script, Command keys_and_args) {
  return impl_->exec(std::move(keys_and_args), &script);
}

asio::awaitable<std::shared_ptr<Connection>> connect(asio::any_io_executor ex, std::string_view url) {
  co_return co_await connect(std::move(ex), ConnectionOptions::from_url(url));
}

asio::awaitable<std::shared_ptr<Connection>> connect(asio::any_io_executor ex, ConnectionOptions options) {
  options.validate();
  auto impl = std::make_shared<detail::ConnectionImpl>(ex, std::move(options));
  try {
    co_await asio::co_spawn(impl->strand(), impl->start(), asio::use_awaitable);
  } catch (...) {
    impl->close();
    throw;
  }
  co_return std::shared_ptr<Connection>(new Connection(std::move(impl)));
}

}  // namespace distkit::redis
