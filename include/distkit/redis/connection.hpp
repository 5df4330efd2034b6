#pragma once
// One multiplexed, self-healing connection to Redis. Many coroutines share it;
// their commands are pipelined. It reconnects by itself with capped
// exponential backoff, re-running AUTH and SELECT each time.

#include <memory>
#include <string_view>

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>

#include "distkit/redis/command.hpp"
#include "distkit/redis/options.hpp"
#include "distkit/redis/reply.hpp"

namespace distkit::redis {

namespace detail {
class Backend;
}
class Script;

class Connection {
 public:
  using executor_type = asio::any_io_executor;

  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection();  // closes the link; commands still pending fail with connection_lost

  executor_type get_executor() const noexcept;
  const ConnectionOptions& options() const noexcept;

  // Sends one command and returns its reply; an error reply is returned as a
  // Reply of Type::error, not thrown. Throws Error with errc::timeout (no reply
  // within command_timeout; a late reply is ignored), errc::connection_lost
  // (the link dropped after the command may have been sent: its outcome is
  // unknown, and it is never re-sent) or errc::not_applied (the link was
  // down until command_timeout passed: it was never sent, safe to retry).
  // command_timeout counts from this call: a returned awaitable awaited
  // only after it has passed fails with not_applied, unsent.
  // Callable from any thread.
  //
  // The link is shared by every caller, so a command that changes its state
  // (MULTI/EXEC, WATCH, SELECT, AUTH, HELLO, SUBSCRIBE, MONITOR, CLIENT REPLY,
  // SCRIPT DEBUG, ...), one that blocks it (BLPOP and its kin, XREAD BLOCK,
  // WAIT), or an empty one is refused with errc::invalid_argument, before
  // any I/O. For atomicity, use a script; for blocking, a connection of its own.
  asio::awaitable<Reply> exec(Command cmd);

  // Runs a script (see Script::call), with EVALSHA; re-sent as EVAL if Redis
  // answers NOSCRIPT. `script` must outlive the call.
  asio::awaitable<Reply> exec(const Script& script, Command keys_and_args);

 private:
  friend asio::awaitable<std::shared_ptr<Connection>> connect(asio::any_io_executor ex, ConnectionOptions options);
  explicit Connection(std::shared_ptr<detail::Backend> impl);

  std::shared_ptr<detail::Backend> impl_;
};

// Connects, authenticates and selects the database. Throws Error with
// errc::invalid_argument (bad URL or options) or errc::connection_failed
// (nothing reachable within connect_timeout, or AUTH/SELECT refused).
asio::awaitable<std::shared_ptr<Connection>> connect(asio::any_io_executor ex, std::string_view url);
asio::awaitable<std::shared_ptr<Connection>> connect(asio::any_io_executor ex, ConnectionOptions options);

}  // namespace distkit::redis
