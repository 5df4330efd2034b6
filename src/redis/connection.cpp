#include "distkit/redis/connection.hpp"

#include <asio/co_spawn.hpp>
#include <fmt/format.h>

#include "cluster/router.hpp"
#include "core/shared_link.hpp"
#include "io/connection_impl.hpp"
#include "distkit/error.hpp"

namespace distkit::redis {

Connection::Connection(std::shared_ptr<detail::Backend> impl) : impl_(std::move(impl)) {}

Connection::~Connection() { impl_->close(); }

Connection::executor_type Connection::get_executor() const noexcept { return impl_->executor(); }

const ConnectionOptions& Connection::options() const noexcept { return impl_->options(); }

namespace {

// Thrown where the caller awaits, like every other error of exec().
asio::awaitable<Reply> refuse(Error error) {
  throw error;
  co_return Reply{};
}

}  // namespace

asio::awaitable<Reply> Connection::exec(Command cmd) {
  if (cmd.size() == 0) return refuse(Error(errc::invalid_argument, "an empty command"));
  if (const auto why = detail::unshareable(cmd); !why.empty())
    return refuse(Error(errc::invalid_argument, fmt::format("{} {}", cmd.arg(0), why)));
  return impl_->exec(std::move(cmd), nullptr);
}

asio::awaitable<Reply> Connection::exec(const Script& script, Command keys_and_args) {
  return impl_->exec(std::move(keys_and_args), &script);
}

asio::awaitable<std::shared_ptr<Connection>> connect(asio::any_io_executor ex, std::string_view url) {
  co_return co_await connect(std::move(ex), ConnectionOptions::from_url(url));
}

namespace {

// Starts `impl` on its strand; closes it if that fails.
template <class Impl>
asio::awaitable<std::shared_ptr<detail::Backend>> started(std::shared_ptr<Impl> impl) {
  try {
    co_await asio::co_spawn(impl->strand(), impl->start(), asio::use_awaitable);
  } catch (...) {
    impl->close();
    throw;
  }
  co_return impl;
}

}  // namespace

asio::awaitable<std::shared_ptr<Connection>> connect(asio::any_io_executor ex, ConnectionOptions options) {
  options.validate();
  std::shared_ptr<detail::Backend> impl;
  if (!options.cluster.seeds.empty())
    impl = co_await started(std::make_shared<detail::cluster::Router>(ex, std::move(options)));
  else
    impl = co_await started(std::make_shared<detail::ConnectionImpl>(ex, std::move(options)));
  co_return std::shared_ptr<Connection>(new Connection(std::move(impl)));
}

}  // namespace distkit::redis
