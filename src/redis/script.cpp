#include "distkit/redis/script.hpp"

#include <fmt/format.h>

#include "distkit/error.hpp"

namespace distkit::redis {

std::exception_ptr Script::error_of(const Reply& reply) const {
  if (reply.str.starts_with("OVERFLOW ")) return std::make_exception_ptr(Error(errc::overflow, reply.str.substr(9)));
  if (reply.str.starts_with("INVALID "))  // a rate limit of another shape
    return std::make_exception_ptr(Error(errc::invalid_argument, reply.str.substr(8)));
  if (reply.str.starts_with("SHUTDOWN "))  // an instance-aware counter's id that has left the fleet
    return std::make_exception_ptr(Error(errc::shut_down, reply.str.substr(9)));
  return std::make_exception_ptr(Error(errc::script_error, fmt::format("script {} failed: {}", name_, reply.str)));
}

}  // namespace distkit::redis
