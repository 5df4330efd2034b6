#pragma once
// What a Connection runs on: one node (io/connection_impl) or a Redis
// Cluster (cluster/router). The counters see neither: they hold a Connection.

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>

#include "distkit/redis/command.hpp"
#include "distkit/redis/options.hpp"
#include "distkit/redis/reply.hpp"

namespace distkit::redis {
class Script;
}

namespace distkit::redis::detail {

class Backend {
 public:
  virtual ~Backend() = default;
  virtual const asio::any_io_executor& executor() const noexcept = 0;
  virtual const ConnectionOptions& options() const noexcept = 0;
  // Any thread; see Connection::exec. `script` may be null.
  virtual asio::awaitable<Reply> exec(Command cmd, const Script* script) = 0;
  virtual void close() = 0;  // any thread; ops pending fail
};

}  // namespace distkit::redis::detail
