#pragma once
// A Lua script run with EVALSHA. When Redis answers NOSCRIPT (script cache
// flushed, server restarted, failover) it is sent again as EVAL, which also
// caches it: a NOSCRIPT reply means the script did not run, so this is safe.

#include <string_view>

#include <asio/awaitable.hpp>

#include "distkit/redis/command.hpp"
#include "distkit/redis/connection.hpp"
#include "distkit/redis/reply.hpp"

namespace distkit::redis {

class Script {
 public:
  constexpr Script(std::string_view name, std::string_view body, std::string_view sha1) noexcept
      : name_(name), body_(body), sha1_(sha1) {}

  std::string_view name() const noexcept { return name_; }
  std::string_view body() const noexcept { return body_; }
  std::string_view sha1() const noexcept { return sha1_; }

  // `keys_and_args` is what follows the SHA1: numkeys, keys, then arguments.
  // Error replies are thrown: "OVERFLOW ..." as Error(errc::overflow), any
  // other as Error(errc::script_error).
  asio::awaitable<Reply> call(Connection& connection, const Command& keys_and_args) const;

 private:
  std::string_view name_, body_, sha1_;
};

}  // namespace distkit::redis
