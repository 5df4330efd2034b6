#include "distkit/redis/script.hpp"

#include <fmt/format.h>

#include "distkit/error.hpp"

namespace distkit::redis {

asio::awaitable<Reply> Script::call(Connection& connection, const Command& keys_and_args) const {
  Reply reply = co_await connection.exec(Command{"EVALSHA", sha1_}.append(keys_and_args));
  if (reply.is_error() && reply.str.starts_with("NOSCRIPT"))
    reply = co_await connection.exec(Command{"EVAL", body_}.append(keys_and_args));
  if (reply.is_error()) {
    if (reply.str.starts_with("OVERFLOW")) throw Error(errc::overflow, reply.str.substr(9));
    throw Error(errc::script_error, fmt::format("script {} failed: {}", name_, reply.str));
  }
  co_return reply;
}

}  // namespace distkit::redis
