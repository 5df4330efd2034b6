#include "distkit/detail/checked.hpp"

#include <fmt/format.h>

#include "quoted.hpp"

namespace distkit::detail {

void throw_overflow(std::string_view what, std::int64_t a, std::int64_t b) {
  throw Error(errc::overflow, fmt::format("{}: {} + {} overflows int64", what, a, b));
}

void throw_overflow_on(std::string_view key, std::string_view change, std::int64_t n, std::string_view range) {
  throw Error(errc::overflow,
              fmt::format("{}: {} {} would leave {}; the value is unchanged", quoted(key), change, n, range));
}

std::exception_ptr failure_adding(std::string_view key, std::int64_t n, std::string_view range) {
  const std::exception_ptr failure = std::current_exception();
  try {
    std::rethrow_exception(failure);
  } catch (const Error& e) {
    if (e.value() == errc::overflow) {
      try {
        throw_overflow_on(key, "adding", n, range);
      } catch (...) {
        return std::current_exception();
      }
    }
  } catch (...) {
  }
  return failure;
}

}  // namespace distkit::detail
