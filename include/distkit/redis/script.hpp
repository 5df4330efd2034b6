#pragma once
// A Lua script run with EVALSHA. When Redis answers NOSCRIPT (script cache
// flushed, server restarted, failover) the connection sends it again as EVAL,
// which also caches it: a NOSCRIPT reply means the script did not run, so
// this is safe.

#include <array>
#include <exception>
#include <string_view>

#include <asio/awaitable.hpp>

#include "distkit/error.hpp"
#include "distkit/redis/command.hpp"
#include "distkit/redis/connection.hpp"
#include "distkit/redis/reply.hpp"

namespace distkit::redis {

namespace detail {
class Multiplexer;
}

class Script {
 public:
  // `sha1`: the 40 hex digits of `body`'s SHA1; anything else throws
  // Error(errc::invalid_argument), or does not compile in a constant
  // expression. (A wrong but well-formed one still works, slowly: every call
  // is answered NOSCRIPT and re-sent as EVAL.) The views must outlive the
  // Script, and the Script every call of it.
  constexpr Script(std::string_view name, std::string_view body, std::string_view sha1)
      : name_(name), body_(body), sha1_(sha1) {
    if (!is_sha1(sha1)) throw Error(errc::invalid_argument, "script: a SHA1 is 40 hex digits");
    constexpr std::string_view evalsha = "$7\r\nEVALSHA\r\n$40\r\n";
    std::size_t at = 0;
    for (char c : evalsha) evalsha_head_[at++] = c;
    for (char c : sha1) evalsha_head_[at++] = c;
    evalsha_head_[at++] = '\r';
    evalsha_head_[at] = '\n';
  }

  std::string_view name() const noexcept { return name_; }
  std::string_view body() const noexcept { return body_; }
  std::string_view sha1() const noexcept { return sha1_; }

  // Runs the script. `keys_and_args` is what follows the SHA1: numkeys, keys,
  // then arguments. Error replies are thrown: "OVERFLOW ..." as
  // Error(errc::overflow), any other as Error(errc::script_error); otherwise
  // as Connection::exec().
  asio::awaitable<Reply> call(Connection& connection, Command keys_and_args) const {
    return connection.exec(*this, std::move(keys_and_args));
  }

 private:
  friend class detail::Multiplexer;
  // "EVALSHA <sha1>" in RESP, sent before the arguments.
  std::string_view evalsha_head() const noexcept { return {evalsha_head_.data(), evalsha_head_.size()}; }
  // The error an error reply of this script is thrown as.
  std::exception_ptr error_of(const Reply& reply) const;

  static constexpr bool is_sha1(std::string_view s) noexcept {
    if (s.size() != 40) return false;
    for (char c : s)
      if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) return false;
    return true;
  }

  std::string_view name_, body_, sha1_;
  std::array<char, 60> evalsha_head_{};
};

}  // namespace distkit::redis
