#pragma once
// Error model: every failure surfaces as distkit::Error carrying a distkit::errc.

#include <cstddef>
#include <string>
#include <string_view>
#include <system_error>

namespace distkit {

enum class errc {
  invalid_key = 1,     // a prefix or counter key breaks the RedisKey rules
  invalid_argument,    // a bad URL, option or operand
  connection_failed,   // could not (re)connect to Redis
  connection_lost,     // the link dropped while a reply was outstanding: outcome unknown
  timeout,             // no reply within the command timeout
  redis_error,         // Redis answered with an error
  script_error,        // one of the library's Lua scripts failed
  overflow,            // the result would not fit in int64; nothing was changed
  shut_down,           // the counter was shut down
  not_applied,         // not sent by its deadline (the link was down): it did not run, safe to retry
};

const std::error_category& error_category() noexcept;

inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), error_category()};
}

class Error : public std::system_error {
 public:
  Error(errc code, const std::string& what)
      : std::system_error(make_error_code(code), what), reason_size_(what.size()) {}
  errc value() const noexcept { return static_cast<errc>(code().value()); }
  // what() without the words of the errc that std::system_error appends
  // (": connection to redis failed"): for quoting in another message.
  std::string_view reason() const noexcept { return std::string_view(what()).substr(0, reason_size_); }

 private:
  std::size_t reason_size_;
};

}  // namespace distkit

template <>
struct std::is_error_code_enum<distkit::errc> : std::true_type {};
