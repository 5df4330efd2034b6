#include "distkit/redis/connection.hpp"

#include <csignal>
#include <mutex>

#include <asio/co_spawn.hpp>

#include "connection_impl.hpp"
#include "distkit/error.hpp"
#include "distkit/logging.hpp"

namespace distkit::redis {

Connection::Connection(std::shared_ptr<detail::ConnectionImpl> impl) : impl_(std::move(impl)) {}

Connection::~Connection() { impl_->close(); }

Connection::executor_type Connection::get_executor() const noexcept { return impl_->executor(); }

const ConnectionOptions& Connection::options() const noexcept { return impl_->options(); }

asio::awaitable<Reply> Connection::exec(Command cmd) { return impl_->exec(std::move(cmd)); }

asio::awaitable<Reply> Connection::exec(const Script& script, Command keys_and_args) {
  return impl_->exec(std::move(keys_and_args), false, &script);
}

asio::awaitable<std::shared_ptr<Connection>> connect(asio::any_io_executor ex, std::string_view url) {
  co_return co_await connect(std::move(ex), ConnectionOptions::from_url(url));
}

namespace {

// hiredis 0.14 writes with write(2), not send(MSG_NOSIGNAL): a write to a
// socket the server has closed would kill the process with SIGPIPE. Ignore
// the signal, unless the application installed a handler of its own.
void ignore_sigpipe_once() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction current {};
    if (::sigaction(SIGPIPE, nullptr, &current) == 0 && current.sa_handler == SIG_DFL) {
      ::signal(SIGPIPE, SIG_IGN);
      logger()->debug("SIGPIPE is now ignored (hiredis writes with write(2))");
    }
  });
}

}  // namespace

asio::awaitable<std::shared_ptr<Connection>> connect(asio::any_io_executor ex, ConnectionOptions options) {
  options.validate();
  ignore_sigpipe_once();
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
